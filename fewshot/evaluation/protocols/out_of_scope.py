"""Out-of-scope evaluation: in-scope test texts plus texts that belong to no class, scored by
how well a learner with a rejection rule (see :mod:`fewshot.learners.rejection`) keeps the first and
says "none of these" to the second.

Every scorer the setting names is fitted on the same learner, and each gets its threshold
without test data: from the training shots (stratified cross-validation, the default) or, for
full-way runs given ``valid`` and ``oos_valid``, from those held-out texts. The record's main
fields (``in_scope_accuracy``, ``oos_recall``, ``oos_auroc``, ...) are the first scorer's; all
of them are under ``scorers``. ``accuracy`` counts an in-scope text right when it is kept and
classified correctly, an out-of-scope text right when it is rejected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from fewshot.errors import ConfigError
from fewshot.evaluation.protocols.base import DataSource, Setting, fit_predict, label_name_input
from fewshot.evaluation.protocols.episodes import EpisodeSetting
from fewshot.evaluation.stats import macro_f1, mcnemar_exact, mean_ci95, proportion_ci95
from fewshot.learners.rejection import (
    DEFAULT_OOS_LABEL,
    DEFAULT_SCORER,
    auroc,
    fpr_at_95_tpr,
    make_scorer,
    roc_points,
)
from fewshot.learners.rejection_calibration import calibrate_cv, calibrate_held_out
from fewshot.tasks.episodes import FullWayTask, _first_of_each_text

ALL_SCORERS = (DEFAULT_SCORER, "msp", "energy", "cosine", "knn")
#: The metrics of one scorer, in records (the first scorer's also at the top level).
METRICS = (
    "accuracy",
    "in_scope_accuracy",
    "oos_recall",
    "oos_precision",
    "oos_auroc",
    "oos_fpr95",
    "threshold",
)


def _scorers(source: DataSource, names: tuple[str, ...]):
    registry = getattr(source, "registry", None)
    if registry is None:
        from fewshot.plugins.registry import load_registry

        registry = load_registry()
    return [make_scorer(name, registry.scorers) for name in names]


def oos_metrics(
    correct_in: np.ndarray, in_scores: np.ndarray, oos_scores: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Accuracy over in-scope and out-of-scope texts, in-scope accuracy after rejection,
    out-of-scope recall and precision, AUROC and FPR at 95% TPR, for one scorer."""
    kept = in_scores >= threshold
    right_in = correct_in & kept
    rejected_oos = oos_scores < threshold
    rejected = int((~kept).sum() + rejected_oos.sum())
    return {
        "accuracy": float((right_in.sum() + rejected_oos.sum()) / (len(kept) + len(rejected_oos))),
        "in_scope_accuracy": float(right_in.mean()),
        "oos_recall": float(rejected_oos.mean()),
        "oos_precision": float(rejected_oos.sum() / rejected) if rejected else None,
        "oos_auroc": auroc(in_scores, oos_scores),
        "oos_fpr95": fpr_at_95_tpr(in_scores, oos_scores),
        "threshold": float(threshold),
    }


class _OutOfScope:
    """What the two out-of-scope protocols share: fit, calibrate, score."""

    oos_label: ClassVar[str] = DEFAULT_OOS_LABEL

    def _run(
        self, source, learner, X_support, y_support, X_in, oos_inputs, seed, names, held_out=None
    ):
        """``names``: what ``label_name_input`` gives for the support's data."""
        scorers = _scorers(source, self.scorers)
        start = time.perf_counter()
        if held_out is None:
            thresholds = calibrate_cv(
                learner, X_support, y_support, scorers, recall=self.recall, folds=self.folds,
                seed=seed, fit=lambda fold, X, y: fold.fit(X, y, **names),
            )  # fmt: skip
            calibration = f"cv-{self.folds}"
        y_pred = fit_predict(learner, X_support, y_support, X_in, **names)[0]
        for scorer in scorers:
            scorer.fit(learner, X_support, y_support)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        in_scores = {s.name: s.score(learner, X_in) for s in scorers}
        oos_scores = {s.name: s.score(learner, oos_inputs) for s in scorers}
        if held_out is not None:
            X_valid, y_valid, X_oos_valid = held_out
            correct = learner.predict(X_valid) == y_valid
            thresholds = {
                s.name: calibrate_held_out(s.score(learner, X_valid), correct, s.score(learner, X_oos_valid))
                for s in scorers
            }  # fmt: skip
            calibration = "held-out"
        predict_seconds = time.perf_counter() - start
        return y_pred, in_scores, oos_scores, thresholds, calibration, fit_seconds, predict_seconds

    def _check(self, source) -> None:
        if not self.scorers:
            raise ConfigError("an out-of-scope run needs at least one scorer")
        _scorers(source, self.scorers)  # unknown names: refused before any work
        if not 0 < self.recall < 1:
            raise ConfigError(
                f"the in-scope recall to calibrate for must be in (0, 1), got {self.recall}"
            )


