"""What every evaluation protocol provides, and the steps they share.

A *setting* is one benchmark condition (a dataset, N ways, K shots, ...) of one *protocol* (N-way
K-shot episodes, full-way, cross-domain, ...). It is a frozen dataclass, so it names itself in the
run journal, and it knows its own task:

- ``datasets()``: the data it reads (the evaluator loads and encodes each once);
- ``build(source)``: its task (a sampler of episodes), checked before any work;
- ``episode_count()`` and ``run_episode(task, i, learner, source)``: one episode, scored, as a
  JSON-able *outcome* (what the journal stores);
- ``record_fields(task)`` and ``summarize(outcomes)``: the fields of its result records;
- ``compare(a, b)``: the paired comparison of two learners' outcomes on the same episodes.

A new protocol is one new class: the runner, the executors and the aggregator know nothing of
the particular protocols.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, ClassVar, Protocol

import numpy as np

from fewshot.data.label_names import names_spec
from fewshot.data.texts import LabeledTexts
from fewshot.errors import ConfigError
from fewshot.evaluation.journal import fingerprint
from fewshot.evaluation.stats import (
    add_reliability,
    expected_calibration_error,
    macro_f1,
    mean_ci95,
    paired_t,
    reliability_bins,
)
from fewshot.learners.base import Learner


class DataSource(Protocol):
    """Where a protocol gets data: the evaluator in the driver, a worker elsewhere."""

    def data(self, spec: str) -> LabeledTexts: ...

    def inputs(self, spec: str, input_kind: str) -> np.ndarray:
        """What a learner of ``input_kind`` consumes for every row of ``spec``: its frozen
        embeddings (``"embeddings"``) or its texts (``"texts"``)."""
        ...


class Setting:
    """Base class of the protocols' settings (frozen dataclasses)."""

    #: The protocol's name in records (each subclass has a ``protocol`` field with it).
    protocol: str
    #: True where the whole setting is one task (full-way): errors name no episode.
    single_task: ClassVar[bool] = False
    #: True for protocols of multi-label data (texts with label sets; see multi_label.py).
    multi_label: ClassVar[bool] = False
    #: What ``paired_values`` measures, named in the comparisons (``metric``, ``difference``).
    paired_metric: ClassVar[str] = "accuracy"

    def describe(self) -> str:
        raise NotImplementedError

    def datasets(self, *, meta: bool = False) -> tuple[str, ...]:
        """Every dataset spec this setting reads (``meta``: also those of meta-training)."""
        raise NotImplementedError

    def build(self, source: DataSource) -> Any:
        """The task: ``episode(i)`` for episode protocols. Raises a FewshotError if it cannot be
        drawn from the data."""
        raise NotImplementedError

    def rows_used(self, task: Any) -> dict[str, np.ndarray]:
        """The rows of a dataset that the episodes read, by spec, where they are few: only
        those are encoded (a full-way multi-label run reads ~160 of GoEmotions' 43,410
        training texts per seed). Datasets not named here are encoded whole."""
        return {}

    def episode_count(self) -> int:
        raise NotImplementedError

    def run_episode(self, task: Any, index: int, learner: Learner, source: DataSource) -> dict:
        """Fit ``learner`` on episode ``index`` and score it: the outcome, as JSON values."""
        raise NotImplementedError

    def record_fields(self, task: Any) -> dict[str, Any]:
        """The setting's own fields of a result record (dataset, ways, shots, ...)."""
        raise NotImplementedError

    def summarize(self, outcomes: list[dict], task: Any) -> dict[str, Any]:
        """The scores of one learner over all episodes (accuracy, ci95, ...)."""
        return summarize_episodes(outcomes)

    def paired_values(self, outcomes: list[dict], task: Any) -> np.ndarray:
        """One number per episode, compared between learners (accuracy by default)."""
        return np.array([o["accuracy"] for o in outcomes])

    def compare(self, a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
        return paired_t(a, b)

    def base_classes(self, source: DataSource, who: str):
        """The class split a meta-trained learner (``who``) trains on. Settings without base
        classes refuse (see :class:`~fewshot.evaluation.protocols.episodes.EpisodeSetting`)."""
        raise ConfigError(
            f"{who} is meta-trained and needs base classes to train on, but "
            f"{self.describe()} has none; give it a class split (suite: split = "
            "{base = ..., validation = ...}; command line: --split BASE,VALIDATION)"
        )

    def meta_tasks(self, source: DataSource, input_kind: str):
        """Meta-training tasks (``MetaTrainingData``) for a meta-trained learner."""
        self.base_classes(source, "a meta-trained learner")

    def key(self) -> str:
        """A stable name for this setting in the run journal."""
        fields = {k: v for k, v in asdict(self).items() if k not in self.unkeyed()}
        return fingerprint({"type": type(self).__name__, **fields})

    def unkeyed(self) -> tuple[str, ...]:
        """Fields that are not data (and so not part of the journal key)."""
        return ()


def label_name_input(learner: Learner, data: LabeledTexts) -> dict[str, Any]:
    """``{"label_names": ...}`` for a learner that uses label names, when the data has them."""
    if learner.uses_label_names and data.label_names:
        return {"label_names": dict(data.label_names)}
    return {}


def label_vector_input(
    learner: Learner, source: DataSource, spec: str, classes=None
) -> dict[str, Any]:
    """``{"label_vectors": {label: vector}}`` for a learner that takes them (zero-shot ones):
    the embeddings of the names of ``spec``'s classes (only ``classes``, where given: an
    episode's), which the evaluator encodes as the dataset ``SPEC#label-names``."""
    if "label_vectors" not in learner.fit_inputs:
        return {}
    names = source.data(names_spec(spec))
    vectors = source.inputs(names_spec(spec), "embeddings")
    wanted = None if classes is None else {str(c) for c in classes}
    return {
        "label_vectors": {
            label: vectors[i]
            for i, label in enumerate(names.labels)
            if wanted is None or label in wanted
        }
    }


def fit_predict(
    learner: Learner, X_support, y_support, X_query, **fit_inputs: Any
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Fit, then score the queries by ``predict_proba``. Returns the predictions (its argmax),
    the probabilities and the fit and predict seconds; refuses malformed or non-finite output."""
    start = time.perf_counter()
    fitted = learner.fit(X_support, y_support, **fit_inputs)
    middle = time.perf_counter()
    if fitted is not learner:
        raise TypeError(f"{type(learner).__name__}.fit must return self")
    proba = np.asarray(learner.predict_proba(X_query), dtype=np.float64)
    end = time.perf_counter()
    if proba.shape != (len(X_query), len(learner.classes_)):
        raise ValueError(f"predict_proba returned shape {proba.shape} for {len(X_query)} queries")
    if not np.isfinite(proba).all():
        raise ValueError("predict_proba returned NaN or infinite values")
    predicted = np.asarray(learner.classes_)[proba.argmax(axis=1)]
    return predicted, proba, middle - start, end - middle


def episode_outcome(
    y_true: np.ndarray, y_pred: np.ndarray, fit_seconds: float, predict_seconds: float, **sizes
) -> dict[str, Any]:
    """The outcome of one classification episode: accuracy, macro-F1, timings and sizes."""
    return {
        "accuracy": float(np.mean(y_pred == y_true)),
        "macro_f1": macro_f1(y_true, y_pred),
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        **sizes,
    }


def classify_episode(episode, learner: Learner, X, **fit_inputs: Any) -> dict[str, Any]:
    """The usual episode: fit on the support rows of ``X``, predict the query rows, score."""
    y_pred, proba, fit_s, predict_s = fit_predict(
        learner, X[episode.support], episode.support_labels, X[episode.query], **fit_inputs
    )
    sizes = {"ways": len(episode.classes), "queries": len(episode.query)}
    if episode.unlabeled is not None:
        sizes["unlabeled"] = len(episode.unlabeled)
    outcome = episode_outcome(episode.query_labels, y_pred, fit_s, predict_s, **sizes)
    outcome["reliability"] = reliability_bins(proba, y_pred == episode.query_labels)
    return outcome


def summarize_episodes(outcomes: Sequence[dict]) -> dict[str, Any]:
    """Mean accuracy with its 95% t-interval over episodes, macro-F1, mean timings and the
    calibration of the predicted probabilities over all queries (reliability bins and ECE)."""
    accuracy = np.array([o["accuracy"] for o in outcomes])
    reliability = add_reliability([o.get("reliability") for o in outcomes])
    return {
        "accuracy": float(accuracy.mean()),
        "ci95": mean_ci95(accuracy),
        "accuracy_std": float(accuracy.std(ddof=1)) if len(accuracy) > 1 else 0.0,
        "macro_f1": float(np.mean([o["macro_f1"] for o in outcomes])),
        "fit_seconds": float(np.mean([o["fit_seconds"] for o in outcomes])),
        "predict_seconds": float(np.mean([o["predict_seconds"] for o in outcomes])),
        "ece": expected_calibration_error(reliability),
        "reliability": reliability,
    }


def mean_of(outcomes: Sequence[dict], key: str) -> float | None:
    """The mean of ``key`` over the outcomes that have it, to one decimal (None if none do)."""
    values = [o[key] for o in outcomes if key in o]
    return round(float(np.mean(values)), 1) if values else None
