"""Ray (``--ray ADDRESS``): the work units as tasks of a Ray cluster.

``local`` starts a Ray instance on this machine for the run and stops it after, even when the
driver is killed outright (:mod:`fewshot.evaluation.executors.reaper`); any other
address (``auto``, ``HOST:PORT``, ``ray://HOST:10001``) joins a running cluster, whose nodes must
have fewshot (and the plugins the run names) installed. Ray schedules; fewshot only submits.

The workload goes into Ray's object store once (``ray.put``): the datasets and the embeddings
the driver computed, which workers on a node read without copying. Each unit is one task of
``cpus_per_task`` CPUs (Ray then sets the task's OpenMP threads to match; BLAS threads are
limited to it too), returning its events. A worker killed mid-task is retried once by Ray
(``max_retries=1``); if the task fails again, its pair is marked failed with the reason and the
other units go on. Ctrl-C cancels the tasks in flight.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import uuid
from collections.abc import Iterator
from typing import Any

from fewshot.errors import ConfigError
from fewshot.evaluation.executors import DONE, Dispatch, Executor
from fewshot.evaluation.executors.reaper import Reaper
from fewshot.evaluation.work import Worker, Workload, WorkUnit

INSTALL = "pip install 'fewshot[ray]'"
#: Workers cached by Ray worker processes, per workload (a process serves one run at a time).
_WORKERS: dict[str, Worker] = {}


def _run_unit(
    workload_id: str, boxed_workload: list, unit: WorkUnit, meta_trained, threads: int
) -> list[tuple]:
    """The Ray task: run one unit in this Ray worker process, return its events."""
    from threadpoolctl import threadpool_limits

    if workload_id not in _WORKERS:
        import ray

        _WORKERS.clear()
        _WORKERS[workload_id] = Worker(ray.get(boxed_workload[0]))
    with threadpool_limits(threads):
        return list(_WORKERS[workload_id].run(unit, meta_trained))


def _reason(exc: Exception) -> str:
    """Why a Ray task failed, in one line: the task's own exception where it raised one (Ray
    retries a task whose worker died once, so a crash here is the second)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, Exception):
        return f"{type(cause).__name__}: {cause}"
    return f"{type(exc).__name__} (the worker died, twice)"


def _check_reachable(address: str, seconds: float = 5.0) -> None:
    """A HOST:PORT (or ray://HOST:PORT) address must accept a connection: Ray itself retries a
    dead one for ever, logging a warning every few seconds."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "local", "auto": Ray resolves them itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
    except OSError as exc:
        raise ConfigError(
            f"--ray {address}: nothing answers at {host}:{port} ({exc.strerror or exc}); "
            "is the cluster running? (`ray status` on its head node)"
        ) from None


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


def connect(address: str) -> Reaper | None:
    """Connect this process to Ray at ``address`` (``--ray ADDRESS``): ``local`` starts an
    instance that is ours to stop, and returns its :class:`Reaper` (``ray.shutdown()``, then
    ``close()`` it); any other address joins a running cluster (None). Raises
    :class:`~fewshot.errors.ConfigError` where Ray cannot be reached."""
    ray = import_ray()
    options = {"log_to_driver": False, "logging_level": logging.ERROR}
    reaper = None
    try:
        if address == "local":
            reaper = Reaper()  # ours to stop, even when this process is killed outright
            # "local", not None: ray.init() without an address joins the cluster that the last
            # `ray start` on this machine recorded (or RAY_ADDRESS), even a dead one.
            ray.init(address="local", include_dashboard=False, **options)
        else:
            _check_reachable(address)
            ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        if reaper is not None:
            if ray.is_initialized():
                ray.shutdown()
            reaper.close()
        raise ConfigError(f"--ray {address}: cannot connect ({exc})") from None
    return reaper


@contextlib.contextmanager
def ray_session(address: str) -> Iterator[Any]:
    """``ray`` connected to ``address`` for the block (see :func:`connect`); an instance
    started here is stopped after it."""
    reaper = connect(address)
    try:
        yield import_ray()
    finally:
        if reaper is not None:
            ray = import_ray()
            if ray.is_initialized():
                ray.shutdown()
            reaper.close()


class RayExecutor(Executor):
    """Work units as Ray tasks; see the module docstring."""

    def __init__(self, address: str, *, cpus_per_task: int = 1):
        self.address = address
        self.cpus_per_task = cpus_per_task
        self._ray = import_ray()
        _check_reachable(address)  # before the run encodes anything
        self._started = False
        self._reaper: Reaper | None = None
        self._inflight: dict[Any, WorkUnit] = {}

    def _connect(self) -> None:
        if self._ray.is_initialized():
            return
        self._reaper = connect(self.address)
        self._started = self._reaper is not None

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        self._connect()
        cpus = int(self._ray.cluster_resources().get("CPU", 1))
        return max(1, cpus // self.cpus_per_task)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "ray",
            "address": self.address,
            "workers": self.parallelism,
            "threads": self.cpus_per_task,
        }

    def run(self, workload: Workload, units: list[WorkUnit]) -> Iterator[tuple[WorkUnit, tuple]]:
        ray = self._ray
        self._connect()
        task = ray.remote(_run_unit).options(
            num_cpus=self.cpus_per_task, max_retries=1, retry_exceptions=False
        )
        workload_id = uuid.uuid4().hex
        boxed = [ray.put(workload)]  # in a list, so tasks get the reference, not a copy
        dispatch = Dispatch(units)
        limit = 2 * self.parallelism
        while True:
            while len(self._inflight) < limit and (item := dispatch.next()) is not None:
                unit, meta_trained, needed = item
                if not needed:
                    yield unit, DONE
                    continue
                reference = task.remote(workload_id, boxed, unit, meta_trained, self.cpus_per_task)
                self._inflight[reference] = unit
            if not self._inflight:
                if not dispatch:
                    return
                continue
            [ready], _ = ray.wait(list(self._inflight), num_returns=1)
            unit = self._inflight.pop(ready)
            try:
                events = ray.get(ready)
            except ray.exceptions.RayError as exc:
                first = unit.episodes[0] if unit.episodes else -1
                reason = (
                    f"the Ray task running {unit.describe()} failed twice: {type(exc).__name__}"
                )
                events = [
                    ("failed", first, f"episode {first}: {reason}" if unit.episodes else reason)
                ]
            for event in events:
                dispatch.note(unit, event)
                yield unit, event
            yield unit, DONE

    def close(self) -> None:
        ray = self._ray
        for reference in self._inflight:
            ray.cancel(reference, force=True)
        self._inflight = {}
        if self._started:
            if ray.is_initialized():
                ray.shutdown()
            self._reaper.close()
            self._started = False
