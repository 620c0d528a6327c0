"""Small numeric helpers shared by learners and the evaluator."""

from __future__ import annotations

import numpy as np


def class_means(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted classes of ``y`` and the mean of ``X`` over each class."""
    classes, codes = np.unique(y, return_inverse=True)
    sums = np.zeros((len(classes), X.shape[1]), dtype=np.float64)
    np.add.at(sums, codes, X)
    counts = np.bincount(codes, minlength=len(classes))[:, None]
    return classes, (sums / counts).astype(np.float32)


def l2_normalize(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-12)


def squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``A`` and ``B``."""
    distances = (A * A).sum(1)[:, None] - 2.0 * A @ B.T + (B * B).sum(1)[None, :]
    return np.maximum(distances, 0.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
