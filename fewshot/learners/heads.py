"""A learner's predictions as a linear head over embeddings, which code other than the
learner's can run: ``activation(X @ weights.T + bias)``, the rows of ``X`` first scaled to unit
length where ``normalize``. Learners whose ``predict_proba`` is such a head say so
(``Learner.linear_head``); ``fewshot export`` then writes it into the ONNX bundle, and the
bundle predicts with numpy alone (see :mod:`fewshot.deploy.onnx_model`). numpy only, on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fewshot.learners.maths import l2_normalize, softmax

ACTIVATIONS = ("softmax", "sigmoid")


@dataclass(frozen=True)
class LinearHead:
    """Class probabilities from embeddings.

    Parameters
    ----------
    weights : ndarray of shape (n_labels, dimension)
    bias : ndarray of shape (n_labels,)
    activation : str
        ``softmax`` (one label per text: the columns sum to 1) or ``sigmoid`` (multi-label:
        one independent probability per label).
    normalize : bool
        Scale each embedding to unit length first.
    """

    weights: np.ndarray
    bias: np.ndarray
    activation: str
    normalize: bool = False

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r}: expected one of {ACTIVATIONS}")
        if self.weights.ndim != 2 or self.bias.shape != (self.weights.shape[0],):
            raise ValueError(
                f"weights {self.weights.shape} and bias {self.bias.shape} do not fit together"
            )

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """The embeddings as the head reads them (unit length where ``normalize``)."""
        X = np.asarray(X, dtype=np.float32)
        return l2_normalize(X) if self.normalize else X

    def logits(self, X: np.ndarray) -> np.ndarray:
        return self.inputs(X) @ self.weights.T + self.bias

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        logits = self.logits(X)
        if self.activation == "softmax":
            return softmax(logits)
        return np.exp(-np.logaddexp(0.0, -logits.astype(np.float64)))  # expit, without overflow
