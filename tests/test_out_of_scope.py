"""Out-of-scope rejection: scorers, thresholds without test labels, the evaluator's protocols
(full-way and episodes), adapt/predict and the classifier, plugin scorers. Real data:
CLINC150 with its out-of-scope queries."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fewshot import FewShotClassifier
from fewshot.errors import ConfigError
from fewshot.evaluation.evaluator import Evaluator, LearnerSpec
from fewshot.evaluation.protocols.out_of_scope import OutOfScopeEpisodeSetting, OutOfScopeSetting
from fewshot.learners.rejection import (
    Mahalanobis,
    PrototypeCosine,
    Rejection,
    fpr_at_95_tpr,
    make_scorer,
)
from fewshot.learners.rejection_calibration import calibrate_cv, calibrate_held_out, measure
from fewshot_plugins.protonet import PrototypicalLearner
from tests.conftest import run_fewshot

KEYS = {"oos_auroc", "oos_fpr95", "oos_recall", "oos_precision", "in_scope_accuracy", "threshold"}


def test_mahalanobis_is_the_textbook_distance(registry):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6)).astype(np.float32)
    y = np.repeat(["a", "b"], 20)
    learner = registry.make_learner("protonet").fit(X, y)
    scorer = Mahalanobis(shrinkage=0.0).fit(learner, X, y)
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    means = np.stack([Z[y == c].mean(0) for c in ("a", "b")])
    residuals = Z - means[(y == "b").astype(int)]
    precision = np.linalg.inv(residuals.T @ residuals / (40 - 2))
    query = rng.normal(size=(5, 6))
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    expected = -np.min([[(z - m) @ precision @ (z - m) for m in means] for z in q], axis=1)
    np.testing.assert_allclose(scorer.score(learner, query), expected, rtol=1e-6)


def test_thresholds_without_test_labels_do_what_they_say(registry):
    """Cross-validated thresholds keep about the asked share of held-out in-scope texts; the
    held-out rule picks the most accurate threshold."""
    rng = np.random.default_rng(1)
    y = rng.permutation(np.repeat([f"c{i}" for i in range(10)], 60))
    centres = rng.normal(size=(10, 16)) * 2
    X = (centres[[int(c[1:]) for c in y]] + rng.normal(size=(600, 16))).astype(np.float32)
    learner = registry.make_learner("logreg")
    scorer = make_scorer("cosine", registry.scorers)
    threshold = calibrate_cv(learner, X, y, [scorer], recall=0.9, seed=0)["cosine"]
    fitted = registry.make_learner("logreg").fit(X[:300], y[:300])
    held = (
        make_scorer("cosine", registry.scorers).fit(fitted, X[:300], y[:300]).score(fitted, X[300:])
    )
    assert 0.8 <= np.mean(held >= threshold) <= 0.99
    in_scores, oos_scores = np.array([3.0, 4, 5, 6]), np.array([1.0, 2, 3.5, 3.7])
    assert calibrate_held_out(in_scores, np.array([True] * 4), oos_scores) == 4.0
    assert fpr_at_95_tpr(np.arange(100.0), np.array([3.0, 5, 50])) == pytest.approx(2 / 3)
    with pytest.raises(ConfigError, match="at least two examples of every class"):
        calibrate_cv(learner, X[:3], np.array(["a", "b", "c"]), [scorer], recall=0.95)


@pytest.mark.integration
def test_the_issue_command_writes_the_out_of_scope_fields(tmp_path):
    result = run_fewshot(
        "bench", "--train", "clinc150:train_5", "--test", "clinc150:test",
        "--oos", "clinc150:oos_test", "--learner", "logreg", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [record] = json.loads((tmp_path / "results.json").read_text())
    assert KEYS <= set(record) and record["protocol"] == "out-of-scope"
    assert record["scorer"] == "mahalanobis" and record["calibration"] == "cv-5"
    # Frozen MiniLM, logistic regression, 5 shots; the independent figures: MSP AUROC 0.948,
    # FPR95 0.272; prototype cosine 0.950 / 0.249.
    assert record["oos_auroc"] > 0.95 and record["oos_fpr95"] < 0.23
    assert record["scorers"]["msp"]["oos_auroc"] == pytest.approx(0.948, abs=0.003)
    assert record["scorers"]["cosine"]["oos_auroc"] == pytest.approx(0.950, abs=0.003)
    assert record["in_scope_accuracy"] > 0.84 and record["oos_recall"] > 0.6
    assert record["accuracy"] > 0.8 and set(record["scorers"]) == {
        "mahalanobis", "msp", "energy", "cosine", "knn",
    }  # fmt: skip
    assert "out-of-scope rejection" in result.stdout and "FPR@95%TPR" in result.stdout
    assert "oos_auroc" in (tmp_path / "results.csv").read_text().splitlines()[0]


@pytest.mark.integration
def test_held_out_calibration_and_episodes(registry, encoder):
    evaluator = Evaluator(registry, encoder, progress=False)
    held_out = OutOfScopeSetting(
        "clinc150:train_5", "clinc150:test", "clinc150:oos_test",
        valid="clinc150:valid", oos_valid="clinc150:oos_valid", scorers=("mahalanobis", "msp"),
    )  # fmt: skip
    episodes = OutOfScopeEpisodeSetting(
        "clinc150:test", ways=5, shots=5, queries=15, episodes=20, oos="clinc150:oos_test"
    )
    full, episodic = evaluator.run(
        [held_out, episodes], [LearnerSpec("protonet"), LearnerSpec("logreg")]
    )
    record = full.outcomes[0].record
    assert record["calibration"] == "held-out" and record["oos_auroc"] > 0.94
    assert full.comparisons[0]["test"] == "mcnemar-exact"
    record = episodic.outcomes[1].record
    assert record["protocol"] == "out-of-scope-episodes" and record["oos_queries"] == 75
    assert record["oos_auroc"] > 0.97 and record["ci95"] is not None
    assert episodic.comparisons[0]["test"] == "paired-t"
    # Thresholds come from each episode's support: one shot is refused before any work.
    one_shot = OutOfScopeEpisodeSetting("clinc150:test", 5, 1, 15, 3, oos="clinc150:oos_test")
    with pytest.raises(ConfigError, match="need at least 2 shots"):
        evaluator.prepare([one_shot], [LearnerSpec("logreg")])


def _bike_shop_like(registry, tmp_path) -> tuple[Path, Path]:
    """A user's case: 6 intents x 6 texts to train on; a test file with 3 texts of each, 3
    out-of-scope queries labelled ``oos`` and 2 of an intent the training data lacks."""
    rng = np.random.default_rng(0)
    classes = ["translate", "book_hotel", "bill_due", "alarm", "calories", "weather"]
    train, test = registry.datasets.load("clinc150:train"), registry.datasets.load("clinc150:test")

    def some(data, label, n):
        rows = np.flatnonzero(data.label_array == label)
        return [data.texts[i] for i in rng.choice(rows, n, replace=False)]

    train_rows = [(t, c) for c in classes for t in some(train, c, 6)]
    oos = registry.datasets.load("clinc150:oos_test")
    test_rows = [(t, c) for c in classes for t in some(test, c, 3)]
    test_rows += [(t, "oos") for t in oos.texts[:3]] + [
        (t, "play_music") for t in some(test, "play_music", 2)
    ]
    paths = []
    for name, rows in (("train.csv", train_rows), ("test.csv", test_rows)):
        paths.append(tmp_path / name)
        with open(paths[-1], "w", newline="") as handle:
            csv.writer(handle).writerows([("text", "label"), *rows])
    return paths[0], paths[1]


def test_adapt_says_what_rejection_chose_and_predict_reads_as_a_person_would(registry, tmp_path):
    train, test = _bike_shop_like(registry, tmp_path)
    model = tmp_path / "model"
    result = run_fewshot(
        "adapt", "--train", str(train), "--learner", "logreg", "--reject", "auto",
        "--test", str(test), "--out", str(model),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    warning = next(line for line in lines if "warning" in line)
    assert (
        f"{test}: 2 texts with labels the training data lacks ('play_music') count as wrong"
        in warning
    )
    summary = next(line for line in lines if line.startswith("out-of-scope rejection:"))
    threshold = json.loads((model / "fewshot.json").read_text())["reject"]["threshold"]
    assert (
        f"scorer mahalanobis, threshold {threshold:.4g}, aiming to keep 95% of in-scope" in summary
    )
    assert (
        "kept 35 of 36 held-out training texts" in summary and "90% interval 0.87-0.99" in summary
    )
    assert "texts of classes held out of training" in summary
    # The oos texts are right when rejected, and measured apart.
    card = (model / "README.md").read_text()
    assert "## Out-of-scope rejection" in card and f"threshold {threshold:.4g}" in card
    training = json.loads((model / "fewshot.json").read_text())["training_data"]
    assert training["oos_examples"] == 3 and training["unseen_label_examples"] == 2
    assert training["oos_recall"] == training["oos_rejected"] / 3
    assert f"{training['oos_rejected']} of 3 out-of-scope texts rejected" in lines[-1]
    out = tmp_path / "p.jsonl"
    assert run_fewshot("predict", str(model), str(test), "--out", str(out)).returncode == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(0 <= r["in_scope_probability"] <= 1 for r in rows)
    in_scope = [r for r in rows if r["gold_label"] not in ("oos", "play_music")]
    outside = [r for r in rows if r["gold_label"] in ("oos", "play_music")]
    # Known classes look in scope, the others do not: the probability tells them apart.
    assert np.mean([r["in_scope_probability"] for r in in_scope]) > 0.8
    assert np.mean([r["in_scope_probability"] for r in outside]) < 0.4
    for r in rows:
        assert r["closest_label"] in {
            "translate",
            "book_hotel",
            "bill_due",
            "alarm",
            "calories",
            "weather",
        }
        rejected = r["in_scope_score"] < threshold
        assert (r["label"] == "oos") == rejected
        assert r["probability"] == (None if rejected else r["closest_probability"])


def test_what_the_calibration_measures():
    """The recall interval is the order statistic's Beta coverage; the probability rises with
    the score and is one half where in-scope and unseen-class scores meet."""
    in_scores = np.arange(36.0)
    measured = measure(in_scores, np.arange(-36.0, 0.0), threshold=1.0)
    assert measured["kept"] == 35 and measured["expected_recall"] == round(1 - 2 / 37, 4)
    # the second smallest of 36 uniform draws: its 5% and 95% quantiles, as simulated
    assert measured["recall_interval"] == [0.8749, 0.99]
    rejection = Rejection(
        make_scorer("cosine", {"cosine": PrototypeCosine}), 1.0, measured=measured
    )
    chances = rejection.in_scope_probability(np.array([-30.0, -0.5, 30.0]))
    assert chances[0] < 0.05 and chances[1] == pytest.approx(0.5, abs=0.05) and chances[2] > 0.95
    assert measure(in_scores, None, 1.0)["probability"] is None
    assert (
        Rejection(make_scorer("cosine", {"cosine": PrototypeCosine}), 1.0).in_scope_probability(
            [1.0]
        )
        is None
    )


@pytest.mark.integration
def test_adapt_reject_auto_then_predict_says_none_of_these(tmp_path):
    model = tmp_path / "model"
    result = run_fewshot(
        "adapt", "--train", "clinc150:train_5", "--learner", "logreg", "--reject", "auto",
        "--out", str(model),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = json.loads((model / "fewshot.json").read_text())
    assert config["reject"]["scorer"] == "mahalanobis" and config["reject"]["calibration"] == "cv-5"
    out = tmp_path / "oos.jsonl"
    result = run_fewshot("predict", str(model), "clinc150:oos_test", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert np.mean([r["label"] == "oos" for r in rows]) > 0.6  # most are said to fit no class
    assert all("in_scope_score" in r for r in rows)
    result = run_fewshot(
        "predict", str(model), "clinc150:test", "--out", str(tmp_path / "in.jsonl")
    )
    accuracy = float(result.stderr.split("accuracy on the labelled inputs: ")[1].split()[0])
    assert accuracy > 0.84  # in-scope accuracy after rejection
    # The threshold decides predictions: editing it in fewshot.json is caught.
    config["reject"]["threshold"] = -1e9
    (model / "fewshot.json").write_text(json.dumps(config))
    result = run_fewshot("predict", str(model), "clinc150:test", "--out", str(tmp_path / "x.jsonl"))
    assert result.returncode == 2 and "rejection rule differ" in result.stderr


class PoolPrototypes(PrototypicalLearner):
    """Prototypes that also take unlabelled texts, and count how many they were given."""

    fit_inputs = frozenset({"unlabeled"})
    seen: list = []

    def fit(self, X, y, unlabeled=None):
        PoolPrototypes.seen.append(None if unlabeled is None else len(unlabeled))
        return super().fit(X, y)


def test_reject_auto_fits_every_fold_with_the_unlabelled_texts(registry):
    train = registry.datasets.load("clinc150:train_5")
    pool = list(registry.datasets.load("clinc150:valid").texts[:40])
    PoolPrototypes.seen = []
    classifier = FewShotClassifier(PoolPrototypes(), reject="auto", scorer="cosine")
    classifier.fit(list(train.texts), list(train.labels), unlabeled=pool)
    # the model, then 5 calibration folds (5 texts per class) and 5 folds of held-out classes,
    # each with the whole pool
    assert PoolPrototypes.seen == [40] * 11
    assert classifier.rejection_.calibration == "cv-5"


def test_the_classifier_abstains_and_keeps_its_rule(tmp_path, registry):
    train = registry.datasets.load("clinc150:train_5")
    classifier = FewShotClassifier("protonet", reject="auto", scorer="cosine", oos_label="none")
    classifier.fit(list(train.texts), list(train.labels))
    texts = ["what's the weather like today", "how many prime numbers are below 100"]
    labels = classifier.predict(texts)
    assert labels[0] == "weather" and labels[1] == "none"
    classifier.save(tmp_path / "m")
    loaded = FewShotClassifier.load(tmp_path / "m")
    assert list(loaded.predict(texts)) == list(labels)
    assert loaded.get_params()["reject"] == "auto" and loaded.oos_label == "none"
    fixed = FewShotClassifier("logreg", reject=-1e9).fit(list(train.texts), list(train.labels))
    assert "none" not in fixed.predict(texts) and fixed.rejection_.calibration == "given"


@pytest.mark.integration
def test_a_plugin_scorer_through_the_hook(plugin_site, tmp_path):
    result = run_fewshot(
        "bench", "--train", "clinc150:train_5", "--test", "clinc150:test",
        "--oos", "clinc150:oos_test", "--learner", "logreg", "--scorer", "probe-length,msp",
        "--out", str(tmp_path), pythonpath=plugin_site,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [record] = json.loads((tmp_path / "results.json").read_text())
    assert record["scorer"] == "probe-length" and set(record["scorers"]) == {"probe-length", "msp"}
    assert 0.3 < record["oos_auroc"] < 0.8  # text length says little about scope


@pytest.mark.integration
def test_finetune_works_with_every_scorer(registry, encoder):
    evaluator = Evaluator(registry, encoder, progress=False)
    setting = OutOfScopeEpisodeSetting(
        "clinc150:test", ways=5, shots=4, queries=5, episodes=1, oos="clinc150:oos_test"
    )
    [result] = evaluator.run([setting], [LearnerSpec("finetune", {"epochs": 1})])
    record = result.outcomes[0].record
    assert record["status"] == "ok", record["error"]
    for name, metrics in record["scorers"].items():
        assert metrics["oos_auroc"] > 0.7, (name, metrics)
