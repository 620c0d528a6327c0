"""learn2learn interoperability, both ways.

- :func:`as_meta_dataset` wraps a dataset's inputs as a ``learn2learn.data.MetaDataset`` whose
  indices are the dataset's rows, so learn2learn's task transforms can build a ``TaskDataset``.
- :class:`TaskDatasetEpisodes` turns such a ``TaskDataset`` into the episode source of a
  benchmark (``TaskDatasetSetting`` in :mod:`fewshot.evaluation.evaluator`): every learner is scored on
  the tasks learn2learn drew.
- The other way, :class:`fewshot.tasks.meta_training.EpisodeTasks` hands our episodes to learn2learn code:
  ``tasks[i]`` is a ``(data, labels)`` pair in learn2learn's layout.

Needs learn2learn (``pip install 'fewshot[meta]' && fewshot install-meta``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from fewshot.data.texts import LabeledTexts
from fewshot.errors import EpisodeError
from fewshot.integrations.learn2learn.install import import_learn2learn
from fewshot.tasks.episodes import Episode


def as_meta_dataset(data: LabeledTexts, X: np.ndarray) -> Any:
    """A ``learn2learn.data.MetaDataset`` of ``(X[i], label code)`` for every row ``i`` of
    ``data``; codes follow ``data.classes`` (sorted class names)."""
    learn2learn = import_learn2learn()
    if len(X) != len(data):
        raise ValueError(f"X has {len(X)} rows but {data.name} has {len(data)}")
    code = {label: i for i, label in enumerate(data.classes)}
    labels = torch.tensor([code[label] for label in data.labels], dtype=torch.long)
    inputs = torch.as_tensor(np.asarray(X, dtype=np.float32))
    return learn2learn.data.MetaDataset(torch.utils.data.TensorDataset(inputs, labels))


class TaskDatasetEpisodes:
    """The tasks of a ``learn2learn.data.TaskDataset`` as fewshot episodes.

    The taskset must be built on a dataset whose indices are the rows of ``data`` (e.g.
    :func:`as_meta_dataset`). Task ``i`` is the taskset's own task ``i``: where the taskset has
    not drawn it yet, it is drawn with Python's ``random`` seeded by ``(seed, i)`` and kept in
    the taskset, so the same seed gives the same tasks. As learn2learn's ``partition_task``
    does, the first ``shots`` examples of each class are the support and the rest the queries.
    """

    def __init__(self, taskset: Any, data: LabeledTexts, shots: int, *, seed: int = 0):
        self.taskset = taskset
        self.data = data
        self.shots = shots
        self.seed = seed

    def _rows(self, index: int) -> np.ndarray:
        drawn = self.taskset.sampled_descriptions
        if index not in drawn:
            state = random.getstate()
            random.seed(f"{self.seed}:{index}")
            try:
                drawn[index] = self.taskset.sample_task_description()
            finally:
                random.setstate(state)
        return np.array([d.index for d in drawn[index]], dtype=np.int64)

    def episode(self, index: int) -> Episode:
        rows = self._rows(index)
        labels = self.data.label_array[rows]
        classes = tuple(dict.fromkeys(labels))
        support, query = [], []
        for label in classes:
            members = rows[labels == label]
            if len(members) <= self.shots:
                raise EpisodeError(
                    f"task {index} of the TaskDataset has {len(members)} examples of "
                    f"{label!r}; {self.shots} shots and at least one query need {self.shots + 1}"
                )
            support.append(members[: self.shots])
            query.append(members[self.shots :])
        return Episode.from_rows(index, classes, support, query, self.data.label_array)

    def episodes(self, count: int, start: int = 0) -> Iterator[Episode]:
        for index in range(start, start + count):
            yield self.episode(index)
