"""The ``fewshot`` command line: one module per command (``bench``, ``model`` for adapt,
``predict``, ``export``, ``distill``, ``labelling`` for suggest and check-labels, ``label`` for the labelling page, ``serve``,
``report``, ``info`` for datasets, learners and install-meta). Errors a user can act on are one
line on stderr and exit status 2; ``--debug`` shows the traceback."""

from __future__ import annotations

import os
import sys
import warnings

from fewshot.cli import (
    bench,
    distill,
    export,
    info,
    label,
    labelling,
    model,
    predict,
    report,
    serve,
)
from fewshot.cli.common import Parser, err, interrupt_status, sigterm_as_interrupt
from fewshot.errors import FewshotError

__all__ = ["build_parser", "main"]

DESCRIPTION = (
    "fewshot: few-shot text classification with pluggable learners and one honest evaluator."
)


def build_parser() -> Parser:
    from fewshot import __version__

    parser = Parser(prog="fewshot", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"fewshot {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench.add_parser(commands)
    model.add_parsers(commands)
    predict.add_parser(commands)
    export.add_parser(commands)
    distill.add_parser(commands)
    labelling.add_parsers(commands)
    label.add_parser(commands)
    serve.add_parser(commands)
    report.add_parser(commands)
    info.add_parsers(commands)
    return parser


def _describe_os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


#: What the full install has and the runtime one (fewshot-runtime, docs/how-to/runtime.md)
#: leaves out: a command that needs one of them says so in one line.
TRAINING_STACK = frozenset(
    {"torch", "sentence_transformers", "transformers", "sklearn", "scipy", "huggingface_hub"}
)

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """fewshot's own warnings as one line, like its errors; other libraries' as Python shows
    them (their file and line help whoever reports them)."""
    if os.path.abspath(filename).startswith(_PACKAGE + os.sep):
        return f"fewshot: warning: {message}\n"
    return _python_warning(message, category, filename, lineno, line)


_python_warning = warnings.formatwarning


def main(argv: list[str] | None = None) -> int:
    # A text or path that is not valid UTF-8 must not turn an error message into a crash.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    warnings.formatwarning = _one_line_warning
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (one line, status 2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with sigterm_as_interrupt():
            return args.handler(args)
    except FewshotError as exc:
        if args.debug:
            raise
        err.print(f"fewshot: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        return 2
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if args.debug or missing not in TRAINING_STACK:
            raise
        err.print(
            f"fewshot: error: fewshot {args.command} needs {missing}, which this install leaves "
            "out (fewshot-runtime predicts and serves static students and ONNX bundles): "
            "pip install fewshot",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return 2
    except BrokenPipeError:  # `fewshot learners | head`: the reader has seen enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the exit's flush does not fail again
        return 0
    except OSError as exc:  # the file system said no: a read-only place, a full disk, ...
        if args.debug:
            raise
        err.print(
            f"fewshot: error: {_describe_os_error(exc)}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return 2
    except KeyboardInterrupt as exc:
        err.print(  # every writer drops its half-written output and keeps what was there
            "fewshot: interrupted; nothing was left half-written", highlight=False
        )
        return interrupt_status(exc)
