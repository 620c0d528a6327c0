"""Writes the file system refuses: a file-size limit (``ulimit -f``, a real EFBIG from the kernel)
and a full disk (``/dev/full``, a real ENOSPC). Each ends in one line naming the file, exit 2,
and whatever was there before is as it was: a model, a predictions file, a run's journal."""

import errno
import hashlib
import json
import os
import resource
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from fewshot.util.files import building, write_atomic, write_new
from tests.conftest import run_fewshot

LIMIT_BYTES = 64 * 1024  # below a logreg model's state (about 120 KB), above its card


def run_limited(*args: str, cwd: Path, limit: int = LIMIT_BYTES) -> subprocess.CompletedProcess:
    """``fewshot ARGS`` in a process whose files may not grow past ``limit`` bytes (``ulimit -f``)."""

    def set_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return subprocess.run(
        # the shared embedding cache is larger than the limit: not used (cache: its own test)
        [sys.executable, "-m", "fewshot", *args, *(["--no-cache"] if args[0] != "export" else [])],
        capture_output=True,
        text=True,
        cwd=cwd,
        preexec_fn=set_limit,
        timeout=600,
        env=dict(os.environ, COLUMNS="200"),
    )


def contents(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) with the SHA-256 of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


ADAPT = ["adapt", "--train", "banking77:train_5", "--learner", "logreg"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("refused")
    assert run_fewshot(*ADAPT, "--out", str(root / "model")).returncode == 0
    return root / "model"


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if not line.startswith("fewshot: warn")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return errors[0]


@pytest.mark.integration
def test_adapt_past_a_file_size_limit_keeps_the_old_model(model, tmp_path):
    before = contents(model.parent)
    line = one_line(run_limited(*ADAPT, "--out", str(model), cwd=tmp_path))
    assert (
        line == f"fewshot: error: {model}/state.safetensors: File too large; {model} is as it was"
    )
    assert contents(model.parent) == before  # the model, and no half-built copy beside it
    fresh = one_line(run_limited(*ADAPT, "--out", "new-model", cwd=tmp_path))
    assert fresh.endswith("new-model/state.safetensors: File too large; new-model was not written")
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".fewshot-lock")] == []


@pytest.mark.integration
@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_predict_past_a_file_size_limit_keeps_the_old_output(model, tmp_path, suffix):
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"how do I top up my card, number {i}\n" for i in range(3000)))
    out = tmp_path / f"predictions.{suffix}"
    out.write_text("the earlier predictions\n")
    line = one_line(run_limited("predict", str(model), str(texts), "--out", str(out), cwd=tmp_path))
    assert line == f"fewshot: error: {out}: File too large; {out} is as it was"
    assert out.read_text() == "the earlier predictions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name, "texts.txt"]  # no temporary


@pytest.mark.integration
@pytest.mark.onnx
def test_export_past_a_file_size_limit_keeps_the_model(model, tmp_path):
    before = contents(model.parent)
    limit = 20 * 1024 * 1024  # the fp32 encoder graph is about 90 MB
    line = one_line(run_limited("export", str(model), "--onnx", cwd=tmp_path, limit=limit))
    assert line == f"fewshot: error: {model}: File too large; {model} is as it was"
    assert contents(model.parent) == before


@pytest.mark.integration
def test_a_journal_past_a_file_size_limit_resumes_and_an_overwrite_is_dropped(tmp_path):
    bench = ["bench", "--dataset", "banking77:test", "--learner", "protonet", "--shots", "1"]
    bench += ["--episodes", "300", "--no-progress"]
    out = tmp_path / "run"
    line = one_line(run_limited(*bench, "--out", str(out), cwd=tmp_path))
    assert line == (
        f"fewshot: error: {out}/episodes.jsonl: File too large; the episodes journalled so far "
        "are kept: make room, then continue with --resume"
    )
    resumed = run_fewshot(*bench, "--resume", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed: " in resumed.stderr and not resumed.stderr.startswith("resumed: 0 ")
    # An --overwrite that runs out of room drops its replacement; the finished run stays.
    finished = contents(out)
    line = one_line(
        run_limited(*bench, "--seed", "1", "--overwrite", "--out", str(out), cwd=tmp_path)
    )
    assert line == (
        f"fewshot: error: {out}: File too large; the earlier run there is unchanged (the "
        "replacement was dropped)"
    )
    assert contents(out) == finished and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_full_disk_names_the_file_and_removes_the_half_built_copy(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(OSError) as caught, building(target, "partial") as staging:
        (staging / "state.safetensors").symlink_to("/dev/full")  # writes get ENOSPC
        write_new(staging / "state.safetensors", b"weights")
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(target / "state.safetensors")
    assert caught.value.strerror == f"No space left on device; {target} was not written"
    assert list(tmp_path.iterdir()) == []


def test_building_lets_other_errors_through_unchanged(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    with pytest.raises(FileNotFoundError), building(target, "partial"):
        (tmp_path / "an input that is not there").read_text()  # the caller's own error
    with pytest.raises(ValueError, match="a bug"), building(target, "partial"):
        raise ValueError("a bug")
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_an_atomic_write_that_is_refused_names_the_file_and_keeps_it(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("[]")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # in a child: the limit must not bind this test process
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))
        try:
            write_atomic(path, "x" * 4096)
        except OSError as exc:
            os.write(write, f"{exc.filename}|{exc.strerror}".encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    said = os.read(read, 4096).decode()
    os.close(read)
    assert said == f"{path}|File too large; {path} is as it was"
    assert path.read_text() == "[]" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_cache_that_cannot_grow_warns_once_and_the_command_goes_on(tmp_path):
    from fewshot.encoding.cache import EmbeddingCache

    EmbeddingCache(tmp_path).put_many("encoder", [(b"kept", np.ones(8, dtype=np.float32))])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # in a child: the limit must not bind this test process
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cache = EmbeddingCache(tmp_path)
            rows = [(f"{i}".encode(), np.ones(384, dtype=np.float32)) for i in range(500)]
            for start in range(0, 500, 100):  # five writes refused, one warning
                cache.put_many("encoder", rows[start : start + 100])
            found = cache.get_many("encoder", [b"kept"])
        said = json.dumps([len(found), [str(w.message) for w in caught]])
        os.write(write, said.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    found, messages = json.loads(os.read(read, 65536).decode())
    os.close(read)
    assert len(messages) == 1 and "cannot add to it" in messages[0], messages
    assert "going on without it for this run" in messages[0]
    assert found == 0  # not used any more: the encoder computes what it would have read


def test_the_clean_exits_rows_name_tests_that_exist():
    """Each row of the docs' 'Clean exits' table names the test that checks it."""
    import re

    from tests.conftest import ROOT

    page = (ROOT / "docs" / "reference" / "input-rules.md").read_text()
    table = page[page.index("## Clean exits") :]
    named = re.findall(r"\| `(test_\w+)` \|", table)
    sources = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    assert len(named) == table.count("\n| ") - 1 >= 12  # every row but the header names one
    for name in named:
        assert f"def {name}(" in sources, name
