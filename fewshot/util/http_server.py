"""Running fewshot's local HTTP servers (``serve``, ``label``) with uvicorn: bound before they
say their address (``--port 0`` picks a free port and prints it), stopped cleanly by SIGTERM or
Ctrl-C, with exit status 0."""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Callable
from typing import Any


def validation_detail(errors) -> list[dict[str, Any]]:
    """A request's validation errors as JSON can carry them: where and what, never the value
    given (a NaN, an infinity or a lone surrogate has no JSON form, so echoing one made a 500,
    and echoing a body is no help)."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]


def server_class():
    """uvicorn's server class, stopping on SIGTERM or Ctrl-C like uvicorn (no new connections,
    the requests in flight finished) but then exiting with status 0: uvicorn re-raises the
    signal once it has stopped, so the process would look killed."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            stops = (signal.SIGINT, signal.SIGTERM)
            previous = {s: signal.signal(s, self.handle_exit) for s in stops}
            try:
                yield
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)

    return Server


def run_app(app, *, host: str, port: int, log_level: str, announce: Callable[[int], None]) -> None:
    """Bind ``host:port``, tell ``announce`` the port bound, and serve ``app`` until stopped."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)  # from now on a connection waits in the backlog, never refused
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    announce(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=10)
    try:
        server_class()(config).run(sockets=[sock])
    finally:
        sock.close()
