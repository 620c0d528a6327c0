"""What the labelling page says of its model: accuracy cross-validated on the labels so far,
with a Wilson interval, and the labels that look wrong (``check-labels``' confident learning)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from fewshot.errors import ConfigError


def wilson_interval(correct: int, n: int) -> tuple[float, float]:
    """The Wilson 95% interval of ``correct`` successes in ``n`` trials (scipy)."""
    from scipy.stats import binomtest

    interval = binomtest(correct, n).proportion_ci(0.95, method="wilson")
    return float(interval.low), float(interval.high)


def pairs(texts: list[str], labels: list, multi_label: bool) -> tuple[list[str], list[str]]:
    """Texts and one label each, for ``zeroshot`` (single-label): a multi-label text once per
    label it has."""
    found = [(t, y) for t, ys in zip(texts, labels, strict=True)
             for y in (ys if multi_label else (ys,))]  # fmt: skip
    return [t for t, _ in found], [y for _, y in found]


def cross_validated(
    make: Callable[[], Any],
    texts: list[str],
    labels: list,
    *,
    multi_label: bool,
    classes: list[str] | None,
    folds: int,
    seed: int,
    label_names: dict[str, str] | None = None,
) -> tuple[int, float, float, float, int] | None:
    """(texts, accuracy, low, high, folds): a fresh ``make()`` fitted on each fold and scored
    on the rest (exact label sets for multi-label data). Single-label: stratified folds over
    the classes with two labels or more. ``classes``: fit with every class (``zeroshot``
    learns a class missing from a fold from its name, or from ``label_names``). None while
    there are too few labels."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if multi_label:
        if len(texts) < 4:
            return None
        keep = list(range(len(texts)))
        splitter = KFold(n_splits=min(folds, len(keep)), shuffle=True, random_state=seed)
        strata = None
    else:
        counts = Counter(labels)
        keep = [i for i, y in enumerate(labels) if counts[y] >= 2]
        kept = Counter(labels[i] for i in keep)
        if len(kept) < 2:
            return None
        splitter = StratifiedKFold(
            n_splits=max(2, min(folds, min(kept.values()))), shuffle=True, random_state=seed
        )
        strata = [labels[i] for i in keep]
    X = np.asarray([texts[i] for i in keep], dtype=object)
    Y = [labels[i] for i in keep]
    correct = 0
    for train, held in splitter.split(X, strata):
        fold = [Y[i] for i in train]
        if classes is not None:
            model = make().fit(
                *pairs(list(X[train]), fold, multi_label), classes=classes, label_names=label_names
            )
        else:
            model = make().fit(list(X[train]), fold)
        for i, guess in zip(held, model.predict(list(X[held])), strict=True):
            if multi_label:
                correct += set(guess) == set(Y[i])
            else:
                correct += str(guess) == str(Y[i])
    low, high = wilson_interval(correct, len(keep))
    return len(keep), correct / len(keep), low, high, splitter.get_n_splits()


def suspects(
    texts: list[str],
    labels: list[str],
    *,
    learner: str,
    encode: Callable[[list[str]], np.ndarray],
    pool: list[str],
    folds: int,
    seed: int,
) -> list[dict[str, Any]]:
    """``check-labels``' label errors among single labels (with cleanlab installed; none
    without), each with its ``row`` in ``pool``, the ``label`` given and the one
    ``suggested``."""
    try:
        import cleanlab  # noqa: F401
    except ImportError:
        return []
    from fewshot.labelling.label_errors import check_labels

    counts = Counter(labels)
    keep = [i for i, y in enumerate(labels) if counts[y] >= 2]
    if len({labels[i] for i in keep}) < 2:
        return []
    chosen = [texts[i] for i in keep]
    try:
        found = check_labels(
            chosen,
            [labels[i] for i in keep],
            learner=learner,
            vectors=encode(chosen),
            folds=folds,
            seed=seed,
        )
    except ConfigError:
        return []
    where = {text: i for i, text in enumerate(pool)}
    return [
        {
            "row": where[r["text"]],
            "text": r["text"],
            "label": r["given_label"],
            "suggested": r["suggested_label"],
        }
        for r in found.rows
        if r["kind"] == "label-error" and r["text"] in where
    ]
