"""Model directories under concurrency (issue 27): one writer at a time, nothing written inside
one, and loading uses the very bytes it verified.

Real processes hold the real lock; the model is the one fewshot 0.1 saved (tests/fixtures)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fewshot.models.directory import (
    MAX_CONFIG_BYTES,
    ModelError,
    check_weights,
    read_config,
    verify,
)
from fewshot.models.saving import lock_file, writer_lock
from tests.conftest import FIXTURES, run_fewshot

BUSY = "another fewshot command is writing this model directory"
INSIDE = "is inside the model directory"

#: Holds a model directory's writer lock until its standard input closes.
HOLD = """
import sys
from fewshot.models.saving import writer_lock
with writer_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def model(tmp_path) -> Path:
    directory = tmp_path / "models" / "M"
    shutil.copytree(FIXTURES / "model-0.1" / "logreg", directory)
    return directory


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*")
            if p.is_file()}  # fmt: skip


class Holder:
    """Another process holding ``directory``'s writer lock, as a running adapt or export does."""

    def __init__(self, directory: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.process.stdin.close()
        assert self.process.wait(timeout=60) == 0


def refused(result, message: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    return lines[0]


def test_a_second_writer_is_refused_at_once_and_the_model_is_untouched(model):
    before = snapshot(model)
    holder = Holder(model)
    try:
        adapt = ("adapt", "--train", "banking77:train_5", "--learner", "logreg", "--out")
        line = refused(run_fewshot(*adapt, str(model)), BUSY)
        assert str(lock_file(model)) in line
        # the same directory by another spelling is the same lock
        refused(run_fewshot(*adapt, str(model.parent / "." / "M") + "/"), BUSY)
        refused(run_fewshot("export", str(model), "--onnx"), BUSY)
        with pytest.raises(ModelError, match=BUSY), writer_lock(model):
            pass
    finally:
        holder.release()
    assert snapshot(model) == before
    verify(model, read_config(model))
    # the lock lives beside the model, never in it, and is free again
    assert lock_file(model).parent == model.parent
    with writer_lock(model), writer_lock(model):  # re-entrant: adapt holds it, then saves
        pass
    Holder(model).release()


def test_outputs_inside_a_model_directory_are_refused_and_it_still_loads(model, tmp_path):
    before = snapshot(model)
    texts = tmp_path / "texts.txt"
    texts.write_text("I lost my card\n")
    cases = [
        ("predict", str(model), str(texts), "--out", str(model / "preds.jsonl")),
        ("predict", str(model), str(texts), "--out", "-", "--cache-dir", str(model / "cache")),
        ("export", str(model), "--onnx", "--out", str(model / "sub")),
        ("adapt", "--train", "banking77:train_5", "--learner", "logreg",
         "--out", str(model / "inner")),
        ("adapt", "--train", "banking77:train_5", "--learner", "logreg",
         "--out", str(model / "encoder" / "deeper")),
        ("bench", "--train", "banking77:train_5", "--test", "banking77:test",
         "--learner", "logreg", "--out", str(model / "run")),
    ]  # fmt: skip
    for argv in cases:
        line = refused(run_fewshot(*argv), INSIDE)
        assert str(model) in line, line
        assert snapshot(model) == before, argv
    verify(model, read_config(model))
    assert not [p for p in model.parent.iterdir() if p.name != "M"]  # not even a lock file


@pytest.mark.onnx
@pytest.mark.integration
def test_adapt_while_export_runs_is_refused_and_the_export_lands(model, tmp_path):
    """The issue's lost update: `export M --onnx &`, then `adapt --out M` while it runs."""
    export = subprocess.Popen(
        [sys.executable, "-m", "fewshot", "export", str(model), "--onnx"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        # the export is under way once its copy of the model appears beside it
        while not list(model.parent.glob(".M.export-*")):
            assert export.poll() is None, export.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        adapt = run_fewshot(
            "adapt", "--train", "banking77:train_5", "--learner", "protonet", "--out", str(model)
        )
        refused(adapt, BUSY)
    finally:
        _, stderr = export.communicate(timeout=600)
    assert export.returncode == 0, stderr
    config = read_config(model)
    verify(model, config)
    assert config["learner"] == "logreg" and "onnx" in config
    # and once the export is done, adapt may replace the model
    adapt = run_fewshot(
        "adapt", "--train", "banking77:train_5", "--learner", "protonet", "--out", str(model)
    )
    assert adapt.returncode == 0, adapt.stderr
    assert read_config(model)["learner"] == "protonet"


@contextlib.contextmanager
def swapping(path: Path, good: bytes, bad: bytes, staging: Path):
    """While inside, another thread replaces ``path`` with ``bad`` and ``good`` in turn, each
    whole (written in ``staging``, on the same file system, then renamed over it)."""
    stop = threading.Event()

    def swap():
        turn = 0
        while not stop.is_set():
            staged = staging / f".swap-{turn % 2}"
            staged.write_bytes(bad if turn % 2 else good)
            os.replace(staged, path)  # readers see one file or the other, whole
            turn += 1

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        yield
    finally:
        stop.set()
        swapper.join()


def test_a_state_replaced_while_loading_is_refused_never_used(model):
    """Another state file is swapped in and out while the model loads: each load uses the
    weights it verified, or refuses; it never uses weights that do not match the checksum."""
    from safetensors.numpy import load_file, save_file

    state = model / "state.safetensors"
    good = state.read_bytes()
    arrays = load_file(str(state))
    from safetensors import safe_open

    with safe_open(str(state), framework="numpy") as handle:
        metadata = handle.metadata()
    other = model.parent / "other.safetensors"
    save_file(
        {k: -v if v.dtype.kind == "f" else v for k, v in arrays.items()}, str(other), metadata
    )
    bad = other.read_bytes()
    used = refused = 0
    with swapping(state, good, bad, staging=model.parent):  # outside the model
        for _ in range(200):
            config = read_config(model)
            try:
                verify(model, config)
                loaded = check_weights(model, config)
            except ModelError as exc:
                assert "does not match the checksum" in str(exc), exc
                refused += 1
                continue
            for key, value in arrays.items():
                np.testing.assert_array_equal(loaded[key], value)
            used += 1
    assert used + refused == 200


def test_a_huge_configuration_is_refused_before_it_is_read(model):
    config = model / "fewshot.json"
    text = config.read_text()
    config.write_text(text[:-2] + " " * MAX_CONFIG_BYTES + text[-2:])  # still valid JSON
    with pytest.raises(ModelError, match=r"fewshot.json: larger than 16 MiB"):
        read_config(model)
    result = run_fewshot("predict", str(model), "-", "--out", "-")
    refused(result, "larger than 16 MiB, the most a model configuration holds")


def test_an_encoder_file_replaced_while_loading_is_refused_never_used(tmp_path):
    """What an encoder's loader reads (sentence-transformers takes a path) is a private copy
    written from the bytes that were checked: a file swapped in and out meanwhile is refused or
    not seen, never loaded."""
    import hashlib
    import tempfile

    from fewshot.models.directory import verified_copy

    model = tmp_path / "model"
    (model / "encoder").mkdir(parents=True)
    good, bad = b'{"hidden_size": 384}', b'{"hidden_size": 385}'
    target = model / "encoder" / "config.json"
    target.write_bytes(good)
    config = {"files": {"encoder/config.json": hashlib.sha256(good).hexdigest()}}
    used = refused = 0
    with swapping(target, good, bad, staging=model):
        for _ in range(200):
            try:
                with verified_copy(model, config, "encoder") as copy:
                    assert (copy / "config.json").read_bytes() == good
                    time.sleep(0.0005)  # a loader taking its time: the copy does not change
                    assert (copy / "config.json").read_bytes() == good
                    used += 1
            except ModelError as exc:
                assert "does not match the checksum" in str(exc), exc
                refused += 1
    assert used + refused == 200
    leftovers = list(Path(tempfile.gettempdir()).glob("fewshot-verified-*/config.json"))
    assert not [p for p in leftovers if p.read_bytes() in (good, bad)], "a private copy was left"
