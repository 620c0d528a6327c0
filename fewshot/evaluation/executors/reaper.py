"""A process that outlives the driver only to end the processes the driver started.

``--ray local`` starts a Ray instance as children of the driver: GCS, raylet, and the raylet's
agents and workers. ``ray.shutdown()`` stops them when the driver ends normally, and most of them
go with the raylet when the driver is killed outright (``kill -9``, the out-of-memory killer);
Ray's dashboard and runtime-env agents did not: a minute later they were still running, orphans
of a dead raylet. :class:`Reaper` starts ``python -m fewshot.evaluation.executors.reaper PID``
(psutil for the process tree), which notes the driver's descendants every half second and, once
the driver is gone or says it has finished (its end of a pipe closes, which the kernel does
however the driver ends), ends every one of them still running: SIGTERM, then SIGKILL after two
seconds. A process is known by its pid and start time, so a reused pid is never hit.

The reaper runs in a session of its own, so Ctrl-C and signals to the driver's process group do
not stop it before it has done its work.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys

POLL_S = 0.5
GRACE_S = 2.0


class Reaper:
    """Start the reaper of this process's descendants; :meth:`close` when they should be gone.

    Does nothing where psutil is missing (it comes with ``fewshot[ray]``).
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        try:
            import psutil  # noqa: F401
        except ImportError:
            return
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(os.getpid())],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )

    def close(self, timeout: float = 10.0) -> None:
        """Say the driver is done (the reaper then ends what is left) and wait for it."""
        if self._process is None:
            return
        with contextlib.suppress(OSError):
            self._process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=timeout)
        self._process = None


def _driver_done(pipe) -> bool:
    """Whether the driver's end of the pipe has closed (it finished, or it died)."""
    readable, _, _ = select.select([pipe], [], [], POLL_S)
    return bool(readable) and not os.read(pipe.fileno(), 4096)


def _is_ray(process) -> bool:
    """Ray's own processes: ``ray::NAME`` workers and agents, and the programs of its package."""
    import psutil

    try:
        return any("ray" in part for part in process.cmdline())
    except psutil.Error:
        return False


def reap(driver: int) -> None:
    import psutil

    me = os.getpid()
    known: dict[int, psutil.Process] = {}
    descendants: set[int] = set()
    try:
        root = psutil.Process(driver)
        while True:
            for child in root.children(recursive=True):
                if child.pid != me and child.pid not in known and _is_ray(child):
                    known[child.pid] = child
            if _driver_done(sys.stdin):
                # The driver has finished and is still here: what is still its own is not
                # left over (it may be ending it now); what Ray orphaned is.
                descendants = {child.pid for child in root.children(recursive=True)}
                break
    except psutil.NoSuchProcess:  # the driver is gone: everything it started is left over
        descendants = set()
    # is_running() compares the start time too: a pid the system has since reused is not ours.
    left = [p for p in known.values() if p.pid not in descendants and p.is_running()]
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, stubborn = psutil.wait_procs(left, timeout=GRACE_S)
    for process in stubborn:
        with contextlib.suppress(psutil.Error):
            process.kill()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reap(int(sys.argv[1]))
