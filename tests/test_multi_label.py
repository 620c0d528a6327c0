"""Multi-label few-shot classification: label-set data, the greedy K-shot sampler, per-label
thresholds, the learners that fit label sets, the evaluator's protocols, adapt/predict and the
classifier. Real data: GoEmotions (bundled)."""

import csv
import gzip
import json
from importlib import resources

import numpy as np
import pytest

from fewshot import FewShotClassifier
from fewshot.data.files import read_labeled_file
from fewshot.data.labels import indicator
from fewshot.errors import ConfigError, DataError
from fewshot.evaluation.evaluator import Evaluator, LearnerSpec
from fewshot.evaluation.protocols.multi_label import MultiLabelEpisodeSetting, MultiLabelSetting
from fewshot.learners.multi_label import decide, fit_thresholds, greedy_support
from tests.conftest import run_fewshot

MULTI_LABEL_LEARNERS = ("logreg", "protonet", "knn")


def _goemotions(split: str) -> list[dict]:
    path = resources.files("fewshot.data") / "bundled" / "goemotions" / f"{split}.jsonl.gz"
    with gzip.open(str(path), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The 5,426 GoEmotions validation texts to train on (every label has 8+), 800 test texts:
    quicker to encode than the 43k training texts."""
    folder = tmp_path_factory.mktemp("goemotions")
    for name, rows in (("train", _goemotions("valid")), ("test", _goemotions("test")[:800])):
        with open(folder / f"{name}.jsonl", "w") as handle:
            for row in rows:
                handle.write(
                    json.dumps({"id": row["id"], "text": row["text"], "labels": row["labels"]})
                    + "\n"
                )
    return folder


# -- data --------------------------------------------------------------------------------------


def test_label_lists_in_jsonl_and_separated_labels_in_csv(tmp_path):
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(
        '{"text": "yay", "labels": ["joy", " surprise"]}\n{"text": "hm", "labels": ["neutral"]}\n'
    )
    data = read_labeled_file(jsonl)
    assert data.is_multi_label and data.label_sets == (("joy", "surprise"), ("neutral",))
    assert data.classes == ("joy", "neutral", "surprise")
    csv = tmp_path / "a.csv"
    csv.write_text("body,tags\nyay,joy;surprise\nhm,neutral\n")
    same = read_labeled_file(csv, text_column="body", labels_column="tags", label_separator=";")
    assert same.label_sets == data.label_sets
    # a label list and a label are different rows, and different fingerprints
    assert data.fingerprint != read_labeled_file(_single(tmp_path)).fingerprint


def _single(tmp_path):
    path = tmp_path / "single.jsonl"
    path.write_text(
        '{"text": "yay", "label": "joy+surprise"}\n{"text": "hm", "label": "neutral"}\n'
    )
    return path


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ('{"text": "a", "labels": []}', "line 1: 'labels' is empty; expected at least one label"),
        ('{"text": "a", "labels": ["joy", "joy "]}', "line 1: 'labels' lists 'joy' twice"),
        ('{"text": "a", "labels": "joy"}', "line 1: 'labels' is 'joy'; expected a list of labels"),
        (
            '{"text": "a", "labels": ["joy", null]}',
            "line 1: 'labels' holds None; expected non-empty",
        ),
        (
            '{"text": "a", "labels": ["joy"]}\n{"text": "b", "label": "joy"}',
            "line 2: has 'label' (one label) where the rows above have 'labels' (a list",
        ),
        (
            '{"text": "a", "label": "joy"}\n{"text": "b", "labels": ["joy"]}',
            "line 2: has 'labels' (a list of labels) where the rows above have 'label'",
        ),
    ],
)
def test_bad_label_lists_are_one_clear_line(tmp_path, rows, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(rows + "\n")
    with pytest.raises(DataError) as error:
        read_labeled_file(path)
    assert message in str(error.value) and str(path) in str(error.value)


# -- sampling and thresholds ----------------------------------------------------------------------


def test_greedy_support_is_minimal_including_and_a_pure_function_of_the_seed(registry):
    data = registry.datasets.load("goemotions:valid")
    Y = indicator(data.label_sets, data.classes)
    for shots in (1, 8):
        rows = greedy_support(Y, shots, np.random.default_rng([0, 3]))
        counts = Y[rows].sum(axis=0)
        assert counts.min() >= shots  # at least K texts of every label
        # minimal: no text can go without some label falling below K
        assert all((counts[Y[r].astype(bool)] - 1 < shots).any() for r in rows)
        again = greedy_support(Y, shots, np.random.default_rng([0, 3]))
        np.testing.assert_array_equal(rows, again)
    other = greedy_support(Y, 8, np.random.default_rng([0, 4]))
    assert set(other) != set(rows)
    with pytest.raises(ConfigError, match="fewer than 1000 texts.*label 'admiration' has"):
        greedy_support(Y, 1000, np.random.default_rng(0), names=data.classes)


def test_the_threshold_matches_the_supports_label_count_and_every_text_gets_a_label():
    scores = np.array([[0.9, 0.8, 0.1], [0.7, 0.2, 0.1], [0.6, 0.5, 0.4], [0.3, 0.2, 0.1]])
    Y = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])  # 1.25 labels a text
    thresholds = fit_thresholds(scores, Y)
    # at 0.8 the held-out texts get 2, 1, 1, 1 labels (at least one each): 1.25 on average
    np.testing.assert_array_equal(thresholds, [0.8, 0.8, 0.8])
    assert np.all(fit_thresholds(scores, np.eye(4, 3)) == 0.9)  # one label a text: the top one
    decided = decide(np.array([[0.05, 0.1, 0.0], [0.95, 0.9, 0.1]]), thresholds)
    np.testing.assert_array_equal(decided, [[0, 1, 0], [1, 1, 0]])  # at least one; both pass


# -- learners and the evaluator -----------------------------------------------------------------


def test_learners_declare_multi_label_support(registry):
    able = {name for name, cls in registry.learners.items() if cls.supports_multi_label}
    assert set(MULTI_LABEL_LEARNERS) <= able
    X = np.random.default_rng(0).normal(size=(6, 4))
    with pytest.raises(ValueError, match="does not support multi-label"):
        registry.make_learner("mmd").fit_label_sets(X, [["a"], ["b"]] * 3)


@pytest.mark.integration
def test_full_way_multi_label_benchmark_on_goemotions(registry, encoder, small):
    """Every multi-label learner beats chance clearly on real GoEmotions texts; the same seed
    gives the same records; each support holds at least K texts of every label."""
    setting = MultiLabelSetting(
        str(small / "train.jsonl"), str(small / "test.jsonl"), shots=8, seeds=2
    )
    evaluator = Evaluator(registry, encoder, progress=False)
    specs = [LearnerSpec(name) for name in MULTI_LABEL_LEARNERS]
    [result] = list(evaluator.run([setting], specs))
    records = {o.record["learner"]: o.record for o in result.outcomes}
    for name, record in records.items():
        assert record["status"] == "ok", record
        # chance: micro-F1 about 0.05, LRAP about 0.13 (28 labels, 1.2 per text)
        assert record["micro_f1"] > 0.10 and record["lrap"] > 0.18, (name, record)
        # about as many labels a text as the support's texts carry: some texts exactly right
        # (per-label F1 thresholds gave 3-4 labels a text and an exact match near 0.01)
        assert record["exact_match"] > 0.03, (name, record)
        assert set(record["label_f1"]) == set(
            registry.datasets.load(str(small / "train.jsonl")).classes
        )
        assert record["support_size"]["min"] >= 28 * 8 / 3
    assert records["logreg"]["macro_f1"] > 0.14
    assert {c["metric"] for c in result.comparisons} == {"macro_f1"}
    [again] = list(Evaluator(registry, encoder, progress=False).run([setting], specs))
    assert [o.record["macro_f1"] for o in again.outcomes] == [
        r["macro_f1"] for r in records.values()
    ]
    task = evaluator.task(setting)
    rows = setting.support(task, 1)
    Y = task["Y"][rows]
    assert Y.sum(axis=0).min() >= 8
    # Only the supports' texts were encoded, not the whole training file.
    X = evaluator.inputs(str(small / "train.jsonl"), "embeddings")
    supports = np.union1d(setting.support(task, 0), rows)
    assert np.array_equal(np.flatnonzero(~np.isnan(X).any(axis=1)), supports)
    assert len(supports) < len(X) / 10


def test_multi_label_episodes_draw_label_subsets(registry, encoder, small):
    setting = MultiLabelEpisodeSetting(
        str(small / "train.jsonl"), ways=5, shots=4, queries=10, episodes=6
    )
    evaluator = Evaluator(registry, encoder, progress=False)
    [result] = list(evaluator.run([setting], [LearnerSpec("protonet")]))
    [record] = [o.record for o in result.outcomes]
    assert record["status"] == "ok" and record["ways"] == 5, record
    assert record["macro_f1"] > 0.22 and record["exact_match"] > 0.2, record
    task = evaluator.task(setting)
    labels, support, query = setting.episode(task, 2)
    texts = task["data"].text_array
    assert not set(texts[support]) & set(texts[query])  # disjoint by text
    assert task["Y"][np.ix_(support, labels)].sum(axis=0).min() >= 4
    np.testing.assert_array_equal(setting.episode(task, 2)[1], support)


def test_single_label_protocols_refuse_label_lists_and_learners_that_cannot(tmp_path, small):
    result = run_fewshot(
        "bench", "--dataset", str(small / "train.jsonl"), "--learner", "logreg", "--out", str(tmp_path / "a"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "is multi-label (a list of labels per text); run it with --multi-label" in result.stderr
    result = run_fewshot(
        "bench", "--multi-label", "--train", str(small / "train.jsonl"), "--test", str(small / "test.jsonl"),
        "--learner", "mmd", "--out", str(tmp_path / "b"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "learner 'mmd' does not support multi-label data; these do:" in result.stderr
    assert not (tmp_path / "b" / "results.json").exists()


# -- the command line, adapt/predict and the classifier --------------------------------------------


@pytest.mark.integration
def test_bench_multi_label_writes_the_metrics(tmp_path, small):
    out = tmp_path / "run"
    result = run_fewshot(
        "bench", "--multi-label", "--train", str(small / "train.jsonl"), "--test", str(small / "test.jsonl"),
        "--shots", "8", "--seeds", "2", "--learner", "logreg", "--learner", "protonet", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = json.loads((out / "results.json").read_text())
    for record in records:
        assert {"micro_f1", "macro_f1", "exact_match", "samples_f1", "hamming_loss", "lrap"} <= set(
            record
        )
        assert record["protocol"] == "multi-label" and record["episodes"] == 2
    assert "multi_label" in (out / "results.csv").read_text().splitlines()[0]
    comparisons = json.loads((out / "comparisons.json").read_text())
    assert comparisons[0]["metric"] == "macro_f1" and "accuracy_difference" not in comparisons[0]


def test_adapt_and_predict_give_label_lists(tmp_path, small):
    model = tmp_path / "model"
    result = run_fewshot(
        "adapt", "--train", str(small / "train.jsonl"), "--learner", "protonet",
        "--test", str(small / "test.jsonl"), "--out", str(model),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "saved multi-label protonet (28 labels" in result.stderr
    card = json.loads((model / "fewshot.json").read_text())
    assert card["training_data"]["multi_label"] and card["training_data"]["micro_f1"] > 0.15
    out = tmp_path / "predictions.jsonl"
    result = run_fewshot("predict", str(model), str(small / "test.jsonl"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "exact match on the labelled inputs" in result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 800 and all(
        r["labels"] and len(r["labels"]) == len(r["probabilities"]) for r in rows
    )
    assert all(isinstance(r["gold_labels"], list) and r["id"] for r in rows)  # gold and ids kept
    assert all(r["probabilities"] == sorted(r["probabilities"], reverse=True) for r in rows)
    # A CSV's "a|b" gold cell comes back as the list it means, as the predicted labels do.
    given = [json.loads(line) for line in (small / "test.jsonl").read_text().splitlines()][:20]
    with open(tmp_path / "test.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(
            [("text", "labels")] + [(r["text"], "|".join(r["labels"])) for r in given]
        )
    out = tmp_path / "from-csv.jsonl"
    assert (
        run_fewshot("predict", str(model), str(tmp_path / "test.csv"), "--out", str(out)).returncode
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["gold_labels"] for r in rows] == [sorted(r["labels"]) for r in given]


@pytest.mark.integration
def test_classifier_fits_label_lists_and_round_trips(tmp_path, small):
    rows = [json.loads(line) for line in (small / "train.jsonl").read_text().splitlines()][:400]
    texts, label_sets = [r["text"] for r in rows], [r["labels"] for r in rows]
    model = FewShotClassifier("logreg").fit(texts, label_sets)
    predicted = model.predict(texts[:50])
    assert all(isinstance(p, tuple) and p for p in predicted)
    assert model.predict_proba(texts[:50]).shape == (50, len(model.classes_))
    model.save(tmp_path / "m")
    loaded = FewShotClassifier.load(tmp_path / "m")
    assert list(loaded.predict(texts[:50])) == list(predicted)
    with pytest.raises(ConfigError, match="does not support multi-label"):
        FewShotClassifier("mmd").fit(texts, label_sets)
