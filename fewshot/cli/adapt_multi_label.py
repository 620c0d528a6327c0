"""``fewshot adapt`` on multi-label training data (texts with label lists): the learner's
decision threshold from the training texts, and micro-F1, macro-F1 and exact match with
``--test``."""

from __future__ import annotations

import time
from dataclasses import asdict

from fewshot.cli.common import err
from fewshot.errors import ConfigError, FewshotError
from fewshot.util import progress


def adapt_label_sets(args, classifier, learner, spec, train, columns, registry) -> int:
    """adapt on multi-label data: the decision threshold from the training texts."""
    import numpy as np

    from fewshot.data.labels import indicator
    from fewshot.evaluation.protocols.base import label_name_input
    from fewshot.learners.multi_label import metrics
    from fewshot.models.saving import data_fingerprint

    stray = [f for f, v in (("--reject", args.reject), ("--source", args.source),
                            ("--unlabeled", args.unlabeled), ("--meta-train", args.meta_train)) if v]  # fmt: skip
    if stray:
        raise ConfigError(f"{stray[0]} does not combine with multi-label training data")
    if not learner.supports_multi_label:
        able = sorted(n for n, c in registry.learners.items() if c.supports_multi_label)
        raise ConfigError(
            f"{args.train} is multi-label and learner {spec.name!r} does not support it; "
            f"these do: {', '.join(able)}"
        )
    test = registry.datasets.load(args.test, columns) if args.test else None
    if test is not None and not test.is_multi_label:
        raise ConfigError(f"{args.test} has one label per text; {args.train} has label lists")
    start = time.perf_counter()
    try:
        learner.fit_label_sets(
            classifier._inputs(list(train.texts), learner),
            train.label_sets,
            **label_name_input(learner, train),
        )
    except (FewshotError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise ConfigError(
            f"learner {spec.display!r} failed on {args.train}: {type(exc).__name__}: {exc}"
        ) from exc
    seconds = time.perf_counter() - start
    progress.finish()  # the progress line goes before the lines about the model
    classifier.learner_, classifier.classes_ = learner, np.asarray(learner.classes_)
    classifier.n_training_texts_, classifier.multi_label_ = len(train), True
    training = {
        "data": args.train,
        "columns": asdict(columns),
        "examples": len(train),
        "classes": len(train.classes),
        "multi_label": True,
        "fingerprint": data_fingerprint(train),
        "fit_seconds": round(seconds, 3),
    }
    measured = ""
    if test is not None:
        texts = list(test.texts)
        label_sets, proba, _ = classifier.predict_with_scores(texts)  # texts encoded once
        predicted = indicator(label_sets, classifier.labels)
        scores = metrics(indicator(test.label_sets, classifier.labels), predicted, proba)
        training.update(test=args.test, test_examples=len(test))
        training.update({k: round(scores[k], 4) for k in ("micro_f1", "macro_f1", "exact_match")})
        measured = (
            f"; on {args.test}: micro-F1 {scores['micro_f1']:.4f}, macro-F1 "
            f"{scores['macro_f1']:.4f}, exact match {scores['exact_match']:.4f}"
        )
    out = classifier.save(args.out, training=training)
    err.print(
        f"saved multi-label {spec.name} ({len(train.classes)} labels, {len(train)} training "
        f"texts, fit in {seconds:.1f} s) to {out}{measured}",
        highlight=False,
    )
    return 0
