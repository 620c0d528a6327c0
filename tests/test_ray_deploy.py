"""A model on Ray: batch prediction on Ray Data (``fewshot predict --ray``) and the HTTP app as a
Ray Serve deployment (``fewshot serve --ray``), against a real Ray head started on loopback,
compared with the single process's answers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fewshot.cli import main
from tests.conftest import bundled_rows, run_fewshot

pytestmark = [pytest.mark.ray, pytest.mark.parquet, pytest.mark.integration]

RAY_ENV = {"RAY_AUTH_MODE": "disabled"}  # the loopback test cluster runs without tokens


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head on loopback with two CPUs, as a small cluster would be (stopped after)."""
    port = 6481
    env = dict(os.environ, **RAY_ENV)
    ray = shutil.which("ray", path=os.path.dirname(sys.executable))
    start = subprocess.run(
        [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert start.returncode == 0, start.stderr
    yield f"127.0.0.1:{port}"
    subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """An fp32 logreg model of banking77 (no ONNX bundle: the torch path, exact to compare)."""
    directory = tmp_path_factory.mktemp("ray") / "logreg"
    argv = ["adapt", "--train", "banking77:train_5", "--learner", "logreg", "--out"]
    assert main([*argv, str(directory)]) == 0
    return directory


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    """400 banking77 test texts with ids and labels: one JSONL file, and the same rows as a
    folder of three shards."""
    rows = [
        {"id": f"t{i}", "text": r["text"], "label": r["label"]}
        for i, r in enumerate(bundled_rows("banking77", "test")[:400])
    ]
    root = tmp_path_factory.mktemp("inputs")
    whole = root / "all.jsonl"
    whole.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    shards = root / "shards"
    shards.mkdir()
    for n, (start, end) in enumerate(((0, 150), (150, 151), (151, 400))):
        lines = "".join(json.dumps(r) + "\n" for r in rows[start:end])
        (shards / f"part-{n}.jsonl").write_text(lines, encoding="utf-8")
    return whole, shards


def shard_rows(out: Path) -> list[dict]:
    """The prediction rows of a prediction folder, in its manifest's order."""
    import pyarrow.parquet as pq

    manifest = json.loads((out / "manifest.json").read_text())
    rows = []
    for shard in manifest["shards"]:
        path = out / shard["file"]
        if manifest["format"] == "parquet":
            found = pq.read_table(path).to_pylist()
        else:
            found = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(found) == shard["rows"]
        rows += found
    assert len(rows) == manifest["rows"]
    return rows


def test_ray_data_predicts_what_one_process_predicts(ray_head, model, inputs, tmp_path):
    whole, shards = inputs
    single = tmp_path / "single.jsonl"
    done = run_fewshot("predict", str(model), str(whole), "--out", str(single))
    assert done.returncode == 0, done.stderr
    expected = [json.loads(line) for line in single.read_text().splitlines()]
    for fmt in ("parquet", "jsonl"):
        out = tmp_path / f"ray-{fmt}"
        done = run_fewshot(
            "predict", str(model), str(shards), "--out", str(out), "--ray", ray_head,
            "--workers", "2", "--shard-format", fmt, env=RAY_ENV, process=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert f"400 predictions written to {out}" in done.stderr
        rows = shard_rows(out)
        # ids pass through, in the input's order; the same labels (fp32), the same columns
        assert [(r["id"], r["label"], r["gold_label"]) for r in rows] == [
            (r["id"], r["label"], r["gold_label"]) for r in expected
        ]
        assert all(list(r) == list(e) for r, e in zip(rows, expected, strict=True))
        gaps = [
            abs(r["probability"] - e["probability"]) for r, e in zip(rows, expected, strict=True)
        ]
        assert max(gaps) < 1e-5
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["kind"] == "fewshot predictions" and manifest["ray"]["workers"] == 2
        assert len(manifest["input"]) == 3 and manifest["format"] == fmt
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ray-jsonl",
        "ray-parquet",
        "single.jsonl",
    ]  # fmt: skip  (no staging folder left)


def test_ray_data_refuses_what_it_does_not_own_and_bad_rows(ray_head, model, inputs, tmp_path):
    whole, _ = inputs
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine", encoding="utf-8")
    done = run_fewshot(
        "predict", str(model), str(whole), "--out", str(theirs), "--ray", ray_head, env=RAY_ENV
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith("with --ray, --out names a new folder")
    assert [p.name for p in theirs.iterdir()] == ["notes.txt"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "my card"}\n{"id": "b", "text": "  "}\n', encoding="utf-8")
    out = tmp_path / "out"
    done = run_fewshot(
        "predict", str(model), str(bad), "--out", str(out), "--ray", ray_head,
        env=RAY_ENV, process=True,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "empty or non-string text '  '" in done.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "theirs"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.serve
def test_ray_serve_answers_as_one_process_with_two_replicas(ray_head, model):
    import time
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from fewshot.deploy.predictor import load_predictor

    texts = [r["text"] for r in bundled_rows("banking77", "test")[:24]]
    expected = load_predictor(str(model), cache=False).predict(texts)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fewshot", "serve", str(model), "--ray", ray_head,
         "--replicas", "2", "--port", str(port), "--batch-wait-ms", "20"],
        env=dict(os.environ, **RAY_ENV), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "Ray Serve did not answer in 180 s"
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)

        def ask(i: int) -> tuple[str, int]:
            answer = httpx.post(f"{url}/predict", json={"texts": [texts[i]]}, timeout=60)
            assert answer.status_code == 200, answer.text
            return answer.json()["predictions"][0]["label"], httpx.get(f"{url}/health").json()

        with ThreadPoolExecutor(8) as pool:  # concurrent single-text requests
            answers = list(pool.map(ask, range(len(texts))))
        assert [label for label, _ in answers] == list(expected)
        healths = [health for _, health in answers]
        assert len({h["pid"] for h in healths}) == 2  # both replicas answered
        assert sum(h["batched_texts"] for h in {h["pid"]: h for h in healths}.values()) <= 24
        bad = httpx.post(f"{url}/predict", json={"texts": [""]})
        assert bad.status_code == 422 and "at least 1 character" in bad.text  # the same app
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"].startswith("fewshot")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
