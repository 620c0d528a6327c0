"""Baselines for cross-domain runs: logistic regression on frozen embeddings, trained on the
labelled source alone (``source-only``), on the K target labels alone (``target-only``), or on
both pooled without any alignment (``source+target``).

They answer the questions every alignment result must face: does the method beat simply
training on the source, on the few target labels, or on both?
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression

from fewshot import hookimpl
from fewshot.learners.base import Learner, check_query, check_support
from fewshot.learners.maths import softmax, softmax_weights
from fewshot.util.params import Integer, OneOf, OrNone, Real


class _DomainLogisticRegression(Learner):
    """Logistic regression on whichever of source and target data the subclass uses.

    Parameters
    ----------
    C : float, default 1.0
        Inverse of the L2 regularisation strength: smaller is stronger.
    max_iter : int, default 1000
        Iterations of lbfgs at most.
    class_weight : "balanced" or None, default None
        ``"balanced"`` weights classes inverse to their frequency in the training data.
    """

    uses_source: ClassVar[bool] = True
    uses_target: ClassVar[bool] = True
    parameter_constraints = {
        "C": Real(min=0, min_open=True),
        "max_iter": Integer(min=1),
        "class_weight": OrNone(OneOf("balanced")),
    }

    def __init__(self, C: float = 1.0, max_iter: int = 1000, class_weight: str | None = None):
        self.C = C
        self.max_iter = max_iter
        self.class_weight = class_weight  # "balanced": weights inverse to class frequency

    def fit(self, X: Any, y: Any, *, source: Any = None) -> _DomainLogisticRegression:
        y = np.asarray(y)
        if len(y):  # validated even where unused, so a broken task is never silently accepted
            X, y = check_support(self, X, y)
        parts_X, parts_y = [], []
        if self.uses_target and len(y):
            parts_X.append(X)
            parts_y.append(y)
        elif self.uses_target and not self.uses_source:
            raise ValueError(f"{self.name} needs target labels (K >= 1); this task has none")
        if self.uses_source:
            if source is None:
                raise ValueError(
                    f"{self.name} needs labelled source data: fit(X, y, source=(X, y))"
                )
            X_source, y_source = check_support(self, *source)
            parts_X.append(X_source)
            parts_y.append(y_source)
        # The target's classes: those of its labels, or the source's when there are none.
        self.classes_ = np.unique(y) if len(y) else np.unique(parts_y[-1])
        train_y = np.concatenate(parts_y)
        missing = sorted(set(self.classes_) - set(train_y))
        if missing:
            raise ValueError(
                f"{self.name}: the source has no examples of target classes {missing[:5]}"
            )
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight=self.class_weight)
        model.fit(np.concatenate(parts_X), train_y)
        # Kept as softmax weights of the target's classes only: the source may have others.
        weights, bias = softmax_weights(model.coef_, model.intercept_)
        columns = np.searchsorted(model.classes_, self.classes_)
        self.weights_, self.bias_ = weights[columns], bias[columns]
        self.n_features_in_ = model.n_features_in_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        self._check_fitted("weights_")
        return softmax(check_query(self, X) @ self.weights_.T + self.bias_)

    def get_state(self) -> dict[str, np.ndarray]:
        self._check_fitted("weights_")
        return {"weights": self.weights_, "bias": self.bias_}

    def set_state(self, classes, state) -> _DomainLogisticRegression:
        self.classes_ = np.asarray(classes, dtype=object)
        self.weights_ = np.asarray(state["weights"])
        self.bias_ = np.asarray(state["bias"])
        self.n_features_in_ = self.weights_.shape[1]
        return self


class SourceOnlyLearner(_DomainLogisticRegression):
    """Logistic regression on the labelled source alone; ignores the target labels."""

    name = "source-only"
    fit_inputs = frozenset({"source"})
    uses_target = False


class TargetOnlyLearner(_DomainLogisticRegression):
    """Logistic regression on the K target labels alone; ignores the source."""

    name = "target-only"
    uses_source = False


class PooledLearner(_DomainLogisticRegression):
    """Logistic regression on source and target labels pooled, without alignment."""

    name = "source+target"
    fit_inputs = frozenset({"source"})


@hookimpl
def fewshot_learners():
    return [SourceOnlyLearner, TargetOnlyLearner, PooledLearner]
