"""Prototypical networks (Snell et al. 2017) over sentence embeddings.

Each class is represented by the mean of its support embeddings; a query goes to the nearest
prototype. With ``metric="cosine"`` prototypes and queries are compared by cosine similarity
(scaled by ``temperature`` before the softmax); with ``"euclidean"`` by negative squared distance.

By default the embeddings are used as they are (no training at all). With ``meta_steps > 0``
the learner is meta-trained as in the paper: a residual projection of the embeddings is trained
on episodes of the base classes with the prototypical loss, the checkpoint chosen on validation
episodes (see ``fewshot/projection.py``); prototypes and queries are then compared after it.

Multi-label (``fit_label_sets``): each label is its own two-way problem, a prototype of the
texts that carry it against one of the texts that do not; a text's score for the label is the
softmax of the two (the sigmoid of the scaled difference), decided by the label's threshold.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from fewshot import hookimpl
from fewshot.data.labels import is_label_sets
from fewshot.learners.base import Learner, NotFittedError, check_query, check_support
from fewshot.learners.maths import class_means, l2_normalize, softmax, squared_distances
from fewshot.util.params import Device, Integer, OneOf, OrNone, Real
from fewshot.util.seeding import torch_seeded


class PrototypicalLearner(Learner):
    """Nearest class mean on embeddings (cosine or euclidean), optionally meta-trained.

    Parameters
    ----------
    metric : {"cosine", "euclidean"}, default "cosine"
        How queries are compared with the prototypes.
    temperature : float, default 10.0
        The scale of cosine similarities before the softmax (higher: sharper probabilities).
    meta_steps : int, default 0
        Episodic meta-training steps of the projection on base classes; 0 uses the embeddings
        as they are.
    meta_batch_size : int, default 4
        Episodes per meta-training step.
    meta_learning_rate : float, default 1e-4
        Adam's learning rate for the projection.
    hidden : int, default 256
        Width of the projection's hidden layer.
    validate_every : int, default 50
        Meta-training steps between checkpoint choices on validation episodes.
    device : str, default "cpu"
        Where meta-training runs (``cpu``, ``cuda``, ``cuda:N``).
    random_state : int or None, default None
        The seed of meta-training; None: one derived from the run's seed and episode.
    """

    name = "protonet"
    supports_multi_label = True
    parameter_constraints = {
        "metric": OneOf("cosine", "euclidean"),
        "temperature": Real(min=0, min_open=True),
        "meta_steps": Integer(min=0),
        "meta_batch_size": Integer(min=1),
        "meta_learning_rate": Real(min=0, min_open=True),
        "hidden": Integer(min=1),
        "validate_every": Integer(min=1),
        "device": Device(),
        "random_state": OrNone(Integer(min=0)),
    }

    def __init__(
        self,
        metric: str = "cosine",
        temperature: float = 10.0,
        meta_steps: int = 0,
        meta_batch_size: int = 4,
        meta_learning_rate: float = 1e-4,
        hidden: int = 256,
        validate_every: int = 50,
        device: str = "cpu",
        random_state: int | None = None,
    ):
        self.metric = metric
        self.temperature = temperature
        self.meta_steps = meta_steps
        self.meta_batch_size = meta_batch_size
        self.meta_learning_rate = meta_learning_rate
        self.hidden = hidden
        self.validate_every = validate_every
        self.device = device
        self.random_state = random_state

    @property
    def meta_trained(self) -> bool:
        # Read before validation in places; a bad meta_steps is refused there, not here.
        return isinstance(self.meta_steps, (int, np.integer)) and self.meta_steps > 0

    def meta_fit(self, tasks) -> PrototypicalLearner:
        # torch only when meta-training
        from fewshot_plugins.protonet.projection import train_projection

        self.validate_params()
        with torch_seeded(self.random_state):  # initialisation; the caller's RNG is left alone
            self.projection_, self.meta_step_, self.meta_validation_accuracy_ = train_projection(
                tasks,
                metric=self.metric,
                temperature=self.temperature,
                hidden=self.hidden,
                steps=self.meta_steps,
                batch_size=self.meta_batch_size,
                learning_rate=self.meta_learning_rate,
                validate_every=self.validate_every,
                device=self.device,
            )
        return self

    def _embed(self, X: np.ndarray) -> np.ndarray:
        if not self.meta_trained:
            return X
        from fewshot_plugins.protonet.projection import project

        return project(self.projection_, X)

    def embed(self, X) -> np.ndarray:
        """The embeddings, after the meta-trained projection where there is one."""
        return self._embed(check_query(self, X))

    def fit(self, X, y) -> PrototypicalLearner:
        if is_label_sets(y):
            return self.fit_label_sets(X, y)
        X, y = check_support(self, X, y)
        if self.meta_trained and not hasattr(self, "projection_"):
            raise NotFittedError(
                "protonet with meta_steps > 0 is meta-trained: call meta_fit first (the "
                "evaluator does, on the setting's base classes)"
            )
        self.classes_, self.prototypes_ = class_means(self._embed(X), y)
        if self.metric == "cosine":
            self.prototypes_ = l2_normalize(self.prototypes_)
        self.n_features_in_ = X.shape[1]
        return self

    def _fit_label_sets(self, X, Y) -> None:
        if self.meta_trained:
            raise ValueError("a meta-trained protonet does not fit label sets")
        Z = self._embed(X).astype(np.float64)
        Y = Y.astype(np.float64)
        # texts carrying each label, and texts not carrying it (none: a zero prototype; a
        # calibration fold can lack every text of a rare label)
        positive = (Y.T @ Z) / np.maximum(Y.sum(axis=0), 1)[:, None]
        negative = ((1 - Y).T @ Z) / np.maximum((1 - Y).sum(axis=0), 1)[:, None]
        if self.metric == "cosine":
            positive, negative = l2_normalize(positive), l2_normalize(negative)
        self.prototypes_ = positive.astype(np.float32)
        self.negative_prototypes_ = negative.astype(np.float32)
        self.n_features_in_ = X.shape[1]

    def get_state(self) -> dict[str, np.ndarray]:
        self._check_fitted("prototypes_")
        projection = getattr(self, "projection_", {}) if self.meta_trained else {}
        multi = {}
        if getattr(self, "multi_label_", False):
            multi = {
                "negative_prototypes": self.negative_prototypes_,
                "thresholds": self.thresholds_,
            }
        return {"prototypes": self.prototypes_, **multi} | {
            f"projection.{k}": v for k, v in projection.items()
        }

    def set_state(self, classes, state) -> PrototypicalLearner:
        self.classes_ = np.asarray(classes, dtype=object)
        self.prototypes_ = np.asarray(state["prototypes"], dtype=np.float32)
        if "thresholds" in state:
            self.multi_label_, self.thresholds_ = True, np.asarray(state["thresholds"])
            self.negative_prototypes_ = np.asarray(state["negative_prototypes"], dtype=np.float32)
        prefix = "projection."
        if self.meta_trained:
            self.projection_ = {
                k[len(prefix) :]: np.asarray(v) for k, v in state.items() if k.startswith(prefix)
            }
        self.n_features_in_ = self.prototypes_.shape[1]  # the projection keeps the dimension
        return self

    def decision_function(self, X) -> np.ndarray:
        """Scaled similarities to the prototypes; for a multi-label fit, each label's
        similarity to its own prototype minus that to its negative one."""
        self._check_fitted("prototypes_")
        Z = self._embed(check_query(self, X))
        if self.metric == "cosine":
            Z = l2_normalize(Z)
            score = self.temperature * (Z @ self.prototypes_.T)
            if getattr(self, "multi_label_", False):
                score -= self.temperature * (Z @ self.negative_prototypes_.T)
            return score
        score = -squared_distances(Z, self.prototypes_)
        if getattr(self, "multi_label_", False):
            score += squared_distances(Z, self.negative_prototypes_)
        return score

    def predict_proba(self, X) -> np.ndarray:
        if getattr(self, "multi_label_", False):
            return expit(self.decision_function(X).astype(np.float64))
        return softmax(self.decision_function(X))


@hookimpl
def fewshot_learners():
    return [PrototypicalLearner]
