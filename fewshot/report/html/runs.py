"""Reading run directories back for a report: ``run.json``, ``results.json``, ``comparisons.json``.

A report is drawn from what a run wrote, after the fact; nothing is recomputed. Several runs are
told apart by their directory names (``runs/before``, ``runs/after``), which label the series.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewshot.errors import ConfigError
from fewshot.evaluation.run_directory import RUN_FILE, RUN_FORMAT


@dataclass
class Run:
    """One run directory: what it computed (``meta``), its records and comparisons."""

    name: str
    path: Path
    meta: dict[str, Any]
    records: list[dict[str, Any]]
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    written: str = ""

    def series(self, learner: str, several: bool) -> str:
        """A learner's name in legends: with the run's name where several runs are shown."""
        return f"{learner} ({self.name})" if several else learner


def _json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no {what} there; is it the --out of a finished fewshot bench?"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: not valid JSON ({exc}); expected the {what} fewshot bench writes"
        ) from None


def load_run(directory: str | Path) -> Run:
    """The run in ``directory``; a ConfigError (one line) where it is not a fewshot run."""
    path = Path(directory)
    if not path.is_dir():
        raise ConfigError(f"{path}: not a directory; expected the --out of a fewshot bench run")
    meta = _json(path / RUN_FILE, "run.json")
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        raise ConfigError(
            f'{path / RUN_FILE}: not written by fewshot bench (no "format": "{RUN_FORMAT}")'
        )
    records = _json(path / "results.json", "results.json")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ConfigError(f"{path / 'results.json'}: expected a list of result records")
    comparisons = []
    if (path / "comparisons.json").exists():
        comparisons = _json(path / "comparisons.json", "comparisons.json")
        if not isinstance(comparisons, list):
            raise ConfigError(f"{path / 'comparisons.json'}: expected a list of comparisons")
    written = datetime.datetime.fromtimestamp(
        (path / "results.json").stat().st_mtime, tz=datetime.UTC
    ).strftime("%Y-%m-%d %H:%M UTC")
    return Run(path.name or str(path), path, meta, records, comparisons, written)


def load_runs(directories: list[str | Path]) -> list[Run]:
    """Every run, named by its directory (made unique with its parent where two share a name)."""
    runs = [load_run(d) for d in directories]
    names = [r.name for r in runs]
    for run in runs:
        if names.count(run.name) > 1:
            run.name = f"{run.path.resolve().parent.name}/{run.path.name}"
    if len({r.name for r in runs}) < len(runs):
        raise ConfigError("the same run directory is given twice")
    return runs
