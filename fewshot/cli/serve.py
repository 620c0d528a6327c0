"""``fewshot serve MODEL_DIR``: the model behind an HTTP JSON API."""

from __future__ import annotations

import argparse

from fewshot.cli.common import checked
from fewshot.encoding.onnx_encoder import BACKENDS
from fewshot.util.params import Integer


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
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from fewshot.deploy.serve import Limits, require_serve, serve

    require_serve()
    serve(
        args.model,
        host=args.host,
        port=args.port,
        backend=args.backend,
        limits=Limits(args.max_texts, args.max_chars, args.max_body_bytes),
        log_level=args.log_level,
    )
    return 0
