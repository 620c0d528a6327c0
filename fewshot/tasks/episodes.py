"""Few-shot tasks: N-way K-shot episodes, class splits, and the full-way protocol.

Episode ``i`` is a pure function of ``(seed, i)``: it can be drawn alone, in any order, in any
process, and is the same every time. Nothing enumerates the space of possible tasks, so memory
stays proportional to the dataset.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fewshot.data.texts import LabeledTexts
from fewshot.errors import ConfigError, EpisodeError
from fewshot.util.params import check_count


@dataclass(frozen=True, eq=False)
class Episode:
    """One N-way K-shot task: row indices into the dataset, and their labels.

    Parameters
    ----------
    index : int
        The episode's number: with the sampler's seed, it determines the episode.
    classes : tuple of str
        The N classes.
    support, query : ndarray of int
        Row indices of the support and query texts.
    support_labels, query_labels : ndarray of str
        Their labels.
    unlabeled : ndarray of int or None, default None
        Row indices of unlabelled texts offered to learners that use them.
    """

    index: int
    classes: tuple[str, ...]
    support: np.ndarray
    support_labels: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray
    #: Cross-domain tasks only: unlabelled target rows (disjoint from support and query).
    unlabeled: np.ndarray | None = None

    @classmethod
    def from_rows(
        cls,
        index: int,
        classes: tuple[str, ...],
        support: list[np.ndarray],
        query: list[np.ndarray],
        labels: np.ndarray,
    ) -> Episode:
        """An episode from the support and query rows of each class, in class order."""
        support_rows, query_rows = np.concatenate(support), np.concatenate(query)
        return cls(
            index=index,
            classes=classes,
            support=support_rows,
            support_labels=labels[support_rows],
            query=query_rows,
            query_labels=labels[query_rows],
        )


class EpisodeSampler:
    """Draws N-way K-shot episodes with Q queries per class from labelled texts.

    Support and query examples of a class are distinct *texts*, so a text repeated in the data
    never appears on both sides of an episode.

    Parameters
    ----------
    data : LabeledTexts
        The labelled texts to draw from.
    ways, shots, queries : int
        N classes per episode, K support and Q query examples per class.
    seed : int, default 0
        With the episode index, determines every random choice.
    classes : sequence of str or None, default None
        Draw only from these classes (e.g. ``ClassSplit.novel``).
    domain : str or None, default None
        Draw only examples of this domain.
    small_classes : {"error", "skip"}, default "error"
        ``"error"`` refuses a class with fewer than K+Q distinct texts; ``"skip"`` leaves such
        classes out.
    """

    def __init__(
        self,
        data: LabeledTexts,
        ways: int,
        shots: int,
        queries: int,
        *,
        seed: int = 0,
        classes: Sequence[str] | None = None,
        domain: str | None = None,
        small_classes: Literal["error", "skip"] = "error",
    ):
        self.data = data
        self.ways = check_count("ways", ways, 2)
        self.shots = check_count("shots", shots, 0)  # 0: zero-shot, from the class names
        self.queries = check_count("queries", queries, 1)
        self.seed = check_count("seed", seed, 0)
        if small_classes not in ("error", "skip"):
            raise ConfigError(f"small_classes must be 'error' or 'skip', got {small_classes!r}")
        self.domain = domain
        self.small_classes = small_classes

        rows = _domain_rows(data, domain)

        labels = data.label_array[rows]
        wanted = sorted(set(labels) if classes is None else set(classes))
        unknown = sorted(set(wanted) - set(labels))
        if unknown:
            raise EpisodeError(f"{data.name} has no examples of classes {unknown[:10]}")

        need = self.shots + self.queries
        self._by_class: dict[str, np.ndarray] = {}
        too_small: list[tuple[str, int]] = []
        for label in wanted:
            members = rows[labels == label]
            distinct = _first_of_each_text(data.text_array[members])
            if len(distinct) < need:
                too_small.append((label, len(distinct)))
            else:
                self._by_class[label] = members[distinct]
        if too_small and small_classes == "error":
            label, count = too_small[0]
            raise EpisodeError(
                f"{data.name}: class {label!r} has {count} distinct examples, but a {self.shots}-shot "
                f"{self.queries}-query episode needs {need} ({len(too_small)} classes are this small); "
                "lower shots/queries or skip such classes (small_classes='skip', --skip-small-classes)"
            )
        self.classes: tuple[str, ...] = tuple(self._by_class)
        if len(self.classes) < self.ways:
            raise EpisodeError(
                f"{data.name}: {self.ways}-way episodes need {self.ways} classes with at least {need} "
                f"distinct examples, but only {len(self.classes)} have that many"
            )

    def episode(self, index: int) -> Episode:
        """Episode ``index``, the same for a given seed whatever else was drawn."""
        index = check_count("episode index", index, 0)
        rng = np.random.default_rng([self.seed, index])
        chosen = rng.choice(len(self.classes), size=self.ways, replace=False)
        classes = tuple(self.classes[c] for c in chosen)
        support, query = [], []
        for label in classes:
            members = self._by_class[label]
            picked = members[
                rng.choice(len(members), size=self.shots + self.queries, replace=False)
            ]
            support.append(picked[: self.shots])
            query.append(picked[self.shots :])
        return Episode.from_rows(index, classes, support, query, self.data.label_array)

    def episodes(self, count: int, start: int = 0) -> Iterator[Episode]:
        for index in range(start, start + count):
            yield self.episode(index)


class CrossDomainSampler:
    """Cross-domain tasks: labelled source data, K labels per target class, unlabelled target.

    Task ``i`` (one per seed of a benchmark) splits the target's distinct texts, at random, into
    K labelled support texts per class, an unlabelled pool (``unlabeled`` of the rest) and the
    queries (all that remain), so the three never share a text. The learner also gets every
    labelled source row. With ``shots=0`` there are no target labels and the target's classes
    must all occur in the source.

    Parameters
    ----------
    source, target: labelled texts of the two domains.
    shots: K target labels per class (0 for unsupervised adaptation).
    ways: classes per task, drawn from the target's; None uses all of them.
    unlabeled: the share of the target texts left after the support that goes to the unlabelled
        pool; the rest are queries.
    seed: with the task index, determines every random choice.
    source_domain, target_domain: keep only rows of this domain (datasets with a domain column).
    """

    def __init__(
        self,
        source: LabeledTexts,
        target: LabeledTexts,
        shots: int,
        *,
        ways: int | None = None,
        unlabeled: float = 0.5,
        seed: int = 0,
        source_domain: str | None = None,
        target_domain: str | None = None,
    ):
        self.source, self.target = source, target
        self.shots = check_count("shots", shots, 0)
        self.seed = check_count("seed", seed, 0)
        if not (isinstance(unlabeled, (int, float)) and 0 <= unlabeled < 1):
            raise ConfigError(f"unlabeled must be a share in [0, 1), got {unlabeled!r}")
        self.unlabeled = float(unlabeled)
        self.source_rows = _domain_rows(source, source_domain)
        if len(self.source_rows) == 0:
            raise EpisodeError(f"{source.name}: no labelled source rows")
        target_rows = _domain_rows(target, target_domain)
        distinct = target_rows[_first_of_each_text(target.text_array[target_rows])]
        labels = target.label_array[distinct]
        self.classes: tuple[str, ...] = tuple(sorted(set(labels)))
        self.ways = len(self.classes) if ways is None else check_count("ways", ways, 2)
        if self.ways > len(self.classes):
            raise EpisodeError(
                f"{target.name}: {self.ways}-way tasks need {self.ways} classes, it has "
                f"{len(self.classes)}"
            )
        self._by_class = {label: distinct[labels == label] for label in self.classes}
        small = [(c, len(rows)) for c, rows in self._by_class.items() if len(rows) < shots + 1]
        if small:
            raise EpisodeError(
                f"{target.name}: class {small[0][0]!r} has {small[0][1]} distinct texts; "
                f"{shots} labels and at least one query need {shots + 1}"
            )
        if self.shots == 0:
            missing = sorted(set(self.classes) - set(source.label_array[self.source_rows]))
            if missing:
                raise EpisodeError(
                    f"{source.name} has no examples of target classes {missing[:5]}; with 0 target "
                    "labels (shots=0) the source must cover every target class"
                )

    def episode(self, index: int) -> Episode:
        index = check_count("task index", index, 0)
        rng = np.random.default_rng([self.seed, index])
        if self.ways == len(self.classes):
            classes = self.classes
        else:
            chosen = rng.choice(len(self.classes), size=self.ways, replace=False)
            classes = tuple(self.classes[c] for c in sorted(chosen))
        support, rest = [], []
        for label in classes:
            members = rng.permutation(self._by_class[label])
            support.append(members[: self.shots])
            rest.append(members[self.shots :])
        rest_rows = rng.permutation(np.concatenate(rest))
        n_unlabeled = int(self.unlabeled * len(rest_rows))
        support_rows = np.concatenate(support)
        query_rows = np.sort(rest_rows[n_unlabeled:])
        return Episode(
            index=index,
            classes=classes,
            support=support_rows,
            support_labels=self.target.label_array[support_rows],
            query=query_rows,
            query_labels=self.target.label_array[query_rows],
            unlabeled=np.sort(rest_rows[:n_unlabeled]),
        )

    def episodes(self, count: int, start: int = 0) -> Iterator[Episode]:
        for index in range(start, start + count):
            yield self.episode(index)


def _domain_rows(data: LabeledTexts, domain: str | None) -> np.ndarray:
    rows = np.arange(len(data))
    if domain is None:
        return rows
    if data.domains is None:
        raise EpisodeError(f"{data.name} has no domain column; cannot restrict to {domain!r}")
    known = sorted(set(data.domains))
    if domain not in known:
        raise EpisodeError(f"{data.name} has no domain {domain!r}; its domains are {known}")
    return rows[np.asarray(data.domains, dtype=object) == domain]


def _first_of_each_text(texts: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each distinct text, in order."""
    seen: dict[str, int] = {}
    for position, text in enumerate(texts):
        seen.setdefault(text, position)
    return np.fromiter(seen.values(), dtype=np.int64, count=len(seen))


