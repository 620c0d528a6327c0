"""Accuracy floors on the real bundled data with the real model, through the shipped suites."""

import json

import pytest

from tests.conftest import ROOT, run_fewshot

pytestmark = pytest.mark.slow


def full_way(records, learner, shots):
    return next(
        r for r in records if r["full_way"] and r["learner"] == learner and r["shots"] == shots
    )


@pytest.fixture(scope="module")
def banking77(tmp_path_factory):
    out = tmp_path_factory.mktemp("banking77")
    result = run_fewshot("bench", str(ROOT / "episodes" / "banking77.toml"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_banking77_full_way_floors(banking77):
    records = json.loads((banking77 / "results.json").read_text())
    assert full_way(records, "logreg", 5)["accuracy"] >= 0.79
    assert full_way(records, "protonet", 5)["accuracy"] >= 0.67
    assert full_way(records, "logreg", 10)["accuracy"] > full_way(records, "logreg", 5)["accuracy"]
    episodic = [r for r in records if not r["full_way"]]
    assert {(r["shots"], r["episodes"]) for r in episodic} == {(1, 600), (5, 600)}
    for record in episodic:
        assert record["accuracy"] >= 0.7 and record["ci95"] < 0.02


def test_clinc150_full_way_floor(tmp_path):
    result = run_fewshot(
        "bench",
        "--train",
        "clinc150:train_5",
        "--test",
        "clinc150:test",
        "--learner",
        "logreg",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    [record] = json.loads((tmp_path / "results.json").read_text())
    assert record["accuracy"] >= 0.86


def test_same_suite_and_seed_give_the_same_numbers_in_a_new_process(banking77, tmp_path):
    result = run_fewshot("bench", str(ROOT / "episodes" / "banking77.toml"), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    timing = {"fit_seconds", "predict_seconds"}
    first = [
        {k: v for k, v in r.items() if k not in timing}
        for r in json.loads((banking77 / "results.json").read_text())
    ]
    second = [
        {k: v for k, v in r.items() if k not in timing}
        for r in json.loads((tmp_path / "results.json").read_text())
    ]
    assert first == second
    comparisons = json.loads((tmp_path / "comparisons.json").read_text())
    assert comparisons == json.loads((banking77 / "comparisons.json").read_text())
