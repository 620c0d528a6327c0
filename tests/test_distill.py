"""``fewshot distill --student static``: a real teacher (logreg on the bundled MiniLM, banking77
5-shot), a real model2vec distillation and training on banking77's train texts, then predictions
in a fresh process that imports neither torch nor onnxruntime."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, run_fewshot

pytestmark = [pytest.mark.distill, pytest.mark.integration]

#: `fewshot predict` in a fresh process, then which heavy modules it imported.
NUMPY_ALONE = """
import sys
from fewshot.cli import main
status = main(sys.argv[1:])
heavy = ("torch", "onnxruntime", "sentence_transformers", "transformers", "sklearn", "scipy")
print("IMPORTED", *[m for m in heavy if m in sys.modules], file=sys.stderr)
sys.exit(status)
"""


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    out = tmp_path_factory.mktemp("distill") / "teacher"
    result = run_fewshot(
        "adapt", "--train", "banking77:train_5", "--learner", "logreg", "--test",
        "banking77:test", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def student(teacher):
    out = teacher.parent / "student"
    result = run_fewshot(
        "distill", str(teacher), "--student", "static", "--unlabeled", "banking77:train",
        "--out", str(out), "--test", "banking77:test",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, result.stderr


def test_distill_then_predict_prints_the_accuracy_with_numpy_alone(student, tmp_path):
    model, said = student
    assert re.search(
        r"saved a static student of .*teacher .*accuracy on banking77:test: 0\.\d{4}", said
    )
    result = subprocess.run(
        [sys.executable, "-c", NUMPY_ALONE, "predict", str(model), "banking77:test", "--out",
         str(tmp_path / "p.jsonl")],
        capture_output=True, text=True, env=dict(os.environ, COLUMNS="200"), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    accuracy = float(re.search(r"accuracy on the labelled inputs: (0\.\d+)", result.stderr)[1])
    # the teacher scores 0.808; model2vec's token vectors alone, under a logistic probe, 0.696
    assert accuracy >= 0.75
    assert result.stderr.split("IMPORTED")[1].split() == []
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 3080 and 0 < rows[0]["probability"] <= 1


def test_the_student_is_a_closed_model_directory_with_a_card(student, teacher):
    from fewshot.compression.student import fingerprint
    from fewshot.models.directory import read_config, sha256_file, verify

    model, _ = student
    config = read_config(model)
    verify(model, config)
    info = config["student"]
    assert info["kind"] == "static" and info["teacher"]["learner"] == "logreg"
    assert info["teacher"]["fewshot_json_sha256"] == sha256_file(teacher / "fewshot.json")
    assert info["held_out"]["agreement"] >= 0.85
    assert info["pool"]["texts"] > 8000 and len(info["pool"]["sha256"]) == 64
    assert fingerprint(["b", "a"]) == fingerprint(["a", "b"]) != fingerprint(["a", "c"])
    assert (model / "static" / "embeddings.safetensors").stat().st_size <= 32 * 2**20
    card = (model / "README.md").read_text()
    for fact in ("teacher", info["pool"]["sha256"], f"{info['test']['accuracy']:.4f}"):
        assert fact in card


def test_the_student_loads_like_any_model(student):
    import fewshot
    from fewshot.models.directory import ModelError

    model, _ = student
    classifier = fewshot.load(model)
    assert classifier.predict(["my card has still not arrived"])[0] == "card_arrival"
    labels, proba, scores = classifier.predict_with_scores(["how do I top up?", "refund please"])
    assert len(labels) == 2
    assert proba.shape == (2, 77) and np.allclose(proba.sum(1), 1) and scores is None
    assert fewshot.load_predictor(model).labels == classifier.labels
    with pytest.raises(ModelError, match="a student .*load it with fewshot.load"):
        fewshot.FewShotClassifier.load(model)


def test_a_tampered_student_is_refused(student, tmp_path):
    from fewshot.deploy.predictor import load_predictor
    from fewshot.models.directory import ModelError

    model, _ = student
    changed = tmp_path / "changed"
    shutil.copytree(model, changed)
    vectors = changed / "static" / "embeddings.safetensors"
    data = bytearray(vectors.read_bytes())
    data[-1] ^= 1
    vectors.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match the checksum"):
        load_predictor(changed)
    added = tmp_path / "added"
    shutil.copytree(model, added)
    (added / "static" / "extra.json").write_text("{}")
    result = run_fewshot(
        "predict", str(added), "banking77:test", "--out", str(tmp_path / "p.jsonl")
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "not listed in fewshot.json" in result.stderr
    assert not (tmp_path / "p.jsonl").exists()


def test_distill_refuses_what_it_cannot_do_in_one_line(teacher, student, tmp_path):
    cases = [
        (["--student", "layers:9"], "N is the number of layers kept, from 1 to 5"),
        (["--student", "tiny"], "expected static or layers:N"),
        (["--student", "static", "--unlabeled", "banking77:test"], "the teacher's test data"),
    ]
    for options, message in cases:
        result = run_fewshot("distill", str(teacher), *options, "--out", str(tmp_path / "s"))
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert result.stderr.strip().count("\n") == 0
    result = run_fewshot(
        "distill", str(student[0]), "--student", "static", "--out", str(tmp_path / "s")
    )
    assert result.returncode == 2 and "already a student" in result.stderr
    knn = tmp_path / "knn"
    assert (
        run_fewshot(
            "adapt", "--train", "banking77:train_5", "--learner", "knn", "--out", str(knn)
        ).returncode
        == 0
    )
    result = run_fewshot("distill", str(knn), "--student", "static", "--out", str(tmp_path / "s"))
    assert result.returncode == 2 and "does not predict through a linear head" in result.stderr
    assert not (tmp_path / "s").exists()


def _install(venv, requirement) -> float:
    """pip-install ``requirement`` into ``venv`` (made without pip: the size is the runtime's);
    returns the venv's size in MiB."""
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--quiet", "--disable-pip-version-check", requirement],
        check=True, capture_output=True,
    )  # fmt: skip
    files = (p for p in venv.rglob("*") if p.is_file() and not p.is_symlink())
    return sum(p.stat().st_size for p in files) / 2**20


