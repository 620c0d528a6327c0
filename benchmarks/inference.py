"""Prediction with an adapted model: torch vs ONNX fp32 vs ONNX int8, each in a fresh process.

    python benchmarks/inference.py [--learners logreg,finetune] [--models DIR]

Adapts each learner on banking77:train_5 (kept in --models DIR, reused when there), exports it
(`fewshot export --onnx --quantize int8`), then for each backend starts a fresh Python process
that loads the model as `fewshot predict` and `fewshot serve` do (`fewshot.deploy.predictor.load_predictor`:
the ONNX bundle alone where it has a head) and predicts: one text first (cold start: from the
process's start to that first prediction, as the parent sees it), then the 3,080 banking77 test
texts, read from the bundled file, with the embedding cache off (throughput). Reports peak
resident memory, accuracy, agreement with torch's labels, and whether torch or scikit-learn
was imported; prints each ratio to torch. The children run one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BACKENDS = ("torch", "onnx-fp32", "onnx-int8")


def child(model: str, backend: str, out: str) -> None:
    """Runs in the fresh process: load, one prediction, then the whole test split."""
    import gzip
    import resource
    from importlib import resources

    from fewshot.deploy.predictor import load_predictor

    classifier = load_predictor(model, cache=False, backend=backend)
    classifier.predict(["how do I activate my new card?"])
    print("first", flush=True)  # the parent's clock stops here
    # the bundled file itself, not the dataset registry (which would load every plugin)
    path = resources.files("fewshot.data") / "bundled" / "banking77" / "test.jsonl.gz"
    with gzip.open(str(path), "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    texts, labels = [r["text"] for r in rows], [str(r["label"]) for r in rows]
    start = time.perf_counter()
    predicted = classifier.predict(texts)
    seconds = time.perf_counter() - start
    modules = sys.modules
    result = {
        "texts_per_second": len(texts) / seconds,
        "accuracy": sum(str(p) == y for p, y in zip(predicted, labels, strict=True)) / len(rows),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "predicted": [str(p) for p in predicted],
        "torch_imported": "torch" in modules,
        "sklearn_imported": "sklearn" in modules,
    }
    Path(out).write_text(json.dumps(result))


def measure(model: Path, backend: str, scratch: Path) -> dict:
    out = scratch / f"{model.name}-{backend}.json"
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", str(model), backend, str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "first", "the child failed before predicting"
    cold = time.perf_counter() - start
    process.communicate()
    if process.returncode:
        raise SystemExit(f"{model} with {backend} failed")
    return {"cold_start_s": cold, **json.loads(out.read_text())}


def prepare(learner: str, models: Path) -> Path:
    model = models / f"banking77-5shot-{learner}"
    if not (model / "onnx").is_dir():
        for argv in (
            ["adapt", "--train", "banking77:train_5", "--learner", learner, "--out", str(model)],
            ["export", str(model), "--onnx", "--quantize", "int8"],
        ):  # fmt: skip
            subprocess.run([sys.executable, "-m", "fewshot", *argv], check=True)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", default="logreg,finetune")
    parser.add_argument("--models", default="runs/inference-models")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    models = Path(args.models)
    scratch = models / "measurements"
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"{'model':<10} {'backend':<10} {'cold s':>7} {'texts/s':>8} {'x torch':>8} "
          f"{'peak MB':>8} {'accuracy':>9} {'agree':>7} {'torch?':>7} {'sklearn?':>8}")  # fmt: skip
    for learner in args.learners.split(","):
        model = prepare(learner, models)
        results = {backend: measure(model, backend, scratch) for backend in BACKENDS}
        torch_labels = results["torch"]["predicted"]
        for backend, r in results.items():
            agree = sum(a == b for a, b in zip(r["predicted"], torch_labels, strict=True))
            print(
                f"{learner:<10} {backend:<10} {r['cold_start_s']:>7.2f} "
                f"{r['texts_per_second']:>8.0f} "
                f"{r['texts_per_second'] / results['torch']['texts_per_second']:>8.2f} "
                f"{r['peak_mb']:>8.0f} {r['accuracy']:>9.4f} {agree / len(torch_labels):>7.2%} "
                f"{'yes' if r['torch_imported'] else 'no':>7} "
                f"{'yes' if r['sklearn_imported'] else 'no':>8}"
            )


if __name__ == "__main__":
    main()
