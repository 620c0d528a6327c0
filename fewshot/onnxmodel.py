"""A model directory's ONNX bundle as a classifier of its own: the bundle's tokenizer and
encoder (:class:`~fewshot.onnxencoder.OnnxEncoder`), then the head ``fewshot export`` wrote
beside them (``onnx/head.safetensors``: a :class:`~fewshot.heads.LinearHead`, with the
per-label thresholds of a multi-label model).

It imports numpy, onnxruntime, tokenizers and safetensors, and nothing of torch,
sentence-transformers, scikit-learn or the learner's plugin: that is what makes a cold
``fewshot predict`` fast and small. ``fewshot predict``, ``fewshot serve`` and
:func:`fewshot.models.load_predictor` use it where a model allows (an ONNX variant is chosen, the
bundle has a head, and the model has no out-of-scope rule, which needs the learner's scorer);
otherwise they load the whole classifier, which predicts the same. ``fewshot export`` checks
that both paths give the same probabilities before it writes the head.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.errors import DataError
from fewshot.heads import ACTIVATIONS, LinearHead

HEAD = "head.safetensors"


class OnnxClassifier:
    """Texts to labels with an exported bundle alone (see the module docstring).

    Parameters
    ----------
    encoder : OnnxEncoder
        The bundle's encoder.
    labels : list of str
        The model's labels, in the order of the head's rows.
    head : LinearHead
    thresholds : ndarray or None
        Per-label thresholds of a multi-label model (None: one label per text).
    """

    def __init__(self, encoder, labels: Sequence[str], head: LinearHead, thresholds=None):
        self.encoder = encoder
        self.classes_ = np.asarray(list(labels), dtype=object)
        self.head = head
        self.thresholds = None if thresholds is None else np.asarray(thresholds)
        self.multi_label_ = self.thresholds is not None

    @property
    def labels(self) -> list[str]:
        """The labels, in the order of ``predict_proba``'s columns."""
        return [str(c) for c in self.classes_]

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Class probabilities (or per-label ones, multi-label), one column per label."""
        texts = _texts(X)
        if not texts:
            return np.zeros((0, len(self.classes_)))
        proba = self.head.predict_proba(self.encoder.encode(texts)).astype(np.float64)
        if not np.isfinite(proba).all():
            raise DataError("the model gave non-finite probabilities; its weights are broken")
        return proba

    def predict_with_scores(self, X: Sequence[str]) -> tuple[np.ndarray, np.ndarray, None]:
        """Labels (a tuple of labels per text, multi-label) and probabilities; no rejection
        scores (a model with an out-of-scope rule is not loaded this way)."""
        texts = _texts(X)
        proba = self.predict_proba(texts)
        if self.multi_label_:
            from fewshot.labelsets import label_sets_of
            from fewshot.multilabel import decide

            sets = np.empty(len(texts), dtype=object)
            sets[:] = label_sets_of(decide(proba, self.thresholds), self.classes_)
            return sets, proba, None
        labels = self.classes_[proba.argmax(axis=1)] if len(proba) else self.classes_[:0]
        return labels, proba, None

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """The most probable label of each text; for a multi-label model, its tuple of labels."""
        return self.predict_with_scores(X)[0]


def _texts(X: Sequence[str]) -> list[str]:
    if isinstance(X, str):
        raise DataError("X must be a sequence of texts, not one string; wrap it in a list")
    return [str(t) for t in X]


def head_entry(head: LinearHead, thresholds) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The ``head`` entry of a bundle's configuration and the arrays of its file."""
    arrays = {
        "weights": np.ascontiguousarray(head.weights),
        "bias": np.ascontiguousarray(head.bias),
    }
    if thresholds is not None:
        arrays["thresholds"] = np.ascontiguousarray(np.asarray(thresholds, dtype=np.float64))
    entry = {"file": f"onnx/{HEAD}", "activation": head.activation, "normalize": head.normalize}
    return entry, arrays


def load_onnx_classifier(directory: Path, config: dict[str, Any], variant: str) -> OnnxClassifier:
    """The bundle of a model whose ``config`` (read and verified) has a head entry."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from fewshot.models import CONFIG, ModelError, _listed_path, _onnx_encoder
    from fewshot.onnxencoder import BUNDLE_DIR

    entry = config["onnx"]["head"]
    try:
        name, activation, normalize = entry["file"], entry["activation"], entry["normalize"]
    except (KeyError, TypeError):
        raise ModelError(f"{directory / CONFIG}: its ONNX head entry is damaged") from None
    if (
        name not in config["files"]
        or not str(name).startswith(f"{BUNDLE_DIR}/")  # the files load_predictor checksums
        or activation not in ACTIVATIONS
        or not isinstance(normalize, bool)
    ):
        raise ModelError(f"{directory / CONFIG}: its ONNX head entry is damaged")
    path = _listed_path(directory, name)
    try:
        arrays = load_file(str(path))
        head = LinearHead(arrays["weights"], arrays["bias"], activation, normalize)
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable ({exc})") from None
    if any(not np.isfinite(a).all() for a in arrays.values()):
        raise ModelError(f"{path}: holds NaN or infinite values")
    thresholds = arrays.get("thresholds")
    encoder = _onnx_encoder(directory, config, variant)
    labels = len(config["labels"])
    if head.weights.shape != (labels, encoder.dimension) or (
        thresholds is not None and thresholds.shape != (labels,)
    ):
        raise ModelError(
            f"{path}: its head does not fit the model's {labels} labels and "
            f"{encoder.dimension}-dimensional embeddings"
        )
    return OnnxClassifier(encoder, config["labels"], head, thresholds)
