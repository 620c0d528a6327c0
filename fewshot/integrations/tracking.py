"""Experiment tracking: what a run tells a tracker (MLflow, Weights & Biases, your own), opt-in.

A tracker is a :class:`Tracker` that a plugin contributes through the ``fewshot_trackers`` hook
as a :class:`TrackerInfo`; ``--track NAME[:ARGUMENT]`` on ``bench`` and ``adapt`` picks it
(the built-in ``mlflow``: :mod:`fewshot.integrations.mlflow_store`). :class:`TrackedRun` is
what the commands hold: it starts the trackers' run once the inputs are checked, hands them each
result record and (``adapt``) each training step's loss, and finishes their run with its status and
artifacts whatever ends it. Nothing is tracked unless asked.

A tracker that fails to start stops the command (before any work, one line); one that fails
later is warned about once and dropped, since the results are on disk already.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewshot.errors import ConfigError, unknown_name
from fewshot.util import progress


@dataclass(frozen=True)
class RunStart:
    """What a run is, as a tracker is told when it starts.

    Parameters
    ----------
    kind : str
        The command: ``"bench"`` or ``"adapt"``.
    name : str
        The run's name: the suite's, or the model directory's.
    fingerprint : str
        The content hash of what the run computes (``run.json``'s, or the training data's).
    params : mapping of str to Any
        The run's parameters: learners, settings, data, encoder, device.
    """

    kind: str
    name: str
    fingerprint: str
    params: Mapping[str, Any] = field(default_factory=dict)


class Tracker:
    """An experiment tracker's side of a run; each method may be left as it is (it does
    nothing). Methods are called in order: ``start`` once, then ``record`` and ``loss`` as
    results and training steps come, then ``finish`` once."""

    def start(self, run: RunStart) -> None:
        """The run has begun (its inputs are checked)."""

    def record(self, record: Mapping[str, Any]) -> None:
        """One result record: a learner on a setting (``bench``), or the model on ``--test``
        (``adapt``), with the fields listed on the record fields page."""

    def loss(self, step: int, value: float) -> None:
        """The training loss of optimiser step ``step`` (1, 2, ...), where the learner
        reports one."""

    def finish(self, status: str, artifacts: Sequence[Path]) -> None:
        """The run ended: ``status`` is ``"FINISHED"``, ``"FAILED"`` or ``"KILLED"``
        (interrupted); ``artifacts`` are the files and directories it wrote (results.json,
        report.html, the model directory)."""


@dataclass(frozen=True)
class TrackerInfo:
    """A tracker that a plugin contributes through the ``fewshot_trackers`` hook.

    Parameters
    ----------
    name : str
        What users give to ``--track`` (``--track NAME`` or ``--track NAME:ARGUMENT``).
    factory : callable
        ``factory(argument)`` returns a :class:`Tracker`; ``argument`` is the text after the
        first colon, or None. It raises :class:`~fewshot.errors.ConfigError` for an argument
        it cannot use, and ``ImportError`` where its library is missing.
    description : str, default ""
        Shown by ``fewshot info``-style listings and in error messages.
    install : str, default ""
        The command that installs what the tracker needs.
    """

    name: str
    factory: Callable[[str | None], Tracker]
    description: str = ""
    install: str = ""


def make_trackers(specs: Sequence[str], available: Mapping[str, TrackerInfo]) -> list[Tracker]:
    """The trackers ``--track`` names (``NAME[:ARGUMENT]`` each), built now: a wrong name, an
    argument a tracker refuses or its missing library is one ConfigError before any work."""
    trackers = []
    for spec in specs:
        name, colon, argument = spec.partition(":")
        if name not in available:
            raise unknown_name("tracker", name, available)
        info = available[name]
        try:
            trackers.append(info.factory(argument if colon else None))
        except ImportError as exc:
            install = f": {info.install}" if info.install else ""
            raise ConfigError(f"--track {name} needs {exc.name or exc}{install}") from None
    return trackers


class TrackedRun:
    """A command's run as its trackers see it (none: every call does nothing).

    Parameters
    ----------
    trackers : sequence of Tracker
        Who is told (from :func:`make_trackers`).
    """

    def __init__(self, trackers: Sequence[Tracker] = ()):
        self.trackers = list(trackers)
        self.artifacts: list[Path] = []
        self.started = False

    def start(self, run: RunStart) -> None:
        """Start every tracker's run; a tracker that cannot start stops the command."""
        for tracker in self.trackers:
            try:
                tracker.start(run)
            except Exception as exc:
                raise ConfigError(
                    f"--track: {type(tracker).__name__} could not start: {exc}"
                ) from exc
        self.started = bool(self.trackers)

    def record(self, record: Mapping[str, Any]) -> None:
        if self.started:
            self._tell("record", record)

    def loss(self, step: int, value: float) -> None:
        if self.started:
            self._tell("loss", step, value)

    def artifact(self, path: Path) -> None:
        """A file or directory to hand over when the run finishes, where it exists then."""
        self.artifacts.append(Path(path))

    def finish(self, status: str) -> None:
        if self.started:
            self.started = False
            self._tell("finish", status, [p for p in self.artifacts if p.exists()])

    def _tell(self, method: str, *args: Any) -> None:
        for tracker in list(self.trackers):
            try:
                getattr(tracker, method)(*args)
            except Exception as exc:  # results are on disk: a tracker's failure is not the run's
                self.trackers.remove(tracker)
                print(
                    f"fewshot: warning: --track: {type(tracker).__name__} failed in {method} "
                    f"({type(exc).__name__}: {exc}); it is told nothing more",
                    file=sys.stderr,
                )


@contextmanager
def tracked(trackers: Sequence[Tracker], *, losses: bool = True) -> Iterator[TrackedRun]:
    """A :class:`TrackedRun` for the block: training losses inside it go to the trackers
    (unless ``losses`` is false: a benchmark trains a learner per episode, and their steps
    end to end would be one meaningless curve), and their run is finished as the block ends
    (``FINISHED``, ``KILLED`` on an interrupt, ``FAILED`` on an error)."""
    run = TrackedRun(trackers)
    with ExitStack() as stack:
        if run.trackers and losses:
            stack.enter_context(progress.losses(run.loss))
        try:
            yield run
        except KeyboardInterrupt:
            run.finish("KILLED")
            raise
        except BaseException:
            run.finish("FAILED")
            raise
        run.finish("FINISHED")
