"""Dynamic batching for ``fewshot serve``: the texts of concurrent requests go to the model in
one call, which is how an encoder is fast.

One task takes requests from a queue in arrival order. While the model works on a batch, the
requests that arrive wait; the next batch takes all of them (up to ``max_batch`` texts), so
batches grow with the load and a lone request waits for nothing (unless ``wait_s`` asks to
hold a batch open for company). Each request gets exactly its own rows back. The model runs in
one worker thread, one batch at a time (the learner and the encoder are not made for threads).
What waits is bounded: past ``max_queue`` texts a request is refused at once
(:class:`Overloaded`: 503 with ``Retry-After``), and a request whose client has gone is
dropped before its batch runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any


class Overloaded(Exception):
    """More texts wait than the queue holds: the server says 503 rather than queue for ever."""


@dataclass
class _Request:
    texts: Sequence[str]
    answer: asyncio.Future
    gone: Callable[[], Awaitable[bool]] | None


class Batcher:
    """Gathers concurrent requests' texts into batches for ``predict``.

    Parameters
    ----------
    predict : callable
        ``predict(texts) -> (predicted, proba, scores)``, one row per text (``scores`` may be
        None): ``predict_with_scores`` of a loaded model.
    max_batch : int, default 128
        The most texts in one call of ``predict`` (a request with more runs alone).
    wait_s : float, default 0.0
        How long the first request of a batch waits for others when the model is idle.
    max_queue : int, default 4096
        The most texts waiting; a request that would pass it raises :class:`Overloaded`.
    """

    def __init__(
        self,
        predict: Callable[[list[str]], tuple[Any, Any, Any]],
        *,
        max_batch: int = 128,
        wait_s: float = 0.0,
        max_queue: int = 4096,
    ):
        self.predict, self.max_batch, self.wait_s, self.max_queue = (
            predict,
            max_batch,
            wait_s,
            max_queue,
        )
        self.waiting = 0  # texts queued, not yet in a batch
        self.batches = 0  # calls of predict so far, and the texts they took: for /health
        self.texts = 0
        self._queue: asyncio.Queue[_Request] | None = None
        self._held: _Request | None = None  # taken from the queue but too big for the batch
        self._task: asyncio.Task | None = None

    async def submit(
        self, texts: Sequence[str], gone: Callable[[], Awaitable[bool]] | None = None
    ) -> tuple[Any, Any, Any]:
        """The model's rows for ``texts``, predicted in a batch with whatever else waits;
        ``gone()`` says whether the client has left (then its texts are dropped)."""
        if self._task is None:  # in the server's event loop, at its first request
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run())
        if self.waiting + len(texts) > self.max_queue and self.waiting:
            raise Overloaded(f"{self.waiting} texts are waiting already; at most {self.max_queue}")
        request = _Request(texts, asyncio.get_running_loop().create_future(), gone)
        self.waiting += len(texts)
        self._queue.put_nowait(request)
        return await request.answer

    async def _next(self, timeout: float | None) -> _Request | None:
        if self._held is not None:
            request, self._held = self._held, None
            return request
        if timeout is None:
            return await self._queue.get()
        try:
            if timeout <= 0:
                return self._queue.get_nowait()
            return await asyncio.wait_for(self._queue.get(), timeout)
        except (asyncio.QueueEmpty, TimeoutError):
            return None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._next(None)
            batch, size = [first], len(first.texts)
            deadline = loop.time() + self.wait_s
            while size < self.max_batch:
                request = await self._next(deadline - loop.time())
                if request is None:
                    break
                if size + len(request.texts) > self.max_batch:
                    self._held = request  # it starts the next batch
                    break
                batch.append(request)
                size += len(request.texts)
            self.waiting -= size
            live = [r for r in batch if not r.answer.done() and not await _gone(r)]
            if not live:
                continue
            texts = [text for r in live for text in r.texts]
            try:
                predicted, proba, scores = await asyncio.to_thread(self.predict, texts)
            except Exception as exc:  # each request of the batch gets the error
                for r in live:
                    if not r.answer.done():
                        r.answer.set_exception(exc)
                continue
            self.batches, self.texts = self.batches + 1, self.texts + len(texts)
            start = 0
            for r in live:
                end = start + len(r.texts)
                if not r.answer.done():
                    rows = None if scores is None else scores[start:end]
                    r.answer.set_result((predicted[start:end], proba[start:end], rows))
                start = end


async def _gone(request: _Request) -> bool:
    if request.gone is None:
        return False
    try:
        return await request.gone()
    except Exception:  # a connection that cannot even say: treat it as gone
        return True
