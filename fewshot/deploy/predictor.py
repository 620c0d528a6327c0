"""The lightest predictor a model directory allows: its ONNX bundle alone where it can, else the
whole classifier."""

from __future__ import annotations

from pathlib import Path

from fewshot.deploy.onnx_model import bundle_can_reject, load_onnx_classifier
from fewshot.deploy.static_model import is_static, load_static_classifier
from fewshot.encoding.onnx_encoder import choose_variant
from fewshot.errors import ConfigError
from fewshot.models.directory import is_student, read_config, verify


def load_predictor(
    directory: str | Path, *, device: str | None = None, cache=True, backend: str = "auto"
):
    """What predicting with a model directory needs, and no more: a static student's token
    vectors and head (:mod:`fewshot.deploy.static_model`: numpy alone); its ONNX bundle alone
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
    if is_student(config):
        return _load_student(directory, config, device, backend)
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


def _load_student(directory: Path, config: dict, device: str | None, backend: str):
    """A student's own classifier: static (numpy) or an ONNX bundle, on the CPU."""
    static = is_static(config)
    if device not in (None, "cpu") or backend == "torch" or (static and backend != "auto"):
        raise ConfigError(
            f"{directory}: a student of fewshot distill runs on the CPU without torch"
            + ("; leave out --device and --backend" if static else " (--backend auto or onnx-*)")
        )
    verify(directory, config, only=())  # each file is hashed on the bytes used, as it is read
    if static:
        return load_static_classifier(directory, config)
    return load_onnx_classifier(directory, config, choose_variant(config, backend, directory))


def load(directory: str | Path, *, device: str | None = None, cache=True, backend: str = "auto"):
    """Load a model directory: ``fewshot.load``. A model from ``fewshot adapt`` (or
    ``FewShotClassifier.save``) as a fitted :class:`~fewshot.models.classifier.FewShotClassifier`
    (see :func:`fewshot.models.classifier.load` for the parameters), a student from ``fewshot
    distill`` as its torch-free classifier (:func:`load_predictor`); both
    answer ``predict``, ``predict_proba``, ``predict_with_scores`` and ``labels`` alike.

    Parameters
    ----------
    directory : str or Path
        The model directory.
    device : str or None, default None
        Where the encoder and any model the learner runs go (``cpu``, ``cuda``, ``cuda:N``); a
        student runs on the CPU.
    cache : bool or str, default True
        The embedding cache: True for the default one, a directory, or False for none.
    backend : {"auto", "torch", "onnx", "onnx-fp32", "onnx-int8"}, default "auto"
        ``auto`` uses the model's ONNX bundle when it has one, torch otherwise.

    Returns
    -------
    FewShotClassifier or OnnxClassifier
        Fitted, ready to predict.
    """
    directory = Path(directory)
    if is_student(read_config(directory)):
        return load_predictor(directory, device=device, cache=cache, backend=backend)
    from fewshot.models.classifier import load as load_classifier

    return load_classifier(directory, device=device, cache=cache, backend=backend)
