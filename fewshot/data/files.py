"""Reading labelled and unlabelled texts from JSONL, CSV and TSV files (optionally gzipped).

Every refusal is one :class:`~fewshot.errors.DataError` line naming the file, the line and what
was expected: a missing file, a directory or device, a line over :data:`MAX_LINE_BYTES`, a bad
encoding, a damaged .gz, a row without its text or label.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
import re
import stat
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from fewshot.data.blank import invisible_note, is_blank
from fewshot.data.labels import normalize_label, parse_label_set
from fewshot.data.texts import LabeledTexts, check_unicode, multi_label_texts
from fewshot.errors import DataError
from fewshot.util.files import file_kind
from fewshot.util.words import counted

#: The longest line (JSONL row, CSV line, text) a data file may have. Longer ones are refused
#: with an error rather than read into memory without end (a path to /dev/zero, a binary file).
MAX_LINE_BYTES = 1 << 20


def check_input_file(path: Path, expected: str = "a JSONL or CSV file") -> Path:
    """Refuse a missing input, a directory, a FIFO or a device: only regular files are read.
    ``expected`` names what the file should be, for the message about a directory."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError("no such file", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read it ({exc.strerror})", path=path) from None
    if stat.S_ISDIR(mode):
        raise DataError(f"is a directory; expected {expected}", path=path)
    if not stat.S_ISREG(mode):
        raise DataError(f"is {file_kind(mode)}; expected a regular file", path=path)
    return path


def read_labeled_file(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    domain_column: str | None = "domain",
    labels_column: str = "labels",
    label_separator: str = "|",
) -> LabeledTexts:
    """Read a JSONL (``.jsonl``/``.json``), CSV (``.csv``) or TSV (``.tsv``) file, optionally gzipped.

    The domain column is read when the file has it. A file whose first row has no
    ``label_column`` but a ``labels_column`` is multi-label: a JSON list of labels per row, or
    in CSV labels joined by ``label_separator`` (see :mod:`fewshot.data.labels`). Every problem is
    reported as a :class:`DataError` naming the file and the line.

    Parameters
    ----------
    path : str or Path
        The file: ``.jsonl``, ``.json``, ``.csv`` or ``.tsv``, optionally ``.gz``.
    text_column : str, default "text"
        The column of the texts.
    label_column : str, default "label"
        The column of the labels.
    domain_column : str or None, default "domain"
        The column of the domains, read where the file has it.
    labels_column : str, default "labels"
        Multi-label files: the column of label lists.
    label_separator : str, default "|"
        Multi-label CSV/TSV: what separates the labels in one cell.

    Returns
    -------
    LabeledTexts

    Raises
    ------
    DataError
        One line naming the file, line and what was expected.
    """
    path = check_input_file(Path(path))
    records = rows(path, expected=".jsonl, .csv or .tsv")

    texts: list[str] = []
    labels: list[str] = []
    label_sets: list[tuple[str, ...]] = []
    domains: list[str] = []
    use_domain: bool | None = None
    single_column = label_column
    from_csv = _kind(path) in (".csv", ".tsv")
    multi = False
    for line, row in records:
        if use_domain is None:
            use_domain = domain_column is not None and domain_column in row
            multi = single_column not in row and labels_column in row
            label_column = labels_column if multi else single_column
        elif label_column not in row and (labels_column if not multi else single_column) in row:
            kinds = (f"{labels_column!r} (a list of labels)", f"{single_column!r} (one label)")
            here, above = kinds if not multi else kinds[::-1]
            raise DataError(
                f"has {here} where the rows above have {above}; expected one kind throughout "
                "(write single labels as one-element lists in a multi-label file)",
                path=path,
                line=line,
            )
        wanted = (
            (text_column, label_column, domain_column)
            if use_domain
            else (text_column, label_column)
        )
        for column in wanted:
            if column not in row:
                raise DataError(
                    f"missing column {column!r}; this row has {sorted(row)[:10]}",
                    path=path,
                    line=line,
                )
        text = row[text_column]
        if not isinstance(text, str):
            raise DataError(
                f"{text_column!r} is {_short(text)}; expected a string", path=path, line=line
            )
        if is_blank(text):
            raise DataError(
                f"empty text in column {text_column!r}{invisible_note(text)}", path=path, line=line
            )
        where = f"{path}, line {line}"
        if multi:
            try:
                label_set = parse_label_set(
                    row[label_column], label_separator, label_column, cell=from_csv
                )
            except ValueError as exc:
                raise DataError(str(exc), path=path, line=line) from None
            label_sets.append(tuple(check_unicode(label, where) for label in label_set))
            texts.append(check_unicode(text, where))
            if use_domain:
                domains.append(check_unicode(str(row[domain_column]), where))
            continue
        label = normalize_label(row[label_column])
        if label is None:
            raise DataError(
                f"{label_column!r} is {_short(row[label_column])}; expected a non-empty label",
                path=path,
                line=line,
            )
        texts.append(check_unicode(text, where))
        labels.append(check_unicode(label, where))
        if use_domain:
            domains.append(check_unicode(str(row[domain_column]), where))
    if not texts:
        raise DataError("the file has no examples; expected at least one labelled row", path=path)
    if multi:
        return multi_label_texts(
            texts, label_sets, tuple(domains) if use_domain else None, name=str(path)
        )
    return LabeledTexts(
        tuple(texts), tuple(labels), tuple(domains) if use_domain else None, name=str(path)
    )


