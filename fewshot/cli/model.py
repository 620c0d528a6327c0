"""``fewshot adapt`` (train a learner and save it as a model directory) and ``fewshot predict``
(label texts with one)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path

from fewshot.cli.common import (
    DEFAULT_ENCODER,
    add_cache_options,
    add_device_option,
    cache_of,
    err,
    parse_learner,
    warn_failures,
)
from fewshot.errors import ConfigError, FewshotError


def add_parsers(commands) -> None:
    adapt = commands.add_parser(
        "adapt", help="train a learner on labelled texts and save it as a model directory"
    )
    adapt.add_argument(
        "--train", required=True, metavar="NAME:SPLIT|FILE", help="labelled training texts"
    )
    adapt.add_argument(
        "--learner", required=True, metavar="NAME[:p=v,...]", help="e.g. finetune, logreg"
    )
    adapt.add_argument("--out", required=True, type=Path, help="the model directory to write")
    adapt.add_argument(
        "--unlabeled", metavar="FILE", help="unlabelled target texts (domain-alignment learners)"
    )
    adapt.add_argument(
        "--source",
        metavar="NAME:SPLIT|FILE",
        help="labelled source data (domain-alignment learners)",
    )
    adapt.add_argument(
        "--meta-train",
        metavar="NAME:SPLIT|FILE",
        help="meta-trained learners: labelled texts of other classes to meta-train on",
    )
    adapt.add_argument("--seed", type=int, help="random_state for learners that take one")
    predict = commands.add_parser("predict", help="label texts with a saved model directory")
    predict.add_argument("model", type=Path, help="a model directory from `fewshot adapt`")
    predict.add_argument(
        "input", help="a .txt (one text per line), .jsonl or .csv file, or NAME:SPLIT"
    )
    predict.add_argument(
        "--out", required=True, type=Path, help="predictions, .jsonl (default) or .csv"
    )
    predict.add_argument(
        "--top-k", type=int, metavar="K", help="also list the K most probable labels"
    )
    for sub in (adapt, predict):
        add_device_option(sub)
        add_cache_options(sub)
        sub.add_argument("--text-column", help="text column of JSONL/CSV files (default text)")
    adapt.add_argument(
        "--encoder", help=f"encoder for embedding learners (default {DEFAULT_ENCODER})"
    )
    adapt.add_argument("--label-column", help="label column (default label)")
    adapt.add_argument("--domain-column", help="domain column (default domain)")
    adapt.set_defaults(handler=run_adapt)
    predict.set_defaults(handler=run_predict)


def _apply_run_options(learner, spec, device: str, seed: int | None) -> None:
    """--device and --seed reach learners that take them, unless the learner spec set them."""
    params = learner.get_params()
    if "device" in params and "device" not in spec.params:
        learner.set_params(device=device)
    if seed is not None and "random_state" in params and "random_state" not in spec.params:
        learner.set_params(random_state=seed)


def run_adapt(args: argparse.Namespace) -> int:
    import numpy as np

    from fewshot.data import read_texts
    from fewshot.datasets import Columns
    from fewshot.encoders import check_device
    from fewshot.models import check_model_out, data_fingerprint, save_model
    from fewshot.plugins import load_registry

    registry = load_registry()
    warn_failures(registry)
    device = check_device(args.device)
    columns = Columns(
        args.text_column or "text", args.label_column or "label", args.domain_column or "domain"
    )
    spec = parse_learner(args.learner)
    learner = registry.make_learner(spec.name, spec.params)
    _apply_run_options(learner, spec, device, args.seed)
    for flag, needed in (("--unlabeled", "unlabeled"), ("--source", "source")):
        if getattr(args, needed) and needed not in learner.fit_inputs:
            raise ConfigError(
                f"learner {spec.name!r} does not use {flag}; learners that do: see `fewshot learners`"
            )
    if "source" in learner.fit_inputs and not args.source:
        raise ConfigError(
            f"learner {spec.name!r} needs --source DATA: labelled texts of the source domain"
        )
    if learner.meta_trained != bool(args.meta_train):
        raise ConfigError(
            f"learner {spec.display!r} is meta-trained: give --meta-train DATA, labelled texts of "
            "other classes to learn from"
            if learner.meta_trained
            else f"learner {spec.display!r} is not meta-trained; --meta-train is for those that are"
        )
    check_model_out(args.out)  # before any work: never train for a place we may not write
    encoder_name = args.encoder or DEFAULT_ENCODER
    encoder = None
    if learner.input_kind == "embeddings":
        encoder = registry.cached_encoder(
            encoder_name, device=device, cache=cache_of(args), progress=sys.stderr.isatty()
        )
    train = registry.datasets.load(args.train, columns)
    if len(train.classes) < 2:
        raise ConfigError(
            f"{args.train}: every text has the label {train.classes[0]!r}; a classifier needs "
            "at least two classes"
        )

    def inputs(texts):
        return encoder.encode(texts) if encoder is not None else np.asarray(texts, dtype=object)

    fit_inputs: dict = {}
    if args.unlabeled:
        fit_inputs["unlabeled"] = inputs(read_texts(args.unlabeled, text_column=columns.text)[0])
    if args.source:
        source = registry.datasets.load(args.source, columns)
        fit_inputs["source"] = (inputs(source.texts), source.label_array)
    start = time.perf_counter()
    try:
        if learner.meta_trained:
            meta_data = registry.datasets.load(args.meta_train, columns)
            tasks = _adapt_meta_tasks(meta_data, inputs(meta_data.texts), train, args.seed)
            learner.meta_fit(tasks)
        learner.fit(inputs(train.texts), train.label_array, **fit_inputs)
    except (FewshotError, KeyboardInterrupt):
        raise
    except Exception as exc:  # the learner could not learn from this data: say so in one line
        raise ConfigError(
            f"learner {spec.display!r} failed on {args.train}: {type(exc).__name__}: {exc}"
        ) from exc
    seconds = time.perf_counter() - start
    encoder_directory = None
    if encoder is not None:
        encoder_info = {"name": encoder_name, "identity": encoder.identity}
        if encoder_name not in registry.encoders:  # a local directory: it travels with the model
            encoder_directory = encoder.encoder.model
            encoder_info["name"] = Path(encoder_name).name
    else:
        encoder_info = {
            "name": str(learner.get_params().get("encoder", "")),
            "fine_tuned": learner.owns_encoder,
        }
    training = {
        "data": args.train,
        "examples": len(train),
        "classes": len(train.classes),
        "fingerprint": data_fingerprint(train),
        "fit_seconds": round(seconds, 3),
        "unlabeled": args.unlabeled,
        "source": args.source,
        "meta_train": args.meta_train,
    }
    out = save_model(
        learner,
        args.out,
        encoder=encoder_info,
        training=training,
        encoder_directory=encoder_directory,
    )
    err.print(
        f"saved {spec.name} ({len(train.classes)} labels, {len(train)} training texts, fit in {seconds:.1f} s) to {out}",
        highlight=False,
    )
    return 0


def _adapt_meta_tasks(meta_data, X, train, seed: int | None):
    """Meta-training tasks shaped like the training set (its number of classes and its smallest
    class as K), from the classes of ``meta_data`` it does not have: three quarters for
    training episodes, a quarter for validation episodes."""
    import numpy as np

    from fewshot.episodes import ClassSplit
    from fewshot.meta import MetaTrainingData

    other = [c for c in meta_data.classes if c not in set(train.classes)]
    split = ClassSplit.by_fraction(other, base=0.75, validation=0.25, seed=seed or 0)
    _, counts = np.unique(train.label_array, return_counts=True)
    return MetaTrainingData.from_split(
        split,
        (meta_data, X),
        ways=len(counts),
        shots=int(counts.min()),
        queries=10,
        seed=seed or 0,
    )


def run_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from fewshot.data import read_texts
    from fewshot.encoders import check_device
    from fewshot.models import load
    from fewshot.outputs import check_output_file, write_atomic
    from fewshot.plugins import load_registry

    device = check_device(args.device)
    if args.top_k is not None and args.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {args.top_k}")
    input_is_file = Path(args.input).exists()
    check_output_file(args.out, inputs=[args.input] if input_is_file else [])
    model = load(args.model, device=device, cache=cache_of(args))
    if input_is_file:
        texts, labels = read_texts(args.input, text_column=args.text_column or "text")
    else:
        data = load_registry().datasets.load(args.input)
        texts, labels = list(data.texts), list(data.labels)
    proba = model.predict_proba(texts)
    order = np.argsort(-proba, axis=1, kind="stable")
    names = model.labels
    rows = []
    for i, text in enumerate(texts):
        best = order[i, 0]
        row = {"text": text, "label": names[best], "probability": round(float(proba[i, best]), 6)}
        if args.top_k:
            row["top_k"] = [
                {"label": names[j], "probability": round(float(proba[i, j]), 6)}
                for j in order[i, : args.top_k]
            ]
        rows.append(row)
    out = Path(args.out)
    if out.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            {k: json.dumps(v) if k == "top_k" else v for k, v in row.items()} for row in rows
        )
        write_atomic(out, buffer.getvalue())
    else:
        write_atomic(out, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    message = f"{len(rows)} predictions written to {out}"
    if labels is not None:
        accuracy = float(
            np.mean([row["label"] == label for row, label in zip(rows, labels, strict=True)])
        )
        message += f"; accuracy on the labelled inputs: {accuracy:.4f}"
    err.print(message, highlight=False)
    return 0
