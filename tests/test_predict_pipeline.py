"""`fewshot predict` in a pipeline: standard input and output, columns that pass through, gold
labels that never collide with predictions, formats by suffix, batches."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import run_fewshot

# Real files streamed through `fewshot predict` of a real model: integration tests.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline") / "model"
    result = run_fewshot(
        "adapt", "--train", "banking77:train_5", "--learner", "logreg", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    return out


def predict(*args, stdin: str | None = None):
    """`fewshot predict`: in this process, or in a fresh one where a real standard input is
    piped in (what is tested there is the pipe)."""
    if stdin is None:
        return run_fewshot("predict", *args)
    return subprocess.run(
        [sys.executable, "-m", "fewshot", "predict", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(os.environ, COLUMNS="200"),
        timeout=600,
    )


def test_stdin_to_stdout_prints_one_json_line_per_text(model):
    """The issue's example: printf 'I lost my card\\nwhere is my money\\n' | fewshot predict
    MODEL - --out -"""
    result = predict(str(model), "-", "--out", "-", stdin="I lost my card\nwhere is my money\n")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["I lost my card", "where is my money"]
    assert rows[0]["label"] == "lost_or_stolen_card" and 0 < rows[0]["probability"] <= 1
    assert "2 predictions written to standard output" in result.stderr
    one = predict(str(model), "-", "--out", "-", stdin="I lost my card\n")
    assert "1 prediction written to standard output" in one.stderr


def test_ids_pass_through_and_the_gold_column_is_compared_not_overwritten(model, tmp_path):
    source = tmp_path / "tickets.csv"
    with open(source, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "body", "label", "probability"])
        writer.writerow(["t-1", "I lost my card", " lost_or_stolen_card ", "x"])
        writer.writerow(["t-2", "my card payment was declined", "declined_card_payment", "y"])
    out = tmp_path / "labelled.jsonl"
    result = predict(str(model), str(source), "--text-column", "body", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["t-1", "t-2"]
    assert rows[0]["gold_label"] == " lost_or_stolen_card " and rows[0]["input_probability"] == "x"
    assert rows[0]["text"] == rows[0]["body"] == "I lost my card"
    assert set(rows[0]) == {
        "id",
        "body",
        "gold_label",
        "input_probability",
        "text",
        "label",
        "probability",
    }
    assert (
        "accuracy on the labelled inputs: 1.0000" in result.stderr
    )  # spaces stripped, as in training
    # A gold column under another name, and CSV out.
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(source.read_text().replace("label,probability", "intent,probability"))
    result = predict(
        str(model), str(renamed), "--text-column", "body", "--label-column", "intent",
        "--out", str(tmp_path / "out.csv"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = list(csv.DictReader(open(tmp_path / "out.csv")))
    assert table[1]["intent"] == "declined_card_payment" and table[1]["id"] == "t-2"
    assert "accuracy on the labelled inputs" in result.stderr


def test_batches_do_not_change_the_predictions(model, tmp_path):
    outputs = []
    for size in ("1", "7", "256"):
        out = tmp_path / f"b{size}.jsonl"
        # 385 texts: batch size 1 encodes them one at a time, which is slow on purpose
        result = predict(str(model), "banking77:train_5", "--batch-size", size, "--out", str(out))
        assert result.returncode == 0, result.stderr
        outputs.append([json.loads(line) for line in out.read_text().splitlines()])
    assert len(outputs[0]) == 385
    for other in outputs[1:]:  # the same labels; probabilities to the last bits of a matrix product
        assert [r["label"] for r in other] == [r["label"] for r in outputs[0]]
        assert (
            max(
                abs(a["probability"] - b["probability"])
                for a, b in zip(other, outputs[0], strict=True)
            )
            < 1e-5
        )


def test_jsonl_on_stdin_and_csv_on_stdout(model):
    lines = '{"id": 7, "text": "I lost my card"}\n{"id": 8, "text": "top up failed"}\n'
    result = predict(
        str(model), "-", "--input-format", "jsonl", "--out", "-", "--format", "csv",
        "--top-k", "2", stdin=lines,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["id"] for r in rows] == ["7", "8"] and len(json.loads(rows[0]["top_k"])) == 2


def test_cr_only_line_ends_give_the_same_texts_in_a_file_and_on_stdin(model, tmp_path):
    """Old Mac line ends (a CR alone): three texts whether the bytes come as a .txt or piped."""
    data = "I lost my card\rtop up failed\rwhere is my money\r"
    source = tmp_path / "cr.txt"
    source.write_bytes(data.encode())
    piped = predict(str(model), "-", "--out", "-", stdin=data)
    from_file = predict(str(model), str(source), "--out", "-")
    assert piped.returncode == from_file.returncode == 0, piped.stderr + from_file.stderr
    texts = [json.loads(line)["text"] for line in piped.stdout.splitlines()]
    assert texts == ["I lost my card", "top up failed", "where is my money"]
    assert piped.stdout == from_file.stdout


@pytest.mark.parquet
def test_parquet_out_by_its_suffix(model, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "p.parquet"
    result = predict(str(model), "banking77:valid", "--out", str(out), "--top-k", "3")
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out)
    assert table.num_rows == 1540
    assert {"text", "label", "probability", "top_k", "gold_label"} <= set(table.column_names)
    again = predict(str(model), str(out), "--out", str(tmp_path / "again.jsonl"))
    assert again.returncode == 0, again.stderr  # and Parquet in


@pytest.mark.parquet
def test_parquet_whose_first_rows_were_rejected_takes_later_probabilities(tmp_path):
    """A rejected row has no probability: a first batch of them still types the column as
    a number, so later batches fit."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fewshot.deploy.predictions import PredictionWriter

    out = tmp_path / "p.parquet"
    writer = PredictionWriter(str(out), "parquet")
    writer.write([{"text": "a", "label": "oos", "probability": None, "closest_label": "x"}])
    writer.write([{"text": "b", "label": "x", "probability": 0.75, "closest_label": "x"}])
    writer.close()
    table = pq.read_table(out)
    assert table.schema.field("probability").type == pa.float64()
    assert table.column("probability").to_pylist() == [None, 0.75]


