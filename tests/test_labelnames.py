"""Readable label names: derived from ids, given by a dataset, refused when the ids say nothing."""

import json
from dataclasses import replace

import numpy as np
import pytest

from fewshot import FewShotClassifier
from fewshot.data.catalogue import DatasetInfo
from fewshot.data.label_names import label_names, readable_name
from fewshot.evaluation.evaluator import EpisodeSetting, Evaluator, FullWaySetting, LearnerSpec
from fewshot.evaluation.protocols.multi_label import MultiLabelSetting
from fewshot.evaluation.protocols.out_of_scope import OutOfScopeSetting
from fewshot.learners.base import Learner
from tests.conftest import run_fewshot


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("card_arrival", "card arrival"),
        ("TransferMoney", "transfer money"),
        ("pto-request", "pto request"),
        ("topUpByCard", "top up by card"),
        ("ATMSupport", "atm support"),
        ("books.fiction", "books fiction"),
    ],
)
def test_readable_name(label, name):
    assert readable_name(label) == name


def test_descriptive_labels_get_names_in_order():
    assert label_names(["card_arrival", "no", "TransferMoney"]) == [
        "card arrival",
        "no",
        "transfer money",
    ]


@pytest.mark.parametrize(
    "labels",
    [
        ["0", "1", "2"],
        ["LABEL_0", "LABEL_1"],
        ["intent_3", "intent_4"],
        ["c1", "c2", "card_arrival"],  # two of three opaque: names would be half a signal
        ["card_arrival", "card-arrival"],  # two labels, one name
    ],
)
def test_opaque_or_ambiguous_labels_get_none(labels):
    assert label_names(labels) is None


def test_one_opaque_label_in_ten_is_tolerated():
    # CLINC150 has "w2" (a tax form) among 149 readable intents
    labels = ["w2", "balance", "bill_due", "book_flight", "calories", "car_rental"]
    labels += ["carry_on", "change_accent", "change_ai_name", "change_language"]
    assert label_names(labels)[0] == "w2"


def test_given_names_win_and_rescue_opaque_ids():
    given = {"0": "refund not received", "1": "card never arrived"}
    assert label_names(["0", "1"], given) == ["refund not received", "card never arrived"]
    assert label_names(["0", "card_arrival"], {"0": "refund"}) == ["refund", "card arrival"]


class NameRecording(Learner):
    """Records the label names each fit receives."""

    name = "names_recording"
    uses_label_names = True
    supports_multi_label = True
    seen: list = []

    def fit(self, X, y, label_names=None):
        NameRecording.seen.append(label_names)
        self.classes_ = np.unique(y)
        return self

    def _fit_label_sets(self, X, Y, label_names=None):
        NameRecording.seen.append(label_names)

    def _held_out_label_scores(self, X, Y, label_names=None):
        return np.full(Y.shape, 0.5)

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))


@pytest.fixture
def named_dataset(registry, tmp_path):
    rows = [("where is my card", "card_arrival"), ("my card never came", "card_arrival")]
    rows += [("I want my money back", "refund"), ("refund my purchase", "refund")]
    splits = {}
    for split in ("train", "test"):
        path = tmp_path / f"{split}.jsonl"
        path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
        splits[split] = path
    names = {"card_arrival": "the card has not arrived", "refund": "asks for a refund"}
    registry.datasets.datasets["named"] = DatasetInfo("named", splits, label_names=names)
    registry.learners["names_recording"] = NameRecording
    registry.learner_plugin["names_recording"] = "tests"
    yield names
    del registry.datasets.datasets["named"]
    registry.learners.pop("names_recording")
    registry.learner_plugin.pop("names_recording")


def test_a_datasets_names_reach_the_learners_that_use_them(registry, encoder, named_dataset):
    NameRecording.seen = []
    settings = [
        FullWaySetting("named:train", "named:test"),
        EpisodeSetting("named:test", ways=2, shots=1, queries=1, episodes=2, seed=0),
        # fitted 1 + 2 times: the threshold's calibration folds see the names too
        OutOfScopeSetting("named:train", "named:test", "named:test", scorers=("msp",), folds=2),
    ]
    for _ in Evaluator(registry, encoder, progress=False).run(
        settings, [LearnerSpec("names_recording")]
    ):
        pass
    assert NameRecording.seen == [named_dataset] * 6
    train = registry.datasets.load("named:train")
    assert train.subset([0, 2]).label_names == named_dataset
    # names are data: --resume refuses a run whose names changed; data without names keeps
    # the fingerprint it always had
    plain = replace(train, label_names=None)
    assert plain.fingerprint != train.fingerprint
    reworded = replace(train, label_names={**named_dataset, "refund": "money back"})
    assert reworded.fingerprint != train.fingerprint
    assert plain.fingerprint == replace(train, label_names={}).fingerprint


