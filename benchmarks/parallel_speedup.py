"""One benchmark run in this process and with N local worker processes: wall time and results.

Each run is a fresh `fewshot bench` process (start-up, model loading and all), into a fresh
directory; the accuracies must be identical. Printed: seconds, the speedup (one process /
N workers) and whether the results match.

Workloads (--workload):
- finetune: banking77 5-way 5-shot `finetune` episodes (8 by default), the issue's example of
  a fine-tuning-heavy benchmark;
- alignment: Amazon books -> kitchen, K = 8, `mmd` and `kl` on 10 seeds (small torch
  networks trained per task).
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORKLOADS = {
    "finetune": ["--dataset", "banking77:test", "--learner", "finetune", "--shots", "5"],
    "alignment": [
        "--source", "amazon_reviews:books", "--target", "amazon_reviews:kitchen",
        "--shots", "8", "--seeds", "10", "--learner", "mmd", "--learner", "kl",
    ],
}  # fmt: skip
TIMING = {"fit_seconds", "predict_seconds", "meta_train_seconds"}


def run(arguments: list[str], out: Path) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "fewshot", "bench", *arguments, "--no-progress", "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    records = json.loads((out / "results.json").read_text())
    return seconds, [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="finetune")
    parser.add_argument("--episodes", type=int, default=8, help="episodes (finetune workload)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    arguments = list(WORKLOADS[args.workload])
    if args.workload == "finetune":
        arguments += ["--episodes", str(args.episodes), "--seed", "0"]
    print(f"workload: fewshot bench {' '.join(arguments)}  ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as folder:
        # The embedding cache warmed first, so that neither timed run encodes anything.
        warm = [a for a in arguments if a not in ("finetune",)]
        if args.workload == "finetune":
            warm = [
                *warm[: warm.index("--learner") + 1],
                "protonet",
                *warm[warm.index("--learner") + 1 :],
            ]
        run(warm, Path(folder) / "warm")
        one, records_one = run(arguments, Path(folder) / "one")
        many, records_many = run(
            [*arguments, "--workers", str(args.workers)], Path(folder) / "many"
        )
    print(f"in one process: {one:.1f} s")
    print(f"{args.workers} worker processes: {many:.1f} s")
    print(f"speedup: {one / many:.2f}")
    for record in records_one:
        print(f"  {record['learner']}: accuracy {record['accuracy']}")
    print(f"identical results: {records_one == records_many}")


if __name__ == "__main__":
    main()
