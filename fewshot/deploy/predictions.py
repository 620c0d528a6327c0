"""Reading what ``fewshot predict`` labels and writing its predictions, so that it fits in a
pipeline: standard input and output (``-``), the input's other columns (ids) passed through,
JSONL, CSV or Parquet chosen by the file's suffix, in batches of bounded memory.

An output row holds the input's columns, then ``text`` (the text labelled) and the fields of
:func:`prediction_fields`. An input column whose name is one of those is renamed, never
overwritten: the gold label column gets the prefix ``gold_``, any other the prefix ``input_``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.data.blank import is_blank
from fewshot.data.files import check_input_file
from fewshot.data.files import csv_rows as _csv_rows
from fewshot.data.files import jsonl_rows as _jsonl_rows
from fewshot.data.files import lines as _lines
from fewshot.data.files import rows as _rows
from fewshot.data.files import split_lines as _split_lines
from fewshot.data.texts import check_unicode
from fewshot.errors import ConfigError, DataError
from fewshot.util.files import check_output_file, refused, replace_file
from fewshot.util.install import install_hint
from fewshot.util.spreadsheet import spreadsheet_cell

OUTPUT_FIELDS = (
    "text",
    "label",
    "probability",
    "top_k",
    "closest_label",
    "closest_probability",
    "in_scope_probability",
    "in_scope_score",
    "labels",
    "probabilities",
)
NUMBER_FIELDS = {"probability", "closest_probability", "in_scope_probability", "in_scope_score"}
OUTPUT_FORMATS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}
INPUT_FORMATS = ("txt", "jsonl", "csv", "tsv")
STDIN = "<stdin>"
PARQUET_HINT = install_hint("parquet")


def output_format(out: str, stdout_format: str) -> str:
    """The format of ``--out``: by its suffix (JSONL without one), or ``stdout_format`` for
    ``-``; an unknown suffix is refused rather than written as something else."""
    if out == "-":
        return stdout_format
    suffix = Path(out).suffix.lower()
    if not suffix:
        return "jsonl"  # as before formats went by suffix
    if suffix not in OUTPUT_FORMATS:
        raise ConfigError(
            f"--out {out}: unknown output format {suffix or '(no suffix)'!r}; expected .jsonl, "
            ".csv or .parquet, or - for standard output"
        )
    return OUTPUT_FORMATS[suffix]


def _stdin_rows(input_format: str, text_column: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Standard input read by the same rules as a file of that format (line ends, encoding,
    line length, JSON and CSV errors), so the same bytes give the same rows."""
    numbered = _split_lines(sys.stdin.buffer, STDIN)
    if input_format == "txt":
        for number, line in numbered:
            if not is_blank(line):
                yield f"{STDIN}, line {number}", {text_column: line.rstrip("\r\n")}
        return
    if input_format == "jsonl":
        rows = _jsonl_rows(numbered, STDIN)
    else:
        rows = _csv_rows(numbered, STDIN, delimiter="\t" if input_format == "tsv" else ",")
    for number, row in rows:
        yield f"{STDIN}, line {number}", row


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(f"{path}: reading Parquet needs pyarrow: {PARQUET_HINT}") from None
    try:
        table = pq.ParquetFile(path)
        for batch in table.iter_batches():
            for i, row in enumerate(batch.to_pylist()):
                yield f"{path}, row {i + 1}", row
    except (OSError, ValueError) as exc:
        raise DataError(f"not a readable Parquet file ({exc})", path=path) from None


