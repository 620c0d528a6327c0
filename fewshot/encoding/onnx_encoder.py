"""The torch-free encoder: a sentence encoder exported to ONNX, run by onnxruntime, with its
tokenizer run by the ``tokenizers`` library. Importing this module imports neither torch nor
sentence-transformers; nor does encoding.

An exported bundle (see :mod:`fewshot.deploy.export`) is a folder ``onnx/`` in a model directory::

    onnx/tokenizer.json       the encoder's tokenizer, truncation and padding set as it used them
    onnx/encoder.onnx         the whole sentence-transformers pipeline (transformer, pooling,
                              normalisation), float32: texts' token ids in, sentence vectors out
    onnx/encoder-int8.onnx    the same, weights dynamically quantised to 8-bit integers

and the ``onnx`` entry of ``fewshot.json``, which names the variants, the inputs the graph takes
and the parity measured at export.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.errors import ConfigError

BUNDLE_DIR = "onnx"
TOKENIZER = "tokenizer.json"
#: Variant name -> file in the bundle.
VARIANTS = {"fp32": "encoder.onnx", "int8": "encoder-int8.onnx"}
#: The ``--backend`` choices: ``onnx`` is the bundle's default variant; ``auto`` is that where a
#: bundle exists, else torch.
BACKENDS = ("auto", "torch", "onnx", "onnx-fp32", "onnx-int8")


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process may use
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def require_onnxruntime() -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        from fewshot.util.install import install_hint

        raise ConfigError(f"ONNX models need onnxruntime: {install_hint('onnx')}") from None


def choose_variant(config: dict[str, Any], backend: str, where: Path) -> str | None:
    """The ONNX variant ``backend`` asks for in the model ``config`` (None: use torch)."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    bundle = config.get("onnx")
    if backend == "torch":
        return None
    if bundle is None:
        if backend == "auto":
            return None
        raise ConfigError(
            f"{where}: has no ONNX bundle; add one with `fewshot export {where} --onnx`, or "
            "use --backend torch"
        )
    if backend in ("auto", "onnx"):
        return bundle["default"]
    variant = backend.removeprefix("onnx-")
    if variant not in bundle["variants"]:
        raise ConfigError(
            f"{where}: its ONNX bundle has no {variant} variant (it has "
            f"{', '.join(bundle['variants'])}); export it with `fewshot export {where} --onnx"
            + (" --quantize int8`" if variant == "int8" else "`")
        )
    return variant


class OnnxEncoder:
    """Texts to sentence vectors with an exported encoder; follows the ``Encoder`` protocol.

    Parameters
    ----------
    graph : bytes
        The ONNX graph of the variant, as read (and checked against its checksum) from the
        ``onnx/`` folder of a model directory: onnxruntime takes these bytes, and does not read
        the file again.
    tokenizer : str
        The bundle's ``tokenizer.json``, likewise as checked.
    variant : str
        ``fp32`` or ``int8``.
    inputs : list of str
        The graph's input names (``input_ids``, ``attention_mask``, and ``token_type_ids`` where
        the model takes them).
    identity : str
        What is computed, for the embedding cache (the file's checksum is part of it).
    dimension : int
        The length of the vectors.
    batch_size : int
        Texts per ONNX run; sorted by length first, so little padding is computed. 16 was the
        fastest on the 2-core machine with two runs at once (int8, banking77's test texts:
        1,898 texts/s at 8, 1,869 at 16, 1,762 at 32). int8's activations are quantised per run
        (dynamic quantisation): a text's probabilities can differ slightly with the texts run
        beside it.
    threads : int or None
        How many runs go at once, each on one thread (None: the cores this process may use).
        Several single-threaded runs side by side beat one run spread over every core: a
        transformer's many small element-wise steps (layer norms, GELU, softmax) cost more in
        synchronising threads than they gain (int8, 2 cores: 1,473 texts/s as one run on 2
        threads, 1,869 as two runs on one thread each).
    """

    def __init__(
        self,
        graph: bytes,
        tokenizer: str,
        variant: str,
        inputs: Sequence[str],
        identity: str,
        dimension: int,
        *,
        batch_size: int = 16,
        threads: int | None = None,
    ):
        require_onnxruntime()
        import onnxruntime
        from tokenizers import Tokenizer

        self.identity = identity
        self.dimension = dimension
        self.variant = variant
        self.batch_size = batch_size
        self.threads = threads or _usable_cores()
        self.inputs = list(inputs)
        self.tokenizer = Tokenizer.from_str(tokenizer)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # parallel across runs instead (see ``threads``)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers are not the user's
        self.session = onnxruntime.InferenceSession(
            graph, options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        chunks = [order[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        batches = [[texts[i] for i in chunk] for chunk in chunks]
        if len(batches) == 1 or self.threads == 1:
            vectors = [self._run(batch) for batch in batches]
        else:
            # onnxruntime releases the GIL while it runs, and a session takes concurrent runs
            with ThreadPoolExecutor(self.threads, thread_name_prefix="fewshot-onnx") as pool:
                vectors = list(pool.map(self._run, batches))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        out[np.concatenate(chunks)] = np.concatenate(vectors)
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return self.session.run(None, {k: feed[k] for k in self.inputs})[0]
