"""The common evaluator: every learner sees the identical tasks and is scored the same way.

Data flows one way: dataset → encoder (cached) → tasks → learner → :class:`SettingResult`.
"""

from __future__ import annotations

import copy
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats
from tqdm.auto import tqdm

import fewshot
from fewshot.data import LabeledTexts
from fewshot.datasets import Columns
from fewshot.encoders import CachedEncoder
from fewshot.episodes import (
    ClassSplit,
    CrossDomainSampler,
    EpisodeSampler,
    FullWayTask,
)
from fewshot.errors import ConfigError
from fewshot.journal import Journal, fingerprint
from fewshot.learners import Learner
from fewshot.meta import MetaTrainingData
from fewshot.plugins import Registry


@dataclass(frozen=True)
class LearnerSpec:
    """A learner by name, its constructor parameters, and the label it is reported under."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def display(self) -> str:
        if self.label:
            return self.label
        if not self.params:
            return self.name
        return self.name + "(" + ",".join(f"{k}={v}" for k, v in sorted(self.params.items())) + ")"


@dataclass(frozen=True)
class EpisodeSetting:
    """N-way K-shot episodes drawn from one dataset."""

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
    #: Meta-trained learners: the dataset of the base-class training episodes and of the
    #: validation episodes (default: ``dataset``; both use the split's classes).
    meta_train: str | None = None
    meta_validation: str | None = None
    validation_episodes: int = 100
    protocol: str = "episodes"

    def describe(self) -> str:
        return f"{self.dataset} {self.ways}-way {self.shots}-shot"


@dataclass(frozen=True)
class FullWaySetting:
    """Train on a fixed K-shot split of every class, test on the whole test split."""

    train: str
    test: str
    seed: int = 0
    protocol: str = "full-way"

    def describe(self) -> str:
        return f"{self.train} → {self.test}"


@dataclass(frozen=True)
class CrossDomainSetting:
    """Labelled source data, K labels per target class (K may be 0) and unlabelled target texts;
    one task per seed (see :class:`~fewshot.episodes.CrossDomainSampler`)."""

    source: str
    target: str
    shots: int
    seeds: int = 10
    seed: int = 0
    ways: int | None = None
    unlabeled: float = 0.5
    source_domain: str | None = None
    target_domain: str | None = None
    protocol: str = "cross-domain"

    def describe(self) -> str:
        source = self.source + (f"[{self.source_domain}]" if self.source_domain else "")
        target = self.target + (f"[{self.target_domain}]" if self.target_domain else "")
        return f"{source} → {target} {self.shots}-shot"


@dataclass(frozen=True)
class TaskDatasetSetting:
    """Episodes drawn by a ``learn2learn.data.TaskDataset`` over the rows of ``dataset``
    (see :class:`fewshot.interop.TaskDatasetEpisodes`); ``name`` tells runs apart."""

    dataset: str
    taskset: Any = field(compare=False, repr=False)
    shots: int
    episodes: int
    name: str = "learn2learn"
    seed: int = 0
    protocol: str = "learn2learn"

    def describe(self) -> str:
        return f"{self.dataset} {self.name} tasks {self.shots}-shot"


Setting = EpisodeSetting | FullWaySetting | CrossDomainSetting | TaskDatasetSetting


@dataclass
class LearnerOutcome:
    """One learner on one setting: the summary record and what paired comparisons need."""

    record: dict[str, Any]
    # Accuracy per episode (episodes), or 1/0 correctness per test example (full-way).
    episode_accuracy: np.ndarray


@dataclass
class SettingResult:
    setting: Setting
    outcomes: list[LearnerOutcome]
    comparisons: list[dict[str, Any]]


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-averaged F1 over the classes present in ``y_true``."""
    classes, true_codes = np.unique(y_true, return_inverse=True)
    lookup = {c: i for i, c in enumerate(classes)}
    pred_codes = np.fromiter((lookup.get(p, -1) for p in y_pred), dtype=np.int64, count=len(y_pred))
    k = len(classes)
    hit = pred_codes == true_codes
    tp = np.bincount(true_codes[hit], minlength=k)
    support = np.bincount(true_codes, minlength=k)
    predicted = np.bincount(pred_codes[pred_codes >= 0], minlength=k)
    denominator = support + predicted
    f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    return float(f1.mean())


