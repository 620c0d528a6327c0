"""The compression ladder, side by side in one run: a fine-tuned teacher on torch, its ONNX fp32
and int8 exports, a layers:3 int8 student and a static student.

    python benchmarks/compression.py [--datasets banking77,clinc150,kitchen] [--models DIR]

For each dataset: `finetune` adapted full-way 5-shot (banking77 and clinc150: their train_5
split; kitchen: the Amazon kitchen reviews, split by seed 0 into 1,000 test texts and a pool of
1,000, 5 training texts per class drawn from the pool), exported (`fewshot export --onnx
--quantize int8`), then distilled twice (`fewshot distill --student layers:3` and `--student
static`) with the train split's texts (kitchen: its pool) as the unlabelled pool; everything
is kept in --models DIR and reused when there. Each rung then runs in a fresh Python process,
one at a time, loading as `fewshot predict` does (`fewshot.deploy.predictor.load_predictor`,
the embedding cache off): one text first (cold start: from the process's start to that first
prediction, as the parent sees it), then the whole test split (throughput, single process).
Reports accuracy, texts/s and its ratio to the teacher's int8 export, cold start, peak resident
memory, the bytes on disk of the files the rung reads, the distillation time, and whether torch
or onnxruntime was imported.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: rung -> (model directory suffix, backend)
RUNGS = {
    "teacher torch": ("teacher", "torch"),
    "onnx fp32": ("teacher-onnx", "onnx-fp32"),
    "onnx int8": ("teacher-onnx", "onnx-int8"),
    "layers:3 int8": ("layers3", "auto"),
    "static": ("static", "auto"),
}


def child(model: str, backend: str, test: str, out: str) -> None:
    """Runs in the fresh process: load, one prediction, then the whole test split."""
    import resource

    from fewshot.deploy.predictor import load_predictor

    classifier = load_predictor(model, cache=False, backend=backend)
    classifier.predict(["how do I activate my new card?"])
    print("first", flush=True)  # the parent's clock stops here
    with gzip.open(test, "rt", encoding="utf-8") as handle:  # no registry: it loads the plugins
        rows = [json.loads(line) for line in handle]
    texts, labels = [r["text"] for r in rows], [str(r["label"]) for r in rows]
    start = time.perf_counter()
    predicted = classifier.predict(texts)
    seconds = time.perf_counter() - start
    result = {
        "texts_per_second": len(texts) / seconds,
        "accuracy": sum(str(p) == y for p, y in zip(predicted, labels, strict=True)) / len(rows),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch": "torch" in sys.modules,
        "onnxruntime": "onnxruntime" in sys.modules,
    }
    Path(out).write_text(json.dumps(result))


def measure(model: Path, backend: str, test: Path, out: Path) -> dict:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", str(model), backend, str(test), str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "first", f"{model} failed before predicting"
    cold = time.perf_counter() - start
    process.communicate()
    if process.returncode:
        raise SystemExit(f"{model} with {backend} failed")
    return {"cold_start_s": cold, **json.loads(out.read_text())}


def bytes_read(model: Path, backend: str) -> int:
    """The bytes of the files a rung loads: all for torch; for ONNX, the bundle's variant, its
    tokenizer and head and the state; for a static student, its folder and the state."""
    config = json.loads((model / "fewshot.json").read_text())
    files = list(config["files"])
    if backend == "torch":
        used = [f for f in files if not f.startswith("onnx/")]
    elif "static" in config:
        used = [f for f in files if f.startswith("static/") or f == "state.safetensors"]
    else:
        variant = config["onnx"]["default"] if backend == "auto" else backend.split("-")[1]
        graph = config["onnx"]["variants"][variant]["file"]
        others = {v["file"] for v in config["onnx"]["variants"].values()} - {graph}
        used = [f for f in files if f.startswith("onnx/") and f not in others]
        used.append("state.safetensors")
    return sum((model / f).stat().st_size for f in used) + (model / "fewshot.json").stat().st_size


def fewshot(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", "fewshot", *argv], check=True)


def kitchen(models: Path) -> tuple[str, str, Path]:
    """The kitchen reviews split by seed 0: (train file, pool file, test file)."""
    from importlib import resources

    folder = models / "kitchen-data"
    if not (folder / "test.jsonl.gz").exists():
        folder.mkdir(parents=True, exist_ok=True)
        path = resources.files("fewshot.data") / "bundled" / "amazon_reviews" / "kitchen.jsonl.gz"
        with gzip.open(str(path), "rt", encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle]
        random.Random(0).shuffle(rows)
        test, pool = rows[:1000], rows[1000:]
        train = []
        for label in sorted({r["label"] for r in pool}):
            train += [r for r in pool if r["label"] == label][:5]
        for name, part in (("train", train), ("pool", pool), ("test", test)):
            with gzip.open(folder / f"{name}.jsonl.gz", "wt", encoding="utf-8") as handle:
                handle.writelines(json.dumps(r) + "\n" for r in part)
    return (str(folder / "train.jsonl.gz"), str(folder / "pool.jsonl.gz"),
            folder / "test.jsonl.gz")  # fmt: skip


def prepare(dataset: str, models: Path) -> tuple[dict[str, Path], Path, dict[str, float]]:
    """The ladder's model directories of ``dataset``, its test file, distillation seconds."""
    from importlib import resources

    if dataset == "kitchen":
        train, pool, test = kitchen(models)
    else:
        train, pool = f"{dataset}:train_5", f"{dataset}:train"
        test = Path(str(resources.files("fewshot.data") / "bundled" / dataset / "test.jsonl.gz"))
    base = models / dataset
    paths = {suffix: Path(f"{base}-{suffix}") for suffix, _ in RUNGS.values()}
    if not (paths["teacher"] / "fewshot.json").exists():
        fewshot("adapt", "--train", train, "--learner", "finetune", "--out", str(paths["teacher"]))
    if not (paths["teacher-onnx"] / "onnx").is_dir():
        fewshot("export", str(paths["teacher"]), "--onnx", "--quantize", "int8", "--out",
                str(paths["teacher-onnx"]))  # fmt: skip
    for suffix, student in (("layers3", "layers:3"), ("static", "static")):
        if not (paths[suffix] / "fewshot.json").exists():
            fewshot("distill", str(paths["teacher"]), "--student", student, "--unlabeled", pool,
                    "--out", str(paths[suffix]))  # fmt: skip
    seconds = {
        suffix: json.loads((paths[suffix] / "fewshot.json").read_text())["student"]["seconds"]
        for suffix in ("layers3", "static")
    }
    return paths, test, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="banking77,clinc150,kitchen")
    parser.add_argument("--models", default="runs/compression-models")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    models = Path(args.models)
    scratch = models / "measurements"
    scratch.mkdir(parents=True, exist_ok=True)
    header = (f"{'dataset':<10} {'rung':<14} {'accuracy':>8} {'texts/s':>8} {'x int8':>7} "
              f"{'cold s':>7} {'peak MB':>8} {'disk MB':>8} {'distil s':>9} {'torch':>6} {'ort':>4}")  # fmt: skip
    print(header, flush=True)
    for dataset in args.datasets.split(","):
        paths, test, seconds = prepare(dataset, models)
        results = {}
        for rung, (suffix, backend) in RUNGS.items():
            out = scratch / f"{dataset}-{suffix}-{backend}.json"
            results[rung] = measure(paths[suffix], backend, test, out)
            results[rung]["disk_mb"] = bytes_read(paths[suffix], backend) / 2**20
        int8 = results["onnx int8"]["texts_per_second"]
        distil = {"layers:3 int8": seconds["layers3"], "static": seconds["static"]}
        for rung, r in results.items():
            print(
                f"{dataset:<10} {rung:<14} {r['accuracy']:>8.4f} {r['texts_per_second']:>8.0f} "
                f"{r['texts_per_second'] / int8:>7.2f} {r['cold_start_s']:>7.2f} "
                f"{r['peak_mb']:>8.0f} {r['disk_mb']:>8.1f} "
                f"{distil.get(rung, ''):>9} "
                f"{'yes' if r['torch'] else 'no':>6} {'yes' if r['onnxruntime'] else 'no':>4}",
                flush=True,
            )


if __name__ == "__main__":
    main()
