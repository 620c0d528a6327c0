"""Reading run directories back for a report: ``run.json``, ``results.json``, ``comparisons.json``.

A report is drawn from what a run wrote, after the fact; nothing is recomputed. Several runs are
told apart by their directory names (``runs/before``, ``runs/after``), which label the series.
"""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewshot.errors import ConfigError
from fewshot.evaluation.journal import JOURNAL
from fewshot.evaluation.records import PROTOCOLS, value_problem
from fewshot.evaluation.run_directory import RUN_FILE, RUN_FORMAT

#: What every record names: the report groups and labels by them.
IDENTITY = ("learner", "dataset", "protocol", "status")
#: What every comparison carries, with the types the report reads (None: any).
COMPARISON_FIELDS: dict[str, tuple[type, ...] | None] = {
    "dataset": (str,),
    "protocol": (str,),
    "learner_a": (str,),
    "learner_b": (str,),
    "test": (str,),
    "metric": (str,),
    "difference": (int, float),
    "p_value": (int, float),
    "ci95": (int, float),
    "ways": None,
    "shots": None,
}


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


def _damaged(path: Path, number: int, what: str, problem: str) -> ConfigError:
    return ConfigError(
        f"{path}, {what} {number}: {problem}; the file is damaged or was not written by "
        "fewshot bench (run the benchmark again, or --resume it)"
    )


def _check_record(path: Path, number: int, record: dict[str, Any]) -> None:
    """A record the report can draw: named (learner, dataset, protocol, status), every field of
    the schema of its type, intervals not negative. Fields the schema does not know (a newer
    fewshot's) are left alone."""
    for name in IDENTITY:
        if not isinstance(record.get(name), str):
            problem = f"no {name!r}" if name not in record else f"{name!r} is {record[name]!r}"
            raise _damaged(path, number, "record", f"{problem}; expected a string")
    if record["protocol"] not in PROTOCOLS:
        raise _damaged(path, number, "record", f"unknown protocol {record['protocol']!r}")
    for name, value in record.items():
        problem = value_problem(name, value)
        if problem is None and name.endswith("ci95") and isinstance(value, float | int):
            problem = f"{name!r} is {value!r}; an interval is not negative" if value < 0 else None
        if problem:
            raise _damaged(path, number, "record", problem)


def _check_comparison(path: Path, number: int, comparison: dict[str, Any]) -> None:
    for name, kinds in COMPARISON_FIELDS.items():
        if name not in comparison:
            raise _damaged(path, number, "comparison", f"no {name!r}")
        value = comparison[name]
        wrong = (
            kinds is not None
            and value is not None
            and (not isinstance(value, kinds) or isinstance(value, bool))
        )
        if wrong or (kinds is not None and name in ("p_value", "dataset") and value is None):
            raise _damaged(path, number, "comparison", f"{name!r} is {value!r}")
    if comparison["ci95"] is not None and comparison["ci95"] < 0:
        raise _damaged(path, number, "comparison", "'ci95' is negative")
    if not 0 <= comparison["p_value"] <= 1:
        raise _damaged(path, number, "comparison", "'p_value' is not between 0 and 1")


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
    if not (path / "results.json").exists() and (path / JOURNAL).exists():
        raise ConfigError(
            f"{path}: the run has not finished a setting yet (episodes are journalled, there is "
            "no results.json); finish it with the same fewshot bench command and --resume"
        )
    records = _json(path / "results.json", "results.json")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ConfigError(f"{path / 'results.json'}: expected a list of result records")
    for number, record in enumerate(records, start=1):
        _check_record(path / "results.json", number, record)
    comparisons = []
    if (path / "comparisons.json").exists():
        comparisons = _json(path / "comparisons.json", "comparisons.json")
        if not isinstance(comparisons, list) or not all(isinstance(c, dict) for c in comparisons):
            raise ConfigError(f"{path / 'comparisons.json'}: expected a list of comparisons")
        for number, comparison in enumerate(comparisons, start=1):
            _check_comparison(path / "comparisons.json", number, comparison)
    written = datetime.datetime.fromtimestamp(
        (path / "results.json").stat().st_mtime, tz=datetime.UTC
    ).strftime("%Y-%m-%d %H:%M UTC")
    return Run(path.name or str(path), path, meta, records, comparisons, written)


@contextlib.contextmanager
def drawing(runs: list[Run], what: str) -> Iterator[None]:
    """Where a record passed the checks of :func:`load_run` but its nested values (a reliability
    table, a confusion list, ...) are not what fewshot bench writes, the drawing fails on them:
    say so in one line naming the files, not with a traceback (``--debug`` shows it)."""
    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        files = ", ".join(str(run.path / "results.json") for run in runs)
        raise ConfigError(
            f"{files}: cannot draw the {what} from these records ({type(exc).__name__}: {exc}); "
            "the files are damaged or were not written by fewshot bench"
        ) from exc


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
