"""The run journal: every finished (setting, learner, episode) outcome, appended as it completes.

``OUT/episodes.jsonl`` gets one JSON line per outcome, flushed at once, so a crash, Ctrl-C or
``kill -9`` loses at most the episode in flight. ``fewshot bench --resume`` reads it back, skips
what is done, and recomputes the summaries from the per-episode outcomes, so its final results
equal an uninterrupted run's (timings aside). A lock file keeps two processes from writing one
journal.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from fewshot.errors import ConfigError
from fewshot.util.files import hold_lock

JOURNAL = "episodes.jsonl"
LOCK = ".fewshot-bench.lock"


def fingerprint(description: Any) -> str:
    """A stable hash of what a run computes (settings, learners, seeds, encoder)."""
    return hashlib.sha256(
        json.dumps(description, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]


def busy_message(directory: Path) -> str:
    return (
        f"{directory}: another `fewshot bench` is writing there; wait for it or use another --out"
    )


class Journal:
    """Append-only record of finished episodes in ``directory``."""

    def __init__(self, directory: Path, *, resume: bool):
        self.path = directory / JOURNAL
        self._lock = hold_lock(directory / LOCK, busy_message(directory))  # for its lifetime
        self.done: dict[tuple[str, str], dict[int, dict]] = {}
        if resume and self.path.exists():
            self._read()
        elif self.path.exists():
            self.path.unlink()
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self.computed = 0

    def _read(self) -> None:
        lines = self.path.read_bytes().split(b"\n")
        good = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key = (entry["setting"], entry["learner"])
                self.done.setdefault(key, {})[int(entry["episode"])] = entry["outcome"]
            except (ValueError, KeyError, TypeError):
                if number >= len(lines) - 1:
                    break  # the line a killed process was writing: drop it and recompute that episode
                raise ConfigError(
                    f"{self.path}, line {number}: damaged journal entry; cannot resume safely"
                ) from None
            good += len(line) + 1
        with open(self.path, "r+b") as handle:  # cut a torn last line so appends start clean
            handle.truncate(good)

    def reused_total(self) -> int:
        return sum(len(episodes) for episodes in self.done.values())

    def finished(self, setting: str, learner: str) -> dict[int, dict]:
        return self.done.get((setting, learner), {})

    def record(self, setting: str, learner: str, episode: int, outcome: dict) -> None:
        line = json.dumps(
            {"setting": setting, "learner": learner, "episode": episode, "outcome": outcome}
        )
        try:
            self._handle.write(line + "\n")
            self._handle.flush()  # in the kernel's hands now: survives the process being killed
        except OSError as exc:  # a full disk, a file-size limit: what is journalled is kept
            raise OSError(
                exc.errno,
                f"{exc.strerror}; the episodes journalled so far are kept: make room, then "
                "continue with --resume",
                str(self.path),
            ) from None
        self.computed += 1

    def close(self) -> None:
        # Closing flushes a line a refused write left in the buffer; it would be refused again,
        # and --resume drops a torn last line anyway.
        with contextlib.suppress(OSError):
            self._handle.close()
        self._lock.release()
