"""Who may talk to fewshot's local servers (``serve``, ``label``): anyone on this machine when
they listen on loopback; elsewhere only a request carrying the access token."""

from __future__ import annotations

import ipaddress
import os
import secrets

from fewshot.errors import ConfigError

#: The variable that gives a server its access token (rather than a flag: a command line is
#: visible to every user of the machine in ``ps``).
TOKEN_VARIABLE = "FEWSHOT_SERVE_TOKEN"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any address


def access_token(host: str, environ=None) -> str | None:
    """The token every request must carry: ``FEWSHOT_SERVE_TOKEN`` where it is set, else a new
    random one for an address other machines can reach, else None (loopback: no token)."""
    given = (os.environ if environ is None else environ).get(TOKEN_VARIABLE)
    if given is not None:
        if len(given) < 16:
            raise ConfigError(f"{TOKEN_VARIABLE} must be at least 16 characters long")
        return given
    return None if is_loopback(host) else secrets.token_urlsafe(24)


def token_matches(given: str, token: str) -> bool:
    """Compare in constant time, so that the answer's timing does not spell the token out."""
    return secrets.compare_digest(given.encode(), token.encode())
