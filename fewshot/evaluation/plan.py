"""The plan of a benchmark: the work units still to run, in order.

Each (setting, learner) pair's missing episodes (those the journal does not hold) are cut into
chunks: one chunk per pair in this process, where outcomes stream into the journal one by one;
for parallel executors enough chunks to keep every worker busy, but not so small that the
per-unit overhead shows. A meta-trained learner's pair starts with its meta-training unit, and
its episode units wait for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fewshot.evaluation.work import WorkUnit

#: Most episodes in one unit of a parallel run: what a killed worker can cost.
MAX_CHUNK = 50


def chunk_size(missing: int, parallelism: int) -> int:
    """Episodes per unit: all of them in one process; about four units per worker otherwise."""
    if parallelism <= 1:
        return max(missing, 1)
    return max(1, min(MAX_CHUNK, math.ceil(missing / (4 * parallelism))))


def plan_units(
    missing: dict[tuple[int, int], Sequence[int]],
    meta_trained: Sequence[bool],
    parallelism: int,
) -> list[WorkUnit]:
    """Units for the ``missing`` episodes of each (setting, learner) pair, setting by setting;
    ``meta_trained[learner]`` says which learners need a meta-training unit first."""
    units = []
    for (setting, learner), episodes in sorted(missing.items()):
        if not episodes:
            continue
        episodes = sorted(episodes)
        needs_meta = meta_trained[learner]
        if needs_meta:
            units.append(WorkUnit(setting, learner, meta=True))
        size = chunk_size(len(episodes), parallelism)
        for start in range(0, len(episodes), size):
            chunk = tuple(episodes[start : start + size])
            units.append(WorkUnit(setting, learner, chunk, needs_meta=needs_meta))
    return units
