"""Prototypical networks (Snell et al. 2017) over frozen embeddings.

Each class is represented by the mean of its support embeddings; a query goes to the nearest
prototype. With ``metric="cosine"`` prototypes and queries are compared by cosine similarity
(scaled by ``temperature`` before the softmax); with ``"euclidean"`` by negative squared distance.
"""

from __future__ import annotations

import numpy as np

from fewshot import hookimpl
from fewshot.errors import ConfigError
from fewshot.learners import Learner, check_query, check_support
from fewshot.maths import class_means, l2_normalize, softmax, squared_distances


class PrototypicalLearner(Learner):
    """Nearest class mean on frozen embeddings (cosine or euclidean)."""

    name = "protonet"

    def __init__(self, metric: str = "cosine", temperature: float = 10.0):
        self.metric = metric
        self.temperature = temperature

    def fit(self, X, y) -> PrototypicalLearner:
        if self.metric not in ("cosine", "euclidean"):
            raise ConfigError(
                f"protonet: metric must be 'cosine' or 'euclidean', got {self.metric!r}"
            )
        X, y = check_support(self, X, y)
        self.classes_, self.prototypes_ = class_means(X, y)
        if self.metric == "cosine":
            self.prototypes_ = l2_normalize(self.prototypes_)
        self.n_features_in_ = X.shape[1]
        return self

    def get_state(self) -> dict[str, np.ndarray]:
        self._check_fitted("prototypes_")
        return {"prototypes": self.prototypes_}

    def set_state(self, classes, state) -> PrototypicalLearner:
        self.classes_ = np.asarray(classes, dtype=object)
        self.prototypes_ = np.asarray(state["prototypes"], dtype=np.float32)
        self.n_features_in_ = self.prototypes_.shape[1]
        return self

    def decision_function(self, X) -> np.ndarray:
        self._check_fitted("prototypes_")
        X = check_query(self, X)
        if self.metric == "cosine":
            return self.temperature * (l2_normalize(X) @ self.prototypes_.T)
        return -squared_distances(X, self.prototypes_)

    def predict_proba(self, X) -> np.ndarray:
        return softmax(self.decision_function(X))


@hookimpl
def fewshot_learners():
    return [PrototypicalLearner]
