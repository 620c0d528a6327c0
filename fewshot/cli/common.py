"""What every command shares: the one-line error style, argument types, learner specs, the
embedding cache options. Imports stay light: ``fewshot --help`` must not load torch."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

from rich.console import Console

if TYPE_CHECKING:
    from fewshot.learners.base import LearnerSpec

#: Errors and messages go to stderr; ':x' in a message is not an emoji.
err = Console(stderr=True, soft_wrap=True, emoji=False)
DEFAULT_ENCODER = "all-MiniLM-L6-v2"


class Parser(argparse.ArgumentParser):
    """argparse with the project's error style: one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler, ``docker stop``) or SIGHUP (the terminal closed), raised
    where Ctrl-C raises KeyboardInterrupt, so that all stop the same clean way: one line,
    outputs left resumable or as they were, worker processes stopped. Without it SIGTERM killed
    the driver mid-write and left its workers to die on a broken pipe, each with a traceback."""

    def __init__(self, signum: int):
        super().__init__()
        self.status = 128 + signum


#: The requests to stop that are handled like Ctrl-C.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def interrupt_status(interrupt: KeyboardInterrupt) -> int:
    """The exit status of a stop as a shell reports it: 130 for Ctrl-C, 143 for SIGTERM, 129
    for SIGHUP."""
    return getattr(interrupt, "status", 128 + signal.SIGINT)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise :class:`Terminated`; the handlers that were there
    come back after.

    Only in the main thread, and only over a default handler: a program that calls
    ``fewshot.cli.main`` and handles a signal itself keeps its own (so does ``nohup``'s ignored
    SIGHUP).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated(signum)

    ours = [s for s in STOP_SIGNALS if signal.getsignal(s) is signal.SIG_DFL]
    for signum in ours:
        signal.signal(signum, terminate)
    try:
        yield
    finally:
        for signum in ours:
            signal.signal(signum, signal.SIG_DFL)


def int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one integer, got {text!r}")
    return values


def checked(convert, constraint):
    """An argparse type: ``convert(text)``, refused unless ``constraint`` accepts it."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = text
        if not constraint.accepts(value):
            raise argparse.ArgumentTypeError(f"expected {constraint.describe()}, got {text!r}")
        return value

    return parse


def parse_learner(text: str) -> LearnerSpec:
    """``NAME`` or ``NAME:param=value,param=value`` (values read as JSON when they parse)."""
    from fewshot.learners.base import LearnerSpec  # scikit-learn: not for `fewshot --help`

    return LearnerSpec.parse(text)


def warn_failures(registry) -> None:
    """Warn of plugins that failed to load. A plugin whose optional dependency is not installed
    is news only where it is asked for (`fewshot learners`, or naming its learner)."""
    for failure in registry.failures:
        if failure.install:
            continue
        err.print(f"[yellow]fewshot: warning:[/yellow] {failure}; skipped", highlight=False)


def add_cache_options(parser: argparse.ArgumentParser, *, note: str = "") -> None:
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help=f"embedding cache (default $FEWSHOT_CACHE_DIR or ~/.cache/fewshot){note}",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="do not read or write the embedding cache"
    )


def add_track_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--track",
        action="append",
        default=[],
        metavar="NAME[:URI]",
        help="log the run to an experiment tracker: mlflow[:URI|DIR] (default "
        "$MLFLOW_TRACKING_URI or ./mlruns; pip install 'fewshot[mlflow]'); repeatable",
    )


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")


def cache_of(args: argparse.Namespace):
    """The embedding cache the options ask for (None with --no-cache)."""
    from fewshot.encoding.cache import EmbeddingCache, default_cache_dir

    return None if args.no_cache else EmbeddingCache(args.cache_dir or default_cache_dir())