def input_rows(
    source: str, *, text_column: str, input_format: str = "txt", registry=None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for every row to label: from ``-`` (standard input, in ``input_format``),
    a file (.txt one text per line, .jsonl, .csv, .tsv, .parquet, optionally gzipped), or a
    dataset ``NAME:SPLIT``."""
    if source == "-":
        yield from _stdin_rows(input_format, text_column)
        return
    path = Path(source)
    if not path.exists():
        catalog = registry.datasets if registry is not None else _catalog(source)
        data = catalog.load(source)
        for i, (text, label) in enumerate(zip(data.texts, data.labels, strict=True)):
            yield f"{source}, row {i + 1}", {text_column: text, "label": label}
        return
    check_input_file(path)
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    kind = suffixes[-1] if suffixes else ""
    if kind in ("", ".txt"):
        for number, line in _lines(path):
            if not is_blank(line):
                yield f"{path}, line {number}", {text_column: line.rstrip("\r\n")}
    elif kind == ".parquet":
        yield from _parquet_rows(path)
    else:
        for number, row in _rows(path, expected=".txt, .jsonl, .csv, .tsv or .parquet"):
            yield f"{path}, line {number}", row


def _catalog(source: str):
    """Where ``NAME:SPLIT`` is found: the bundled datasets need no plugins loaded (and so
    neither scikit-learn nor torch, which learners import: a runtime install predicts on them
    too); other names are the plugins'."""
    from fewshot.data.catalogue import bundled_catalog

    bundled = bundled_catalog()
    if source.partition(":")[0] in bundled.datasets:
        return bundled
    from fewshot.plugins.registry import load_registry

    return load_registry().datasets


def text_of(where: str, row: dict[str, Any], text_column: str) -> str:
    if text_column not in row:
        raise DataError(f"{where}: missing column {text_column!r}; this row has {sorted(row)[:10]}")
    text = row[text_column]
    if not isinstance(text, str) or is_blank(text):
        raise DataError(f"{where}: empty or non-string text {text!a:.80}")
    return check_unicode(text, where)


def prediction_fields(
    model, predicted: np.ndarray, proba: np.ndarray, scores: np.ndarray | None, *, top_k: int = 0
) -> list[dict[str, Any]]:
    """What ``predict`` and ``serve`` answer for each text, from ``predict_with_scores``.

    - single-label: ``label`` and its ``probability``;
    - with out-of-scope rejection, on every row (so that a CSV or Parquet file has the same
      columns throughout): ``closest_label`` and ``closest_probability`` (the most probable
      class and its probability; on a rejected row ``label`` is the out-of-scope label and
      ``probability`` is empty, as no class was given), ``in_scope_probability`` (P(in scope),
      see :meth:`~fewshot.learners.rejection.Rejection.in_scope_probability`; absent for a
      given threshold) and ``in_scope_score`` (the scorer's raw score);
    - multi-label: ``labels``, most probable first, and their ``probabilities``;
    - with ``top_k``: the ``top_k`` most probable labels with their probabilities.
    """
    labels = model.labels
    rejection = getattr(model, "rejection_", None) if scores is not None else None
    chance = rejection.in_scope_probability(scores) if rejection is not None else None
    order = (-proba).argsort(axis=1, kind="stable")
    rows = []
    for i, (p, ranked) in enumerate(zip(proba, order, strict=True)):
        if getattr(model, "multi_label_", False):
            chosen = sorted(
                (labels.index(str(label)) for label in predicted[i]), key=lambda j: (-p[j], j)
            )
            row: dict[str, Any] = {
                "labels": [labels[j] for j in chosen],
                "probabilities": [round(float(p[j]), 6) for j in chosen],
            }
        else:
            best = ranked[0]
            rejected = rejection is not None and scores[i] < rejection.threshold
            row = {
                "label": str(predicted[i]),
                "probability": None if rejected else round(float(p[best]), 6),
            }
            if rejection is not None:
                row["closest_label"] = labels[best]
                row["closest_probability"] = round(float(p[best]), 6)
                if chance is not None:
                    row["in_scope_probability"] = round(float(chance[i]), 6)
                row["in_scope_score"] = round(float(scores[i]), 6)
        if top_k:
            row["top_k"] = [
                {"label": labels[j], "probability": round(float(p[j]), 6)} for j in ranked[:top_k]
            ]
        rows.append(row)
    return rows


def output_row(
    row: dict[str, Any], text_column: str, label_column: str, prediction: dict[str, Any]
) -> dict[str, Any]:
    """The input's columns (renamed where they would collide), then the prediction."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name == text_column == "text":
            continue  # the same text is written as "text"
        if name in OUTPUT_FIELDS:
            name = f"gold_{name}" if name == label_column else f"input_{name}"
        out[name] = value
    out.update(prediction)
    return out


@dataclass
class LabelledRows:
    """A batch of input rows, labelled: the rows to write, and how many had a gold label and
    how many of those were predicted right (exact match, for a multi-label model)."""

    rows: list[dict[str, Any]]
    gold_seen: int
    correct: int


def label_rows(
    model,
    batch: list[tuple[str, dict[str, Any]]],
    *,
    text_column: str,
    label_column: str | None = None,
    top_k: int = 0,
) -> LabelledRows:
    """Label a batch of ``(where, row)`` input rows with ``model`` (what ``load_predictor``
    gives): each output row is the input's columns, then the prediction (:func:`output_row`),
    the gold ``label_column`` (default ``label``, ``labels`` for a multi-label model) compared.
    What ``fewshot predict`` writes, in one process or on Ray."""
    from fewshot.data.labels import normalize_label

    texts = [text_of(where, row, text_column) for where, row in batch]
    predicted, proba, scores = model.predict_with_scores(texts)
    fields = prediction_fields(model, predicted, proba, scores, top_k=top_k)
    multi_label = getattr(model, "multi_label_", False)
    gold_column = label_column or ("labels" if multi_label else "label")
    out = LabelledRows([], 0, 0)
    for (_, row), text, answer in zip(batch, texts, fields, strict=True):
        prediction = {"text": text, **answer}
        if multi_label:
            gold = _gold_label_set(row.get(gold_column))
            right = gold is not None and set(gold) == set(prediction["labels"])
        else:
            gold = normalize_label(row.get(gold_column))
            right = gold == prediction.get("label")
        if gold is not None:
            out.gold_seen += 1
            out.correct += right
        written = output_row(row, text_column, gold_column, prediction)
        if multi_label and gold is not None:  # "a|b" from a CSV: a list, as predicted
            name = f"gold_{gold_column}" if gold_column in OUTPUT_FIELDS else gold_column
            written[name] = list(gold)
        out.rows.append(written)
    return out


def _gold_label_set(value) -> tuple[str, ...] | None:
    """An input row's gold label list (a JSON list, or a CSV cell joined by ``|``)."""
    from fewshot.data.labels import parse_label_set

    if value is None:
        return None
    try:
        return parse_label_set(value, "|", "labels")
    except ValueError:
        return None


class PredictionWriter:
    """Writes rows to standard output as they come, or to a file that appears complete or not
    at all (a temporary file beside it, renamed at the end)."""

    def __init__(self, out: str, fmt: str):
        self.out, self.format = out, fmt
        self.count = 0
        self._fields: list[str] | None = None
        self._parquet = None
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise ConfigError(
                    f"--out {out}: writing Parquet needs pyarrow: {PARQUET_HINT}"
                ) from None
        if out == "-":
            self._stream = sys.stdout
            self._temporary = None
        else:
            target = Path(os.path.realpath(out))
            check_output_file(out)
            handle, self._temporary = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
            )
            os.close(handle)
            self._stream = (
                None
                if fmt == "parquet"
                else open(  # noqa: SIM115
                    self._temporary, "w", encoding="utf-8", newline=""
                )
            )

    def write(self, rows: list[dict[str, Any]]) -> None:
        try:
            self._write(rows)
        except OSError as exc:
            self._refused(exc)

    def _refused(self, exc: OSError):
        """A write refused (a full disk, a file-size limit): one error naming ``--out``, whose
        earlier content, if any, is kept (the rows went to a temporary file)."""
        if self._temporary is None:
            raise exc  # standard output: a closed pipe is handled by the CLI
        self.abandon()
        raise refused(exc, self.out) from None

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if self.format == "jsonl":
            self._stream.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        elif self.format == "csv":
            if self._fields is None:
                self._fields = list(rows[0])
                self._csv = csv.DictWriter(
                    self._stream, fieldnames=self._fields, extrasaction="ignore", restval=""
                )
                self._csv.writeheader()
            self._csv.writerows(
                {
                    k: spreadsheet_cell(json.dumps(v) if isinstance(v, (list, dict)) else v)
                    for k, v in r.items()
                }
                for r in rows
            )
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pylist(rows)
            if self._parquet is None:
                # A first batch of rejected rows has only empty probabilities: their type is
                # a number all the same, or later batches would not fit the file's schema.
                schema = pa.schema(
                    pa.field(f.name, pa.float64() if f.name in NUMBER_FIELDS else pa.string())
                    if pa.types.is_null(f.type)
                    else f
                    for f in table.schema
                )
                table = table.cast(schema)
                self._parquet = pq.ParquetWriter(self._temporary, schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        if self._stream is not None:
            self._stream.flush()
        self.count += len(rows)

    def close(self) -> None:
        """Finish: the file takes its place (the rename refuses anything but a regular file)."""
        try:
            if self._parquet is not None:
                self._parquet.close()
            if self._temporary is None:
                return
            if self._stream is not None:
                self._stream.flush()
                os.fsync(self._stream.fileno())
                self._stream.close()
        except OSError as exc:
            self._refused(exc)
        replace_file(self._temporary, self.out)

    def abandon(self) -> None:
        if self._temporary is None:
            return
        # Closing flushes what is buffered, which fails again where the disk is full: the
        # temporary file goes anyway.
        for stream in (self._stream, self._parquet):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        Path(self._temporary).unlink(missing_ok=True)
