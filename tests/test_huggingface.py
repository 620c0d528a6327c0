"""Hugging Face datasets in: ``hf:NAME[:CONFIG]:SPLIT`` from a datasets cache this test builds
offline from bundled data (as ``load_dataset`` once online would leave it), ``save_to_disk``
directories, and ``datasets.Dataset`` objects given to the classifier and the evaluator."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fewshot.data.catalogue import Columns
from fewshot.errors import ConfigError, DataError
from tests.conftest import bundled_rows, run_fewshot

pytestmark = pytest.mark.hf


def _hf():
    import datasets

    return datasets


def _banking(split: str):
    """A bundled banking77 split as a Dataset whose label is a ClassLabel, as on the Hub."""
    hf = _hf()
    rows = bundled_rows("banking77", split)
    names = sorted({row["label"] for row in bundled_rows("banking77", "test")})
    features = hf.Features({"text": hf.Value("string"), "label": hf.ClassLabel(names=names)})
    return hf.Dataset.from_dict(
        {"text": [r["text"] for r in rows], "label": [names.index(r["label"]) for r in rows]},
        features=features,
    )


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    """A datasets cache holding "banking77" (train = train_5, test), as a first online
    ``load_dataset("banking77")`` leaves it: the repository's parquet files, loaded once."""
    hf = _hf()
    root = tmp_path_factory.mktemp("hf")
    repo = root / "repo" / "banking77" / "data"
    repo.mkdir(parents=True)
    for split, bundled in (("train", "train_5"), ("test", "test")):
        _banking(bundled).to_parquet(repo / f"{split}-00000-of-00001.parquet")
    cache = root / "cache"
    hf.load_dataset(str(repo.parent), cache_dir=str(cache))
    return cache