def _kind(path: Path) -> str:
    """The file type, ignoring a trailing .gz: '.jsonl', '.csv', ..."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return suffixes[-1] if suffixes else ""


def rows(path: Path, *, expected: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs of a JSONL, CSV or TSV file."""
    kind = _kind(path)
    if kind in (".jsonl", ".json", ".ndjson"):
        return jsonl_rows(lines(path), path)
    if kind in (".csv", ".tsv"):
        return csv_rows(lines(path), path, delimiter="\t" if kind == ".tsv" else ",")
    raise DataError(f"unknown file type {kind or '(none)'!r}; expected {expected}", path=path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


#: Where a line ends: CRLF, LF, or a CR alone (old Mac files), as Python's universal newlines
#: read them. One rule for files and standard input, so the same bytes give the same texts.
_LINE_END = re.compile(rb"\r\n|\r|\n")
_CHUNK_BYTES = 1 << 16


def split_lines(handle: BinaryIO, source: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, line) pairs of a binary stream, each line keeping its line end.

    Lines end at CRLF, LF or a lone CR. The stream is read in chunks of what is available
    (``read1``), so a pipe's lines come as they arrive. Each line is decoded on its own, so an
    encoding error names its exact line; a line over :data:`MAX_LINE_BYTES` is a DataError.
    """
    read = getattr(handle, "read1", handle.read)
    pending = b""
    number = 0
    while True:
        chunk = read(_CHUNK_BYTES)
        pending += chunk
        start = 0
        for end in _LINE_END.finditer(pending):
            if chunk and end.end() == len(pending) and end.group() == b"\r":
                break  # the CR may be the first half of a CRLF in the next chunk
            number += 1
            yield number, _decoded(pending[start : end.end()], source, number)
            start = end.end()
        pending = pending[start:]
        if len(pending) > MAX_LINE_BYTES:
            _too_long(source, number + 1)
        if not chunk:
            if pending:
                yield number + 1, _decoded(pending, source, number + 1)
            return


def _decoded(raw: bytes, source: str | Path, number: int) -> str:
    if len(raw) > MAX_LINE_BYTES:
        _too_long(source, number)
    try:
        return raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not valid UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1}); "
            "save the file as UTF-8",
            path=source,
            line=number,
        ) from None


def _too_long(source: str | Path, number: int) -> None:
    raise DataError(
        f"longer than {MAX_LINE_BYTES >> 20} MiB; is this a text data file?",
        path=source,
        line=number,
    )


def lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) pairs of a file, by :func:`split_lines`; a damaged .gz or a file
    that is not gzip at all is a DataError."""
    gzipped = path.suffix.lower() == ".gz"
    opener = gzip.open if gzipped else open
    number = 0
    try:
        with opener(path, "rb") as handle:
            for number, line in split_lines(handle, path):
                yield number, line
    except (OSError, EOFError, zlib.error) as exc:  # a truncated, corrupt or fake .gz
        what = "not a valid gzip file" if gzipped and number == 0 else "cannot read the file"
        raise DataError(f"{what} after line {number} ({exc})", path=path) from None


def jsonl_rows(
    numbered: Iterable[tuple[int, str]], source: str | Path
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs of JSON lines; blank lines are skipped."""
    for number, line in numbered:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"malformed JSON ({exc.msg} at column {exc.colno})", path=source, line=number
            ) from None
        except RecursionError:
            raise DataError("JSON nested too deeply", path=source, line=number) from None
        except ValueError as exc:  # e.g. an integer with more digits than Python converts
            raise DataError(f"unreadable JSON ({exc})", path=source, line=number) from None
        if not isinstance(row, dict):
            raise DataError(
                f'expected a JSON object like {{"text": ..., "label": ...}}, got {type(row).__name__}',
                path=source,
                line=number,
            )
        yield number, row


def sniffed_delimiter(header: str, expected: str) -> str:
    """``expected`` where the header line has it; else the one other common delimiter it has."""
    if expected in header:
        return expected
    found = [d for d in (",", ";", "\t") if d != expected and d in header]
    return found[0] if len(found) == 1 else expected


def csv_rows(
    numbered: Iterable[tuple[int, str]], source: str | Path, delimiter: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs of CSV or TSV lines under a header; blank rows are skipped and
    a row with more or fewer fields than the header is a DataError. A header without the
    expected delimiter but with exactly one other (``;``, as spreadsheets write CSV in many
    locales, or a tab) sets the delimiter of the file."""
    numbered = iter(numbered)
    first = next(numbered, None)
    if first is None:
        return
    delimiter = sniffed_delimiter(first[1], delimiter)
    reader = csv.reader(
        itertools.chain([first[1]], (line for _, line in numbered)), delimiter=delimiter
    )
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        end = reader.line_num  # the line the previous row ended on
        for row in reader:
            start, end = end + 1, reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                if any("\n" in cell for cell in row):
                    # A quote never closed swallows the lines after it into one field.
                    until = f"line {end}" if end > start else "the end of the file"
                    raise DataError(
                        f"a quoted field opened on this line runs to {until} without its "
                        'closing quote; close it, or write a quote inside a quoted field as ""',
                        path=source,
                        line=start,
                    )
                raise DataError(
                    f"{counted(len(row), 'field')}, but the header has {len(header)} ({header[:10]})",
                    path=source,
                    line=end,
                )
            yield end, dict(zip(header, row, strict=True))
    except csv.Error as exc:
        raise DataError(f"malformed CSV ({exc})", path=source, line=reader.line_num) from None


def read_texts(
    path: str | Path, *, text_column: str = "text", label_column: str = "label"
) -> tuple[list[str], list[str] | None]:
    """Texts to predict or unlabelled texts: a ``.txt`` file (one per line), or the text column
    of a JSONL/CSV/TSV file. Returns the texts and, when every row has one, their labels
    (normalised as training normalises them: see :func:`normalize_label`)."""
    path = check_input_file(Path(path))
    if _kind(path) in ("", ".txt"):
        texts = [line.rstrip("\r\n") for _, line in lines(path)]
        texts = [t for t in texts if not is_blank(t)]
        if not texts:
            raise DataError("the file has no texts; expected one text per line", path=path)
        return texts, None
    texts, labels = [], []
    for line, row in rows(path, expected=".txt, .jsonl, .csv or .tsv"):
        text = row.get(text_column)
        if text_column not in row:
            raise DataError(
                f"missing column {text_column!r}; this row has {sorted(row)[:10]}",
                path=path,
                line=line,
            )
        if not isinstance(text, str) or is_blank(text):
            raise DataError(f"empty or non-string text {_short(text)}", path=path, line=line)
        texts.append(check_unicode(text, f"{path}, line {line}"))
        labels.append(normalize_label(row.get(label_column)))
    if not texts:
        raise DataError("the file has no texts", path=path)
    known = None if any(label is None for label in labels) else labels
    return texts, known
