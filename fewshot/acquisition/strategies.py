"""The built-in acquisition strategies.

- ``random``: texts drawn at random (the baseline every strategy must beat).
- ``balanced``: at random, but in turn from each class the model predicts, those with the
  fewest labels first: what a person labelling "a few of each" does.
- ``margin``: the texts whose two most probable classes are closest (uncertainty).
- ``entropy``: the texts whose probabilities are most spread (uncertainty over all classes).
- ``kcenter``: k-center greedy on the embeddings: each pick the text farthest from everything
  labelled or picked (diversity; Sener & Savarese, 2018).
- ``hybrid`` (the default): k-center greedy weighted by uncertainty and class balance: each
  pick maximises ``(1 - margin) * distance / sqrt(1 + labels of its predicted class)``, so
  it takes undecided texts unlike those labelled, and spreads over the classes. A batch of pure
  uncertainty picks many near-copies of one confusion; pure diversity picks outliers the model
  is sure of.
"""

from __future__ import annotations

import numpy as np

from fewshot.acquisition.base import PoolView, Strategy


class RandomStrategy(Strategy):
    name = "random"
    description = "texts at random: the baseline"

    def rank(self, pool: PoolView, budget: int, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(len(pool.vectors))[:budget]


class BalancedStrategy(Strategy):
    name = "balanced"
    description = "at random, in turn from each predicted class, the least labelled first"

    def rank(self, pool: PoolView, budget: int, rng: np.random.Generator) -> np.ndarray:
        predicted = pool.predicted
        queues = {
            c: list(rng.permutation(np.flatnonzero(predicted == c)))
            for c in range(len(pool.classes))
        }
        counts = pool.labelled_counts.astype(float).copy()
        picked: list[int] = []
        while len(picked) < budget and any(queues.values()):
            open_ = [c for c, q in queues.items() if q]
            # the least labelled class next; ties broken at random, not by class order
            c = min(open_, key=lambda k: (counts[k], rng.random()))
            picked.append(int(queues[c].pop()))
            counts[c] += 1
        return np.asarray(picked, dtype=int)


class MarginStrategy(Strategy):
    name = "margin"
    description = "the texts whose two most probable classes are closest"

    def scores(self, pool: PoolView) -> np.ndarray:
        return 1.0 - pool.margin()

    def rank(self, pool: PoolView, budget: int, rng: np.random.Generator) -> np.ndarray:
        return _best(self.scores(pool), budget, rng)


class EntropyStrategy(Strategy):
    name = "entropy"
    description = "the texts whose class probabilities are most spread"

    def scores(self, pool: PoolView) -> np.ndarray:
        return pool.entropy()

    def rank(self, pool: PoolView, budget: int, rng: np.random.Generator) -> np.ndarray:
        return _best(self.scores(pool), budget, rng)


class KCenterStrategy(Strategy):
    name = "kcenter"
    description = "k-center greedy: each pick the text farthest from all labelled or picked"

    def rank(self, pool: PoolView, budget: int, rng: np.random.Generator) -> np.ndarray:
        return _greedy(pool, budget, rng, weight=np.ones(len(pool.vectors)), balance=False)


class HybridStrategy(Strategy):
    name = "hybrid"
    description = "undecided texts unlike those labelled, spread over the classes (default)"

    def scores(self, pool: PoolView) -> np.ndarray:
        return 1.0 - pool.margin()

    def rank(self, pool: PoolView, budget: int, rng: np.random.Generator) -> np.ndarray:
        return _greedy(pool, budget, rng, weight=self.scores(pool) + 1e-3, balance=True)


def _best(scores: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """The ``budget`` highest scores; ties in a random order (from ``rng``), not by row."""
    order = np.lexsort((rng.random(len(scores)), -scores))
    return order[:budget]


def _greedy(
    pool: PoolView, budget: int, rng: np.random.Generator, *, weight: np.ndarray, balance: bool
) -> np.ndarray:
    """Weighted k-center greedy: each pick maximises weight x cosine distance to the nearest
    labelled or picked text (divided by sqrt(1 + labels of its predicted class) with
    ``balance``). With nothing labelled, the first pick is the best-weighted text."""
    vectors = pool.vectors.astype(np.float32, copy=False)
    n = len(vectors)
    if len(pool.labelled):
        nearest = 1.0 - (vectors @ pool.labelled.T.astype(np.float32)).max(1)
    else:
        nearest = np.ones(n, dtype=np.float32)
    nearest = np.maximum(nearest, 0.0)
    predicted = pool.predicted
    counts = pool.labelled_counts.astype(float).copy()
    jitter = rng.random(n) * 1e-9  # ties at random
    picked: list[int] = []
    taken = np.zeros(n, dtype=bool)
    for _ in range(min(budget, n)):
        value = weight * nearest + jitter
        if balance:
            value = value / np.sqrt(1.0 + counts[predicted])
        value[taken] = -np.inf
        best = int(np.argmax(value))
        picked.append(best)
        taken[best] = True
        counts[predicted[best]] += 1
        nearest = np.minimum(nearest, np.maximum(1.0 - vectors @ vectors[best], 0.0))
    return np.asarray(picked, dtype=int)


BUILT_IN = [
    HybridStrategy,
    MarginStrategy,
    EntropyStrategy,
    KCenterStrategy,
    BalancedStrategy,
    RandomStrategy,
]