@pytest.fixture
def in_cache(hub_cache, monkeypatch, tmp_path):
    """This process reads that cache, offline, from a directory without a "banking77" in it."""
    hf = _hf()
    monkeypatch.setattr(hf.config, "HF_DATASETS_CACHE", str(hub_cache))
    monkeypatch.setattr(hf.config, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    return hub_cache


@pytest.mark.integration
def test_bench_on_a_hf_dataset_matches_the_same_data_as_jsonl(in_cache, tmp_path):
    for split, bundled in (("train", "train_5"), ("test", "test")):
        with open(tmp_path / f"{split}.jsonl", "w", encoding="utf-8") as handle:
            for row in bundled_rows("banking77", bundled):
                handle.write(json.dumps(row) + "\n")
    records = {}
    for name, train, test in (
        ("hf", "hf:banking77:train", "hf:banking77:test"),
        ("jsonl", str(tmp_path / "train.jsonl"), str(tmp_path / "test.jsonl")),
    ):
        out = tmp_path / name
        args = ("bench", "--train", train, "--test", test, "--learner", "logreg")
        result = run_fewshot(*args, "--out", str(out))
        assert result.returncode == 0, result.stderr
        [records[name]] = json.loads((out / "results.json").read_text())
    assert records["hf"]["train"] == "hf:banking77:train"
    assert records["hf"]["accuracy"] == records["jsonl"]["accuracy"] >= 0.79
    assert records["hf"]["macro_f1"] == records["jsonl"]["macro_f1"]


def test_a_cached_dataset_has_its_classlabel_names_and_the_jsonl_fingerprint(in_cache, registry):
    data = registry.datasets.load("hf:banking77:train")
    same = registry.datasets.load("banking77:train_5")
    assert data.name == "hf:banking77:train" and "card_arrival" in data.classes
    assert data.texts == same.texts and data.labels == same.labels
    assert data.fingerprint == same.fingerprint
    sliced = registry.datasets.load("hf:banking77:test[:40]")
    assert len(sliced) == 40


def test_a_dataset_neither_cached_nor_reachable_is_one_line_and_exit_2(in_cache):
    result = run_fewshot(
        "bench", "--train", "hf:nobody/missing:train", "--test", "banking77:test",
        "--learner", "logreg", "--out", "out",
    )  # fmt: skip
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()[-1:]
    assert "hf:nobody/missing:train: 'nobody/missing' is not in the local datasets cache" in line
    assert "save_to_disk" in line


def test_unknown_split_config_and_a_malformed_spec(in_cache, registry):
    with pytest.raises(DataError, match=r"hf:banking77:valid: Unknown split \"valid\""):
        registry.datasets.load("hf:banking77:valid")
    with pytest.raises(ConfigError, match="expected hf:NAME:SPLIT or hf:NAME:CONFIG:SPLIT"):
        registry.datasets.load("hf:banking77")


def test_save_to_disk_directories(tmp_path, registry):
    hf = _hf()
    splits = hf.DatasetDict({"train": _banking("train_5"), "test": _banking("test")})
    splits.save_to_disk(str(tmp_path / "saved"))
    _banking("train_5").save_to_disk(str(tmp_path / "one"))
    same = registry.datasets.load("banking77:train_5")
    assert registry.datasets.load(str(tmp_path / "one")).fingerprint == same.fingerprint
    train = registry.datasets.load(f"hf:{tmp_path / 'saved'}:train")
    assert train.fingerprint == same.fingerprint and train.name.endswith("saved:train")
    assert (
        registry.datasets.load(str(tmp_path / "saved" / "test")).classes[0]
        == "Refund_not_showing_up"
    )
    with pytest.raises(DataError, match="holds the splits train, test .*saved/train"):
        registry.datasets.load(str(tmp_path / "saved"))
    with pytest.raises(DataError, match="no split 'valid'.*splits: train, test"):
        registry.datasets.load(f"hf:{tmp_path / 'saved'}:valid")


def test_columns_from_the_features_and_from_the_options():
    from fewshot.data.huggingface import from_hf_dataset

    hf = _hf()
    features = hf.Features(
        {
            "id": hf.Value("int64"),
            "sentence": hf.Value("string"),
            "intent": hf.ClassLabel(names=["bye", "hi"]),
        }
    )
    data = hf.Dataset.from_dict(
        {"id": [1, 2, 3], "sentence": ["hello", "see you", "hey"], "intent": [1, 0, 1]},
        features=features,
    )
    found = from_hf_dataset(data)
    assert found.texts == ("hello", "see you", "hey") and found.labels == ("hi", "bye", "hi")
    named = from_hf_dataset(data, Columns(text="sentence", label="id"), name="mine")
    assert named.labels == ("1", "2", "3") and named.name == "mine"
    two = data.add_column("note", ["a", "b", "c"])
    with pytest.raises(
        DataError, match="no column 'text' and no single text column.*--text-column"
    ):
        from_hf_dataset(two, name="two")


def test_hidden_labels_are_refused_naming_the_row():
    from fewshot.data.huggingface import from_hf_dataset

    hf = _hf()
    features = hf.Features({"text": hf.Value("string"), "label": hf.ClassLabel(names=["a", "b"])})
    data = hf.Dataset.from_dict({"text": ["x", "y"], "label": [0, -1]}, features=features)
    with pytest.raises(DataError, match=r"test: row 1 has no label in column 'label' \(-1\)"):
        from_hf_dataset(data, name="test")


def test_a_sequence_of_classlabels_is_multi_label():
    from fewshot.data.huggingface import from_hf_dataset

    hf = _hf()
    rows = bundled_rows("goemotions", "valid")[:200]
    names = sorted({label for row in rows for label in row["labels"]})
    features = hf.Features(
        {
            "text": hf.Value("string"),
            "labels": hf.Sequence(hf.ClassLabel(names=names)),
            "id": hf.Value("string"),
        }
    )
    data = hf.Dataset.from_dict(
        {
            "text": [r["text"] for r in rows],
            "labels": [[names.index(x) for x in r["labels"]] for r in rows],
            "id": [str(i) for i in range(len(rows))],
        },
        features=features,
    )
    found = from_hf_dataset(data, name="goemotions")
    assert found.is_multi_label
    assert found.label_sets == tuple(tuple(sorted(r["labels"])) for r in rows)


@pytest.mark.integration
def test_a_dataset_object_fits_the_classifier_and_feeds_the_evaluator(registry, encoder):
    from fewshot import FewShotClassifier
    from fewshot.evaluation import Evaluator, FullWaySetting, LearnerSpec

    train, test = _banking("train_5"), _banking("test")
    model = FewShotClassifier("logreg").fit(train)
    assert "card_arrival" in model.classes_
    predicted = model.predict(test["text"][:200])
    names = test.features["label"].names
    truth = [names[i] for i in test["label"][:200]]
    assert np.mean(np.asarray(predicted) == np.asarray(truth)) >= 0.75

    evaluator = Evaluator(
        registry, encoder, progress=False, data={"mine:train": train, "mine:test": test}
    )
    [result] = list(
        evaluator.run([FullWaySetting("mine:train", "mine:test")], [LearnerSpec("logreg")])
    )
    [outcome] = result.outcomes
    reference = Evaluator(registry, encoder, progress=False)
    [same] = list(
        reference.run(
            [FullWaySetting("banking77:train_5", "banking77:test")], [LearnerSpec("logreg")]
        )
    )
    assert outcome.record["train"] == "mine:train"
    assert outcome.record["accuracy"] == same.outcomes[0].record["accuracy"]
    with pytest.raises(ConfigError, match=r"data\['x:y'\] is list; expected LabeledTexts"):
        Evaluator(registry, encoder, data={"x:y": []})


def test_fit_without_labels_needs_a_dataset():
    from fewshot import FewShotClassifier

    with pytest.raises(ConfigError, match="fit needs y, the labels of X"):
        FewShotClassifier("logreg").fit(["a text"])
