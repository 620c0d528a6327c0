"""``fewshot export MODEL_DIR --onnx [--quantize int8]``: the model's encoder as ONNX."""

from __future__ import annotations

import argparse

from fewshot.cli.common import err


def add_parser(commands) -> None:
    export = commands.add_parser(
        "export",
        help="add an ONNX bundle (fp32, int8) to a model: predict and serve then need no torch",
        description="Export the encoder of a model directory (its fine-tuned one, or the one it "
        "names) to ONNX with its tokenizer, optionally quantised to int8, and add them to the "
        "model (listed and verified like its other files). The export is checked before it is "
        "kept: predictions through ONNX are compared with torch's on the model's training texts "
        "(and --texts); fp32 must agree. Needs pip install 'fewshot[onnx]'.",
    )
    export.add_argument(
        "model", metavar="MODEL_DIR", help="a model directory (fewshot adapt --out)"
    )
    export.add_argument(
        "--onnx",
        action="store_true",
        help="export to ONNX (the only format, so also what a plain `fewshot export` does)",
    )
    export.add_argument(
        "--quantize",
        choices=["int8"],
        help="also write a dynamically quantised int8 encoder (and make it the default)",
    )
    export.add_argument(
        "--out", metavar="DIR", help="write the exported model here instead (a copy)"
    )
    export.add_argument(
        "--texts",
        action="append",
        metavar="DATA",
        help="more texts to check the export on: a file (.txt, .jsonl, .csv, ...) or NAME:SPLIT",
    )
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from fewshot.deploy.export import export_onnx

    where, checks = export_onnx(
        args.model, quantize=args.quantize == "int8", out=args.out, texts=args.texts
    )
    for check in checks:
        err.print(
            f"onnx {check.variant}: {check.agreement:.2%} of {check.texts} texts get torch's "
            f"prediction; largest probability difference {check.max_probability_difference:.2g}",
            highlight=False,
            markup=False,
        )
    err.print(f"exported to {where}", highlight=False, markup=False)
    return 0