@dataclass(frozen=True)
class OutOfScopeSetting(_OutOfScope, Setting):
    """Full-way: train on a K-shot split of every in-scope class, test on the whole test split
    plus the out-of-scope texts ``oos``; thresholds from the training shots, or from ``valid``
    + ``oos_valid`` when both are given."""

    train: str
    test: str
    oos: str
    oos_valid: str | None = None
    valid: str | None = None
    scorers: tuple[str, ...] = ALL_SCORERS
    recall: float = 0.95
    folds: int = 5
    seed: int = 0
    protocol: str = "out-of-scope"
    single_task: ClassVar[bool] = True

    def describe(self) -> str:
        return f"{self.train} → {self.test} + {self.oos}"

    def datasets(self, *, meta: bool = False) -> tuple[str, ...]:
        extra = tuple(spec for spec in (self.valid, self.oos_valid) if spec)
        return (self.train, self.test, self.oos, *extra)

    def episode_count(self) -> int:
        return 1

    def build(self, source: DataSource) -> dict[str, Any]:
        self._check(source)
        if bool(self.valid) != bool(self.oos_valid):
            raise ConfigError("held-out calibration needs both valid (in-scope) and oos_valid")
        task = {"full_way": FullWayTask(source.data(self.train), source.data(self.test))}
        for key in ("oos", "valid", "oos_valid"):
            if getattr(self, key):
                task[key] = source.data(getattr(self, key))
        return task

    def run_episode(self, task, index, learner, source) -> dict:
        kind = learner.input_kind
        held_out = None
        if self.oos_valid:
            held_out = (
                source.inputs(self.valid, kind),
                task["valid"].label_array,
                source.inputs(self.oos_valid, kind),
            )
        y_pred, in_scores, oos_scores, thresholds, calibration, fit_s, predict_s = self._run(
            source,
            learner,
            source.inputs(self.train, kind),
            task["full_way"].train.label_array,
            source.inputs(self.test, kind),
            source.inputs(self.oos, kind),
            self.seed,
            label_name_input(learner, task["full_way"].train),
            held_out,
        )
        return {
            "predictions": [str(p) for p in y_pred],
            "fit_seconds": fit_s,
            "predict_seconds": predict_s,
            "calibration": calibration,
            "scores": {
                name: {
                    "threshold": thresholds[name],
                    "in_scope": np.round(in_scores[name], 6).tolist(),
                    "oos": np.round(oos_scores[name], 6).tolist(),
                }
                for name in self.scorers
            },
        }

    def record_fields(self, task) -> dict[str, Any]:
        full_way = task["full_way"]
        return {
            "dataset": self.test,
            "full_way": True,
            "train": self.train,
            "oos": self.oos,
            "oos_valid": self.oos_valid,
            "ways": len(full_way.train.classes),
            "shots": full_way.shots,
            "queries": len(full_way.test),
            "oos_queries": len(task["oos"]),
            "episodes": 1,
            "scorer": self.scorers[0],
        }

    def _per_scorer(self, outcome, task):
        y_true = task["full_way"].test.label_array
        correct = np.asarray(outcome["predictions"], dtype=object) == y_true
        return correct, {
            name: oos_metrics(
                correct, np.asarray(s["in_scope"]), np.asarray(s["oos"]), s["threshold"]
            )
            for name, s in outcome["scores"].items()
        }

    def summarize(self, outcomes, task) -> dict[str, Any]:
        [outcome] = outcomes
        correct, metrics = self._per_scorer(outcome, task)
        for name, s in outcome["scores"].items():  # for the report's ROC curves
            metrics[name]["roc"] = roc_points(np.asarray(s["in_scope"]), np.asarray(s["oos"]))
        primary = metrics[self.scorers[0]]
        n = len(correct) + len(task["oos"])
        y_true = np.r_[task["full_way"].test.label_array, [self.oos_label] * len(task["oos"])]
        return {
            **primary,
            "ci95": proportion_ci95(primary["accuracy"], n),
            "classification_accuracy": float(correct.mean()),
            "macro_f1": macro_f1(y_true, self._final_predictions(outcome)),
            "fit_seconds": outcome["fit_seconds"],
            "predict_seconds": outcome["predict_seconds"],
            "calibration": outcome["calibration"],
            "scorers": metrics,
        }

    def _final_predictions(self, outcome) -> np.ndarray:
        """The primary scorer's labels for the in-scope then the out-of-scope texts."""
        s = outcome["scores"][self.scorers[0]]
        in_pred = np.where(
            np.asarray(s["in_scope"]) < s["threshold"],
            self.oos_label,
            np.asarray(outcome["predictions"], dtype=object),
        )
        oos_pred = np.where(np.asarray(s["oos"]) < s["threshold"], self.oos_label, "kept")
        return np.r_[in_pred, oos_pred].astype(object)

    def paired_values(self, outcomes, task) -> np.ndarray:
        """1/0 correctness (with rejection) of every in-scope and out-of-scope test text."""
        [outcome] = outcomes
        y_true = np.r_[task["full_way"].test.label_array, [self.oos_label] * len(task["oos"])]
        return (self._final_predictions(outcome) == y_true).astype(float)

    def compare(self, a, b) -> dict[str, Any]:
        return mcnemar_exact(a, b)


