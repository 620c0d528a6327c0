"""Errors a user can act on. The CLI prints them on one line and exits with status 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class FewshotError(Exception):
    """Base class of every error caused by input, configuration or plugins rather than a bug."""


class DataError(FewshotError):
    """A data file or in-memory dataset is not what fewshot expects.

    The message starts with the file and line, so the user can open the right place.

    Parameters
    ----------
    message : str
        What is wrong, and what was expected.
    path : str, Path or None, default None
        The file, named at the start of the message.
    line : int or None, default None
        The line of the file.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(FewshotError):
    """A suite file, command-line value or learner parameter is invalid."""


class EpisodeError(FewshotError):
    """The requested episodes cannot be drawn from the data (too few classes or examples)."""


class PluginError(FewshotError):
    """A plugin failed to load or returned something fewshot cannot use."""


class MissingDependency(ImportError):
    """A plugin's optional dependency is absent or broken; raise it from the plugin's module.

    The plugin is then listed as unavailable with ``install``, the command that fixes it, and
    commands that do not use it stay quiet about it.
    """

    def __init__(self, package: str, install: str, reason: str = ""):
        self.package = package
        self.install = install
        detail = f" ({reason})" if reason else ""
        super().__init__(f"needs {package}{detail}; install it with: {install}")


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known`` to a misspelt ``name``, or ``""``."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> ConfigError:
    """Build the error for an unknown learner/dataset/encoder name, with a 'did you mean'."""
    known = sorted(known)
    hint = did_you_mean(name, known)
    listing = ", ".join(known) if known else "none"
    return ConfigError(f"unknown {kind} {name!r}{hint} (available: {listing})")
