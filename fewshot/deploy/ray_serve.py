"""``fewshot serve MODEL_DIR --ray ADDRESS``: the same app as a Ray Serve deployment.

Each replica loads the model once and runs the app of :func:`fewshot.deploy.serve.create_app`:
the same endpoints, limits, access token and answers as ``fewshot serve`` on one machine,
behind Ray Serve's HTTP proxy, which listens on ``--host``/``--port``. Ray Serve spreads the
requests over ``--replicas`` replicas (one CPU each), and within a replica concurrent requests
share the model's batches through Ray Serve's own batching (``serve.batch``: up to
``--max-batch`` requests, gathered for up to ``--batch-wait-ms``). Past ``--max-queue`` requests
waiting for a replica, Ray Serve answers 503.

``local`` starts a Ray instance for the server and stops it on SIGTERM or Ctrl-C; on a cluster
(``auto``, ``HOST:PORT``) the deployment is deleted then, and the model directory must be at the
same path on every node.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from dataclasses import asdict
from typing import Any

#: The Ray Serve application's name (``serve status`` shows it).
APP_NAME = "fewshot"


class ServeBatcher:
    """What :func:`~fewshot.deploy.serve.create_app` asks of its batcher
    (:class:`~fewshot.deploy.batching.Batcher`'s ``submit`` and counts), made of Ray Serve's
    ``serve.batch``: each request is one item of a batch, its texts predicted with the others'
    and answered with its own rows.

    Parameters
    ----------
    predict : callable
        ``predict_with_scores`` of the model: texts to (labels, probabilities, scores or None).
    max_batch : int
        The most requests in one batch.
    wait_s : float
        How long a batch waits for more requests once it has one.
    """

    def __init__(self, predict, *, max_batch: int, wait_s: float):
        from ray import serve

        self.predict = predict
        self.waiting = self.batches = self.texts = 0

        @serve.batch(max_batch_size=max_batch, batch_wait_timeout_s=wait_s)
        async def batched(requests: list[list[str]]) -> list[tuple]:
            texts = [text for request in requests for text in request]
            self.batches += 1
            self.texts += len(texts)
            # in a thread: the event loop goes on answering /health meanwhile
            predicted, proba, scores = await asyncio.to_thread(self.predict, texts)
            answers, start = [], 0
            for request in requests:
                end = start + len(request)
                part = None if scores is None else scores[start:end]
                answers.append((predicted[start:end], proba[start:end], part))
                start = end
            return answers

        self._batched = batched

    async def submit(self, texts: list[str], gone=None) -> tuple:
        self.waiting += len(texts)  # until answered (on one machine: until in a batch)
        try:
            return await self._batched(list(texts))
        finally:
            self.waiting -= len(texts)


def _deployment():
    """The Ray Serve deployment class (built here: importing ``ray.serve`` is slow, and only
    ``--ray`` needs it)."""
    from ray import serve

    @serve.deployment(name="fewshot-model")
    @serve.ingress()
    class ModelReplica:
        """One replica: the model, loaded once, and its app."""

        def __init__(self, directory: str, options: dict[str, Any]):
            from fewshot.deploy.http_guard import Limits
            from fewshot.deploy.predictor import load_predictor
            from fewshot.deploy.serve import create_app

            model = load_predictor(directory, cache=False, backend=options["backend"])
            batcher = ServeBatcher(
                model.predict_with_scores,
                max_batch=options["max_batch"],
                wait_s=options["batch_wait_s"],
            )
            self._app = create_app(
                model,
                name=directory,
                limits=Limits(**options["limits"]),
                token=options["token"],
                batcher=batcher,
            )

        def __serve_build_asgi_app__(self):
            return self._app

    return ModelReplica


def serve_on_ray(
    directory: str,
    *,
    address: str,
    host: str,
    port: int,
    backend: str,
    limits,
    token: str | None,
    replicas: int = 1,
    max_batch: int = 128,
    batch_wait_s: float = 0.0,
    max_queue: int = 4096,
) -> None:
    """Serve the model in ``directory`` on Ray Serve until SIGTERM or Ctrl-C (see the module
    docstring)."""
    from pathlib import Path

    from fewshot.evaluation.executors.ray import ray_session
    from fewshot.models.directory import read_config

    read_config(Path(directory))  # a directory that is no model: said here, not by a replica
    directory = str(Path(directory).resolve())
    options = {
        "backend": backend,
        "limits": asdict(limits),
        "token": token,
        "max_batch": max_batch,
        "batch_wait_s": batch_wait_s,
    }
    stop = threading.Event()
    with ray_session(address):
        from ray import serve

        serve.start(http_options={"host": host, "port": port})
        deployment = _deployment().options(
            num_replicas=replicas,
            max_ongoing_requests=max(2 * max_batch, 8),
            max_queued_requests=max_queue,
        )
        serve.run(deployment.bind(directory, options), name=APP_NAME, route_prefix="/")
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
        print(
            f"fewshot serve: on Ray Serve at http://{host}:{port} ({replicas} "
            f"replica{'s' if replicas != 1 else ''}); SIGTERM or Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        try:
            while not stop.wait(0.5):  # a short wait: the signal handler runs between them
                pass
        finally:
            serve.delete(APP_NAME)
            if address == "local":
                serve.shutdown()
