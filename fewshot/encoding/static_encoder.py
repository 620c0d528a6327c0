"""The smallest encoder: one vector per token, a sentence the mean of its tokens' vectors (a
*static* model, as model2vec makes them), run with numpy and the ``tokenizers`` library alone.
Importing this module or encoding imports neither torch nor onnxruntime.

A static student (``fewshot distill --student static``, see :mod:`fewshot.compression`) keeps it
in its model directory::

    static/embeddings.safetensors   "embeddings": one row per token id, float16
    static/tokenizer.json           the tokenizer (no padding, no special tokens added)
    static/head.safetensors         the classification head over the sentence vectors

and the ``static`` entry of ``fewshot.json`` names them and says whether sentence vectors are
scaled to unit length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STATIC_DIR = "static"
EMBEDDINGS = "embeddings.safetensors"
TOKENIZER = "tokenizer.json"
#: Tokens read of a text: a static model has no position limit, but a text of a million tokens
#: would cost memory for nothing; 512 is the teacher transformer's own limit.
MAX_TOKENS = 512
#: Texts pooled at a time (see ``encode``).
POOL_TEXTS = 32


class StaticEncoder:
    """Texts to vectors by averaging token vectors.

    Parameters
    ----------
    embeddings : ndarray of shape (n_tokens, dimension)
        One vector per token id of the tokenizer.
    tokenizer_json : str
        The tokenizer, as the ``tokenizers`` library saves it.
    normalize : bool
        Scale each sentence vector to unit length.
    identity : str
        What the embedding cache and messages call this encoder (its file's checksum).
    """

    def __init__(
        self, embeddings: np.ndarray, tokenizer_json: str, *, normalize: bool, identity: str
    ):
        from tokenizers import Tokenizer

        # float16 kept as it is stored: half the memory, and no conversion at load
        self.embeddings = np.asarray(embeddings)
        if self.embeddings.dtype not in (np.float16, np.float32):
            self.embeddings = self.embeddings.astype(np.float32)
        if self.embeddings.ndim != 2:
            raise ValueError(f"token vectors of shape {self.embeddings.shape}: expected 2-D")
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        if self.tokenizer.get_vocab_size() > len(self.embeddings):
            raise ValueError(
                f"a tokenizer of {self.tokenizer.get_vocab_size()} tokens for "
                f"{len(self.embeddings)} token vectors"
            )
        self.normalize = normalize
        self.identity = identity
        self.name = identity

    @property
    def dimension(self) -> int:
        return int(self.embeddings.shape[1])

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids (special tokens left out: a static model has no use for them)."""
        return [
            e.ids for e in self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        ]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text (float32); a text with no tokens gets zeros."""
        ids = self.token_ids(texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter((i for x in ids for i in x), dtype=np.int64, count=int(lengths.sum()))
        ends = np.cumsum(lengths)
        starts = ends - lengths
        out = np.zeros((len(ids), self.dimension), dtype=np.float32)
        filled = np.flatnonzero(lengths)
        # A few texts at a time: their token vectors then stay in the CPU's cache (pooling
        # 15,000 texts at once ran at a fifth of this speed, bound by memory).
        for first in range(0, len(filled), POOL_TEXTS):
            rows = filled[first : first + POOL_TEXTS]
            low, high = starts[rows[0]], ends[rows[-1]]
            vectors = self.embeddings[flat[low:high]]
            out[rows] = np.add.reduceat(vectors, starts[rows] - low, axis=0, dtype=np.float32)
        out[filled] /= lengths[filled, None]
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
