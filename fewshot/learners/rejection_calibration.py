"""Thresholds and readable scores for out-of-scope rejection, from the training texts alone
(never test data).

- :func:`held_out_scores`: each training text scored by a copy of the learner fitted on the
  other folds of a stratified k-fold split: how new *in-scope* texts score;
- :func:`unseen_class_scores`: each training text scored by a copy fitted without its class
  (classes split into folds): how texts of a class the model has never seen score, the
  closest stand-in for out-of-scope texts that the training data holds;
- :func:`recall_threshold`: the threshold that keeps a share (``recall``) of the first in scope;
- :func:`measure`: what those two sets of scores say about a threshold (the recall measured and
  its uncertainty, the share of unseen-class texts rejected) and the logistic curve (Platt
  scaling) that maps a raw score to an in-scope probability;
- :func:`calibrate_held_out`: with held-out in-scope *and* out-of-scope texts (``valid`` +
  ``oos_valid``), the threshold with the best accuracy over both.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fewshot.errors import ConfigError

if TYPE_CHECKING:
    from fewshot.learners.base import Learner
    from fewshot.learners.rejection import Scorer

Fit = Callable[["Learner", Any, np.ndarray], Any]


def recall_threshold(in_scores: np.ndarray, recall: float) -> float:
    """The largest threshold that keeps at least ``recall`` of ``in_scores`` in scope."""
    return float(np.quantile(in_scores, 1 - recall, method="lower"))


def held_out_scores(
    learner: Learner,
    X: Any,
    y: np.ndarray,
    scorers: Sequence[Scorer],
    *,
    folds: int = 5,
    seed: int = 0,
    fit: Fit | None = None,
) -> dict[str, np.ndarray]:
    """Every training text's score by each scorer, fitted (with a copy of ``learner``) on the
    other folds of a stratified k-fold split; ``fit(learner, X, y)`` fits a fold."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    _, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        raise ConfigError(
            "calibrating an out-of-scope threshold from the training shots needs at least two "
            "examples of every class; give held-out data (valid + oos_valid) or a threshold"
        )
    k = int(min(folds, counts.min()))
    splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    return _fold_scores(learner, X, y, scorers, splits, fit)


def unseen_class_scores(
    learner: Learner,
    X: Any,
    y: np.ndarray,
    scorer: Scorer,
    *,
    folds: int = 5,
    seed: int = 0,
    fit: Fit | None = None,
) -> np.ndarray | None:
    """Every training text's score by ``scorer`` fitted without the text's class: the classes
    go into ``folds`` groups (at most one per class) and each group is scored by a copy of
    ``learner`` fitted on the others. None with fewer than three classes, where a fold would
    be left with a single class to learn."""
    y = np.asarray(y)
    classes = np.unique(y)
    if len(classes) < 3:
        return None
    groups = np.array_split(
        np.random.default_rng(seed).permutation(classes), min(folds, len(classes))
    )
    splits = [(np.flatnonzero(~np.isin(y, g)), np.flatnonzero(np.isin(y, g))) for g in groups]
    return _fold_scores(learner, X, y, [scorer], splits, fit)[scorer.name]


def _fold_scores(learner, X, y, scorers, splits, fit) -> dict[str, np.ndarray]:
    scores = {s.name: np.empty(len(y)) for s in scorers}
    for train, test in splits:
        fold = copy.deepcopy(learner)
        (fit or _fit)(fold, _take(X, train), y[train])
        for scorer in scorers:
            fitted = copy.deepcopy(scorer).fit(fold, _take(X, train), y[train])
            scores[scorer.name][test] = fitted.score(fold, _take(X, test))
    return scores


def calibrate_cv(
    learner: Learner,
    X: Any,
    y: np.ndarray,
    scorers: Sequence[Scorer],
    *,
    recall: float,
    folds: int = 5,
    seed: int = 0,
    fit: Fit | None = None,
) -> dict[str, float]:
    """Each scorer's threshold from the training shots alone: the one that keeps ``recall`` of
    the :func:`held_out_scores` in scope."""
    held_out = held_out_scores(learner, X, y, scorers, folds=folds, seed=seed, fit=fit)
    return {name: recall_threshold(scores, recall) for name, scores in held_out.items()}


