"""The command line as users type it, in fresh processes."""

import csv
import json
from pathlib import Path

import pytest

from fewshot.errors import ConfigError
from fewshot.evaluation.suite import load_suite
from tests.conftest import ROOT, run_fewshot

CONTRACT = {
    "learner",
    "dataset",
    "ways",
    "shots",
    "queries",
    "episodes",
    "accuracy",
    "ci95",
    "macro_f1",
    "fit_seconds",
    "predict_seconds",
}


def test_bench_with_flags_writes_results(tmp_path):
    result = run_fewshot(
        "bench",
        "--dataset",
        "clinc150:test",
        "--learner",
        "protonet",
        "--learner",
        "logreg",
        "--ways",
        "5",
        "--shots",
        "1,5",
        "--queries",
        "15",
        "--episodes",
        "40",
        "--seed",
        "0",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    records = json.loads((tmp_path / "results.json").read_text())
    assert [(r["learner"], r["shots"]) for r in records] == [
        ("protonet", 1),
        ("logreg", 1),
        ("protonet", 5),
        ("logreg", 5),
    ]
    for record in records:
        assert CONTRACT <= set(record)
        assert record["full_way"] is False and record["episodes"] == 40 and record["queries"] == 15
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(rows) == 4 and CONTRACT <= set(rows[0])
    comparisons = json.loads((tmp_path / "comparisons.json").read_text())
    assert len(comparisons) == 2 and {c["test"] for c in comparisons} == {"paired-t"}
    assert "fewshot results" in result.stdout and "accuracy ± 95% CI" in result.stdout
    assert json.loads((tmp_path / "run.json").read_text())["encoder"].startswith(
        "st:all-MiniLM-L6-v2:"
    )


def test_bench_full_way_from_flags(tmp_path):
    result = run_fewshot(
        "bench",
        "--train",
        "banking77:train_5",
        "--test",
        "banking77:test",
        "--learner",
        "logreg",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    [record] = json.loads((tmp_path / "results.json").read_text())
    assert record["full_way"] is True and record["train"] == "banking77:train_5"
    assert record["accuracy"] >= 0.79


def test_learner_parameters_on_the_command_line(tmp_path):
    result = run_fewshot(
        "bench",
        "--dataset",
        "banking77:test",
        "--learner",
        "knn:n_neighbors=1,metric=euclidean",
        "--shots",
        "1",
        "--episodes",
        "5",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    [record] = json.loads((tmp_path / "results.json").read_text())
    assert record["learner"] == "knn(metric=euclidean,n_neighbors=1)"
    assert record["params"] == {"n_neighbors": 1, "metric": "euclidean", "weights": "distance"}


def test_bench_on_a_user_csv_file(tmp_path, registry):
    data = registry.datasets.load("banking77:train_10")
    path = tmp_path / "mine.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["utterance", "intent"])
        writer.writerows(zip(data.texts, data.labels, strict=True))
    result = run_fewshot(
        "bench",
        "--dataset",
        str(path),
        "--text-column",
        "utterance",
        "--label-column",
        "intent",
        "--learner",
        "protonet",
        "--shots",
        "2",
        "--queries",
        "3",
        "--episodes",
        "10",
        "--out",
        str(tmp_path / "o"),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "o" / "results.json").read_text())[0]["dataset"] == str(path)


@pytest.mark.parametrize("suite", sorted((ROOT / "episodes").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_suites_parse(suite):
    parsed = load_suite(suite)
    assert parsed.learners and parsed.settings


def test_suite_file_runs(tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text(
        'name = "tiny"\nseed = 3\nlearners = ["protonet", {name = "knn", label = "1-nn", n_neighbors = 1}]\n'
        '[[episodes]]\ndataset = "clinc150:test"\ndomain = "travel"\nways = 3\nshots = 2\nqueries = 4\nepisodes = 12\n'
        '[[episodes]]\ndataset = "clinc150:test"\nways = 5\nshots = 1\nqueries = 2\nepisodes = 8\n'
        'split = { base = 0.5, validation = 0.25, seed = 1, use = "novel" }\n'
    )
    result = run_fewshot("bench", str(suite), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    records = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["learner"] for r in records] == ["protonet", "1-nn", "protonet", "1-nn"]
    assert records[0]["domain"] == "travel" and records[0]["seed"] == 3


def test_skip_small_classes_applies_to_a_suite_file(tmp_path, registry):
    data = registry.datasets.load("clinc150:test")
    pairs = list(zip(data.texts, data.labels, strict=True))
    rows = [(text, label) for text, label in pairs if label in {"alarm", "bill_due", "book_hotel"}]
    rows += [(text, "tiny") for text, label in pairs if label == "calories"][:3]
    lines = "".join(f'"{text}",{label}\n' for text, label in rows)
    (tmp_path / "data.csv").write_text("text,label\n" + lines)
    suite = tmp_path / "suite.toml"
    suite.write_text(
        f'name = "s"\nlearners = ["protonet"]\n[[episodes]]\ndataset = "{tmp_path / "data.csv"}"\n'
        "ways = 3\nshots = 2\nqueries = 3\nepisodes = 4\n"
    )
    refused = run_fewshot("bench", str(suite), "--out", str(tmp_path / "a"))
    assert refused.returncode == 2 and "class 'tiny' has 3 distinct examples" in refused.stderr
    result = run_fewshot("bench", str(suite), "--skip-small-classes", "--out", str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    assert len(json.loads((tmp_path / "b" / "results.json").read_text())) == 1


def test_bad_numbers_are_refused_by_the_parser(tmp_path):
    result = run_fewshot(
        "bench",
        "--dataset",
        "clinc150:test",
        "--learner",
        "protonet",
        "--shots",
        "one",
        "--out",
        str(tmp_path),
    )
    assert (
        result.returncode == 2
        and "expected integers separated by commas, got 'one'" in result.stderr
    )


def test_debug_shows_the_traceback(tmp_path):
    result = run_fewshot(
        "--debug",
        "bench",
        "--dataset",
        "nope:test",
        "--learner",
        "protonet",
        "--out",
        str(tmp_path),
    )
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'learners = ["protonet"]\n[[episodes]]\ndataset = "x:y"\nways = 5\nshot = 1\n',
            "unknown key 'shot'; did you mean 'shots'? (expected one of",
        ),
        (
            'learners = ["protonet"]\n[[episodes]]\ndataset = "x:y"\nway = 5\nshots = 1\n',
            "unknown key 'way'; did you mean 'ways'?",
        ),
        ('learners = ["protonet"]\nlearner = 1\n', "unknown key 'learner'"),
        (
            'learners = ["protonet"]\n[[episodes]]\ndataset = "x:y"\nways = 5\nshots = -1\n',
            "shots must be an integer from 0",
        ),
        ("learners = []\n", "'learners' must be a non-empty list"),
        ('learners = ["protonet"]\n', "nothing to run"),
        ('learners = ["protonet"\n', "invalid TOML"),
        ('learners = ["protonet"]\n[[full_way]]\ntrain = "a:b"\n', "missing key 'test'"),
    ],
)
def test_bad_suite_files(tmp_path, body, message):
    suite = tmp_path / "bad.toml"
    suite.write_text(body)
    with pytest.raises(
        ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace("?", r"\?")
    ):
        load_suite(suite)
    result = run_fewshot("bench", str(suite), "--out", str(tmp_path / "o"))
    assert (
        result.returncode == 2 and str(suite) in result.stderr and "Traceback" not in result.stderr
    )


def test_suite_and_setting_flags_do_not_mix(tmp_path):
    result = run_fewshot(
        "bench",
        str(ROOT / "episodes" / "banking77.toml"),
        "--dataset",
        "x:y",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 2 and "give a suite file or --dataset, not both" in result.stderr


def test_a_failed_run_keeps_results_already_written(tmp_path):
    out = tmp_path / "out"
    ok = run_fewshot(
        "bench",
        "--dataset",
        "banking77:test",
        "--learner",
        "protonet",
        "--shots",
        "1",
        "--episodes",
        "5",
        "--out",
        str(out),
    )
    assert ok.returncode == 0
    before = (out / "results.json").read_text()
    bad = run_fewshot("bench", "--dataset", "nope:test", "--learner", "protonet", "--out", str(out))
    assert bad.returncode == 2
    assert (out / "results.json").read_text() == before
    assert not [p for p in Path(out).iterdir() if p.name.endswith(".tmp")]


def test_datasets_and_learners_commands():
    datasets = run_fewshot("datasets")
    assert datasets.returncode == 0
    for name in ("banking77", "clinc150", "amazon_reviews", "train_5", "kitchen", "CC BY 4.0"):
        assert name in datasets.stdout
    learners = run_fewshot("learners")
    assert learners.returncode == 0
    for name in ("protonet", "logreg", "knn", "embeddings", "metric='cosine'"):
        assert name in learners.stdout
