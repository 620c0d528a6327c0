"""The objective every student trains on, and its epochs (torch; imported only to distil).

The loss of a batch is the divergence of the teacher's head's probabilities on the student's
vectors from its probabilities on the teacher's own (KL for a softmax head, binary cross-entropy
against the teacher's probabilities for a sigmoid one), plus the distance between the vectors
(cosine where they are unit length, squared error otherwise): the first is what decides
predictions, the second keeps the vectors usable by the out-of-scope scorers, which read them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fewshot.util import progress


class Objective:
    """The teacher's head and vectors as torch tensors, and the loss of a batch against them.

    Parameters
    ----------
    head : LinearHead
        The teacher's head.
    targets : ndarray of shape (n_texts, dimension)
        The teacher's vectors of the pool, as its head reads them.
    normalize : bool
        Whether the student's vectors are unit length (cosine distance) or not (squared error).
    device : torch.device
    """

    def __init__(self, head, targets: np.ndarray, normalize: bool, device):
        import torch

        self.weights = torch.from_numpy(np.asarray(head.weights, dtype=np.float32)).to(device)
        self.bias = torch.from_numpy(np.asarray(head.bias, dtype=np.float32)).to(device)
        self.targets = torch.from_numpy(np.asarray(targets, dtype=np.float32)).to(device)
        self.softmax = head.activation == "softmax"
        self.normalize = normalize
        logits = self.targets @ self.weights.T + self.bias
        self.target_logits = logits
        self.target_proba = logits.softmax(1) if self.softmax else logits.sigmoid()

    def loss(self, vectors, rows):
        import torch.nn.functional as F

        logits = vectors @ self.weights.T + self.bias
        if self.softmax:
            divergence = F.kl_div(
                logits.log_softmax(1), self.target_proba[rows], reduction="batchmean"
            )
        else:
            divergence = F.binary_cross_entropy_with_logits(logits, self.target_proba[rows])
        if self.normalize:
            distance = (1 - F.cosine_similarity(vectors, self.targets[rows], dim=1)).mean()
        else:
            distance = F.mse_loss(vectors, self.targets[rows])
        return divergence + distance

    def agreement(self, vectors, rows) -> float:
        """How often the head decides on ``vectors`` as on the teacher's (the top label; each
        label's side of 0.5, multi-label)."""
        logits = vectors @ self.weights.T + self.bias
        if self.softmax:
            return float((logits.argmax(1) == self.target_logits[rows].argmax(1)).float().mean())
        return float(((logits > 0) == (self.target_logits[rows] > 0)).float().mean())


def train_epochs(
    train: np.ndarray,
    *,
    batch_size: int,
    epochs: int,
    patience: int,
    seed: int,
    step: Callable[[np.ndarray], None],
    score: Callable[[], float],
    snapshot: Callable[[], object],
) -> tuple[object, int]:
    """Epochs of ``step(rows)`` over shuffled batches of ``train``, each scored by ``score()``
    (agreement on the held-out rows); stops after ``patience`` epochs without a better score.
    Returns the ``snapshot()`` of the best epoch (the start counts) and the epochs run."""
    rng = np.random.default_rng(seed)
    best, kept, waited, ran = score(), snapshot(), 0, 0
    progress.expect(epochs * -(-len(train) // batch_size))
    for _ in range(epochs):
        ran += 1
        order = rng.permutation(train)
        for first in range(0, len(order), batch_size):
            step(order[first : first + batch_size])
            progress.step()
        now = score()
        if now > best:
            best, kept, waited = now, snapshot(), 0
        else:
            waited += 1
            if waited >= patience:
                break
    progress.finish()
    return kept, ran
