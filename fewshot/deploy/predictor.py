"""The lightest predictor a model directory allows: its ONNX bundle alone where it can, else the
whole classifier."""

from __future__ import annotations

from pathlib import Path

from fewshot.deploy.onnx_model import bundle_can_reject, load_onnx_classifier
from fewshot.encoding.onnx_encoder import choose_variant
from fewshot.models.directory import read_config, verify


def load_predictor(
    directory: str | Path, *, device: str | None = None, cache=True, backend: str = "auto"
):
    """What predicting with a model directory needs, and no more: its ONNX bundle alone
    (:class:`~fewshot.deploy.onnx_model.OnnxClassifier`: no torch, scikit-learn or learner code, and
    only the files it reads are checksummed) where ``backend`` picks ONNX, the bundle has a head
    and an out-of-scope rule, if any, uses a built-in scorer; else the whole classifier
    (:func:`fewshot.load`). Both answer ``predict``, ``predict_proba``, ``predict_with_scores``,
    ``labels`` and ``multi_label_`` alike. ``cache`` applies to the whole classifier only.

    Parameters
    ----------
    directory : str or Path
        The model directory.
    device : str or None, default None
        Where the encoder and any model the learner runs go (``cpu``, ``cuda``, ``cuda:N``; a
        GPU means the torch backend). None: the CPU for the encoder, and the learner's saved
        device.
    cache : bool or str, default True
        The embedding cache: True for the default one, a directory, or False for none.
    backend : {"auto", "torch", "onnx", "onnx-fp32", "onnx-int8"}, default "auto"
        ``auto`` uses the model's ONNX bundle when it has one, torch otherwise.

    Returns
    -------
    OnnxClassifier or FewShotClassifier
        Either way with ``predict``, ``predict_proba`` and the labels.
    """
    directory = Path(directory)
    config = read_config(directory)
    bundle = config.get("onnx")
    lean = device in (None, "cpu") and isinstance(bundle, dict) and "head" in bundle
    variant = choose_variant(config, backend, directory) if lean else None
    if variant is None or not bundle_can_reject(config):
        # imported here: the whole classifier brings scikit-learn and scipy, which a bundle
        # alone must not (tests/test_onnx.py checks what a prediction imports)
        from fewshot.models.classifier import load

        return load(directory, device=device, cache=cache, backend=backend)
    # The layout only: every file the bundle uses (graph, tokenizer, head, the scorer's arrays
    # in the state) is hashed on the bytes that are used, as it is read.
    verify(directory, config, only=())
    return load_onnx_classifier(directory, config, variant)
