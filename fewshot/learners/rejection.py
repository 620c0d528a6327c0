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

Thresholds never look at test data (see :mod:`fewshot.learners.rejection_calibration`): from
the training shots alone, the quantile of held-out in-scope scores that keeps the chosen share
(``recall``, default 95%) in scope; or, given held-out in-scope and out-of-scope texts
(``valid`` + ``oos_valid``), the threshold with the best accuracy over both.
"""

from __future__ import annotations

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


@dataclass
class Rejection:
    """A fitted scorer and its threshold: what turns a prediction into ``oos_label``."""

    scorer: Scorer
    threshold: float
    oos_label: str = DEFAULT_OOS_LABEL
    recall: float | None = None
    calibration: str = "given"
    #: What the calibration folds measured (:func:`~fewshot.learners.rejection_calibration.measure`),
    #: None for a given threshold; its ``probability`` maps a raw score to P(in scope).
    measured: dict[str, Any] | None = None

    def reject(self, learner: Learner, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rejected mask) of inputs ``X``."""
        scores = self.scorer.score(learner, X)
        return scores, scores < self.threshold

    def in_scope_probability(self, scores: np.ndarray) -> np.ndarray | None:
        """P(in scope) of raw ``scores``, where the calibration measured it (else None): the
        logistic curve fitted on held-out in-scope texts against texts of classes held out of
        training, with a prior of one in two."""
        curve = (self.measured or {}).get("probability")
        if curve is None:
            return None
        logits = curve["slope"] * np.asarray(scores, dtype=np.float64) + curve["intercept"]
        return 1 / (1 + np.exp(-np.clip(logits, -500, 500)))

    def describe(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer.name,
            "scorer_params": self.scorer.params(),
            "threshold": self.threshold,
            "oos_label": self.oos_label,
            "recall": self.recall,
            "calibration": self.calibration,
            "measured": self.measured,
        }

    def summary(self) -> str:
        """One line on what was chosen and measured, as ``adapt`` prints it."""
        line = f"out-of-scope rejection: scorer {self.scorer.name}, threshold {self.threshold:.4g}"
        m = self.measured
        if m is None:
            return line + " (given; nothing measured)"
        low, high = m["recall_interval"]
        line += (
            f", aiming to keep {self.recall:.0%} of in-scope texts; the calibration folds kept "
            f"{m['kept']} of {m['calibration_texts']} held-out training texts (in-scope recall "
            f"on new texts {m['expected_recall']:.2f}, 90% interval {low:.2f}-{high:.2f})"
        )
        if m["unseen_class_texts"]:
            line += (
                f" and rejected {m['unseen_class_rejected']} of {m['unseen_class_texts']} "
                "texts of classes held out of training; at the threshold, the in-scope "
                f"probability is {float(self.in_scope_probability(self.threshold)):.2f}"
            )
        return line


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
        measured=_measured(description.get("measured")),
    )


def _measured(value: Any) -> dict[str, Any] | None:
    """A stored ``measured``, checked where it is used (its probability curve); None in models
    saved before it existed."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"'measured' must be a table, got {value!r:.40}")
    curve = value.get("probability")
    if curve is not None:
        curve = {"slope": float(curve["slope"]), "intercept": float(curve["intercept"])}
        if not all(np.isfinite(list(curve.values()))):
            raise ValueError("a non-finite in-scope probability curve")
    return {**value, "probability": curve}
