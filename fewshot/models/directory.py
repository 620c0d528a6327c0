"""The model directory: its layout, and the checks every load makes before reading anything.

Layout::

    MODEL_DIR/
      fewshot.json        what it is: learner, parameters, labels, encoder, training data, and
                          the SHA-256 of every other file in the directory
      state.safetensors   the learner's learned arrays; its metadata repeats the learner, labels
                          and parameters, which loading cross-checks against fewshot.json
      encoder/            the sentence encoder, when it is not the bundled default: the encoder
                          a learner fine-tuned, or a local/hub encoder a model was adapted with
                          (a sentence-transformers directory, weights in safetensors)
      onnx/               the exported encoder and head, after `fewshot export`

Trust model. A model directory is *closed*: every file in it is listed in ``fewshot.json`` with
its checksum, and loading refuses a missing, changed or unlisted file, a listed name that
leaves the directory (``..``, an absolute path) and any symbolic link. The encoder is either
inside the directory or the bundled default by name, never a path to elsewhere. Loading never
unpickles and never imports code a file names, apart from sentence-transformers' own module
classes (``fewshot.encoding.model_loading.check_modules``, applied on every load path), and refuses
non-finite weights. The checksums protect against corruption and accidental edits; they do not
protect against a determined attacker, who can edit a file and its checksum together: that
needs a signature, which fewshot does not do. Load models you got from people you trust.

Writing and loading whole models is :mod:`fewshot.models.saving`; this module only reads and
checks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

import fewshot
from fewshot.errors import FewshotError
from fewshot.util.files import MODEL_DIRECTORY_FILES

FORMAT = "fewshot-model"
FORMAT_VERSION = 2
CONFIG, STATE = MODEL_DIRECTORY_FILES  # "fewshot.json", "state.safetensors"
ENCODER_DIR = "encoder"
#: The most a model's fewshot.json may hold: a model of 100,000 labels needs a few MB; a file far
#: larger is damaged or hostile, and reading it whole would take memory for nothing.
MAX_CONFIG_BYTES = 16 * 2**20
#: Keys of the safetensors metadata that repeat what decides predictions.
_METADATA = ("learner", "labels", "params", "reject")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ModelError(FewshotError):
    """A model directory is missing, damaged, tampered with, or from another fewshot."""


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, as ``fewshot.json`` lists it."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_student(config: dict[str, Any]) -> bool:
    """Whether a model configuration is a distilled student's (``fewshot distill``): its files
    are an encoder of its own (static, or an ONNX bundle) and the teacher's head, no learner."""
    return isinstance(config.get("student"), dict)


def config_header() -> dict[str, Any]:
    """The keys that open every ``fewshot.json``: what format it is, and which fewshot wrote it."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fewshot_version": fewshot.__version__,
    }


def stored_metadata(
    learner: str, labels: list[str], params: dict[str, Any], reject: Any = None
) -> dict[str, str]:
    """What decides predictions, stored beside the weights too (see ``check_weights``)."""
    values = {"learner": learner, "labels": labels, "params": params, "reject": reject}
    return {f"fewshot.{key}": json.dumps(values[key], sort_keys=True) for key in _METADATA}


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
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)  # bounded, even if the file grows meanwhile
    except OSError as exc:
        raise ModelError(f"{path}: unreadable ({exc.strerror})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ModelError(
            f"{path}: larger than {MAX_CONFIG_BYTES // 2**20} MiB, the most a model configuration "
            "holds; the file is damaged or not fewshot's"
        )
    try:
        config = json.loads(data.decode("utf-8"))
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


def listed_path(directory: Path, name: Any) -> Path:
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
        path = listed_path(directory, name)
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
    read = None if only is None else {listed_path(directory, name) for name in only}
    for path, expected in listed.items():
        if not path.is_file():
            raise ModelError(f"{path}: missing; the model directory is incomplete")
        if (read is None or path in read) and sha256_file(path) != expected:
            raise ModelError(
                f"{path}: does not match the checksum in {CONFIG}; the file is truncated or modified"
            )


def read_listed(directory: Path, config: dict[str, Any], name: str) -> bytes:
    """The bytes of the listed file ``name``, read once and checked against its checksum.

    What is checked is what is used: reading the file again after a check would let a file
    replaced in between be used unchecked."""
    path = listed_path(directory, name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: unreadable ({exc.strerror})") from None
    if hashlib.sha256(data).hexdigest() != config["files"].get(name):
        raise ModelError(
            f"{path}: does not match the checksum in {CONFIG}; the file is truncated or modified"
        )
    return data


@contextlib.contextmanager
def verified_copy(directory: Path, config: dict[str, Any], folder: str) -> Iterator[Path]:
    """A private copy of the listed files under ``folder`` (``encoder``), each written from the
    bytes its checksum was checked on (weights also checked finite), removed on leaving.

    For loaders that take only a path (sentence-transformers, transformers): they read the
    copy, which nobody else writes, so what they load is what was checked, even if a file of
    the model is replaced while it loads.
    """
    prefix = f"{folder}/"
    copy = Path(tempfile.mkdtemp(prefix="fewshot-verified-"))  # 0700: this user's only
    try:
        for name in (n for n in config["files"] if n.startswith(prefix)):
            data = read_listed(directory, config, name)
            if name.endswith(".safetensors"):
                _finite_arrays(listed_path(directory, name), data)
            target = copy / name.removeprefix(prefix)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        yield copy
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def load_arrays(
    directory: Path, config: dict[str, Any], name: str
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays and the metadata of the listed safetensors file ``name``, deserialised from
    the bytes its checksum was checked on (:func:`read_listed`); refuses NaN or infinite values."""
    path = listed_path(directory, name)
    return _finite_arrays(path, read_listed(directory, config, name))


