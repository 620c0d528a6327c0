"""Active learning, simulated: the dataset's labels play the person who labels.

Each simulation starts from nothing labelled (the first model is ``zeroshot`` on the class
names) or from one text per class, then goes in rounds: fit the learner on what is labelled,
score it on ``test``, let the strategy pick ``batch`` more texts of the ``pool`` and reveal their
labels, until ``total`` texts are labelled. One *episode* is one (seed, strategy) pair; every
strategy of a seed starts from the same labelled texts, so strategies are compared on paired
simulations, and so are learners (the same episodes for each).

Besides the acquisition strategies of :mod:`fewshot.acquisition` (which never see a label),
``class-balanced`` draws at random with the labels' help, the same number from each class, least
labelled first: what the K-shot splits are, the reference a strategy should reach with fewer
labels. Strategies that need probabilities see the learner's (columns of classes not labelled
yet are zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fewshot.errors import ConfigError
from fewshot.evaluation.protocols.base import DataSource, Setting, label_vector_input
from fewshot.evaluation.stats import macro_f1, mean_ci95, paired_t
from fewshot.learners.maths import l2_normalize
from fewshot.util.quiet import few_examples

#: The reference that reads the labels (see the module docstring).
CLASS_BALANCED = "class-balanced"
STARTS = ("one-per-class", "zero-shot")


@dataclass
class ActiveLearningTask:
    """The pool and test data of a setting, and its strategies resolved by name."""

    pool: Any
    test: Any
    classes: np.ndarray
    strategies: dict[str, Any]


@dataclass(frozen=True)
class ActiveLearningSetting(Setting):
    """Simulated labelling rounds from ``pool`` (see the module docstring), scored on ``test``.

    Parameters
    ----------
    pool, test : str
        The labelled data whose texts are the pool (its labels answer the queries), and the
        data scored on.
    strategies : tuple of str
        Acquisition strategies by name, and ``class-balanced``.
    start : {"one-per-class", "zero-shot"}
        What is labelled before the first round.
    batch, total : int
        Texts labelled per round, and in all.
    seeds : int
        Simulations per strategy.
    seed : int
        The run's seed.
    """

    pool: str
    test: str
    strategies: tuple[str, ...] = ("hybrid", "margin", "kcenter", "random", CLASS_BALANCED)
    start: str = "one-per-class"
    batch: int = 77
    total: int = 385
    seeds: int = 5
    seed: int = 0
    protocol: str = "active-learning"

    def describe(self) -> str:
        return (
            f"{self.test} active learning from {self.pool}, {self.batch} per round to {self.total}"
        )

    def datasets(self, *, meta: bool = False) -> tuple[str, ...]:
        return (self.pool, self.test)

    def episode_count(self) -> int:
        return self.seeds * len(self.strategies)

    def build(self, source: DataSource) -> ActiveLearningTask:
        from fewshot.plugins.registry import shared_registry

        known = shared_registry().strategies
        unknown = [s for s in self.strategies if s not in known and s != CLASS_BALANCED]
        if unknown:
            names = ", ".join(sorted([*known, CLASS_BALANCED]))
            raise ConfigError(f"{self.describe()}: unknown strategy {unknown[0]!r}; known: {names}")
        if self.start not in STARTS:
            raise ConfigError(f"start must be one of {', '.join(STARTS)}, got {self.start!r}")
        pool, test = source.data(self.pool), source.data(self.test)
        classes = np.asarray(pool.classes, dtype=object)
        first = len(classes) if self.start == "one-per-class" else 0
        if self.total <= first or self.total > len(pool):
            raise ConfigError(
                f"{self.describe()}: total must be above the {first} texts labelled at the start "
                f"and at most the pool's {len(pool)}"
            )
        strategies = {name: known[name]() for name in self.strategies if name in known}
        return ActiveLearningTask(pool, test, classes, strategies)

    def run_episode(self, task: ActiveLearningTask, index: int, learner, source) -> dict:
        if learner.input_kind != "embeddings":
            raise ConfigError(
                f"learner {learner.name!r} trains its own encoder; active-learning runs fit "
                "learners on frozen embeddings (each round refits on a 10,000-text pool)"
            )
        seed_index, strategy = divmod(index, len(self.strategies))
        name = self.strategies[strategy]
        X = source.inputs(self.pool, "embeddings")
        y = task.pool.label_array.astype(str)
        X_test, y_test = source.inputs(self.test, "embeddings"), task.test.label_array.astype(str)
        vectors = l2_normalize(X)
        start_rng = np.random.default_rng([self.seed, seed_index])  # the same for every strategy
        labelled = list(self._start(y, task.classes, start_rng))
        rng = np.random.default_rng([self.seed, seed_index, strategy])
        curve, fit_seconds = [], 0.0
        while True:
            model, seconds = self._fit(learner, X, y, labelled, task, source)
            fit_seconds += seconds
            predicted = np.asarray(model.classes_)[model.predict_proba(X_test).argmax(1)]
            curve.append(
                [len(labelled), float(np.mean(predicted == y_test)), macro_f1(y_test, predicted)]
            )
            if len(labelled) >= self.total:
                break
            take = min(self.batch, self.total - len(labelled))
            labelled += self._pick(name, task, model, X, vectors, y, labelled, take, rng)
        return {
            "strategy": name,
            "seed_index": seed_index,
            "curve": curve,
            "accuracy": curve[-1][1],
            "macro_f1": curve[-1][2],
            "fit_seconds": fit_seconds / len(curve),
            "predict_seconds": 0.0,
        }

    def _start(self, y: np.ndarray, classes, rng) -> list[int]:
        if self.start == "zero-shot":
            return []
        return [int(rng.choice(np.flatnonzero(y == c))) for c in classes]

    def _fit(self, learner, X, y, labelled, task, source):
        """The learner fitted on the labelled rows (a fresh copy each round); with nothing
        labelled yet, or one class only, ``zeroshot`` on the class names."""
        import time

        from sklearn.base import clone

        start = time.perf_counter()
        if len(set(y[labelled])) < 2:
            from fewshot.plugins.registry import shared_registry

            model = shared_registry().make_learner("zeroshot", {"self_training": 0})
            names = label_vector_input(model, source, self.pool, task.classes)
            model.fit(X[labelled], y[labelled], **names)
        else:
            with few_examples():  # one text per class is where this protocol starts
                model = clone(learner).fit(X[labelled], y[labelled])
        return model, time.perf_counter() - start

    def _pick(self, name, task, model, X, vectors, y, labelled, take, rng) -> list[int]:
        from fewshot.acquisition.base import PoolView

        taken = np.zeros(len(y), dtype=bool)
        taken[labelled] = True
        free = np.flatnonzero(~taken)
        counts = np.array([int(np.sum(y[labelled] == c)) for c in task.classes])
        if name == CLASS_BALANCED:
            return _class_balanced(y, free, task.classes, counts, take, rng)
        proba = np.zeros((len(free), len(task.classes)))
        column = {c: j for j, c in enumerate(task.classes)}
        proba[:, [column[c] for c in model.classes_]] = model.predict_proba(X[free])
        view = PoolView(proba, vectors[free], task.classes, vectors[labelled], counts)
        picks = np.asarray(task.strategies[name].rank(view, take, rng), dtype=int)
        return [int(free[i]) for i in picks[:take]]

    def record_fields(self, task: ActiveLearningTask) -> dict[str, Any]:
        return {
            "dataset": self.test,
            "pool": self.pool,
            "full_way": True,
            "ways": len(task.classes),
            "queries": len(task.test),
            "episodes": self.episode_count(),
            "start": self.start,
            "batch": self.batch,
            "total": self.total,
            "strategies": list(self.strategies),
        }

    def paired_values(self, outcomes: list[dict], task) -> np.ndarray:
        """The final accuracy of every (seed, strategy) simulation."""
        return np.array([o["accuracy"] for o in outcomes])

    def summarize(self, outcomes: list[dict], task) -> dict[str, Any]:
        """Learning curves per strategy (mean over seeds with its 95% interval), and each
        strategy against ``random`` and ``class-balanced`` at every point (paired over seeds).
        The record's ``accuracy`` is the first strategy's at ``total`` labels."""
        by_strategy: dict[str, list[dict]] = {}
        for outcome in outcomes:
            by_strategy.setdefault(outcome["strategy"], []).append(outcome)
        curves = {}
        for name, runs in by_strategy.items():
            points = np.array([run["curve"] for run in runs])  # seeds x points x 3
            curves[name] = [
                {
                    "labels": int(points[0, k, 0]),
                    "accuracy": float(points[:, k, 1].mean()),
                    "ci95": mean_ci95(points[:, k, 1]),
                    "macro_f1": float(points[:, k, 2].mean()),
                }
                for k in range(points.shape[1])
            ]
        comparisons = {}
        for reference in ("random", CLASS_BALANCED):
            if reference not in by_strategy:
                continue
            base = np.array([run["curve"] for run in by_strategy[reference]])[:, -1, 1]
            for name, runs in by_strategy.items():
                if name != reference:
                    final = np.array([run["curve"] for run in runs])[:, -1, 1]
                    result = paired_t(final, base)
                    result["difference"] = float(np.mean(final - base))
                    comparisons[f"{name} vs {reference}"] = result
        first = curves[self.strategies[0]][-1]
        return {
            "accuracy": first["accuracy"],
            "ci95": first["ci95"],
            "macro_f1": first["macro_f1"],
            "fit_seconds": float(np.mean([o["fit_seconds"] for o in outcomes])),
            "predict_seconds": 0.0,
            "curves": curves,
            "strategy_comparisons": comparisons,
        }


def _class_balanced(y, free, classes, counts, take, rng) -> list[int]:
    """``take`` free rows, from the least labelled class each time (ties at random), a random
    text of it: the labels' own balanced sampling."""
    queues = {j: list(rng.permutation(free[y[free] == c])) for j, c in enumerate(classes)}
    counts = counts.astype(float).copy()
    picked: list[int] = []
    while len(picked) < take and any(queues.values()):
        j = min((k for k, q in queues.items() if q), key=lambda k: (counts[k], rng.random()))
        picked.append(int(queues[j].pop()))
        counts[j] += 1
    return picked