@dataclass(frozen=True)
class ClassSplit:
    """Disjoint base / validation / novel classes, for meta-training and honest evaluation.

    Parameters
    ----------
    base, validation, novel : tuple of str
        The classes of each part: meta-training, checkpoint choice, scoring.
    """

    base: tuple[str, ...]
    validation: tuple[str, ...]
    novel: tuple[str, ...]

    def __post_init__(self) -> None:
        parts = {"base": self.base, "validation": self.validation, "novel": self.novel}
        for a, b in (("base", "validation"), ("base", "novel"), ("validation", "novel")):
            shared = sorted(set(parts[a]) & set(parts[b]))
            if shared:
                raise ConfigError(f"class split: {a} and {b} share classes {shared[:5]}")

    @classmethod
    def by_fraction(
        cls, classes: Sequence[str], *, base: float, validation: float, seed: int = 0
    ) -> ClassSplit:
        """Shuffle the classes with ``seed``; the first ``base`` fraction is base, and so on."""
        if not (base >= 0 and validation >= 0 and base + validation <= 1):
            raise ConfigError(
                f"class split fractions must be >= 0 and add up to at most 1, got base={base}, "
                f"validation={validation}"
            )
        ordered = sorted(set(classes))
        order = np.random.default_rng(seed).permutation(len(ordered))
        shuffled = [ordered[i] for i in order]
        n_base = round(base * len(shuffled))
        n_val = round(validation * len(shuffled))
        return cls(
            tuple(shuffled[:n_base]),
            tuple(shuffled[n_base : n_base + n_val]),
            tuple(shuffled[n_base + n_val :]),
        )

    @classmethod
    def by_domain(
        cls,
        data: LabeledTexts,
        *,
        base: Sequence[str],
        validation: Sequence[str] = (),
        novel: Sequence[str],
    ) -> ClassSplit:
        """Split by domain: every class of a base domain is a base class, and so on."""
        if data.domains is None:
            raise ConfigError(f"{data.name} has no domain column; cannot split classes by domain")
        known = set(data.domains)
        for domain in (*base, *validation, *novel):
            if domain not in known:
                raise ConfigError(
                    f"{data.name} has no domain {domain!r}; its domains are {sorted(known)}"
                )

        def classes_of(domains: Sequence[str]) -> tuple[str, ...]:
            wanted = set(domains)
            found = {
                lab for lab, dom in zip(data.labels, data.domains, strict=True) if dom in wanted
            }
            return tuple(sorted(found))

        return cls(classes_of(base), classes_of(validation), classes_of(novel))


@dataclass(frozen=True, eq=False)
class FullWayTask:
    """The full-way K-shot protocol: train on a fixed K-shot split of all classes, test on all.

    Parameters
    ----------
    train : LabeledTexts
        The K-shot training split of every class.
    test : LabeledTexts
        The whole test split.
    """

    train: LabeledTexts
    test: LabeledTexts

    def __post_init__(self) -> None:
        unseen = sorted(set(self.test.classes) - set(self.train.classes))
        if unseen:
            raise EpisodeError(
                f"{self.test.name} has {len(unseen)} classes that {self.train.name} lacks "
                f"(e.g. {unseen[:3]}); full-way testing needs every test class in training"
            )

    @property
    def shots(self) -> int:
        """The smallest number of training examples of any class (K of a K-shot split)."""
        _, counts = np.unique(self.train.label_array, return_counts=True)
        return int(counts.min())
