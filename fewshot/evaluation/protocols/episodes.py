"""N-way K-shot episodes: the protocol of the few-shot literature, from one dataset (optionally
its novel classes, with base and validation classes for meta-training), or from the tasks a
learn2learn ``TaskDataset`` draws."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fewshot.evaluation.protocols.base import (
    DataSource,
    Setting,
    classify_episode,
    label_name_input,
    label_vector_input,
)
from fewshot.tasks.episodes import ClassSplit, EpisodeSampler
from fewshot.tasks.meta_training import MetaTrainingData


@dataclass(frozen=True)
class EpisodeSetting(Setting):
    """N-way K-shot episodes drawn from one dataset.

    ``split_fractions`` (base, validation, seed) or ``split_domains`` (base, validation, novel
    domains) split the classes; episodes then come from the ``split_part`` classes (novel by
    default) and meta-trained learners train on episodes of the base classes of
    ``meta_train`` (default: ``dataset``) and validate on ``meta_validation``.

    Parameters
    ----------
    dataset : str
        The data episodes are drawn from: ``NAME:SPLIT`` or a file.
    ways, shots, queries : int
        N classes per episode, K support and Q query texts per class.
    episodes : int
        How many episodes.
    seed : int, default 0
        With the episode index, determines every random choice.
    domain : str or None, default None
        Draw only texts of this domain.
    classes : tuple of str or None, default None
        Draw only from these classes.
    split : ClassSplit or None, default None
        An explicit class split.
    split_fractions : (float, float, int) or None, default None
        Split the classes by fraction: base, validation, seed.
    split_domains : three tuples of str, or None, default None
        Split the classes by domain: base, validation and novel domains.
    split_part : {"novel", "validation", "base"}, default "novel"
        Which part of the split the episodes come from.
    skip_small_classes : bool, default False
        Leave out classes with fewer than K+Q distinct texts instead of stopping.
    meta_train, meta_validation : str or None, default None
        The data meta-training and validation episodes come from (None: ``dataset``).
    validation_episodes : int, default 100
        Fixed validation episodes for a meta-trained learner's checkpoint choice.
    protocol : str, default "episodes"
        The name records carry.
    """

    dataset: str
    ways: int
    shots: int
    queries: int
    episodes: int
    seed: int = 0
    domain: str | None = None
    classes: tuple[str, ...] | None = None
    split: ClassSplit | None = None
    split_fractions: tuple[float, float, int] | None = None  # (base, validation, seed)
    split_domains: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None = None
    split_part: str = "novel"
    skip_small_classes: bool = False
    meta_train: str | None = None
    meta_validation: str | None = None
    validation_episodes: int = 100
    protocol: str = "episodes"

    def describe(self) -> str:
        return f"{self.dataset} {self.ways}-way {self.shots}-shot"

    def datasets(self, *, meta: bool = False) -> tuple[str, ...]:
        extra = (self.meta_train or self.dataset, self.meta_validation or self.meta_train or "")
        return tuple(dict.fromkeys([self.dataset, *(e for e in extra if e and meta)]))

    def episode_count(self) -> int:
        return self.episodes

    def class_split(self, source: DataSource) -> ClassSplit | None:
        if self.split is not None:
            return self.split
        if self.split_fractions is not None:
            base, validation, seed = self.split_fractions
            return ClassSplit.by_fraction(
                source.data(self.dataset).classes, base=base, validation=validation, seed=seed
            )
        if self.split_domains is not None:
            base, validation, novel = self.split_domains
            return ClassSplit.by_domain(
                source.data(self.dataset), base=base, validation=validation, novel=novel
            )
        return None

    def build(self, source: DataSource) -> EpisodeSampler:
        split = self.class_split(source)
        return EpisodeSampler(
            source.data(self.dataset),
            self.ways,
            self.shots,
            self.queries,
            seed=self.seed,
            classes=getattr(split, self.split_part) if split is not None else self.classes,
            domain=self.domain,
            small_classes="skip" if self.skip_small_classes else "error",
        )

    def meta_tasks(self, source: DataSource, input_kind: str) -> MetaTrainingData:
        """Training episodes of the base classes and validation episodes of the validation
        classes; the novel classes stay unseen."""
        split = self.base_classes(source, "a meta-trained learner")
        train = self.meta_train or self.dataset
        validation = self.meta_validation or train
        return MetaTrainingData.from_split(
            split,
            (source.data(train), source.inputs(train, input_kind)),
            (source.data(validation), source.inputs(validation, input_kind)),
            ways=self.ways,
            shots=self.shots,
            queries=self.queries,
            seed=self.seed,
            domain=self.domain,
            validation_episodes=self.validation_episodes,
        )

    def base_classes(self, source: DataSource, who: str) -> ClassSplit:
        """The class split a meta-trained learner (``who``) trains on; refuses a setting
        without base classes."""
        split = self.class_split(source)
        if split is None or not split.base:
            super().base_classes(source, who)
        return split

    def run_episode(self, task, index, learner, source) -> dict:
        X = source.inputs(self.dataset, learner.input_kind)
        episode = task.episode(index)
        return classify_episode(
            episode,
            learner,
            X,
            **label_name_input(learner, source.data(self.dataset)),
            **label_vector_input(learner, source, self.dataset, episode.classes),
        )

    def record_fields(self, task) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "domain": self.domain,
            "ways": self.ways,
            "shots": self.shots,
            "queries": self.queries,
            "episodes": self.episodes,
        }


@dataclass(frozen=True)
class TaskDatasetSetting(Setting):
    """Episodes drawn by a ``learn2learn.data.TaskDataset`` over the rows of ``dataset``
    (see :class:`fewshot.integrations.learn2learn.tasks.TaskDatasetEpisodes`); ``name`` tells runs apart."""

    dataset: str
    taskset: Any = field(compare=False, repr=False)
    shots: int
    episodes: int
    name: str = "learn2learn"
    seed: int = 0
    protocol: str = "learn2learn"

    def describe(self) -> str:
        return f"{self.dataset} {self.name} tasks {self.shots}-shot"

    def datasets(self, *, meta: bool = False) -> tuple[str, ...]:
        return (self.dataset,)

    def unkeyed(self) -> tuple[str, ...]:
        return ("taskset",)  # the taskset object itself is not data

    def episode_count(self) -> int:
        return self.episodes

    def build(self, source: DataSource):
        from fewshot.integrations.learn2learn.tasks import TaskDatasetEpisodes  # needs learn2learn

        return TaskDatasetEpisodes(
            self.taskset, source.data(self.dataset), self.shots, seed=self.seed
        )

    def run_episode(self, task, index, learner, source) -> dict:
        X = source.inputs(self.dataset, learner.input_kind)
        return classify_episode(
            task.episode(index), learner, X, **label_name_input(learner, source.data(self.dataset))
        )

    def record_fields(self, task) -> dict[str, Any]:
        return {"dataset": self.dataset, "shots": self.shots, "episodes": self.episodes}

    def summarize(self, outcomes, task) -> dict[str, Any]:
        summary = super().summarize(outcomes, task)
        per_class = np.mean([o["queries"] / o["ways"] for o in outcomes])
        summary.update(ways=outcomes[0]["ways"], queries=round(float(per_class), 1))
        return summary
