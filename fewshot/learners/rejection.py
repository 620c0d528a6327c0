"""Out-of-scope rejection ("none of these") over any learner: a score of how in-scope a text is,
and a threshold below which the prediction is the out-of-scope label.

Scorers (higher = more in-scope), each fitted on the support set after the learner:

- ``msp``: the maximum softmax probability (Hendrycks & Gimpel 2017);
- ``energy``: the logits' log-sum-exp (Liu et al. 2020); needs ``decision_function``;
- ``cosine``: the largest cosine similarity to a class prototype (mean of its support);
- ``knn``: the largest cosine similarity to a single support example;
- ``mahalanobis``: minus the smallest Mahalanobis distance to a class mean, with one covariance
  shared by the classes (Podolskiy et al. 2021), shrunk towards a multiple of the identity:
  with a handful of examples per class in 384 dimensions the sample covariance is singular.
  ``shrinkage=0.9`` was chosen on CLINC150's ``valid`` + ``oos_valid`` (docs/explanation/results.md);
  Ledoit-Wolf's and OAS's own estimates (0.2-0.3) separated worse there.

Distances are measured in the learner's representation (``Learner.embed``): the frozen
embeddings, or those of the encoder ``finetune`` tuned. Plugins add scorers through the
``fewshot_scorers`` hook.

Thresholds never look at test data. :func:`calibrate_cv` uses the training shots alone: each is
scored by a learner fitted on the other folds (stratified k-fold), and the threshold is the
quantile of those in-scope scores that keeps the chosen share (``recall``, default 95%) in
scope. :func:`calibrate_held_out` uses held-out in-scope and out-of-scope texts (``valid`` +
``oos_valid``): the threshold with the best accuracy over both.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from fewshot.errors import ConfigError
from fewshot.learners.maths import class_means, l2_normalize
from fewshot.util.params import Constraint, Real, validate_params

if TYPE_CHECKING:  # the learners import scikit-learn; an ONNX bundle rejects without them
    from fewshot.learners.base import Learner

DEFAULT_OOS_LABEL = "oos"


class Scorer:
    """How in-scope inputs look to a fitted learner. Subclasses set ``name``, implement
    ``fit`` / ``score`` and, to be saved in a model, ``get_state`` / ``set_state``."""

    name: ClassVar[str] = ""
    parameter_constraints: ClassVar[dict[str, Constraint]] = {}

    def fit(self, learner: Learner, X: Any, y: np.ndarray) -> Scorer:
        return self

    def score(self, learner: Learner, X: Any) -> np.ndarray:
        raise NotImplementedError

    def get_state(self) -> dict[str, np.ndarray]:
        return {}

    def set_state(self, state: dict[str, np.ndarray]) -> Scorer:
        return self

    def params(self) -> dict[str, Any]:
        return {}


class MaxSoftmax(Scorer):
    """The largest class probability."""

    name = "msp"

    def score(self, learner, X):
        return np.asarray(learner.predict_proba(X)).max(axis=1)


class Energy(Scorer):
    """``logsumexp(logits)``: the free energy of the logits, negated."""

    name = "energy"

    def score(self, learner, X):
        from scipy.special import logsumexp

        if not hasattr(learner, "decision_function"):
            raise ConfigError(f"the energy scorer needs logits; learner {learner.name!r} has none")
        return logsumexp(np.asarray(learner.decision_function(X), dtype=np.float64), axis=1)


class _Representation(Scorer):
    """Scorers that measure the learner's representation of the support."""

    def _represent(self, learner: Learner, X) -> np.ndarray:
        try:
            return l2_normalize(np.asarray(learner.embed(X), dtype=np.float64))
        except NotImplementedError as exc:
            raise ConfigError(f"the {self.name} scorer: {exc}") from None


class PrototypeCosine(_Representation):
    """The largest cosine similarity to a class prototype."""

    name = "cosine"

    def fit(self, learner, X, y):
        _, means = class_means(self._represent(learner, X), np.asarray(y))
        self.prototypes_ = l2_normalize(np.asarray(means, dtype=np.float64))
        return self

    def score(self, learner, X):
        return (self._represent(learner, X) @ self.prototypes_.T).max(axis=1)

    def get_state(self):
        return {"prototypes": self.prototypes_}

    def set_state(self, state):
        self.prototypes_ = np.asarray(state["prototypes"], dtype=np.float64)
        return self


class NearestNeighbor(_Representation):
    """The largest cosine similarity to one support example."""

    name = "knn"

    def fit(self, learner, X, y):
        self.support_ = self._represent(learner, X)
        return self

    def score(self, learner, X):
        return (self._represent(learner, X) @ self.support_.T).max(axis=1)

    def get_state(self):
        return {"support": self.support_}

    def set_state(self, state):
        self.support_ = np.asarray(state["support"], dtype=np.float64)
        return self


class Mahalanobis(_Representation):
    """Minus the smallest Mahalanobis distance to a class mean (shared, shrunk covariance)."""

    name = "mahalanobis"
    parameter_constraints = {"shrinkage": Real(min=0, max=1)}

    def __init__(self, shrinkage: float = 0.9):
        self.shrinkage = shrinkage

    def params(self):
        return {"shrinkage": self.shrinkage}

    def fit(self, learner, X, y):
        Z, y = self._represent(learner, X), np.asarray(y)
        classes, means = class_means(Z, y)
        residuals = Z - means[np.searchsorted(classes, y)]
        covariance = residuals.T @ residuals / max(len(Z) - len(classes), 1)
        dimension = covariance.shape[0]
        scale = np.trace(covariance) / dimension or 1.0
        shrunk = (1 - self.shrinkage) * covariance + self.shrinkage * scale * np.eye(dimension)
        self.means_ = np.asarray(means, dtype=np.float64)
        self.precision_ = np.linalg.inv(shrunk)
        return self

    def score(self, learner, X):
        Z = self._represent(learner, X)
        # (z - m)' P (z - m) for every class mean m, without an n x k x d intermediate
        zp = Z @ self.precision_
        mp = self.means_ @ self.precision_
        distances = (
            np.einsum("nd,nd->n", zp, Z)[:, None]
            - 2 * zp @ self.means_.T
            + np.einsum("kd,kd->k", mp, self.means_)[None, :]
        )
        return -distances.min(axis=1)

    def get_state(self):
        return {"means": self.means_, "precision": self.precision_}

    def set_state(self, state):
        self.means_ = np.asarray(state["means"], dtype=np.float64)
        self.precision_ = np.asarray(state["precision"], dtype=np.float64)
        return self


