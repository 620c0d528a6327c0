"""``fewshot serve MODEL_DIR``: a model behind an HTTP JSON API (FastAPI, served by uvicorn).

Endpoints: ``POST /predict`` (a batch of texts: labels, probabilities, the top k; for rejection
models the closest class, the in-scope probability and score; for multi-label models each text's
label set, most probable first), ``GET /health``,
``GET /labels``, and FastAPI's OpenAPI description (``/openapi.json``, ``/docs``). Bad requests
get a 4xx answer with a JSON ``detail`` saying what is wrong, never echoing the value: not JSON,
the wrong shape, a non-finite number, a lone surrogate, empty or too long texts (422), too many
texts (413), a body that is not UTF-8 (400), over the size limit (413) or too slow to arrive
(408). Every limit
(:class:`Limits`) is in the OpenAPI schema too. Concurrent requests share the model's batches
(:mod:`fewshot.deploy.batching`), each answered with its own rows; past the queue's bound a
request is answered 503 with ``Retry-After``. ``/health`` and ``/labels`` run on the event loop,
so they answer at once however many requests wait for the model. uvicorn stops cleanly on
SIGTERM, finishing the requests in flight.

It listens on 127.0.0.1 unless told otherwise (``--host``); on any other address every request
must carry ``Authorization: Bearer TOKEN`` (401 otherwise), with a random token printed at start
or the one in ``FEWSHOT_SERVE_TOKEN`` (which a loopback server then requires too).

Needs ``pip install 'fewshot[serve]'`` (and ``fewshot[onnx]`` to serve an exported model without
torch).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations as
# objects, and the request model is defined inside create_app (it carries the limits).
import os
import time
from typing import Any

from fewshot.data.blank import invisible_note, is_blank, visible_pattern
from fewshot.deploy.batching import Batcher, Overloaded
from fewshot.deploy.http_guard import Guard, Limits
from fewshot.deploy.predictions import prediction_fields
from fewshot.errors import ConfigError
from fewshot.util.access import TOKEN_VARIABLE, access_token, is_loopback
from fewshot.util.http_server import server_class, validation_detail
from fewshot.util.install import install_hint

__all__ = ["TOKEN_VARIABLE", "Limits", "access_token", "create_app", "is_loopback", "serve"]


def require_serve(command: str = "serve") -> None:
    """Say in one line that ``fewshot COMMAND`` needs the ``serve`` extra, where it is missing."""
    try:
        import fastapi  # noqa: F401
        import fastapi_offline  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"fewshot {command} needs FastAPI, fastapi-offline and uvicorn: {install_hint('serve')}"
        ) from None


def create_app(
    model,
    *,
    name: str,
    limits: Limits | None = None,
    token: str | None = None,
    batcher: Batcher | None = None,
):
    """The ASGI application serving ``model`` (what ``fewshot.deploy.predictor.load_predictor``
    gives); with ``token``, every request must carry ``Authorization: Bearer TOKEN``.
    ``batcher``: how concurrent requests share the model's batches (default
    :class:`~fewshot.deploy.batching.Batcher` with its defaults)."""
    from typing import Annotated

    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from fastapi_offline import FastAPIOffline
    from pydantic import BaseModel, Field, StringConstraints, WithJsonSchema, field_validator

    limits = limits or Limits()
    labels = model.labels
    multi_label = bool(getattr(model, "multi_label_", False))
    rejection = getattr(model, "rejection_", None)
    batcher = batcher or Batcher(model.predict_with_scores)
    started = time.time()

    # The pattern says in the schema what the validator below checks (a visible character, no
    # lone surrogate), so that a client built from the schema sends only what is accepted.
    Text = Annotated[
        str,
        StringConstraints(min_length=1, max_length=limits.max_chars),
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": limits.max_chars,
                        "pattern": visible_pattern()}),
    ]  # fmt: skip

    class PredictRequest(BaseModel):
        # The limits are in the schema (/openapi.json) as well as enforced.
        texts: list[Text] = Field(
            description=f"the texts to classify: 1 to {limits.max_texts}, each 1 to "
            f"{limits.max_chars} characters of valid Unicode and not blank; more texts are "
            "answered 413",
            min_length=1,
            max_length=limits.max_texts,
        )
        top_k: int = Field(
            1,
            ge=1,
            le=limits.max_top_k,
            description="how many of the most probable labels to list (at most the model's)",
        )

        @field_validator("texts")
        @classmethod
        def _texts(cls, texts: list[str]) -> list[str]:
            for i, text in enumerate(texts):
                if is_blank(text):
                    raise ValueError(f"texts[{i}] is empty{invisible_note(text)}")
            return texts

    # Swagger UI's files come from an installed package, not a CDN: /docs works offline.
    app = FastAPIOffline(
        redoc_url=None,
        title=f"fewshot: {name}",
        description=f"{len(labels)} labels"
        + (", multi-label" if multi_label else "")
        + (f", rejects with {rejection.oos_label!r}" if rejection is not None else ""),
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        for error in errors:  # too many texts: 413, as before the limit was in the schema
            if error.get("type") == "too_long" and tuple(error.get("loc", ())) == ("body", "texts"):
                given = len(error.get("input") or ())
                return JSONResponse(
                    {"detail": f"{given} texts in one request; at most {limits.max_texts}"},
                    status_code=413,
                )
        return JSONResponse({"detail": validation_detail(errors)}, status_code=422)

    app.add_middleware(Guard, limits=limits, token=token)

    # /health and /labels run on the event loop, not in the thread pool where /predict waits
    # for the model: they answer at once however busy the model is.
    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Whether the model is loaded and answering."""
        return {
            "status": "ok",
            "model": name,
            "labels": len(labels),
            "uptime_s": round(time.time() - started, 1),
            "pid": os.getpid(),  # which worker answered, with --workers
            "waiting_texts": batcher.waiting,
            "batches": batcher.batches,
            "batched_texts": batcher.texts,
        }

    @app.get("/labels")
    async def get_labels() -> dict[str, Any]:
        """The labels the model knows, in the order of its probabilities."""
        return {
            "labels": labels,
            "multi_label": multi_label,
            "oos_label": rejection.oos_label if rejection is not None else None,
        }

    refusals = {
        400: "the body cannot be parsed (not UTF-8 JSON)",
        401: "the access token is missing or wrong (a server on another address than loopback)",
        408: f"the body took over {limits.body_seconds:g} s to arrive",
        411: "no Content-Length header",
        413: f"more than {limits.max_texts} texts, or a body over {limits.max_body_bytes} bytes",
        422: "not JSON, or not the shape described",
        503: "too many texts waiting for the model (with a Retry-After header)",
    }
    answers = {status: {"description": what} for status, what in refusals.items()}

    @app.post("/predict", responses=answers)
    async def predict(request: PredictRequest, http: Request) -> dict[str, Any]:
        """Labels and probabilities for a batch of texts."""
        try:
            predicted, proba, scores = await batcher.submit(
                request.texts, gone=http.is_disconnected
            )
        except Overloaded as exc:
            return JSONResponse(
                {"detail": f"the server is busy ({exc}); try again shortly"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
        out = prediction_fields(
            model, predicted, proba, scores, top_k=min(request.top_k, len(labels))
        )
        return {"predictions": out}

    return app


#: Where ``fewshot serve --workers N`` puts what each worker process builds its app from.
WORKER_OPTIONS = "FEWSHOT_SERVE_WORKER"


def build_app(
    directory: str,
    *,
    backend: str,
    limits: Limits,
    token: str | None,
    max_batch: int = 128,
    batch_wait_s: float = 0.0,
    max_queue: int = 4096,
):
    """Load the model in ``directory`` and make its app (what one server process runs)."""
    from fewshot.deploy.predictor import load_predictor

    model = load_predictor(directory, cache=False, backend=backend)
    batcher = Batcher(
        model.predict_with_scores, max_batch=max_batch, wait_s=batch_wait_s, max_queue=max_queue
    )
    return create_app(model, name=str(directory), limits=limits, token=token, batcher=batcher)


def worker_app():
    """The app of one worker process of ``fewshot serve --workers N`` (uvicorn's factory),
    from the options its parent left in the environment."""
    import json

    options = json.loads(os.environ[WORKER_OPTIONS])
    options["limits"] = Limits(**options["limits"])
    return build_app(options.pop("directory"), **options)


def announce_token(token: str | None) -> None:
    """Say on stderr that every request needs the token, and which (unless it came from the
    environment, where the user has it already)."""
    if token is None:
        return
    import sys

    where = f"the one in {TOKEN_VARIABLE}" if TOKEN_VARIABLE in os.environ else token
    print(
        f"fewshot serve: every request needs the header 'Authorization: Bearer TOKEN'; "
        f"token: {where}",
        file=sys.stderr,
        flush=True,
    )


def serve(
    directory: str,
    *,
    host: str,
    port: int,
    backend: str,
    limits: Limits,
    log_level: str = "info",
    max_connections: int = 1000,
    shutdown_seconds: float = 30.0,
    max_batch: int = 128,
    batch_wait_s: float = 0.0,
    max_queue: int = 4096,
    workers: int = 1,
) -> None:
    """Load the model in ``directory`` and serve it until SIGTERM or Ctrl-C: at most
    ``max_connections`` at once (503 past them), and on SIGTERM up to ``shutdown_seconds`` for
    the requests in flight to finish. ``workers`` > 1: that many processes, each with its own
    copy of the model, share the port (uvicorn's supervisor restarts one that dies)."""
    require_serve()
    import json
    from dataclasses import asdict

    import uvicorn

    token = access_token(host)
    options = dict(
        backend=backend,
        limits=limits,
        token=token,
        max_batch=max_batch,
        batch_wait_s=batch_wait_s,
        max_queue=max_queue,
    )
    announce_token(token)
    settings = dict(
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=shutdown_seconds,
        limit_concurrency=max_connections,
        timeout_keep_alive=5,  # an idle connection is closed after 5 s
    )
    if workers == 1:
        app = build_app(directory, **options)
        server_class()(uvicorn.Config(app, **settings)).run()
        return
    from pathlib import Path

    from uvicorn.supervisors import Multiprocess

    from fewshot.models.directory import read_config

    read_config(Path(directory))  # a directory that is no model: said here, not by each worker
    os.environ[WORKER_OPTIONS] = json.dumps(
        {**options, "directory": str(directory), "limits": asdict(limits)}
    )
    config = uvicorn.Config(
        "fewshot.deploy.serve:worker_app", factory=True, workers=workers, **settings
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()
