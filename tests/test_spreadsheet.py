"""CSV cells that open as text (fewshot.util.spreadsheet), and results.csv written with them."""

import csv
import json

import pytest

from fewshot.report.tables import write_results
from fewshot.util.spreadsheet import spreadsheet_cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-1", "-1"),  # numbers are numbers to a spreadsheet: harmless, kept
        ("-0.25", "-0.25"),
        ("+3e2", "+3e2"),
        ("a=b", "a=b"),  # only the first character makes a formula
        ("", ""),
        (-1.5, -1.5),
        (None, None),
    ],
)
def test_a_cell_that_could_run_opens_as_text(value, cell):
    assert spreadsheet_cell(value) == cell


def test_results_csv_neutralises_formulas_and_results_json_keeps_them(tmp_path):
    record = {"learner": "=evil()", "dataset": "@data", "ways": 5, "accuracy": -0.5,
              "params": {"note": "=x"}}  # fmt: skip
    write_results(tmp_path, [record], [])
    row = next(csv.DictReader(open(tmp_path / "results.csv", newline="")))
    assert row["learner"] == "'=evil()" and row["dataset"] == "'@data"
    assert row["ways"] == "5"
    assert row["params"] == '{"note": "=x"}' and row["accuracy"] == "-0.5"
    assert json.load(open(tmp_path / "results.json"))[0]["learner"] == "=evil()"  # JSON as it was
