"""Run directories: where ``fewshot bench`` writes its results, and when it may.

A run directory holds ``run.json`` (what the run computes, marked ``"format": "fewshot-run"``),
``results.json``, ``results.csv``, ``comparisons.json``, the journal ``episodes.jsonl`` and a
lock file. fewshot writes

- into a new or an empty directory;
- into one of its own runs only when told to: ``--resume`` continues the *same* run (its
  fingerprint covers the settings, the learners with every parameter, the encoder and a hash of
  each dataset's content), ``--overwrite`` replaces it. The replacement is built in a hidden
  directory beside it and swapped in when it is complete, so an interrupted ``--overwrite``
  leaves the earlier run exactly as it was;

and nowhere else: a directory holding files fewshot did not write is refused, and so is a path
that is a file. Nothing is written before these checks pass.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewshot.errors import ConfigError
from fewshot.evaluation.journal import JOURNAL, LOCK, busy_message, fingerprint
from fewshot.util.files import (
    HeldLock,
    check_outside_models,
    hold_lock,
    replace_directory,
    staging_directory,
    write_atomic,
)

RUN_FORMAT = "fewshot-run"
RUN_FILE = "run.json"
#: The files a run directory may hold: fewshot wrote them (temporaries aside).
OWNED = frozenset(
    {RUN_FILE, "results.json", "results.csv", "comparisons.json", JOURNAL, LOCK, "report.html"}
)
_PARTS = {
    "settings": "the settings (datasets, ways, shots, episodes, seeds)",
    "learners": "the learners or their parameters",
    "encoder": "the encoder",
}


def describe_run(
    *,
    suite: str,
    settings: list[dict[str, Any]],
    learners: list[dict[str, Any]],
    encoder: str,
    data: dict[str, str],
    device: str,
    argv: list[str],
    version: str,
) -> dict[str, Any]:
    """``run.json``: what a run computes, and the fingerprint ``--resume`` compares."""
    parts = {
        "settings": fingerprint(settings),
        "learners": fingerprint(learners),
        "encoder": encoder,
        "data": dict(sorted(data.items())),
    }
    return {
        "format": RUN_FORMAT,
        "suite": suite,
        "fingerprint": fingerprint(parts),
        "parts": parts,
        "argv": argv,
        "fewshot_version": version,
        "encoder": encoder,
        "device": device,
    }


def _changes(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two runs' ``parts``, in words."""
    before, now = previous.get("parts") or {}, current["parts"]
    changed = [words for key, words in _PARTS.items() if before.get(key) != now[key]]
    old_data, new_data = before.get("data") or {}, now["data"]
    for spec in sorted(set(old_data) | set(new_data)):
        if old_data.get(spec) != new_data.get(spec):
            changed.append(f"the data of {spec}")
    return changed or ["the run's description (it was written by another fewshot version)"]


def _read_run(out: Path) -> dict[str, Any] | None:
    """The run.json of a fewshot run in ``out``, or None if ``out`` is not one."""
    path = out / RUN_FILE
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(run, dict):
        return None
    if run.get("format") == RUN_FORMAT:
        return run
    # Runs written before the format marker had these two keys.
    return run if {"fingerprint", "fewshot_version"} <= set(run) else None


def _foreign(out: Path) -> list[str]:
    """Names in ``out`` that fewshot does not write (its atomic writes' temporaries aside)."""
    return sorted(
        p.name
        for p in out.iterdir()
        if p.name not in OWNED and not (p.name.startswith(".") and p.name.endswith(".tmp"))
    )


@dataclass
class RunDirectory:
    """Where one ``fewshot bench`` writes: ``out`` itself, or (``--overwrite``) a staging
    directory that :meth:`finish` swaps in for ``out``."""

    out: Path
    path: Path
    replacing: bool = False
    _lock: HeldLock | None = field(default=None, repr=False)

    @staticmethod
    def check(out: str | Path, *, resume: bool, overwrite: bool) -> dict[str, Any] | None:
        """What can be checked before any work: may a run write to ``out`` at all? Returns the
        earlier run's run.json (None for a new or empty directory); raises ConfigError."""
        out = Path(out)
        if resume and overwrite:
            raise ConfigError("--resume continues a run and --overwrite replaces it; choose one")
        check_outside_models(out)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} exists and is not a directory")
        if not out.exists() or not any(out.iterdir()):
            if resume:
                raise ConfigError(
                    f"{out}: no earlier run to resume (no run.json there); drop --resume"
                )
            return None
        previous = _read_run(out)
        if previous is None:
            raise ConfigError(
                f"--out {out} is not empty and holds no fewshot run (no run.json written by "
                "fewshot bench); fewshot writes only into a new or empty directory or its own "
                "earlier run: choose another --out"
            )
        if overwrite:
            foreign = _foreign(out)
            if foreign:
                raise ConfigError(
                    f"{out} holds files fewshot did not write ({', '.join(foreign[:5])}); "
                    "--overwrite replaces only a run directory: move them or choose another --out"
                )
        elif not resume:
            raise ConfigError(
                f"{out} holds results of an earlier run; continue it with --resume, replace it "
                "with --overwrite, or choose another --out"
            )
        return previous

    @classmethod
    def open(
        cls, out: str | Path, run: dict[str, Any], *, resume: bool, overwrite: bool
    ) -> RunDirectory:
        """Check that this run may write to ``out`` (see the module's rules), then write its
        run.json. Raises ConfigError, with nothing written, where it may not."""
        out = Path(out)
        previous = cls.check(out, resume=resume, overwrite=overwrite)
        if previous is None:
            out.mkdir(parents=True, exist_ok=True)
            directory = cls(out, out)
        elif resume:
            if previous.get("fingerprint") != run["fingerprint"]:
                raise ConfigError(
                    f"{out} holds another run: {', '.join(_changes(previous, run))} changed "
                    "since it started; --resume only continues the same run: use another "
                    "--out, or --overwrite to replace it"
                )
            directory = cls(out, out)
        else:
            out = out.resolve()
            lock = hold_lock(out / LOCK, busy_message(out))
            try:
                staging = staging_directory(out, "fewshot-overwrite")
            except BaseException:
                lock.release()
                raise
            directory = cls(out, staging, replacing=True, _lock=lock)
        try:
            write_atomic(directory.path / RUN_FILE, json.dumps(run, indent=2) + "\n")
        except BaseException:
            directory.abandon()
            raise
        return directory

    def finish(self) -> None:
        """The run is complete: an ``--overwrite`` run now replaces the earlier one."""
        if self.replacing:
            replace_directory(self.path, self.out)
            self.path, self.replacing = self.out, False
        self._unlock()

    def abandon(self) -> None:
        """The run stopped early: an ``--overwrite`` run is dropped and the earlier one stays;
        any other run stays resumable where it is."""
        if self.replacing:
            shutil.rmtree(self.path, ignore_errors=True)
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
