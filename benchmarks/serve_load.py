"""A load test of `fewshot serve` on loopback: N single-text requests from C concurrent clients.

    python benchmarks/serve_load.py MODEL_DIR [--requests 2000] [--clients 8]

Starts the server (a fresh process, on a free loopback port), waits for /health, then each
client sends its share of POST /predict requests, one text each (banking77 test texts), one
after the other. Prints p50/p99 latency, requests per second and failures; stops the server with
SIGTERM and checks that it exits cleanly. Bounded: at most --requests requests, --timeout s.
"""

from __future__ import annotations

import argparse
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    from fewshot.plugins.registry import load_registry

    texts = list(load_registry().datasets.load("banking77:test").texts)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "fewshot", "serve", args.model, "--port", str(port),
         "--backend", args.backend, "--log-level", "warning"],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    while True:
        try:
            httpx.get(f"{url}/health").raise_for_status()
            break
        except httpx.TransportError:
            if server.poll() is not None or time.perf_counter() - started > 120:
                raise SystemExit("the server did not start") from None
            time.sleep(0.1)
    print(f"server up in {time.perf_counter() - started:.2f} s ({args.backend})")
    deadline = time.perf_counter() + args.timeout

    def client(i: int) -> tuple[list[float], int]:
        latencies, failures = [], 0
        with httpx.Client(timeout=30) as session:
            for j in range(i, args.requests, args.clients):
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

    start = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        results = list(pool.map(client, range(args.clients)))
    elapsed = time.perf_counter() - start
    latencies = sorted(x for lat, _ in results for x in lat)
    failures = sum(f for _, f in results)
    server.send_signal(signal.SIGTERM)
    code = server.wait(timeout=30)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(
        f"{len(latencies)} requests, {args.clients} clients: p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, {len(latencies) / elapsed:.1f} requests/s, {failures} failed; "
        f"server exit status after SIGTERM: {code}"
    )


if __name__ == "__main__":
    main()