def test_multi_label_data_passes_its_names_on_too(registry, encoder, tmp_path):
    rows = {
        "train": [("card late and charged twice", ["card_arrival", "refund"]),
                  ("where is my card", ["card_arrival"]), ("refund me", ["refund"])],
        "test": [("my card never came", ["card_arrival"]), ("money back please", ["refund"])],
    }  # fmt: skip
    splits = {}
    for split, pairs in rows.items():
        splits[split] = tmp_path / f"{split}.jsonl"
        splits[split].write_text(
            "".join(json.dumps({"text": t, "labels": y}) + "\n" for t, y in pairs)
        )
    names = {"card_arrival": "the card has not arrived", "refund": "asks for a refund"}
    registry.datasets.datasets["named_sets"] = DatasetInfo("named_sets", splits, label_names=names)
    registry.learners["names_recording"] = NameRecording
    registry.learner_plugin["names_recording"] = "tests"
    try:
        NameRecording.seen = []
        setting = MultiLabelSetting("named_sets:train", "named_sets:test", shots=1, seeds=1)
        [result] = Evaluator(registry, encoder, progress=False).run(
            [setting], [LearnerSpec("names_recording")]
        )
        assert result.outcomes[0].record["status"] == "ok", result.outcomes[0].record
        assert NameRecording.seen == [names]
    finally:
        del registry.datasets.datasets["named_sets"]
        registry.learners.pop("names_recording")
        registry.learner_plugin.pop("names_recording")
    NameRecording.seen = []
    texts, sets = [t for t, _ in rows["train"]], [y for _, y in rows["train"]]
    FewShotClassifier(NameRecording()).fit(texts, sets, label_names={"refund": "r"})
    FewShotClassifier(NameRecording()).fit(texts, sets)
    assert NameRecording.seen == [{"refund": "r"}, None]


def test_classifier_passes_names_only_to_learners_that_use_them(encoder):
    NameRecording.seen = []
    texts, labels = ["where is my card", "refund me"], ["card_arrival", "refund"]
    FewShotClassifier(NameRecording(), reject=None).fit(texts, labels, label_names={"refund": "r"})
    FewShotClassifier(NameRecording(), reject=None).fit(texts, labels)
    assert NameRecording.seen == [{"refund": "r"}, None]
    # reject="auto" calibrates on folds fitted as the model is: with the names
    NameRecording.seen = []
    texts, labels = texts * 2, labels * 2
    FewShotClassifier(NameRecording(), reject="auto").fit(
        texts, labels, label_names={"refund": "r"}
    )
    assert NameRecording.seen == [{"refund": "r"}] * 3
    # a learner without uses_label_names is fitted as before
    FewShotClassifier("logreg").fit(texts, labels, label_names={"refund": "r"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a JSON file"),
        ('["card_arrival"]', "expected a JSON object of labels and their names"),
        ('{"card_arrival": ""}', "label 'card_arrival': expected a non-empty name"),
    ],
)
def test_adapt_refuses_a_bad_label_names_file(tmp_path, content, message):
    names = tmp_path / "names.json"
    names.write_text(content)
    args = ["adapt", "--train", "banking77:train_5", "--learner", "finetune"]
    result = run_fewshot(*args, "--label-names", str(names), "--out", str(tmp_path / "m"))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert f"{names}: {message}" in line
    assert not (tmp_path / "m").exists()


def test_adapt_refuses_label_names_for_a_learner_without_them(tmp_path):
    names = tmp_path / "names.json"
    names.write_text('{"card_arrival": "my card has not arrived"}')
    args = ["adapt", "--train", "banking77:train_5", "--learner", "logreg"]
    result = run_fewshot(*args, "--label-names", str(names), "--out", str(tmp_path / "m"))
    assert result.returncode == 2
    assert "learner 'logreg' does not use label names (--label-names)" in result.stderr
    assert not (tmp_path / "m").exists()