@dataclass(frozen=True)
class OutOfScopeEpisodeSetting(_OutOfScope, EpisodeSetting):
    """N-way K-shot episodes whose queries are ``queries`` in-scope texts per class plus
    ``oos_queries`` texts drawn from ``oos`` (default: as many as the in-scope queries);
    thresholds from each episode's support (K >= 2)."""

    oos: str = ""
    oos_queries: int | None = None
    scorers: tuple[str, ...] = ALL_SCORERS
    recall: float = 0.95
    folds: int = 5
    protocol: str = "out-of-scope-episodes"

    def describe(self) -> str:
        return f"{super().describe()} + {self.oos}"

    def datasets(self, *, meta: bool = False) -> tuple[str, ...]:
        return (*super().datasets(meta=meta), self.oos)

    def build(self, source: DataSource):
        self._check(source)
        if self.shots < 2:
            raise ConfigError(
                f"{self.describe()}: thresholds from the training shots need at least 2 shots"
            )
        sampler = super().build(source)
        oos = source.data(self.oos)
        distinct = _first_of_each_text(oos.text_array)
        wanted = self.oos_queries or self.ways * self.queries
        if len(distinct) < wanted:
            raise ConfigError(
                f"{self.oos} has {len(distinct)} distinct texts; an episode takes {wanted}"
            )
        return {"sampler": sampler, "oos": oos, "oos_rows": distinct, "oos_queries": wanted}

    def run_episode(self, task, index, learner, source) -> dict:
        episode = task["sampler"].episode(index)
        rng = np.random.default_rng([self.seed, index, 1])  # not the episode's own stream
        oos_rows = rng.choice(task["oos_rows"], size=task["oos_queries"], replace=False)
        X = source.inputs(self.dataset, learner.input_kind)
        X_oos = source.inputs(self.oos, learner.input_kind)[oos_rows]
        seed = int(np.random.SeedSequence([self.seed, index, 2]).generate_state(1)[0])
        y_pred, in_scores, oos_scores, thresholds, _, fit_s, predict_s = self._run(
            source,
            learner,
            X[episode.support],
            episode.support_labels,
            X[episode.query],
            X_oos,
            seed,
            label_name_input(learner, source.data(self.dataset)),
        )
        correct = y_pred == episode.query_labels
        metrics = {
            name: oos_metrics(correct, in_scores[name], oos_scores[name], thresholds[name])
            for name in self.scorers
        }
        return {
            **metrics[self.scorers[0]],
            "classification_accuracy": float(correct.mean()),
            "macro_f1": macro_f1(episode.query_labels, y_pred),
            "fit_seconds": fit_s,
            "predict_seconds": predict_s,
            "scorers": metrics,
        }

    def record_fields(self, task) -> dict[str, Any]:
        return {
            **super().record_fields(task["sampler"]),
            "oos": self.oos,
            "oos_queries": task["oos_queries"],
            "scorer": self.scorers[0],
        }

    def summarize(self, outcomes, task) -> dict[str, Any]:
        def mean(key, of=lambda o: o):
            values = [of(o)[key] for o in outcomes if of(o)[key] is not None]
            return float(np.mean(values)) if values else None

        accuracy = np.array([o["accuracy"] for o in outcomes])
        summary = {key: mean(key) for key in METRICS}
        summary.update(
            ci95=mean_ci95(accuracy),
            accuracy_std=float(accuracy.std(ddof=1)) if len(accuracy) > 1 else 0.0,
            classification_accuracy=mean("classification_accuracy"),
            macro_f1=mean("macro_f1"),
            fit_seconds=mean("fit_seconds"),
            predict_seconds=mean("predict_seconds"),
            calibration=f"cv-{self.folds}",
            scorers={
                name: {key: mean(key, lambda o, n=name: o["scorers"][n]) for key in METRICS}
                for name in self.scorers
            },
        )
        return summary
