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
label by its own threshold, calibrated on the support set alone (:func:`fit_thresholds`): the
learner is refitted on 5 folds of the support, each text is scored by the fit that did not see
it, and each label's threshold is the mean of the one that maximises that label's F1 on those
held-out scores and the one that maximises F1 over all labels pooled. A text whose scores all
fall below their thresholds gets its best label (the largest score minus threshold): every text
has at least one label, as every training text does.
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
    """Per label, the mean of two thresholds on held-out scores: the one that maximises the
    label's own F1, and the one that maximises F1 over all labels pooled (micro-F1). A label's
    own threshold rests on its few support texts and swings with them; the pooled one is
    stable but ignores how the labels differ. On GoEmotions' ``valid`` split (K = 8, logreg)
    the mean beat either alone on macro-F1 (0.159 vs 0.156 own, 0.152 pooled)."""
    held_out = np.asarray(held_out, dtype=np.float64)
    Y = np.asarray(Y, dtype=bool)
    pooled = _best_f1_threshold(held_out.ravel(), Y.ravel())
    thresholds = np.full(Y.shape[1], pooled)
    for j in range(Y.shape[1]):
        if Y[:, j].any():
            thresholds[j] = (_best_f1_threshold(held_out[:, j], Y[:, j]) + pooled) / 2
    return thresholds


def _best_f1_threshold(scores: np.ndarray, positive: np.ndarray) -> float:
    """The threshold that maximises F1 of ``scores >= threshold`` against ``positive`` (ties:
    the larger threshold), midway between neighbouring scores so that it generalises."""
    if not positive.any():
        return 0.5
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], positive[order]
    f1 = 2 * np.cumsum(p) / (np.arange(1, len(s) + 1) + positive.sum())  # top i+1 positive
    valid = np.r_[s[:-1] > s[1:], True]  # only cut between distinct scores
    best = int(np.flatnonzero(valid)[np.argmax(f1[valid])])
    below = s[best + 1] if best + 1 < len(s) else s[best] - 1e-3
    return float((s[best] + below) / 2)


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
