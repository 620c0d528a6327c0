"""Model directories: a fitted learner as safetensors + JSON that anyone can load and use.

This module writes and loads them; :mod:`fewshot.models.directory` holds their layout, their trust
model (a closed directory, every file checksummed, verified on every load) and the checks.

Saving builds the directory under a temporary name and swaps it into place, so an interrupted
save never leaves a half-written model that loads; it replaces only a directory that verifies
as a fewshot model (or an empty one).

One writer at a time: whatever writes a model directory (``save_model``, ``fewshot adapt`` from
its start, ``fewshot export``) holds its lock, :func:`writer_lock`, and a second writer is refused
at once in one line. Without it, an export that copied the model at its start and swapped the
copy in at its end silently put back the old model over an ``adapt`` that finished meanwhile.
The lock file sits beside the directory (``.NAME.fewshot-lock``), not in it: the directory is
replaced whole, and a lock inside would go with the old one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock, Timeout

from fewshot.data.texts import LabeledTexts
from fewshot.encoding.onnx_encoder import BUNDLE_DIR, choose_variant
from fewshot.errors import ConfigError, FewshotError
from fewshot.models.directory import (
    CONFIG,
    ENCODER_DIR,
    STATE,
    ModelError,
    check_weights,
    config_header,
    is_student,
    onnx_encoder,
    read_config,
    sha256_file,
    stored_metadata,
    verified_copy,
    verify,
)
from fewshot.util.files import (
    building,
    check_outside_models,
    replace_directory,
    share,
    umask,
    write_new,
)
from fewshot.util.params import json_params

if TYPE_CHECKING:  # importing the learners imports scikit-learn, which the ONNX path never needs
    from fewshot.learners.base import Learner


def data_fingerprint(data: LabeledTexts) -> str:
    """What a model card records of its training data: ``data.examples_fingerprint``."""
    return data.examples_fingerprint


LOCK_SUFFIX = ".fewshot-lock"


def lock_file(directory: str | Path) -> Path:
    """Where the writer lock of the model directory ``directory`` lives: beside it."""
    directory = Path(os.path.realpath(directory))  # one lock whatever the path's spelling
    return directory.parent / f".{directory.name}{LOCK_SUFFIX}"


@contextlib.contextmanager
def writer_lock(directory: str | Path) -> Iterator[Path]:
    """Hold the writer lock of the model directory ``directory`` (which need not exist yet).

    Refuses at once, with a ModelError, while another process holds it. Re-entrant within a
    thread: ``fewshot adapt`` takes it before training and
    ``save_model`` takes it again to write. The lock goes with the process, however it ends.
    """
    check_outside_models(directory)  # before the lock file: it would be written inside
    path = lock_file(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    # is_singleton: one lock object per file in this process, so that taking it again in the
    # same thread counts up instead of conflicting with our own flock.
    lock = FileLock(path, timeout=0, is_singleton=True)
    try:
        lock.acquire()
    except Timeout:
        raise ModelError(
            f"{directory}: another fewshot command is writing this model directory (it holds "
            f"{path}); run this one when that has finished"
        ) from None
    try:
        yield path
    finally:
        lock.release()


def check_model_out(directory: str | Path) -> Path:
    """Refuse to save over anything but a fewshot model (that verifies) or an empty directory,
    or inside another model directory."""
    directory = Path(directory)
    check_outside_models(directory)
    if not directory.exists() and not directory.is_symlink():
        return directory
    if directory.is_symlink() or not directory.is_dir():
        raise ModelError(f"--out {directory} exists and is not a directory; not replacing it")
    if not any(directory.iterdir()):
        return directory
    try:
        verify(directory, read_config(directory))
    except ModelError as exc:
        raise ModelError(
            f"{directory} exists and is not a fewshot model directory that verifies ({exc}); "
            "fewshot replaces only a model it wrote: choose another --out"
        ) from None
    return directory


def save_model(
    learner: Learner,
    directory: str | Path,
    *,
    encoder: dict[str, Any] | None,
    training: dict[str, Any],
    encoder_directory: str | Path | None = None,
    card: str | None = None,
    extra: dict[str, Any] | None = None,
    extra_state: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write ``learner`` (fitted) to ``directory`` atomically; replaces only an older model.

    ``encoder`` describes the encoder of an embedding learner (``{"name": ..., "identity":
    ...}``); ``encoder_directory``, a sentence-transformers directory that is copied into the
    model (so that it travels with it) instead of being named. ``card`` is written as
    ``README.md``; ``extra`` adds keys to ``fewshot.json`` (its ``reject`` is cross-checked
    like the labels), ``extra_state`` arrays to the state (names with a prefix, ``reject.``).
    """
    check_model_out(directory)  # refused before anything is written, even the lock file
    with writer_lock(directory):  # and again under the lock: another writer may have been first
        return _save_model(
            learner, Path(directory), encoder, training, encoder_directory, card, extra,
            extra_state,
        )  # fmt: skip


