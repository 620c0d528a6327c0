"""Local worker processes (``--workers N``).

Each worker is a fresh Python process (``spawn``) that receives the workload once: the datasets,
and the embeddings as memory-mapped ``.npy`` files the driver wrote once to a temporary folder,
so N workers share one copy in the page cache. A worker runs one unit at a time and streams its
events back over a pipe, so the driver journals every episode as it finishes.

Each worker gets its share of the cores (``cores // N`` threads) for torch, OpenMP and BLAS, set
in its environment before it imports anything, and (on Linux, with N at most the cores) is
pinned to its own cores: ``--workers 2`` on two cores runs two single-threaded workers, one per
core, not 2 × 2 threads.

A worker that dies (killed, out of memory) costs the episodes of its unit that had not finished:
the driver sees which unit it was running, starts a new worker and runs the rest of that unit
again, once; if it dies again, the pair is marked failed with the reason and the rest go on.
Ctrl-C or SIGTERM stops the workers (they ignore SIGINT themselves, so only the driver decides)
and leaves the journal resumable; a driver killed outright takes its workers with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np

from fewshot.evaluation.executors import DONE, Dispatch, Executor
from fewshot.evaluation.work import Worker, Workload, WorkUnit

_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


_SHARED_PREFIX = "fewshot-shared-"


def _remove_orphaned_folders() -> None:
    """Remove the shared folders of drivers that died without cleaning up (``kill -9``): each
    is named after its driver's pid, and one whose driver no longer runs is nobody's."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        pid = name.removeprefix(_SHARED_PREFIX).split("-")[0]
        if not name.startswith(_SHARED_PREFIX) or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        except OSError:  # PermissionError: it runs, as another user
            pass


def load_npy(path: str) -> np.ndarray:
    """A shared array, memory-mapped read-only (the workload's ``load_array``)."""
    return np.load(path, mmap_mode="r")


def _die_with(driver: int) -> None:
    """Have the kernel kill this process when its driver dies, however it dies (``kill -9``
    included, where the driver cleans up nothing): a worker would otherwise compute its unit to
    the end for nobody. Linux only (``prctl``); elsewhere a worker stops at its next send."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != driver:  # the driver died before the request took effect
        os._exit(1)


def _worker_main(connection: Connection, driver: int) -> None:
    """A worker process: the workload first, then units until told to stop."""
    _die_with(driver)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    from fewshot.plugins.registry import load_registry

    registry = load_registry()  # while the driver still prepares the workload
    try:
        worker = Worker(connection.recv(), registry)
        while (job := connection.recv()) is not None:
            unit, meta_trained = job
            for event in worker.run(unit, meta_trained):
                connection.send(event)
            connection.send(DONE)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return  # the driver is gone, or stopped: it has said what happened, once


@dataclass
class _Process:
    process: Any
    connection: Connection
    cores: tuple[int, ...] = ()
    unit: WorkUnit | None = None
    finished: tuple[int, ...] = ()  # episodes of the unit reported so far


class LocalProcessExecutor(Executor):
    """N worker processes on this machine; see the module docstring."""

    def __init__(self, workers: int):
        self.parallelism = workers
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.threads = max(1, (len(cores) or os.cpu_count() or 1) // workers)
        # Core sets to pin workers to, where each can have its own.
        self._cores = (
            [tuple(cores[i * self.threads : (i + 1) * self.threads]) for i in range(workers)]
            if cores and workers <= len(cores)
            else [()] * workers
        )
        self._context = multiprocessing.get_context("spawn")
        self._folder: str | None = None
        # Started now, so that their start-up overlaps the driver's preparation.
        self._processes: list[_Process] = [self._start(cores) for cores in self._cores]

    def describe(self) -> dict[str, Any]:
        return {"kind": "processes", "workers": self.parallelism, "threads": self.threads}

    def _share(self, workload: Workload) -> Workload:
        """The workload with its embeddings written once as .npy files, to memory-map."""
        _remove_orphaned_folders()
        self._folder = tempfile.mkdtemp(prefix=f"{_SHARED_PREFIX}{os.getpid()}-")
        paths = {}
        for i, (spec, array) in enumerate(workload.arrays.items()):
            paths[spec] = os.path.join(self._folder, f"{i}.npy")
            np.save(paths[spec], np.ascontiguousarray(array))
        return replace(workload, arrays=paths, load_array=load_npy)

    def _start(self, cores: tuple[int, ...], workload: Workload | None = None) -> _Process:
        ours, theirs = self._context.Pipe()
        saved = {
            name: os.environ.get(name) for name in (*_THREAD_VARIABLES, "TOKENIZERS_PARALLELISM")
        }
        os.environ.update({name: str(self.threads) for name in _THREAD_VARIABLES})
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        try:  # a spawned child takes the environment as it is now, before it imports numpy
            process = self._context.Process(
                target=_worker_main, args=(theirs, os.getpid()), daemon=True
            )
            process.start()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        theirs.close()
        if cores:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(process.pid, cores)
        if workload is not None:
            ours.send(workload)
        return _Process(process, ours, cores)

    def run(self, workload: Workload, units: list[WorkUnit]) -> Iterator[tuple[WorkUnit, tuple]]:
        shared = self._share(workload)
        for worker in self._processes:
            worker.connection.send(shared)
        dispatch = Dispatch(units)
        while True:
            for worker in self._processes:
                while worker.unit is None and (item := dispatch.next()) is not None:
                    unit, meta_trained, needed = item
                    if not needed:
                        yield unit, DONE
                        continue
                    worker.connection.send((unit, meta_trained))
                    worker.unit, worker.finished = unit, ()
            busy = [w for w in self._processes if w.unit is not None]
            if not busy:
                if not dispatch:
                    return
                continue  # only units that are no longer needed were left
            ready = wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.connection in ready or worker.process.sentinel in ready:
                    yield from self._collect(worker, dispatch, shared)

    def _collect(self, worker: _Process, dispatch: Dispatch, workload: Workload):
        """The events a worker has sent; if it has died, its unit's fate."""
        unit = worker.unit
        try:
            while worker.connection.poll():
                event = worker.connection.recv()
                if event == DONE:
                    worker.unit = None
                    yield unit, DONE
                    return
                dispatch.note(unit, event)
                if event[0] in ("episode", "meta"):
                    worker.finished += (event[1] if event[0] == "episode" else -1,)
                yield unit, event
            if worker.process.is_alive():
                return
        except (EOFError, OSError):
            pass
        # The worker died while running ``unit``.
        code = worker.process.exitcode
        worker.process.join(timeout=5)
        self._processes[self._processes.index(worker)] = self._start(worker.cores, workload)
        remaining = tuple(i for i in unit.episodes if i not in worker.finished)
        if (unit.meta and worker.finished) or (not unit.meta and not remaining):
            yield unit, DONE  # it died after its last event: nothing was lost
            return
        if unit.attempt < 2:
            dispatch.retry(replace(unit, episodes=remaining, attempt=unit.attempt + 1))
            return
        reason = f"a worker process died (exit code {code}) running {unit.describe()}, twice"
        first = remaining[0] if remaining else -1
        event = ("failed", first, f"episode {first}: {reason}" if remaining else reason)
        dispatch.note(unit, event)
        yield unit, event
        yield unit, DONE

    def close(self) -> None:
        for worker in self._processes:
            with contextlib.suppress(OSError):
                worker.connection.send(None)
        for worker in self._processes:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.connection.close()
        self._processes = []
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
