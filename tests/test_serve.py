"""``fewshot serve``: a real uvicorn server on loopback, real HTTP requests (bounded in count)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from fewshot.cli import main
from tests.conftest import run_fewshot

pytestmark = [pytest.mark.serve, pytest.mark.onnx, pytest.mark.integration]

TEXTS = ["I lost my card", "what is the exchange rate?", "my top-up failed", "card not arrived yet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("serve") / "logreg"
    assert (
        main(
            [
                "adapt",
                "--train",
                "banking77:train_5",
                "--learner",
                "logreg",
                "--out",
                str(directory),
            ]
        )
        == 0
    )
    result = run_fewshot("export", str(directory), "--onnx")
    assert result.returncode == 0, result.stderr
    return directory


def _start(model, *extra: str):
    """``fewshot serve MODEL`` on a free loopback port, once /health answers: (url, process)."""
    import httpx

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fewshot", "serve", str(model), "--port", str(port),
         "--log-level", "warning", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
        assert process.poll() is None, process.stderr.read()
    return url, process


@pytest.fixture(scope="module")
def server(model):
    url, process = _start(model, "--max-texts", "8", "--body-timeout", "1")
    yield url, process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_endpoints_answer_as_predict_does(server, model, tmp_path):
    import httpx

    url, _ = server
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "ok" and health["labels"] == 77
    labels = httpx.get(f"{url}/labels").json()
    assert len(labels["labels"]) == 77 and labels["multi_label"] is False
    answer = httpx.post(f"{url}/predict", json={"texts": TEXTS, "top_k": 3}).json()["predictions"]
    (tmp_path / "texts.txt").write_text("\n".join(TEXTS) + "\n")
    assert (
        main(
            [
                "predict",
                str(model),
                str(tmp_path / "texts.txt"),
                "--out",
                str(tmp_path / "p.jsonl"),
                "--no-cache",
            ]
        )
        == 0
    )
    expected = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [a["label"] for a in answer] == [e["label"] for e in expected]
    assert all(len(a["top_k"]) == 3 and a["top_k"][0]["label"] == a["label"] for a in answer)
    assert [a["probability"] for a in answer] == pytest.approx(
        [e["probability"] for e in expected], abs=1e-6
    )
    spec = httpx.get(f"{url}/openapi.json").json()
    assert "/predict" in spec["paths"] and "/health" in spec["paths"]
    # the limits are in the schema, not only enforced
    fields = spec["components"]["schemas"]["PredictRequest"]["properties"]
    assert (fields["texts"]["minItems"], fields["texts"]["maxItems"]) == (1, 8)
    assert (fields["texts"]["items"]["minLength"], fields["texts"]["items"]["maxLength"]) == (
        1,
        10_000,
    )
    assert (fields["top_k"]["minimum"], fields["top_k"]["maximum"]) == (1, 1000)
    assert {"408", "411", "413", "422"} <= set(spec["paths"]["/predict"]["post"]["responses"])


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"not json", 422, "JSON decode error"),
        (b'{"texts": "one string"}', 422, "valid list"),
        (b'{"texts": []}', 422, "at least 1 item"),
        (b'{"texts": ["  "]}', 422, "texts[0] is empty"),
        (b'{"texts": ["ok", "\\u200b\\u0000\\u00ad"]}', 422, "texts[1] is empty (only invisible"),
        (b'{"texts": [3]}', 422, "valid string"),
        (b'{"texts": ["a"], "top_k": 0}', 422, "greater than or equal to 1"),
        (json.dumps({"texts": ["a"] * 9}).encode(), 413, "9 texts in one request; at most 8"),
        (json.dumps({"texts": ["a" * 10_001]}).encode(), 422, "at most 10000"),
        (b'{"texts": ["' + b"a" * 1_000_001 + b'"]}', 413, "over the limit of 1000000 bytes"),
        # values JSON cannot echo: once a 500 with a traceback
        (b'{"texts": ["a"], "top_k": NaN}', 422, "finite number"),
        (b'{"texts": ["a"], "top_k": 1e999}', 422, "finite number"),
        (b'{"texts": ["\\ud800 a lone surrogate"]}', 422, "unable to parse raw data as a unicode"),
        (b'{"texts": ["a"], "top_k": 1001}', 422, "less than or equal to 1000"),
        (b'{"texts": [""]}', 422, "at least 1 character"),
    ],
)
def test_bad_requests_get_clear_4xx_answers(server, body, status, message):
    import httpx

    url, _ = server
    response = httpx.post(
        f"{url}/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert message in json.dumps(response.json()["detail"])


def test_schemathesis_finds_no_failure_against_the_openapi_schema(server):
    """A bounded property-based run (schemathesis, fixed seed) of every endpoint: valid and
    invalid requests from /openapi.json, every check (no 5xx, answers as the schema says,
    invalid input refused, the limits in the schema kept)."""
    url, _ = server
    st = os.path.join(os.path.dirname(sys.executable), "st")
    config = os.path.join(os.path.dirname(__file__), "schemathesis.toml")
    # All checks but one: the texts' pattern (a visible character, no lone surrogate:
    # fewshot.data.blank.visible_pattern) is one schemathesis 4.32 drops when it generates
    # ("Dropped `^[^...` - generated values may not match it"), so its "valid" texts include
    # blank ones, which the schema excludes and the server refuses with 422.
    done = subprocess.run(
        [st, "--no-color", "--config-file", config, "run", f"{url}/openapi.json",
         "--checks", "all", "--exclude-checks", "positive_data_acceptance",
         "--max-examples", "40", "--generation-deterministic", "--request-timeout", "30"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failure" not in done.stdout, done.stdout[-2000:]


def test_health_answers_at_once_while_predict_is_busy(server):
    import httpx

    url, _ = server
    stop = time.monotonic() + 4

    def client(_: int) -> int:  # three times the threads of the server's pool (40)
        done = 0
        with httpx.Client(timeout=60) as session:
            while time.monotonic() < stop:
                assert session.post(f"{url}/predict", json={"texts": TEXTS * 2}).status_code == 200
                done += 1
        return done

    with ThreadPoolExecutor(128) as pool:
        busy = pool.map(client, range(128))
        time.sleep(1.5)  # the queue is full by now
        waits = []
        for _ in range(5):
            started = time.monotonic()
            assert httpx.get(f"{url}/health", timeout=30).status_code == 200
            waits.append(time.monotonic() - started)
        assert sum(busy) > 0
    # under 0.1 s here; it waited 0.5 s behind /predict with 64 clients, 1 s with 128 before
    assert max(waits) < 0.3, waits


def test_a_slow_body_is_answered_408_and_dropped(server):
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"texts": ['
        )  # and then nothing: a client that never finishes its body
        started = time.monotonic()
        answer = b""
        while chunk := raw.recv(4096):  # the server closes the connection after its answer
            answer += chunk
        answer = answer.decode()
        assert answer.startswith("HTTP/1.1 408") and "took over 1 s to arrive" in answer
        assert time.monotonic() - started < 5


@pytest.mark.browser
def test_the_docs_page_works_offline_and_asks_nothing_of_another_machine(server):
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import docs_module

    url, _ = server
    elsewhere = []
    with sync_playwright() as playwright:
        browser = docs_module("screenshot.py").launch_chromium(playwright)
        page = browser.new_page()

        def only_here(route):
            if route.request.url.startswith(url):
                route.continue_()
            else:  # a CDN: what /docs fetched Swagger UI from before
                elsewhere.append(route.request.url)
                route.abort()

        page.route("**/*", only_here)
        refused = []
        page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
        page.goto(f"{url}/docs")
        expect(page.locator(".opblock-summary-path", has_text="/predict")).to_be_visible()
        browser.close()
    assert elsewhere == [] and refused == []


def test_concurrent_clients_share_batches_and_get_the_answers_of_one(server):
    """16 clients, 320 requests of one or two texts: every one answered with its own rows, as
    if it were alone (fp32: equal labels, probabilities within the JSON's 6 decimals)."""
    import httpx

    url, _ = server
    alone = {t: httpx.post(f"{url}/predict", json={"texts": [t]}).json() for t in TEXTS}
    before = httpx.get(f"{url}/health").json()

    def client(i: int) -> list[bool]:
        ok = []
        with httpx.Client() as session:
            for j in range(20):
                texts = [TEXTS[(i + j) % 4], TEXTS[(i + 2 * j) % 4]][: 1 + (i + j) % 2]
                got = session.post(f"{url}/predict", json={"texts": texts}).json()["predictions"]
                want = [alone[t]["predictions"][0] for t in texts]
                ok.append(
                    [g["label"] for g in got] == [w["label"] for w in want]
                    and [g["probability"] for g in got]
                    == pytest.approx([w["probability"] for w in want], abs=2e-6)
                )
        return ok

    with ThreadPoolExecutor(16) as pool:
        results = [ok for oks in pool.map(client, range(16)) for ok in oks]
    assert len(results) == 320 and all(results)
    after = httpx.get(f"{url}/health").json()
    batches = after["batches"] - before["batches"]
    texts = after["batched_texts"] - before["batched_texts"]
    assert texts == 480 and batches < 320  # requests shared the model's batches


def test_overload_is_answered_503_with_retry_after_and_nothing_breaks(model):
    import httpx

    url, process = _start(model, "--max-queue", "16", "--max-texts", "8")
    try:

        def client(i: int) -> list[int]:
            codes = []
            with httpx.Client(timeout=60) as session:
                for _ in range(6):
                    answer = session.post(f"{url}/predict", json={"texts": TEXTS * 2})
                    if answer.status_code == 503:
                        assert answer.headers["retry-after"] == "1"
                        assert "try again shortly" in answer.json()["detail"]
                    else:
                        assert len(answer.json()["predictions"]) == 8
                    codes.append(answer.status_code)
            return codes

        import psutil

        server = psutil.Process(process.pid)
        client(0)  # warm: the first batches allocate what every later one reuses
        before = server.memory_info().rss
        with ThreadPoolExecutor(32) as pool:
            codes = [c for cs in pool.map(client, range(32)) for c in cs]
        assert set(codes) == {200, 503}, sorted(set(codes))
        assert httpx.get(f"{url}/health").json()["waiting_texts"] == 0
        grown = (server.memory_info().rss - before) / 2**20
        assert grown < 64, f"the server grew by {grown:.0f} MiB under overload"  # bounded
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0


def test_a_request_whose_client_has_gone_is_dropped_before_its_batch(model):
    import httpx

    url, process = _start(model, "--max-batch", "1")  # one request a batch: a long queue
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"texts": ["a text nobody waits for"]}).encode()
    try:
        before = httpx.get(f"{url}/health").json()["batched_texts"]
        with ThreadPoolExecutor(16) as pool:
            busy = [pool.submit(httpx.post, f"{url}/predict", json={"texts": TEXTS * 2},
                                timeout=60) for _ in range(32)]  # fmt: skip
            time.sleep(0.1)  # the queue is long by now
            with socket.create_connection((host, int(port))) as raw:  # sends, then leaves
                raw.sendall(
                    b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                    b"application/json\r\nContent-Length: " + str(len(body)).encode()
                    + b"\r\n\r\n" + body
                )  # fmt: skip
            assert all(f.result().status_code == 200 for f in busy)
        health = wait_for_idle(url)
        assert health["batched_texts"] - before == 32 * 8  # the one that left was not predicted
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0


