"""FewShotClassifier: a scikit-learn estimator on raw texts, models that travel, encoders and
models from a Hugging Face hub cache, class weights."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import fewshot
from fewshot import FewShotClassifier
from fewshot.errors import ConfigError, DataError
from tests.conftest import ROOT, run_fewshot


@pytest.fixture(scope="module")
def banking(registry):
    train, test = (
        registry.datasets.load("banking77:train_5"),
        registry.datasets.load("banking77:test"),
    )
    return list(train.texts), list(train.labels), list(test.texts[:600]), test.label_array[:600]


def test_the_readme_quickstart_runs_verbatim(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    start = readme.index("From Python:")
    code = readme[
        readme.index("```python\n", start) + len("```python\n") : readme.index("```\n", start + 20)
    ]
    assert len([line for line in code.splitlines() if line.strip()]) <= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert list(namespace["predictions"]) == ["card", "billing"]
    assert (tmp_path / "models" / "m" / "fewshot.json").is_file()


def test_fit_predict_and_the_estimator_contract(banking):
    texts, labels, test_texts, test_labels = banking
    classifier = FewShotClassifier("logreg", C=10)
    assert classifier.fit(texts, labels) is classifier
    assert list(classifier.classes_) == sorted(set(labels))
    proba = classifier.predict_proba(test_texts)
    assert proba.shape == (600, 77) and np.allclose(proba.sum(axis=1), 1)
    accuracy = (classifier.predict(test_texts) == test_labels).mean()
    assert accuracy > 0.78  # the full-way 5-shot logreg of the README: 0.808 on all 3,080
    params = classifier.get_params()
    assert params["C"] == 10 and params["learner"] == "logreg" and params["max_iter"] == 1000
    twin = clone(classifier)
    assert twin.get_params() == params and not hasattr(twin, "learner_")
    assert classifier.set_params(C=1.0).C == 1.0
    assert classifier.set_params(learner__C=3.0).C == 3.0  # the nested name works too
    with pytest.raises(ValueError, match="invalid parameter 'n_neighbors'"):
        classifier.set_params(n_neighbors=3)
    with pytest.raises(ConfigError, match="logreg: C must be a finite number > 0, got -1"):
        FewShotClassifier("logreg", C=-1).fit(texts, labels)
    with pytest.raises(DataError, match="single string"):
        classifier.predict("one text, not a list")
    with pytest.raises(fewshot.NotFittedError):
        FewShotClassifier().predict(["x"])


@pytest.mark.integration
def test_grid_search_cross_validation_and_a_pipeline_on_raw_texts(banking):
    texts, labels, _, _ = banking
    search = GridSearchCV(FewShotClassifier("logreg"), {"C": [0.1, 10.0]}, cv=3)
    search.fit(texts, labels)
    assert search.best_params_ == {"C": 10.0}  # the default the README reports, chosen on valid
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] and scores[1] > 0.6
    pipeline = make_pipeline(
        FunctionTransformer(lambda xs: [x.lower() for x in xs]), FewShotClassifier("knn")
    )
    assert cross_val_score(pipeline, texts, labels, cv=3).mean() > 0.5


def test_a_learner_instance_and_its_nested_parameters(banking, registry):
    texts, labels, test_texts, test_labels = banking
    learner = registry.make_learner("knn")
    search = GridSearchCV(FewShotClassifier(learner), {"learner__n_neighbors": [1, 5]}, cv=3)
    search.fit(texts, labels)
    assert set(search.best_params_) == {"learner__n_neighbors"}
    assert (search.predict(test_texts) == test_labels).mean() > 0.6


def test_integer_labels_stay_integers_through_save_and_load(tmp_path, banking):
    texts, _, test_texts, _ = banking
    y = np.array([i % 3 for i in range(len(texts))])
    classifier = FewShotClassifier("protonet").fit(texts, y)
    assert classifier.classes_.tolist() == [0, 1, 2]
    classifier.save(tmp_path / "m")
    loaded = FewShotClassifier.load(tmp_path / "m")
    assert loaded.classes_.tolist() == [0, 1, 2]
    assert (loaded.predict(test_texts) == classifier.predict(test_texts)).all()
    # Loaded means ready to fit again, too.
    assert loaded.fit(texts[:60], y[:60]).n_training_texts_ == 60


@pytest.mark.integration
def test_a_finetuned_model_travels(tmp_path):
    """The issue's check: adapt finetune, copy the directory, delete the original, load the
    copy: identical predictions."""
    original = tmp_path / "original"
    result = run_fewshot(
        "adapt", "--train", "banking77:train_5", "--learner", "finetune:epochs=1",
        "--test", "banking77:valid", "--out", str(original),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "accuracy on banking77:valid" in result.stderr
    texts = ["I lost my card", "where is my money", "my top up failed twice"]
    before = FewShotClassifier.load(original).predict_proba(texts)
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    after = FewShotClassifier.load(copy)
    np.testing.assert_array_equal(after.predict_proba(texts), before)
    card = (copy / "README.md").read_text()
    assert card.startswith("---\n") and "learner: finetune" in card and "accuracy:" in card
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in card
    config = json.loads((copy / "fewshot.json").read_text())
    assert "README.md" in config["files"] and str(tmp_path) not in json.dumps(config)


def _hub_cache_layout(hub: Path, repo_id: str, source: Path) -> Path:
    """A Hugging Face hub cache entry for ``repo_id`` holding ``source``'s files, laid out as
    huggingface_hub lays out downloads: blobs by hash, a snapshot of links, refs/main."""
    import hashlib

    repo = hub / f"models--{repo_id.replace('/', '--')}"
    revision = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / revision
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        blob = repo / "blobs" / digest
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, blob)
        link = snapshot / path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


@pytest.fixture(scope="module")
def hub_home(tmp_path_factory):
    """HF_HOME with a hub cache holding the bundled MiniLM as "acme/support-minilm"."""
    from fewshot.encoding.encoders import default_model_path

    home = tmp_path_factory.mktemp("hf-home")
    _hub_cache_layout(home / "hub", "acme/support-minilm", default_model_path())
    return home


@pytest.mark.integration
def test_an_encoder_by_hub_id_from_the_local_cache(hub_home, tmp_path):
    env = {"HF_HOME": str(hub_home), "HF_HUB_OFFLINE": "1"}
    model = tmp_path / "model"
    # In a fresh process: huggingface_hub reads HF_HOME once, when it is imported.
    result = run_fewshot(
        "adapt", "--train", "banking77:train_5", "--learner", "logreg",
        "--encoder", "acme/support-minilm", "--out", str(model), env=env, process=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = json.loads((model / "fewshot.json").read_text())
    assert config["encoder"]["name"] == "acme/support-minilm"
    assert config["encoder"]["directory"] == "encoder"  # copied in: the model travels
    assert not any(p.is_symlink() for p in model.rglob("*"))
    # The same weights as the bundled encoder, so the same predictions.
    bundled = tmp_path / "bundled"
    run_fewshot(
        "adapt", "--train", "banking77:train_5", "--learner", "logreg", "--out", str(bundled)
    )
    texts = ["I lost my card", "how do I top up"]
    assert list(fewshot.load(model).predict(texts)) == list(fewshot.load(bundled).predict(texts))
    missing = run_fewshot(
        "adapt", "--train", "banking77:train_5", "--learner", "logreg",
        "--encoder", "acme/not-downloaded", "--out", str(tmp_path / "no"), env=env, process=True,
    )  # fmt: skip
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "encoder 'acme/not-downloaded' is not in the local Hugging Face cache" in missing.stderr


@pytest.mark.integration
def test_from_pretrained_reads_a_model_from_the_hub_cache(tmp_path, banking, monkeypatch):
    texts, labels, test_texts, _ = banking
    classifier = FewShotClassifier("logreg").fit(texts, labels)
    classifier.save_pretrained(tmp_path / "saved")
    home = tmp_path / "hf-home"
    snapshot = _hub_cache_layout(home / "hub", "acme/tickets", tmp_path / "saved")
    code = (
        "from fewshot import FewShotClassifier\n"
        "import json, sys\n"
        "model = FewShotClassifier.from_pretrained('acme/tickets')\n"
        f"print(json.dumps(list(model.predict({test_texts[:50]!r}))))\n"
    )
    env = dict(os.environ, HF_HOME=str(home), HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == list(classifier.predict(test_texts[:50]))
    # The snapshot's links lead to its blobs; a link anywhere else is still refused.
    (snapshot / "fewshot.json").unlink()
    (snapshot / "fewshot.json").symlink_to(tmp_path / "saved" / "fewshot.json")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "missing fewshot.json" in result.stderr


def test_class_weight_balanced_lifts_a_rare_class(registry):
    """Thirty texts of one intent against three of another: balanced weights predict the rare
    intent more often on its own test texts."""
    train = registry.datasets.load("banking77:train")
    test = registry.datasets.load("banking77:test")
    common, rare = "card_arrival", "card_linking"
    texts = [t for t, y in zip(train.texts, train.labels, strict=True) if y == common][:30]
    texts += [t for t, y in zip(train.texts, train.labels, strict=True) if y == rare][:3]
    labels = [common] * 30 + [rare] * 3
    rare_tests = [t for t, y in zip(test.texts, test.labels, strict=True) if y == rare]
    recall = {}
    for weight in (None, "balanced"):
        classifier = FewShotClassifier("logreg", C=1.0, class_weight=weight).fit(texts, labels)
        recall[weight] = (classifier.predict(rare_tests) == rare).mean()
    assert recall["balanced"] > recall[None] + 0.1, recall


def test_datasets_lists_examples_and_classes_per_split():
    result = run_fewshot("datasets")
    assert result.returncode == 0
    rows = [line for line in result.stdout.splitlines() if "train_5" in line]
    assert any("385" in row and "77" in row for row in rows), rows
    assert any("750" in row and "150" in row for row in rows), rows
