"""What a label is: a single label (a normalised string) or a label set, a text's sorted tuple of
labels for multi-label data.

In JSONL a row's ``labels`` is a list (``{"text": "...", "labels": ["joy", "surprise"]}``); in
CSV/TSV one column holds the labels joined by a separator (``joy|surprise``, see
``--label-separator``). In Python, labels given as lists (or tuples, sets) are label sets.
Each set is non-empty, has no label twice, and is stored sorted; labels are normalised as
single labels are (strings, surrounding spaces stripped).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fewshot.data.blank import is_blank
from fewshot.errors import DataError

_SET_TYPES = (list, tuple, set, frozenset)


def normalize_label(value: Any) -> str | None:
    """A label as training and prediction compare it, the same whatever JSON type it came as:
    the text a CSV cell shows for it, surrounding spaces stripped.

    - a string is itself, stripped: ``" joy "`` is ``"joy"``; ``"True"`` and ``"1.0"`` stay
      as written (a CSV cell is a string, and ``"007"`` is not ``"7"``);
    - a boolean is ``"true"`` or ``"false"``, as JSON writes it: JSON ``true`` and the string
      ``"true"`` are one class;
    - a number whose value is whole is its digits: JSON ``3``, ``3.0`` and the string ``"3"``
      are one class; any other number is its shortest round-trip form (``0.5``);
    - null, NaN, infinities, lists, objects and blank strings (see :mod:`fewshot.data.blank`)
      are no label: None; so are pandas' missing values.

    NumPy scalars follow the same rules as the Python values they hold.
    """
    if isinstance(value, np.floating) and np.isfinite(value) and not float(value).is_integer():
        return str(value)  # float32(0.1) is "0.1", not the float64 it widens to
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if value is None or isinstance(value, (dict, *_SET_TYPES)) or _is_missing(value):
        return None
    label = str(value).strip()  # a string, or an object of the user's that names a class
    return None if is_blank(label) else label


def _is_missing(value: Any) -> bool:
    """pandas' missing values (``pd.NA``, ``pd.NaT``), told apart without importing pandas."""
    return type(value).__name__ in ("NAType", "NaTType")


def label_from(value: Any, name: str, index: int) -> str:
    """Example ``index``'s label in dataset ``name``, normalised; DataError if it has none."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or _is_missing(value):
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
