"""Meta-training in the core: class splits, meta-training data, the evaluator's protocol and the
episodically trained protonet. Runs without learn2learn (see test_learn2learn.py for that)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from fewshot.errors import ConfigError
from fewshot.evaluation.evaluator import EpisodeSetting, Evaluator, LearnerSpec
from fewshot.evaluation.suite import load_suite
from fewshot.learners.base import NotFittedError
from fewshot.learners.conformance import check_learner, make_meta_tasks
from fewshot.learners.training import BestCheckpoint, train_with_validation
from fewshot.models.classifier import load
from fewshot.models.saving import save_model
from fewshot.tasks.meta_training import EpisodeTasks
from fewshot_plugins.protonet import PrototypicalLearner
from tests.conftest import ROOT, run_fewshot

SPLIT = (0.3334, 0.3333, 0)


def clinc_setting(shots: int = 1, episodes: int = 60, **fields) -> EpisodeSetting:
    return EpisodeSetting(
        "clinc150:test",
        ways=5,
        shots=shots,
        queries=15,
        episodes=episodes,
        split_fractions=SPLIT,
        **fields,  # base and validation episodes from clinc150:test too (its other classes)
    )


class Recorder(PrototypicalLearner):
    """A meta-trained protonet that remembers which classes meta-training showed it."""

    name = "recorder"
    seen: list = []

    def meta_fit(self, tasks):
        train = [tasks.train.task(i).classes for i in range(50)]
        type(self).seen.append((train, [t.classes for t in tasks.validation]))
        return super().meta_fit(tasks)


def test_train_with_validation_keeps_the_best_checkpoint_and_the_earliest_on_ties():
    scores = iter([0.5, 0.7, 0.9, 0.9, 0.6])
    state = {"step": 0}

    def step(i):
        state["step"] = i + 1

    chosen, score = train_with_validation(
        step,
        lambda: next(scores),
        BestCheckpoint(lambda: dict(state), state.update),
        steps=8,
        validate_every=2,
    )
    assert (chosen, score, state["step"]) == (4, 0.9, 4)


def test_without_validation_tasks_the_last_step_is_kept():
    steps = []
    chosen, score = train_with_validation(
        steps.append,
        lambda: None,
        BestCheckpoint(dict, lambda s: pytest.fail("no validation: nothing to restore")),
        steps=5,
        validate_every=2,
    )
    assert (chosen, score, steps) == (5, None, [0, 1, 2, 3, 4])


def test_episode_tasks_are_the_sampler_episodes_in_learn2learn_layout():
    meta = make_meta_tasks(PrototypicalLearner(), ways=3, shots=2)
    tasks = meta.train
    episode = tasks.sampler.episode(4)
    task = tasks.task(4)
    assert task.classes == episode.classes
    assert np.array_equal(task.X_support, tasks.X[episode.support])
    assert list(task.y_support) == [0, 0, 1, 1, 2, 2]
    data, labels = tasks[4]
    assert (
        data.shape == (6 + 30, 32)
        and labels.tolist() == [0, 0, 1, 1, 2, 2] + [0] * 10 + [1] * 10 + [2] * 10
    )
    assert np.array_equal(data.numpy(), np.concatenate([task.X_support, task.X_query]))
    with pytest.raises(TypeError, match="endless"):
        len(tasks)
    bounded = EpisodeTasks(tasks.sampler, tasks.X, num_tasks=3)
    assert len(bounded) == 3
    with pytest.raises(IndexError):
        bounded[3]


@pytest.mark.integration
def test_meta_trained_protonet_passes_the_conformance_checks():
    check_learner(PrototypicalLearner(meta_steps=30, validate_every=10))


def test_meta_trained_protonet_refuses_to_fit_before_meta_training():
    with pytest.raises(NotFittedError, match="meta_fit"):
        PrototypicalLearner(meta_steps=10).fit(np.eye(4, dtype=np.float32), list("aabb"))


@pytest.mark.integration
def test_meta_training_only_sees_base_and_validation_classes(registry, encoder):
    registry.learners["recorder"] = Recorder
    try:
        evaluator = Evaluator(registry, encoder, progress=False)
        spec = LearnerSpec("recorder", {"meta_steps": 20})
        setting = clinc_setting(episodes=20)
        (result,) = evaluator.run([setting], [spec])
    finally:
        del registry.learners["recorder"]
    split = setting.class_split(evaluator)
    assert (len(split.base), len(split.validation), len(split.novel)) == (50, 50, 50)
    ((train, validation),) = Recorder.seen  # meta-trained once for the 20 episodes
    assert {c for classes in train for c in classes} <= set(split.base)
    assert {c for classes in validation for c in classes} <= set(split.validation)
    assert len(validation) == 100
    record = result.outcomes[0].record
    assert record["status"] == "ok", record["error"]
    assert record["base_classes"] == 50 and record["validation_classes"] == 50
    assert record["meta_train_data"] == "clinc150:test"
    assert record["meta_train_seconds"] > 0


def test_meta_training_with_a_split_by_domain(registry, encoder):
    # Base: four CLINC150 domains; validation: two; novel: the travel and utility intents.
    split = (
        ("banking", "credit_cards", "home", "work"),
        ("auto_and_commute", "kitchen_and_dining"),
        ("travel", "utility"),
    )
    setting = EpisodeSetting(
        "clinc150:test", ways=5, shots=1, queries=15, episodes=20, split_domains=split
    )
    evaluator = Evaluator(registry, encoder, progress=False)
    spec = LearnerSpec("protonet", {"meta_steps": 10, "validate_every": 5})
    (outcome,) = next(evaluator.run([setting], [spec])).outcomes
    record = outcome.record
    assert record["status"] == "ok", record["error"]
    assert (record["base_classes"], record["validation_classes"]) == (60, 30)
    data = evaluator.data("clinc150:test")
    domain_of = dict(zip(data.labels, data.domains, strict=True))
    for episode in evaluator.task(setting).episodes(20):
        assert {domain_of[c] for c in episode.classes} <= {"travel", "utility"}


def test_a_meta_trained_learner_without_base_classes_is_refused_before_any_work(registry, encoder):
    evaluator = Evaluator(registry, encoder, progress=False)
    setting = EpisodeSetting("clinc150:test", ways=5, shots=1, queries=15, episodes=5)
    with pytest.raises(ConfigError, match="meta-trained and needs base classes"):
        evaluator.run([setting], [LearnerSpec("protonet", {"meta_steps": 5})]).__next__()


@pytest.mark.integration
def test_meta_trained_protonet_is_reproducible_and_saves_and_loads(registry, encoder, tmp_path):
    evaluator = Evaluator(registry, encoder, progress=False)
    spec = LearnerSpec("protonet", {"meta_steps": 40, "validate_every": 10})
    setting = clinc_setting(episodes=30)
    first = next(evaluator.run([setting], [spec])).outcomes[0]
    second = next(evaluator.run([setting], [spec])).outcomes[0]
    assert np.array_equal(first.episode_accuracy, second.episode_accuracy)
    assert first.record["accuracy"] > 0.85  # 5-way 1-shot on novel CLINC150 intents

    # A meta-trained learner adapted to one novel task saves as safetensors + JSON and loads.
    learner, _ = evaluator.meta_train(setting, spec)
    sampler = evaluator.task(setting)
    episode = sampler.episode(0)
    X = evaluator.inputs("clinc150:test", "embeddings")
    learner.fit(X[episode.support], episode.support_labels)
    data = evaluator.data("clinc150:test")
    save_model(learner, tmp_path / "model", encoder={"name": "all-MiniLM-L6-v2"}, training={})
    model = load(tmp_path / "model")
    queries = [data.texts[i] for i in episode.query]
    assert list(model.predict(queries)) == list(learner.predict(X[episode.query]))
    assert np.allclose(model.predict_proba(queries), learner.predict_proba(X[episode.query]))
    saved = load_file(tmp_path / "model" / "state.safetensors")
    assert "projection.inner_weight" in saved and "prototypes" in saved


def test_suite_split_tables(tmp_path):
    suite_file = tmp_path / "s.toml"
    suite_file.write_text(
        'learners = ["protonet"]\n'
        "[[episodes]]\n"
        'dataset = "clinc150:test"\nways = 5\nshots = 1\n'
        'split = { by = "domain", base = ["banking", "travel"], validation = ["work"], '
        'novel = ["utility"], train = "clinc150:train", validation_episodes = 20 }\n'
    )
    (setting,) = load_suite(suite_file).settings
    assert setting.split_domains == (("banking", "travel"), ("work",), ("utility",))
    assert setting.meta_train == "clinc150:train" and setting.meta_validation is None
    assert setting.validation_episodes == 20
    for bad, message in [
        ("{ base = 0.3, novel = 0.3 }", "novel is what base and validation leave"),
        ('{ by = "domains", base = ["a"] }', "by must be 'class' or 'domain'"),
        ('{ by = "domain", base = ["a"], seed = 1 }', "a split by domain has no seed"),
        ('{ base = "half" }', "base must be a fraction"),
    ]:
        suite_file.write_text(
            f'learners = ["protonet"]\n[[episodes]]\ndataset = "x"\nways = 5\nshots = 1\nsplit = {bad}\n'
        )
        with pytest.raises(ConfigError, match=message):
            load_suite(suite_file)


def test_the_meta_learning_suite_splits_clinc150_fifty_fifty_fifty():
    suite = load_suite(ROOT / "episodes" / "clinc150-meta.toml")
    assert {s.shots for s in suite.settings} == {1, 5}
    for setting in suite.settings:
        assert setting.episodes == 600 and setting.split_part == "novel"
        assert setting.meta_train == "clinc150:train"
        assert setting.meta_validation == "clinc150:valid"
    names = {spec.name for spec in suite.learners}
    assert {"protonet", "maml", "metasgd", "logreg"} <= names


def test_bench_meta_trains_from_the_command_line(tmp_path):
    result = run_fewshot(
        "bench",
        "--dataset", "clinc150:test",
        "--split", "0.3334,0.3333",
        "--meta-train", "clinc150:test",
        "--meta-validation", "clinc150:test",
        "--shots", "1",
        "--episodes", "20",
        "--learner", "protonet",
        "--learner", "protonet:meta_steps=20,validate_every=10",
        "--out", str(tmp_path / "run"),
        "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = json.loads((tmp_path / "run" / "results.json").read_text())
    frozen, trained = records
    assert frozen["meta_train_seconds"] is None
    assert trained["meta_train_seconds"] > 0 and trained["base_classes"] == 50
    assert trained["meta_step"] in (0, 10, 20)


def test_meta_flags_are_checked(tmp_path):
    result = run_fewshot(
        "bench", "--dataset", "clinc150:test", "--meta-train", "clinc150:train",
        "--learner", "protonet", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "--meta-train and --meta-validation need --split" in result.stderr
    result = run_fewshot(
        "bench", "--dataset", "clinc150:test", "--split", "half",
        "--learner", "protonet", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert result.returncode == 2 and "--split takes BASE,VALIDATION[,SEED]" in result.stderr


@pytest.mark.integration
def test_without_learn2learn_the_meta_learners_are_listed_as_unavailable_with_the_command():
    # learn2learn hidden from this process (None in sys.modules makes its import fail).
    code = (
        "import sys; sys.modules['learn2learn'] = None; "
        "from fewshot.cli import main; sys.exit(main(['learners']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "unavailable until their dependencies are installed" in text
    for name in ("maml", "metasgd"):
        assert f"{name}: needs learn2learn" in text
    assert "pip install 'fewshot[meta]' && fewshot install-meta" in text
    # and a run that names one says the same
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code.replace(
                "['learners']",
                "['bench', '--dataset', 'clinc150:test', '--learner', 'maml', '--out', '/nonexistent/x']",
            ),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "learner 'maml' is unavailable" in result.stderr
    assert "fewshot install-meta" in result.stderr


@pytest.mark.integration
def test_adapt_meta_trains_on_other_classes_then_saves_a_model_that_predicts(registry, tmp_path):
    data, train, queries = support_and_queries(registry, tmp_path, shots=3)
    out = tmp_path / "model"
    learner = "protonet:meta_steps=20,validate_every=10"
    result = run_fewshot("adapt", "--train", str(train), "--learner", learner, "--out", str(out))
    assert result.returncode == 2 and "is meta-trained: give --meta-train" in result.stderr
    result = run_fewshot(
        "adapt", "--train", str(train), "--meta-train", "clinc150:test",
        "--learner", learner, "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "fewshot.json").read_text())
    assert config["training_data"]["meta_train"] == "clinc150:test"
    result = run_fewshot(
        "predict", str(out), str(tmp_path / "queries.txt"), "--out", str(tmp_path / "p.jsonl")
    )
    assert result.returncode == 0, result.stderr
    predicted = [
        json.loads(line)["label"] for line in (tmp_path / "p.jsonl").read_text().splitlines()
    ]
    truth = [data.labels[i] for i in queries]
    assert np.mean(np.array(predicted) == np.array(truth)) >= 0.8
    result = run_fewshot(
        "adapt", "--train", str(train), "--meta-train", "clinc150:test",
        "--learner", "logreg", "--out", str(tmp_path / "m2"),
    )  # fmt: skip
    assert result.returncode == 2 and "is not meta-trained" in result.stderr


def support_and_queries(registry, directory, shots: int):
    """train.jsonl: ``shots`` texts of each of five CLINC150 intents; queries.txt: five more of
    each. Returns the data, the training file and the query rows."""
    data = registry.datasets.load("clinc150:test")
    members = [np.flatnonzero(data.label_array == c) for c in data.classes[:5]]
    rows = [i for m in members for i in m[:shots]]
    train = directory / "train.jsonl"
    train.write_text(
        "".join(json.dumps({"text": data.texts[i], "label": data.labels[i]}) + "\n" for i in rows)
    )
    queries = [i for m in members for i in m[shots : shots + 5]]
    (directory / "queries.txt").write_text("".join(data.texts[i] + "\n" for i in queries))
    return data, train, queries
