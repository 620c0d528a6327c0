"""The cross-domain tables of docs/explanation/results.md, from a finished run of episodes/amazon-cross-domain.toml.

    fewshot bench episodes/amazon-cross-domain.toml --out runs/amazon
    python benchmarks/cross_domain_table.py runs/amazon

Prints, for each K, one row per (source, target) pair with every learner's mean accuracy over
the seeds ± the 95% CI, the average over pairs, and how each alignment learner compares with
source-only on the same tasks (paired, per pair).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

BASELINE = "source-only"


def short(name: str) -> str:
    return name.split(":")[-1][0].upper()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="the --out directory of the benchmark")
    args = parser.parse_args()
    records = json.loads((args.run / "results.json").read_text())
    comparisons = json.loads((args.run / "comparisons.json").read_text())
    learners = list(dict.fromkeys(r["learner"] for r in records))
    by_key = {(r["source"], r["target"], r["shots"], r["learner"]): r for r in records}
    paired = {}
    for c in comparisons:
        if c["learner_a"] == BASELINE:  # stored as A − B; flip to (learner − source-only)
            paired[(c["source"], c["target"], c["shots"], c["learner_b"])] = c
    for shots in sorted({r["shots"] for r in records}):
        pairs = sorted({(r["source"], r["target"]) for r in records if r["shots"] == shots})
        shown = [
            name
            for name in learners
            if by_key.get((*pairs[0], shots, name), {}).get("status") == "ok"
        ]
        aligned = [name for name in shown if name in ("mmd", "kl")]
        print(f"\nK = {shots} target labels per class, {records[0]['episodes']} seeds\n")
        header = ["pair", *shown] + [f"{name} − {BASELINE}" for name in aligned]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        totals = defaultdict(list)
        worst = defaultdict(lambda: 1.0)
        for source, target in pairs:
            cells = [f"{short(source)}→{short(target)}"]
            for name in shown:
                r = by_key[(source, target, shots, name)]
                totals[name].append(r["accuracy"])
                cells.append(f"{r['accuracy']:.3f} ± {r['ci95']:.3f}")
            for name in aligned:
                c = paired[(source, target, shots, name)]
                difference = -c["accuracy_difference"]
                worst[name] = min(worst[name], difference)
                cells.append(f"{difference:+.3f} ± {c['ci95']:.3f}")
            print("| " + " | ".join(cells) + " |")
        cells = ["**average**"] + [f"**{sum(v) / len(v):.3f}**" for v in (totals[n] for n in shown)]
        cells += [
            f"{sum(totals[n]) / len(pairs) - sum(totals[BASELINE]) / len(pairs):+.3f} (worst pair {worst[n]:+.3f})"
            for n in aligned
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
