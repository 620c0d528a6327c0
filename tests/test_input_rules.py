"""How fewshot reads what looks fine: line ends, labels of every JSON type, texts that are empty
in all but bytes. One rule per question, the same for every reader and for standard input; the
The "Input rules" table of docs/reference/input-rules.md lists each row of this file."""

import io
import os
import sys
import threading
import time

import pytest

from fewshot.data.files import read_labeled_file, read_texts, split_lines
from fewshot.deploy.predictions import input_rows

CR_ONLY = b"my card is lost\rwhere is my money\rcancel the transfer\r"
THREE = ["my card is lost", "where is my money", "cancel the transfer"]


def _from_stdin(monkeypatch, data: bytes, input_format: str) -> list[str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    return [
        row["text"] for _, row in input_rows("-", text_column="text", input_format=input_format)
    ]


def _from_file(tmp_path, name: str, data: bytes) -> list[str]:
    path = tmp_path / name
    path.write_bytes(data)
    return [row["text"] for _, row in input_rows(str(path), text_column="text")]


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("cr.txt", CR_ONLY, THREE),
        ("crlf.txt", CR_ONLY.replace(b"\r", b"\r\n"), THREE),
        ("lf.txt", CR_ONLY.replace(b"\r", b"\n"), THREE),
        ("mixed.txt", b"my card is lost\r\nwhere is my money\rcancel the transfer", THREE),
        ("cr.jsonl", b'{"text": "a"}\r{"text": "b"}\r', ["a", "b"]),
        ("cr.csv", b'text\ra\r"b, quoted"\r', ["a", "b, quoted"]),
    ],
)
def test_cr_only_line_ends_split_like_universal_newlines_in_files_and_on_stdin(
    tmp_path, monkeypatch, name, data, expected
):
    assert _from_file(tmp_path, name, data) == expected
    kind = name.rsplit(".", 1)[1]
    assert _from_stdin(monkeypatch, data, kind) == expected


