"""Which distribution of fewshot is installed, so that a message names what to install: the
full ``fewshot``, or ``fewshot-runtime`` (``runtime/build.py``: predicting and serving only,
without the training stack). Both provide the ``fewshot`` package."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

RUNTIME = "fewshot-runtime"


@cache
def distribution() -> str:
    """``fewshot-runtime`` where that is what is installed, else ``fewshot``."""
    try:
        version("fewshot")
    except PackageNotFoundError:
        try:
            version(RUNTIME)
        except PackageNotFoundError:
            return "fewshot"  # a source tree that was not installed
        return RUNTIME
    return "fewshot"


def install_hint(extra: str) -> str:
    """The command that installs an optional extra of the installed distribution."""
    return f"pip install '{distribution()}[{extra}]'"