def _same_predictions(runtime, model, tmp_path) -> None:
    mine, theirs = tmp_path / f"{model.name}-runtime.jsonl", tmp_path / f"{model.name}.jsonl"
    result = subprocess.run(
        [str(runtime), "predict", str(model), "banking77:test", "--out", str(mine), "--no-cache"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "accuracy on the labelled inputs" in result.stderr
    full = run_fewshot("predict", str(model), "banking77:test", "--out", str(theirs), "--no-cache")
    assert full.returncode == 0, full.stderr
    assert mine.read_text() == theirs.read_text()


@pytest.mark.onnx
@pytest.mark.slow
def test_the_runtime_install_predicts_without_the_training_stack(teacher, student, tmp_path):
    """runtime/build.py's wheel in a fresh venv: it predicts with the static student (and, with
    its onnx extra, an ONNX bundle) as the full install does; a command that needs the
    training stack says what to install in one line."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("runtime_build", ROOT / "runtime" / "build.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    wheel = builder.build(tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    size = _install(venv, str(wheel))
    print(f"runtime venv: {size:.1f} MiB")  # shown with -rA; quoted in docs/how-to/runtime.md
    assert size <= 150, f"the runtime venv takes {size:.1f} MiB"
    runtime = venv / "bin" / "fewshot"
    _same_predictions(runtime, student[0], tmp_path)
    onnx = tmp_path / "onnx"
    exported = run_fewshot(
        "export", str(teacher), "--onnx", "--quantize", "int8", "--out", str(onnx)
    )
    assert exported.returncode == 0, exported.stderr
    result = subprocess.run(
        [str(runtime), "predict", str(onnx), "banking77:test", "--out", str(tmp_path / "o.jsonl")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and "pip install 'fewshot-runtime[onnx]'" in result.stderr
    print(f"runtime venv with its onnx extra: {_install(venv, f'{wheel}[onnx]'):.1f} MiB")
    _same_predictions(runtime, onnx, tmp_path)
    for command in (
        [
            "adapt",
            "--train",
            "banking77:train_5",
            "--learner",
            "logreg",
            "--out",
            str(tmp_path / "m"),
        ],
        ["predict", str(teacher), "banking77:test", "--out", str(tmp_path / "t.jsonl")],
    ):
        result = subprocess.run(
            [str(runtime), *command], capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().count("\n") == 0 and "pip install fewshot" in result.stderr
    assert not (tmp_path / "m").exists() and not (tmp_path / "t.jsonl").exists()