def wait_for_idle(url: str) -> dict:
    import httpx

    for _ in range(100):
        health = httpx.get(f"{url}/health").json()
        if health["waiting_texts"] == 0:
            return health
        time.sleep(0.1)
    raise AssertionError(f"texts still waiting: {health}")


def test_sigterm_under_load_answers_every_request_in_flight_and_exits_0(model):
    import httpx

    url, process = _start(model, "--max-batch", "8")
    alone = httpx.post(f"{url}/predict", json={"texts": TEXTS * 2}).json()

    def client(_: int) -> list[str]:
        seen = []
        with httpx.Client(timeout=60) as session:
            for _ in range(40):
                try:
                    answer = session.post(f"{url}/predict", json={"texts": TEXTS * 2})
                except httpx.TransportError:  # after the stop: refused or closed, never wrong
                    seen.append("closed")
                    break
                if answer.status_code != 200:
                    seen.append(str(answer.status_code))
                elif [p["label"] for p in answer.json()["predictions"]] == [
                    p["label"] for p in alone["predictions"]
                ]:
                    seen.append("right")
                else:
                    seen.append("wrong")
        return seen

    with ThreadPoolExecutor(24) as pool:
        running = pool.map(client, range(24))
        time.sleep(1.0)  # under load by now
        process.send_signal(signal.SIGTERM)
        seen = [s for ss in running for s in ss]
    assert process.wait(timeout=60) == 0
    assert "right" in seen and set(seen) <= {"right", "closed", "503"}, sorted(set(seen))


