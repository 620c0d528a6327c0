"""``fewshot export --onnx``: real exports of real models, predictions through onnxruntime that
import neither torch nor sentence-transformers, proven equal to torch's."""

from __future__ import annotations

import gzip
import json
import sys
from importlib import resources

import numpy as np
import pytest

from fewshot.cli import main
from tests.conftest import run_fewshot

pytestmark = [pytest.mark.onnx, pytest.mark.integration]

#: Runs `fewshot predict` in a fresh process, then says which heavy modules it imported.
TORCH_FREE = """
import sys
from fewshot.cli import main
status = main(sys.argv[1:])
heavy = ("torch", "sentence_transformers", "transformers", "sklearn", "scipy")
print("IMPORTED", *[m for m in heavy if m in sys.modules], file=sys.stderr)
sys.exit(status)
"""
TORCH = {"torch", "sentence_transformers", "transformers"}


def predict(model, data, out, *options):
    """`fewshot predict` in a fresh process: its rows, and the heavy modules it imported."""
    result = run_fewshot_script(
        TORCH_FREE, "predict", str(model), data, "--out", str(out), "--no-cache", *options
    )
    assert result.returncode == 0, result.stderr
    imported = set(result.stderr.split("IMPORTED")[1].split())
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return rows, imported


def torch_rows(model, data, out, *options):
    """The rows of `fewshot predict --backend torch`, run in this process: the reference the
    bundle is compared with (what a fresh process imports is checked where it matters)."""
    result = run_fewshot(
        "predict", str(model), data, "--out", str(out), "--no-cache", "--backend", "torch", *options
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def run_fewshot_script(script, *args):
    import os
    import subprocess

    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, COLUMNS="200"),
        timeout=600,
    )


@pytest.fixture(scope="module")
def logreg_model(tmp_path_factory):
    model = tmp_path_factory.mktemp("onnx") / "logreg"
    assert (
        main(["adapt", "--train", "banking77:train_5", "--learner", "logreg", "--out", str(model)])
        == 0
    )
    before = json.loads((model / "fewshot.json").read_text())
    result = run_fewshot("export", str(model), "--onnx", "--quantize", "int8")
    assert result.returncode == 0, result.stderr
    assert "onnx fp32: 100.00% of 385 texts get torch's prediction" in result.stderr
    after = json.loads((model / "fewshot.json").read_text())
    assert set(after["files"]) - set(before["files"]) == {
        "onnx/encoder.onnx", "onnx/encoder-int8.onnx", "onnx/tokenizer.json",
        "onnx/head.safetensors",
    }  # fmt: skip
    return model


def test_export_lists_its_files_and_records_parity(logreg_model):
    config = json.loads((logreg_model / "fewshot.json").read_text())
    bundle = config["onnx"]
    assert bundle["default"] == "int8" and bundle["inputs"][0] == "input_ids"
    assert bundle["dimension"] == 384 and bundle["max_length"] == 256
    fp32, int8 = bundle["variants"]["fp32"]["parity"], bundle["variants"]["int8"]["parity"]
    assert fp32["agreement"] == 1.0 and fp32["max_probability_difference"] < 1e-5
    assert int8["agreement"] > 0.95 and int8["texts"] == 385
    assert bundle["head"] == {
        "file": "onnx/head.safetensors", "activation": "softmax", "normalize": False,
    }  # fmt: skip
    # A changed ONNX file (the head's too) is caught like any other file of the model.
    for name in ("tokenizer.json", "head.safetensors"):
        path = logreg_model / "onnx" / name
        original = path.read_bytes()
        path.write_bytes(original + b" ")
        try:
            result = run_fewshot("predict", str(logreg_model), "banking77:test", "--out", "-")
            assert result.returncode == 2
            assert f"{name}: does not match the checksum" in result.stderr, result.stderr
        finally:
            path.write_bytes(original)


def test_predict_without_torch_gives_torch_s_answers(logreg_model, tmp_path):
    subset = tmp_path / "subset.txt"
    subset.write_text("".join(f"{text}\n" for text in _banking_test_texts()[:500]))
    torch_predicted, torch_imported = predict(
        logreg_model, str(subset), tmp_path / "t.jsonl", "--backend", "torch"
    )
    fp32_rows, fp32_imported = predict(
        logreg_model, "banking77:test", tmp_path / "f.jsonl", "--backend", "onnx-fp32"
    )
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in _banking_test()))
    # all texts in one chunk, as benchmarks/inference.py runs them: int8 quantises activations
    # per run, so its accuracy moves with which texts share a run (0.8029-0.8068 measured over
    # batchings, fp32 0.8081; in the default 256-row chunks 0.8029)
    int8_rows, int8_imported = predict(
        logreg_model, str(test), tmp_path / "i.jsonl", "--batch-size", "4096"
    )
    # the bundle predicts alone: not even scikit-learn (or scipy) is imported, unless reading
    # a dataset by name (NAME:SPLIT) asks for the plugins
    assert TORCH <= torch_imported and not fp32_imported & TORCH and not int8_imported
    assert [r["label"] for r in fp32_rows[:500]] == [r["label"] for r in torch_predicted]
    assert (
        max(
            abs(a["probability"] - b["probability"])
            for a, b in zip(fp32_rows[:500], torch_predicted, strict=True)
        )
        < 1e-5
    )
    accuracy = {
        name: sum(r["label"] == r["gold_label"] for r in rows) / len(rows)
        for name, rows in (("fp32", fp32_rows), ("int8", int8_rows))
    }
    assert accuracy["fp32"] == pytest.approx(0.8081, abs=1e-4)  # torch's, in the README
    assert abs(accuracy["int8"] - accuracy["fp32"]) < 0.005  # int8 within half a point


