"""Small numeric helpers shared by learners and the evaluator."""

from __future__ import annotations

import numpy as np


def class_means(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted classes of ``y`` and the mean of ``X`` over each class."""
    classes, codes = np.unique(y, return_inverse=True)
    # A one-hot matrix product: far faster than np.add.at for the few rows of a support set.
    members = np.zeros((len(classes), len(codes)), dtype=np.float64)
    members[codes, np.arange(len(codes))] = 1.0
    sums = members @ np.asarray(X, dtype=np.float64)
    counts = members.sum(axis=1, keepdims=True)
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


def softmax_weights(coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A fitted scikit-learn logistic model as softmax weights, one row per class.

    A binary model has one row (class 1 against class 0); ``softmax([0, z])`` equals its
    ``sigmoid(z)``, so a row of zeros for class 0 makes it a two-class softmax.
    """
    if coef.shape[0] == 1:
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    return coef.astype(np.float32), intercept.astype(np.float32)


def stratified_hold_out(
    codes: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Positions to train on and to hold out, ``fraction`` of every class held out (none of a
    class with a single member)."""
    train, held = [], []
    for c in np.unique(codes):
        members = rng.permutation(np.flatnonzero(codes == c))
        n_held = round(fraction * len(members)) if len(members) > 1 else 0
        held += list(members[:n_held])
        train += list(members[n_held:])
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(held, dtype=np.int64))
