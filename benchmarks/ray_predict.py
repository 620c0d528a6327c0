"""Batch prediction on Ray Data against the single process, side by side in one run.

    python benchmarks/ray_predict.py MODEL_DIR [--workers 2] [--texts 13000]

Writes banking77's texts (the bundled train, then test split: 11,702, with ids) to a JSONL file, labels them with
`fewshot predict` (one process, its default threads) and with `fewshot predict --ray local
--workers N` (Ray actors of one CPU each), and prints each one's time, texts/s and the ratio,
and whether every label (and id, in order) is the same. Two figures per side: the whole
command (Python, torch and the model loaded; Ray started, for Ray) and the labelling alone (what
`fewshot predict` reports of itself is not timed, so the single process's labelling time is the
command's less a run on one text; Ray's is its manifest's `seconds`, from reading to the last
shard written).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from fewshot.data.catalogue import bundled_catalog


def run(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "fewshot", *args, "--no-progress"],
        capture_output=True,
        text=True,
        env=dict(os.environ, RAY_AUTH_MODE="disabled"),
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--texts", type=int, default=100_000)
    args = parser.parse_args()
    catalog = bundled_catalog()
    texts = [t for split in ("train", "test") for t in catalog.load(f"banking77:{split}").texts]
    texts = texts[: args.texts]
    with tempfile.TemporaryDirectory(prefix="fewshot-ray-bench-") as scratch:
        data = Path(scratch) / "texts.jsonl"
        with data.open("w", encoding="utf-8") as out:
            for i, text in enumerate(texts):
                out.write(json.dumps({"id": f"b{i}", "text": text}) + "\n")
        one = Path(scratch) / "one.jsonl"
        one.write_text(json.dumps({"id": "b0", "text": texts[0]}) + "\n", encoding="utf-8")
        run("predict", args.model, str(one), "--out", str(Path(scratch) / "warm.jsonl"))
        start_cost = run("predict", args.model, str(one), "--out", str(Path(scratch) / "1.jsonl"))
        single_out = Path(scratch) / "single.jsonl"
        single = run("predict", args.model, str(data), "--out", str(single_out))
        ray_out = Path(scratch) / "ray"
        on_ray = run(
            "predict", args.model, str(data), "--out", str(ray_out),
            "--ray", "local", "--workers", str(args.workers),
        )  # fmt: skip
        manifest = json.loads((ray_out / "manifest.json").read_text())
        rows = [json.loads(line) for line in single_out.read_text().splitlines()]
        shards = [pq.read_table(ray_out / s["file"]).to_pylist() for s in manifest["shards"]]
        ray_rows = [row for shard in shards for row in shard]
    same = [(r["id"], r["label"]) for r in rows] == [(r["id"], r["label"]) for r in ray_rows]
    worst = max(
        abs(a["probability"] - b["probability"]) for a, b in zip(rows, ray_rows, strict=True)
    )
    single_labelling = single - start_cost
    print(f"{len(texts)} texts, model {args.model}, {os.cpu_count()} CPUs")
    print(f"{'':28}{'command s':>10}{'texts/s':>9}{'labelling s':>13}{'texts/s':>9}")
    for name, whole, labelling in (
        ("fewshot predict", single, single_labelling),
        (f"--ray local --workers {args.workers}", on_ray, manifest["seconds"]),
    ):
        print(
            f"{name:28}{whole:10.1f}{len(texts) / whole:9.0f}{labelling:13.1f}"
            f"{len(texts) / labelling:9.0f}"
        )
    print(
        f"Ray / single, texts/s: command {single / on_ray:.2f}, "
        f"labelling {single_labelling / manifest['seconds']:.2f}"
    )
    print(f"identical ids and labels, in order: {same}; largest probability gap {worst:.2e}")


if __name__ == "__main__":
    main()
