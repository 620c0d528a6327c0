"""What every request to ``fewshot serve`` meets before its endpoint: the access token, the
body's length and the time it may take to arrive (:class:`Limits`), and the security headers
on every answer. Plain ASGI, so that it adds no task per request and the endpoint still hears
a client that leaves."""

import asyncio
from dataclasses import dataclass

from fewshot.util.access import token_matches

__all__ = ["CSP", "Guard", "Limits"]

#: Nothing from elsewhere: /docs loads Swagger UI from this server; FastAPI's page starts it
#: with an inline script.
CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Limits:
    """What one request may ask, so that none makes the server hold more than it bounds.

    Parameters
    ----------
    max_texts : int, default 256
        Texts per request.
    max_chars : int, default 10000
        Characters per text.
    max_body_bytes : int, default 1000000
        Bytes per request body.
    max_top_k : int, default 1000
        The most labels listed per text (``top_k``): with many labels, what bounds the answer.
    body_seconds : float, default 10.0
        How long a client may take to send its body (a slow one is answered 408 and dropped).
    """

    max_texts: int = 256
    max_chars: int = 10_000
    max_body_bytes: int = 1_000_000
    max_top_k: int = 1000
    body_seconds: float = 10.0


class Guard:
    """The ASGI middleware that refuses, before the app sees it, a request without the token,
    without a Content-Length, with a body over ``limits.max_body_bytes`` (413) or slower than
    ``limits.body_seconds`` to arrive (408).

    Parameters
    ----------
    app : ASGI application
        What the requests that pass go on to.
    limits : Limits
        The body's bounds.
    token : str or None
        The token every request must carry as ``Authorization: Bearer TOKEN``; None: none.
    """

    def __init__(self, app, *, limits: Limits, token: str | None):
        self.app, self.limits, self.token = app, limits, token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from fastapi.responses import JSONResponse

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        body = b""
        if refusal is None and scope["method"] == "POST":
            try:  # read here, with a deadline: a slow sender holds no worker for ever
                body = await asyncio.wait_for(_read_body(receive), self.limits.body_seconds)
            except TimeoutError:
                refusal = JSONResponse(
                    {"detail": f"the body took over {self.limits.body_seconds:g} s to arrive"},
                    status_code=408,
                    headers={"Connection": "close"},
                )
        if refusal is not None:
            return await refusal(scope, receive, _secured(send))
        given = [False]

        async def replay():
            if not given[0]:
                given[0] = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # then the server's own: a disconnect comes through

        await self.app(scope, replay, _secured(send))

    def _refusal(self, scope, headers):
        from fastapi.responses import JSONResponse

        given = headers.get("authorization", "")
        # the token before anything else is read, the body included
        if self.token is not None and not token_matches(given, f"Bearer {self.token}"):
            return JSONResponse(
                {"detail": "this server needs its access token: send the header "
                           "'Authorization: Bearer TOKEN' (fewshot serve printed it)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        if scope["method"] == "POST":
            length = headers.get("content-length")
            if length is None:
                return JSONResponse({"detail": "send a Content-Length header"}, status_code=411)
            if not length.isdigit() or int(length) > self.limits.max_body_bytes:
                limit = self.limits.max_body_bytes
                return JSONResponse(
                    {"detail": f"the body is over the limit of {limit} bytes"}, status_code=413
                )
        return None


async def _read_body(receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _secured(send):
    """``send`` with the security headers added to the answer's start."""

    async def secured(message):
        if message["type"] == "http.response.start":
            message["headers"] = [
                *message.get("headers", []),
                (b"content-security-policy", CSP.encode()),
                (b"x-content-type-options", b"nosniff"),
            ]
        await send(message)

    return secured