BUILT_IN = (MaxSoftmax, Energy, PrototypeCosine, NearestNeighbor, Mahalanobis)
DEFAULT_SCORER = "mahalanobis"


def make_scorer(name: str, scorers: dict[str, type[Scorer]], params: dict | None = None) -> Scorer:
    from fewshot.errors import unknown_name

    if name not in scorers:
        raise unknown_name("out-of-scope scorer", name, scorers)
    scorer = scorers[name](**(params or {}))
    validate_params(scorer)
    return scorer


def auroc(in_scores: np.ndarray, oos_scores: np.ndarray) -> float:
    """The area under the ROC curve of telling in-scope (positive) from out-of-scope."""
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.ones(len(in_scores)), np.zeros(len(oos_scores))]
    return float(roc_auc_score(labels, np.r_[in_scores, oos_scores]))


def fpr_at_95_tpr(in_scores: np.ndarray, oos_scores: np.ndarray) -> float:
    """The share of out-of-scope texts kept in scope when 95% of in-scope texts are."""
    threshold = np.quantile(in_scores, 0.05, method="lower")
    return float(np.mean(oos_scores >= threshold))


def roc_points(in_scores: np.ndarray, oos_scores: np.ndarray, points: int = 101) -> dict:
    """The ROC curve of telling in-scope (positive) from out-of-scope, at ``points`` evenly
    spaced false-positive rates: small enough to keep in every record, fine enough to draw."""
    from sklearn.metrics import roc_curve

    labels = np.r_[np.ones(len(in_scores)), np.zeros(len(oos_scores))]
    fpr, tpr, _ = roc_curve(labels, np.r_[in_scores, oos_scores])
    grid = np.linspace(0.0, 1.0, points)
    best = tpr[np.searchsorted(fpr, grid, side="right") - 1]  # the best TPR at each FPR or below
    return {"fpr": grid.round(4).tolist(), "tpr": best.round(4).tolist()}


def recall_threshold(in_scores: np.ndarray, recall: float) -> float:
    """The largest threshold that keeps at least ``recall`` of ``in_scores`` in scope."""
    return float(np.quantile(in_scores, 1 - recall, method="lower"))


def calibrate_cv(
    learner: Learner,
    X: Any,
    y: np.ndarray,
    scorers: Sequence[Scorer],
    *,
    recall: float,
    folds: int = 5,
    seed: int = 0,
    fit: Callable[[Learner, Any, np.ndarray], Any] | None = None,
) -> dict[str, float]:
    """Thresholds from the training shots alone: each support example is scored by a copy of
    ``learner`` (and each scorer) fitted on the other folds of a stratified k-fold split;
    each threshold keeps ``recall`` of those held-out in-scope scores in scope."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    _, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        raise ConfigError(
            "calibrating an out-of-scope threshold from the training shots needs at least two "
            "examples of every class; give held-out data (valid + oos_valid) or a threshold"
        )
    k = int(min(folds, counts.min()))
    held_out: dict[str, list[np.ndarray]] = {s.name: [] for s in scorers}
    splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    for train, test in splits:
        fold = copy.deepcopy(learner)
        (fit or _fit)(fold, _take(X, train), y[train])
        for scorer in scorers:
            fitted = copy.deepcopy(scorer).fit(fold, _take(X, train), y[train])
            held_out[scorer.name].append(fitted.score(fold, _take(X, test)))
    return {
        name: recall_threshold(np.concatenate(parts), recall) for name, parts in held_out.items()
    }


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


@dataclass
class Rejection:
    """A fitted scorer and its threshold: what turns a prediction into ``oos_label``."""

    scorer: Scorer
    threshold: float
    oos_label: str = DEFAULT_OOS_LABEL
    recall: float | None = None
    calibration: str = "given"

    def reject(self, learner: Learner, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rejected mask) of inputs ``X``."""
        scores = self.scorer.score(learner, X)
        return scores, scores < self.threshold

    def describe(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer.name,
            "scorer_params": self.scorer.params(),
            "threshold": self.threshold,
            "oos_label": self.oos_label,
            "recall": self.recall,
            "calibration": self.calibration,
        }


def load_rejection(
    description: dict[str, Any], state: dict[str, np.ndarray], scorers: dict[str, type[Scorer]]
) -> Rejection:
    """The rule a model directory stores: its ``reject`` description and the scorer's arrays
    (``reject.`` names in the state). Raises KeyError, TypeError, ValueError or ConfigError on
    one that does not make sense."""
    scorer = make_scorer(description["scorer"], scorers, description.get("scorer_params") or {})
    scorer.set_state({k.removeprefix("reject."): v for k, v in state.items()})
    return Rejection(
        scorer,
        float(description["threshold"]),
        oos_label=str(description["oos_label"]),
        recall=description.get("recall"),
        calibration=str(description.get("calibration", "given")),
    )