def _banking_test() -> list[tuple[str, str]]:
    from fewshot.plugins.registry import load_registry

    test = load_registry().datasets.load("banking77:test")
    return list(zip(test.texts, test.labels, strict=True))


def _banking_test_texts() -> list[str]:
    return [text for text, _ in _banking_test()]


def test_the_python_loader_picks_the_bundle(logreg_model):
    from fewshot.deploy.onnx_model import OnnxClassifier
    from fewshot.deploy.predictor import load_predictor
    from fewshot.models.classifier import FewShotClassifier

    classifier = FewShotClassifier.load(logreg_model, cache=False)
    assert classifier._loaded_encoder.identity.startswith("onnx:int8:")
    assert (
        FewShotClassifier.load(logreg_model, cache=False, backend="onnx-fp32").predict(
            ["I still have not received my card"]
        )[0]
        == "card_arrival"
    )
    # the bundle alone gives what the whole classifier gives, variant for variant
    texts = _banking_test_texts()[:300]
    for backend in ("onnx-fp32", "onnx-int8"):
        whole = FewShotClassifier.load(logreg_model, cache=False, backend=backend)
        alone = load_predictor(logreg_model, backend=backend)
        assert isinstance(alone, OnnxClassifier) and alone.labels == whole.labels
        np.testing.assert_allclose(
            alone.predict_proba(texts), whole.predict_proba(texts), atol=1e-6
        )
        assert list(alone.predict(texts)) == list(whole.predict(texts))
    assert isinstance(load_predictor(logreg_model, backend="torch"), FewShotClassifier)
    import fewshot

    assert fewshot.load_predictor is load_predictor and fewshot.OnnxClassifier is OnnxClassifier


def test_runs_side_by_side_give_the_vectors_of_runs_one_by_one(logreg_model):
    from fewshot.deploy.predictor import load_predictor

    texts = _banking_test_texts()[:300]
    vectors = {}
    for backend in ("onnx-fp32", "onnx-int8"):
        encoder = load_predictor(logreg_model, backend=backend).encoder
        assert encoder.threads >= 1
        assert encoder.session.get_session_options().intra_op_num_threads == 1
        encoder.threads = 1
        one_by_one = encoder.encode(texts)
        encoder.threads = 3  # more runs at once than this machine has cores
        vectors[backend] = encoder.encode(texts)
        np.testing.assert_array_equal(vectors[backend], one_by_one)  # same runs, other timing
    # each text's vector is in its own row (fp32 hardly depends on the texts run beside it)
    alone = load_predictor(logreg_model, backend="onnx-fp32").encoder
    for i in (0, 150, 299):
        np.testing.assert_allclose(vectors["onnx-fp32"][i], alone.encode([texts[i]])[0], atol=1e-5)


def test_finetune_exports_its_tuned_encoder(tmp_path):
    from fewshot.plugins.registry import load_registry

    train = load_registry().datasets.load("banking77:train_5")
    keep = set(sorted(train.classes)[:10])  # 10 intents, 50 texts: a quick tuning
    rows = [
        {"text": t, "label": y} for t, y in zip(train.texts, train.labels, strict=True) if y in keep
    ]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = tmp_path / "finetune"
    result = run_fewshot(
        "adapt",
        "--train",
        str(tmp_path / "train.jsonl"),
        "--learner",
        "finetune:epochs=1",
        "--out",
        str(model),
    )
    assert result.returncode == 0, result.stderr
    result = run_fewshot("export", str(model))  # ONNX is the only format: --onnx may be left out
    assert result.returncode == 0, result.stderr
    assert "onnx fp32: 100.00% of 50 texts" in result.stderr
    subset = tmp_path / "subset.txt"
    subset.write_text("".join(f"{text}\n" for text in _banking_test_texts()[::6]))
    reference = torch_rows(model, str(subset), tmp_path / "t.jsonl")
    onnx_rows, imported = predict(model, str(subset), tmp_path / "o.jsonl")
    head = json.loads((model / "fewshot.json").read_text())["onnx"]["head"]
    assert head == {"file": "onnx/head.safetensors", "activation": "softmax", "normalize": True}
    assert not imported  # the tuned encoder's bundle and its head: neither torch nor sklearn
    assert [r["label"] for r in onnx_rows] == [r["label"] for r in reference]


