"""Model directories: a fitted learner as safetensors + JSON that anyone can load and use.

Layout::

    MODEL_DIR/
      fewshot.json        what it is: learner, parameters, labels, encoder, training data, checksums
      state.safetensors   the learner's learned arrays
      encoder/            only for learners that fine-tune their encoder (a sentence-transformers
                          directory, weights in safetensors)

Loading never unpickles and never imports code a file names, apart from
sentence-transformers' own module classes (``fewshot.finetuning.check_modules``). Every file is
checked against the SHA-256 recorded at save time, so a missing, truncated or modified file is an
error, never a silently different model. Saving builds the directory under a temporary name and
renames it into place, so an interrupted save never leaves a half-written model that loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import fewshot
from fewshot.data import LabeledTexts
from fewshot.errors import DataError, FewshotError
from fewshot.learners import Learner

FORMAT = "fewshot-model"
FORMAT_VERSION = 1
CONFIG = "fewshot.json"
STATE = "state.safetensors"
ENCODER_DIR = "encoder"


class ModelError(FewshotError):
    """A model directory is missing, damaged, or from a newer fewshot."""


def data_fingerprint(data: LabeledTexts) -> str:
    """SHA-256 of the (text, label) pairs, independent of their order."""
    digest = hashlib.sha256()
    for text, label in sorted(zip(data.texts, data.labels, strict=True)):
        digest.update(json.dumps([text, label]).encode("utf-8"))
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    for key, value in params.items():
        if not isinstance(value, (str, int, float, bool, type(None))):
            raise ModelError(f"parameter {key}={value!r} cannot be saved as JSON")
    return params


def save_model(
    learner: Learner,
    directory: str | Path,
    *,
    encoder: dict[str, str] | None,
    training: dict[str, Any],
) -> Path:
    """Write ``learner`` (fitted) to ``directory`` atomically; replaces an older model there."""
    from safetensors.numpy import save_file

    directory = Path(directory)
    if directory.exists() and not (directory / CONFIG).is_file() and any(directory.iterdir()):
        raise ModelError(
            f"{directory} exists and is not a fewshot model directory; not overwriting it"
        )
    try:
        state = learner.get_state()
    except NotImplementedError as exc:
        raise ModelError(str(exc)) from None
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(staging / STATE))
        if learner.owns_encoder:
            learner.save_encoder(staging / ENCODER_DIR)
        # Some writers use private temporary files (mode 0600); a model directory is for sharing.
        umask = os.umask(0)
        os.umask(umask)
        for path in [staging, *staging.rglob("*")]:
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)
        files = {
            p.relative_to(staging).as_posix(): _sha256(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        }
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "fewshot_version": fewshot.__version__,
            "learner": learner.name,
            "params": _jsonable(learner.get_params()),
            "input_kind": learner.input_kind,
            "labels": [str(label) for label in learner.classes_],
            "encoder": encoder,
            "training_data": training,
            "files": files,
        }
        with open(staging / CONFIG, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        if directory.exists():
            retired = directory.parent / f".{directory.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(directory, retired)
            os.rename(staging, directory)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


class FewshotModel:
    """A loaded model: ``predict`` / ``predict_proba`` on lists of strings."""

    def __init__(self, learner: Learner, encoder, config: dict[str, Any], directory: Path):
        self.learner = learner
        self.encoder = encoder
        self.config = config
        self.directory = directory

    @property
    def labels(self) -> list[str]:
        """Class labels, in the order of ``predict_proba``'s columns."""
        return [str(c) for c in self.learner.classes_]

    def _inputs(self, texts: Sequence[str]):
        texts = [texts] if isinstance(texts, str) else list(texts)
        if self.learner.input_kind == "texts":
            return np.asarray(texts, dtype=object)
        return self.encoder.encode(texts)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.learner.predict_proba(self._inputs(texts)))

    def predict(self, texts: Sequence[str]) -> list[str]:
        proba = self.predict_proba(texts)
        return [self.labels[i] for i in proba.argmax(axis=1)]

    def __repr__(self) -> str:
        return f"FewshotModel({self.directory}, learner={self.config['learner']}, {len(self.labels)} labels)"


def read_config(directory: Path) -> dict[str, Any]:
    if not directory.exists():
        raise ModelError(f"{directory}: no such model directory")
    if not directory.is_dir():
        raise ModelError(
            f"{directory}: not a directory; expected a model directory from `fewshot adapt`"
        )
    path = directory / CONFIG
    if not path.is_file():
        raise ModelError(
            f"{directory}: missing {CONFIG}; not a fewshot model directory (or an incomplete one)"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"{path}: not valid JSON ({exc}); the file is damaged or truncated"
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelError(f"{path}: not a fewshot model configuration (expected format {FORMAT!r})")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(
            f"{path}: written by fewshot {config.get('fewshot_version', '?')} in model format {version}; "
            f"this fewshot {fewshot.__version__} reads format {FORMAT_VERSION} and older: upgrade fewshot"
        )
    for key in ("learner", "params", "labels", "files"):
        if key not in config:
            raise ModelError(f"{path}: missing {key!r}")
    return config


def verify_files(directory: Path, config: dict[str, Any]) -> None:
    for name, expected in config["files"].items():
        path = directory / name
        if not path.is_file():
            raise ModelError(f"{path}: missing; the model directory is incomplete")
        if _sha256(path) != expected:
            raise ModelError(
                f"{path}: does not match the checksum in {CONFIG}; the file is truncated or modified"
            )


def load(directory: str | Path, *, device: str | None = None, cache=None) -> FewshotModel:
    """Load a model directory written by ``fewshot adapt`` (or :func:`save_model`)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from fewshot.encoders import CachedEncoder
    from fewshot.plugins import load_registry

    directory = Path(directory)
    config = read_config(directory)
    verify_files(directory, config)
    registry = load_registry()
    params = dict(config["params"])
    if device is not None and "device" in params:
        params["device"] = device
    learner = registry.make_learner(config["learner"], params)
    try:
        state = load_file(str(directory / STATE))
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{directory / STATE}: unreadable ({exc})") from None
    learner.set_state(np.asarray(config["labels"], dtype=object), state)
    encoder = None
    if learner.owns_encoder:
        learner.load_encoder(directory / ENCODER_DIR)
    elif learner.input_kind == "embeddings":
        info = config.get("encoder") or {}
        if "name" not in info:
            raise DataError(f"{directory / CONFIG}: no encoder recorded for an embedding learner")
        base = registry.encoder(info["name"], device=device or "cpu")
        expected = info.get("identity", "").rsplit(":", 1)[0]
        if expected and base.identity.rsplit(":", 1)[0] != expected:
            raise ModelError(
                f"{directory}: trained with encoder {info['name']!r} = {expected}, but that name now gives "
                f"{base.identity.rsplit(':', 1)[0]}; predictions would be wrong"
            )
        encoder = CachedEncoder(base, cache)
    return FewshotModel(learner, encoder, config, directory)
