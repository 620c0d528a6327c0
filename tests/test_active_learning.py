"""The active-learning protocol: simulated labelling rounds on banking77 (real MiniLM embeddings,
the train split as the pool), learning curves in results.json and in the HTML report, paired
comparisons of the strategies, resumed and repeated runs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_fewshot

pytestmark = pytest.mark.integration

SUITE = """
name = "al-test"
learners = ["logreg"]

[[active_learning]]
pool = "banking77:train"
test = "banking77:test"
strategies = ["hybrid", "random", "class-balanced"]
batch = 77
total = 231
seeds = 2
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("active")
    (root / "suite.toml").write_text(SUITE)
    result = run_fewshot(
        "bench", str(root / "suite.toml"), "--out", str(root / "run"), "--no-progress"
    )
    assert result.returncode == 0, result.stderr
    return root


def test_the_run_records_a_learning_curve_per_strategy(run):
    [record] = json.loads((run / "run" / "results.json").read_text())
    assert record["protocol"] == "active-learning" and record["pool"] == "banking77:train"
    assert record["episodes"] == 6 and record["strategies"] == [
        "hybrid",
        "random",
        "class-balanced",
    ]
    curves = record["curves"]
    assert set(curves) == {"hybrid", "random", "class-balanced"}
    for points in curves.values():
        assert [p["labels"] for p in points] == [77, 154, 231]
        assert all(0 < p["accuracy"] < 1 and p["ci95"] is not None for p in points)
    # one text per class to start, the same for every strategy of a seed
    assert len({points[0]["accuracy"] for points in curves.values()}) == 1
    # the labels' own balanced sampling is the reference to reach: 3 per class, about 0.74
    assert curves["class-balanced"][-1]["accuracy"] > curves["class-balanced"][0]["accuracy"] + 0.1
    assert record["accuracy"] == curves["hybrid"][-1]["accuracy"]
    versus = record["strategy_comparisons"]
    assert {"hybrid vs random", "hybrid vs class-balanced", "random vs class-balanced"} <= set(
        versus
    )
    assert versus["hybrid vs random"]["test"] == "paired-t"


def test_a_rerun_repeats_it_exactly_and_resume_does_no_work_twice(run, tmp_path):
    again = tmp_path / "again"
    result = run_fewshot("bench", str(run / "suite.toml"), "--out", str(again), "--no-progress")
    assert result.returncode == 0, result.stderr
    first = json.loads((run / "run" / "results.json").read_text())[0]["curves"]
    assert json.loads((again / "results.json").read_text())[0]["curves"] == first
    result = run_fewshot(
        "bench", str(run / "suite.toml"), "--out", str(again), "--resume", "--no-progress"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((again / "results.json").read_text())[0]["curves"] == first


@pytest.mark.report
def test_the_report_draws_the_learning_curves(run, tmp_path):
    out = tmp_path / "report.html"
    result = run_fewshot("report", str(run / "run"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert "Active learning: accuracy against labels" in page and 'id="learning-curves"' in page


def test_the_command_line_form_and_a_zero_shot_start(tmp_path):
    out = tmp_path / "run"
    result = run_fewshot(
        "bench", "--pool", "banking77:train", "--test", "banking77:test", "--learner", "logreg",
        "--strategies", "kcenter,random", "--start", "zero-shot", "--batch", "77", "--total",
        "77", "--seeds", "1", "--out", str(out), "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [record] = json.loads((out / "results.json").read_text())
    assert record["start"] == "zero-shot"
    points = record["curves"]["kcenter"]
    assert [p["labels"] for p in points] == [0, 77]
    assert points[0]["accuracy"] > 0.55  # zeroshot on the names: 0.62 on banking77 test


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--strategies", "nope"], "unknown strategy 'nope'; known: balanced, class-balanced"),
        (["--total", "50"], "total must be above the 77 texts labelled at the start"),
    ],
)
def test_bad_settings_are_refused_before_any_work(tmp_path, args, said):
    result = run_fewshot(
        "bench", "--pool", "banking77:train", "--test", "banking77:test", "--learner", "logreg",
        *args, "--out", str(tmp_path / "run"), "--no-progress",
    )  # fmt: skip
    assert result.returncode == 2 and said in result.stderr, result.stderr


def test_active_learning_flags_need_a_pool(tmp_path):
    result = run_fewshot(
        "bench", "--dataset", "banking77:test", "--learner", "logreg", "--batch", "5",
        "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "--batch belongs to active-learning runs; add --pool and --test" in result.stderr


@pytest.mark.slow
@pytest.mark.report
def test_the_shipped_banking77_suite_measures_the_strategies(tmp_path):
    from tests.conftest import ROOT

    out = tmp_path / "run"
    suite = ROOT / "episodes" / "banking77-active-learning.toml"
    result = run_fewshot("bench", str(suite), "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    [record] = json.loads((out / "results.json").read_text())
    final = {name: points[-1]["accuracy"] for name, points in record["curves"].items()}
    assert all(points[-1]["labels"] == 385 for points in record["curves"].values())
    # measured: hybrid 0.775, random 0.713, class-balanced 0.796 (five seeds)
    assert final["hybrid"] >= final["random"] + 0.03 and final["hybrid"] >= 0.75
    assert final["class-balanced"] >= 0.78
    assert record["strategy_comparisons"]["hybrid vs random"]["p_value"] < 0.05
    result = run_fewshot("report", str(out), "--out", str(tmp_path / "report.html"))
    assert result.returncode == 0, result.stderr
    assert 'id="learning-curves"' in (tmp_path / "report.html").read_text()
