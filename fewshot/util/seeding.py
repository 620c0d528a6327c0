"""Seeds: the one meaning of ``random_state`` across fewshot, and torch seeded in a fork.

``random_state=None`` means seed 0: every fewshot run is reproducible unless asked otherwise, and
the evaluator varies seeds explicitly, per episode. Randomness never comes from, or changes, the
caller's global RNGs: numpy draws come from a :class:`numpy.random.Generator` of the seed, and
torch's from a forked RNG (:func:`torch_seeded`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


def seed_of(random_state: int | None) -> int:
    """The integer seed of a ``random_state`` parameter (None: 0)."""
    return 0 if random_state is None else int(random_state)


def generator(random_state: int | None) -> np.random.Generator:
    """A numpy generator of :func:`seed_of` ``random_state``."""
    return np.random.default_rng(seed_of(random_state))


@contextmanager
def torch_seeded(random_state: int | None) -> Iterator[None]:
    """Run the block with torch's RNGs seeded, restoring the caller's RNG state afterwards (the
    CPU's, and the GPUs' where CUDA is in use), so that weight initialisation and dropout are
    reproducible and nothing outside the block sees a change."""
    import torch

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed_of(random_state))
        yield
