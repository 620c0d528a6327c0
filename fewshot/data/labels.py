"""What a label is: a single label (a normalised string) or a label set, a text's sorted tuple of
labels for multi-label data.

In JSONL a row's ``labels`` is a list (``{"text": "...", "labels": ["joy", "surprise"]}``); in
CSV/TSV one column holds the labels joined by a separator (``joy|surprise``, see
``--label-separator``). In Python, labels given as lists (or tuples, sets) are label sets.
Each set is non-empty, has no label twice, and is stored sorted; labels are normalised as
single labels are (strings, surrounding spaces stripped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fewshot.errors import DataError

_SET_TYPES = (list, tuple, set, frozenset)


def normalize_label(value: Any) -> str | None:
    """A label as training and prediction compare it: a string with the surrounding spaces
    stripped (a CSV's ``3`` and a JSON ``3`` name the same class); None if nothing is left or
    the value cannot be a label (null, a list, an object)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    label = str(value).strip()
    return label or None


def label_from(value: Any, name: str, index: int) -> str:
    """Example ``index``'s label in dataset ``name``, normalised; DataError if it has none."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise DataError(f"{name}: example {index} has no label")
    label = normalize_label(value)
    if label is None:
        raise DataError(f"{name}: example {index} has an empty label ({value!r})")
    return label


def is_label_sets(labels: Any) -> bool:
    """True when ``labels`` are label sets (lists, tuples or sets), judged by the first one."""
    if isinstance(labels, np.ndarray) and labels.dtype != object:
        return False
    try:
        first = next(iter(labels))
    except (StopIteration, TypeError):
        return False
    return isinstance(first, _SET_TYPES)


def parse_label_set(
    value: Any, separator: str, column: str, *, cell: bool = True
) -> tuple[str, ...]:
    """One row's labels as a sorted tuple; ValueError (one line) for what is not a label set:
    a value other than a list of labels (or, where ``cell``, a CSV cell of labels joined by
    ``separator``), an empty list, a label listed twice."""
    if isinstance(value, str) and cell:  # CSV: one cell, labels joined by the separator
        items: list[Any] = value.split(separator) if value.strip() else []
    elif isinstance(value, _SET_TYPES):
        items = list(value)
    else:
        raise ValueError(f"{column!r} is {value!r}; expected a list of labels")
    labels = []
    for item in items:
        label = normalize_label(item)
        if label is None:
            raise ValueError(f"{column!r} holds {item!r}; expected non-empty labels")
        labels.append(label)
    if not labels:
        raise ValueError(f"{column!r} is empty; expected at least one label per text")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"{column!r} lists {repeated[0]!r} twice; expected each label once")
    return tuple(sorted(labels))


def indicator(label_sets: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    """The (texts, classes) 0/1 matrix of ``label_sets``; labels outside ``classes`` drop."""
    column = {label: j for j, label in enumerate(classes)}
    matrix = np.zeros((len(label_sets), len(classes)), dtype=np.int8)
    for i, labels in enumerate(label_sets):
        for label in labels:
            if label in column:
                matrix[i, column[label]] = 1
    return matrix


def label_sets_of(matrix: np.ndarray, classes: Sequence[str]) -> list[tuple[str, ...]]:
    """The label sets of a 0/1 matrix (one tuple per row, in ``classes`` order)."""
    names = np.asarray(classes, dtype=object)
    return [tuple(names[row.astype(bool)]) for row in np.asarray(matrix)]
