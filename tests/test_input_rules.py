"""How fewshot reads what looks fine: line ends, labels of every JSON type, texts that are empty
in all but bytes. One rule per question, the same for every reader and for standard input; the
README's "Input rules" table lists each row of this file."""

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
