"""From episode outcomes to results: one record per (setting, learner), and the paired
comparisons of every two learners on the identical episodes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

import fewshot
from fewshot.evaluation.protocols.base import Setting
from fewshot.evaluation.records import check_record
from fewshot.learners.base import LearnerSpec
from fewshot.util.params import json_params


@dataclass
class LearnerOutcome:
    """One learner on one setting: the summary record and what paired comparisons use."""

    record: dict[str, Any]
    #: Accuracy per episode (episode protocols), or 1/0 correctness per test example (full-way).
    episode_accuracy: np.ndarray


@dataclass
class SettingResult:
    setting: Setting
    outcomes: list[LearnerOutcome]
    comparisons: list[dict[str, Any]]


def jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    """Learner parameters as JSON values (anything else by its repr)."""
    return json_params(params, strict=False)


@dataclass(frozen=True)
class RunInfo:
    """What every record of a run repeats."""

    encoder: str
    plugins: Mapping[str, str]


def learner_outcome(
    setting: Setting,
    task: Any,
    spec: LearnerSpec,
    params: Mapping[str, Any],
    outcomes: Mapping[int, dict],
    error: str | None,
    meta_info: Mapping[str, Any] | None,
    info: RunInfo,
) -> LearnerOutcome:
    """The record of one learner on one setting, from its episodes' outcomes."""
    record: dict[str, Any] = {
        "learner": spec.display,
        "learner_name": spec.name,
        "plugin": info.plugins.get(spec.name, ""),
        "params": jsonable(params),
        "dataset": None,
        "protocol": setting.protocol,
        "full_way": False,
        "domain": None,
        "source": None,
        "target": None,
        "source_domain": None,
        "target_domain": None,
        "seed": setting.seed,
        "status": "failed" if error else "ok",
        "error": error,
        "accuracy": None,
        "ci95": None,
        "macro_f1": None,
        "fit_seconds": None,
        "predict_seconds": None,
        "meta_train_seconds": None,
        "encoder": info.encoder,
        "fewshot_version": fewshot.__version__,
    }
    record.update(meta_info or {})
    record.update(setting.record_fields(task))
    values = np.zeros(0)
    if error is None:
        ordered = [outcomes[i] for i in range(setting.episode_count())]
        record.update(setting.summarize(ordered, task))
        values = setting.paired_values(ordered, task)
    check_record(record)  # every field is one the schema documents, of its type
    return LearnerOutcome(record, values)


def paired_comparisons(setting: Setting, outcomes: list[LearnerOutcome]) -> list[dict[str, Any]]:
    """Every pair of successful learners, compared on the identical tasks by the setting's test
    (a paired t-test over episodes; an exact McNemar test over test texts for full-way runs)."""
    done = [o for o in outcomes if o.record["status"] == "ok"]
    comparisons = []
    for a, b in combinations(done, 2):
        entry: dict[str, Any] = {
            key: a.record.get(key)
            for key in (
                "dataset",
                "protocol",
                "source",
                "target",
                "source_domain",
                "target_domain",
                "ways",
                "shots",
            )
        }
        difference = float((a.episode_accuracy - b.episode_accuracy).mean())
        entry.update(
            learner_a=a.record["learner"],
            learner_b=b.record["learner"],
            metric=setting.paired_metric,
            difference=difference,
        )
        if setting.paired_metric == "accuracy":
            entry["accuracy_difference"] = difference
        entry.update(setting.compare(a.episode_accuracy, b.episode_accuracy))
        comparisons.append(entry)
    return comparisons