def test_training_files_with_cr_only_line_ends(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(b"text,label\rmy card is lost,card\rwhere is my money,transfer\r")
    data = read_labeled_file(path)
    assert data.texts == ("my card is lost", "where is my money")
    assert data.labels == ("card", "transfer")
    assert read_texts(path)[0] == ["my card is lost", "where is my money"]


def test_a_crlf_split_across_two_reads_of_a_pipe_is_one_line_end():
    """A pipe delivers what was written so far: the CR of a CRLF may come in one read and its
    LF in the next, and must still end one line, not two."""
    read_end, write_end = os.pipe()

    def writer():
        with open(write_end, "wb", buffering=0) as handle:
            handle.write(b"first\r")
            time.sleep(0.3)  # the reader has taken "first\r" by now and waits for more
            handle.write(b"\nsecond\rthird")

    thread = threading.Thread(target=writer)
    thread.start()
    with open(read_end, "rb") as handle:
        got = list(split_lines(handle, "<pipe>"))
    thread.join()
    assert got == [(1, "first\r\n"), (2, "second\r"), (3, "third")]


def test_split_lines_reports_the_line_of_a_decoding_error():
    from fewshot.errors import DataError

    with pytest.raises(DataError, match=r"^<stdin>, line 3: not valid UTF-8 \(byte 0xe9"):
        list(split_lines(io.BytesIO(b"a\rb\r\xe9t\xe9\r"), "<stdin>"))


# -- labels: one class, whatever JSON type it came as ------------------------------------------

LABEL_RULES = [
    # (what the user wrote in a JSONL file, the label fewshot reads)
    ("true", "true"),
    ('"true"', "true"),
    ("false", "false"),
    ('"True"', "True"),  # a string is kept as written: labels are case-sensitive
    ("1", "1"),
    ("1.0", "1"),
    ('"1"', "1"),
    ('"1.0"', "1.0"),  # a string stays a string, as a CSV cell does
    ('"007"', "007"),
    ("0.5", "0.5"),
    ("-0.0", "0"),
    ("1e3", "1000"),
    ('"  joy "', "joy"),
    ("12345678901234567890", "12345678901234567890"),
]


@pytest.mark.parametrize(("written", "read"), LABEL_RULES)
def test_labels_of_every_json_type_follow_one_rule(tmp_path, written, read):
    path = tmp_path / "train.jsonl"
    path.write_text(f'{{"text": "hello", "label": {written}}}\n')
    assert read_labeled_file(path).labels == (read,)


def test_true_and_1_written_in_json_and_csv_name_the_same_classes(tmp_path):
    """The issue's example: true / "true" / 1.0 / "1" were four classes (True, true, 1.0, 1)."""
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text(
        '{"text": "a", "label": true}\n{"text": "b", "label": "true"}\n'
        '{"text": "c", "label": 1.0}\n{"text": "d", "label": "1"}\n'
    )
    csv_file = tmp_path / "train.csv"
    csv_file.write_text("text,label\na,true\nb,true\nc,1\nd,1\n")
    assert read_labeled_file(jsonl).classes == read_labeled_file(csv_file).classes == ("1", "true")


@pytest.mark.parametrize("value", ["null", "NaN", "Infinity", "[]", "{}", '"\\u200b"', '"  "'])
def test_values_that_name_no_class_are_refused(tmp_path, value):
    from fewshot.errors import DataError

    path = tmp_path / "train.jsonl"
    path.write_text(f'{{"text": "hello", "label": {value}}}\n')
    with pytest.raises(DataError, match=r"line 1: 'label' is .*; expected a non-empty label"):
        read_labeled_file(path)


def test_python_and_numpy_values_follow_the_json_rule():
    import numpy as np
    import pandas as pd

    from fewshot.data.texts import LabeledTexts

    data = LabeledTexts.from_lists(
        ["a", "b", "c", "d", "e"], [True, np.bool_(True), np.int64(3), 3.0, np.float32(0.5)]
    )
    assert data.labels == ("true", "true", "3", "3", "0.5")
    frame = pd.DataFrame({"text": ["a", "b"], "label": [1.0, 2.0]})  # floats, as pandas makes
    assert LabeledTexts.from_dataframe(frame).labels == ("1", "2")


# -- empty: nothing visible left -----------------------------------------------------------------

INVISIBLE = [
    "\u200b",
    "\x00",
    "\u00ad",
    "\ufeff",
    "\u200b \u200c\u200d",
    "\u2800",
    "\u3164",
    "\u0301",
]


@pytest.mark.parametrize("text", INVISIBLE, ids=[ascii(t) for t in INVISIBLE])
def test_texts_of_only_invisible_characters_are_empty_for_every_reader(tmp_path, text):
    import json

    from fewshot.data.texts import LabeledTexts, text_list
    from fewshot.deploy.predictions import text_of
    from fewshot.errors import DataError

    train = tmp_path / "train.jsonl"
    train.write_text(
        json.dumps({"text": "fine", "label": "x"})
        + "\n"
        + json.dumps({"text": text, "label": "x"})
        + "\n"
    )
    with pytest.raises(DataError, match=r"line 2: empty text in column 'text'"):
        read_labeled_file(train)
    with pytest.raises(DataError, match="empty or non-string text"):
        read_texts(train)
    with pytest.raises(DataError, match="example 1 has an empty text"):
        LabeledTexts.from_lists(["fine", text], ["x", "x"])
    with pytest.raises(DataError, match=r"X\[0\] is .*; expected a non-empty text"):
        text_list([text])
    with pytest.raises(DataError, match="empty or non-string text"):
        text_of("<stdin>, line 1", {"text": text}, "text")
    lines = tmp_path / "texts.txt"
    lines.write_text(f"fine\n{text}\n")
    assert read_texts(lines)[0] == ["fine"]  # a blank line of a .txt is skipped, as ever


@pytest.mark.parametrize(
    "text", ["a\u200b", "\u200bhello", "caf\u0065\u0301", "\u4e2d", "\U0001f600", "0", "-"]
)
def test_texts_with_something_visible_are_not_empty(text):
    from fewshot.data.blank import is_blank

    assert not is_blank(text)


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_csv_separated_by_semicolons_or_tabs_is_read_by_its_header(
    tmp_path, monkeypatch, delimiter
):
    """Spreadsheets in many locales write CSV with ';'; the header says which delimiter it is,
    in files and on standard input alike."""
    body = f'text{delimiter}label\n"my card; it is lost"{delimiter}card\nhi, you{delimiter}greet\n'
    path = tmp_path / "semicolons.csv"
    path.write_text(body)
    data = read_labeled_file(path)
    assert data.texts == ("my card; it is lost", "hi, you") and data.labels == ("card", "greet")
    assert _from_stdin(monkeypatch, body.encode(), "csv") == ["my card; it is lost", "hi, you"]


def test_a_csv_whose_header_has_commas_keeps_commas_even_with_semicolons_in_texts(tmp_path):
    path = tmp_path / "commas.csv"
    path.write_text('text,label\n"a; b",x\nc,y\n')
    assert read_labeled_file(path).texts == ("a; b", "c")


def test_the_docs_list_every_rule():
    from tests.conftest import ROOT

    page = (ROOT / "docs" / "reference" / "input-rules.md").read_text()
    rules = page[page.index("## Input rules") : page.index("## Clean exits")]
    for item in (
        "line ends",
        'a label `true` or `"true"`',
        'a label `1`, `1.0` or `"1"`',
        'a label `"1.0"`, `"007"` or `"True"`',
        "a label `0.5`",
        "a label null, NaN, Infinity, a list or object, or blank",
        "a text of only invisible characters",
        "a `.csv` separated by `;` or tabs",
    ):
        assert f"| {item} |" in rules, item
