"""Labelled texts in memory, and the readers that build them from JSONL and CSV files."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.errors import DataError


@dataclass(frozen=True, eq=False)
class LabeledTexts:
    """Texts with one string label each, and optionally a domain each.

    Labels are always strings: a CSV's ``3`` and a JSON ``3`` name the same class.
    """

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    domains: tuple[str, ...] | None = None
    name: str = "<memory>"
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(
                f"{self.name}: {len(self.texts)} texts but {len(self.labels)} labels; "
                "expected one label per text"
            )
        if self.domains is not None and len(self.domains) != len(self.texts):
            raise DataError(
                f"{self.name}: {len(self.texts)} texts but {len(self.domains)} domains; "
                "expected one domain per text"
            )
        if not self.texts:
            raise DataError(f"{self.name}: no examples; expected at least one labelled text")
        for i, text in enumerate(self.texts):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{self.name}: example {i} has an empty text ({text!r})")

    @classmethod
    def from_lists(
        cls,
        texts: Sequence[str],
        labels: Sequence[Any],
        domains: Sequence[Any] | None = None,
        *,
        name: str = "<memory>",
    ) -> LabeledTexts:
        """Build from plain Python sequences; labels and domains are converted to strings."""
        return cls(
            texts=tuple(texts),
            labels=tuple(_label(v, name, i) for i, v in enumerate(labels)),
            domains=None if domains is None else tuple(str(d) for d in domains),
            name=name,
        )

    @classmethod
    def from_dataframe(
        cls,
        frame: Any,
        *,
        text_column: str = "text",
        label_column: str = "label",
        domain_column: str | None = "domain",
        name: str = "<dataframe>",
    ) -> LabeledTexts:
        """Build from a pandas DataFrame (the domain column is used when present)."""
        columns = [str(c) for c in frame.columns]
        for column in (text_column, label_column):
            if column not in columns:
                raise DataError(f"{name}: missing column {column!r}; columns are {columns}")
        domains = None
        if domain_column is not None and domain_column in columns:
            domains = frame[domain_column].tolist()
        return cls.from_lists(
            frame[text_column].tolist(), frame[label_column].tolist(), domains, name=name
        )

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def classes(self) -> tuple[str, ...]:
        """The distinct labels, sorted."""
        return tuple(sorted(set(self.labels)))

    @cached_property
    def label_array(self) -> np.ndarray:
        return np.asarray(self.labels, dtype=object)

    @cached_property
    def text_array(self) -> np.ndarray:
        return np.asarray(self.texts, dtype=object)

    def subset(
        self, indices: Sequence[int] | np.ndarray, *, name: str | None = None
    ) -> LabeledTexts:
        idx = np.asarray(indices, dtype=np.int64)
        return LabeledTexts(
            texts=tuple(self.text_array[idx]),
            labels=tuple(self.label_array[idx]),
            domains=None if self.domains is None else tuple(np.asarray(self.domains)[idx]),
            name=name or self.name,
        )


def _label(value: Any, name: str, index: int) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise DataError(f"{name}: example {index} has no label")
    label = str(value).strip()
    if not label:
        raise DataError(f"{name}: example {index} has an empty label")
    return label


def read_labeled_file(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    domain_column: str | None = "domain",
) -> LabeledTexts:
    """Read a JSONL (``.jsonl``/``.json``), CSV (``.csv``) or TSV (``.tsv``) file, optionally gzipped.

    The domain column is read when the file has it. Every problem is reported as a
    :class:`DataError` naming the file and the line.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("no such file", path=path)
    if path.is_dir():
        raise DataError("is a directory; expected a JSONL or CSV file", path=path)
    rows = _rows(path, expected=".jsonl, .csv or .tsv")

    texts: list[str] = []
    labels: list[str] = []
    domains: list[str] = []
    use_domain: bool | None = None
    for line, row in rows:
        if use_domain is None:
            use_domain = domain_column is not None and domain_column in row
        wanted = (
            (text_column, label_column, domain_column)
            if use_domain
            else (text_column, label_column)
        )
        for column in wanted:
            if column not in row:
                raise DataError(
                    f"missing column {column!r}; this row has {sorted(row)}", path=path, line=line
                )
        text = row[text_column]
        if not isinstance(text, str):
            raise DataError(f"{text_column!r} is {text!r}; expected a string", path=path, line=line)
        if not text.strip():
            raise DataError(f"empty text in column {text_column!r}", path=path, line=line)
        label = row[label_column]
        if label is None or isinstance(label, (dict, list)) or not str(label).strip():
            raise DataError(
                f"{label_column!r} is {label!r}; expected a non-empty label", path=path, line=line
            )
        texts.append(text)
        labels.append(str(label).strip())
        if use_domain:
            domains.append(str(row[domain_column]))
    if not texts:
        raise DataError("the file has no examples; expected at least one labelled row", path=path)
    return LabeledTexts(
        tuple(texts), tuple(labels), tuple(domains) if use_domain else None, name=str(path)
    )


