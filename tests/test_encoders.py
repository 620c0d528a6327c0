import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from fewshot.encoding.cache import EmbeddingCache
from fewshot.encoding.encoders import (
    CachedEncoder,
    SentenceTransformerEncoder,
    check_device,
    default_model_path,
)
from fewshot.errors import ConfigError

TEXTS = [
    "how do I activate my card",
    "what is the weather in paris",
    "how do I activate my card",
    "transfer money",
]


@pytest.fixture(scope="module")
def minilm():
    return SentenceTransformerEncoder(default_model_path(), device="cpu", name="all-MiniLM-L6-v2")


def test_default_encoder_is_the_bundled_minilm(registry):
    encoder = registry.encoder("all-MiniLM-L6-v2")
    assert encoder.identity.startswith("st:all-MiniLM-L6-v2:")
    assert encoder.identity.endswith(":cpu")


def test_cached_encoding_matches_the_model_and_encodes_each_text_once(tmp_path, minilm):
    direct = minilm.load().encode(TEXTS, convert_to_numpy=True)
    cached = CachedEncoder(minilm, EmbeddingCache(tmp_path))
    vectors = cached.encode(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, direct, atol=1e-5)
    assert cached.encoded == 3  # the repeated text is encoded once
    again = CachedEncoder(minilm, EmbeddingCache(tmp_path))
    np.testing.assert_array_equal(again.encode(TEXTS), vectors)
    assert again.encoded == 0 and again.reused == 3


@pytest.mark.integration
def test_cache_is_shared_across_processes(tmp_path, minilm):
    CachedEncoder(minilm, EmbeddingCache(tmp_path)).encode(TEXTS)
    script = (
        "import sys, numpy as np\n"
        "from fewshot.plugins.registry import load_registry\n"
        "from fewshot.encoding.cache import EmbeddingCache\n"
        "enc = load_registry().cached_encoder('all-MiniLM-L6-v2', device='cpu', cache=EmbeddingCache(sys.argv[1]), progress=False)\n"
        "enc.encode(sys.argv[2:])\n"
        "print(enc.encoded, enc.reused)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), *TEXTS, "a new text"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["1", "3"]


def test_a_different_model_has_a_different_identity(tmp_path, minilm):
    copy = tmp_path / "model-copy"
    shutil.copytree(default_model_path(), copy)
    same = SentenceTransformerEncoder(copy, name="all-MiniLM-L6-v2")
    assert same.identity == minilm.identity  # same files, same identity
    config = copy / "sentence_bert_config.json"
    config.write_text(config.read_text().replace('"max_seq_length": 256', '"max_seq_length": 8'))
    assert SentenceTransformerEncoder(copy, name="all-MiniLM-L6-v2").identity != minilm.identity


def test_corrupted_cache_entries_are_recomputed(tmp_path, minilm):
    cached = CachedEncoder(minilm, EmbeddingCache(tmp_path))
    good = cached.encode(TEXTS)
    db = sqlite3.connect(tmp_path / "embeddings.sqlite3")
    db.execute("UPDATE embeddings SET vector = substr(vector, 1, 100)")  # truncate every entry
    db.commit()
    db.close()
    again = CachedEncoder(minilm, EmbeddingCache(tmp_path))
    np.testing.assert_allclose(again.encode(TEXTS), good, atol=1e-6)
    assert again.encoded == 3 and again.reused == 0


def test_any_local_model_directory_works(tmp_path, registry):
    copy = tmp_path / "my-model"
    shutil.copytree(default_model_path(), copy)
    assert registry.encoder(str(copy)).identity.startswith("st:my-model:")
    with pytest.raises(ConfigError, match="not a sentence-transformers model directory"):
        SentenceTransformerEncoder(tmp_path)
    with pytest.raises(ConfigError, match="unknown encoder"):
        registry.encoder("no-such-model")


def test_device_validation():
    import torch

    assert check_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match="expected 'cpu', 'cuda' or 'cuda:N'"):
        check_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU is visible"):
            check_device("cuda")


def test_the_progress_line_says_the_encoder_is_loading_then_counts_texts(capsys):
    """Loading a model takes seconds: the line says so from the start, then moves every few
    hundred texts; it is shown where the command shows progress, and not elsewhere."""
    from fewshot.util.progress import training_progress

    texts = [f"text number {i}" for i in range(600)]
    fresh = SentenceTransformerEncoder(default_model_path(), device="cpu", name="all-MiniLM-L6-v2")
    CachedEncoder(fresh, None).encode(texts[:3])  # outside a command's progress: silent
    assert capsys.readouterr().err == ""
    fresh = SentenceTransformerEncoder(default_model_path(), device="cpu", name="all-MiniLM-L6-v2")
    with training_progress("predicting"):
        vectors = CachedEncoder(fresh, None).encode(texts)
    err = capsys.readouterr().err
    assert "loading the encoder all-MiniLM-L6-v2" in err
    assert err.index("loading the encoder") < err.index("encoding")
    assert "256/600" in err and "512/600" in err
    np.testing.assert_allclose(vectors, fresh.encode(texts), atol=1e-5)
