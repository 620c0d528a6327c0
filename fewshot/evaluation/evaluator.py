"""The common evaluator: every learner sees the identical tasks and is scored the same way.

Data flows one way: dataset → encoder (cached) → tasks → learner → results. The parts, each in
its own module:

- the *protocols* (:mod:`fewshot.evaluation.protocols`): settings that know their own datasets, task and
  scores;
- the *plan* (:mod:`fewshot.evaluation.plan`): the work units still to run;
- the *executors* (:mod:`fewshot.evaluation.executors`): this process, local worker processes or Ray;
- the *worker* (:mod:`fewshot.evaluation.work`): runs a unit wherever it is sent;
- the *aggregator* (:mod:`fewshot.evaluation.aggregate`) and :mod:`fewshot.evaluation.stats`: records, confidence
  intervals and paired comparisons.

:class:`Evaluator` ties them together: it loads and encodes each dataset once, checks everything
that can be checked before any work, journals every outcome as it arrives (the journal is what
``--resume`` trusts, whichever executor ran the work) and yields each setting's result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from fewshot.data.catalogue import Columns
from fewshot.data.label_names import NAMES_SUFFIX, names_of, names_spec
from fewshot.data.texts import LabeledTexts
from fewshot.encoding.encoders import CachedEncoder
from fewshot.errors import ConfigError
from fewshot.evaluation.aggregate import (
    LearnerOutcome,
    RunInfo,
    SettingResult,
    jsonable,
    learner_outcome,
    paired_comparisons,
)
from fewshot.evaluation.executors import Executor, InProcessExecutor
from fewshot.evaluation.journal import Journal
from fewshot.evaluation.plan import plan_units
from fewshot.evaluation.protocols import (
    CrossDomainSetting,
    EpisodeSetting,
    FullWaySetting,
    Setting,
    TaskDatasetSetting,
)
from fewshot.evaluation.stats import macro_f1, mean_ci95
from fewshot.evaluation.work import META_INDEX, LearnerFactory, Workload, meta_train
from fewshot.learners.base import Learner, LearnerSpec
from fewshot.plugins.registry import Registry

__all__ = [
    "CrossDomainSetting",
    "EpisodeSetting",
    "Evaluator",
    "FullWaySetting",
    "LearnerOutcome",
    "LearnerSpec",
    "SettingResult",
    "TaskDatasetSetting",
    "jsonable",
    "macro_f1",
    "mean_ci95",
]


@dataclass
class PreparedRun:
    """Settings and learners checked and their tasks built: what ``execute`` runs."""

    settings: list[Setting]
    learners: list[LearnerSpec]
    tasks: list[Any]
    configured: list[Learner]


class Evaluator:
    """Runs learners on settings and scores them identically.

    Parameters
    ----------
    registry : Registry
        Where learner names and dataset names are resolved (:func:`~fewshot.plugins.registry.load_registry`).
    encoder : CachedEncoder
        The (cached) encoder that turns texts into embeddings for embedding learners.
    columns : Columns or None, default None
        Column names for datasets given as files.
    progress : bool, default True
        Show a progress bar.
    device : str, default "cpu"
        Handed to learners that take a ``device`` parameter and were not given one.
    journal : Journal or None, default None
        Where finished episodes are recorded and, when resuming, found.
    episode_timeout : float or None, default None
        Seconds one episode may take before the learner's setting is marked failed.
    executor : Executor or None, default None
        Who runs the work units (None: this process; see :mod:`fewshot.evaluation.executors`).
    data : mapping of str to LabeledTexts or datasets.Dataset, or None, default None
        Data held in memory, by the name settings give it (``{"mine:test": dataset}``): used
        instead of loading that name. A ``datasets.Dataset`` is read as ``hf:`` data is (see
        :mod:`fewshot.data.huggingface`).
    """

    def __init__(
        self,
        registry: Registry,
        encoder: CachedEncoder,
        *,
        columns: Columns | None = None,
        progress: bool = True,
        device: str = "cpu",
        journal: Journal | None = None,
        episode_timeout: float | None = None,
        executor: Executor | None = None,
        data: Mapping[str, Any] | None = None,
    ):
        self.registry = registry
        self.encoder = encoder
        self.columns = columns or Columns()
        self.progress = progress
        self.device = device
        self.journal = journal
        self.episode_timeout = episode_timeout
        self.executor = executor
        self._data: dict[str, LabeledTexts] = {
            spec: _in_memory(spec, given, self.columns) for spec, given in (data or {}).items()
        }
        self._embeddings: dict[str, np.ndarray] = {}
        self._encoded: dict[str, np.ndarray] = {}  # which rows of each are encoded
        self._tasks: dict[Setting, Any] = {}
        self._prepared: PreparedRun | None = None

    # -- data: each dataset loaded and encoded once --------------------------------------------

    def data(self, spec: str) -> LabeledTexts:
        if spec not in self._data:
            if spec.endswith(NAMES_SUFFIX):
                self._data[spec] = names_of(self.data(spec.removesuffix(NAMES_SUFFIX)), spec)
            else:
                self._data[spec] = self.registry.datasets.load(spec, self.columns)
        return self._data[spec]

    def inputs(self, spec: str, input_kind: str) -> np.ndarray:
        """What a learner of ``input_kind`` consumes, for every row of dataset ``spec``. Where
        ``prepare`` encoded only the rows a setting uses, the others are NaN: a learner given
        one fails loudly rather than learning from zeros."""
        data = self.data(spec)
        if input_kind == "texts":
            return data.text_array
        if spec not in self._embeddings:
            self._encode(spec, None)
        return self._embeddings[spec]

    def _encode(self, spec: str, rows: np.ndarray | None) -> None:
        """Encode ``rows`` of ``spec`` (None: all) that are not encoded yet."""
        texts = self.data(spec).texts
        if rows is None and spec not in self._embeddings:
            self._embeddings[spec] = self.encoder.encode(texts)
            self._encoded[spec] = np.ones(len(texts), dtype=bool)
            return
        rows = np.arange(len(texts)) if rows is None else np.asarray(rows)
        if spec in self._embeddings:
            rows = rows[~self._encoded[spec][rows]]
        if not len(rows):
            return
        encoded = self.encoder.encode([texts[int(r)] for r in rows])
        if spec not in self._embeddings:
            self._embeddings[spec] = np.full((len(texts), encoded.shape[1]), np.nan, encoded.dtype)
            self._encoded[spec] = np.zeros(len(texts), dtype=bool)
        self._embeddings[spec][rows] = encoded
        self._encoded[spec][rows] = True

    def data_fingerprints(self) -> dict[str, str]:
        """The content hash of every dataset loaded so far, by spec (see ``prepare``)."""
        return {spec: data.fingerprint for spec, data in self._data.items()}

    def task(self, setting: Setting) -> Any:
        """The setting's task (its episode sampler), built once."""
        key = setting if not isinstance(setting, TaskDatasetSetting) else id(setting)
        if key not in self._tasks:
            self._tasks[key] = setting.build(self)
        return self._tasks[key]

    def configured(self, learners: list[LearnerSpec]) -> list[Learner]:
        """New, validated learners from their specs, as every episode gets them."""
        return [self._factory(spec).configured() for spec in learners]

    def _factory(self, spec: LearnerSpec) -> LearnerFactory:
        return LearnerFactory.of(self.registry, spec, self.device)

    def meta_train(self, setting: Setting, spec: LearnerSpec) -> tuple[Learner, dict]:
        """A learner of ``spec`` meta-trained as the benchmark does it, with what it recorded."""
        return meta_train(setting, self._factory(spec), self)

    # -- running ---------------------------------------------------------------------------

    def prepare(self, settings: Iterable[Setting], learners: list[LearnerSpec]) -> PreparedRun:
        """Check everything that can be checked before any work: learner names and parameters,
        data, whether the episodes can be drawn, and encode every dataset embedding learners
        need. Raises a FewshotError on the first problem."""
        settings = list(settings)
        if not learners:
            raise ConfigError("no learners to evaluate; name at least one (--learner NAME)")
        labels = [spec.display for spec in learners]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"two learners share a label in {labels}; give them distinct labels")
        configured = self.configured(learners)
        for setting in settings:
            self._check_label_kind(setting, learners, configured)
            self._check_zero_shot(setting, learners, configured)
        tasks = [self.task(setting) for setting in settings]
        meta = [
            spec for spec, learner in zip(learners, configured, strict=True) if learner.meta_trained
        ]
        for setting in settings if meta else ():
            setting.base_classes(self, f"learner {meta[0].display!r}")
        named = any("label_vectors" in learner.fit_inputs for learner in configured) or any(
            getattr(setting, "start", None) == "zero-shot" for setting in settings
        )  # a zero-shot start (active learning) reads the class names too
        if any(learner.input_kind == "embeddings" for learner in configured):
            # Encoding can fail too (a broken model): better now than midway.
            for setting, task in zip(settings, tasks, strict=True):
                used = setting.rows_used(task)
                for spec in setting.datasets(meta=bool(meta)):
                    self._encode(spec, used.get(spec))
                    if named:
                        self._encode(names_spec(spec), None)
        self._prepared = PreparedRun(settings, list(learners), tasks, configured)
        return self._prepared

    def _check_zero_shot(self, setting: Setting, specs, learners: list[Learner]) -> None:
        """0-shot episodes only for learners that fit from class names alone."""
        if not isinstance(setting, EpisodeSetting) or setting.shots:
            return
        for spec, learner in zip(specs, learners, strict=True):
            if not learner.zero_shot:
                able = sorted(n for n, c in self.registry.learners.items() if c.zero_shot)
                raise ConfigError(
                    f"{setting.describe()}: learner {spec.display!r} needs examples; 0-shot "
                    f"episodes are for learners that start from the class names: {', '.join(able)}"
                )

    def _check_label_kind(self, setting: Setting, specs, learners: list[Learner]) -> None:
        """Multi-label data only in multi-label settings, and only for learners that fit it."""
        if setting.multi_label:
            refused = [
                s.display
                for s, x in zip(specs, learners, strict=True)
                if not x.supports_multi_label
            ]
            if refused:
                able = sorted(
                    n for n, c in self.registry.learners.items() if c.supports_multi_label
                )
                raise ConfigError(
                    f"learner {refused[0]!r} does not support multi-label data; "
                    f"these do: {', '.join(able)}"
                )
            return
        for spec in setting.datasets():
            if self.data(spec).is_multi_label:
                raise ConfigError(
                    f"{spec} is multi-label (a list of labels per text); run it with "
                    "--multi-label (suite: a [[multi_label]] table)"
                )

    def run(
        self, settings: Iterable[Setting], learners: list[LearnerSpec]
    ) -> Iterator[SettingResult]:
        """Evaluate every learner on every setting, yielding each setting's result (in order)
        as soon as it and those before it are finished."""
        return self.execute(self.prepare(settings, learners))

    def _workload(self, settings: list[Setting], learners: list[LearnerSpec]) -> Workload:
        wanted = {spec for setting in settings for spec in setting.datasets(meta=True)}
        wanted |= {names_spec(spec) for spec in wanted}  # where zero-shot learners read them
        return Workload(
            settings=settings,
            learners=learners,
            data={spec: data for spec, data in self._data.items() if spec in wanted},
            arrays={spec: x for spec, x in self._embeddings.items() if spec in wanted},
            device=self.device,
            episode_timeout=self.episode_timeout,
        )

    def execute(self, prepared: PreparedRun) -> Iterator[SettingResult]:
        """Run a prepared benchmark: plan what the journal does not hold yet, hand it to the
        executor, journal every event, and yield each setting's result."""
        settings, learners = prepared.settings, prepared.learners
        keys = [setting.key() for setting in settings]
        outcomes: dict[tuple[int, int], dict[int, dict]] = {}
        missing: dict[tuple[int, int], list[int]] = {}
        for s, setting in enumerate(settings):
            for k, spec in enumerate(learners):
                done = dict(self.journal.finished(keys[s], spec.display)) if self.journal else {}
                outcomes[(s, k)] = done
                missing[(s, k)] = [i for i in range(setting.episode_count()) if i not in done]
        executor = self.executor or InProcessExecutor(
            self.registry, dict(enumerate(prepared.tasks))
        )
        meta_flags = [learner.meta_trained for learner in prepared.configured]
        units = plan_units(missing, meta_flags, executor.parallelism)
        outstanding = Counter(unit.setting for unit in units)
        failures: dict[tuple[int, int], tuple[int, str]] = {}
        bar = tqdm(
            total=sum(len(unit.episodes) for unit in units),
            desc="episodes",
            unit="ep",
            leave=False,
            disable=not self.progress,
        )
        next_setting = 0
        try:
            for unit, event in self._events(executor, settings, learners, units):
                pair, kind = unit.pair, event[0]
                if kind == "episode" or kind == "meta":
                    index, outcome = (
                        (event[1], event[2]) if kind == "episode" else (META_INDEX, event[2])
                    )
                    outcomes[pair][index] = outcome
                    if self.journal:
                        self.journal.record(
                            keys[unit.setting], learners[unit.learner].display, index, outcome
                        )
                    bar.update(kind == "episode")
                elif kind == "failed":
                    if pair not in failures or event[1] < failures[pair][0]:
                        failures[pair] = (event[1], event[2])
                else:  # the unit is done
                    outstanding[unit.setting] -= 1
                while next_setting < len(settings) and outstanding[next_setting] == 0:
                    yield self._result(prepared, next_setting, outcomes, failures)
                    next_setting += 1
        finally:
            bar.close()
            if executor is not self.executor:
                executor.close()
        while next_setting < len(settings):
            yield self._result(prepared, next_setting, outcomes, failures)
            next_setting += 1

    def _events(self, executor, settings, learners, units):
        if not units:
            return iter(())
        return executor.run(self._workload(settings, learners), units)

    def _result(self, prepared: PreparedRun, s: int, outcomes, failures) -> SettingResult:
        setting, task = prepared.settings[s], prepared.tasks[s]
        info = RunInfo(self.encoder.identity, self.registry.learner_plugin)
        results = []
        for k, spec in enumerate(prepared.learners):
            done = outcomes[(s, k)]
            error = failures.get((s, k), (None, None))[1]
            results.append(
                learner_outcome(
                    setting,
                    task,
                    spec,
                    prepared.configured[k].get_params(),
                    {i: o for i, o in done.items() if i != META_INDEX},
                    error,
                    done.get(META_INDEX),
                    info,
                )
            )
        return SettingResult(setting, results, paired_comparisons(setting, results))


def _in_memory(spec: str, data: Any, columns: Columns) -> LabeledTexts:
    """Data given to the evaluator by name, as :class:`LabeledTexts` named ``spec``."""
    from fewshot.data.huggingface import from_hf_dataset, is_hf_dataset

    if is_hf_dataset(data):
        return from_hf_dataset(data, columns, name=spec)
    if not isinstance(data, LabeledTexts):
        raise ConfigError(
            f"data[{spec!r}] is {type(data).__name__}; expected LabeledTexts or a datasets.Dataset"
        )
    return replace(data, name=spec, _arrays={})