def _kind(path: Path) -> str:
    """The file type, ignoring a trailing .gz: '.jsonl', '.csv', ..."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return suffixes[-1] if suffixes else ""


def _rows(path: Path, *, expected: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs of a JSONL, CSV or TSV file."""
    kind = _kind(path)
    if kind in (".jsonl", ".json", ".ndjson"):
        return _jsonl_rows(path)
    if kind in (".csv", ".tsv"):
        return _csv_rows(path, delimiter="\t" if kind == ".tsv" else ",")
    raise DataError(f"unknown file type {kind or '(none)'!r}; expected {expected}", path=path)


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    # Decoded one line at a time so that an encoding error names its exact line.
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        number = 0
        try:
            for number, raw in enumerate(handle, start=1):
                try:
                    yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(
                        f"not valid UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1}); "
                        "save the file as UTF-8",
                        path=path,
                        line=number,
                    ) from None
        except (OSError, EOFError) as exc:  # a truncated or corrupt .gz
            raise DataError(f"cannot read the file after line {number}: {exc}", path=path) from None


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"malformed JSON ({exc.msg} at column {exc.colno})", path=path, line=number
            ) from None
        if not isinstance(row, dict):
            raise DataError(
                f'expected a JSON object like {{"text": ..., "label": ...}}, got {type(row).__name__}',
                path=path,
                line=number,
            )
        yield number, row


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with _open_text(path) as handle:
        try:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                return
            header = [h.strip() for h in header]
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise DataError(
                        f"{len(row)} fields, but the header has {len(header)} ({header})",
                        path=path,
                        line=reader.line_num,
                    )
                yield reader.line_num, dict(zip(header, row, strict=True))
        except UnicodeDecodeError as exc:
            raise DataError(
                f"not valid UTF-8 ({exc.reason}); save the file as UTF-8", path=path
            ) from None
        except csv.Error as exc:
            raise DataError(f"malformed CSV ({exc})", path=path, line=reader.line_num) from None


def read_texts(
    path: str | Path, *, text_column: str = "text"
) -> tuple[list[str], list[str] | None]:
    """Texts to predict or unlabelled texts: a ``.txt`` file (one per line), or the text column
    of a JSONL/CSV/TSV file. Returns the texts and, when every row has one, their labels."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file" if not path.exists() else "not a file", path=path)
    if _kind(path) in ("", ".txt"):
        texts = [line.rstrip("\r\n") for _, line in _lines(path)]
        texts = [t for t in texts if t.strip()]
        if not texts:
            raise DataError("the file has no texts; expected one text per line", path=path)
        return texts, None
    texts, labels = [], []
    for line, row in _rows(path, expected=".txt, .jsonl, .csv or .tsv"):
        text = row.get(text_column)
        if text_column not in row:
            raise DataError(
                f"missing column {text_column!r}; this row has {sorted(row)}", path=path, line=line
            )
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"empty or non-string text {text!r}", path=path, line=line)
        texts.append(text)
        labels.append(row.get("label"))
    if not texts:
        raise DataError("the file has no texts", path=path)
    known = None if any(label is None for label in labels) else [str(label) for label in labels]
    return texts, known
