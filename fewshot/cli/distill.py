"""``fewshot distill MODEL_DIR --student static|layers:N --unlabeled DATA --out DIR``: a smaller
model that answers as the given one does (see :mod:`fewshot.compression`)."""

from __future__ import annotations

import argparse
import sys

from fewshot.cli.common import add_device_option, checked, err
from fewshot.util.params import Integer


def add_parser(commands) -> None:
    distill = commands.add_parser(
        "distill",
        help="distil a model into a smaller student: static token vectors, or fewer layers",
        description="Train a smaller model (the student) to answer as MODEL_DIR (the teacher) "
        "does, on unlabelled in-domain texts: the teacher's training texts and --unlabeled "
        "(their labels are never read). --student static: one vector per token (model2vec), "
        "predicting with numpy alone, no torch; layers:N: the teacher's transformer cut to N "
        "layers, exported to ONNX int8. The student keeps the teacher's head; its out-of-scope "
        "and multi-label thresholds are set again on its own scores. Needs pip install "
        "'fewshot[distill]'.",
    )
    distill.add_argument("model", metavar="MODEL_DIR", help="the teacher: a model directory")
    distill.add_argument(
        "--student",
        required=True,
        metavar="static|layers:N",
        help="static (token vectors) or layers:N (a transformer of N of the teacher's layers)",
    )
    distill.add_argument(
        "--unlabeled",
        action="append",
        default=[],
        metavar="DATA",
        help="in-domain texts to learn from (a file or NAME:SPLIT; repeatable; labels are "
        "never read); thousands of them make a good student. Never the test data.",
    )
    distill.add_argument("--out", required=True, metavar="DIR", help="the student's directory")
    distill.add_argument(
        "--test",
        metavar="DATA",
        help="labelled texts to measure the student's accuracy on, for its card and this line",
    )
    distill.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    distill.add_argument(
        "--epochs",
        type=checked(int, Integer(min=1, max=1000)),
        metavar="N",
        help="at most N training epochs (default: the student's own)",
    )
    distill.add_argument("--text-column", default="text", help="text column of JSONL/CSV files")
    distill.add_argument(
        "--no-progress", action="store_true", help="no progress lines (shown only on a terminal)"
    )
    add_device_option(distill)
    distill.set_defaults(handler=run_distill)


def run_distill(args: argparse.Namespace) -> int:
    from fewshot.compression import student_kind
    from fewshot.util.progress import training_progress

    kind, layers = student_kind(args.student)
    test = None
    if args.test:
        from fewshot.plugins.registry import load_registry

        test = load_registry().datasets.load(args.test)
    options = {"seed": args.seed, "device": args.device, "test": test}
    options["text_column"] = args.text_column
    if args.epochs is not None:
        options["epochs"] = args.epochs
    with training_progress("distilling", enabled=not args.no_progress and sys.stderr.isatty()):
        if kind == "static":
            from fewshot.compression.static import distill_static

            info = distill_static(args.model, args.unlabeled, args.out, **options)
        else:
            from fewshot.compression.layers import distill_layers

            info = distill_layers(args.model, args.unlabeled, args.out, layers=layers, **options)
    held = info["held_out"]
    line = (
        f"saved a {args.student} student of {args.model} to {args.out} in {info['seconds']} s: "
        f"it decides as the teacher on {held['agreement']:.2%} of {held['texts']} held-out pool texts"
    )
    if "test" in info:
        line += f"; accuracy on {args.test}: {info['test']['accuracy']:.4f}"
    err.print(line, highlight=False, markup=False, soft_wrap=True)
    return 0
