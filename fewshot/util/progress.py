"""Progress of long training runs, shown by the command line while the learners stay unaware.

Training loops call :func:`step` after each optimiser step. Inside :func:`training_progress`
(``fewshot adapt`` on a terminal), each call advances one line on standard error: the steps
done, the time spent and the rate. Outside one, :func:`step` does nothing, so learners used from
Python, in tests or in benchmark workers stay silent. The total is not known in advance (early
stopping, time budgets), so the line counts up rather than towards an end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO

_ADVANCE: ContextVar[Callable[[int], None] | None] = ContextVar(
    "fewshot_training_progress", default=None
)


def step() -> None:
    """One optimiser step done (shown only inside :func:`training_progress`)."""
    advance = _ADVANCE.get()
    if advance is not None:
        advance(1)


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

    def advance(steps: int) -> None:
        if not bars:
            bars.append(tqdm(desc=description, unit=" steps", leave=False, file=file))
        bars[0].update(steps)

    token = _ADVANCE.set(advance)
    try:
        yield
    finally:
        _ADVANCE.reset(token)
        for bar in bars:
            bar.refresh()  # the final count, even when the last steps came faster than redraws
            bar.close()
