"""Model directories: a fitted learner as safetensors + JSON that anyone can load and use.

Layout::

    MODEL_DIR/
      fewshot.json        what it is: learner, parameters, labels, encoder, training data, and
                          the SHA-256 of every other file in the directory
      state.safetensors   the learner's learned arrays; its metadata repeats the learner, labels
                          and parameters, which loading cross-checks against fewshot.json
      encoder/            the sentence encoder, when it is not the bundled default: the encoder
                          a learner fine-tuned, or a local/hub encoder a model was adapted with
                          (a sentence-transformers directory, weights in safetensors)

Trust model. A model directory is *closed*: every file in it is listed in ``fewshot.json`` with
its checksum, and loading refuses a missing, changed or unlisted file, a listed name that
leaves the directory (``..``, an absolute path) and any symbolic link. The encoder is either
inside the directory or the bundled default by name, never a path to elsewhere. Loading never
unpickles and never imports code a file names, apart from sentence-transformers' own module
classes (``fewshot.finetuning.check_modules``, applied on every load path), and refuses
non-finite weights. The checksums protect against corruption and accidental edits; they do not
protect against a determined attacker, who can edit a file and its checksum together: that
needs a signature, which fewshot does not do. Load models you got from people you trust.

Saving builds the directory under a temporary name and swaps it into place, so an interrupted
save never leaves a half-written model that loads; it replaces only a directory that verifies
as a fewshot model (or an empty one).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Collection
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

import fewshot
from fewshot.data import LabeledTexts
from fewshot.errors import FewshotError
from fewshot.onnxencoder import choose_variant
from fewshot.outputs import replace_directory, share, staging_directory

if TYPE_CHECKING:  # importing the learners imports scikit-learn, which the ONNX path never needs
    from fewshot.learners import Learner

FORMAT = "fewshot-model"
FORMAT_VERSION = 2
CONFIG = "fewshot.json"
STATE = "state.safetensors"
ENCODER_DIR = "encoder"
#: Keys of the safetensors metadata that repeat what decides predictions.
_METADATA = ("learner", "labels", "params", "reject")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ModelError(FewshotError):
    """A model directory is missing, damaged, tampered with, or from another fewshot."""


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


def _metadata(
    learner: str, labels: list[str], params: dict[str, Any], reject: Any = None
) -> dict[str, str]:
    """What decides predictions, stored beside the weights too (see ``_check_weights``)."""
    values = {"learner": learner, "labels": labels, "params": params, "reject": reject}
    return {f"fewshot.{key}": json.dumps(values[key], sort_keys=True) for key in _METADATA}


def check_model_out(directory: str | Path) -> Path:
    """Refuse to save over anything but a fewshot model (that verifies) or an empty directory."""
    directory = Path(directory)
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
    from safetensors.numpy import save_file

    directory = check_model_out(directory)
    try:
        state = learner.get_state()
    except NotImplementedError as exc:
        raise ModelError(str(exc)) from None
    labels = [str(label) for label in learner.classes_]
    params = _jsonable(learner.get_params())
    reject = (extra or {}).get("reject")
    state = {**state, **(extra_state or {})}
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_directory(directory, "partial")
    try:
        save_file(
            {k: np.ascontiguousarray(v) for k, v in state.items()},
            str(staging / STATE),
            metadata=_metadata(learner.name, labels, params, reject),
        )
        if learner.owns_encoder:
            learner.save_encoder(staging / ENCODER_DIR)
        elif encoder_directory is not None:
            copy_encoder(Path(encoder_directory), staging / ENCODER_DIR)
            encoder = {**(encoder or {}), "directory": ENCODER_DIR}
        if card is not None:
            (staging / "README.md").write_text(card, encoding="utf-8")
        share(staging)
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
            "params": params,
            "input_kind": learner.input_kind,
            "labels": labels,
            "encoder": encoder,
            "training_data": training,
            **(extra or {}),
            "files": files,
        }
        with open(staging / CONFIG, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(staging / CONFIG, 0o666 & ~_umask())
        replace_directory(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def copy_encoder(source: Path, target: Path) -> None:
    """Copy a sentence-transformers directory (links followed, hidden entries left out: a hub
    cache snapshot is made of links to its blobs)."""
    from fewshot.finetuning import check_modules

    check_modules(source)
    shutil.copytree(source, target, symlinks=False, ignore=shutil.ignore_patterns(".*"))


def _link_allowed(path: Path, links_within: Path | None) -> bool:
    """Whether the link ``path`` may be followed: only into ``links_within`` (the blobs of a
    Hugging Face cache entry), never elsewhere."""
    target = Path(os.path.realpath(path))
    return links_within is not None and target.is_relative_to(links_within.resolve())


def read_config(directory: Path, *, links_within: Path | None = None) -> dict[str, Any]:
    if not directory.exists():
        raise ModelError(f"{directory}: no such model directory")
    if not directory.is_dir():
        raise ModelError(
            f"{directory}: not a directory; expected a model directory from `fewshot adapt`"
        )
    path = directory / CONFIG
    if (path.is_symlink() and not _link_allowed(path, links_within)) or not path.is_file():
        raise ModelError(
            f"{directory}: missing {CONFIG}; not a fewshot model directory (or an incomplete one)"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelError(
            f"{path}: not valid JSON ({type(exc).__name__}); the file is damaged or truncated"
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelError(f"{path}: not a fewshot model configuration (expected format {FORMAT!r})")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise ModelError(
            f"{path}: written by fewshot {config.get('fewshot_version', '?')} in model format {version}; "
            f"this fewshot {fewshot.__version__} reads format {FORMAT_VERSION}: upgrade fewshot"
        )
    if version < FORMAT_VERSION:
        raise ModelError(
            f"{path}: model format {version} cannot be verified by this fewshot (it reads format "
            f"{FORMAT_VERSION}); adapt the model again with `fewshot adapt`"
        )
    for key, kind in (("learner", str), ("params", dict), ("labels", list), ("files", dict)):
        if not isinstance(config.get(key), kind):
            raise ModelError(f"{path}: {key!r} is missing or not a {kind.__name__}")
    labels = config["labels"]
    if not labels or not all(isinstance(x, str) for x in labels) or len(set(labels)) < len(labels):
        raise ModelError(f"{path}: 'labels' must be a list of distinct strings")
    return config


def _listed_path(directory: Path, name: Any) -> Path:
    """A ``files`` entry as a path inside ``directory``; refuses names that could leave it."""
    parts = PurePosixPath(name).parts if isinstance(name, str) else ()
    if (
        not parts
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or any(part in ("", ".", "..") for part in parts)
        or name == CONFIG
    ):
        raise ModelError(
            f"{directory / CONFIG}: listed file {name!r} is not a plain name inside the model "
            "directory; refusing to read it"
        )
    return directory.joinpath(*parts)


def verify(
    directory: Path,
    config: dict[str, Any],
    *,
    links_within: Path | None = None,
    only: Collection[str] | None = None,
) -> None:
    """Check that ``directory`` holds exactly the files ``config`` lists, unchanged. Symbolic
    links are refused, except, where ``links_within`` is given (a Hugging Face cache snapshot),
    links to files inside that folder. ``only``: the listed names whose contents are checked
    (the files a caller reads); the others must still be there, and nothing else may be."""
    listed = {}
    for name, expected in config["files"].items():
        path = _listed_path(directory, name)
        if not isinstance(expected, str) or not _HEX64.fullmatch(expected):
            raise ModelError(f"{directory / CONFIG}: the checksum of {name!r} is not a SHA-256")
        listed[path] = expected
    if directory / STATE not in listed:
        raise ModelError(f"{directory / CONFIG}: {STATE} is not listed; the model is incomplete")
    for root, folders, names in os.walk(directory):
        for entry in [*folders, *names]:
            path = Path(root) / entry
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                if not _link_allowed(path, links_within):
                    raise ModelError(f"{path}: a symbolic link in a model directory; refusing it")
                mode = os.stat(path).st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise ModelError(f"{path}: not a regular file; refusing it")
            if path not in listed and path != directory / CONFIG:
                raise ModelError(
                    f"{path}: not listed in {CONFIG}; a model directory holds only the files "
                    "it lists (was it added or edited by hand?)"
                )
    read = None if only is None else {_listed_path(directory, name) for name in only}
    for path, expected in listed.items():
        if not path.is_file():
            raise ModelError(f"{path}: missing; the model directory is incomplete")
        if (read is None or path in read) and _sha256(path) != expected:
            raise ModelError(
                f"{path}: does not match the checksum in {CONFIG}; the file is truncated or modified"
            )


def _check_weights(directory: Path, config: dict[str, Any]) -> dict[str, np.ndarray]:
    """The learner's state; refuses non-finite weights anywhere and a state whose metadata
    disagrees with fewshot.json on the learner, labels or parameters."""
    from safetensors import SafetensorError, safe_open

    state: dict[str, np.ndarray] = {}
    for name in config["files"]:
        if not name.endswith(".safetensors"):
            continue
        path = _listed_path(directory, name)
        try:
            with safe_open(str(path), framework="numpy") as handle:
                metadata = handle.metadata() or {}
                for key in handle.keys():  # noqa: SIM118 - safe_open has no __iter__
                    array = handle.get_tensor(key)
                    if array.dtype.kind == "f" and not np.isfinite(array).all():
                        raise ModelError(f"{path}: {key} holds NaN or infinite values")
                    if path == directory / STATE:
                        state[key] = array
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(f"{path}: unreadable ({exc})") from None
        if path == directory / STATE:
            expected = _metadata(
                config["learner"], config["labels"], config["params"], config.get("reject")
            )
            # models saved before rejection existed have no "fewshot.reject": none, then
            metadata.setdefault("fewshot.reject", "null")
            if any(metadata.get(key) != value for key, value in expected.items()):
                raise ModelError(
                    f"{directory / CONFIG}: the learner, labels, parameters or rejection rule "
                    f"differ from those stored with the weights in {STATE}; the configuration "
                    "was edited"
                )
    return state


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
    (ONNX where the model has a bundle; see :mod:`fewshot.onnxencoder`).
    """
    from fewshot.encoders import SentenceTransformerEncoder
    from fewshot.finetuning import check_modules
    from fewshot.plugins import load_registry

    directory = Path(directory)
    config = read_config(directory, links_within=links_within)
    verify(directory, config, links_within=links_within)
    state = _check_weights(directory, config)
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
        onnx_encoder = _onnx_encoder(directory, config, variant)
        if learner.owns_encoder:
            learner.use_encoder(onnx_encoder)
        elif learner.input_kind == "embeddings":
            encoder = onnx_encoder
    elif learner.owns_encoder:
        learner.load_encoder(directory / ENCODER_DIR)
    elif learner.input_kind == "embeddings":
        info = config.get("encoder")
        if not isinstance(info, dict):
            raise ModelError(f"{directory / CONFIG}: no encoder recorded for an embedding learner")
        if info.get("directory") == ENCODER_DIR:
            check_modules(directory / ENCODER_DIR)
            encoder = SentenceTransformerEncoder(
                directory / ENCODER_DIR, device=device or "cpu", name=str(info.get("name", ""))
            )
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


