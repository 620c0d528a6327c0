"""Experiment tracking: ``--track mlflow:DIR`` against a real local MLflow store, read back with
``mlflow.search_runs``; a tracker from a plugin found through its entry point; nothing logged
unless asked."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import run_fewshot

EPISODES = (
    "bench", "--dataset", "banking77:test", "--learner", "protonet", "--learner", "logreg",
    "--ways", "5", "--shots", "1", "--episodes", "5", "--no-progress",
)  # fmt: skip


def _runs(store):
    import mlflow

    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 reads a file store only when told
    mlflow.set_tracking_uri(store.absolute().as_uri())
    return mlflow.search_runs(experiment_names=["fewshot"])


@pytest.mark.mlflow
def test_bench_runs_are_read_back_by_mlflow_search_runs(tmp_path):
    store = tmp_path / "mlruns"
    result = run_fewshot(*EPISODES, "--out", str(tmp_path / "run"), "--track", f"mlflow:{store}")
    assert result.returncode == 0, result.stderr
    records = json.loads((tmp_path / "run" / "results.json").read_text())
    runs = _runs(store)
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(parent) == 1 and len(children) == len(records) == 2
    [parent_id] = parent["run_id"]
    assert set(children["tags.mlflow.parentRunId"]) == {parent_id}
    assert set(runs["status"]) == {"FINISHED"}
    by_learner = dict(zip(children["params.learner"], children["metrics.accuracy"], strict=True))
    assert by_learner == {r["learner"]: r["accuracy"] for r in records}
    assert set(children["params.shots"]) == {"1"} and "metrics.macro_f1" in children
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    assert parent["tags.fewshot.fingerprint"].item() == run_json["fingerprint"]
    assert parent["params.learners"].item() == "protonet, logreg"

    import mlflow

    artifacts = {a.path for a in mlflow.tracking.MlflowClient().list_artifacts(parent_id)}
    assert {"results.json", "results.csv", "comparisons.json", "run.json"} <= artifacts


@pytest.mark.mlflow
@pytest.mark.integration
def test_adapt_logs_each_training_step_s_loss_the_test_accuracy_and_the_model(tmp_path):
    store = tmp_path / "mlruns"
    result = run_fewshot(
        "adapt", "--train", "banking77:train_5", "--test", "banking77:valid",
        "--learner", "finetune:max_steps=4,batch_size=16", "--out", str(tmp_path / "model"),
        "--track", f"mlflow:{store}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [run] = _runs(store).to_dict("records")
    card = json.loads((tmp_path / "model" / "fewshot.json").read_text())
    assert run["status"] == "FINISHED" and run["params.learner"].startswith("finetune")
    assert run["metrics.accuracy"] == pytest.approx(card["training_data"]["accuracy"])

    import mlflow

    client = mlflow.tracking.MlflowClient()
    losses = client.get_metric_history(run["run_id"], "loss")
    assert [m.step for m in losses] == [1, 2, 3, 4]
    assert all(m.value > 0 for m in losses)
    [model] = client.list_artifacts(run["run_id"])
    assert model.path == "model" and model.is_dir
    inside = {a.path for a in client.list_artifacts(run["run_id"], "model")}
    assert "model/fewshot.json" in inside


def test_a_tracker_from_a_plugin_is_told_the_run_in_order(tmp_path, plugin_site):
    events = tmp_path / "events.jsonl"
    result = run_fewshot(
        *EPISODES, "--out", str(tmp_path / "run"), "--track", f"events:{events}",
        pythonpath=plugin_site,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    told = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["event"] for e in told] == ["start", "record", "record", "finish"]
    assert told[0]["kind"] == "bench" and told[0]["name"] == "command-line"
    assert [e["learner"] for e in told[1:3]] == ["protonet", "logreg"]
    assert told[-1]["status"] == "FINISHED"
    assert told[-1]["artifacts"] == ["comparisons.json", "results.csv", "results.json", "run.json"]


def test_an_unknown_tracker_is_one_line_before_any_work_and_nothing_is_logged_unasked(tmp_path):
    result = run_fewshot(*EPISODES, "--out", "run", "--track", "mlfow", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown tracker 'mlfow'; did you mean 'mlflow'?" in result.stderr
    assert not (tmp_path / "run").exists()
    result = run_fewshot(*EPISODES, "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no mlruns/ without --track
