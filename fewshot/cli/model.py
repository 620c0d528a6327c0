"""``fewshot adapt``: train a learner and save it as a model directory (``fewshot predict``,
in ``predict.py``, labels texts with one)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from dataclasses import asdict
from pathlib import Path

from fewshot.cli.common import (
    DEFAULT_ENCODER,
    add_cache_options,
    add_device_option,
    add_track_option,
    cache_of,
    err,
    parse_learner,
    warn_failures,
)
from fewshot.errors import ConfigError, FewshotError
from fewshot.util import progress


def add_parsers(commands) -> None:
    adapt = commands.add_parser(
        "adapt", help="train a learner on labelled texts and save it as a model directory"
    )
    adapt.add_argument("--train", metavar="NAME:SPLIT|FILE", help="labelled training texts")
    adapt.add_argument(
        "--labels",
        metavar="FILE",
        help="the classes, one per line, or a JSON object of labels and their names or "
        "descriptions: zeroshot learns them from their names, with or without --train",
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
        "--unlabeled",
        metavar="FILE",
        help="unlabelled texts of the target domain: finetune:self_training=M labels them itself "
        "and trains on confidently labelled ones; domain-alignment learners align to them",
    )
    adapt.add_argument(
        "--source", metavar="NAME:SPLIT|FILE", help="labelled source data (domain alignment)"
    )
    adapt.add_argument(
        "--meta-train",
        metavar="NAME:SPLIT|FILE",
        help="meta-trained learners: labelled texts of other classes to meta-train on",
    )
    adapt.add_argument(
        "--label-names",
        metavar="FILE",
        help='a JSON object of labels and readable names or short descriptions, {"card_arrival": '
        '"my card has not arrived", ...}, for learners that use them (finetune); by default they '
        "derive names from the labels",
    )
    adapt.add_argument("--seed", type=int, help="random_state for learners that take one")
    adapt.add_argument(
        "--encoder",
        help=f"sentence encoder: a registered name, a local directory or a Hugging Face hub id "
        f"ORG/NAME from the local hub cache (default {DEFAULT_ENCODER})",
    )
    adapt.add_argument("--label-column", help="label column (default label)")
    adapt.add_argument("--domain-column", help="domain column (default domain)")
    adapt.add_argument(
        "--labels-column", help="multi-label data: the column of label lists (default labels)"
    )
    adapt.add_argument(
        "--label-separator", help="multi-label CSV/TSV: the labels' separator in a cell (default |)"
    )
    adapt.add_argument(
        "--reject",
        metavar="auto|THRESHOLD",
        help="out-of-scope rejection: 'auto' sets the threshold from the training texts alone "
        "(cross-validation); a number is the threshold",
    )
    adapt.add_argument(
        "--scorer",
        default="mahalanobis",
        help="the in-scope score of --reject: mahalanobis (default), msp, energy, cosine, knn",
    )
    adapt.add_argument(
        "--reject-recall",
        type=float,
        default=0.95,
        metavar="R",
        help="--reject auto keeps this share of in-scope texts (default 0.95)",
    )
    adapt.add_argument(
        "--oos-label", default="oos", help="the label of rejected texts (default oos)"
    )

    adapt.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress lines while the encoder loads, texts are encoded and the learner "
        "trains (shown only on a terminal)",
    )
    add_device_option(adapt)
    add_cache_options(adapt)
    add_track_option(adapt)
    adapt.add_argument("--text-column", help="text column of JSONL/CSV files (default text)")
    adapt.set_defaults(handler=run_adapt)


def _apply_run_options(learner, spec, device: str, seed: int | None) -> None:
    """--device and --seed reach learners that take them, unless the learner spec set them."""
    params = learner.get_params()
    if "device" in params and "device" not in spec.params:
        learner.set_params(device=device)
    if seed is not None and "random_state" in params and "random_state" not in spec.params:
        learner.set_params(random_state=seed)


def _run_start(args, spec, learner, train, fingerprint: str, encoder: str, device: str):
    """What a tracker is told about this adapt run."""
    from fewshot.evaluation.aggregate import jsonable
    from fewshot.integrations.tracking import RunStart

    params = {"learner": spec.display, "train": args.train or args.labels, "test": args.test}
    params |= {"encoder": encoder, "device": device, "examples": len(train)}
    params["params"] = jsonable(learner.get_params())
    return RunStart("adapt", Path(args.out).name, fingerprint, params)


def run_adapt(args: argparse.Namespace) -> int:
    from fewshot.util.progress import training_progress

    # the learner's optimiser steps, as they come (fine-tuning takes minutes on a CPU)
    with (
        training_progress("training", enabled=not args.no_progress and sys.stderr.isatty()),
        contextlib.ExitStack() as locks,
    ):
        return _adapt(args, locks)


def _adapt(args: argparse.Namespace, locks: contextlib.ExitStack) -> int:
    import numpy as np

    from fewshot.cli.adapt_data import meta_tasks, test_measures, training_data
    from fewshot.data.catalogue import Columns
    from fewshot.data.files import read_texts
    from fewshot.encoding.encoders import check_device
    from fewshot.evaluation.protocols.base import label_name_input
    from fewshot.integrations.tracking import make_trackers, tracked
    from fewshot.models.classifier import FewShotClassifier
    from fewshot.models.fit_inputs import known_classes, label_vector_input
    from fewshot.models.saving import check_model_out, data_fingerprint, writer_lock
    from fewshot.plugins.registry import load_registry

    registry = load_registry()
    warn_failures(registry)
    trackers = make_trackers(args.track, registry.trackers)
    device = check_device(args.device)
    columns = Columns(
        args.text_column or "text",
        args.label_column or "label",
        args.domain_column or "domain",
        args.labels_column or "labels",
        args.label_separator or "|",
    )
    spec = parse_learner(args.learner)
    learner = registry.make_learner(spec.name, spec.params)
    _apply_run_options(learner, spec, device, args.seed)
    for flag, needed in (("--unlabeled", "unlabeled"), ("--source", "source")):
        if getattr(args, needed) and needed not in learner.fit_inputs:
            raise ConfigError(
                f"learner {spec.display!r} does not use {flag}; learners that do: "
                + ("finetune:self_training=M, " if needed == "unlabeled" else "")
                + "see `fewshot learners`"
            )
    if not args.train and not args.labels:
        raise ConfigError("give --train DATA (labelled texts), or --labels FILE for zeroshot")
    named = learner.uses_label_names or "label_vectors" in learner.fit_inputs
    if args.label_names and not named:
        raise ConfigError(
            f"learner {spec.name!r} does not use label names (--label-names); finetune and "
            "zeroshot do"
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
    # Before any work: never train for a place we may not write, or that another command is
    # writing (the lock is held until the model is saved).
    check_model_out(args.out)
    locks.enter_context(writer_lock(args.out))
    # The classifier holds the encoder (and the cache) and saves the model with its card.
    encoder_name = args.encoder or DEFAULT_ENCODER
    classifier = FewShotClassifier(
        spec.name,
        encoder=encoder_name,
        device=device,
        cache=_cache_param(args),
        reject=_reject_param(args.reject),
        scorer=args.scorer,
        reject_recall=args.reject_recall,
        oos_label=args.oos_label,
    )
    if args.reject is not None:
        from fewshot.learners.rejection import make_scorer

        make_scorer(args.scorer, registry.scorers)  # an unknown scorer: said now, not after fit
        if args.reject == "auto" and learner.meta_trained:
            raise ConfigError(
                f"--reject auto refits {spec.name!r} on folds of the training texts, which a "
                "meta-trained learner cannot do; give a threshold (--reject NUMBER)"
            )
    train, classes = training_data(args, registry, columns)
    tracking = locks.enter_context(tracked(trackers))  # finished as the command ends
    fingerprint = data_fingerprint(train)
    tracking.start(_run_start(args, spec, learner, train, fingerprint, encoder_name, device))
    tracking.artifact(Path(args.out))
    if train.is_multi_label:
        from fewshot.cli.adapt_multi_label import adapt_label_sets

        return adapt_label_sets(args, classifier, learner, spec, train, columns, registry)
    if len(train.classes) == 1 and not classes:
        raise ConfigError(
            f"{args.train}: every text has the label {train.classes[0]!r}; a classifier needs "
            "at least two classes"
        )
    known = known_classes(learner, train.label_array, classes, train.label_names)
    test = registry.datasets.load(args.test, columns) if args.test else None

    def inputs(texts):
        return classifier._inputs(list(texts), learner)

    fit_inputs: dict = label_name_input(learner, train)
    fit_inputs |= label_vector_input(learner, known, train.label_names, inputs)
    if args.unlabeled:
        fit_inputs["unlabeled"] = inputs(read_texts(args.unlabeled, text_column=columns.text)[0])
    if args.source:
        source = registry.datasets.load(args.source, columns)
        fit_inputs["source"] = (inputs(source.texts), source.label_array)
    start = time.perf_counter()
    try:
        if learner.meta_trained:
            meta_data = registry.datasets.load(args.meta_train, columns)
            tasks = meta_tasks(meta_data, inputs(meta_data.texts), train, args.seed)
            learner.meta_fit(tasks)
        learner.fit(inputs(train.texts), train.label_array, **fit_inputs)
    except (FewshotError, KeyboardInterrupt):
        raise
    except Exception as exc:  # the learner could not learn from this data: say so in one line
        raise ConfigError(
            f"learner {spec.display!r} failed on {args.train or args.labels}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    classifier.learner_, classifier.classes_ = learner, np.asarray(learner.classes_)
    classifier.n_training_texts_, classifier.rejection_ = len(train), None
    if args.reject is not None:
        fresh = registry.make_learner(spec.name, spec.params)
        _apply_run_options(fresh, spec, device, args.seed)
        classifier.rejection_ = classifier._rejection(
            fresh, inputs(train.texts), train.label_array, fit_inputs
        )
    seconds = time.perf_counter() - start
    progress.finish()  # the progress line goes before the lines about the model
    training = {
        "data": args.train,
        "labels": args.labels,
        "columns": asdict(columns),  # so that export can read the training data again
        "examples": len(train),
        "classes": len(known),
        "fingerprint": fingerprint,
        "fit_seconds": round(seconds, 3),
        "unlabeled": args.unlabeled,
        "source": args.source,
        "meta_train": args.meta_train,
    }
    if not args.train:  # what export checks the ONNX bundle against
        training["class_texts"] = list(train.texts)
    pseudo = len(getattr(learner, "pseudo_texts_", ()))
    if pseudo:
        training["pseudo_labels"] = pseudo
    if test is not None:
        training.update(test_measures(args, classifier, test))
    out = classifier.save(args.out, training=training)
    tracking.record(training)
    measured = f"; accuracy on {args.test}: {training['accuracy']:.4f}" if test else ""
    if training.get("oos_recall") is not None:
        measured += (
            f" (in-scope accuracy {training['in_scope_accuracy']:.4f}, "
            f"{training['oos_rejected']} of {training['oos_examples']} out-of-scope texts rejected)"
        )
    if classifier.rejection_ is not None:
        err.print(classifier.rejection_.summary(), highlight=False)
    err.print(
        f"saved {spec.name} ({len(known)} labels, "
        + (f"{len(train)} training texts" if args.train else "from their names alone")
        + (f" + {pseudo} it labelled itself" if pseudo else "")
        + f", fit in {seconds:.1f} s) to {out}{measured}",
        highlight=False,
    )
    return 0


def _reject_param(text: str | None):
    """--reject as the classifier's ``reject``: None, "auto" or a number."""
    if text is None or text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(
            f"--reject takes 'auto' or a threshold (a number), got {text!r}"
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"--reject: the threshold must be a finite number, got {text!r}")
    return value


def _cache_param(args: argparse.Namespace):
    """--no-cache / --cache-dir as the classifier's ``cache`` parameter."""
    if args.no_cache:
        return False
    cache_of(args)  # checks the directory now, with the command line's message
    return args.cache_dir or True