def _finite_arrays(path: Path, data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        arrays = load(data)
        # the header (8 bytes of length, then JSON) holds the metadata safetensors' load drops
        size = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8 : 8 + size]).get("__metadata__") or {}
    except (SafetensorError, ValueError, AttributeError) as exc:
        raise ModelError(f"{path}: unreadable ({exc})") from None
    for key, array in arrays.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ModelError(f"{path}: {key} holds NaN or infinite values")
    return arrays, metadata


def check_weights(directory: Path, config: dict[str, Any]) -> dict[str, np.ndarray]:
    """The learner's state; refuses non-finite weights (outside the encoder, which
    :func:`verified_copy` checks where it is loaded) and a state whose metadata disagrees with
    fewshot.json on the learner, labels or parameters."""
    state: dict[str, np.ndarray] = {}
    for name in config["files"]:
        if not name.endswith(".safetensors") or name.startswith(f"{ENCODER_DIR}/"):
            continue  # an encoder's weights: checked as they are copied to load (verified_copy)
        path = listed_path(directory, name)
        arrays, metadata = load_arrays(directory, config, name)
        if path == directory / STATE:
            state = arrays
            expected = stored_metadata(
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


def onnx_encoder(directory: Path, config: dict[str, Any], variant: str):
    """The exported encoder ``variant`` of a verified model's ONNX bundle (``fewshot export``),
    after checking that its entry in ``config`` names a listed file of the bundle."""
    from fewshot.encoding.onnx_encoder import BUNDLE_DIR, TOKENIZER, OnnxEncoder

    bundle = config["onnx"]
    try:
        name = bundle["variants"][variant]["file"]
        inputs, dimension = list(bundle["inputs"]), int(bundle["dimension"])
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{directory / CONFIG}: its 'onnx' entry is damaged") from None
    if name not in config["files"] or not str(name).startswith(f"{BUNDLE_DIR}/"):
        raise ModelError(f"{directory / CONFIG}: the ONNX file {name!r} is not a listed file")
    tokenizer = f"{BUNDLE_DIR}/{TOKENIZER}"
    if tokenizer not in config["files"]:
        raise ModelError(f"{directory / CONFIG}: the ONNX bundle's {tokenizer} is not listed")
    try:
        tokenizer_json = read_listed(directory, config, tokenizer).decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError(f"{listed_path(directory, tokenizer)}: not UTF-8 text") from None
    # The bytes checked are the bytes used: onnxruntime and tokenizers get them, not the paths.
    return OnnxEncoder(
        read_listed(directory, config, name),
        tokenizer_json,
        variant,
        inputs,
        # the export's checksum names exactly what is computed (the cache trusts identities)
        identity=f"onnx:{variant}:{config['files'][name][:16]}",
        dimension=dimension,
    )
