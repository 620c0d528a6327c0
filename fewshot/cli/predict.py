"""``fewshot predict``: label texts with a saved model, as a step of a pipeline (see
:mod:`fewshot.deploy.predictions` for the reading and writing)."""

from __future__ import annotations

import argparse

from fewshot.cli.common import add_cache_options, add_device_option, checked, err
from fewshot.cli.model import _cache_param
from fewshot.encoding.onnx_encoder import BACKENDS
from fewshot.errors import ConfigError
from fewshot.util.params import Integer
from fewshot.util.words import counted


def add_parser(commands) -> None:
    predict = commands.add_parser("predict", help="label texts with a saved model directory")
    predict.add_argument("model", help="a model directory from `fewshot adapt`")
    predict.add_argument(
        "input",
        help="texts: a .txt (one per line), .jsonl, .csv, .tsv or .parquet file, NAME:SPLIT, "
        "or - for standard input",
    )
    predict.add_argument(
        "--out",
        required=True,
        help="predictions: .jsonl, .csv or .parquet by the suffix, or - for standard output",
    )
    predict.add_argument(
        "--top-k", type=int, metavar="K", help="also list the K most probable labels"
    )
    predict.add_argument(
        "--label-column",
        help="the input's gold label column, compared with the predictions (default label; "
        "labels for a multi-label model)",
    )
    predict.add_argument(
        "--batch-size",
        type=checked(int, Integer(min=1, max=1_000_000)),
        default=256,
        metavar="N",
        help="texts labelled at a time (default 256); memory stays bounded by it",
    )
    predict.add_argument(
        "--input-format",
        choices=("txt", "jsonl", "csv", "tsv"),
        default="txt",
        help="the format of standard input (default txt: one text per line)",
    )
    predict.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        default="jsonl",
        help="the format of standard output (default jsonl)",
    )
    add_device_option(predict)
    add_cache_options(
        predict, note="; not used where the model's ONNX bundle predicts alone (see --backend)"
    )
    predict.add_argument("--text-column", help="text column of JSONL/CSV files (default text)")
    predict.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress line while the encoder loads and texts are encoded (shown only on a "
        "terminal)",
    )
    predict.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="auto (default): the model's ONNX bundle where it has one (fewshot export), with "
        "no torch imported, else torch",
    )
    predict.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="label on Ray Data: local (a Ray instance started for the run), auto, HOST:PORT "
        "or ray://HOST:10001; --out is then a new folder of shards with manifest.json, and the "
        "input a file or a folder of files of one format (pip install 'fewshot[ray]')",
    )
    predict.add_argument(
        "--workers",
        type=checked(int, Integer(min=1, max=100_000)),
        metavar="N",
        help="with --ray: Ray actors, one model copy and one CPU each (default: the cluster's "
        "CPUs)",
    )
    predict.add_argument(
        "--shard-format",
        choices=("parquet", "jsonl"),
        default="parquet",
        help="with --ray: the shards' format (default parquet)",
    )
    predict.set_defaults(handler=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    import sys

    from fewshot.util.progress import training_progress

    if args.top_k is not None and args.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {args.top_k}")
    if args.ray is not None:
        return _predict_on_ray(args)
    for flag, given in (("--workers", args.workers), ("--shard-format", args.shard_format)):
        if given not in (None, "parquet"):
            raise ConfigError(f"{flag} is for --ray (prediction on Ray Data)")
    # No training here: the line is the encoder's, while it loads and encodes (on a terminal).
    with training_progress("predicting", enabled=not args.no_progress and sys.stderr.isatty()):
        return _predict(args)


def _predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fewshot.deploy.predictions import PredictionWriter, input_rows, label_rows, output_format
    from fewshot.deploy.predictor import load_predictor
    from fewshot.encoding.encoders import check_device

    device = check_device(args.device)
    fmt = output_format(args.out, args.format)
    if args.out != "-":
        from fewshot.util.files import check_output_file

        inputs = [args.input] if args.input != "-" and Path(args.input).exists() else []
        check_output_file(args.out, inputs=inputs)
    model = load_predictor(
        args.model, device=device, cache=_cache_param(args), backend=args.backend
    )
    text_column = args.text_column or "text"
    rows = input_rows(args.input, text_column=text_column, input_format=args.input_format)
    multi_label = getattr(model, "multi_label_", False)
    writer = None
    correct, gold_seen, total = 0, 0, 0
    try:
        for batch in _batches(rows, args.batch_size):
            labelled = label_rows(
                model,
                batch,
                text_column=text_column,
                label_column=args.label_column,
                top_k=args.top_k or 0,
            )
            gold_seen += labelled.gold_seen
            correct += labelled.correct
            if writer is None:
                writer = PredictionWriter(args.out, fmt)
            writer.write(labelled.rows)
            total += len(labelled.rows)
        if writer is None:
            where = "standard input" if args.input == "-" else args.input
            raise ConfigError(f"{where}: the file has no texts; expected one text per line or row")
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    where = "standard output" if args.out == "-" else args.out
    message = f"{counted(total, 'prediction')} written to {where}"
    if gold_seen == total:
        what = "exact match" if multi_label else "accuracy"
        message += f"; {what} on the labelled inputs: {correct / total:.4f}"
    err.print(message, highlight=False)
    _suggest_onnx(args, model)
    return 0


def _predict_on_ray(args: argparse.Namespace) -> int:
    import sys

    from fewshot.deploy.ray_predict import predict_on_ray

    for flag, given in (("-", args.input), ("-", args.out)):
        if given == flag:
            raise ConfigError("--ray reads a file or folder and writes a folder, not - (stdio)")
    manifest = predict_on_ray(
        args.model,
        args.input,
        args.out,
        address=args.ray,
        text_column=args.text_column or "text",
        label_column=args.label_column,
        top_k=args.top_k or 0,
        batch_size=args.batch_size,
        workers=args.workers,
        shard_format=args.shard_format,
        backend=args.backend,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    rows, seconds = manifest["rows"], manifest["seconds"]
    err.print(
        f"{counted(rows, 'prediction')} written to {args.out} in "
        f"{counted(len(manifest['shards']), 'shard')} ({rows / max(seconds, 1e-9):.0f} texts/s "
        f"on {counted(manifest['ray']['workers'], 'Ray worker')}); see {args.out}/manifest.json",
        highlight=False,
    )
    return 0


def _suggest_onnx(args: argparse.Namespace, model) -> None:
    """Where this run loaded torch and the encoder, which the model's ONNX bundle would have
    spared (a cold start of 5-7 s against 0.4 s on 2 cores, docs/explanation/benchmarks.md),
    say so; not where the backend was chosen (``--backend torch``)."""
    encoder = getattr(getattr(model, "_encoder_object", None), "encoder", None)
    seconds = getattr(encoder, "load_seconds", None)
    if args.backend != "auto" or seconds is None:
        return
    err.print(
        f"note: loading torch and the encoder took {seconds:.1f} s; `fewshot export "
        f"{args.model}` adds an ONNX bundle, which predicts without torch (it starts in under "
        "a second on 2 CPU cores)",
        highlight=False,
    )


def _batches(rows, size: int):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
