"""fewshot's `finetune` learner side by side with SetFit, full-way K-shot, same base model.

Both start from the bundled all-MiniLM-L6-v2, train on `DATASET:train_K` and are scored on
`DATASET:test`, in one process, one after the other (never concurrently). Training time excludes
loading the model; prediction time is reported separately. The frozen `logreg` probe is the
baseline a fine-tuning method has to beat. Needs `pip install -e ".[bench]"` (setfit 1.2.0).

    python benchmarks/setfit_comparison.py --dataset banking77
    python benchmarks/setfit_comparison.py --dataset clinc150
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from fewshot.encoding.cache import EmbeddingCache
from fewshot.encoding.encoders import default_model_path
from fewshot.plugins.registry import load_registry


def run_setfit(train, test, args, scratch: str) -> dict:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(str(default_model_path()), local_files_only=True)
    arguments = TrainingArguments(
        batch_size=args.setfit_batch_size,
        num_epochs=1,
        num_iterations=args.setfit_iterations,
        seed=args.seed,
    )
    dataset = Dataset.from_dict({"text": list(train.texts), "label": list(train.labels)})
    trainer = Trainer(model=model, args=arguments, train_dataset=dataset)
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = np.asarray(model.predict(list(test.texts)), dtype=object)
    return {
        "accuracy": float(np.mean(predicted == test.label_array)),
        "train_seconds": train_seconds,
        "predict_seconds": time.perf_counter() - start,
    }


def run_fewshot(registry, learner_name, params, X_train, y_train, X_test, y_test) -> dict:
    learner = registry.make_learner(learner_name, params)
    start = time.perf_counter()
    learner.fit(X_train, y_train)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = learner.predict(X_test)
    return {
        "accuracy": float(np.mean(predicted == y_test)),
        "train_seconds": train_seconds,
        "predict_seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="banking77")
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--setfit-iterations", type=int, default=20)
    parser.add_argument("--setfit-batch-size", type=int, default=32)
    parser.add_argument("--skip-setfit", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    registry = load_registry()
    train = registry.datasets.load(f"{args.dataset}:train_{args.shots}")
    test = registry.datasets.load(f"{args.dataset}:test")
    encoder = registry.cached_encoder(
        "all-MiniLM-L6-v2", device="cpu", cache=EmbeddingCache(), progress=False
    )
    rows = {
        "logreg (frozen)": run_fewshot(
            registry,
            "logreg",
            {},
            encoder.encode(train.texts),
            train.label_array,
            encoder.encode(test.texts),
            test.label_array,
        ),
        "fewshot finetune": run_fewshot(
            registry,
            "finetune",
            {"random_state": args.seed},
            train.text_array,
            train.label_array,
            test.text_array,
            test.label_array,
        ),
    }
    if not args.skip_setfit:
        with tempfile.TemporaryDirectory() as scratch:
            rows["SetFit 1.2.0"] = run_setfit(train, test, args, scratch)

    print(
        f"\n{args.dataset} full-way {args.shots}-shot: {len(train)} training texts, {len(test)} test texts"
    )
    print(f"{'method':<18} {'accuracy':>9} {'train s':>9} {'predict s':>10}")
    for name, row in rows.items():
        print(
            f"{name:<18} {row['accuracy']:>9.4f} {row['train_seconds']:>9.1f} {row['predict_seconds']:>10.1f}"
        )
    if "SetFit 1.2.0" in rows:
        ours, theirs = rows["fewshot finetune"], rows["SetFit 1.2.0"]
        print(f"accuracy finetune - SetFit: {ours['accuracy'] - theirs['accuracy']:+.4f}")
        print(
            f"training time ratio finetune/SetFit: {ours['train_seconds'] / theirs['train_seconds']:.3f} (target <= 0.333)"
        )
    print(
        f"accuracy finetune - frozen logreg: {rows['fewshot finetune']['accuracy'] - rows['logreg (frozen)']['accuracy']:+.4f}"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"dataset": args.dataset, "shots": args.shots, "rows": rows}, handle, indent=2
            )


if __name__ == "__main__":
    main()
