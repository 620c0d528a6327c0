"""A linear probe: scikit-learn's logistic regression on frozen embeddings."""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from fewshot import hookimpl
from fewshot.data.labels import is_label_sets
from fewshot.learners.base import Learner, check_query, check_support
from fewshot.learners.heads import LinearHead
from fewshot.learners.maths import softmax_weights
from fewshot.learners.multi_label import one_vs_rest
from fewshot.util.params import Integer, OneOf, OrNone, Real


class LogisticRegressionLearner(Learner):
    """Multinomial logistic regression (L2-regularised, lbfgs) on frozen embeddings.

    The default ``C=10`` was chosen on the `valid` splits of banking77 and clinc150 (full-way
    5-shot; accuracy plateaus for C in 10..30), never on test data. ``class_weight="balanced"``
    weights each class inverse to its frequency in the support set, for imbalanced labels.

    Parameters
    ----------
    C : float, default 10.0
        Inverse of the L2 regularisation strength: smaller is stronger.
    max_iter : int, default 1000
        Iterations of lbfgs at most.
    class_weight : "balanced" or None, default None
        ``"balanced"`` weights classes inverse to their frequency in the support.
    """

    name = "logreg"
    supports_multi_label = True
    parameter_constraints = {
        "C": Real(min=0, min_open=True),
        "max_iter": Integer(min=1),
        "class_weight": OrNone(OneOf("balanced")),
    }

    def __init__(self, C: float = 10.0, max_iter: int = 1000, class_weight: str | None = None):
        self.C = C
        self.max_iter = max_iter
        self.class_weight = class_weight  # "balanced": weights inverse to class frequency

    def fit(self, X, y) -> LogisticRegressionLearner:
        if is_label_sets(y):
            return self.fit_label_sets(X, y)
        X, y = check_support(self, X, y)
        self.model_ = LogisticRegression(
            C=self.C, max_iter=self.max_iter, class_weight=self.class_weight
        ).fit(X, y)
        self.classes_ = self.model_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def _fit_label_sets(self, X, Y) -> None:
        """One-vs-rest: one binary logistic regression per label (its own weights, its own
        sigmoid), so a text can score high on several labels at once."""
        coef, intercept = one_vs_rest(
            X, Y, C=self.C, max_iter=self.max_iter, class_weight=self.class_weight
        )
        self.model_ = _OneVsRest(coef, intercept)
        self.n_features_in_ = X.shape[1]

    def get_state(self) -> dict[str, np.ndarray]:
        self._check_fitted("model_")
        state = {"coef": self.model_.coef_, "intercept": self.model_.intercept_}
        if getattr(self, "multi_label_", False):
            state["thresholds"] = self.thresholds_
        return state

    def set_state(self, classes, state) -> LogisticRegressionLearner:
        if "thresholds" in state:
            self.classes_ = np.asarray(classes, dtype=object)
            self.multi_label_, self.thresholds_ = True, np.asarray(state["thresholds"])
            self.model_ = _OneVsRest(np.asarray(state["coef"]), np.asarray(state["intercept"]))
            self.n_features_in_ = self.model_.coef_.shape[1]
            return self
        # A fitted LogisticRegression is fully described by these attributes.
        self.model_ = LogisticRegression(C=self.C, max_iter=self.max_iter)
        self.model_.classes_ = self.classes_ = np.asarray(classes, dtype=object)
        self.model_.coef_ = np.asarray(state["coef"])  # keep the dtype it was fitted with
        self.model_.intercept_ = np.asarray(state["intercept"])
        self.model_.n_features_in_ = self.n_features_in_ = self.model_.coef_.shape[1]
        return self

    def linear_head(self) -> LinearHead:
        self._check_fitted("model_")
        if getattr(self, "multi_label_", False):
            return LinearHead(self.model_.coef_, self.model_.intercept_, "sigmoid")
        weights, bias = softmax_weights(self.model_.coef_, self.model_.intercept_)
        return LinearHead(weights, bias, "softmax")

    def decision_function(self, X) -> np.ndarray:
        """The logits, one column per class (two for a binary model: 0 and the logit)."""
        self._check_fitted("model_")
        logits = self.model_.decision_function(check_query(self, X))
        return np.column_stack([np.zeros_like(logits), logits]) if logits.ndim == 1 else logits

    def predict_proba(self, X) -> np.ndarray:
        self._check_fitted("model_")
        return self.model_.predict_proba(check_query(self, X))


class _OneVsRest:
    """The multi-label model: per-label weights and sigmoid probabilities."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray):
        self.coef_, self.intercept_ = coef, intercept

    def decision_function(self, X) -> np.ndarray:
        return X @ self.coef_.T + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        return expit(self.decision_function(X))


@hookimpl
def fewshot_learners():
    return [LogisticRegressionLearner]
