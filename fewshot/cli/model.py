"""``fewshot adapt`` (train a learner and save it as a model directory) and ``fewshot predict``
(label texts with one, in a pipeline if need be)."""

from __future__ import annotations

import argparse
import time

from fewshot.cli.common import (
    DEFAULT_ENCODER,
    add_cache_options,
    add_device_option,
    cache_of,
    checked,
    err,
    parse_learner,
    warn_failures,
)
from fewshot.errors import ConfigError, FewshotError
from fewshot.params import Integer


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
    adapt.add_argument("--out", required=True, help="the model directory to write")
    adapt.add_argument(
        "--test",
        metavar="NAME:SPLIT|FILE",
        help="labelled texts to measure the model's accuracy on (recorded in its model card)",
    )
    adapt.add_argument(
        "--unlabeled", metavar="FILE", help="unlabelled target texts (domain-alignment learners)"
    )
    adapt.add_argument(
        "--source", metavar="NAME:SPLIT|FILE", help="labelled source data (domain alignment)"
    )
    adapt.add_argument(
        "--meta-train",
        metavar="NAME:SPLIT|FILE",
        help="meta-trained learners: labelled texts of other classes to meta-train on",
    )
    adapt.add_argument("--seed", type=int, help="random_state for learners that take one")
    adapt.add_argument(
        "--encoder",
        help=f"sentence encoder: a registered name, a local directory or a Hugging Face hub id "
        f"ORG/NAME from the local hub cache (default {DEFAULT_ENCODER})",
    )
    adapt.add_argument("--label-column", help="label column (default label)")
    adapt.add_argument("--domain-column", help="domain column (default domain)")

    predict = commands.add_parser("predict", help="label texts with a saved model directory")
    predict.add_argument("model", help="a model directory from `fewshot adapt`")
    predict.add_argument(
        "input",
        help="texts: a .txt (one per line), .jsonl, .csv, .tsv or .parquet file, NAME:SPLIT, "
        "or - for standard input",
    )
    predict.add_argument(
        "--out",
        required=True,
        help="predictions: .jsonl, .csv or .parquet by the suffix, or - for standard output",
    )
    predict.add_argument(
        "--top-k", type=int, metavar="K", help="also list the K most probable labels"
    )
    predict.add_argument(
        "--label-column",
        default="label",
        help="the input's gold label column, compared with the predictions (default label)",
    )
    predict.add_argument(
        "--batch-size",
        type=checked(int, Integer(min=1, max=1_000_000)),
        default=256,
        metavar="N",
        help="texts labelled at a time (default 256); memory stays bounded by it",
    )
    predict.add_argument(
        "--input-format",
        choices=("txt", "jsonl", "csv", "tsv"),
        default="txt",
        help="the format of standard input (default txt: one text per line)",
    )
    predict.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        default="jsonl",
        help="the format of standard output (default jsonl)",
    )
    for sub in (adapt, predict):
        add_device_option(sub)
        add_cache_options(sub)
        sub.add_argument("--text-column", help="text column of JSONL/CSV files (default text)")
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

    from fewshot.classifier import FewShotClassifier
    from fewshot.data import read_texts
    from fewshot.datasets import Columns
    from fewshot.encoders import check_device
    from fewshot.models import check_model_out, data_fingerprint
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
    # The classifier holds the encoder (and the cache) and saves the model with its card.
    encoder_name = args.encoder or DEFAULT_ENCODER
    classifier = FewShotClassifier(
        spec.name, encoder=encoder_name, device=device, cache=_cache_param(args)
    )
    train = registry.datasets.load(args.train, columns)
    if len(train.classes) < 2:
        raise ConfigError(
            f"{args.train}: every text has the label {train.classes[0]!r}; a classifier needs "
            "at least two classes"
        )
    test = registry.datasets.load(args.test, columns) if args.test else None

    def inputs(texts):
        return classifier._inputs(list(texts), learner)

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
    classifier.learner_, classifier.classes_ = learner, np.asarray(learner.classes_)
    classifier.n_training_texts_ = len(train)
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
    if test is not None:
        predicted = classifier.predict(list(test.texts))
        training.update(
            test=args.test,
            test_examples=len(test),
            accuracy=round(float(np.mean(predicted.astype(str) == test.label_array)), 4),
        )
    out = classifier.save(args.out, training=training)
    measured = f"; accuracy on {args.test}: {training['accuracy']:.4f}" if test else ""
    err.print(
        f"saved {spec.name} ({len(train.classes)} labels, {len(train)} training texts, fit in "
        f"{seconds:.1f} s) to {out}{measured}",
        highlight=False,
    )
    return 0


def _cache_param(args: argparse.Namespace):
    """--no-cache / --cache-dir as the classifier's ``cache`` parameter."""
    if args.no_cache:
        return False
    cache_of(args)  # checks the directory now, with the command line's message
    return args.cache_dir or True


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
    from pathlib import Path

    from fewshot.data import normalize_label
    from fewshot.encoders import check_device
    from fewshot.models import load
    from fewshot.predictions import (
        PredictionWriter,
        input_rows,
        output_format,
        output_row,
        text_of,
    )

    device = check_device(args.device)
    if args.top_k is not None and args.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {args.top_k}")
    fmt = output_format(args.out, args.format)
    if args.out != "-":
        from fewshot.outputs import check_output_file

        inputs = [args.input] if args.input != "-" and Path(args.input).exists() else []
        check_output_file(args.out, inputs=inputs)
    model = load(args.model, device=device, cache=_cache_param(args))
    text_column = args.text_column or "text"
    rows = input_rows(args.input, text_column=text_column, input_format=args.input_format)
    labels = model.labels
    writer = None
    correct, gold_seen, total = 0, 0, 0
    try:
        for batch in _batches(rows, args.batch_size):
            texts = [text_of(where, row, text_column) for where, row in batch]
            proba = model.predict_proba(texts)
            order = (-proba).argsort(axis=1, kind="stable")
            out_rows = []
            for (_, row), text, p, ranked in zip(batch, texts, proba, order, strict=True):
                best = ranked[0]
                prediction = {
                    "text": text,
                    "label": labels[best],
                    "probability": round(float(p[best]), 6),
                }
                if args.top_k:
                    prediction["top_k"] = [
                        {"label": labels[j], "probability": round(float(p[j]), 6)}
                        for j in ranked[: args.top_k]
                    ]
                gold = normalize_label(row.get(args.label_column))
                if gold is not None:
                    gold_seen += 1
                    correct += gold == labels[best]
                out_rows.append(output_row(row, text_column, args.label_column, prediction))
            if writer is None:
                writer = PredictionWriter(args.out, fmt)
            writer.write(out_rows)
            total += len(out_rows)
        if writer is None:
            where = "standard input" if args.input == "-" else args.input
            raise ConfigError(f"{where}: the file has no texts; expected one text per line or row")
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    where = "standard output" if args.out == "-" else args.out
    message = f"{total} predictions written to {where}"
    if gold_seen == total:
        message += f"; accuracy on the labelled inputs: {correct / total:.4f}"
    err.print(message, highlight=False)
    return 0


def _batches(rows, size: int):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
