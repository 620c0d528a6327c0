import json

import numpy as np
import pytest
from rich.console import Console
from sklearn.metrics import f1_score

from fewshot.errors import ConfigError
from fewshot.evaluation.evaluator import (
    EpisodeSetting,
    Evaluator,
    FullWaySetting,
    LearnerSpec,
    macro_f1,
    mean_ci95,
)
from fewshot.evaluation.journal import fingerprint
from fewshot.learners.base import Learner
from fewshot.report.tables import results_table


def test_macro_f1_agrees_with_scikit_learn():
    rng = np.random.default_rng(0)
    y_true = rng.choice(["a", "b", "c", "d"], size=200)
    y_pred = rng.choice(["a", "b", "c", "x"], size=200)
    expected = f1_score(
        y_true, y_pred, labels=sorted(set(y_true)), average="macro", zero_division=0
    )
    assert macro_f1(y_true, y_pred) == pytest.approx(expected)


def test_ci95_is_the_t_interval():
    values = np.array([0.5, 0.7, 0.6, 0.9, 0.8])
    assert mean_ci95(values) == pytest.approx(2.776445 * values.std(ddof=1) / np.sqrt(5), rel=1e-5)
    assert mean_ci95(np.array([0.5])) is None


class Exploding(Learner):
    name = "exploding"

    def __init__(self, after: int = 3):
        self.after = after

    def fit(self, X, y):
        Exploding.calls = getattr(Exploding, "calls", 0) + 1
        if Exploding.calls > self.after:
            raise RuntimeError("numerical trouble")
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


class Recording(Learner):
    """Remembers which support sets it was given, to prove all learners see the same episodes."""

    name = "recording"
    seen: list = []

    def __init__(self, tag: str = ""):
        self.tag = tag

    def fit(self, X, y):
        Recording.seen.append((self.tag, X.sum().round(4), tuple(y)))
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.eye(len(self.classes_))[np.zeros(len(X), dtype=int)]


class PoolRecording(Learner):
    """Remembers the unlabelled texts it was given (None: none were)."""

    name = "pool_recording"
    input_kind = "texts"
    fit_inputs = frozenset({"unlabeled"})
    seen: list = []

    def fit(self, X, y, unlabeled=None):
        PoolRecording.seen.append(None if unlabeled is None else sorted(unlabeled))
        self.classes_ = np.unique(y)
        return self

    predict_proba = Recording.predict_proba


@pytest.fixture
def evaluator(registry, encoder):
    learners = {"exploding": Exploding, "recording": Recording, "pool_recording": PoolRecording}
    registry.learners.update(learners)
    registry.learner_plugin.update(dict.fromkeys(learners, "tests"))
    yield Evaluator(registry, encoder, progress=False)
    for name in learners:
        registry.learners.pop(name)
        registry.learner_plugin.pop(name)


def test_full_way_gives_an_unlabelled_pool_less_the_test_texts(evaluator, tmp_path):
    rows = {
        "train": [("card late", "card"), ("refund me", "refund")],
        "test": [("where is my card", "card"), ("money back", "refund")],
        "pool": [("money back", "refund"), ("my card?", "card"), ("a refund", "card")],
    }
    for split, pairs in rows.items():
        (tmp_path / f"{split}.jsonl").write_text(
            "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in pairs)
        )
    train, test, pool = (str(tmp_path / f"{split}.jsonl") for split in rows)
    plain = FullWaySetting(train, test)
    pooled = FullWaySetting(train, test, unlabeled_data=pool)
    # a setting without a pool keeps the journal key it had before pools existed
    assert plain.key() == fingerprint(
        {"type": "FullWaySetting", "train": train, "test": test, "seed": 0, "protocol": "full-way"}
    )
    assert pooled.key() != plain.key() and pooled.datasets() == (train, test, pool)
    PoolRecording.seen = []
    results = list(evaluator.run([plain, pooled], [LearnerSpec("pool_recording")]))
    # the test text "money back" never reaches the learner, nor any label of the pool
    assert PoolRecording.seen == [None, ["a refund", "my card?"]]
    records = [result.outcomes[0].record for result in results]
    assert "unlabeled_data" not in records[0] and records[1]["unlabeled_data"] == pool
    # the results table says which setting had a pool
    console = Console(width=400, record=True)
    console.print(results_table(records))
    rows = [line for line in console.export_text().splitlines() if "pool_recording" in line]
    assert [f"unlabelled {pool}" in line for line in rows] == [False, True]


