"""What to label next: acquisition strategies that rank a pool of unlabelled texts by how
much a label on each would teach the model (see :mod:`fewshot.acquisition.strategies`).

A strategy sees the pool through a :class:`PoolView` (the model's probabilities, the texts'
embeddings, what is labelled already) and returns the rows to label, best first. The built-in
ones register through the ``fewshot_strategies`` hook like any plugin's; ``fewshot suggest``
and the active-learning protocol find them by name.
"""

from fewshot.acquisition.base import PoolView, Strategy
from fewshot.acquisition.strategies import BUILT_IN

__all__ = ["BUILT_IN", "PoolView", "Strategy"]
