"""Multi-label evaluation: texts with sets of labels, K-shot supports drawn by the greedy
minimal-including sampler (see :mod:`fewshot.learners.multi_label`), scored by micro-, macro- and
samples-F1, exact match, Hamming loss, label-ranking average precision and per-label F1.

Two protocols: full-way (a support of every label drawn from ``train`` per seed, tested on all
of ``test``) and episodes over a random subset of ``ways`` labels of one dataset (labels outside
the subset are dropped from each text; texts with none of them are left out). Each task is a
pure function of (seed, index); queries never share a text with their support.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from fewshot.data.labels import indicator
from fewshot.errors import ConfigError
from fewshot.evaluation.protocols.base import DataSource, Setting, label_name_input
from fewshot.evaluation.records import MULTI_LABEL_METRICS
from fewshot.evaluation.stats import mean_ci95
from fewshot.learners.base import Learner
from fewshot.learners.multi_label import decide, greedy_support, metrics, support_sizes
from fewshot.tasks.episodes import _first_of_each_text

#: The scalar metrics of an outcome, averaged (with a 95% interval) over episodes.
METRICS = MULTI_LABEL_METRICS


def _multi_label_data(source: DataSource, spec: str):
    data = source.data(spec)
    if not data.is_multi_label:
        raise ConfigError(
            f"{spec} has one label per text; a multi-label run needs label lists "
            "(a 'labels' column; see docs/how-to/multi-label.md)"
        )
    return data


class _MultiLabel(Setting):
    """What the two multi-label protocols share: fit on label sets, score, summarize."""

    multi_label: ClassVar[bool] = True
    paired_metric: ClassVar[str] = "macro_f1"

    def _score(self, learner: Learner, X_support, support_sets, X_query, query_sets, classes, data):
        if not learner.supports_multi_label:
            raise ConfigError(f"learner {learner.name!r} does not support multi-label data")
        start = time.perf_counter()
        learner.fit_label_sets(X_support, support_sets, **label_name_input(learner, data))
        middle = time.perf_counter()
        proba = np.asarray(learner.predict_proba(X_query), dtype=np.float64)
        predicted = decide(proba, learner.thresholds_)  # predict() would score them again
        end = time.perf_counter()
        if list(learner.classes_) != list(classes):
            raise ValueError(
                f"the learner's labels {list(learner.classes_)[:5]}... are not the support's"
            )
        if proba.shape != (len(X_query), len(classes)) or not np.isfinite(proba).all():
            raise ValueError(f"predict_proba returned shape {proba.shape} or non-finite scores")
        return {
            **metrics(indicator(query_sets, classes), predicted, proba),
            "support_size": len(support_sets),
            "queries": len(query_sets),
            "fit_seconds": middle - start,
            "predict_seconds": end - middle,
        }

    def summarize(self, outcomes: list[dict], task: Any) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        for key in METRICS:
            values = np.array([o[key] for o in outcomes])
            summary[key] = float(values.mean())
            summary[f"{key}_ci95"] = mean_ci95(values)
        # ``accuracy`` of a multi-label record is the exact match (scikit-learn's accuracy_score
        # of label sets), so tables that sort by accuracy still make sense.
        summary["accuracy"] = summary["exact_match"]
        summary["ci95"] = summary["exact_match_ci95"]
        summary["label_f1"] = None
        if self.full_way:  # episodes draw different labels: a per-label mean means nothing
            mean_f1 = np.mean([o["label_f1"] for o in outcomes], axis=0).round(4).tolist()
            summary["label_f1"] = dict(zip(task["classes"], mean_f1, strict=True))
        summary["support_size"] = support_sizes([o["support_size"] for o in outcomes])
        summary["fit_seconds"] = float(np.mean([o["fit_seconds"] for o in outcomes]))
        summary["predict_seconds"] = float(np.mean([o["predict_seconds"] for o in outcomes]))
        return summary

    def paired_values(self, outcomes: list[dict], task: Any) -> np.ndarray:
        """Macro-F1 per episode: the paired comparison's score."""
        return np.array([o["macro_f1"] for o in outcomes])


