"""Readable label names: what a class id says in words, for learners that use it as a signal.

Intent datasets name their classes descriptively (``card_arrival``, ``pto_request``,
``TransferMoney``); those words carry information a few examples may lack. ``readable_name``
turns an id into words ("card arrival", "transfer money"); ``label_names`` does so for a set of
labels and gives up (``None``) when the ids are opaque (``"17"``, ``"LABEL_3"``, ``"c2"``), so a
learner falls back to the examples alone instead of learning from noise.

A dataset can also carry its own names or short descriptions (``DatasetInfo.label_names``, or a
JSON file given to ``fewshot adapt --label-names``, read by ``read_label_names``); those are used
as given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from fewshot.data.blank import is_blank
from fewshot.errors import DataError

__all__ = [
    "NAMES_SUFFIX",
    "class_texts",
    "label_names",
    "names_of",
    "names_spec",
    "read_class_list",
    "read_label_names",
    "readable_name",
]

#: ``SPEC#label-names``: the dataset of ``SPEC``'s class names, one text per label (what
#: zero-shot learners embed; see :func:`class_texts`).
NAMES_SUFFIX = "#label-names"

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\s_\-./:]+")
# Words that name the kind of thing rather than the thing ("LABEL_3", "intent_12").
_GENERIC = {"label", "labels", "class", "classes", "intent", "category", "cat", "id", "cls"}


def readable_name(label: str) -> str:
    """``card_arrival`` → "card arrival", ``TransferMoney`` → "transfer money"."""
    words = _SEPARATORS.split(_CAMEL.sub(" ", str(label)))
    return " ".join(word.lower() for word in words if word)


def _descriptive(name: str) -> bool:
    """True when a name holds at least one real word: two or more letters, not a generic one."""
    return any(len(word) >= 2 and word.isalpha() and word not in _GENERIC for word in name.split())


def label_names(labels: Iterable[str], given: Mapping[str, str] | None = None) -> list[str] | None:
    """One readable name per label, in the order given, or ``None`` when the labels are opaque.

    ``given`` (a dataset's own mapping) wins for the labels it names. Derived names are used
    only when no two labels share one and at least 90% of them hold a real word (CLINC150's
    ``w2`` is a tax form; ``LABEL_3`` says nothing): half-readable ids would teach the encoder
    a signal that is missing for the other half.
    """
    labels = [str(label) for label in labels]
    given = given or {}
    names = [given.get(label) or readable_name(label) for label in labels]
    derived = [name for label, name in zip(labels, names, strict=True) if label not in given]
    opaque = sum(not _descriptive(name) for name in derived)
    if opaque > 0.1 * len(names) or len(set(names)) < len(names):
        return None
    return names


def read_label_names(path: str | Path) -> dict[str, str]:
    """A JSON object mapping labels to readable names or short descriptions, checked."""
    from fewshot.data.files import check_input_file

    path = check_input_file(Path(path), expected="a JSON file of label names")
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"not a JSON file ({exc})", path=path) from None
    if not isinstance(mapping, dict) or not mapping:
        raise DataError(
            'expected a JSON object of labels and their names, {"card_arrival": "my card has '
            f'not arrived", ...}}; got {type(mapping).__name__}',
            path=path,
        )
    for label, name in mapping.items():
        if not isinstance(name, str) or is_blank(name):
            raise DataError(
                f"label {label!r}: expected a non-empty name (a string), got {name!r}", path=path
            )
    return {str(label): name.strip() for label, name in mapping.items()}


def class_texts(labels: Iterable[str], given: Mapping[str, str] | None = None) -> list[str]:
    """The text that stands for each label when there are no examples of it: its given name or
    description, else its readable form (``card_arrival`` → "card arrival"), even where
    :func:`label_names` would give up on opaque ids (a zero-shot learner has nothing else)."""
    given = given or {}
    return [given.get(str(label)) or readable_name(label) for label in labels]


def names_of(data, name: str):
    """The dataset ``SPEC#label-names`` of ``data``: one text per class, its :func:`class_texts`
    (a ``LabeledTexts``), in the order of ``data.classes``."""
    from fewshot.data.texts import LabeledTexts

    classes = tuple(str(c) for c in data.classes)
    return LabeledTexts(tuple(class_texts(classes, data.label_names)), classes, name=name)


def names_spec(spec: str) -> str:
    """The spec of the class names of dataset ``spec`` (itself if it is one already)."""
    return spec if spec.endswith(NAMES_SUFFIX) else spec + NAMES_SUFFIX


def read_class_list(path: str | Path) -> tuple[list[str], dict[str, str] | None]:
    """``adapt --labels FILE``: the classes, one per line of a text file (blank lines and
    ``#`` comments skipped), or a JSON object of labels and their names or descriptions; the
    names come back too (None for a text file)."""
    from fewshot.data.files import check_input_file

    path = check_input_file(Path(path), expected="a file of class labels")
    if path.suffix.lower() == ".json":
        names = read_label_names(path)
        return list(names), names
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc})", path=path) from None
    classes: list[str] = []
    first: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        label = line.strip()
        if not label or label.startswith("#"):
            continue
        if label in first:
            raise DataError(
                f"class {label!r} is listed twice (first on line {first[label]})",
                path=path,
                line=number,
            )
        first[label] = number
        classes.append(label)
    if len(classes) < 2:
        raise DataError(
            f"expected two or more classes, one per line; got {len(classes)}", path=path
        )
    return classes, None
