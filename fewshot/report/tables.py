"""Writing results (JSON, CSV) atomically, and showing them as a table on the terminal."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fewshot.evaluation.records import CSV_FIELDS, MULTI_LABEL_METRICS
from fewshot.util.files import write_atomic
from fewshot.util.spreadsheet import spreadsheet_cell


def write_results(
    out: Path, records: Sequence[dict[str, Any]], comparisons: Sequence[dict[str, Any]]
) -> None:
    """``results.json`` (list of records), ``results.csv`` and ``comparisons.json`` under ``out``."""
    write_atomic(out / "results.json", json.dumps(list(records), indent=2) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for record in records:
        row = dict(record)
        row["params"] = json.dumps(record.get("params", {}), sort_keys=True)
        writer.writerow({key: spreadsheet_cell(value) for key, value in row.items()})
    write_atomic(out / "results.csv", buffer.getvalue())
    write_atomic(out / "comparisons.json", json.dumps(list(comparisons), indent=2) + "\n")


def _setting(record: dict[str, Any]) -> str:
    if record.get("pool"):  # active learning: the record's accuracy is its first strategy's
        return (
            f"active learning from {escape(record['pool'])}, {record['batch']} per round to "
            f"{record['total']} ({record['strategies'][0]})"
        )
    if record.get("multi_label"):
        kind = "full-way" if record.get("full_way") else f"{record['ways']}-way"
        return f"multi-label {kind} {record['shots']}-shot, {record['episodes']} tasks"
    if record["full_way"]:
        pool = record.get("unlabeled_data")  # offered to the learners that use unlabelled texts
        pool = f", unlabelled {escape(pool)}" if pool else ""
        return f"full-way {record['shots']}-shot ({record['ways']} classes{pool})"
    if record.get("source"):
        return (
            f"from {_where(record, 'source')}, {record['shots']}-shot, {record['episodes']} seeds"
        )
    text = f"{record['ways']}-way {record['shots']}-shot"
    return text + (f" [{record['domain']}]" if record.get("domain") else "")


def _where(record: dict[str, Any], side: str) -> str:
    """``dataset[domain]``, escaped so that rich does not take ``[domain]`` for markup."""
    domain = record.get(f"{side}_domain")
    return escape(record[side] + (f"[{domain}]" if domain else ""))


def _number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def results_table(records: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="fewshot results", show_lines=False)
    for column, justify in [
        ("dataset", "left"),
        ("setting", "left"),
        ("learner", "left"),
        ("accuracy ± 95% CI", "right"),
        ("macro-F1", "right"),
        ("fit s/ep", "right"),
        ("predict s/ep", "right"),
        ("status", "left"),
    ]:
        table.add_column(column, justify=justify)
    for r in records:
        accuracy = (
            "—" if r["accuracy"] is None else f"{r['accuracy']:.4f} ± {_number(r['ci95'], 4)}"
        )
        status = (
            r["status"]
            if r["status"] == "ok"
            else f"[red]{r['status']}[/red]: {escape(str(r['error']))}"
        )
        table.add_row(
            _where(r, "target") if r.get("target") else r["dataset"],
            _setting(r),
            r["learner"],
            accuracy,
            _number(r["macro_f1"], 4),
            _number(r["fit_seconds"], 4),
            _number(r["predict_seconds"], 4),
            status,
        )
    return table


def comparisons_table(comparisons: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="paired comparisons (same tasks)")
    for column in ("dataset", "setting", "A", "B", "metric", "A − B ± 95% CI", "p", "test"):
        table.add_column(column)
    for c in comparisons:
        if c["protocol"] in ("full-way", "multi-label", "out-of-scope"):
            setting = f"{c['protocol']} {c['shots']}-shot"
        elif c.get("source"):
            setting = f"from {_where(c, 'source')}, {c['shots']}-shot"
        else:
            setting = f"{c['ways']}-way {c['shots']}-shot"
        table.add_row(
            _where(c, "target") if c.get("target") else c["dataset"],
            setting,
            c["learner_a"],
            c["learner_b"],
            c["metric"],
            f"{c['difference']:+.4f} ± {_number(c['ci95'], 4)}",
            f"{c['p_value']:.3g}",
            c["test"],
        )
    return table


def out_of_scope_table(records: Sequence[dict[str, Any]]) -> Table:
    """Every scorer of every out-of-scope record: how well it keeps and rejects."""
    table = Table(title="out-of-scope rejection (thresholds from the training data)")
    for column in (
        "dataset",
        "setting",
        "learner",
        "scorer",
        "accuracy",
        "in-scope acc.",
        "OOS recall",
        "OOS precision",
        "AUROC",
        "FPR@95%TPR",
    ):
        table.add_column(
            column,
            justify="left" if column in ("dataset", "setting", "learner", "scorer") else "right",
        )
    for r in records:
        for scorer, m in (r.get("scorers") or {}).items():
            table.add_row(
                r["dataset"],
                _setting(r),
                r["learner"],
                scorer,
                _number(m["accuracy"], 4),
                _number(m["in_scope_accuracy"], 4),
                _number(m["oos_recall"], 4),
                _number(m["oos_precision"], 4),
                _number(m["oos_auroc"], 4),
                _number(m["oos_fpr95"], 4),
            )
    return table


def multi_label_table(records: Sequence[dict[str, Any]]) -> Table:
    """The multi-label metrics of every multi-label record."""
    table = Table(title="multi-label (thresholds from the support)")
    columns = MULTI_LABEL_METRICS
    for column in ("dataset", "setting", "learner", "support", *columns):
        table.add_column(
            column, justify="left" if column in ("dataset", "setting", "learner") else "right"
        )
    for r in records:
        if not r.get("multi_label") or r["status"] != "ok":
            continue
        ci = [f"{r[c]:.4f} ± {_number(r[f'{c}_ci95'], 4)}" for c in columns]
        table.add_row(
            r["dataset"], _setting(r), r["learner"], f"{r['support_size']['mean']:.0f}", *ci
        )
    return table


def wide_console(stderr: bool = False) -> Console:
    """A console that keeps tables readable when output goes to a file or a pipe."""
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=160)


def print_report(records, comparisons, console: Console | None = None) -> None:
    console = console or wide_console()
    console.print(results_table(records))
    if any(r.get("scorers") for r in records):
        console.print(out_of_scope_table(records))
    if any(r.get("multi_label") and r["status"] == "ok" for r in records):
        console.print(multi_label_table(records))
    if comparisons:
        console.print(comparisons_table(comparisons))