@dataclass(frozen=True)
class MultiLabelSetting(_MultiLabel):
    """Full-way multi-label: per seed, a greedy K-shot support of every label from ``train``;
    the test is all of ``test`` (less any text of the support)."""

    train: str
    test: str
    shots: int
    seeds: int = 5
    seed: int = 0
    protocol: str = "multi-label"
    full_way: ClassVar[bool] = True

    def describe(self) -> str:
        return f"{self.train} → {self.test} multi-label {self.shots}-shot"

    def datasets(self, *, meta: bool = False) -> tuple[str, ...]:
        return (self.train, self.test)

    def episode_count(self) -> int:
        return self.seeds

    def build(self, source: DataSource) -> dict[str, Any]:
        train, test = _multi_label_data(source, self.train), _multi_label_data(source, self.test)
        classes = train.classes
        unknown = sorted(set(test.classes) - set(classes))
        if unknown:
            raise ConfigError(f"{self.test} has labels {self.train} lacks: {unknown[:5]}")
        Y = indicator(train.label_sets, classes)
        candidates = _first_of_each_text(train.text_array)
        try:
            greedy_support(
                Y, self.shots, np.random.default_rng([self.seed, 0]), candidates, classes
            )
        except ConfigError as exc:
            raise ConfigError(f"{self.train}: {exc}") from None
        return {"classes": classes, "Y": Y, "candidates": candidates, "train": train, "test": test}

    def rows_used(self, task) -> dict[str, np.ndarray]:
        supports = [self.support(task, index) for index in range(self.seeds)]
        return {self.train: np.unique(np.concatenate(supports))}

    def support(self, task, index: int) -> np.ndarray:
        """The rows of ``train`` in seed ``index``'s support."""
        rng = np.random.default_rng([self.seed, index])
        return greedy_support(task["Y"], self.shots, rng, task["candidates"])

    def run_episode(self, task, index, learner, source) -> dict:
        train, test = task["train"], task["test"]
        rows = self.support(task, index)
        support_texts = set(train.text_array[rows])
        query = np.array([t not in support_texts for t in test.texts])
        X = source.inputs(self.train, learner.input_kind)[rows]
        X_query = source.inputs(self.test, learner.input_kind)[query]
        return self._score(
            learner,
            X,
            [train.label_sets[r] for r in rows],
            X_query,
            [s for s, keep in zip(test.label_sets, query, strict=True) if keep],
            task["classes"],
            train,
        )

    def record_fields(self, task) -> dict[str, Any]:
        return {
            "dataset": self.test,
            "train": self.train,
            "full_way": True,
            "multi_label": True,
            "ways": len(task["classes"]),
            "shots": self.shots,
            "queries": len(task["test"]),
            "episodes": self.seeds,
        }


@dataclass(frozen=True)
class MultiLabelEpisodeSetting(_MultiLabel):
    """Episodes over ``ways`` labels of ``dataset``: each draws the labels, a greedy K-shot
    support of them, and ``queries`` × ``ways`` query texts (texts with one of the labels,
    none in the support)."""

    dataset: str
    ways: int
    shots: int
    queries: int = 15
    episodes: int = 100
    seed: int = 0
    protocol: str = "multi-label-episodes"
    full_way: ClassVar[bool] = False

    def describe(self) -> str:
        return f"{self.dataset} multi-label {self.ways}-way {self.shots}-shot"

    def datasets(self, *, meta: bool = False) -> tuple[str, ...]:
        return (self.dataset,)

    def episode_count(self) -> int:
        return self.episodes

    def build(self, source: DataSource) -> dict[str, Any]:
        data = _multi_label_data(source, self.dataset)
        classes = data.classes
        candidates = _first_of_each_text(data.text_array)
        Y = indicator(data.label_sets, classes)
        counts = Y[candidates].sum(axis=0)
        # a label must leave room for its support and at least one query
        eligible = np.flatnonzero(counts > self.shots)
        if len(eligible) < self.ways:
            raise ConfigError(
                f"{self.dataset}: {len(eligible)} labels have more than {self.shots} texts; "
                f"a {self.ways}-way episode needs {self.ways}"
            )
        return {
            "classes": classes,
            "Y": Y,
            "candidates": candidates,
            "eligible": eligible,
            "data": data,
        }

    def episode(self, task, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(label columns, support rows, query rows) of episode ``index``."""
        rng = np.random.default_rng([self.seed, index])
        labels = np.sort(rng.choice(task["eligible"], size=self.ways, replace=False))
        Y = task["Y"][:, labels]
        candidates = task["candidates"][Y[task["candidates"]].any(axis=1)]
        support = greedy_support(Y, self.shots, rng, candidates)
        rest = np.setdiff1d(candidates, support)
        size = min(len(rest), self.ways * self.queries)
        query = np.sort(rng.choice(rest, size=size, replace=False))
        return labels, support, query

    def run_episode(self, task, index, learner, source) -> dict:
        labels, support, query = self.episode(task, index)
        classes = [task["classes"][j] for j in labels]
        wanted = set(classes)
        sets = task["data"].label_sets
        X = source.inputs(self.dataset, learner.input_kind)
        return self._score(
            learner,
            X[support],
            [tuple(label for label in sets[r] if label in wanted) for r in support],
            X[query],
            [tuple(label for label in sets[r] if label in wanted) for r in query],
            classes,
            task["data"],
        )

    def record_fields(self, task) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "multi_label": True,
            "ways": self.ways,
            "shots": self.shots,
            "queries": self.queries,
            "episodes": self.episodes,
        }
