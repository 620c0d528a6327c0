"""The interface of acquisition strategies and what they see of a pool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fewshot.errors import ConfigError


@dataclass(frozen=True)
class PoolView:
    """A pool of unlabelled texts as a strategy sees it.

    Parameters
    ----------
    proba : ndarray of shape (n, n_classes)
        The model's probabilities for each pool text (calibrated where the model is).
    vectors : ndarray of shape (n, dimension)
        Each pool text's embedding, unit length.
    classes : ndarray of shape (n_classes,)
        The model's classes, the columns of ``proba``.
    labelled : ndarray of shape (m, dimension)
        The embeddings of the texts labelled already (unit length; may be empty): a diverse
        choice keeps away from them too.
    labelled_counts : ndarray of shape (n_classes,)
        How many labelled texts each class has.
    """

    proba: np.ndarray
    vectors: np.ndarray
    classes: np.ndarray
    labelled: np.ndarray
    labelled_counts: np.ndarray

    def __post_init__(self):
        n = len(self.vectors)
        if self.proba.shape != (n, len(self.classes)):
            raise ValueError(
                f"proba {self.proba.shape} does not fit {n} texts of {len(self.classes)} classes"
            )

    @property
    def predicted(self) -> np.ndarray:
        """The column of each text's most probable class."""
        return self.proba.argmax(1)

    def margin(self) -> np.ndarray:
        """The most probable class's probability less the second's (small: undecided)."""
        if self.proba.shape[1] < 2:
            return np.ones(len(self.proba))
        top = np.sort(self.proba, axis=1)[:, -2:]
        return top[:, 1] - top[:, 0]

    def entropy(self) -> np.ndarray:
        """The entropy of each text's probabilities, in nats."""
        p = np.clip(self.proba, 1e-12, 1.0)
        return -(p * np.log(p)).sum(1)


class Strategy:
    """Base class of acquisition strategies. Subclasses set ``name`` and ``description`` and
    implement :meth:`rank`."""

    #: What users give to ``--strategy``.
    name: ClassVar[str] = ""
    #: One line for ``fewshot suggest --help`` and the docs.
    description: ClassVar[str] = ""

    def rank(self, pool: PoolView, budget: int, rng: np.random.Generator) -> np.ndarray:
        """The rows of the pool to label, best first, ``budget`` of them at most; ``rng``
        decides every random choice (seeded by the caller)."""
        raise NotImplementedError

    def scores(self, pool: PoolView) -> np.ndarray | None:
        """A per-text number that says why it was picked (higher: more wanted), shown beside
        the suggestions; None where the strategy has none."""
        return None


def make_strategy(name: str, known: dict[str, type[Strategy]]) -> Strategy:
    """A strategy by name, or a ConfigError listing the known ones."""
    if name not in known:
        raise ConfigError(f"unknown strategy {name!r}; known: {', '.join(sorted(known))}")
    return known[name]()
