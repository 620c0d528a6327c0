"""Progress of long training runs, shown by the command line while the learners stay unaware.

Training loops call :func:`step` after each optimiser step. Inside :func:`training_progress`
(``fewshot adapt`` on a terminal), each call advances one line on standard error: the steps
done, the time spent and the rate. Outside one, :func:`step` does nothing, so learners used from
Python, in tests or in benchmark workers stay silent. A loop that knows how many steps it plans
says so with :func:`expect` (each round adds to the total), and the line then shows the share
done and the time left; early stopping or a time budget may end it before the total.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, Any

_ADVANCE: ContextVar[Callable[[int], None] | None] = ContextVar(
    "fewshot_training_progress", default=None
)
_EXPECT: ContextVar[Callable[[int], None] | None] = ContextVar(
    "fewshot_training_plan", default=None
)


_FINISH: ContextVar[Callable[[], None] | None] = ContextVar("fewshot_training_finish", default=None)
_FILE: ContextVar[IO[str] | None] = ContextVar("fewshot_progress_file", default=None)
#: Steps counted by :func:`reported`: no progress lines of any kind then.
_QUIET: ContextVar[bool] = ContextVar("fewshot_progress_quiet", default=False)
#: Who is told each step's loss, or None for a step without one (:func:`losses`).
_LOSS: ContextVar[Callable[[Any], None] | None] = ContextVar("fewshot_loss", default=None)


def finish() -> None:
    """Training is over: take the progress line away now, before what the command prints next
    (shown only inside :func:`training_progress`)."""
    close = _FINISH.get()
    if close is not None:
        close()


def shown() -> bool:
    """Whether progress is shown here (inside :func:`training_progress`): what else takes long
    in a command (loading and encoding) shows its own line then too."""
    return _ADVANCE.get() is not None and not _QUIET.get()


@contextmanager
def waiting(text: str) -> Iterator[None]:
    """A line saying what is happening (``text``: "loading the encoder") while a block that has
    no steps to count runs; shown only inside :func:`training_progress`, gone when it ends."""
    if not shown():
        yield
        return
    from tqdm import tqdm

    line = tqdm(total=None, desc=text, bar_format="{desc}...", leave=False, file=_FILE.get())
    try:
        yield
    finally:
        line.close()


def expect(steps: int) -> None:
    """``steps`` more optimiser steps are planned (shown only inside :func:`training_progress`)."""
    add = _EXPECT.get()
    if add is not None:
        add(steps)


def step(loss=None) -> None:
    """One optimiser step done (shown only inside :func:`training_progress`). ``loss``, the
    step's training loss (a number or a one-element tensor), goes to :func:`losses`' observer
    where there is one, and is not even read otherwise (reading a GPU tensor waits for it)."""
    advance = _ADVANCE.get()
    if advance is not None:
        advance(1)
    observe = _LOSS.get()
    if observe is not None:
        observe(loss)


@contextmanager
def losses(observe: Callable[[int, float], None]) -> Iterator[None]:
    """Hand ``observe(step, loss)`` the loss of every training step taken inside this block
    whose learner reports one (``finetune``, the alignment learners): the tracker's feed."""
    numbers = itertools.count(1)

    def numbered(loss) -> None:
        number = next(numbers)  # steps without a loss count too
        if loss is not None:
            observe(number, float(loss))

    token = _LOSS.set(numbered)
    try:
        yield
    finally:
        _LOSS.reset(token)


@contextmanager
def training_progress(
    description: str, *, enabled: bool = True, file: IO[str] | None = None
) -> Iterator[None]:
    """Show the training steps taken inside this block as one progress line on ``file``
    (standard error by default), labelled ``description``. The line appears at the first step
    (a learner that does not train shows none) and is removed at the end."""
    if not enabled:
        yield
        return
    from tqdm import tqdm

    bars: list[tqdm] = []
    planned = [0]

    def advance(steps: int) -> None:
        if not bars:
            bars.append(
                tqdm(
                    desc=description,
                    unit=" steps",
                    total=planned[0] or None,
                    leave=False,
                    file=file,
                )
            )
        bars[0].update(steps)

    def add(steps: int) -> None:
        planned[0] += steps
        if bars:  # a later round (self-training) adds to the line already shown
            bars[0].total = planned[0]
            bars[0].refresh()

    def close() -> None:
        for bar in bars:
            bar.refresh()  # the final count, even when the last steps came faster than redraws
            bar.close()
        bars.clear()
        planned[0] = 0

    tokens = _ADVANCE.set(advance), _EXPECT.set(add), _FINISH.set(close), _FILE.set(file)
    try:
        yield
    finally:
        _ADVANCE.reset(tokens[0])
        _EXPECT.reset(tokens[1])
        _FINISH.reset(tokens[2])
        _FILE.reset(tokens[3])
        close()


@contextmanager
def reported(advance: Callable[[int], None], plan: Callable[[int], None]) -> Iterator[None]:
    """Hand the steps taken inside this block to ``advance`` (steps done) and ``plan`` (steps
    planned) instead of a progress line: the labelling page shows them as its training status."""
    tokens = _ADVANCE.set(advance), _EXPECT.set(plan), _QUIET.set(True)
    try:
        yield
    finally:
        _ADVANCE.reset(tokens[0])
        _EXPECT.reset(tokens[1])
        _QUIET.reset(tokens[2])
