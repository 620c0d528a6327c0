"""Model directories: save, load, predict; damage and tampering are caught; saving is atomic."""

import json
import pickle
import shutil

import numpy as np
import pytest

import fewshot
from fewshot.models.classifier import load
from fewshot.models.saving import ModelError, save_model
from tests.conftest import FIXTURES, run_fewshot


@pytest.fixture(scope="module")
def banking(registry):
    return registry.datasets.load("banking77:train_5"), registry.datasets.load("banking77:test")


@pytest.fixture(scope="module")
def saved_logreg(tmp_path_factory, banking):
    out = tmp_path_factory.mktemp("models") / "logreg"
    result = run_fewshot(
        "adapt", "--train", "banking77:train_5", "--learner", "logreg", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("name", ["protonet", "logreg", "knn"])
def test_saved_learner_predicts_exactly_like_the_fitted_one(
    tmp_path, registry, encoder, banking, name
):
    train, test = banking
    learner = registry.make_learner(name).fit(encoder.encode(train.texts), train.label_array)
    save_model(
        learner,
        tmp_path / name,
        encoder={"name": "all-MiniLM-L6-v2", "identity": encoder.identity},
        training={},
    )
    model = fewshot.load(tmp_path / name)
    X = encoder.encode(test.texts[:200])
    # The restored learner is the same function, bit for bit ...
    np.testing.assert_array_equal(model.learner_.predict_proba(X), learner.predict_proba(X))
    # ... and texts in, labels out agree (the model encodes afresh: floats may differ at 1e-7).
    assert list(model.predict(list(test.texts[:200]))) == list(learner.predict(X))
    assert model.labels == list(learner.classes_)


def test_model_directory_contents(saved_logreg):
    config = json.loads((saved_logreg / "fewshot.json").read_text())
    assert config["format"] == "fewshot-model" and config["learner"] == "logreg"
    assert config["params"] == {"C": 10.0, "max_iter": 1000, "class_weight": None}
    assert len(config["labels"]) == 77
    assert config["encoder"]["name"] == "all-MiniLM-L6-v2"
    assert (
        config["training_data"]["examples"] == 385
        and len(config["training_data"]["fingerprint"]) == 64
    )
    assert set(config["files"]) == {"state.safetensors", "README.md"}  # the model card
    assert sorted(p.name for p in saved_logreg.iterdir()) == [
        "README.md",
        "fewshot.json",
        "state.safetensors",
    ]


def test_predict_cli_reproduces_the_benchmark(saved_logreg, tmp_path):
    out = tmp_path / "pred.jsonl"
    result = run_fewshot(
        "predict", str(saved_logreg), "banking77:test", "--out", str(out), "--top-k", "3"
    )
    assert result.returncode == 0, result.stderr
    assert (
        "accuracy on the labelled inputs: 0.8081" in result.stderr
    )  # = fewshot bench's full-way logreg
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3080
    assert set(rows[0]) == {"text", "label", "probability", "top_k", "gold_label"}
    assert rows[0]["label"] == rows[0]["top_k"][0]["label"] and len(rows[0]["top_k"]) == 3
    assert rows[0]["top_k"][0]["probability"] >= rows[0]["top_k"][1]["probability"]


def test_predict_text_and_csv_files(saved_logreg, tmp_path):
    (tmp_path / "in.txt").write_text("I lost my card\n\nhow do I top up my account?\n")
    result = run_fewshot(
        "predict", str(saved_logreg), str(tmp_path / "in.txt"), "--out", str(tmp_path / "o.csv")
    )
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "o.csv").read_text().splitlines()
    assert lines[0] == "text,label,probability" and len(lines) == 3
    assert lines[1].startswith("I lost my card,lost_or_stolen_card,")


