"""``fewshot serve MODEL_DIR``: the model behind an HTTP JSON API."""

from __future__ import annotations

import argparse

from fewshot.cli.common import checked
from fewshot.encoding.onnx_encoder import BACKENDS
from fewshot.errors import ConfigError
from fewshot.util.params import Integer, Real


def add_parser(commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve a model over HTTP: POST /predict, GET /health, /labels, /docs (fewshot[serve])",
        description="Serve a model directory as an HTTP JSON API (FastAPI + uvicorn): POST "
        '/predict {"texts": [...], "top_k": 3}, GET /health, GET /labels, OpenAPI at /docs. '
        "Uses the model's ONNX bundle where it has one (no torch). Stops cleanly on SIGTERM.",
    )
    serve.add_argument("model", metavar="MODEL_DIR")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1); any other address needs an access token "
        "on every request: a random one is printed, or set FEWSHOT_SERVE_TOKEN",
    )
    serve.add_argument(
        "--port", type=checked(int, Integer(min=0, max=65535)), default=8000, help="default 8000"
    )
    serve.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="as for fewshot predict (default auto: the ONNX bundle where there is one)",
    )
    serve.add_argument(
        "--max-texts",
        type=checked(int, Integer(min=1)),
        default=256,
        help="texts per request (default 256)",
    )
    serve.add_argument(
        "--max-chars",
        type=checked(int, Integer(min=1)),
        default=10_000,
        help="characters per text (default 10000)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=checked(int, Integer(min=1)),
        default=1_000_000,
        help="bytes per request body (default 1000000)",
    )
    serve.add_argument(
        "--max-top-k",
        type=checked(int, Integer(min=1)),
        default=1000,
        help="the most labels one text's top_k may list (default 1000)",
    )
    serve.add_argument(
        "--body-timeout",
        type=checked(float, Real(min=0.1)),
        default=10.0,
        metavar="SECONDS",
        help="how long a client may take to send a body (default 10; then 408)",
    )
    serve.add_argument(
        "--workers",
        type=checked(int, Integer(min=1, max=64)),
        default=1,
        help="server processes sharing the port, each with its own copy of the model "
        "(default 1); one that dies is restarted",
    )
    serve.add_argument(
        "--max-batch",
        type=checked(int, Integer(min=1)),
        default=128,
        help="the most texts the model takes in one batch, from concurrent requests (default 128)",
    )
    serve.add_argument(
        "--batch-wait-ms",
        type=checked(float, Real(min=0)),
        default=0.0,
        metavar="MS",
        help="how long an idle model holds a batch open for more requests (default 0: batches "
        "form from the requests that arrive while the model works)",
    )
    serve.add_argument(
        "--max-queue",
        type=checked(int, Integer(min=1)),
        default=4096,
        help="the most texts waiting for the model; past it, 503 with Retry-After (default 4096)",
    )
    serve.add_argument(
        "--max-connections",
        type=checked(int, Integer(min=1)),
        default=1000,
        help="connections at once; more are answered 503 (default 1000)",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=checked(float, Real(min=0)),
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, how long the requests in flight may take to finish (default 30)",
    )
    serve.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="serve on Ray Serve: local (a Ray instance started for the server), auto, "
        "HOST:PORT or ray://HOST:10001; --replicas replicas, Ray Serve's batching of up to "
        "--max-batch requests (pip install 'fewshot[ray]')",
    )
    serve.add_argument(
        "--replicas",
        type=checked(int, Integer(min=1, max=10_000)),
        default=1,
        metavar="N",
        help="with --ray: replicas of the model, one CPU each (default 1)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from fewshot.deploy.serve import Limits, require_serve, serve

    require_serve()
    limits = Limits(
        args.max_texts, args.max_chars, args.max_body_bytes, args.max_top_k, args.body_timeout
    )
    if args.ray is not None:
        return _serve_on_ray(args, limits)
    if args.replicas != 1:
        raise ConfigError("--replicas is for --ray (Ray Serve); on one machine: --workers N")
    serve(
        args.model,
        host=args.host,
        port=args.port,
        backend=args.backend,
        limits=limits,
        log_level=args.log_level,
        max_connections=args.max_connections,
        shutdown_seconds=args.shutdown_timeout,
        max_batch=args.max_batch,
        batch_wait_s=args.batch_wait_ms / 1000,
        max_queue=args.max_queue,
        workers=args.workers,
    )
    return 0


def _serve_on_ray(args: argparse.Namespace, limits) -> int:
    from fewshot.deploy.ray_serve import serve_on_ray
    from fewshot.deploy.serve import access_token, announce_token

    if args.workers != 1:
        raise ConfigError("--workers is for one machine; on Ray Serve: --replicas N")
    token = access_token(args.host)
    announce_token(token)
    serve_on_ray(
        args.model,
        address=args.ray,
        host=args.host,
        port=args.port,
        backend=args.backend,
        limits=limits,
        token=token,
        replicas=args.replicas,
        max_batch=args.max_batch,
        batch_wait_s=args.batch_wait_ms / 1000,
        max_queue=args.max_queue,
    )
    return 0
