"""Which parts of `finetune` pay: variants trained on `DATASET:train_K`, scored on a held-out
split (`valid` by default: choices are made there, never on `test`).

Each variant is a set of `finetune` parameters over the defaults; every row reports accuracy,
training seconds and optimiser steps. `+frozen` rows average the variant's probabilities with
the frozen `logreg` probe's, `names` is the accuracy of the nearest label name alone and
`+names` the head's probabilities times the names' (ensembles measured here, not parameters).
One process, one variant after the other, seed fixed.

    python benchmarks/finetune_ablation.py --dataset banking77
    python benchmarks/finetune_ablation.py --dataset clinc150 --variants default,no-names
    python benchmarks/finetune_ablation.py --dataset banking77 --split test --variants default
    python benchmarks/finetune_ablation.py --dataset clinc150 --variants default --self-train 15

`--encoder DIR` starts from another encoder, such as one first tuned on another intent dataset
(CPFT's idea of pre-training on other intent data; here supervised, through `fewshot adapt`).
The figures for it (docs/explanation/results.md) came from a one-off script doing the same training in one process
(`finetune` with `epochs=1, max_steps=300` on the other dataset's `train`, its encoder saved,
then the default variant from it); these two commands were not run end to end:

    fewshot adapt --train banking77:train --learner finetune:epochs=1,max_steps=300 --out pre
    python benchmarks/finetune_ablation.py --dataset clinc150 --variants default --encoder pre/encoder

`--self-train M` adds a self-training row after each variant, a setting that uses extra data:
the variant with `self_training=M`, given a pool of unlabelled texts of the same domain
(`--pool` texts drawn, seeded, from `DATASET:train` less the support and any text of the scored
split; their labels are read only to report how many pseudo-labels are right). Its model labels
the pool, M texts per predicted class (drawn from the more confident half) join the support,
and training goes on for one epoch over both; the seconds are both rounds'.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from fewshot.data.label_names import label_names
from fewshot.encoding.cache import EmbeddingCache
from fewshot.learners.maths import softmax
from fewshot.plugins.registry import load_registry

# Parameters over finetune's defaults (see fewshot_plugins/finetune/learner.py).
VARIANTS: dict[str, dict] = {
    "default": {},
    "no-names": {"label_names": False},
    "names-w0.5": {"name_weight": 0.5},
    "names-w2": {"name_weight": 2.0},
    "joint-ce": {"head_weight": 1.0},
    "no-names+joint-ce": {"label_names": False, "head_weight": 1.0},
    "dropout-views": {"dropout_views": True},
    "dropout-views+epochs-2": {"dropout_views": True, "epochs": 2},
    "epochs-4": {"epochs": 4},
    "epochs-5": {"epochs": 5},
    "epochs-2": {"epochs": 2},
    "lr-1e-4": {"learning_rate": 1e-4},
    "batch-64": {"batch_size": 64},
    "end-to-end": {"recipe": "end-to-end", "label_names": False},
    "linear-schedule": {"schedule": "linear"},
    "linear-schedule+lr-1e-4": {"schedule": "linear", "learning_rate": 1e-4},
    "linear-schedule+epochs-5": {"schedule": "linear", "epochs": 5},
    "head-C-1": {"head_C": 1.0},
    "head-C-100": {"head_C": 100.0},
    "layer-decay-0.8": {"layer_decay": 0.8},
    "layer-decay-0.8+lr-1e-4": {"layer_decay": 0.8, "learning_rate": 1e-4},
    "layer-decay-0.65+lr-2e-4": {"layer_decay": 0.65, "learning_rate": 2e-4},
    "scale-10": {"scale": 10.0},
    "scale-15": {"scale": 15.0},
    "scale-35": {"scale": 35.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="banking77")
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--split", default="valid", help="the split scored (default: valid)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    parser.add_argument("--json", help="also write the rows to this file (JSON lines, appended)")
    parser.add_argument("--self-train", type=int, metavar="M", help="pseudo-labels per class")
    parser.add_argument("--pool", type=int, default=4000, help="unlabelled texts (self-training)")
    parser.add_argument(
        "--encoder",
        metavar="DIR",
        help="start every variant from this sentence-transformers directory (e.g. the encoder/ of "
        "a model adapted on another dataset) instead of all-MiniLM-L6-v2",
    )
    args = parser.parse_args()

    registry = load_registry()
    train = registry.datasets.load(f"{args.dataset}:train_{args.shots}")
    held_out = registry.datasets.load(f"{args.dataset}:{args.split}")
    encoder = registry.cached_encoder(
        "all-MiniLM-L6-v2", device="cpu", cache=EmbeddingCache(), progress=False
    )
    frozen = registry.make_learner("logreg", {})
    frozen.fit(encoder.encode(train.texts), train.label_array)
    frozen_proba = frozen.predict_proba(encoder.encode(held_out.texts))
    frozen_accuracy = np.mean(frozen.classes_[frozen_proba.argmax(1)] == held_out.label_array)
    truth = held_out.label_array
    print(f"{args.dataset} {args.shots}-shot, scored on {args.split} ({len(held_out)} texts)")
    print(
        f"{'variant':<26} {'accuracy':>9} {'+frozen':>8} {'names':>8} {'+names':>8}"
        f" {'train s':>8} {'steps':>6}"
    )
    print(f"{'frozen logreg':<26} {frozen_accuracy:>9.4f}")
    for name in args.variants.split(","):
        params = {"random_state": args.seed, **VARIANTS[name]}
        if args.encoder:
            params["encoder"] = args.encoder
        learner = registry.make_learner("finetune", params)
        start = time.perf_counter()
        learner.fit(train.text_array, train.label_array)
        seconds = time.perf_counter() - start
        embeddings = learner.embed(held_out.text_array)
        proba = softmax(embeddings @ learner.weights_.T + learner.bias_)
        accuracy = float(np.mean(learner.classes_[proba.argmax(1)] == truth))
        ensemble = (proba + frozen_proba) / 2
        with_frozen = float(np.mean(frozen.classes_[ensemble.argmax(1)] == truth))
        # how far the tuned texts sit from their label's name: nearest-name accuracy alone,
        # and the head's probabilities times the names' (softmax at the training scale)
        names = label_names(learner.classes_)
        nearest_name = with_names = float("nan")
        if names is not None:
            similarity = embeddings @ learner.embed(np.asarray(names, dtype=object)).T
            nearest_name = float(np.mean(learner.classes_[similarity.argmax(1)] == truth))
            mixed = np.log(proba + 1e-12) + np.log(softmax(20 * similarity) + 1e-12)
            with_names = float(np.mean(learner.classes_[mixed.argmax(1)] == truth))
        print(
            f"{name:<26} {accuracy:>9.4f} {with_frozen:>8.4f} {nearest_name:>8.4f}"
            f" {with_names:>8.4f} {seconds:>8.1f} {learner.steps_:>6}"
        )
        row = {"dataset": args.dataset, "shots": args.shots, "split": args.split}
        row |= {"variant": name, "params": VARIANTS[name], "accuracy": accuracy}
        row |= {"with_frozen": with_frozen, "nearest_name": nearest_name}
        row |= {"with_names": with_names, "train_seconds": seconds}
        if args.self_train:
            row["self_training"] = self_train(args, registry, train, params, held_out)
        if args.json:
            with open(args.json, "a") as handle:
                handle.write(json.dumps(row) + "\n")


def self_train(args, registry, train, params: dict, held_out) -> dict:
    """The variant with ``self_training=args.self_train``, given a pool of unlabelled texts (see
    the module's docstring), scored; the pool's labels only count the right pseudo-labels."""
    whole = registry.datasets.load(f"{args.dataset}:train")
    support = set(train.texts)
    pool = np.array(sorted(set(whole.texts) - support - set(held_out.texts)), dtype=object)
    pool = pool[np.random.default_rng(args.seed).permutation(len(pool))[: args.pool]]
    learner = registry.make_learner("finetune", {**params, "self_training": args.self_train})
    start = time.perf_counter()
    learner.fit(train.text_array, train.label_array, unlabeled=pool)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(learner.predict(held_out.text_array) == held_out.label_array))
    truth = dict(zip(whole.texts, whole.labels, strict=True))
    chosen = zip(learner.pseudo_texts_, learner.pseudo_labels_, strict=True)
    right = float(np.mean([str(truth[text]) == str(label) for text, label in chosen]))
    print(
        f"{'  + self-training':<26} {accuracy:>9.4f}   ({len(learner.pseudo_texts_)} "
        f"pseudo-labels from {len(pool)} unlabelled texts, {right:.1%} right) {seconds:>8.1f} "
        f"{learner.steps_:>6}"
    )
    return {
        "accuracy": accuracy,
        "pseudo_labels": len(learner.pseudo_texts_),
        "pseudo_label_accuracy": right,
        "pool": len(pool),
        "train_seconds": seconds,
    }


if __name__ == "__main__":
    main()
