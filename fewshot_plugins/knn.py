"""k-nearest neighbours on frozen embeddings (cosine distance, distance-weighted votes).

Multi-label (``fit_label_sets``): a text's score for a label is the (distance-weighted) share
of its neighbours that carry the label, decided by the label's threshold."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from fewshot import hookimpl
from fewshot.data.labels import is_label_sets
from fewshot.learners.base import Learner, check_query, check_support
from fewshot.util.params import Integer, OneOf


class NearestNeighborsLearner(Learner):
    """k-NN; with fewer support examples than ``n_neighbors``, all of them vote.

    Parameters
    ----------
    n_neighbors : int, default 5
        How many support examples vote.
    metric : {"cosine", "euclidean", "manhattan"}, default "cosine"
        The distance between embeddings.
    weights : {"distance", "uniform"}, default "distance"
        ``"distance"``: nearer neighbours weigh more; ``"uniform"``: one vote each.
    """

    name = "knn"
    supports_multi_label = True
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
        if is_label_sets(y):
            return self.fit_label_sets(X, y)
        X, y = check_support(self, X, y)
        k = min(self.n_neighbors, len(y))
        self.model_ = KNeighborsClassifier(n_neighbors=k, metric=self.metric, weights=self.weights)
        self.model_.fit(X, y)
        self.support_, self.support_labels_ = X, y
        self.classes_ = self.model_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def _fit_label_sets(self, X, Y) -> None:
        k = min(self.n_neighbors, len(Y))
        self.model_ = NearestNeighbors(n_neighbors=k, metric=self.metric).fit(X)
        self.support_, self.support_labels_ = X, Y
        self.n_features_in_ = X.shape[1]

    def get_state(self) -> dict[str, np.ndarray]:
        self._check_fitted("model_")
        if getattr(self, "multi_label_", False):
            return {
                "support": self.support_,
                "support_labels": self.support_labels_.astype(np.int64),
                "thresholds": self.thresholds_,
            }
        codes = np.searchsorted(self.classes_, self.support_labels_)
        return {"support": self.support_, "support_codes": codes.astype(np.int64)}

    def set_state(self, classes, state) -> NearestNeighborsLearner:
        classes = np.asarray(classes, dtype=object)
        if "thresholds" in state:
            self.classes_, self.multi_label_ = classes, True
            self.thresholds_ = np.asarray(state["thresholds"])
            self._fit_label_sets(np.asarray(state["support"]), np.asarray(state["support_labels"]))
            return self
        return self.fit(state["support"], classes[state["support_codes"]])

    def predict_proba(self, X) -> np.ndarray:
        self._check_fitted("model_")
        X = check_query(self, X)
        if not getattr(self, "multi_label_", False):
            return self.model_.predict_proba(X)
        distances, neighbours = self.model_.kneighbors(X)
        if self.weights == "distance":
            weights = 1.0 / np.maximum(distances, 1e-12)
        else:
            weights = np.ones_like(distances)
        votes = np.einsum(
            "nk,nkl->nl", weights, self.support_labels_[neighbours].astype(np.float64)
        )
        return np.clip(votes / weights.sum(axis=1, keepdims=True), 0.0, 1.0)  # rounding


@hookimpl
def fewshot_learners():
    return [NearestNeighborsLearner]
