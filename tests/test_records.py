"""The record schema (fewshot.evaluation.records): results.csv's columns come from it, and a
record that strays from it is refused when it is made."""

import html
from pathlib import Path

import pytest

from fewshot.evaluation.records import (
    CSV_FIELDS,
    FIELDS,
    PROTOCOLS,
    RECORD_FIELDS,
    RecordError,
    check_record,
)

# results.csv's columns as fewshot 0.1 wrote them: a contract (add at the end, never reorder).
CSV_COLUMNS_0_1 = [
    "learner",
    "dataset",
    "train",
    "protocol",
    "full_way",
    "domain",
    "source",
    "target",
    "ways",
    "shots",
    "queries",
    "episodes",
    "unlabeled",
    "seed",
    "accuracy",
    "ci95",
    "macro_f1",
    "ece",
    "fit_seconds",
    "predict_seconds",
    "status",
    "error",
    "oos",
    "scorer",
    "in_scope_accuracy",
    "classification_accuracy",
    "oos_recall",
    "oos_precision",
    "oos_auroc",
    "oos_fpr95",
    "threshold",
    "multi_label",
    "micro_f1",
    "samples_f1",
    "exact_match",
    "hamming_loss",
    "lrap",
    "learner_name",
    "plugin",
    "params",
    "encoder",
    "fewshot_version",
]


def episode_record(**fields):
    record = {
        "learner": "logreg",
        "dataset": "banking77:test",
        "protocol": "episodes",
        "full_way": False,
        "ways": 5,
        "shots": 1,
        "accuracy": 0.5,
        "ci95": None,
        "status": "ok",
        "params": {"C": 1.0},
    }
    return record | fields


def test_results_csv_keeps_its_columns_in_order():
    assert CSV_FIELDS[: len(CSV_COLUMNS_0_1)] == CSV_COLUMNS_0_1


def test_every_field_is_documented_once():
    names = [f.name for f in RECORD_FIELDS]
    assert len(names) == len(set(names)) == len(FIELDS)
    for field in RECORD_FIELDS:
        assert field.description.endswith("."), field.name
        assert set(field.protocols) <= set(PROTOCOLS), field.name
        assert field.type in ("str", "int", "float", "bool", "object", "list"), field.name


def test_a_record_that_follows_the_schema_passes():
    check_record(episode_record())
    check_record(episode_record(ways=5, queries=15.0, meta_step=None))  # null: any field


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"acuracy": 0.5}, "record field 'acuracy' is not in fewshot.evaluation.records"),
        ({"ways": "5"}, "record field 'ways' = '5': expected int, got str"),
        ({"ways": True}, "record field 'ways' = True: expected int, got bool"),
        ({"accuracy": "0.5"}, "record field 'accuracy' = '0.5': expected float, got str"),
        ({"oos_recall": 0.5}, "record field 'oos_recall' is not one that episodes records carry"),
        ({"protocol": "zero-shot"}, "record protocol 'zero-shot': expected one of episodes, "),
    ],
)
def test_a_record_that_strays_is_refused_with_the_field_named(fields, message):
    with pytest.raises(RecordError) as caught:
        check_record(episode_record(**fields))
    assert str(caught.value).startswith(message)


@pytest.mark.report
def test_the_reports_headings_come_from_the_schema():
    # Imported here: the report needs matplotlib, which the meta environment does not install.
    from fewshot.report.html.page import results_table
    from fewshot.report.html.runs import Run

    page = results_table([Run("run", Path("run"), {}, [episode_record()])])
    headings = [FIELDS[name].heading for name in ("accuracy", "ci95", "macro_f1", "ece")]
    assert headings == ["accuracy", "± 95% CI", "macro-F1", "ECE"]
    assert "".join(f"<th>{html.escape(h)}</th>" for h in headings) in page
