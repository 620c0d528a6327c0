"""The full-way K-shot protocol of the intent-detection literature: train on a fixed K-shot split
of every class, test on the whole test split, compare learners example by example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from fewshot.evaluation.protocols.base import (
    DataSource,
    Setting,
    fit_predict,
    label_name_input,
    label_vector_input,
)
from fewshot.evaluation.stats import (
    expected_calibration_error,
    macro_f1,
    mcnemar_exact,
    proportion_ci95,
    reliability_bins,
)
from fewshot.tasks.episodes import FullWayTask


@dataclass(frozen=True)
class FullWaySetting(Setting):
    """Train on a fixed K-shot split of every class, test on the whole test split.

    ``unlabeled_data``: a dataset whose texts learners that use unlabelled texts (``fit_inputs``;
    ``finetune:self_training=M``) receive, less any text of the test split.

    Parameters
    ----------
    train : str
        The K-shot training data: ``NAME:SPLIT`` (``banking77:train_5``) or a file.
    test : str
        The data scored on, all of it.
    seed : int, default 0
        The seed of learners that take one.
    protocol : str, default "full-way"
        The name records carry.
    unlabeled_data : str or None, default None
        See above.
    """

    train: str
    test: str
    seed: int = 0
    protocol: str = "full-way"
    unlabeled_data: str | None = None
    single_task: ClassVar[bool] = True

    def describe(self) -> str:
        pool = f" (unlabelled: {self.unlabeled_data})" if self.unlabeled_data else ""
        return f"{self.train} → {self.test}{pool}"

    def datasets(self, *, meta: bool = False) -> tuple[str, ...]:
        return (self.train, self.test) + ((self.unlabeled_data,) if self.unlabeled_data else ())

    def unkeyed(self) -> tuple[str, ...]:
        # without a pool, the key stays what it was before pools existed (journals resume)
        return () if self.unlabeled_data else ("unlabeled_data",)

    def build(self, source: DataSource) -> FullWayTask:
        return FullWayTask(source.data(self.train), source.data(self.test))

    def episode_count(self) -> int:
        return 1

    def run_episode(self, task: FullWayTask, index, learner, source) -> dict:
        kind = learner.input_kind
        y_pred, proba, fit_s, predict_s = fit_predict(
            learner,
            source.inputs(self.train, kind),
            task.train.label_array,
            source.inputs(self.test, kind),
            **label_name_input(learner, task.train),
            **label_vector_input(learner, source, self.train),
            **self._unlabeled_input(learner, task, source),
        )
        return {
            "predictions": [str(p) for p in y_pred],
            "fit_seconds": fit_s,
            "predict_seconds": predict_s,
            "reliability": reliability_bins(proba, y_pred == task.test.label_array),
        }

    def _unlabeled_input(self, learner, task: FullWayTask, source) -> dict[str, Any]:
        """``{"unlabeled": ...}`` for a learner that uses unlabelled texts, when there is a pool:
        its rows less those whose text is in the test split (never learn from test inputs)."""
        if not self.unlabeled_data or "unlabeled" not in learner.fit_inputs:
            return {}
        pool = source.data(self.unlabeled_data).text_array
        kept = ~np.isin(pool.astype(str), task.test.text_array.astype(str))
        return {"unlabeled": source.inputs(self.unlabeled_data, learner.input_kind)[kept]}

    def record_fields(self, task: FullWayTask) -> dict[str, Any]:
        fields = {
            "dataset": self.test,
            "full_way": True,
            "train": self.train,
            "ways": len(task.train.classes),
            "shots": task.shots,
            "queries": len(task.test),
            "episodes": 1,
        }
        if self.unlabeled_data:
            fields["unlabeled_data"] = self.unlabeled_data
        return fields

    def paired_values(self, outcomes, task: FullWayTask) -> np.ndarray:
        """1/0 correctness per test example."""
        y_pred = np.asarray(outcomes[0]["predictions"], dtype=object)
        return (y_pred == task.test.label_array).astype(float)

    def summarize(self, outcomes, task: FullWayTask) -> dict[str, Any]:
        [outcome] = outcomes
        y_true = task.test.label_array
        y_pred = np.asarray(outcome["predictions"], dtype=object)
        correct = self.paired_values(outcomes, task)
        accuracy = float(correct.mean())
        reliability = outcome.get("reliability")  # absent from journals written before it was kept
        return {
            "accuracy": accuracy,
            "ci95": proportion_ci95(accuracy, len(correct)),
            "macro_f1": macro_f1(y_true, y_pred),
            "fit_seconds": outcome["fit_seconds"],
            "predict_seconds": outcome["predict_seconds"],
            "per_class_accuracy": {
                label: float(correct[y_true == label].mean()) for label in task.test.classes
            },
            "confusion": confusion_counts(y_true, y_pred),
            "ece": expected_calibration_error(reliability),
            "reliability": reliability,
        }

    def compare(self, a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
        return mcnemar_exact(a, b)


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> list[list]:
    """The confusion matrix as its non-zero cells, ``[gold, predicted, count]``, most frequent
    first (a 77-class matrix has 5,929 cells, of which a few hundred are not zero)."""
    pairs, counts = np.unique(
        np.stack([np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str)]),
        axis=1,
        return_counts=True,
    )
    order = np.lexsort((pairs[1], pairs[0], -counts))
    return [[str(pairs[0, i]), str(pairs[1, i]), int(counts[i])] for i in order]