def _onnx_encoder(directory: Path, config: dict[str, Any], variant: str):
    from fewshot.onnxencoder import BUNDLE_DIR, OnnxEncoder

    bundle = config["onnx"]
    try:
        name = bundle["variants"][variant]["file"]
        inputs, dimension = list(bundle["inputs"]), int(bundle["dimension"])
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{directory / CONFIG}: its 'onnx' entry is damaged") from None
    if name not in config["files"] or not str(name).startswith(f"{BUNDLE_DIR}/"):
        raise ModelError(f"{directory / CONFIG}: the ONNX file {name!r} is not a listed file")
    return OnnxEncoder(
        directory / BUNDLE_DIR,
        variant,
        inputs,
        # the export's checksum names exactly what is computed (the cache trusts identities)
        identity=f"onnx:{variant}:{config['files'][name][:16]}",
        dimension=dimension,
    )


def load(directory: str | Path, *, device: str | None = None, cache=True, backend: str = "auto"):
    """Load a model directory written by ``fewshot adapt`` or ``FewShotClassifier.save``:
    a fitted :class:`~fewshot.classifier.FewShotClassifier` (``backend``: see
    :func:`load_fitted`)."""
    from fewshot.classifier import FewShotClassifier

    return FewShotClassifier.load(directory, device=device, cache=cache, backend=backend)


