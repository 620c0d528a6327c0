"""Meta-training: learning, from episodes of base classes, how to learn a new few-shot task.

A meta-trained learner (``Learner.meta_trained``) gets one call of ``meta_fit(tasks)`` before
the evaluation episodes, with :class:`MetaTrainingData`: an endless source of training tasks
drawn from the *base* classes and a fixed list of validation tasks from the *validation*
classes, which picks the checkpoint. The novel classes of the evaluation are never seen. Every
evaluation episode then starts from a copy of the meta-trained learner and calls ``fit`` on its
support set as usual.

:class:`EpisodeTasks` is also how our episodes reach learn2learn code: indexing it gives
``(data, labels)`` tensors in learn2learn's task layout (see ``fewshot.integrations.learn2learn.tasks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fewshot.data.texts import LabeledTexts
from fewshot.tasks.episodes import ClassSplit, EpisodeSampler


@dataclass(frozen=True, eq=False)
class Task:
    """One few-shot task as arrays. ``y_*`` are codes 0..N-1 in the order of ``classes``."""

    X_support: np.ndarray
    y_support: np.ndarray
    X_query: np.ndarray
    y_query: np.ndarray
    classes: tuple[str, ...]

    @property
    def ways(self) -> int:
        return len(self.classes)


class EpisodeTasks:
    """Episodes of a sampler, over the inputs ``X`` of its dataset's rows, as tasks.

    ``task(i)`` is episode ``i`` of the sampler (so a pure function of the sampler's seed and
    ``i``). For learn2learn code, ``tasks[i]`` is ``(data, labels)``: float tensors of the
    support then the query inputs, and labels 0..N-1, the layout of a learn2learn task after
    ``RemapLabels``; ``learn2learn.data.partition_task(data, labels, shots=tasks.shots)`` splits
    it back into support and queries.
    """

    def __init__(self, sampler: EpisodeSampler, X: np.ndarray, num_tasks: int = -1):
        if len(X) != len(sampler.data):
            raise ValueError(f"X has {len(X)} rows but {sampler.data.name} has {len(sampler.data)}")
        self.sampler = sampler
        self.X = X
        self.num_tasks = num_tasks

    @property
    def shots(self) -> int:
        return self.sampler.shots

    @property
    def ways(self) -> int:
        return self.sampler.ways

    def task(self, index: int) -> Task:
        episode = self.sampler.episode(index)
        code = {label: i for i, label in enumerate(episode.classes)}
        return Task(
            X_support=self.X[episode.support],
            y_support=np.array([code[c] for c in episode.support_labels], dtype=np.int64),
            X_query=self.X[episode.query],
            y_query=np.array([code[c] for c in episode.query_labels], dtype=np.int64),
            classes=episode.classes,
        )

    def __len__(self) -> int:
        if self.num_tasks < 0:
            raise TypeError("an endless EpisodeTasks (num_tasks=-1) has no length")
        return self.num_tasks

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if self.num_tasks >= 0 and not 0 <= index < self.num_tasks:
            raise IndexError(f"task {index} out of range of {self.num_tasks} tasks")
        task = self.task(index)
        data = np.concatenate([task.X_support, task.X_query])
        labels = np.concatenate([task.y_support, task.y_query])
        import torch  # learn2learn's layout; the rest of meta-training data needs no torch

        return torch.from_numpy(np.asarray(data, dtype=np.float32)), torch.from_numpy(labels)


@dataclass(frozen=True, eq=False)
class MetaTrainingData:
    """What ``Learner.meta_fit`` learns from: training tasks of the base classes (drawn in
    order, ``train.task(0)``, ``train.task(1)``, ...) and fixed validation tasks of the
    validation classes, which choose the checkpoint (empty: the last step is kept)."""

    train: EpisodeTasks
    validation: list[Task]

    @property
    def ways(self) -> int:
        return self.train.ways

    @classmethod
    def from_split(
        cls,
        split: ClassSplit,
        train: tuple[LabeledTexts, np.ndarray],
        validation: tuple[LabeledTexts, np.ndarray] | None = None,
        *,
        ways: int,
        shots: int,
        queries: int,
        seed: int = 0,
        domain: str | None = None,
        validation_episodes: int = 100,
    ) -> MetaTrainingData:
        """Training tasks of ``split.base`` from ``train`` (the data and the inputs of its rows)
        and ``validation_episodes`` tasks of ``split.validation`` from ``validation`` (default:
        ``train``); no validation tasks when the split has no validation classes. Classes too
        small for K + Q distinct texts are left out."""

        def tasks(part: tuple[LabeledTexts, np.ndarray], classes: tuple[str, ...]):
            data, X = part
            sampler = EpisodeSampler(
                data,
                ways,
                shots,
                queries,
                seed=seed,
                classes=classes,
                domain=domain,
                small_classes="skip",
            )
            return EpisodeTasks(sampler, X)

        held: list[Task] = []
        if split.validation:
            source = tasks(validation or train, split.validation)
            held = [source.task(i) for i in range(validation_episodes)]
        return cls(tasks(train, split.base), held)