def mean_ci95(values: np.ndarray) -> float | None:
    """Half-width of the 95% t-interval of the mean; None for a single value."""
    if len(values) < 2:
        return None
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


#: The "episode" whose seed meta-training uses (episode indices are far smaller).
META_EPISODE = 2**62


def episode_seed(seed: int, episode: int) -> int:
    """The seed handed to a learner's ``random_state`` for one episode."""
    return int(np.random.SeedSequence([seed, episode]).generate_state(1)[0])


class Evaluator:
    """Runs learners on settings and scores them identically.

    Parameters
    ----------
    registry: where learner names and dataset names are resolved.
    encoder: the (cached) encoder that turns texts into embeddings for embedding learners.
    columns: column names for datasets given as files.
    progress: show progress bars.
    device: handed to learners that take a ``device`` parameter and were not given one.
    journal: where finished episodes are recorded and, when resuming, found.
    episode_timeout: seconds one episode (fit + predict) may take before the learner's setting
        is marked failed.
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
    ):
        self.registry = registry
        self.encoder = encoder
        self.columns = columns or Columns()
        self.progress = progress
        self.device = device
        self.journal = journal
        self.episode_timeout = episode_timeout
        self._data: dict[str, LabeledTexts] = {}
        self._embeddings: dict[str, np.ndarray] = {}

    def run(
        self, settings: Iterable[Setting], learners: list[LearnerSpec]
    ) -> Iterator[SettingResult]:
        """Evaluate every learner on every setting, yielding each setting's result as it finishes."""
        for setting, task in self.prepare(settings, learners):
            if isinstance(task, FullWayTask):
                outcomes = [self._full_way(setting, task, spec) for spec in learners]
            else:
                count = (
                    setting.seeds if isinstance(setting, CrossDomainSetting) else setting.episodes
                )
                # Drawn lazily, one at a time: memory does not grow with the episode count.
                outcomes = [self._run_episodes(setting, spec, count, task) for spec in learners]
            yield SettingResult(setting, outcomes, paired_comparisons(setting, outcomes))

    def prepare(
        self, settings: Iterable[Setting], learners: list[LearnerSpec]
    ) -> list[tuple[Setting, EpisodeSampler | FullWayTask | CrossDomainSampler]]:
        """Check everything that can be checked before any work: learner names and parameters,
        data, and whether the episodes can be drawn. Raises a FewshotError on the first problem."""
        if not learners:
            raise ConfigError("no learners to evaluate; name at least one (--learner NAME)")
        labels = [spec.display for spec in learners]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"two learners share a label in {labels}; give them distinct labels")
        configured = [self._configured(spec) for spec in learners]
        kinds = {learner.input_kind for learner in configured}
        prepared = [(setting, self._task(setting)) for setting in settings]
        meta_trained = [
            spec for spec, learner in zip(learners, configured, strict=True) if learner.meta_trained
        ]
        if meta_trained:
            for setting, _ in prepared:
                self._base_classes(setting, meta_trained[0])
        if "embeddings" in kinds:  # encoding can fail too (a broken model): better now than midway
            for setting, _ in prepared:
                for spec in _datasets_of(setting):
                    self.inputs(spec, "embeddings")
        return prepared

    # -- data ---------------------------------------------------------------------------------

    def data_fingerprints(self) -> dict[str, str]:
        """The content hash of every dataset loaded so far, by spec (see ``prepare``)."""
        return {spec: data.fingerprint for spec, data in self._data.items()}

    def data(self, spec: str) -> LabeledTexts:
        if spec not in self._data:
            self._data[spec] = self.registry.datasets.load(spec, self.columns)
        return self._data[spec]

    def inputs(self, spec: str, input_kind: str) -> np.ndarray:
        """What a learner of ``input_kind`` consumes, for every row of dataset ``spec``."""
        data = self.data(spec)
        if input_kind == "texts":
            return data.text_array
        if spec not in self._embeddings:
            self._embeddings[spec] = self.encoder.encode(data.texts)
        return self._embeddings[spec]

    # -- protocols ----------------------------------------------------------------------------

    def _task(self, setting: Setting) -> EpisodeSampler | FullWayTask | CrossDomainSampler:
        if isinstance(setting, FullWaySetting):
            return FullWayTask(self.data(setting.train), self.data(setting.test))
        if isinstance(setting, TaskDatasetSetting):
            from fewshot.interop import TaskDatasetEpisodes  # needs learn2learn

            return TaskDatasetEpisodes(
                setting.taskset, self.data(setting.dataset), setting.shots, seed=setting.seed
            )
        if isinstance(setting, CrossDomainSetting):
            return CrossDomainSampler(
                self.data(setting.source),
                self.data(setting.target),
                setting.shots,
                ways=setting.ways,
                unlabeled=setting.unlabeled,
                seed=setting.seed,
                source_domain=setting.source_domain,
                target_domain=setting.target_domain,
            )
        data = self.data(setting.dataset)
        classes = setting.classes
        split = self._split(setting)
        if split is not None:
            classes = getattr(split, setting.split_part)
        return EpisodeSampler(
            data,
            setting.ways,
            setting.shots,
            setting.queries,
            seed=setting.seed,
            classes=classes,
            domain=setting.domain,
            small_classes="skip" if setting.skip_small_classes else "error",
        )

    def _split(self, setting: EpisodeSetting) -> ClassSplit | None:
        if setting.split is not None:
            return setting.split
        data = self.data(setting.dataset)
        if setting.split_fractions is not None:
            base, validation, seed = setting.split_fractions
            return ClassSplit.by_fraction(data.classes, base=base, validation=validation, seed=seed)
        if setting.split_domains is not None:
            base, validation, novel = setting.split_domains
            return ClassSplit.by_domain(data, base=base, validation=validation, novel=novel)
        return None

    def _base_classes(self, setting: Setting, spec: LearnerSpec) -> ClassSplit:
        """The class split a meta-trained learner trains on; refuses a setting without base
        classes."""
        split = self._split(setting) if isinstance(setting, EpisodeSetting) else None
        if split is None or not split.base:
            raise ConfigError(
                f"learner {spec.display!r} is meta-trained and needs base classes to train on, "
                f"but {setting.describe()} has none; give it a class split (suite: split = "
                "{base = ..., validation = ...}; command line: --split BASE,VALIDATION)"
            )
        return split

    def _meta_train(self, setting: EpisodeSetting, spec: LearnerSpec) -> tuple[Learner, dict]:
        """Meta-train ``spec`` on episodes of the setting's base classes (validation episodes
        of its validation classes pick the checkpoint); the novel classes stay unseen."""
        split = self._base_classes(setting, spec)
        learner = self._configured(spec)
        if learner.get_params().get("random_state", 0) is None:
            learner.set_params(random_state=episode_seed(setting.seed, META_EPISODE))
        train_data = setting.meta_train or setting.dataset
        validation_data = setting.meta_validation or train_data
        tasks = MetaTrainingData.from_split(
            split,
            (self.data(train_data), self.inputs(train_data, learner.input_kind)),
            (self.data(validation_data), self.inputs(validation_data, learner.input_kind)),
            ways=setting.ways,
            shots=setting.shots,
            queries=setting.queries,
            seed=setting.seed,
            domain=setting.domain,
            validation_episodes=setting.validation_episodes,
        )
        start = time.perf_counter()
        learner.meta_fit(tasks)
        return learner, {
            "meta_train_seconds": time.perf_counter() - start,
            "meta_train_data": train_data,
            "base_classes": len(split.base),
            "validation_classes": len(split.validation),
            "meta_step": getattr(learner, "meta_step_", None),
            "meta_validation_accuracy": getattr(learner, "meta_validation_accuracy_", None),
        }

    def _run_episodes(
        self,
        setting: EpisodeSetting | CrossDomainSetting,
        spec: LearnerSpec,
        count: int,
        task: EpisodeSampler | CrossDomainSampler,
    ) -> LearnerOutcome:
        accuracy = np.full(count, np.nan)
        f1 = np.full(count, np.nan)
        fit_seconds = np.zeros(count)
        predict_seconds = np.zeros(count)
        sizes = np.zeros((count, 3))  # classes, queries, unlabelled rows of each episode
        error = None
        bar = tqdm(
            task.episodes(count),
            total=count,
            desc=f"{setting.describe()} {spec.display}",
            unit="ep",
            leave=False,
            disable=not self.progress,
        )
        configured = self._configured(spec)
        cross_domain = isinstance(setting, CrossDomainSetting)
        X = self.inputs(setting.target if cross_domain else setting.dataset, configured.input_kind)
        extra: dict[str, Any] = {}
        if cross_domain and "source" in configured.fit_inputs:
            rows = task.source_rows
            X_source = self.inputs(setting.source, configured.input_kind)[rows]
            extra["source"] = (X_source, task.source.label_array[rows])
        key = setting_key(setting)
        done = self.journal.finished(key, spec.display) if self.journal else {}
        meta_trained: Learner | None = None  # meta-trained once, when an episode first needs it
        meta_info: dict[str, Any] = {}
        for i, episode in enumerate(bar):
            unlabeled = 0 if episode.unlabeled is None else len(episode.unlabeled)
            sizes[i] = (len(episode.classes), len(episode.query), unlabeled)
            outcome = done.get(episode.index)
            if outcome is None:
                try:
                    if configured.meta_trained and meta_trained is None:
                        meta_trained, meta_info = self._meta_train(setting, spec)
                    learner = self._fresh(spec, setting.seed, episode.index, meta_trained)
                    if cross_domain and "unlabeled" in configured.fit_inputs:
                        extra["unlabeled"] = X[episode.unlabeled]
                    y_pred, fit_s, predict_s = self._fit_predict(
                        learner,
                        X[episode.support],
                        episode.support_labels,
                        X[episode.query],
                        **extra,
                    )
                except Exception as exc:
                    error = f"episode {episode.index}: {type(exc).__name__}: {exc}"
                    break
                outcome = {
                    "accuracy": float(np.mean(y_pred == episode.query_labels)),
                    "macro_f1": macro_f1(episode.query_labels, y_pred),
                    "fit_seconds": fit_s,
                    "predict_seconds": predict_s,
                }
                if self.journal:
                    self.journal.record(key, spec.display, episode.index, outcome)
            accuracy[i] = outcome["accuracy"]
            f1[i] = outcome["macro_f1"]
            fit_seconds[i] = outcome["fit_seconds"]
            predict_seconds[i] = outcome["predict_seconds"]
        bar.close()
        record = self._record(spec, setting, error)
        record.update(meta_info)
        seen = sizes[: i + 1]
        if cross_domain:
            record.update(
                ways=int(seen[0, 0]),
                shots=setting.shots,
                queries=round(float(seen[:, 1].mean()), 1),
                unlabeled=round(float(seen[:, 2].mean()), 1),
                source_examples=len(task.source_rows),
                episodes=count,
                seeds=count,
            )
        else:
            record.update(
                ways=getattr(setting, "ways", int(seen[0, 0])),
                shots=setting.shots,
                queries=getattr(setting, "queries", None)
                or round(float((seen[:, 1] / seen[:, 0]).mean()), 1),
                episodes=count,
            )
        if error is None:
            record.update(
                accuracy=float(accuracy.mean()),
                ci95=mean_ci95(accuracy),
                accuracy_std=float(accuracy.std(ddof=1)) if len(accuracy) > 1 else 0.0,
                macro_f1=float(f1.mean()),
                fit_seconds=float(fit_seconds.mean()),
                predict_seconds=float(predict_seconds.mean()),
            )
        return LearnerOutcome(record, accuracy)

    def _full_way(
        self, setting: FullWaySetting, task: FullWayTask, spec: LearnerSpec
    ) -> LearnerOutcome:
        kind = self._configured(spec).input_kind
        X_train, X_test = self.inputs(setting.train, kind), self.inputs(setting.test, kind)
        error = None
        correct = np.zeros(0)
        key = setting_key(setting)
        outcome = self.journal.finished(key, spec.display).get(0) if self.journal else None
        if outcome is None:
            try:
                learner = self._fresh(spec, setting.seed, 0)
                y_pred, fit_s, predict_s = self._fit_predict(
                    learner, X_train, task.train.label_array, X_test
                )
                outcome = {
                    "predictions": [str(p) for p in y_pred],
                    "fit_seconds": fit_s,
                    "predict_seconds": predict_s,
                }
                if self.journal:
                    self.journal.record(key, spec.display, 0, outcome)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        if outcome is not None:
            y_pred = np.asarray(outcome["predictions"], dtype=object)
            fit_s, predict_s = outcome["fit_seconds"], outcome["predict_seconds"]
        record = self._record(spec, setting, error)
        record.update(
            train=setting.train,
            ways=len(task.train.classes),
            shots=task.shots,
            queries=len(task.test),
            episodes=1,
        )
        if error is None:
            y_true = task.test.label_array
            correct = (y_pred == y_true).astype(float)
            accuracy = float(correct.mean())
            per_class = {
                label: float(correct[y_true == label].mean()) for label in task.test.classes
            }
            record.update(
                accuracy=accuracy,
                ci95=float(1.96 * np.sqrt(accuracy * (1 - accuracy) / len(correct))),
                macro_f1=macro_f1(y_true, y_pred),
                fit_seconds=fit_s,
                predict_seconds=predict_s,
                per_class_accuracy=per_class,
            )
        return LearnerOutcome(record, correct)

    # -- helpers ------------------------------------------------------------------------------

    def configured(self, learners: list[LearnerSpec]) -> list[Learner]:
        """New, validated learners from their specs, as every episode gets them."""
        return [self._configured(spec) for spec in learners]

    def _configured(self, spec: LearnerSpec) -> Learner:
        """A new learner from its spec; learners that run a model follow the evaluator's device."""
        learner = self.registry.make_learner(spec.name, spec.params)
        if "device" in learner.get_params() and "device" not in spec.params:
            learner.set_params(device=self.device)
        return learner

    def _fresh(
        self, spec: LearnerSpec, seed: int, episode: int, meta_trained: Learner | None = None
    ) -> Learner:
        """A learner for one episode: new from its spec, or a copy of the meta-trained one."""
        if meta_trained is not None:
            learner = copy.deepcopy(meta_trained)
            if "random_state" in learner.get_params() and "random_state" not in spec.params:
                learner.set_params(random_state=episode_seed(seed, episode))
            return learner
        learner = self._configured(spec)
        if learner.get_params().get("random_state", 0) is None:
            learner.set_params(random_state=episode_seed(seed, episode))
        return learner

    def _fit_predict(
        self, learner: Learner, X_support, y_support, X_query, **fit_inputs: Any
    ) -> tuple[np.ndarray, float, float]:
        """Fit, then score the queries by ``predict_proba`` (predictions are its argmax)."""
        with time_limit(self.episode_timeout):
            start = time.perf_counter()
            fitted = learner.fit(X_support, y_support, **fit_inputs)
            middle = time.perf_counter()
            if fitted is not learner:
                raise TypeError(f"{type(learner).__name__}.fit must return self")
            proba = np.asarray(learner.predict_proba(X_query), dtype=np.float64)
            end = time.perf_counter()
        if proba.shape != (len(X_query), len(learner.classes_)):
            raise ValueError(
                f"predict_proba returned shape {proba.shape} for {len(X_query)} queries"
            )
        if not np.isfinite(proba).all():
            raise ValueError("predict_proba returned NaN or infinite values")
        return np.asarray(learner.classes_)[proba.argmax(axis=1)], middle - start, end - middle

    def _record(self, spec: LearnerSpec, setting: Setting, error: str | None) -> dict:
        if isinstance(setting, FullWaySetting):
            dataset = setting.test
        elif isinstance(setting, CrossDomainSetting):
            dataset = setting.target
        else:
            dataset = setting.dataset
        cross_domain = isinstance(setting, CrossDomainSetting)
        return {
            "learner": spec.display,
            "learner_name": spec.name,
            "plugin": self.registry.learner_plugin.get(spec.name, ""),
            "params": jsonable(self._configured(spec).get_params()),
            "dataset": dataset,
            "protocol": setting.protocol,
            "full_way": isinstance(setting, FullWaySetting),
            "domain": getattr(setting, "domain", None),
            "source": setting.source if cross_domain else None,
            "target": setting.target if cross_domain else None,
            "source_domain": setting.source_domain if cross_domain else None,
            "target_domain": setting.target_domain if cross_domain else None,
            "seed": setting.seed,
            "status": "failed" if error else "ok",
            "error": error,
            "accuracy": None,
            "ci95": None,
            "macro_f1": None,
            "fit_seconds": None,
            "predict_seconds": None,
            "meta_train_seconds": None,
            "encoder": self.encoder.identity,
            "fewshot_version": fewshot.__version__,
        }


class EpisodeTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (main thread only; checked again afterwards)."""
    if seconds is None:
        yield
        return
    use_alarm = threading.current_thread() is threading.main_thread()
    start = time.perf_counter()

    def expire(signum, frame):
        raise EpisodeTimeout(f"took longer than the {seconds:g} s limit per episode")

    if use_alarm:
        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    elapsed = time.perf_counter() - start
    if elapsed > seconds:  # a C call may hold off the alarm until it returns
        raise EpisodeTimeout(f"took {elapsed:.1f} s, over the {seconds:g} s limit per episode")


def _datasets_of(setting: Setting) -> tuple[str, ...]:
    if isinstance(setting, FullWaySetting):
        return (setting.train, setting.test)
    if isinstance(setting, CrossDomainSetting):
        return (setting.source, setting.target)
    return (setting.dataset,)


def setting_key(setting: Setting) -> str:
    """A stable name for a setting in the run journal."""
    if isinstance(setting, TaskDatasetSetting):  # the taskset object itself is not data
        fields = {k: v for k, v in vars(setting).items() if k != "taskset"}
        return fingerprint({"type": type(setting).__name__, **fields})
    return fingerprint({"type": type(setting).__name__, **asdict(setting)})


def jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    """Learner parameters as JSON values (anything else by its repr)."""
    return {
        k: v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else repr(v)
        for k, v in params.items()
    }


def paired_comparisons(setting: Setting, outcomes: list[LearnerOutcome]) -> list[dict[str, Any]]:
    """Every pair of successful learners, compared on the identical tasks.

    Episodes: paired t-test on per-episode accuracy. Full-way: exact McNemar test on per-example
    correctness.
    """
    done = [o for o in outcomes if o.record["status"] == "ok"]
    comparisons = []
    for a, b in combinations(done, 2):
        diff = a.episode_accuracy - b.episode_accuracy
        entry: dict[str, Any] = {
            "dataset": a.record["dataset"],
            "protocol": a.record["protocol"],
            "source": a.record["source"],
            "target": a.record["target"],
            "source_domain": a.record["source_domain"],
            "target_domain": a.record["target_domain"],
            "ways": a.record["ways"],
            "shots": a.record["shots"],
            "learner_a": a.record["learner"],
            "learner_b": b.record["learner"],
            "accuracy_difference": float(diff.mean()),
        }
        if isinstance(setting, FullWaySetting):
            a_only = int(np.sum(diff > 0))
            b_only = int(np.sum(diff < 0))
            n = len(diff)
            discordant = a_only + b_only
            p = stats.binomtest(min(a_only, b_only), discordant, 0.5).pvalue if discordant else 1.0
            spread = np.sqrt(max(discordant - (a_only - b_only) ** 2 / n, 0.0)) / n
            entry.update(
                test="mcnemar-exact",
                ci95=float(1.96 * spread),
                p_value=float(p),
                a_only=a_only,
                b_only=b_only,
            )
        else:
            if np.all(diff == diff[0]):  # no spread: the t-test is undefined
                p = 1.0 if diff[0] == 0 else 0.0
            else:
                p = float(stats.ttest_rel(a.episode_accuracy, b.episode_accuracy).pvalue)
            entry.update(
                test="paired-t",
                ci95=mean_ci95(diff),
                p_value=p,
                a_wins=int(np.sum(diff > 0)),
                b_wins=int(np.sum(diff < 0)),
                ties=int(np.sum(diff == 0)),
            )
        comparisons.append(entry)
    return comparisons
