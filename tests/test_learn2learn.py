"""The learn2learn side: maml and metasgd, and TaskDataset interop both ways.

Marked ``meta``: they need learn2learn (``pip install '.[meta]' && fewshot install-meta``). CI runs
them in its meta environment with FEWSHOT_REQUIRE_EXTRAS=1, where they cannot be skipped."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fewshot.evaluation.evaluator import Evaluator, LearnerSpec, TaskDatasetSetting
from fewshot.learners.conformance import check_learner
from fewshot.models.classifier import load
from fewshot.models.saving import save_model
from tests.conftest import run_fewshot
from tests.test_meta import clinc_setting, support_and_queries

pytestmark = pytest.mark.meta

FAST = {"meta_steps": 60, "validate_every": 20}


@pytest.fixture(scope="module")
def l2l():
    from fewshot.integrations.learn2learn.install import import_learn2learn

    return import_learn2learn()


@pytest.mark.parametrize("name", ["maml", "metasgd"])
def test_meta_learners_pass_the_conformance_checks(registry, name):
    check_learner(registry.make_learner(name, {"meta_steps": 30, "validate_every": 10}))


@pytest.mark.parametrize("name", ["maml", "metasgd"])
def test_meta_learners_learn_novel_clinc150_intents_reproducibly(registry, encoder, name):
    evaluator = Evaluator(registry, encoder, progress=False)
    spec = LearnerSpec(name, FAST)
    first = next(evaluator.run([clinc_setting(episodes=40)], [spec])).outcomes[0]
    second = next(evaluator.run([clinc_setting(episodes=40)], [spec])).outcomes[0]
    assert first.record["status"] == "ok", first.record["error"]
    assert np.array_equal(first.episode_accuracy, second.episode_accuracy)
    # Measured 0.93-0.95 (5-way 1-shot); chance is 0.2.
    assert first.record["accuracy"] > 0.85
    assert first.record["meta_step"] in (0, 20, 40, 60)
    assert 0.85 < first.record["meta_validation_accuracy"] <= 1


def test_first_order_maml_differs_from_second_order(registry, encoder):
    evaluator = Evaluator(registry, encoder, progress=False)
    setting = clinc_setting(episodes=5)
    learners = []
    for first_order in (False, True):
        learner, _ = evaluator.meta_train(
            setting,
            LearnerSpec(
                "maml", {"meta_steps": 20, "validate_every": 100, "first_order": first_order}
            ),
        )
        learners.append(learner)
    a, b = (learner.meta_state_["module.0.weight"] for learner in learners)
    assert not np.allclose(a, b)


def test_metasgd_learns_its_learning_rates(registry, encoder):
    evaluator = Evaluator(registry, encoder, progress=False)
    learner, _ = evaluator.meta_train(
        clinc_setting(episodes=5), LearnerSpec("metasgd", {"meta_steps": 20, "validate_every": 100})
    )
    rates = learner.meta_state_["lrs.0"]
    assert rates.shape == learner.meta_state_["module.0.weight"].shape
    assert not np.allclose(rates, 0.5)  # they start at inner_learning_rate


@pytest.mark.parametrize("name", ["maml", "metasgd"])
def test_a_meta_trained_model_saves_and_loads(registry, encoder, name, tmp_path):
    evaluator = Evaluator(registry, encoder, progress=False)
    setting = clinc_setting(episodes=5)
    learner, _ = evaluator.meta_train(setting, LearnerSpec(name, FAST))
    episode = evaluator.task(setting).episode(0)
    X = evaluator.inputs("clinc150:test", "embeddings")
    learner.fit(X[episode.support], episode.support_labels)
    save_model(learner, tmp_path / "m", encoder={"name": "all-MiniLM-L6-v2"}, training={})
    model = load(tmp_path / "m")
    texts = [evaluator.data("clinc150:test").texts[i] for i in episode.query]
    assert np.allclose(
        model.predict_proba(texts), learner.predict_proba(X[episode.query]), atol=1e-6
    )
    # The loaded model adapts to a new task from the meta-learned start, like the original.
    other = evaluator.task(setting).episode(1)
    model.learner_.fit(X[other.support], other.support_labels)
    learner.fit(X[other.support], other.support_labels)
    assert np.allclose(
        model.learner_.predict_proba(X[other.query]),
        learner.predict_proba(X[other.query]),
        atol=1e-6,
    )


def test_a_meta_learner_refuses_a_task_of_other_ways(registry, encoder):
    evaluator = Evaluator(registry, encoder, progress=False)
    learner, _ = evaluator.meta_train(clinc_setting(episodes=5), LearnerSpec("maml", FAST))
    X = np.random.default_rng(0).normal(size=(6, 384)).astype(np.float32)
    with pytest.raises(ValueError, match="meta-trained on 5-way tasks; this support set has 3"):
        learner.fit(X, ["a", "a", "b", "b", "c", "c"])


@pytest.mark.filterwarnings("ignore:TaskDataset is deprecated:DeprecationWarning")
def test_a_learn2learn_taskdataset_is_the_episode_source_of_a_benchmark(registry, encoder, l2l):
    from fewshot.integrations.learn2learn.tasks import as_meta_dataset

    evaluator = Evaluator(registry, encoder, progress=False)
    data = evaluator.data("clinc150:test")
    dataset = as_meta_dataset(data, evaluator.inputs("clinc150:test", "embeddings"))

    def taskset():
        transforms = [
            l2l.data.transforms.NWays(dataset, n=5),
            l2l.data.transforms.KShots(dataset, k=1 + 5),
            l2l.data.transforms.LoadData(dataset),
        ]
        return l2l.data.TaskDataset(dataset, task_transforms=transforms, num_tasks=30)

    learners = [LearnerSpec("protonet"), LearnerSpec("logreg")]
    setting = TaskDatasetSetting("clinc150:test", taskset(), shots=1, episodes=30)
    (result,) = evaluator.run([setting], learners)
    records = [o.record for o in result.outcomes]
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert [r["protocol"] for r in records] == ["learn2learn"] * 2
    assert records[0]["ways"] == 5 and records[0]["queries"] == 5
    assert records[0]["accuracy"] > 0.85
    # the same seed on a new taskset draws the same tasks
    again = next(
        evaluator.run(
            [TaskDatasetSetting("clinc150:test", taskset(), shots=1, episodes=30)], learners
        )
    )
    assert np.array_equal(result.outcomes[0].episode_accuracy, again.outcomes[0].episode_accuracy)
    # and those tasks are learn2learn's own: task i's rows are its description's indices
    source = evaluator.task(setting)
    rows = sorted(d.index for d in setting.taskset.sampled_descriptions[3])
    episode = source.episode(3)
    assert sorted([*episode.support, *episode.query]) == rows


def test_our_episodes_feed_a_learn2learn_maml_loop(registry, encoder, l2l):
    evaluator = Evaluator(registry, encoder, progress=False)
    setting = clinc_setting(episodes=5)
    sampler = evaluator.task(setting)
    from fewshot.tasks.meta_training import EpisodeTasks

    tasks = EpisodeTasks(sampler, evaluator.inputs("clinc150:test", "embeddings"), num_tasks=20)
    torch.manual_seed(0)
    maml = l2l.algorithms.MAML(torch.nn.Linear(384, 5), lr=0.5)
    optimizer = torch.optim.Adam(maml.parameters(), lr=1e-2)
    for i in range(len(tasks)):
        data, labels = tasks[i]
        (X_s, y_s), (X_q, y_q) = l2l.data.partition_task(data * 20, labels, shots=tasks.shots)
        assert len(y_s) == 5 and sorted(y_s.tolist()) == [0, 1, 2, 3, 4]
        learner = maml.clone()
        learner.adapt(torch.nn.functional.cross_entropy(learner(X_s), y_s))
        loss = torch.nn.functional.cross_entropy(learner(X_q), y_q)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    accuracy = (learner(X_q).argmax(1) == y_q).float().mean().item()
    assert accuracy > 0.6


def test_learners_lists_maml_and_metasgd_where_learn2learn_is_installed():
    result = run_fewshot("learners")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    for name in ("maml", "metasgd"):
        assert any(line.split("│")[1].strip() == name for line in rows), result.stdout
    assert "unavailable" not in result.stdout


def test_install_meta_is_idempotent():
    result = run_fewshot("install-meta")
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout


def test_bench_runs_maml_from_the_command_line(tmp_path):
    result = run_fewshot(
        "bench", "--dataset", "clinc150:test", "--split", "0.3334,0.3333",
        "--meta-train", "clinc150:test", "--meta-validation", "clinc150:test",
        "--shots", "1", "--episodes", "20", "--learner", "maml:meta_steps=20,validate_every=10",
        "--learner", "metasgd:meta_steps=20,validate_every=10,first_order=true",
        "--out", str(tmp_path / "run"), "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert all(r["meta_train_seconds"] > 0 for r in records)


def test_adapt_meta_trains_maml_and_predict_uses_it(registry, tmp_path):
    data, train, queries = support_and_queries(registry, tmp_path, shots=2)
    out = tmp_path / "model"
    result = run_fewshot(
        "adapt", "--train", str(train), "--meta-train", "clinc150:test",
        "--learner", "maml:meta_steps=40,validate_every=20", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = run_fewshot(
        "predict", str(out), str(tmp_path / "queries.txt"), "--out", str(tmp_path / "p.jsonl")
    )
    assert result.returncode == 0, result.stderr
    predicted = [
        json.loads(line)["label"] for line in (tmp_path / "p.jsonl").read_text().splitlines()
    ]
    assert np.mean(np.array(predicted) == np.array([data.labels[i] for i in queries])) >= 0.8