def measure(
    in_scores: np.ndarray, unseen_scores: np.ndarray | None, threshold: float
) -> dict[str, Any]:
    """What the calibration folds say about ``threshold``: how many held-out in-scope texts it
    keeps, the in-scope recall to expect on new texts with its 90% interval, how many texts of
    unseen classes it rejects, and the logistic curve from raw score to in-scope probability
    (``probability``: slope and intercept; None without unseen-class scores)."""
    from scipy.stats import beta

    n = len(in_scores)
    # A new in-scope score falls below the k-th smallest of n exchangeable ones with a
    # probability distributed as Beta(k, n + 1 - k) (the order statistic's coverage).
    k = int(np.sum(in_scores < threshold)) + 1
    low, high = beta.ppf([0.95, 0.05], k, n + 1 - k)
    measured: dict[str, Any] = {
        "calibration_texts": n,
        "kept": int(np.sum(in_scores >= threshold)),
        "expected_recall": round(1 - k / (n + 1), 4),
        "recall_interval": [round(float(1 - low), 4), round(float(1 - high), 4)],
        "unseen_class_texts": None,
        "unseen_class_rejected": None,
        "probability": None,
    }
    if unseen_scores is not None:
        measured["unseen_class_texts"] = len(unseen_scores)
        measured["unseen_class_rejected"] = int(np.sum(unseen_scores < threshold))
        measured["probability"] = _platt(in_scores, unseen_scores)
    return measured


def _platt(in_scores: np.ndarray, unseen_scores: np.ndarray) -> dict[str, float]:
    """A logistic curve from score to P(in scope), fitted on in-scope (1) and unseen-class (0)
    scores weighted to equal totals: a prior of one in two, since the real share of
    out-of-scope texts is unknown. Fitted on standardised scores (Mahalanobis scores run into
    the hundreds), then expressed on the raw ones."""
    from sklearn.linear_model import LogisticRegression

    scores = np.r_[in_scores, unseen_scores].astype(np.float64)
    mean, spread = float(scores.mean()), float(scores.std()) or 1.0
    target = np.r_[np.ones(len(in_scores)), np.zeros(len(unseen_scores))]
    model = LogisticRegression(class_weight="balanced").fit(
        ((scores - mean) / spread)[:, None], target
    )
    slope = float(model.coef_[0, 0]) / spread
    return {"slope": slope, "intercept": float(model.intercept_[0]) - slope * mean}


def calibrate_held_out(in_scores: np.ndarray, correct: np.ndarray, oos_scores: np.ndarray) -> float:
    """The threshold with the best accuracy over held-out in-scope texts (right when kept in
    scope and classified correctly: ``correct``) and out-of-scope texts (right when rejected)."""
    candidates = np.unique(np.r_[in_scores, oos_scores])
    order = np.argsort(in_scores)
    kept_correct = np.cumsum(correct[order][::-1])[::-1]  # correct among scores >= each
    sorted_in = in_scores[order]
    sorted_oos = np.sort(oos_scores)
    best, best_accuracy = float(candidates[0]), -1.0
    for threshold in candidates:
        first = np.searchsorted(sorted_in, threshold)
        right_in = kept_correct[first] if first < len(sorted_in) else 0
        right_oos = np.searchsorted(sorted_oos, threshold)  # out-of-scope below the threshold
        accuracy = (right_in + right_oos) / (len(in_scores) + len(oos_scores))
        if accuracy > best_accuracy:
            best, best_accuracy = float(threshold), accuracy
    return best


def _fit(learner: Learner, X, y) -> None:
    learner.fit(X, y)


def _take(X, rows: np.ndarray):
    return X[rows] if isinstance(X, np.ndarray) else np.asarray(X, dtype=object)[rows]
