"""From class probabilities to what a classifier answers: the most probable label, the set of
labels above their thresholds (multi-label), or the out-of-scope label where the model's
rejection rule says "none of these". One decision step, shared by the whole classifier
(:class:`~fewshot.models.classifier.FewShotClassifier`) and the ONNX bundle alone
(:class:`~fewshot.deploy.onnx_model.OnnxClassifier`), so both answer alike. numpy only: the bundle must
not import scikit-learn or torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def decide_labels(
    proba: np.ndarray,
    classes: np.ndarray,
    *,
    thresholds: np.ndarray | None = None,
    rejection=None,
    scored: Callable[[], tuple[Any, Any]] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Each row's answer, and the in-scope scores where a rejection rule ran (else None).

    Parameters
    ----------
    proba : ndarray of shape (n_texts, n_labels)
        The classifier's probabilities (per-label ones, multi-label).
    classes : ndarray
        The labels, in the order of ``proba``'s columns.
    thresholds : ndarray or None
        Per-label thresholds of a multi-label model: each answer is then the tuple of labels
        at or above theirs.
    rejection : fewshot.learners.rejection.Rejection or None
        The out-of-scope rule of a single-label model.
    scored : callable or None
        Returns what the rule scores, ``(learner, inputs)``; called only when it is needed,
        since computing the inputs may mean encoding the texts.
    """
    if thresholds is not None:
        from fewshot.data.labels import label_sets_of
        from fewshot.learners.multi_label import decide

        sets = np.empty(len(proba), dtype=object)
        sets[:] = label_sets_of(decide(proba, thresholds), classes)
        return sets, None
    labels = classes[proba.argmax(axis=1)] if len(proba) else classes[:0]
    if rejection is None or not len(proba):
        return labels, None
    scores, rejected = rejection.reject(*scored())
    labels = labels.astype(object)
    labels[rejected] = rejection.oos_label
    return labels, scores
