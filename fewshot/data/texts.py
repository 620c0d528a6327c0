"""Labelled texts in memory (:class:`LabeledTexts`) and the checks every text passes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from fewshot.data.blank import is_blank
from fewshot.data.labels import is_label_sets, label_from, parse_label_set
from fewshot.errors import DataError


@dataclass(frozen=True, eq=False)
class LabeledTexts:
    """Texts with one string label each, and optionally a domain each.

    Labels are always strings: a CSV's ``3`` and a JSON ``3`` name the same class.

    Multi-label data (see :mod:`fewshot.data.labels`) also has ``label_sets``, each text's sorted
    tuple of labels; its ``labels`` then name each set as one string (``"joy+surprise"``), for
    fingerprints and messages only: multi-label protocols and learners read ``label_sets``.

    Parameters
    ----------
    texts : tuple of str
        The texts.
    labels : tuple of str
        One label per text (for multi-label data, each set's name).
    domains : tuple of str or None, default None
        One domain per text, where the data has domains.
    name : str, default "<memory>"
        Where the data came from, for messages and records.
    label_sets : tuple of tuple of str, or None, default None
        Multi-label data: each text's sorted labels.
    label_names : mapping of str to str, or None, default None
        Readable names or short descriptions of the labels, for learners that use them.
    """

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    domains: tuple[str, ...] | None = None
    name: str = "<memory>"
    label_sets: tuple[tuple[str, ...], ...] | None = None
    #: readable names or descriptions of the labels, where the dataset provides them (see
    #: ``fewshot.data.label_names``); part of the fingerprint when present
    label_names: Mapping[str, str] | None = field(default=None, compare=False)
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(
                f"{self.name}: {len(self.texts)} texts but {len(self.labels)} labels; "
                "expected one label per text"
            )
        if self.domains is not None and len(self.domains) != len(self.texts):
            raise DataError(
                f"{self.name}: {len(self.texts)} texts but {len(self.domains)} domains; "
                "expected one domain per text"
            )
        if not self.texts:
            raise DataError(f"{self.name}: no examples; expected at least one labelled text")
        if self.label_sets is not None and len(self.label_sets) != len(self.texts):
            raise DataError(f"{self.name}: expected one label set per text")
        for i, text in enumerate(self.texts):
            if not isinstance(text, str) or is_blank(text):
                raise DataError(f"{self.name}: example {i} has an empty text ({text!a:.80})")
            if not text.isascii():
                check_unicode(text, f"{self.name}: example {i}")

    @classmethod
    def from_lists(
        cls,
        texts: Sequence[str],
        labels: Sequence[Any],
        domains: Sequence[Any] | None = None,
        *,
        name: str = "<memory>",
    ) -> LabeledTexts:
        """Build from plain Python sequences; labels and domains are converted to strings.
        Labels that are lists (or tuples, sets) make multi-label data."""
        domains = None if domains is None else tuple(str(d) for d in domains)
        if is_label_sets(labels):
            return multi_label_texts(texts, labels, domains, name=name)
        return cls(
            texts=tuple(texts),
            labels=tuple(label_from(v, name, i) for i, v in enumerate(labels)),
            domains=domains,
            name=name,
        )

    @classmethod
    def from_dataframe(
        cls,
        frame: Any,
        *,
        text_column: str = "text",
        label_column: str = "label",
        domain_column: str | None = "domain",
        name: str = "<dataframe>",
    ) -> LabeledTexts:
        """Build from a pandas DataFrame (the domain column is used when present)."""
        columns = [str(c) for c in frame.columns]
        for column in (text_column, label_column):
            if column not in columns:
                raise DataError(f"{name}: missing column {column!r}; columns are {columns}")
        domains = None
        if domain_column is not None and domain_column in columns:
            domains = frame[domain_column].tolist()
        return cls.from_lists(
            frame[text_column].tolist(), frame[label_column].tolist(), domains, name=name
        )

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def is_multi_label(self) -> bool:
        return self.label_sets is not None

    @cached_property
    def classes(self) -> tuple[str, ...]:
        """The distinct labels, sorted (of every set, for multi-label data)."""
        if self.label_sets is not None:
            return tuple(sorted({label for labels in self.label_sets for label in labels}))
        return tuple(sorted(set(self.labels)))

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the rows in order (texts, labels, domains) and of the label names the
        data carries, if any: any change to the data, a shuffled label or a reworded name
        included, changes it. Runs record it so ``--resume`` can refuse data that changed."""
        digest = hashlib.sha256()
        labels = self.labels if self.label_sets is None else self.label_sets
        for row in zip(self.texts, labels, self.domains or [None] * len(self), strict=True):
            digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
            digest.update(b"\n")
        if self.label_names:  # learners train on them; data without names keeps its fingerprint
            names = json.dumps(dict(sorted(self.label_names.items())), ensure_ascii=False)
            digest.update(b"label names\n" + names.encode("utf-8"))
        return digest.hexdigest()

    @cached_property
    def examples_fingerprint(self) -> str:
        """SHA-256 of the (text, label) pairs, independent of their order: what a model card
        records of its training data (the same examples in another order are the same training
        set to it; a run's episodes, which depend on the order, use :attr:`fingerprint`)."""
        digest = hashlib.sha256()
        for text, label in sorted(zip(self.texts, self.labels, strict=True)):
            digest.update(json.dumps([text, label]).encode("utf-8"))
        return digest.hexdigest()

    @cached_property
    def label_array(self) -> np.ndarray:
        return np.asarray(self.labels, dtype=object)

    @cached_property
    def text_array(self) -> np.ndarray:
        return np.asarray(self.texts, dtype=object)

    def subset(
        self, indices: Sequence[int] | np.ndarray, *, name: str | None = None
    ) -> LabeledTexts:
        idx = np.asarray(indices, dtype=np.int64)
        return LabeledTexts(
            texts=tuple(self.text_array[idx]),
            labels=tuple(self.label_array[idx]),
            domains=None if self.domains is None else tuple(np.asarray(self.domains)[idx]),
            name=name or self.name,
            label_names=self.label_names,
            label_sets=None
            if self.label_sets is None
            else tuple(self.label_sets[i] for i in idx.tolist()),
        )


def multi_label_texts(
    texts: Sequence[str],
    label_sets: Sequence[Any],
    domains: Sequence[str] | None = None,
    *,
    name: str = "<memory>",
):
    """A :class:`~fewshot.data.texts.LabeledTexts` of label sets (each checked and sorted)."""
    sets = []
    for i, value in enumerate(label_sets):
        try:
            sets.append(parse_label_set(value, "|", "labels", cell=False))
        except ValueError as exc:
            raise DataError(f"{name}: example {i}: {exc}") from None
    return LabeledTexts(
        texts=tuple(texts),
        labels=tuple("+".join(s) for s in sets),
        domains=None if domains is None else tuple(domains),
        name=name,
        label_sets=tuple(sets),
    )


def check_unicode(text: str, where: str) -> str:
    """``text``, or a DataError if it holds an unpaired surrogate (from a JSON escape such as
    ``\\ud800``): such a string is not Unicode text and cannot be encoded or hashed."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataError(
            f"{where}: holds an unpaired surrogate ({text[exc.start]!r} at character "
            f"{exc.start + 1}); expected valid Unicode text"
        ) from None
    return text


def text_list(X: Any, what: str = "X") -> list[str]:
    """A sequence of texts (list, tuple, array, pandas Series) as a list of non-empty strings."""
    if isinstance(X, str):
        raise DataError(f"{what} is a single string; expected a list of texts")
    texts = list(X)
    for i, text in enumerate(texts):
        if not isinstance(text, str) or is_blank(text):
            raise DataError(f"{what}[{i}] is {text!a:.80}; expected a non-empty text")
    return texts
