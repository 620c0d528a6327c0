"""A model directory's ONNX bundle as a classifier of its own: the bundle's tokenizer and
encoder (:class:`~fewshot.encoding.onnx_encoder.OnnxEncoder`), then the head ``fewshot export`` wrote
beside them (``onnx/head.safetensors``: a :class:`~fewshot.learners.heads.LinearHead`, with the
per-label thresholds of a multi-label model), and the model's out-of-scope rule where it has one
with a built-in scorer (the scorers read the bundle's embeddings through :class:`_BundleView`).

It imports numpy, onnxruntime, tokenizers and safetensors, and nothing of torch,
sentence-transformers, scikit-learn or the learner's plugin: that is what makes a cold
``fewshot predict`` fast and small. ``fewshot predict``, ``fewshot serve`` and
:func:`fewshot.deploy.predictor.load_predictor` use it where a model allows (an ONNX variant is chosen, the
bundle has a head, and an out-of-scope rule, if any, uses a built-in scorer); otherwise they load
the whole classifier, which predicts the same. ``fewshot export`` checks that both paths give the
same probabilities (and in-scope scores) before it writes the head.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.data.texts import text_list
from fewshot.errors import DataError
from fewshot.learners.decisions import decide_labels
from fewshot.learners.heads import ACTIVATIONS, LinearHead

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
    rejection : Rejection or None
        The out-of-scope rule (see :mod:`fewshot.learners.rejection`), scoring the bundle's embeddings.
    """

    def __init__(
        self, encoder, labels: Sequence[str], head: LinearHead, thresholds=None, rejection=None
    ):
        self.encoder = encoder
        self.classes_ = np.asarray(list(labels), dtype=object)
        self.head = head
        self.thresholds = None if thresholds is None else np.asarray(thresholds)
        self.multi_label_ = self.thresholds is not None
        self.rejection_ = rejection

    @property
    def labels(self) -> list[str]:
        """The labels, in the order of ``predict_proba``'s columns."""
        return [str(c) for c in self.classes_]

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Class probabilities (or per-label ones, multi-label), one column per label."""
        return self._proba(self._embed(X))

    def _embed(self, X: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(text_list(X))

    def _proba(self, embeddings: np.ndarray) -> np.ndarray:
        proba = self.head.predict_proba(embeddings).astype(np.float64)
        if not np.isfinite(proba).all():
            raise DataError("the model gave non-finite probabilities; its weights are broken")
        return proba

    def predict_with_scores(
        self, X: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Labels (a tuple of labels per text, multi-label), probabilities and, with an
        out-of-scope rule, the in-scope scores (the out-of-scope label below the threshold)."""
        embeddings = self._embed(X)
        proba = self._proba(embeddings)
        labels, scores = decide_labels(
            proba,
            self.classes_,
            thresholds=self.thresholds,
            rejection=self.rejection_,
            scored=lambda: (_BundleView(self.head), embeddings),
        )
        return labels, proba, scores

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """The most probable label of each text; for a multi-label model, its tuple of labels."""
        return self.predict_with_scores(X)[0]


class _BundleView:
    """What out-of-scope scorers ask of a learner (``predict_proba``, ``decision_function``,
    ``embed``), answered from the bundle's embeddings: a learner with a linear head classifies
    its head's inputs, so they are its representation (``Learner.linear_head``)."""

    name = "onnx bundle"

    def __init__(self, head: LinearHead):
        self.head = head

    def predict_proba(self, embeddings):
        return self.head.predict_proba(embeddings)

    def decision_function(self, embeddings):
        return self.head.logits(embeddings)

    def embed(self, embeddings):
        return self.head.inputs(embeddings)


def head_entry(
    head: LinearHead, thresholds, *, folder: str = "onnx"
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The ``head`` entry of a bundle's configuration and the arrays of its file (in
    ``folder``: the ONNX bundle's, or a static student's)."""
    arrays = {
        "weights": np.ascontiguousarray(head.weights),
        "bias": np.ascontiguousarray(head.bias),
    }
    if thresholds is not None:
        arrays["thresholds"] = np.ascontiguousarray(np.asarray(thresholds, dtype=np.float64))
    entry = {"file": f"{folder}/{HEAD}", "activation": head.activation, "normalize": head.normalize}
    return entry, arrays


def bundle_can_reject(config: dict[str, Any]) -> bool:
    """Whether the bundle alone can apply the model's out-of-scope rule (none, or one with a
    built-in scorer: a plugin's scorer needs the plugins loaded)."""
    from fewshot.learners.rejection import BUILT_IN

    reject = config.get("reject")
    return reject is None or (
        isinstance(reject, dict) and reject.get("scorer") in {s.name for s in BUILT_IN}
    )


def load_onnx_classifier(directory: Path, config: dict[str, Any], variant: str) -> OnnxClassifier:
    """The bundle of a model whose ``config`` (read and verified) has a head entry, and whose
    rule, if any, ``bundle_can_reject``."""
    from fewshot.models.directory import onnx_encoder

    encoder = onnx_encoder(directory, config, variant)
    return bundle_classifier(directory, config, "onnx", encoder)


def bundle_classifier(directory: Path, config: dict[str, Any], folder: str, encoder):
    """A classifier of ``encoder`` (an ONNX or a static one) and the head that the ``folder``
    entry of ``config`` (``onnx`` or ``static``: the folder and its ``fewshot.json`` entry
    share the name) names, with the model's thresholds and out-of-scope rule."""
    from fewshot.models.directory import CONFIG, ModelError, listed_path, load_arrays

    try:
        entry = config[folder]["head"]
        name, activation, normalize = entry["file"], entry["activation"], entry["normalize"]
    except (KeyError, TypeError):
        raise ModelError(f"{directory / CONFIG}: its {folder} head entry is damaged") from None
    if (
        name not in config["files"]
        or not str(name).startswith(f"{folder}/")  # the files load_predictor checksums
        or activation not in ACTIVATIONS
        or not isinstance(normalize, bool)
    ):
        raise ModelError(f"{directory / CONFIG}: its {folder} head entry is damaged")
    path = listed_path(directory, name)
    arrays, _ = load_arrays(directory, config, name)  # the checked bytes; finite values only
    try:
        head = LinearHead(arrays["weights"], arrays["bias"], activation, normalize)
    except (KeyError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable ({exc})") from None
    thresholds = arrays.get("thresholds")
    rejection = _rejection(directory, config) if config.get("reject") is not None else None
    labels = len(config["labels"])
    if head.weights.shape != (labels, encoder.dimension) or (
        thresholds is not None and thresholds.shape != (labels,)
    ):
        raise ModelError(
            f"{path}: its head does not fit the model's {labels} labels and "
            f"{encoder.dimension}-dimensional embeddings"
        )
    return OnnxClassifier(encoder, config["labels"], head, thresholds, rejection)


def _rejection(directory: Path, config: dict[str, Any]):
    """The model's out-of-scope rule, its scorer's arrays read from ``state.safetensors``."""
    from fewshot.errors import ConfigError
    from fewshot.learners.rejection import BUILT_IN, load_rejection
    from fewshot.models.directory import CONFIG, STATE, ModelError, load_arrays

    arrays, _ = load_arrays(directory, config, STATE)  # the checked bytes; finite values only
    state = {k: v for k, v in arrays.items() if k.startswith("reject.")}
    try:
        return load_rejection(config["reject"], state, {s.name: s for s in BUILT_IN})
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise ModelError(f"{directory / CONFIG}: unusable 'reject' ({exc})") from None