def test_every_learner_sees_identical_episodes(evaluator):
    Recording.seen = []
    setting = EpisodeSetting("clinc150:test", ways=5, shots=2, queries=3, episodes=20, seed=4)
    specs = [LearnerSpec("recording", {"tag": "a"}), LearnerSpec("recording", {"tag": "b"})]
    list(evaluator.run([setting], specs))
    a = [s[1:] for s in Recording.seen if s[0] == "a"]
    b = [s[1:] for s in Recording.seen if s[0] == "b"]
    assert len(a) == 20 and a == b


def test_a_failing_learner_is_contained(evaluator):
    Exploding.calls = 0
    setting = EpisodeSetting("banking77:test", ways=5, shots=1, queries=5, episodes=10)
    [result] = evaluator.run([setting], [LearnerSpec("exploding"), LearnerSpec("protonet")])
    failed, ok = (o.record for o in result.outcomes)
    assert failed["status"] == "failed" and failed["accuracy"] is None
    assert failed["error"] == "episode 3: RuntimeError: numerical trouble"
    assert ok["status"] == "ok" and ok["accuracy"] > 0.6
    assert result.comparisons == []  # nothing to pair a failed learner with


def test_records_have_the_contract_fields(evaluator):
    settings = [
        EpisodeSetting("clinc150:test", ways=5, shots=1, queries=15, episodes=30),
        FullWaySetting("clinc150:train_5", "clinc150:test"),
    ]
    results = list(evaluator.run(settings, [LearnerSpec("protonet"), LearnerSpec("logreg")]))
    for result in results:
        for outcome in result.outcomes:
            record = outcome.record
            for key in (
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
                "full_way",
                "status",
            ):
                assert key in record, key
    episodic = results[0].outcomes[0].record
    assert (episodic["ways"], episodic["shots"], episodic["queries"], episodic["episodes"]) == (
        5,
        1,
        15,
        30,
    )
    assert episodic["full_way"] is False and 0 < episodic["ci95"] < 0.1
    full = results[1].outcomes[1].record
    assert full["full_way"] is True and full["protocol"] == "full-way"
    assert (full["ways"], full["shots"], full["queries"], full["episodes"]) == (150, 5, 4500, 1)
    assert len(full["per_class_accuracy"]) == 150
    assert full["accuracy"] == pytest.approx(
        np.mean(list(full["per_class_accuracy"].values()))
    )  # balanced test set
    [comparison] = results[1].comparisons
    assert comparison["test"] == "mcnemar-exact" and 0 <= comparison["p_value"] <= 1
    assert comparison["accuracy_difference"] == pytest.approx(
        results[1].outcomes[0].record["accuracy"] - full["accuracy"]
    )


def test_same_seed_same_numbers(evaluator):
    setting = EpisodeSetting("banking77:test", ways=5, shots=5, queries=10, episodes=40, seed=11)
    specs = [LearnerSpec("protonet"), LearnerSpec("knn")]
    first = [o.record["accuracy"] for r in evaluator.run([setting], specs) for o in r.outcomes]
    second = [o.record["accuracy"] for r in evaluator.run([setting], specs) for o in r.outcomes]
    other = [
        o.record["accuracy"]
        for r in evaluator.run([EpisodeSetting("banking77:test", 5, 5, 10, 40, seed=12)], specs)
        for o in r.outcomes
    ]
    assert first == second
    assert first != other


def test_duplicate_labels_and_empty_learners_are_refused(evaluator):
    setting = EpisodeSetting("banking77:test", 5, 1, 5, 2)
    with pytest.raises(ConfigError, match="share a label"):
        list(evaluator.run([setting], [LearnerSpec("protonet"), LearnerSpec("protonet")]))
    with pytest.raises(ConfigError, match="no learners"):
        list(evaluator.run([setting], []))
    with pytest.raises(ConfigError, match="unknown learner"):
        list(evaluator.run([setting], [LearnerSpec("nope")]))
