"""What every command shares: the one-line error style, argument types, learner specs, the
embedding cache options. Imports stay light: ``fewshot --help`` must not load torch."""

from __future__ import annotations

import argparse
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


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")


def cache_of(args: argparse.Namespace):
    """The embedding cache the options ask for (None with --no-cache)."""
    from fewshot.encoding.cache import EmbeddingCache, default_cache_dir

    return None if args.no_cache else EmbeddingCache(args.cache_dir or default_cache_dir())
