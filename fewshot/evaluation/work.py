"""Running work units: the part of a benchmark that executes anywhere (this process, a worker
process, a Ray worker).

A :class:`Workload` is everything a worker needs, sent once: the settings, the learner specs, the
datasets and their embeddings (computed once, by the driver). A :class:`WorkUnit` names a chunk
of episodes of one (setting, learner) pair, or the pair's meta-training. :class:`Worker` runs
units and reports *events*, which the driver journals and aggregates:

- ``("episode", index, outcome)``: an episode finished, with its JSON outcome;
- ``("failed", index, message)``: it raised, returned bad output or ran out of time;
- ``("meta", learner, info)``: the meta-trained learner and what meta-training recorded.

Every random choice derives from (seed, episode), so a unit gives the same outcomes whichever
executor runs it.
"""

from __future__ import annotations

import copy
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fewshot.data.texts import LabeledTexts
from fewshot.evaluation.protocols.base import Setting
from fewshot.learners.base import Learner, LearnerSpec

#: The "episode" whose seed meta-training uses (episode indices are far smaller).
META_EPISODE = 2**62
#: The journal's episode number for a pair's meta-training record.
META_INDEX = -1


def episode_seed(seed: int, episode: int) -> int:
    """The seed handed to a learner's ``random_state`` for one episode."""
    return int(np.random.SeedSequence([seed, episode]).generate_state(1)[0])


@dataclass(frozen=True)
class WorkUnit:
    """Episodes ``episodes`` of learner ``learner`` on setting ``setting`` (indices into the
    workload's lists), or (``meta``) that pair's meta-training. ``attempt`` counts retries."""

    setting: int
    learner: int
    episodes: tuple[int, ...] = ()
    meta: bool = False
    needs_meta: bool = False
    attempt: int = 1

    @property
    def pair(self) -> tuple[int, int]:
        return (self.setting, self.learner)

    def describe(self) -> str:
        if self.meta:
            return "meta-training"
        first, last = self.episodes[0], self.episodes[-1]
        return f"episode {first}" if first == last else f"episodes {first}-{last}"


@dataclass
class Workload:
    """What workers need to run units. ``arrays`` maps a dataset spec to its embeddings: an
    array, or whatever the executor shares it as (a memory-mapped file, a Ray object), which
    ``load_array`` turns back into an array."""

    settings: list[Setting]
    learners: list[LearnerSpec]
    data: dict[str, LabeledTexts]
    arrays: dict[str, Any]
    device: str = "cpu"
    episode_timeout: float | None = None
    load_array: Any = None

    def without_arrays(self) -> Workload:
        return Workload(
            self.settings,
            self.learners,
            self.data,
            {},
            self.device,
            self.episode_timeout,
            self.load_array,
        )


@dataclass
class LearnerFactory:
    """Fresh learners of one spec: the class and parameters are resolved once."""

    cls: type[Learner]
    params: Mapping[str, Any]
    spec_params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, registry, spec: LearnerSpec, device: str) -> LearnerFactory:
        learner = registry.make_learner(spec.name, spec.params)  # validated here
        params = learner.get_params(deep=False)
        if "device" in params and "device" not in spec.params:
            params["device"] = device
        return cls(type(learner), params, dict(spec.params))

    def configured(self) -> Learner:
        """A learner with the spec's parameters (and the run's device), nothing derived."""
        return self.cls(**self.params)

    def make(self, seed: int, episode: int, meta_trained: Learner | None = None) -> Learner:
        """The learner for one episode: new, or a copy of the meta-trained one; a
        ``random_state`` left to None gets one derived from (seed, episode)."""
        if meta_trained is not None:
            learner = copy.deepcopy(meta_trained)
            if "random_state" in self.params and "random_state" not in self.spec_params:
                learner.random_state = episode_seed(seed, episode)
            return learner
        learner = self.configured()
        if self.params.get("random_state", 0) is None:
            learner.random_state = episode_seed(seed, episode)
        return learner


class Worker:
    """Runs work units of one workload; builds each setting's task and each learner's
    factory once. It is also the :class:`~fewshot.evaluation.protocols.base.DataSource` of the
    protocols it runs."""

    def __init__(self, workload: Workload, registry=None, tasks: dict[int, Any] | None = None):
        if registry is None:
            from fewshot.plugins.registry import load_registry

            registry = load_registry()
        self.workload = workload
        self.registry = registry
        self._tasks: dict[int, Any] = dict(tasks or {})  # tasks the driver built already
        self._factories: dict[int, LearnerFactory] = {}
        self._arrays: dict[str, np.ndarray] = {}

    def data(self, spec: str) -> LabeledTexts:
        return self.workload.data[spec]

    def inputs(self, spec: str, input_kind: str) -> np.ndarray:
        if input_kind == "texts":
            return self.data(spec).text_array
        if spec not in self._arrays:
            shared = self.workload.arrays[spec]
            load = self.workload.load_array
            self._arrays[spec] = load(shared) if load is not None else shared
        return self._arrays[spec]

    def task(self, setting: int) -> Any:
        if setting not in self._tasks:
            self._tasks[setting] = self.workload.settings[setting].build(self)
        return self._tasks[setting]

    def factory(self, learner: int) -> LearnerFactory:
        if learner not in self._factories:
            spec = self.workload.learners[learner]
            self._factories[learner] = LearnerFactory.of(self.registry, spec, self.workload.device)
        return self._factories[learner]

    def run(self, unit: WorkUnit, meta_trained: Learner | None = None) -> Iterator[tuple]:
        """The events of ``unit``, as they happen; stops at the first failed episode."""
        setting = self.workload.settings[unit.setting]
        factory = self.factory(unit.learner)
        if unit.meta:
            try:
                yield ("meta", *meta_train(setting, factory, self))
            except Exception as exc:
                yield ("failed", META_INDEX, f"meta-training: {type(exc).__name__}: {exc}")
            return
        task = self.task(unit.setting)
        for index in unit.episodes:
            try:
                learner = factory.make(setting.seed, index, meta_trained)
                with time_limit(self.workload.episode_timeout):
                    outcome = setting.run_episode(task, index, learner, self)
            except Exception as exc:
                where = "" if setting.single_task else f"episode {index}: "
                yield ("failed", index, f"{where}{type(exc).__name__}: {exc}")
                return
            yield ("episode", index, outcome)


def meta_train(setting: Setting, factory: LearnerFactory, source) -> tuple[Learner, dict]:
    """Meta-train a learner of ``factory`` on the setting's base classes, with the data of
    ``source`` (validation episodes of its validation classes pick the checkpoint). Returns the
    learner and what meta-training recorded."""
    learner = factory.make(setting.seed, META_EPISODE)
    tasks = setting.meta_tasks(source, learner.input_kind)
    start = time.perf_counter()
    learner.meta_fit(tasks)
    split = setting.class_split(source)
    return learner, {
        "meta_train_seconds": time.perf_counter() - start,
        "meta_train_data": setting.meta_train or setting.dataset,
        "base_classes": len(split.base),
        "validation_classes": len(split.validation),
        "meta_step": getattr(learner, "meta_step_", None),
        "meta_validation_accuracy": getattr(learner, "meta_validation_accuracy_", None),
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