def _save_model(
    learner, directory, encoder, training, encoder_directory, card, extra, extra_state
) -> Path:
    from safetensors.numpy import save

    directory = check_model_out(directory)
    try:
        state = learner.get_state()
    except NotImplementedError as exc:
        raise ModelError(str(exc)) from None
    labels = [str(label) for label in learner.classes_]
    try:
        params = json_params(learner.get_params(), strict=True)
    except ConfigError as exc:
        raise ModelError(str(exc)) from None
    reject = (extra or {}).get("reject")
    state = {**state, **(extra_state or {})}
    directory.parent.mkdir(parents=True, exist_ok=True)
    with building(directory, "partial") as staging:
        arrays = {k: np.ascontiguousarray(v) for k, v in state.items()}
        metadata = stored_metadata(learner.name, labels, params, reject)
        write_new(staging / STATE, save(arrays, metadata=metadata))
        if learner.owns_encoder:
            learner.save_encoder(staging / ENCODER_DIR)
        elif encoder_directory is not None:
            copy_encoder(Path(encoder_directory), staging / ENCODER_DIR)
            encoder = {**(encoder or {}), "directory": ENCODER_DIR}
        if card is not None:
            write_new(staging / "README.md", card.encode("utf-8"))
        share(staging)
        config = {
            **config_header(),
            "learner": learner.name,
            "params": params,
            "input_kind": learner.input_kind,
            "labels": labels,
            "encoder": encoder,
            "training_data": training,
            **(extra or {}),
        }
        write_config(staging, config)
        replace_directory(staging, directory)
    return directory


