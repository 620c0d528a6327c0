"""``fewshot serve MODEL_DIR``: a model behind an HTTP JSON API (FastAPI, served by uvicorn).

Endpoints: ``POST /predict`` (a batch of texts: labels, probabilities, the top k; for rejection
models the closest class, the in-scope probability and score; for multi-label models each text's
label set, most probable first), ``GET /health``,
``GET /labels``, and FastAPI's OpenAPI description (``/openapi.json``, ``/docs``). Bad requests
get a 4xx answer with a JSON ``detail`` saying what is wrong: not JSON or the wrong shape (422),
empty or too long texts (422), too many texts (413), a body over the size limit (413). The
model predicts one request at a time (a lock: the learner and the embedding cache are not
made for threads); uvicorn stops cleanly on SIGTERM, finishing the requests in flight.

It listens on 127.0.0.1 unless told otherwise (``--host``); on any other address every request
must carry ``Authorization: Bearer TOKEN`` (401 otherwise), with a random token printed at start
or the one in ``FEWSHOT_SERVE_TOKEN`` (which a loopback server then requires too).

Needs ``pip install 'fewshot[serve]'`` (and ``fewshot[onnx]`` to serve an exported model without
torch).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations as
# objects, and the request model is defined inside create_app (it carries the limits).
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from fewshot.data.blank import invisible_note, is_blank
from fewshot.deploy.predictions import prediction_fields
from fewshot.errors import ConfigError
from fewshot.util.access import TOKEN_VARIABLE, access_token, is_loopback, token_matches
from fewshot.util.http_server import server_class
from fewshot.util.install import install_hint

__all__ = ["TOKEN_VARIABLE", "Limits", "access_token", "create_app", "is_loopback", "serve"]


def require_serve(command: str = "serve") -> None:
    """Say in one line that ``fewshot COMMAND`` needs the ``serve`` extra, where it is missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"fewshot {command} needs FastAPI and uvicorn: {install_hint('serve')}"
        ) from None


@dataclass(frozen=True)
class Limits:
    """What one request may ask: texts per request, characters per text, bytes per body."""

    max_texts: int = 256
    max_chars: int = 10_000
    max_body_bytes: int = 1_000_000


def create_app(model, *, name: str, limits: Limits = Limits(), token: str | None = None):
    """The ASGI application serving ``model`` (what ``fewshot.deploy.predictor.load_predictor``
    gives); with ``token``, every request must carry ``Authorization: Bearer TOKEN``."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field, field_validator

    labels = model.labels
    multi_label = bool(getattr(model, "multi_label_", False))
    rejection = getattr(model, "rejection_", None)
    lock = threading.Lock()
    started = time.time()

    class PredictRequest(BaseModel):
        texts: list[str] = Field(description="the texts to classify", min_length=1)
        top_k: int = Field(1, ge=1, description="how many of the most probable labels to list")

        @field_validator("texts")
        @classmethod
        def _texts(cls, texts: list[str]) -> list[str]:
            for i, text in enumerate(texts):
                if is_blank(text):
                    raise ValueError(f"texts[{i}] is empty{invisible_note(text)}")
                if len(text) > limits.max_chars:
                    raise ValueError(
                        f"texts[{i}] has {len(text)} characters; at most {limits.max_chars}"
                    )
            return texts

    app = FastAPI(
        title=f"fewshot: {name}",
        description=f"{len(labels)} labels"
        + (", multi-label" if multi_label else "")
        + (f", rejects with {rejection.oos_label!r}" if rejection is not None else ""),
    )

    @app.middleware("http")
    async def check_request(request: Request, call_next):
        if token is not None:  # before anything else is read, the body included
            given = request.headers.get("authorization", "")
            if not token_matches(given, f"Bearer {token}"):
                return JSONResponse(
                    {"detail": "this server needs its access token: send the header "
                               "'Authorization: Bearer TOKEN' (fewshot serve printed it)"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )  # fmt: skip
        length = request.headers.get("content-length")
        if request.method == "POST":
            if length is None:
                return JSONResponse({"detail": "send a Content-Length header"}, status_code=411)
            if not length.isdigit() or int(length) > limits.max_body_bytes:
                return JSONResponse(
                    {"detail": f"the body is over the limit of {limits.max_body_bytes} bytes"},
                    status_code=413,
                )
        return await call_next(request)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Whether the model is loaded and answering."""
        return {
            "status": "ok",
            "model": name,
            "labels": len(labels),
            "uptime_s": round(time.time() - started, 1),
        }

    @app.get("/labels")
    def get_labels() -> dict[str, Any]:
        """The labels the model knows, in the order of its probabilities."""
        return {
            "labels": labels,
            "multi_label": multi_label,
            "oos_label": rejection.oos_label if rejection is not None else None,
        }

    @app.post("/predict")
    def predict(request: PredictRequest) -> dict[str, Any]:
        """Labels and probabilities for a batch of texts."""
        if len(request.texts) > limits.max_texts:
            raise HTTPException(
                413, f"{len(request.texts)} texts in one request; at most {limits.max_texts}"
            )
        with lock:
            predicted, proba, scores = model.predict_with_scores(request.texts)
        out = prediction_fields(
            model, predicted, proba, scores, top_k=min(request.top_k, len(labels))
        )
        return {"predictions": out}

    return app


def serve(
    directory: str, *, host: str, port: int, backend: str, limits: Limits, log_level: str = "info"
) -> None:
    """Load the model in ``directory`` and serve it until SIGTERM or Ctrl-C."""
    require_serve()
    import uvicorn

    from fewshot.deploy.predictor import load_predictor

    token = access_token(host)
    model = load_predictor(directory, cache=False, backend=backend)
    app = create_app(model, name=str(directory), limits=limits, token=token)
    if token is not None:
        import sys

        where = f"the one in {TOKEN_VARIABLE}" if TOKEN_VARIABLE in os.environ else token
        print(
            f"fewshot serve: every request needs the header 'Authorization: Bearer TOKEN'; "
            f"token: {where}",
            file=sys.stderr,
            flush=True,
        )
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=10
    )
    server_class()(config).run()