def test_an_unknown_output_suffix_is_refused(model, tmp_path):
    result = predict(str(model), "banking77:valid", "--out", str(tmp_path / "p.xlsx"))
    assert result.returncode == 2 and "unknown output format '.xlsx'" in result.stderr
    assert not list(tmp_path.iterdir())


def test_csv_cells_that_would_run_as_formulas_open_as_text(model, tmp_path):
    # OWASP's CSV injection: a text or id beginning with = + - @ is a formula to a spreadsheet.
    source = tmp_path / "hostile.jsonl"
    rows = [
        {"id": "=1+1", "text": '=HYPERLINK("http://example.invalid","x")'},
        {"id": "-5", "text": "@SUM(A1:A2) my card was declined"},
        {"id": "+x", "text": "my card was declined"},
    ]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = predict(str(model), str(source), "--out", str(tmp_path / "out.csv"))
    assert result.returncode == 0, result.stderr
    table = list(csv.DictReader(open(tmp_path / "out.csv", newline="")))
    assert [row["id"] for row in table] == ["'=1+1", "-5", "'+x"]  # -5 is a number
    assert table[0]["text"] == '\'=HYPERLINK("http://example.invalid","x")'
    assert table[1]["text"] == "'@SUM(A1:A2) my card was declined"
    assert table[2]["text"] == "my card was declined"
    # JSONL is not a spreadsheet format: every value as it was.
    result = predict(str(model), str(source), "--out", str(tmp_path / "out.jsonl"))
    assert result.returncode == 0, result.stderr
    written = [json.loads(line) for line in open(tmp_path / "out.jsonl")]
    assert [(row["id"], row["text"]) for row in written] == [
        (row["id"], row["text"]) for row in rows
    ]


def test_a_run_that_loaded_torch_says_the_onnx_bundle_would_spare_it(model, tmp_path):
    import uuid

    texts = tmp_path / "new.txt"
    texts.write_text(f"a text no cache has seen {uuid.uuid4().hex}\n")
    first = predict(str(model), str(texts), "--out", str(tmp_path / "a.jsonl"))
    assert first.returncode == 0, first.stderr
    note = first.stderr.splitlines()[-1]
    assert note.startswith("note: loading torch and the encoder took ")
    assert f"`fewshot export {model}` adds an ONNX bundle, which predicts without torch" in note
    # The same text again comes from the embedding cache: nothing was loaded, nothing to say.
    again = predict(str(model), str(texts), "--out", str(tmp_path / "b.jsonl"))
    assert again.returncode == 0 and "note:" not in again.stderr
    texts.write_text(f"another new text {uuid.uuid4().hex}\n")
    chosen = predict(
        str(model), str(texts), "--backend", "torch", "--out", str(tmp_path / "c.jsonl")
    )
    assert chosen.returncode == 0 and "note:" not in chosen.stderr