def write_config(directory: Path, config: dict[str, Any]) -> None:
    """The one writer of a model directory's ``fewshot.json``: ``config`` with ``files`` set to
    the SHA-256 of every file in ``directory``, written and synced, readable as the umask allows.
    Call it last, on a staging directory, before it replaces the model."""
    config["files"] = {
        p.relative_to(directory).as_posix(): sha256_file(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p != directory / CONFIG
    }
    text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    write_new(directory / CONFIG, text.encode("utf-8"))
    os.chmod(directory / CONFIG, 0o666 & ~umask())


def copy_encoder(source: Path, target: Path) -> None:
    """Copy a sentence-transformers directory (links followed, hidden entries left out: a hub
    cache snapshot is made of links to its blobs)."""
    from fewshot.encoding.model_loading import check_modules

    check_modules(source)
    shutil.copytree(source, target, symlinks=False, ignore=shutil.ignore_patterns(".*"))


def load_fitted(
    directory: str | Path,
    *,
    device: str | None = None,
    links_within: Path | None = None,
    backend: str = "auto",
) -> tuple[Learner, Any, dict[str, Any], dict[str, np.ndarray]]:
    """The fitted learner of a model directory, its base encoder (None where the learner owns
    its encoder or takes texts), its configuration and the state that is not the learner's
    (names with a prefix: ``reject.``); everything verified first.
    ``links_within``: a Hugging Face cache folder whose blobs the directory's links may point to.
    ``backend``: ``torch``, an ONNX variant (``onnx``, ``onnx-fp32``, ``onnx-int8``: the
    exported encoder, and neither torch nor sentence-transformers is imported) or ``auto``
    (ONNX where the model has a bundle; see :mod:`fewshot.encoding.onnx_encoder`).
    """
    from fewshot.encoding.encoders import SentenceTransformerEncoder
    from fewshot.encoding.model_loading import check_modules
    from fewshot.plugins.registry import load_registry

    directory = Path(directory)
    config = read_config(directory, links_within=links_within)
    if is_student(config):
        raise ModelError(
            f"{directory}: a student (fewshot distill), which has no learner to load or fit "
            "again and runs without torch; load it with fewshot.load or fewshot.load_predictor"
        )
    # Each file is hashed on the bytes that are used, as it is read: the weights by
    # check_weights, the ONNX bundle by onnx_encoder, the encoder by verified_copy. verify
    # checks the layout and the contents of the rest.
    read_later = [
        name
        for name in config["files"]
        if name.endswith(".safetensors") or name.startswith((f"{BUNDLE_DIR}/", f"{ENCODER_DIR}/"))
    ]
    others = [name for name in config["files"] if name not in read_later]
    verify(directory, config, links_within=links_within, only=others)
    state = check_weights(directory, config)
    registry = load_registry()
    params = dict(config["params"])
    if device is not None and "device" in params:
        params["device"] = device
    try:
        learner = registry.make_learner(config["learner"], params)
    except FewshotError as exc:
        raise ModelError(f"{directory / CONFIG}: {exc}") from None
    extra_state = {k: state.pop(k) for k in list(state) if k.startswith("reject.")}
    try:
        learner.set_state(np.asarray(config["labels"], dtype=object), state)
    except (KeyError, ValueError, IndexError, TypeError) as exc:
        raise ModelError(
            f"{directory / STATE}: does not fit learner {config['learner']!r} ({exc})"
        ) from None
    encoder = None
    if backend == "auto" and device not in (None, "cpu"):
        backend = "torch"  # the ONNX bundle runs on the CPU; a GPU needs torch
    variant = choose_variant(config, backend, directory)
    if variant is not None and device not in (None, "cpu"):
        raise ModelError(
            f"--device {device}: the ONNX bundle runs on the CPU; use --backend torch for a GPU"
        )
    if variant is not None:
        exported = onnx_encoder(directory, config, variant)
        if learner.owns_encoder:
            learner.use_encoder(exported)
        elif learner.input_kind == "embeddings":
            encoder = exported
    elif learner.owns_encoder:
        with verified_copy(directory, config, ENCODER_DIR) as checked:
            learner.load_encoder(checked)
    elif learner.input_kind == "embeddings":
        info = config.get("encoder")
        if not isinstance(info, dict):
            raise ModelError(f"{directory / CONFIG}: no encoder recorded for an embedding learner")
        if info.get("directory") == ENCODER_DIR:
            with verified_copy(directory, config, ENCODER_DIR) as checked:
                check_modules(checked)
                encoder = SentenceTransformerEncoder(
                    checked, device=device or "cpu", name=str(info.get("name", ""))
                )
                encoder.load()  # now, and the identity too: the copy goes when this block ends
                _ = encoder.identity
            encoder.model = directory / ENCODER_DIR  # where messages should send the user
        elif isinstance(info.get("name"), str) and info["name"] in registry.encoders:
            encoder = registry.encoder(info["name"], device=device or "cpu")
            expected = str(info.get("identity", "")).rsplit(":", 1)[0]
            if expected and encoder.identity.rsplit(":", 1)[0] != expected:
                raise ModelError(
                    f"{directory}: trained with encoder {info['name']!r} = {expected}, but that "
                    f"name now gives {encoder.identity.rsplit(':', 1)[0]}; predictions would be wrong"
                )
        else:
            raise ModelError(
                f"{directory / CONFIG}: encoder {info.get('name')!r} is neither inside the model "
                "directory nor a registered encoder name; a model never points elsewhere"
            )
    return learner, encoder, config, extra_state
