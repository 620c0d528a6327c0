"""Cross-domain tasks: a labelled source, K labels per target class (K may be 0) and unlabelled
target texts; one task per seed (see :class:`~fewshot.tasks.episodes.CrossDomainSampler`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fewshot.evaluation.protocols.base import DataSource, Setting, classify_episode, mean_of
from fewshot.tasks.episodes import CrossDomainSampler


@dataclass(frozen=True)
class CrossDomainSetting(Setting):
    """Labelled source data, K labels per target class (K may be 0) and unlabelled target
    texts; one task per seed."""

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

    def datasets(self, *, meta: bool = False) -> tuple[str, ...]:
        return (self.source, self.target)

    def episode_count(self) -> int:
        return self.seeds

    def build(self, source: DataSource) -> CrossDomainSampler:
        return CrossDomainSampler(
            source.data(self.source),
            source.data(self.target),
            self.shots,
            ways=self.ways,
            unlabeled=self.unlabeled,
            seed=self.seed,
            source_domain=self.source_domain,
            target_domain=self.target_domain,
        )

    def run_episode(self, task: CrossDomainSampler, index, learner, source) -> dict:
        episode = task.episode(index)
        X = source.inputs(self.target, learner.input_kind)
        extra: dict[str, Any] = {}
        if "source" in learner.fit_inputs:
            rows = task.source_rows
            X_source = source.inputs(self.source, learner.input_kind)[rows]
            extra["source"] = (X_source, task.source.label_array[rows])
        if "unlabeled" in learner.fit_inputs:
            extra["unlabeled"] = X[episode.unlabeled]
        return classify_episode(episode, learner, X, **extra)

    def record_fields(self, task: CrossDomainSampler) -> dict[str, Any]:
        return {
            "dataset": self.target,
            "source": self.source,
            "target": self.target,
            "source_domain": self.source_domain,
            "target_domain": self.target_domain,
            "ways": task.ways,
            "shots": self.shots,
            "source_examples": len(task.source_rows),
            "episodes": self.seeds,
            "seeds": self.seeds,
        }

    def summarize(self, outcomes, task) -> dict[str, Any]:
        summary = super().summarize(outcomes, task)
        summary.update(
            queries=mean_of(outcomes, "queries"), unlabeled=mean_of(outcomes, "unlabeled")
        )
        return summary
