"""k-nearest neighbours on frozen embeddings (cosine distance, distance-weighted votes)."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from fewshot import hookimpl
from fewshot.learners import Learner, check_query, check_support
from fewshot.params import Integer, OneOf


class NearestNeighborsLearner(Learner):
    """k-NN; with fewer support examples than ``n_neighbors``, all of them vote."""

    name = "knn"
    parameter_constraints = {
        "n_neighbors": Integer(min=1),
        "metric": OneOf("cosine", "euclidean", "manhattan"),
        "weights": OneOf("distance", "uniform"),
    }

    def __init__(self, n_neighbors: int = 5, metric: str = "cosine", weights: str = "distance"):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.weights = weights

    def fit(self, X, y) -> NearestNeighborsLearner:
        X, y = check_support(self, X, y)
        k = min(self.n_neighbors, len(y))
        self.model_ = KNeighborsClassifier(n_neighbors=k, metric=self.metric, weights=self.weights)
        self.model_.fit(X, y)
        self.support_, self.support_labels_ = X, y
        self.classes_ = self.model_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def get_state(self) -> dict[str, np.ndarray]:
        self._check_fitted("model_")
        codes = np.searchsorted(self.classes_, self.support_labels_)
        return {"support": self.support_, "support_codes": codes.astype(np.int64)}

    def set_state(self, classes, state) -> NearestNeighborsLearner:
        classes = np.asarray(classes, dtype=object)
        return self.fit(state["support"], classes[state["support_codes"]])

    def predict_proba(self, X) -> np.ndarray:
        self._check_fitted("model_")
        return self.model_.predict_proba(check_query(self, X))


@hookimpl
def fewshot_learners():
    return [NearestNeighborsLearner]
