"""``fewshot report RUN_DIR [RUN_DIR ...]``: the HTML report of finished runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewshot.cli.common import err


def add_parser(commands) -> None:
    report = commands.add_parser(
        "report",
        help="one self-contained HTML page with tables and figures of runs (fewshot[report])",
        description="Draw the results of one or more `fewshot bench --out` directories as one "
        "HTML page that works offline: results and comparisons tables, accuracy against shots, "
        "a forest plot of the paired comparisons, per-class accuracy, confusion matrices, "
        "reliability diagrams, timings, and out-of-scope, multi-label and cross-domain figures "
        "where the runs have them. Several runs are compared side by side, named by their "
        "directories.",
    )
    report.add_argument(
        "runs", nargs="+", metavar="RUN_DIR", help="a fewshot bench --out directory"
    )
    report.add_argument(
        "--out",
        metavar="FILE",
        help="the HTML file (default: RUN_DIR/report.html for one run; required for several)",
    )
    report.add_argument(
        "--figures",
        metavar="DIR",
        help="also write each figure as SVG and PNG into DIR (new, empty, or an earlier --figures)",
    )
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from fewshot.errors import ConfigError
    from fewshot.report.html import write_report

    if args.out is None:
        if len(args.runs) > 1:
            raise ConfigError("several runs need --out FILE for their report")
        args.out = str(Path(args.runs[0]) / "report.html")
    titles = write_report(args.runs, args.out, figures=args.figures)
    err.print(f"report: {args.out} ({len(titles)} figures)", highlight=False, markup=False)
    if args.figures:
        err.print(f"figures: {args.figures} (SVG and PNG)", highlight=False, markup=False)
    return 0