def damage(directory, how):
    state = directory / "state.safetensors"
    if how == "missing":
        state.unlink()
    elif how == "truncated":
        state.write_bytes(state.read_bytes()[:100])
    elif how == "tampered":
        data = bytearray(state.read_bytes())
        data[-1] ^= 0xFF
        state.write_bytes(bytes(data))
    elif how == "no-config":
        (directory / "fewshot.json").unlink()
    elif how == "bad-json":
        (directory / "fewshot.json").write_text('{"format": "fewshot-model", ')
    elif how == "newer":
        config = json.loads((directory / "fewshot.json").read_text())
        config.update(format_version=99, fewshot_version="9.0.0")
        (directory / "fewshot.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("missing", "state.safetensors: missing; the model directory is incomplete"),
        ("truncated", "state.safetensors: does not match the checksum"),
        ("tampered", "state.safetensors: does not match the checksum"),
        ("no-config", "missing fewshot.json; not a fewshot model directory"),
        ("bad-json", "fewshot.json: not valid JSON"),
        (
            "newer",
            "written by fewshot 9.0.0 in model format 99; this fewshot 0.1.0 reads format 2",
        ),
    ],
)
def test_damaged_model_directories_are_refused(saved_logreg, tmp_path, how, message):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(saved_logreg, copy)
    damage(copy, how)
    with pytest.raises(ModelError, match=message.replace("(", r"\(")):
        load(copy)
    result = run_fewshot("predict", str(copy), "banking77:test", "--out", str(tmp_path / "p.jsonl"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "p.jsonl").exists()


def test_missing_model_directory(tmp_path):
    result = run_fewshot(
        "predict", str(tmp_path / "nope"), "banking77:test", "--out", str(tmp_path / "p.jsonl")
    )
    assert result.returncode == 2 and "nope: no such model directory" in result.stderr


def test_interrupted_save_leaves_the_old_model_intact(
    tmp_path, registry, encoder, banking, monkeypatch
):
    train, _ = banking
    X = encoder.encode(train.texts)
    info = {"name": "all-MiniLM-L6-v2", "identity": encoder.identity}
    save_model(
        registry.make_learner("protonet").fit(X, train.label_array),
        tmp_path / "m",
        encoder=info,
        training={},
    )
    before = (tmp_path / "m" / "fewshot.json").read_text()

    import fewshot.models.saving

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C while the checksums were computed

    monkeypatch.setattr(fewshot.models.saving, "sha256_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_model(
            registry.make_learner("logreg").fit(X, train.label_array),
            tmp_path / "m",
            encoder=info,
            training={},
        )
    monkeypatch.undo()
    assert (tmp_path / "m" / "fewshot.json").read_text() == before
    assert load(tmp_path / "m").config["learner"] == "protonet"
    # no partial directory left behind; only the writer lock, which lives beside the model
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.fewshot-lock", "m"]


def test_refuses_to_overwrite_a_directory_that_is_not_a_model(tmp_path, registry, encoder, banking):
    train, _ = banking
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("precious")
    learner = registry.make_learner("protonet").fit(encoder.encode(train.texts), train.label_array)
    with pytest.raises(ModelError, match="exists and is not a fewshot model directory"):
        save_model(learner, tmp_path / "docs", encoder=None, training={})
    assert (tmp_path / "docs" / "notes.txt").read_text() == "precious"


def test_loading_never_unpickles(saved_logreg, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used while loading a model")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    assert load(saved_logreg).predict(["card not working"])


def test_adapt_rejects_inputs_the_learner_does_not_use(tmp_path):
    (tmp_path / "u.txt").write_text("some unlabelled text\n")
    result = run_fewshot(
        "adapt",
        "--train",
        "banking77:train_5",
        "--learner",
        "logreg",
        "--unlabeled",
        str(tmp_path / "u.txt"),
        "--out",
        str(tmp_path / "m"),
    )
    assert result.returncode == 2 and "learner 'logreg' does not use --unlabeled" in result.stderr
    assert not (tmp_path / "m").exists()


# Model directories saved by fewshot 0.1 (commit 1f50305, before the new layout), with what its
# `fewshot predict` printed for tests/fixtures/model-0.1/texts.txt. Made there with
#   fewshot adapt --train banking77:train_5 --learner logreg --out logreg
#   fewshot adapt --train FILE --learner logreg --out multilabel  (400 GoEmotions valid texts)
#   fewshot predict MODEL texts.txt --out MODEL.predictions.jsonl
MODELS_0_1 = FIXTURES / "model-0.1"


@pytest.mark.parametrize("name", ["logreg", "multilabel"])
def test_a_model_saved_by_fewshot_0_1_predicts_as_it_did(tmp_path, name):
    model = tmp_path / name
    shutil.copytree(MODELS_0_1 / name, model)  # loading must not need to write, but be sure
    out = tmp_path / "predictions.jsonl"
    result = run_fewshot("predict", str(model), str(MODELS_0_1 / "texts.txt"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    then = [json.loads(line) for line in (MODELS_0_1 / f"{name}.predictions.jsonl").open()]
    now = [json.loads(line) for line in out.open()]
    assert len(now) == len(then) == 40
    for old, new in zip(then, now, strict=True):
        assert new.keys() == old.keys()
        if "labels" in old:  # listed alphabetically then, most probable first now
            assert new["probabilities"] == sorted(new["probabilities"], reverse=True)
            assert sorted(new["labels"]) == old["labels"], old["text"]
            order = [old["labels"].index(label) for label in new["labels"]]
            old = {
                **old,
                "labels": [old["labels"][i] for i in order],
                "probabilities": [old["probabilities"][i] for i in order],
            }
        for key, value in old.items():
            if key in ("probability", "probabilities"):
                # The encoder's float sums may differ in the last bits between CPUs.
                np.testing.assert_allclose(new[key], value, atol=1e-4)
            else:
                assert new[key] == value, (key, old["text"])
    labels = load(model).predict([row["text"] for row in then])
    key = "labels" if name == "multilabel" else "label"
    assert [list(x) if key == "labels" else x for x in labels] == [row[key] for row in then]
