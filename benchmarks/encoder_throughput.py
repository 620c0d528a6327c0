"""Throughput of fewshot's cached encoder (cold cache) vs SentenceTransformer.encode, same texts.

Both sides use the same loaded model in the same process; runs alternate (direct, ours, direct,
ours, ...) so that warm-up and machine noise fall on both. The texts are distinct, so fewshot's
de-duplication gives it no free advantage; what is measured is its overhead (hashing, cache
look-up, writing the cache).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fewshot.encoding.cache import EmbeddingCache
from fewshot.encoding.encoders import CachedEncoder, SentenceTransformerEncoder, default_model_path
from fewshot.plugins.registry import load_registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    data = load_registry().datasets.load("clinc150:test")
    texts = list(dict.fromkeys(data.texts))[: args.texts]
    encoder = SentenceTransformerEncoder(default_model_path(), device=args.device)
    model = encoder.load()
    model.encode(texts[:128], batch_size=encoder.batch_size)  # warm-up

    direct, ours = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.encode(
            texts, batch_size=encoder.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        direct.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as cache_dir:
            cached = CachedEncoder(encoder, EmbeddingCache(cache_dir))
            start = time.perf_counter()
            cached.encode(texts)
            ours.append(time.perf_counter() - start)
            assert cached.encoded == len(texts)
    d, o = statistics.median(direct), statistics.median(ours)
    print(f"{len(texts)} distinct texts, batch size {encoder.batch_size}, device {args.device}")
    print(f"SentenceTransformer.encode: {len(texts) / d:8.1f} texts/s (median of {args.repeats})")
    print(
        f"fewshot CachedEncoder     : {len(texts) / o:8.1f} texts/s (cold cache, writes every vector)"
    )
    print(f"throughput ratio fewshot/direct: {d / o:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