def test_sigterm_stops_it_cleanly(server):
    import httpx

    url, process = server
    assert httpx.get(f"{url}/health").status_code == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert "Traceback" not in process.stderr.read()


def test_only_loopback_goes_without_an_access_token(monkeypatch):
    from fewshot.deploy.serve import access_token, is_loopback
    from fewshot.errors import ConfigError

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org"))
    assert access_token("127.0.0.1", {}) is None
    made = access_token("0.0.0.0", {})
    assert made and len(made) >= 32 and made != access_token("0.0.0.0", {})
    given = "a-token-long-enough-1234"
    assert access_token("127.0.0.1", {"FEWSHOT_SERVE_TOKEN": given}) == given
    with pytest.raises(ConfigError, match="FEWSHOT_SERVE_TOKEN must be at least 16 characters"):
        access_token("0.0.0.0", {"FEWSHOT_SERVE_TOKEN": "short"})


def test_a_server_with_a_token_refuses_requests_without_it(model):
    """On loopback here (tests bind nothing else), with the token given as a non-loopback
    server would need it: every request without it is refused, before its body is read."""
    import httpx

    token = "test-token-0123456789abcdef"
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fewshot", "serve", str(model), "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, FEWSHOT_SERVE_TOKEN=token),
    )  # fmt: skip
    url, good = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", headers=good).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
            assert process.poll() is None, process.stderr.read()
        body = {"texts": ["I lost my card"]}
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-0123456789"},
            {"Authorization": token},
        ):
            for answer in (httpx.get(f"{url}/labels", headers=headers),
                           httpx.post(f"{url}/predict", json=body, headers=headers)):  # fmt: skip
                assert answer.status_code == 401, answer.text
                assert "Authorization: Bearer TOKEN" in answer.json()["detail"]
                assert answer.headers["www-authenticate"] == "Bearer"
        answer = httpx.post(f"{url}/predict", json=body, headers=good)
        assert answer.status_code == 200 and answer.json()["predictions"][0]["label"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    stderr = process.stderr.read()
    assert "every request needs the header 'Authorization: Bearer TOKEN'" in stderr
    assert "the one in FEWSHOT_SERVE_TOKEN" in stderr and token not in stderr


def test_workers_share_the_port_and_one_killed_is_replaced_while_the_others_answer(model):
    import httpx

    url, process = _start(model, "--workers", "2")
    try:
        pids = wait_for_pids(url, 2)
        victim = pids.pop()
        os.kill(victim, signal.SIGKILL)  # a worker dies under load: the other answers
        with httpx.Client(timeout=30) as session:
            answers = [session.post(f"{url}/predict", json={"texts": TEXTS}) for _ in range(30)]
        assert all(a.status_code == 200 for a in answers)
        replaced = wait_for_pids(url, 2)
        assert victim not in replaced  # the supervisor started a new one
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0


def wait_for_pids(url: str, count: int, seconds: float = 60) -> set[int]:
    """The process ids answering /health, once ``count`` different ones have."""
    import httpx

    seen: dict[int, float] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with httpx.Client() as session:  # a new connection each time: any worker may take it
            try:
                pid = session.get(f"{url}/health").json()["pid"]
            except httpx.TransportError:
                continue
        seen[pid] = time.monotonic()
        recent = {p for p, t in seen.items() if time.monotonic() - t < 5}
        if len(recent) >= count:
            return recent
        time.sleep(0.05)
    raise AssertionError(f"saw the workers {sorted(seen)}")
