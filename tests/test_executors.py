"""Executors: the same numbers in this process, in local worker processes and on Ray; workers
that are killed cost at most their unit; Ctrl-C or SIGTERM leaves a resumable journal, and no
worker outlives its driver, even one killed outright; no worker runs more
compute threads than its share of the cores. Everything real: spawned processes, a real Ray
instance (`ray start --head` on loopback, and `--ray local`), SIGKILL, SIGINT and SIGTERM."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fewshot.evaluation.journal import JOURNAL
from tests.conftest import run_fewshot

# Worker processes, Ray clusters and signals: integration tests.
pytestmark = pytest.mark.integration

TIMING = {"fit_seconds", "predict_seconds", "meta_train_seconds"}
# The issue's command.
ISSUE = ["bench", "--dataset", "clinc150:test", "--learner", "protonet", "--learner", "logreg"]
ISSUE += ["--shots", "1,5", "--episodes", "200", "--seed", "0"]
# A slow, deterministic probe learner, so that a run can be caught mid-way.
SLOW = ["bench", "--dataset", "banking77:test", "--learner", "probe:sleep=0.05", "--shots", "1"]
SLOW += ["--episodes", "120", "--no-progress"]
RAY_ENV = {"RAY_AUTH_MODE": "disabled"}  # the loopback test cluster runs without tokens


def results(out: Path):
    records = [
        {k: v for k, v in r.items() if k not in TIMING}
        for r in json.loads((out / "results.json").read_text())
    ]
    return records, json.loads((out / "comparisons.json").read_text())


def journal_lines(out: Path) -> int:
    path = out / JOURNAL
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def worker_processes(pid: int) -> list[int]:
    """The worker processes of a fewshot run (not multiprocessing's resource tracker)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    found = []
    for child in path.read_text().split() if path.exists() else []:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            found.append(int(child))
    return found


@pytest.fixture(scope="module")
def issue_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("executors") / "in-process"
    result = run_fewshot(*ISSUE, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_two_worker_processes_give_identical_results(issue_run, tmp_path):
    result = run_fewshot(*ISSUE, "--workers", "2", "--out", str(tmp_path / "w2"))
    assert result.returncode == 0, result.stderr
    assert results(tmp_path / "w2") == results(issue_run)
    run = json.loads((tmp_path / "w2" / "run.json").read_text())
    assert run["executor"] == {
        "kind": "processes",
        "workers": 2,
        "threads": max(1, os.cpu_count() // 2),
    }
    # The executor is not part of what the run computes: --resume across executors is allowed.
    assert run["fingerprint"] == json.loads((issue_run / "run.json").read_text())["fingerprint"]


def test_workers_get_their_share_of_the_cores(plugin_site, tmp_path):
    share = max(1, os.cpu_count() // 2)
    probe = ["bench", "--dataset", "banking77:test", "--shots", "1", "--episodes", "4"]
    ok = run_fewshot(
        *probe, "--learner", f"probe:expect_threads={share}", "--workers", "2",
        "--out", str(tmp_path / "shared"), pythonpath=plugin_site,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr + ok.stdout
    # The probe does fail where the threads are not what it expects (so the check above bites).
    wrong = run_fewshot(
        *probe, "--learner", f"probe:expect_threads={share + 7}", "--workers", "2",
        "--out", str(tmp_path / "wrong"), pythonpath=plugin_site,
    )  # fmt: skip
    [record] = json.loads((tmp_path / "wrong" / "results.json").read_text())
    assert wrong.returncode == 1 and "threads, found" in record["error"]


def slow_run_in_workers(out: Path, plugin_site: Path) -> subprocess.Popen:
    """The slow probe run with two workers, returned once it has journalled 20 episodes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fewshot", *SLOW, "--workers", "2", "--out", str(out)],
        env=dict(os.environ, PYTHONPATH=str(plugin_site)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while journal_lines(out) < 20 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return process


def test_a_killed_worker_costs_at_most_its_unit(plugin_site, tmp_path):
    full = run_fewshot(*SLOW, "--out", str(tmp_path / "full"), pythonpath=plugin_site)
    assert full.returncode == 0, full.stderr
    out = tmp_path / "killed"
    process = slow_run_in_workers(out, plugin_site)
    workers = worker_processes(process.pid)
    assert len(workers) == 2 and journal_lines(out) < 120, "the run was not caught mid-way"
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert results(out) == results(tmp_path / "full")  # the lost unit was run again


def alive(pids: list[int], seconds: float) -> list[int]:
    """Those of ``pids`` still running after up to ``seconds`` (zombies count as gone)."""
    deadline = time.monotonic() + seconds
    while True:
        running = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                running.append(pid)
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_the_workers_and_leaves_a_resumable_journal(
    plugin_site, tmp_path, stop
):
    out = tmp_path / "interrupted"
    process = slow_run_in_workers(out, plugin_site)
    workers = worker_processes(process.pid)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + stop, stderr  # 130 or 143, as a shell reports them
    said = [line for line in stderr.splitlines() if not line.startswith("fewshot: warning: plugin")]
    assert len(said) == 1 and "continue with --resume" in said[0], stderr  # no traceback
    assert not alive(workers, 0.5), "workers outlived the driver's stop"
    done = journal_lines(out)
    assert 20 <= done < 120
    resumed = run_fewshot(*SLOW, "--workers", "2", "--resume", "--out", str(out), pythonpath=plugin_site)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed: {done} episodes taken from the journal" in resumed.stderr
    full = run_fewshot(*SLOW, "--out", str(tmp_path / "full"), pythonpath=plugin_site)
    assert full.returncode == 0 and results(out) == results(tmp_path / "full")


def test_workers_die_with_a_driver_killed_outright(plugin_site, tmp_path):
    # Episodes of 10 s: a worker that only noticed its driver's death at its next send would
    # live on for seconds; the kernel stops it at once.
    out = tmp_path / "killed-driver"
    slow = [*SLOW[:4], "probe:sleep=10", *SLOW[5:7], "--episodes", "6", "--no-progress"]
    process = subprocess.Popen(
        [sys.executable, "-m", "fewshot", *slow, "--workers", "2", "--out", str(out)],
        env=dict(os.environ, PYTHONPATH=str(plugin_site)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while journal_lines(out) < 1 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = worker_processes(process.pid)
    assert len(workers) == 2 and journal_lines(out) < 6, "the run was not caught mid-way"
    shared = list(Path(tempfile.gettempdir()).glob(f"fewshot-shared-{process.pid}-*"))
    assert len(shared) == 1  # the embeddings the workers memory-map
    process.kill()  # SIGKILL: the driver cleans up nothing
    process.wait(timeout=60)
    assert not alive(workers, 3), "workers outlived their driver"
    # the next run with workers removes the dead driver's folder
    again = run_fewshot(*SLOW[:4], "probe", *SLOW[5:7], "--episodes", "2", "--workers", "2",
                        "--out", str(tmp_path / "next"), pythonpath=plugin_site)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert not shared[0].exists()


def test_ray_is_an_optional_extra(tmp_path):
    code = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def no_ray(name, *a, **k):\n"
        "    if name == 'ray' or name.startswith('ray.'): raise ImportError(name)\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = no_ray\n"
        "from fewshot.cli import main\n"
        f"sys.exit(main({[*ISSUE[:5], '--episodes', '3', '--ray', 'local', '--out', str(tmp_path / 'o')]!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "--ray needs Ray, which is not installed: pip install 'fewshot[ray]'" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.ray
def test_nothing_of_ray_outlives_a_ray_local_driver_killed_outright(plugin_site, tmp_path):
    import psutil

    out = tmp_path / "ray-killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "fewshot", *SLOW, "--ray", "local", "--out", str(out)],
        env=dict(os.environ, PYTHONPATH=str(plugin_site), **RAY_ENV),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while journal_lines(out) < 5 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    started = psutil.Process(process.pid).children(recursive=True)
    names = " ".join(" ".join(p.cmdline()) for p in started)
    assert "raylet" in names and "ray::" in names, names  # Ray's servers, agents and workers
    process.kill()  # SIGKILL: the driver cleans up nothing
    process.wait(timeout=60)
    left = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    deadline = time.monotonic() + 5
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, [" ".join(p.cmdline()) for p in left]


@pytest.mark.ray
def test_a_dead_ray_address_is_one_line_not_a_hang(tmp_path):
    result = run_fewshot(
        *ISSUE[:5], "--ray", "127.0.0.1:9", "--out", str(tmp_path / "o"), process=True
    )
    assert result.returncode == 2, result.stderr
    assert "error: --ray 127.0.0.1:9: nothing answers at 127.0.0.1:9" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.ray
def test_ray_local_gives_identical_results(issue_run, tmp_path):
    # `local` starts a Ray of its own: it never joins the cluster that RAY_ADDRESS (or the last
    # `ray start` on this machine) names, here a dead one that would hang the run.
    dead = {"RAY_ADDRESS": "127.0.0.1:9"}
    result = run_fewshot(
        *ISSUE, "--ray", "local", "--out", str(tmp_path / "ray"), env=dead, process=True
    )
    assert result.returncode == 0, result.stderr
    assert results(tmp_path / "ray") == results(issue_run)
    assert json.loads((tmp_path / "ray" / "run.json").read_text())["executor"]["kind"] == "ray"


@pytest.fixture(scope="module")
def ray_cluster(plugin_site):
    """A real Ray head on loopback, as a lab's cluster would be (stopped afterwards); its
    workers have the test plugins installed, as a cluster's nodes must."""
    port = 6479
    env = dict(os.environ, PYTHONPATH=str(plugin_site), **RAY_ENV)
    ray = shutil.which("ray", path=os.path.dirname(sys.executable))
    start = subprocess.run(
        [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert start.returncode == 0, start.stderr
    yield f"127.0.0.1:{port}"
    subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.mark.ray
def test_a_running_ray_cluster_and_a_killed_ray_worker(ray_cluster, plugin_site, tmp_path):
    full = run_fewshot(*SLOW, "--out", str(tmp_path / "full"), pythonpath=plugin_site)
    assert full.returncode == 0, full.stderr
    out = tmp_path / "ray"
    env = dict(os.environ, PYTHONPATH=str(plugin_site), **RAY_ENV)
    process = subprocess.Popen(
        [sys.executable, "-m", "fewshot", *SLOW, "--ray", ray_cluster, "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def running_tasks() -> list[int]:
        """Ray worker processes running a fewshot unit right now (Ray sets their title)."""
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and b"ray::_run_unit" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    deadline = time.monotonic() + 180
    while not running_tasks() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    tasks = running_tasks()
    assert tasks, "no Ray task was caught running"
    os.kill(tasks[0], signal.SIGKILL)  # Ray retries its task once
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert results(out) == results(tmp_path / "full")
    assert json.loads((out / "run.json").read_text())["executor"]["address"] == ray_cluster


def test_every_protocol_gives_identical_results_in_workers(tmp_path):
    """Episodes with meta-training, full-way, cross-domain, and a learner that fails on some
    settings: the same records (errors included) in this process and in two workers."""
    suites = {
        "meta.toml": 'learners = ["logreg", "source-only",'
        ' {name = "protonet", meta_steps = 20, validate_every = 10}]\n'
        '[[episodes]]\ndataset = "clinc150:test"\nways = 5\nshots = 1\nepisodes = 12\n'
        "split = { base = 0.5, validation = 0.25 }\n",
        "other.toml": 'learners = ["logreg", "source-only"]\n'
        '[[full_way]]\ntrain = "banking77:train_5"\ntest = "banking77:test"\n'
        '[[cross_domain]]\nsource = "amazon_reviews:books"\ntarget = "amazon_reviews:kitchen"\n'
        "shots = [0, 8]\nseeds = 3\n",
    }
    status = {}
    for name, body in suites.items():
        suite = tmp_path / name
        suite.write_text(body)
        runs = []
        for executor in ([], ["--workers", "2"]):
            out = tmp_path / f"{name}-{len(executor)}"
            result = run_fewshot("bench", str(suite), *executor, "--out", str(out))
            assert result.returncode == 1, result.stderr  # a learner that does not fit a setting
            runs.append(results(out))
        assert runs[0] == runs[1]
        for r in runs[0][0]:
            status[(r["protocol"], r["shots"], r["learner"].split("(")[0])] = r["status"]
    assert status[("episodes", 1, "protonet")] == status[("episodes", 1, "logreg")] == "ok"
    assert status[("episodes", 1, "source-only")] == "failed"  # it needs a source domain
    assert status[("full-way", 5, "logreg")] == status[("cross-domain", 0, "source-only")] == "ok"
    assert status[("full-way", 5, "source-only")] == "failed"
    assert status[("cross-domain", 0, "logreg")] == "failed"  # no target labels at K = 0
