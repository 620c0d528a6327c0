"""The built-in acquisition strategies.

- ``random``: texts drawn at random (the baseline every strategy must beat).
- ``balanced``: at random, but in turn from each class the model predicts, those with the
  fewest labels first: what a person labelling "a few of each" does.
- ``margin``: the texts whose two most probable classes are closest (uncertainty).
- ``entropy``: the texts whose probabilities are most spread (uncertainty over all classes).
- ``kcenter``: k-center greedy on the embeddings: each pick the text farthest from everything
  labelled or picked (diversity; Sener & Savarese, 2018).
- ``hybrid`` (the default): uncertainty with class balance: the smallest margins first, at most
  ``2 * budget / classes`` texts of any one predicted class. A batch of pure uncertainty picks
  many near-copies of one confusion. Chosen on banking77 ``valid`` (pool: train; five rounds of
  77 from one text per class; three seeds): 0.779 at 385 labels against 0.765 for ``margin``,
  0.754 for ``margin`` candidates thinned by k-center, 0.734 for k-center weighted by
  uncertainty and class balance, and 0.714 for ``random``.
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
        return _k_center(pool, budget, rng)


class HybridStrategy(Strategy):
    name = "hybrid"
    description = "the smallest margins, at most 2 x budget / classes per predicted class (default)"

    def scores(self, pool: PoolView) -> np.ndarray:
        return 1.0 - pool.margin()

    def rank(self, pool: PoolView, budget: int, rng: np.random.Generator) -> np.ndarray:
        cap = max(1, int(np.ceil(2 * budget / len(pool.classes))))
        taken = np.zeros(len(pool.classes), dtype=int)
        picked: list[int] = []
        for i in _best(self.scores(pool), len(pool.vectors), rng):
            c = pool.predicted[i]
            if taken[c] < cap:
                picked.append(int(i))
                taken[c] += 1
                if len(picked) == budget:
                    break
        return np.asarray(picked, dtype=int)


def _best(scores: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """The ``budget`` highest scores; ties in a random order (from ``rng``), not by row."""
    order = np.lexsort((rng.random(len(scores)), -scores))
    return order[:budget]


def _k_center(pool: PoolView, budget: int, rng: np.random.Generator) -> np.ndarray:
    """k-center greedy: each pick maximises the cosine distance to the nearest labelled or
    picked text; with nothing labelled, the first pick is at random."""
    vectors = pool.vectors.astype(np.float32, copy=False)
    n = len(vectors)
    if len(pool.labelled):
        nearest = 1.0 - (vectors @ pool.labelled.T.astype(np.float32)).max(1)
    else:
        nearest = np.ones(n, dtype=np.float32)
    nearest = np.maximum(nearest, 0.0) + rng.random(n) * 1e-9  # ties at random
    picked: list[int] = []
    for _ in range(min(budget, n)):
        best = int(np.argmax(nearest))
        picked.append(best)
        nearest = np.minimum(nearest, np.maximum(1.0 - vectors @ vectors[best], 0.0))
        nearest[picked] = -np.inf
    return np.asarray(picked, dtype=int)


BUILT_IN = [
    HybridStrategy,
    MarginStrategy,
    EntropyStrategy,
    KCenterStrategy,
    BalancedStrategy,
    RandomStrategy,
]
