"""Nothing fewshot does may destroy a user's file: the examples of issue 12, as behaviour.

The hostile-input table (tests/test_hostile_inputs.py) checks the refusals; these tests check
what happens around them: runs replaced whole or not at all, interrupted replacements, predictions
compared the way training compares labels, memory that does not grow with --episodes, damaged
cache rows, and models that carry their encoder."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from fewshot.encoding.cache import EmbeddingCache
from fewshot.errors import ConfigError
from fewshot.evaluation.evaluator import EpisodeSetting, Evaluator, LearnerSpec
from fewshot.evaluation.journal import JOURNAL, LOCK
from fewshot.util.files import write_atomic
from tests.conftest import run_fewshot

QUICK = ["bench", "--dataset", "banking77:test", "--learner", "protonet", "--shots", "1"]


def test_write_atomic_never_replaces_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "folder").mkdir()
    for name in ("pipe", "folder"):
        with pytest.raises(ConfigError, match="not replacing it with a file"):
            write_atomic(tmp_path / name, "x")
    assert (tmp_path / "folder").is_dir() and not (tmp_path / "pipe").is_file()
    # A link to a regular file is followed: the link stays a link, its target gets the text.
    (tmp_path / "target.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to(tmp_path / "target.txt")
    write_atomic(tmp_path / "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "target.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder",
        "link.txt",
        "pipe",
        "target.txt",
    ]


def test_overwrite_replaces_a_run_whole(tmp_path):
    out = tmp_path / "run"
    assert run_fewshot(*QUICK, "--episodes", "5", "--out", str(out)).returncode == 0
    first = json.loads((out / "results.json").read_text())
    result = run_fewshot(*QUICK, "--episodes", "7", "--overwrite", "--out", str(out))
    assert result.returncode == 0, result.stderr
    [record] = json.loads((out / "results.json").read_text())
    assert record["episodes"] == 7 and first[0]["episodes"] == 5
    assert json.loads((out / "run.json").read_text())["format"] == "fewshot-run"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging directory left


@pytest.mark.integration
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_overwrite_leaves_the_earlier_run_as_it_was(tmp_path, how):
    out = tmp_path / "run"
    assert run_fewshot(*QUICK, "--episodes", "5", "--out", str(out)).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fewshot",
            *QUICK,
            "--episodes",
            "200000",
            "--overwrite",
            "--out",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def staged_episodes() -> int:
        journals = list(tmp_path.glob(f".run.fewshot-overwrite-*/{JOURNAL}"))
        return len(journals[0].read_bytes().splitlines()) if journals else 0

    deadline = time.monotonic() + 120
    while staged_episodes() < 200 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert staged_episodes() >= 200, "the overwrite run never got going"
    process.send_signal(how)
    _, stderr = process.communicate(timeout=60)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    if how == signal.SIGKILL:
        # A killed process cannot remove its lock file (the system releases the lock itself,
        # and the next run takes it): an empty file, fewshot's own, and nothing else.
        assert after.pop(LOCK, b"") == b""
    assert after == before  # the earlier run, byte for byte: no mixture
    if how == signal.SIGINT:  # Ctrl-C: told, and the half-built replacement is gone
        assert process.returncode == 130 and "the earlier run there is unchanged" in stderr
        assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_bench_refuses_a_users_folder_and_leaves_it_alone(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "results.csv").write_text("my own numbers\n")
    (folder / "comparisons.json").write_text("[1, 2]\n")
    for extra in ([], ["--overwrite"]):
        result = run_fewshot(*QUICK, "--episodes", "3", *extra, "--out", str(folder))
        assert result.returncode == 2 and "holds no fewshot run" in result.stderr
    assert (folder / "results.csv").read_text() == "my own numbers\n"
    assert sorted(p.name for p in folder.iterdir()) == ["comparisons.json", "results.csv"]


def test_adapt_never_deletes_a_folder_that_is_not_a_model(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "fewshot.json").write_text("{}")
    (folder / "thesis.tex").write_text("years of work")
    result = run_fewshot(
        "adapt", "--train", "banking77:train_5", "--learner", "logreg", "--out", str(folder)
    )
    assert result.returncode == 2 and "not a fewshot model directory" in result.stderr
    assert (folder / "thesis.tex").read_text() == "years of work"
    # ... while a model it wrote is replaced, as before.
    model = tmp_path / "model"
    for learner in ("logreg", "protonet"):
        adapted(model, learner)
    assert json.loads((model / "fewshot.json").read_text())["learner"] == "protonet"


def adapted(path, learner):
    result = run_fewshot(
        "adapt", "--train", "banking77:train_5", "--learner", learner, "--out", str(path)
    )
    assert result.returncode == 0, result.stderr
    return path


def test_predict_compares_gold_labels_as_training_does(tmp_path, registry):
    model = adapted(tmp_path / "model", "logreg")
    train = registry.datasets.load("banking77:train_5")
    path = tmp_path / "gold.jsonl"
    with open(path, "w") as handle:
        for text, label in list(zip(train.texts, train.labels, strict=True))[:50]:
            handle.write(json.dumps({"text": text, "label": f"  {label} "}) + "\n")
    result = run_fewshot("predict", str(model), str(path), "--out", str(tmp_path / "p.jsonl"))
    assert result.returncode == 0, result.stderr
    accuracy = float(result.stderr.split("accuracy on the labelled inputs: ")[1].split()[0])
    assert accuracy > 0.9  # training texts: the spaces around the gold labels do not matter


def test_predict_never_writes_over_its_input(tmp_path):
    model = adapted(tmp_path / "model", "protonet")
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "my card is lost", "label": "lost_or_stolen_card"}\n')
    link = tmp_path / "same.jsonl"
    os.link(data, link)  # the same file by another name
    for out in (data, link):
        result = run_fewshot("predict", str(model), str(data), "--out", str(out))
        assert result.returncode == 2 and "is the input file" in result.stderr
    assert "lost_or_stolen_card" in data.read_text()


def test_memory_does_not_grow_with_the_number_of_episodes(registry, encoder):
    """150-way episodes, a million of them: drawn one at a time, never all at once."""

    class Stop(Exception):
        pass

    from fewshot.learners.base import Learner, check_support
    from fewshot.util.params import Integer

    class StopsAtTen(Learner):
        name = "stops-at-ten"
        parameter_constraints = {"calls": Integer(min=0)}

        def __init__(self, calls=0):
            self.calls = calls

        def fit(self, X, y):
            check_support(self, X, y)
            StopsAtTen.seen += 1
            if StopsAtTen.seen >= 10:
                raise Stop("enough")
            self.classes_ = np.unique(y)
            return self

        def predict_proba(self, X):
            return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))

    StopsAtTen.seen = 0
    registry.learners["stops-at-ten"] = StopsAtTen
    try:
        evaluator = Evaluator(registry, encoder, progress=False)
        setting = EpisodeSetting(
            "clinc150:test", ways=150, shots=1, queries=29, episodes=1_000_000, seed=0
        )
        evaluator.prepare([setting], [LearnerSpec("stops-at-ten")])
        tracemalloc.start()
        [result] = evaluator.run([setting], [LearnerSpec("stops-at-ten")])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        del registry.learners["stops-at-ten"]
    [outcome] = result.outcomes
    assert (
        outcome.record["status"] == "failed"
        and "episode 9: Stop: enough" in outcome.record["error"]
    )
    # A million 150-way episodes held at once would take about 36 GB; five arrays of a
    # million floats take 40 MB.
    assert peak < 200 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_a_cache_row_of_the_wrong_length_is_never_used(tmp_path, registry):
    cache = EmbeddingCache(tmp_path)
    encoder = registry.cached_encoder("all-MiniLM-L6-v2", device="cpu", cache=cache, progress=False)
    texts = ["my card was stolen", "how do I top up"]
    expected = encoder.encode(texts)
    # Damage one row so that its CRC still matches: a valid-looking vector of another length.
    blob = np.arange(5, dtype=np.float32).tobytes()
    db = sqlite3.connect(tmp_path / "embeddings.sqlite3")
    db.execute("UPDATE embeddings SET vector = ?, checksum = ?", (blob, zlib.crc32(blob)))
    db.commit()
    db.close()
    fresh = registry.cached_encoder(
        "all-MiniLM-L6-v2", device="cpu", cache=EmbeddingCache(tmp_path), progress=False
    )
    np.testing.assert_allclose(fresh.encode(texts), expected, atol=1e-6)
    assert fresh.encoded == 2 and fresh.reused == 0


@pytest.mark.integration
def test_a_model_adapted_with_a_local_encoder_carries_it(tmp_path):
    """The encoder travels inside the model: delete the original and the model still loads."""
    from fewshot.encoding.encoders import default_model_path

    encoder = tmp_path / "my-encoder"
    shutil.copytree(default_model_path(), encoder)
    model = tmp_path / "model"
    result = run_fewshot(
        "adapt", "--train", "banking77:train_5", "--learner", "logreg", "--encoder",
        str(encoder), "--out", str(model),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    first = run_fewshot("predict", str(model), "banking77:test", "--out", str(tmp_path / "a.jsonl"))
    shutil.rmtree(encoder)
    moved = tmp_path / "elsewhere" / "model"
    shutil.move(model, moved)
    second = run_fewshot(
        "predict", str(moved), "banking77:test", "--out", str(tmp_path / "b.jsonl")
    )
    assert first.returncode == second.returncode == 0, second.stderr
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    config = json.loads((moved / "fewshot.json").read_text())
    assert config["encoder"]["directory"] == "encoder" and str(tmp_path) not in json.dumps(config)
