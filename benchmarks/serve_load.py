"""A load test of `fewshot serve` on loopback: single-text requests from C concurrent clients,
with dynamic batching (the default) and without (`--max-batch 1`: one request at a time, as the
server was before), side by side, beside the model's offline batch throughput.

    python benchmarks/serve_load.py MODEL_DIR [--requests 2000] [--clients 1,8,32,128]

For each setting a server starts (a fresh process, on a free loopback port), waits for /health,
then each client sends its share of POST /predict requests, one text each (banking77 test
texts), one after the other, while /health is asked 20 times. Prints p50/p99 latency,
requests per second, failures and the slowest /health; stops each server with SIGTERM and
checks that it exits cleanly. Bounded: at most --requests requests per run, --timeout s.
"""

from __future__ import annotations

import argparse
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx


def start_server(model: str, backend: str, extra: list[str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "fewshot", "serve", model, "--port", str(port),
         "--backend", backend, "--log-level", "warning", *extra],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    while True:
        try:
            httpx.get(f"{url}/health").raise_for_status()
            return server, url
        except httpx.TransportError:
            if server.poll() is not None or time.perf_counter() - started > 120:
                raise SystemExit("the server did not start") from None
            time.sleep(0.1)


def load(url: str, texts: list[str], clients: int, requests: int, timeout: float) -> dict:
    deadline = time.perf_counter() + timeout

    def client(i: int) -> tuple[list[float], int]:
        latencies, failures = [], 0
        with httpx.Client(timeout=30) as session:
            for j in range(i, requests, clients):
                if time.perf_counter() > deadline:
                    break
                start = time.perf_counter()
                try:
                    response = session.post(
                        f"{url}/predict", json={"texts": [texts[j % len(texts)]]}
                    )
                    failures += response.status_code != 200
                except httpx.HTTPError:
                    failures += 1
                latencies.append(time.perf_counter() - start)
        return latencies, failures

    health: list[float] = []
    done = threading.Event()

    def probe() -> None:  # /health while the model is busy
        time.sleep(0.2)
        while not done.is_set() and len(health) < 20:
            start = time.perf_counter()
            httpx.get(f"{url}/health", timeout=30)
            health.append(time.perf_counter() - start)
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    elapsed = time.perf_counter() - start
    done.set()
    prober.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return {
        "requests": len(latencies),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": p99 * 1000,
        "rps": len(latencies) / elapsed,
        "failures": sum(f for _, f in results),
        "health_ms": max(health, default=0.0) * 1000,
    }


def offline_throughput(model: str, backend: str, texts: list[str]) -> float:
    """Texts/s of the model predicting the texts in batches of 128, in this process."""
    from fewshot.deploy.predictor import load_predictor

    predictor = load_predictor(model, cache=False, backend=backend)
    predictor.predict_with_scores(texts[:128])  # warm up
    start = time.perf_counter()
    for i in range(0, len(texts), 128):
        predictor.predict_with_scores(texts[i : i + 128])
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", default="1,8,32,128", help="comma-separated client counts")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    from fewshot.plugins.registry import load_registry

    texts = list(load_registry().datasets.load("banking77:test").texts)
    offline = offline_throughput(args.model, args.backend, texts)
    print(f"offline, batches of 128: {offline:.0f} texts/s ({args.backend})")
    print(
        "| server | clients | p50 ms | p99 ms | requests/s | × offline | failed | slowest /health ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for clients in (int(c) for c in args.clients.split(",")):
        for name, extra in (("one at a time", ["--max-batch", "1"]), ("batched", [])):
            server, url = start_server(args.model, args.backend, extra)
            try:
                r = load(url, texts, clients, args.requests, args.timeout)
            finally:
                server.send_signal(signal.SIGTERM)
                code = server.wait(timeout=60)
            print(
                f"| {name} | {clients} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['rps']:.0f} | "
                f"{r['rps'] / offline:.2f} | {r['failures']} | {r['health_ms']:.0f} |"
                + ("" if code == 0 else f" (exit status {code} after SIGTERM)"),
                flush=True,
            )


if __name__ == "__main__":
    main()
