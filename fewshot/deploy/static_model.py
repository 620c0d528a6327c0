"""A static student's model directory as a classifier (see :mod:`fewshot.compression`): its
token vectors and tokenizer (:class:`~fewshot.encoding.static_encoder.StaticEncoder`), then the
head, thresholds and out-of-scope rule, exactly as an ONNX bundle's
(:func:`fewshot.deploy.onnx_model.bundle_classifier`). numpy, ``tokenizers`` and ``safetensors``:
neither torch nor onnxruntime is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fewshot.deploy.onnx_model import OnnxClassifier, bundle_classifier
from fewshot.encoding.static_encoder import STATIC_DIR, StaticEncoder


def is_static(config: dict[str, Any]) -> bool:
    """Whether a model configuration is a static student's."""
    return isinstance(config.get("student"), dict) and STATIC_DIR in config


def load_static_classifier(directory: Path, config: dict[str, Any]) -> OnnxClassifier:
    """The static student in ``directory`` (``config`` read from it; its layout verified):
    every file it uses is checked against its checksum on the bytes that are used."""
    from fewshot.models.directory import CONFIG, ModelError, load_arrays, read_listed

    entry = config[STATIC_DIR]
    try:
        embeddings, tokenizer = entry["embeddings"], entry["tokenizer"]
        normalize = entry["normalize"]
    except (KeyError, TypeError):
        raise ModelError(f"{directory / CONFIG}: its 'static' entry is damaged") from None
    names = (embeddings, tokenizer)
    if not isinstance(normalize, bool) or any(
        n not in config["files"] or not str(n).startswith(f"{STATIC_DIR}/") for n in names
    ):
        raise ModelError(f"{directory / CONFIG}: its 'static' entry is damaged")
    arrays, _ = load_arrays(directory, config, embeddings)  # checked bytes; finite values only
    try:
        tokenizer_json = read_listed(directory, config, tokenizer).decode("utf-8")
        encoder = StaticEncoder(
            arrays["embeddings"],
            tokenizer_json,
            normalize=normalize,
            # the cache and messages trust identities: the checksum names what is computed
            identity=f"static:{config['files'][embeddings][:16]}",
        )
    except Exception as exc:  # tokenizers raises a plain Exception on a malformed file
        raise ModelError(f"{directory / tokenizer}: unusable ({exc})") from None
    return bundle_classifier(directory, config, STATIC_DIR, encoder)
