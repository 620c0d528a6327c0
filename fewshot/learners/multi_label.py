"""Multi-label few-shot learning: the K-shot sampler, per-label thresholds and the metrics.

**Sampling.** A K-shot multi-label support set has at least K texts of every label. Texts carry
several labels, so exactly K is usually impossible; :func:`greedy_support` draws the *minimal
including* set of the few-shot literature (Hou et al. 2020, "Few-shot Slot Tagging with
Collapsed Dependency Transfer"; Yang & Katiyar 2020): go through the candidate texts in a
seeded random order and keep a text when one of its labels still has fewer than K; then, in a
second seeded order, drop every kept text whose labels all have more than K without it. The
result has at least K texts per label and no text that could be removed; its size varies with
the seed and is reported (``support_size``).

**Thresholds.** A multi-label learner scores every label of a text in [0, 1] and decides each
label by a threshold calibrated on the support set alone (:func:`fit_thresholds`): the learner
is refitted on 5 folds of the support, each text is scored by the fit that did not see it, and
the threshold is the one pooled over all labels at which those held-out texts get, on average,
as many labels as the support's texts carry (the support's label-count prior). A text whose
scores all fall below the threshold gets its best label: every text has at least one label, as
every training text does. The rule was chosen on GoEmotions' ``valid`` split (never test; K = 8,
3 seeds, docs/explanation/results.md) over per-label F1-maximising thresholds, which predicted
3-4 labels a text where texts carry 1.2, and over a fixed 0.5 and the top label alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fewshot.errors import ConfigError

#: Folds of the support used to calibrate the per-label thresholds.
THRESHOLD_FOLDS = 5


def greedy_support(
    Y: np.ndarray,
    shots: int,
    rng: np.random.Generator,
    candidates: np.ndarray | None = None,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """Rows of ``Y`` (texts × labels, 0/1) forming a minimal support with at least ``shots``
    texts of every label (see the module's docstring); sorted row indices. ``names`` name the
    labels in errors."""
    Y = np.asarray(Y, dtype=bool)
    rows = np.arange(len(Y)) if candidates is None else np.asarray(candidates)
    available = Y[rows].sum(axis=0)
    short = np.flatnonzero(available < shots)
    if len(short):
        first = int(short[0])
        name = repr(names[first]) if names is not None else f"column {first}"
        raise ConfigError(
            f"{len(short)} label(s) have fewer than {shots} texts to draw a {shots}-shot "
            f"support from (label {name} has {int(available[first])})"
        )
    counts = np.zeros(Y.shape[1], dtype=np.int64)
    chosen = []
    for row in rng.permutation(rows):
        labels = Y[row]
        if labels.any() and (counts[labels] < shots).any():
            chosen.append(row)
            counts += labels
        if (counts >= shots).all():
            break
    kept = set(chosen)
    for row in rng.permutation(np.asarray(chosen, dtype=np.int64)):
        labels = Y[row]
        if (counts[labels] > shots).all():
            kept.discard(row)
            counts -= labels
    return np.array(sorted(kept), dtype=np.int64)


def fit_thresholds(held_out: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """One threshold for every label (as an array, one per label): the pooled threshold at
    which the held-out texts get, with at least one label each, as many labels on average as
    the support's texts carry (``Y``'s mean row count); of two equally close, the larger.

    Per-label F1-maximising thresholds (this function's rule before) rest on a handful of
    texts per label and swing low: on GoEmotions ``valid`` (K = 8, logreg) they gave 3.4
    labels a text and an exact match of 0.010; matching the label count gives 1.5 and 0.066,
    micro-F1 0.168 against 0.167."""
    held_out = np.asarray(held_out, dtype=np.float64)
    Y = np.asarray(Y, dtype=bool)
    target = float(Y.sum(axis=1).mean())
    candidates = np.unique(held_out[np.isfinite(held_out)])[::-1]  # largest first
    if not len(candidates):
        return np.full(Y.shape[1], 0.5)

    def mean_count(threshold: float) -> float:
        return float(np.maximum((held_out >= threshold).sum(axis=1), 1).mean())

    # The mean count only rises as the threshold falls: bisect for the first candidate whose
    # count reaches the target, then keep it or the one before, whichever is closer.
    low, high = 0, len(candidates) - 1
    while low < high:
        middle = (low + high) // 2
        if mean_count(candidates[middle]) >= target:
            high = middle
        else:
            low = middle + 1
    best = candidates[low]
    if low > 0 and abs(mean_count(candidates[low - 1]) - target) <= abs(mean_count(best) - target):
        best = candidates[low - 1]
    return np.full(Y.shape[1], float(best))


def decide(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """0/1 decisions: each label where its score reaches its threshold, and at least one
    label per text (the one with the largest score minus threshold)."""
    proba = np.asarray(proba, dtype=np.float64)
    decisions = (proba >= thresholds).astype(np.int8)
    empty = ~decisions.any(axis=1)
    if empty.any():
        decisions[empty, np.argmax(proba[empty] - thresholds, axis=1)] = 1
    return decisions


def held_out_scores(
    learner: Any, X: np.ndarray, Y: np.ndarray, seed: int = 0, **fit_inputs: Any
) -> np.ndarray:
    """Each support text's label scores from a copy of ``learner`` fitted on the other folds
    (``learner._fit_label_sets``; the copies calibrate nothing themselves)."""
    from sklearn.base import clone
    from sklearn.model_selection import KFold

    scores = np.zeros(Y.shape, dtype=np.float64)
    folds = min(THRESHOLD_FOLDS, len(Y))
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(Y):
        fold = clone(learner)
        fold.classes_ = learner.classes_
        fold.multi_label_ = True
        fold._fit_label_sets(X[train], Y[train], **fit_inputs)
        scores[test] = fold.predict_proba(X[test])
    return scores


def one_vs_rest(
    X: np.ndarray, Y: np.ndarray, *, C: float, max_iter: int = 1000, class_weight=None
) -> tuple[np.ndarray, np.ndarray]:
    """One binary logistic regression per label: (weights (labels, d), biases (labels,)).
    A label on every text (or none) gets a constant score."""
    from sklearn.linear_model import LogisticRegression

    coef = np.zeros((Y.shape[1], X.shape[1]), dtype=np.float64)
    intercept = np.zeros(Y.shape[1])
    for j in range(Y.shape[1]):
        if Y[:, j].all() or not Y[:, j].any():
            intercept[j] = 20.0 if Y[:, j].all() else -20.0
            continue
        model = LogisticRegression(C=C, max_iter=max_iter, class_weight=class_weight)
        model.fit(X, Y[:, j])
        coef[j], intercept[j] = model.coef_[0], model.intercept_[0]
    return coef, intercept


def metrics(Y_true: np.ndarray, Y_pred: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Micro-, macro- and samples-F1, exact match (subset accuracy), Hamming loss,
    label-ranking average precision and the F1 of every label (a list, in column order)."""
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        hamming_loss,
        label_ranking_average_precision_score,
    )

    def f1(average):
        return f1_score(Y_true, Y_pred, average=average, zero_division=0)

    return {
        "micro_f1": float(f1("micro")),
        "macro_f1": float(f1("macro")),
        "samples_f1": float(f1("samples")),
        "exact_match": float(accuracy_score(Y_true, Y_pred)),
        "hamming_loss": float(hamming_loss(Y_true, Y_pred)),
        "lrap": float(label_ranking_average_precision_score(Y_true, proba)),
        "label_f1": [float(v) for v in f1(None)],
    }


def support_sizes(sizes: Sequence[int]) -> dict[str, Any]:
    """How large the greedy supports came out: mean, min and max over episodes."""
    return {"mean": float(np.mean(sizes)), "min": int(min(sizes)), "max": int(max(sizes))}
