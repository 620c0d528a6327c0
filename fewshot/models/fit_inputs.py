"""What a learner's ``fit`` gets besides the texts and labels, as :class:`FewShotClassifier`
gives it: the label names a learner reads as words (``finetune``), and the embeddings of the
class names for zero-shot learners (``label_vectors``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fewshot.data.label_names import class_texts
from fewshot.errors import DataError
from fewshot.learners.base import Learner

__all__ = ["known_classes", "label_name_input", "label_vector_input"]


def label_name_input(learner: Learner, label_names: Mapping[str, str] | None) -> dict:
    """``{"label_names": ...}`` for a learner that uses label names, when the caller gave them."""
    if label_names and learner.uses_label_names:
        return {"label_names": {str(k): str(v) for k, v in label_names.items()}}
    return {}


def known_classes(
    learner: Learner,
    labels: np.ndarray,
    classes: Sequence[Any] | None,
    label_names: Mapping[str, str] | None,
) -> list:
    """The classes a fit learns: those of the labels and of ``classes``; for a zero-shot
    learner with neither, the keys of ``label_names``. Refuses fewer than two."""
    known = list(dict.fromkeys([*labels.tolist(), *(classes or ())]))
    if not known and learner.zero_shot and label_names:
        known = list(label_names)
    if len(known) < 2:
        if not len(labels):
            hint = (
                "give classes= (two or more) to start from their names"
                if learner.zero_shot
                else f"learner {learner.name!r} learns from examples; zeroshot starts from the "
                "class names alone"
            )
            raise DataError(f"no training texts; {hint}")
        raise DataError("y has a single class; a classifier needs at least two")
    unseen = [c for c in known if c not in set(labels.tolist())]
    if not len(labels) and not learner.zero_shot:
        raise DataError(
            f"no training texts; learner {learner.name!r} learns from examples (zeroshot starts "
            "from the class names alone)"
        )
    if unseen and not learner.zero_shot:
        raise DataError(
            f"classes {unseen[:5]} have no training texts; learner {learner.name!r} learns from "
            "examples (zeroshot starts from the class names alone)"
        )
    return known


def label_vector_input(
    learner: Learner,
    classes: Sequence[Any],
    label_names: Mapping[str, str] | None,
    encode: Callable[[list[str]], np.ndarray],
) -> dict:
    """``{"label_vectors": {class: embedding of its name}}`` for a learner that takes them."""
    if "label_vectors" not in learner.fit_inputs:
        return {}
    vectors = encode(class_texts([str(c) for c in classes], label_names))
    return {"label_vectors": dict(zip(classes, vectors, strict=True))}
