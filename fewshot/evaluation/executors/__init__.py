"""Executors: who runs the work units of a benchmark.

- :class:`InProcessExecutor` (default): this process, unit after unit;
- :class:`~fewshot.evaluation.executors.processes.LocalProcessExecutor` (``--workers N``): N worker
  processes on this machine, each with its share of the cores;
- :class:`~fewshot.evaluation.executors.ray.RayExecutor` (``--ray ADDRESS``): the tasks of a Ray cluster,
  a local one or one of many machines.

An executor's ``run(workload, units)`` yields ``(unit, event)`` pairs (events as in
:mod:`fewshot.evaluation.work`, plus ``("done",)`` when a unit is finished or no longer needed); the driver
journals them. :class:`Dispatch` decides which unit may start: a pair's episodes wait for its
meta-training, and once a pair has failed at episode i, units starting after i are dropped, so
that the error reported is always the first failing episode, whichever executor ran it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from fewshot.evaluation.work import Worker, Workload, WorkUnit
from fewshot.learners.base import Learner

DONE = ("done",)


class Dispatch:
    """The units still to start, and what they wait for."""

    def __init__(self, units: list[WorkUnit]):
        self.queue: deque[WorkUnit] = deque(units)
        self.meta: dict[tuple[int, int], Learner] = {}
        self.failed_at: dict[tuple[int, int], int] = {}

    def next(self) -> tuple[WorkUnit, Learner | None, bool] | None:
        """The next unit that may start, with its pair's meta-trained learner, and whether it
        is still needed (False: report it done without running it); None if every remaining
        unit waits for a meta-training in progress (or none is left)."""
        for _ in range(len(self.queue)):
            unit = self.queue.popleft()
            failed = self.failed_at.get(unit.pair)
            if failed is not None and (unit.meta or unit.episodes[0] > failed):
                return unit, None, False
            if unit.needs_meta and unit.pair not in self.meta:
                self.queue.append(unit)
                continue
            return unit, self.meta.get(unit.pair), True
        return None

    def note(self, unit: WorkUnit, event: tuple) -> None:
        if event[0] == "meta":
            self.meta[unit.pair] = event[1]
        elif event[0] == "failed":
            self.failed_at[unit.pair] = min(event[1], self.failed_at.get(unit.pair, event[1]))

    def retry(self, unit: WorkUnit) -> None:
        """Run ``unit`` again, next."""
        self.queue.appendleft(unit)

    def __bool__(self) -> bool:
        return bool(self.queue)


class Executor:
    """Runs work units; see the module docstring."""

    #: How many units run at once (the plan cuts episodes into chunks for them).
    parallelism: int = 1

    def run(self, workload: Workload, units: list[WorkUnit]) -> Iterator[tuple[WorkUnit, tuple]]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """For run.json: which executor ran the work, and how wide."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop whatever the executor started (worker processes, a local Ray)."""


class InProcessExecutor(Executor):
    """Runs every unit in this process, in order, with the driver's registry and tasks."""

    def __init__(self, registry=None, tasks: dict[int, Any] | None = None):
        self.registry = registry
        self.tasks = tasks or {}

    def run(self, workload: Workload, units: list[WorkUnit]) -> Iterator[tuple[WorkUnit, tuple]]:
        worker = Worker(workload, self.registry, tasks=self.tasks)
        dispatch = Dispatch(units)
        while (item := dispatch.next()) is not None:
            unit, meta_trained, needed = item
            if needed:
                for event in worker.run(unit, meta_trained):
                    dispatch.note(unit, event)
                    yield unit, event
            yield unit, DONE

    def describe(self) -> dict[str, Any]:
        return {"kind": "in-process", "workers": 1}


def make_executor(workers: int | None, ray: str | None, *, registry=None) -> Executor:
    """The executor for ``--workers N`` / ``--ray ADDRESS`` (in-process when neither)."""
    if ray is not None:
        from fewshot.evaluation.executors.ray import RayExecutor

        return RayExecutor(ray)
    if workers is not None and workers > 1:
        from fewshot.evaluation.executors.processes import LocalProcessExecutor

        return LocalProcessExecutor(workers)
    return InProcessExecutor(registry)
