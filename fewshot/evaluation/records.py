"""The result record: every field a run can write, its type, which protocols write it, and what
it means. ``results.csv``'s columns, the report's tables and the docs read the fields from here,
and every record is checked against it when it is made (a field missing here is a bug, found by
any test that runs a benchmark).

Imports nothing of fewshot: the evaluation, the report and the docs all read it.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Every protocol a record's ``protocol`` field can name.
PROTOCOLS = (
    "episodes",
    "full-way",
    "cross-domain",
    "out-of-scope",
    "out-of-scope-episodes",
    "multi-label",
    "multi-label-episodes",
    "learn2learn",
    "active-learning",
)
ALL = PROTOCOLS
OUT_OF_SCOPE = ("out-of-scope", "out-of-scope-episodes")
MULTI_LABEL = ("multi-label", "multi-label-episodes")
#: The multi-label metrics, each with its ``*_ci95``.
MULTI_LABEL_METRICS = ("micro_f1", "macro_f1", "samples_f1", "exact_match", "hamming_loss", "lrap")
#: The protocols whose learners may be meta-trained on base classes (the episode ones).
META_TRAINED = ("episodes", "out-of-scope-episodes")
#: The protocols whose records carry the calibration of the top probability.
CALIBRATED = ("episodes", "full-way", "cross-domain", "learn2learn")

_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (numbers.Integral,),
    "float": (numbers.Real,),
    "bool": (bool,),
    "object": (dict,),
    "list": (list,),
}


@dataclass(frozen=True)
class RecordField:
    """One field of a result record.

    Parameters
    ----------
    name : str
        The key in ``results.json`` (and the column in ``results.csv``).
    type : {"str", "int", "float", "bool", "object", "list"}
        The JSON type of its value; any field may also be ``null`` (a failed learner's scores,
        a field a setting does not have).
    protocols : tuple of str
        The protocols whose records carry it (see :data:`PROTOCOLS`).
    description : str
        What it means, for the docs and the report's column tips.
    csv : bool
        Whether ``results.csv`` has it as a column (nested values stay in ``results.json``).
    title : str
        A short column heading for tables; the name when empty.
    """

    name: str
    type: str
    protocols: tuple[str, ...]
    description: str
    csv: bool = False
    title: str = ""

    @property
    def heading(self) -> str:
        return self.title or self.name


def _f(name: str, type_: str, protocols, *, doc: str, csv: bool = False, title: str = ""):
    return RecordField(name, type_, tuple(protocols), doc, csv, title)


# In results.csv's column order (a contract: the CSV fields keep this order); fields that are not
# columns sit beside the ones they belong to.
# fmt: off
RECORD_FIELDS: tuple[RecordField, ...] = (
    _f("learner", "str", ALL, csv=True,
       doc="The learner as given: name and parameters, e.g. `logreg:C=2`."),
    _f("dataset", "str", ALL, csv=True,
       doc="The data scored on (the target of a cross-domain run)."),
    _f("train", "str", ("full-way", "out-of-scope", "multi-label"), csv=True,
       doc="The data the learner is fitted on, for full-way runs."),
    _f("protocol", "str", ALL, csv=True,
       doc="How the tasks are drawn: " + ", ".join(PROTOCOLS) + "."),
    _f("full_way", "bool", ALL, csv=True,
       doc="Whether the learner sees every class at once (one task) rather than N-way episodes."),
    _f("domain", "str", ("episodes", "out-of-scope-episodes"), csv=True,
       doc="The domain of a multi-domain dataset the episodes are drawn from."),
    _f("source", "str", ("cross-domain",), csv=True,
       doc="Cross-domain: the labelled source data offered to the learner."),
    _f("target", "str", ("cross-domain",), csv=True,
       doc="Cross-domain: the data whose episodes are scored."),
    _f("source_domain", "str", ("cross-domain",),
       doc="Cross-domain: the source's domain, if any."),
    _f("target_domain", "str", ("cross-domain",),
       doc="Cross-domain: the target's domain, if any."),
    _f("source_examples", "int", ("cross-domain",),
       doc="Cross-domain: how many labelled source texts each task offers."),
    _f("ways", "int", ALL, csv=True,
       doc="Classes per task (every class, for full-way runs)."),
    _f("shots", "int", ALL, csv=True,
       doc="Labelled texts per class in the support."),
    _f("queries", "float", ALL, csv=True,
       doc="Query texts per class and episode (episodes), or test texts (full-way)."),
    _f("episodes", "int", ALL, csv=True,
       doc="Tasks scored (episodes, or seeds of a full-way or cross-domain run)."),
    _f("seeds", "int", ("cross-domain",),
       doc="Cross-domain: the seeds drawn (= `episodes`)."),
    _f("unlabeled", "float", ("cross-domain",), csv=True,
       doc="Unlabelled texts offered per task (mean), to learners that use them."),
    _f("unlabeled_data", "str", ("full-way",),
       doc="The unlabelled pool offered to learners that use one."),
    _f("seed", "int", ALL, csv=True,
       doc="The run's seed: the same seed draws the same tasks."),
    _f("accuracy", "float", ALL, csv=True,
       doc="Mean accuracy over tasks (with rejection, for out-of-scope runs; the exact match, for "
           "multi-label runs)."),
    _f("ci95", "float", ALL, csv=True, title="± 95% CI",
       doc="Half-width of the 95% interval of `accuracy` (t over episodes; normal over the test "
           "texts of one full-way task)."),
    _f("accuracy_std", "float",
       ("episodes", "out-of-scope-episodes", "cross-domain", "learn2learn"),
       doc="Standard deviation of the accuracy over tasks."),
    _f("macro_f1", "float", ALL, csv=True, title="macro-F1",
       doc="Macro-averaged F1 over classes (mean over tasks)."),
    _f("ece", "float", CALIBRATED, csv=True, title="ECE",
       doc="Expected calibration error of the top probability (10 equal-width bins)."),
    _f("reliability", "object", CALIBRATED,
       doc="The reliability diagram's bins behind `ece` (counts, confidence, accuracy)."),
    _f("per_class_accuracy", "object", ("full-way",),
       doc="Full-way: accuracy per class."),
    _f("confusion", "list", ("full-way",),
       doc="Full-way: `[gold, predicted, count]` for every confused pair."),
    _f("fit_seconds", "float", ALL, csv=True, title="fit s",
       doc="Seconds to fit, mean per task."),
    _f("predict_seconds", "float", ALL, csv=True, title="predict s",
       doc="Seconds to predict the queries, mean per task."),
    _f("meta_train_seconds", "float", ALL,
       doc="Seconds of meta-training (meta-trained learners), else null."),
    _f("meta_train_data", "str", META_TRAINED,
       doc="The data meta-training drew its base-class episodes from."),
    _f("base_classes", "int", META_TRAINED,
       doc="Classes meta-training trained on."),
    _f("validation_classes", "int", META_TRAINED,
       doc="Classes whose episodes picked the meta-training checkpoint."),
    _f("meta_step", "int", META_TRAINED,
       doc="The meta-training step whose checkpoint was kept."),
    _f("meta_validation_accuracy", "float", META_TRAINED,
       doc="The kept checkpoint's accuracy on the validation episodes."),
    _f("status", "str", ALL, csv=True,
       doc="`ok`, or `failed` (see `error`); a failed learner's scores are null."),
    _f("error", "str", ALL, csv=True,
       doc="Why the learner failed (null when it did not)."),
    _f("oos", "str", OUT_OF_SCOPE, csv=True,
       doc="Out-of-scope: the data of texts that fit no class."),
    _f("oos_valid", "str", ("out-of-scope",),
       doc="Out-of-scope: held-out data the threshold was calibrated on (null: folds of the "
           "support)."),
    _f("oos_queries", "int", OUT_OF_SCOPE,
       doc="Out-of-scope texts scored (per episode, for episodes)."),
    _f("scorer", "str", OUT_OF_SCOPE, csv=True,
       doc="The first scorer, whose metrics are the record's own."),
    _f("scorers", "object", OUT_OF_SCOPE,
       doc="Every scorer's metrics (and ROC points, full-way), by scorer name."),
    _f("roc", "object", ("out-of-scope",),
       doc="The first scorer's ROC points (full-way), for the report's curve."),
    _f("calibration", "str", OUT_OF_SCOPE,
       doc="How the rejection threshold was calibrated: `cv-K` folds of the support, or "
           "`held-out`."),
    _f("in_scope_accuracy", "float", OUT_OF_SCOPE, csv=True,
       doc="Accuracy on the in-scope texts, a rejected one counting as wrong."),
    _f("classification_accuracy", "float", OUT_OF_SCOPE, csv=True,
       doc="Accuracy on the in-scope texts before rejection."),
    _f("oos_recall", "float", OUT_OF_SCOPE, csv=True,
       doc="Share of the out-of-scope texts rejected."),
    _f("oos_precision", "float", OUT_OF_SCOPE, csv=True,
       doc="Share of the rejected texts that are out of scope."),
    _f("oos_auroc", "float", OUT_OF_SCOPE, csv=True,
       doc="AUROC of the in-scope score, in-scope against out-of-scope texts."),
    _f("oos_fpr95", "float", OUT_OF_SCOPE, csv=True,
       doc="Share of out-of-scope texts kept when 95% of in-scope texts are."),
    _f("threshold", "float", OUT_OF_SCOPE, csv=True,
       doc="The first scorer's rejection threshold (mean over episodes)."),
    _f("multi_label", "bool", MULTI_LABEL, csv=True,
       doc="Whether texts carry several labels."),
    _f("micro_f1", "float", MULTI_LABEL, csv=True, title="micro-F1",
       doc="Micro-averaged F1 over every (text, label)."),
    _f("samples_f1", "float", MULTI_LABEL, csv=True, title="samples-F1",
       doc="F1 per text, averaged over texts."),
    _f("exact_match", "float", MULTI_LABEL, csv=True,
       doc="Share of texts whose predicted label set is exactly right (also `accuracy`)."),
    _f("hamming_loss", "float", MULTI_LABEL, csv=True,
       doc="Share of (text, label) decisions that are wrong."),
    _f("lrap", "float", MULTI_LABEL, csv=True,
       doc="Label-ranking average precision of the probabilities."),
    *(
        _f(f"{metric}_ci95", "float", MULTI_LABEL,
           doc=f"Half-width of the 95% interval of `{metric}` over seeds or episodes.")
        for metric in MULTI_LABEL_METRICS
    ),
    _f("label_f1", "object", ("multi-label",),
       doc="F1 per label (full-way multi-label)."),
    _f("support_size", "object", MULTI_LABEL,
       doc="Texts in the support (a greedy support covers every label K times): mean, min, max."),
    _f("learner_name", "str", ALL, csv=True,
       doc="The learner's registered name."),
    _f("plugin", "str", ALL, csv=True,
       doc="The distribution that registered the learner."),
    _f("params", "object", ALL, csv=True,
       doc="The learner's parameters, as JSON (a JSON string in results.csv)."),
    _f("encoder", "str", ALL, csv=True,
       doc="The encoder's identity (name and content hash)."),
    _f("fewshot_version", "str", ALL, csv=True,
       doc="The fewshot version that wrote the record."),
    # fields added after 0.1 go last: results.csv's earlier columns keep their places
    _f("pool", "str", ("active-learning",), csv=True,
       doc="Active learning: the labelled data whose texts are the pool (its labels answer)."),
    _f("start", "str", ("active-learning",),
       doc="Active learning: `one-per-class` or `zero-shot` (nothing labelled at the start)."),
    _f("batch", "int", ("active-learning",),
       doc="Active learning: texts labelled per round."),
    _f("total", "int", ("active-learning",),
       doc="Active learning: texts labelled at the end (where `accuracy` is measured)."),
    _f("strategies", "list", ("active-learning",),
       doc="Active learning: the strategies simulated; `accuracy` is the first one's."),
    _f("curves", "object", ("active-learning",),
       doc="Active learning: per strategy, `labels`, `accuracy` (mean over seeds), `ci95` and "
           "`macro_f1` after every round: the learning curves."),
    _f("strategy_comparisons", "object", ("active-learning",),
       doc="Active learning: each strategy against `random` and `class-balanced` at `total` "
           "labels, paired over seeds (`difference`, `ci95`, `p_value`)."),
)
# fmt: on

FIELDS: dict[str, RecordField] = {f.name: f for f in RECORD_FIELDS}
#: ``results.csv``'s columns, in order.
CSV_FIELDS: list[str] = [f.name for f in RECORD_FIELDS if f.csv]


class RecordError(ValueError):
    """A record that does not follow :data:`RECORD_FIELDS` (a bug in the code that made it)."""


def check_record(record: Mapping[str, Any]) -> None:
    """Raise :class:`RecordError` when ``record`` has a field the schema does not list, a value
    of the wrong type, or a field its protocol does not write."""
    protocol = record.get("protocol")
    if protocol not in PROTOCOLS:
        raise RecordError(f"record protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    for name, value in record.items():
        field = FIELDS.get(name)
        if field is None:
            raise RecordError(f"record field {name!r} is not in fewshot.evaluation.records")
        if value is None:
            continue
        if protocol not in field.protocols:
            raise RecordError(f"record field {name!r} is not one that {protocol} records carry")
        problem = value_problem(name, value)
        if problem:
            raise RecordError(problem)


def value_problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` as the record field ``name`` (None: nothing, or a field the
    schema does not list). A report reads runs written by other versions with it."""
    field = FIELDS.get(name)
    if field is None or value is None:
        return None
    wrong_bool = isinstance(value, bool) and field.type != "bool"  # bool is an int subclass
    if not isinstance(value, _TYPES[field.type]) or wrong_bool:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        return f"record field {name!r} = {shown}: expected {field.type}, got {type(value).__name__}"
    return None