def load_predictor(
    directory: str | Path, *, device: str | None = None, cache=True, backend: str = "auto"
):
    """What predicting with a model directory needs, and no more: its ONNX bundle alone
    (:class:`~fewshot.onnxmodel.OnnxClassifier`: no torch, scikit-learn or learner code, and
    only the files it reads are checksummed) where ``backend`` picks ONNX, the bundle has a head
    and an out-of-scope rule, if any, uses a built-in scorer; else the whole classifier
    (:func:`load`). Both answer ``predict``, ``predict_proba``, ``predict_with_scores``,
    ``labels`` and ``multi_label_`` alike. ``cache`` applies to the whole classifier only."""
    from fewshot.onnxencoder import BUNDLE_DIR, VARIANTS
    from fewshot.onnxmodel import bundle_can_reject, load_onnx_classifier

    directory = Path(directory)
    config = read_config(directory)
    bundle = config.get("onnx")
    lean = device in (None, "cpu") and isinstance(bundle, dict) and "head" in bundle
    variant = choose_variant(config, backend, directory) if lean else None
    if variant is None or not bundle_can_reject(config):
        return load(directory, device=device, cache=cache, backend=backend)
    others = {f"{BUNDLE_DIR}/{VARIANTS[v]}" for v in VARIANTS if v != variant}
    read = [n for n in config["files"] if n.startswith(f"{BUNDLE_DIR}/") and n not in others]
    if config.get("reject") is not None:
        read.append(STATE)  # the scorer's arrays
    verify(directory, config, only=read)
    return load_onnx_classifier(directory, config, variant)