def _goemotions(split: str, rows: int) -> list[dict]:
    path = resources.files("fewshot.data") / "bundled" / "goemotions" / f"{split}.jsonl.gz"
    with gzip.open(str(path), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle][:rows]


def test_rejection_and_multi_label_models_through_onnx(tmp_path):
    oos = tmp_path / "oos"
    assert (
        run_fewshot(
            "adapt",
            "--train",
            "clinc150:train_5",
            "--learner",
            "logreg",
            "--reject",
            "auto",
            "--out",
            str(oos),
        ).returncode
        == 0
    )
    assert run_fewshot("export", str(oos), "--onnx").returncode == 0
    reference = torch_rows(oos, "clinc150:oos_test", tmp_path / "t.jsonl")
    oos_texts = tmp_path / "oos.txt"
    oos_texts.write_text("".join(f"{r['text']}\n" for r in reference))
    onnx_rows, imported = predict(oos, str(oos_texts), tmp_path / "o.jsonl")
    # the bundle alone applies the out-of-scope rule too: no torch, no scikit-learn
    assert not imported, imported
    assert [r["label"] for r in onnx_rows] == [r["label"] for r in reference]
    alone = np.array([r["in_scope_score"] for r in onnx_rows])
    whole = np.array([r["in_scope_score"] for r in reference])
    assert np.abs(alone - whole).max() < 0.05 * np.abs(whole).max()
    assert sum(r["label"] == "oos" for r in onnx_rows) / len(onnx_rows) > 0.6
    # the readable fields too, from the same stored rule, without scikit-learn or scipy
    chance = np.array([r["in_scope_probability"] for r in onnx_rows])
    assert ((chance >= 0) & (chance <= 1)).all()
    np.testing.assert_allclose(chance, [r["in_scope_probability"] for r in reference], atol=0.05)
    assert [r["closest_label"] for r in onnx_rows] == [r["closest_label"] for r in reference]

    train = tmp_path / "train.jsonl"
    train.write_text("".join(
        json.dumps({"text": r["text"], "labels": r["labels"]}) + "\n" for r in _goemotions("valid", 1500)
    ))  # fmt: skip
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(r["text"].replace("\n", " ") + "\n" for r in _goemotions("test", 200)))
    # protonet's bundle predicts through the learner; logreg's one-vs-rest head goes alone
    for learner, alone in (("protonet", False), ("logreg", True)):
        multi = tmp_path / learner
        result = run_fewshot(
            "adapt", "--train", str(train), "--learner", learner, "--out", str(multi)
        )
        assert result.returncode == 0, result.stderr
        result = run_fewshot("export", str(multi), "--onnx")
        assert result.returncode == 0, result.stderr
        reference = torch_rows(multi, str(texts), tmp_path / "mt.jsonl")
        onnx_rows, imported = predict(multi, str(texts), tmp_path / "mo.jsonl")
        assert not imported & TORCH and ("sklearn" not in imported) == alone, imported
        assert all(isinstance(r["labels"], list) and r["labels"] for r in onnx_rows)
        assert [r["labels"] for r in onnx_rows] == [r["labels"] for r in reference]


def test_clear_errors(logreg_model, tmp_path, capsys):
    plain = tmp_path / "plain"
    assert (
        main(
            ["adapt", "--train", "banking77:train_5", "--learner", "protonet", "--out", str(plain)]
        )
        == 0
    )
    cases = [
        (["predict", str(plain), "banking77:test", "--backend", "onnx", "--out", "-"],
         "has no ONNX bundle; add one with `fewshot export"),
        (["export", str(tmp_path / "nothing"), "--onnx"], "nothing"),
        (["predict", str(logreg_model), "-", "--out", "-", "--backend", "onnx-int8", "--device", "cpu:0"],
         "--device 'cpu:0': expected 'cpu', 'cuda' or 'cuda:N'"),
    ]  # fmt: skip
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2
        stderr = capsys.readouterr().err
        assert message in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_commands_that_need_no_model_import_no_torch():
    script = (
        "import sys\nfrom fewshot.cli import main\n"
        "for argv in (['--help'], ['learners'], ['datasets'], ['export', '--help'], ['report', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print('IMPORTED', 'torch' in sys.modules, 'sentence_transformers' in sys.modules, file=sys.stderr)\n"
    )
    result = run_fewshot_script(script)
    assert "IMPORTED False False" in result.stderr, result.stderr
