"""``fewshot suggest`` (what to label next) and ``fewshot check-labels`` (which labels look
wrong): the labelling loop's commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewshot.cli.common import add_cache_options, add_device_option, checked, err
from fewshot.util.params import Integer


def add_parsers(commands) -> None:
    suggest = commands.add_parser(
        "suggest",
        help="rank a pool of unlabelled texts for labelling next, and list those that fit no class",
        description="Rank the texts of --pool by what a label on each would teach the model "
        "(see --strategy), leaving out those labelled already, and write the best --budget of "
        "them with the model's guess to --out (CSV or JSONL: a file to label in a spreadsheet); "
        "the texts least likely to fit any class, grouped by similarity, go to --oos-out.",
    )
    suggest.add_argument("model", metavar="MODEL_DIR", help="a model directory (fewshot adapt)")
    suggest.add_argument(
        "--pool", required=True, metavar="NAME:SPLIT|FILE", help="unlabelled texts"
    )
    suggest.add_argument(
        "--budget", required=True, type=checked(int, Integer(min=1)), help="how many to suggest"
    )
    suggest.add_argument(
        "--out", required=True, metavar="FILE", help="the suggestions (.csv, .jsonl)"
    )
    suggest.add_argument(
        "--strategy",
        default="hybrid",
        help="how to rank: hybrid (default), margin, entropy, kcenter, balanced, random, or a "
        "plugin's (docs: how-to/label-next)",
    )
    suggest.add_argument(
        "--labelled",
        metavar="NAME:SPLIT|FILE",
        help="the texts labelled so far (default: the model's training data, where it is still "
        "there): never suggested again, and what a diverse choice keeps away from",
    )
    suggest.add_argument(
        "--out-of-scope",
        type=checked(int, Integer(min=0)),
        default=50,
        metavar="N",
        help="how many texts that may fit no class to list (default 50; 0: none)",
    )
    suggest.add_argument(
        "--oos-out",
        metavar="FILE",
        help="where they go (default: beside --out, NAME.out-of-scope.EXT)",
    )
    suggest.add_argument("--seed", type=int, default=0, help="seed of random choices (default 0)")
    suggest.add_argument("--text-column", default="text", help="text column of JSONL/CSV files")
    suggest.add_argument("--id-column", default="id", help="id column passed through (default id)")
    add_device_option(suggest)
    add_cache_options(suggest)
    suggest.set_defaults(handler=run_suggest)

    check = commands.add_parser(
        "check-labels",
        help="list the labels of a labelled set that look wrong, and near-duplicates labelled apart",
        description="Fit --learner on folds of DATA and score each text with the fit that did not "
        "see it; confident learning (cleanlab) flags the labels the model disagrees with, "
        "naming the label it suggests instead. Texts nearly identical but labelled differently "
        "are listed too; the class pairs most confused are counted on stderr.",
    )
    check.add_argument("data", metavar="NAME:SPLIT|FILE", help="labelled texts")
    check.add_argument(
        "--out",
        default="-",
        metavar="FILE",
        help="one row per suspect (.csv, .jsonl; default: stdout)",
    )
    check.add_argument(
        "--learner",
        default="logreg",
        metavar="NAME[:p=v,...]",
        help="the learner fitted on the folds (default logreg; one on frozen embeddings)",
    )
    check.add_argument(
        "--folds", type=checked(int, Integer(min=2, max=50)), default=5, help="folds (default 5)"
    )
    check.add_argument(
        "--duplicates",
        type=float,
        default=0.95,
        metavar="COSINE",
        help="texts at least this similar with different labels are listed (default 0.95)",
    )
    check.add_argument("--seed", type=int, default=0, help="seed of the folds (default 0)")
    check.add_argument("--encoder", help="sentence encoder (default all-MiniLM-L6-v2)")
    check.add_argument("--text-column", default="text", help="text column of JSONL/CSV files")
    check.add_argument("--label-column", default="label", help="label column (default label)")
    check.add_argument("--id-column", default="id", help="id column passed through (default id)")
    add_device_option(check)
    add_cache_options(check)
    check.set_defaults(handler=run_check_labels)


def _oos_path(out: str) -> str:
    path = Path(out)
    return str(path.with_name(f"{path.stem}.out-of-scope{path.suffix or '.jsonl'}"))


def run_suggest(args: argparse.Namespace) -> int:
    from fewshot.acquisition.base import make_strategy
    from fewshot.cli.model import _cache_param
    from fewshot.data.catalogue import Columns
    from fewshot.deploy.export import recorded_training_data
    from fewshot.deploy.predictions import PredictionWriter, input_rows, output_format, text_of
    from fewshot.labelling.suggest import suggest
    from fewshot.models.classifier import load
    from fewshot.models.directory import read_config
    from fewshot.plugins.registry import load_registry
    from fewshot.util.files import check_output_file

    registry = load_registry()
    make_strategy(args.strategy, registry.strategies)  # an unknown one: refused before any work
    oos_out = args.oos_out or _oos_path(args.out)
    formats = [output_format(path, "jsonl") for path in (args.out, oos_out)]
    for path, flag in ((args.out, "--out"), (oos_out, "--oos-out")):
        check_output_file(path, inputs=[args.pool], flag=flag)
    texts, ids = [], []
    for where, row in input_rows(args.pool, text_column=args.text_column, registry=registry):
        texts.append(text_of(where, row, args.text_column))
        ids.append(row.get(args.id_column))
    has_ids = any(i is not None for i in ids)
    if args.labelled:
        data = registry.datasets.load(args.labelled, Columns(text=args.text_column))
        labelled = (list(data.texts), list(data.labels))
    else:
        data = recorded_training_data(read_config(Path(args.model)))
        labelled = (list(data.texts), list(data.labels)) if data is not None else None
    classifier = load(args.model, device=args.device, cache=_cache_param(args), backend="torch")
    found = suggest(
        classifier,
        texts,
        args.budget,
        strategies=registry.strategies,
        strategy=args.strategy,
        labelled=labelled,
        out_of_scope=args.out_of_scope,
        seed=args.seed,
        ids=ids if has_ids else None,
    )
    for path, fmt, rows in (
        (args.out, formats[0], found.rows),
        (oos_out, formats[1], found.out_of_scope),
    ):
        if not rows and path == oos_out:
            continue
        writer = PredictionWriter(path, fmt)
        try:
            writer.write(rows)
        except BaseException:
            writer.abandon()
            raise
        writer.close()
    groups = len({r["group"] for r in found.out_of_scope})
    line = f"wrote {len(found.rows)} texts to label next ({found.strategy}) to {args.out}"
    if found.out_of_scope:
        line += (
            f"; {len(found.out_of_scope)} that may fit no class, in {groups} groups, to {oos_out}"
        )
    if found.skipped_labelled:
        line += f"; left out {found.skipped_labelled} pool texts labelled already"
    elif labelled is None:
        line += "; the model's training data is not here: give --labelled DATA so that texts labelled already are left out"
    err.print(line, highlight=False, markup=False, soft_wrap=True)
    return 0


def run_check_labels(args: argparse.Namespace) -> int:
    from fewshot.cli.common import DEFAULT_ENCODER, cache_of, parse_learner
    from fewshot.data.catalogue import Columns
    from fewshot.deploy.predictions import PredictionWriter, input_rows, output_format
    from fewshot.errors import ConfigError
    from fewshot.labelling.label_errors import check_labels
    from fewshot.plugins.registry import load_registry
    from fewshot.util.files import check_output_file

    registry = load_registry()
    spec = parse_learner(args.learner)
    registry.make_learner(spec.name, spec.params)  # an unknown learner: said before any work
    fmt = output_format(args.out, "jsonl")
    if args.out != "-":
        check_output_file(args.out, inputs=[args.data])
    data = registry.datasets.load(
        args.data, Columns(text=args.text_column, label=args.label_column)
    )
    if data.is_multi_label:
        raise ConfigError(
            f"{args.data}: check-labels checks one label per text; this is multi-label"
        )
    ids = None
    if Path(args.data).exists():
        ids = [
            row.get(args.id_column)
            for _, row in input_rows(args.data, text_column=args.text_column)
        ]
        ids = ids if any(i is not None for i in ids) and len(ids) == len(data) else None
    encoder = registry.cached_encoder(
        args.encoder or DEFAULT_ENCODER, device=args.device, cache=cache_of(args), progress=False
    )
    vectors = encoder.encode(list(data.texts))
    found = check_labels(
        list(data.texts),
        list(data.labels),
        learner=args.learner,
        vectors=vectors,
        folds=args.folds,
        seed=args.seed,
        duplicates=args.duplicates,
        ids=ids,
    )
    writer = PredictionWriter(args.out, fmt)
    try:
        writer.write(found.rows)
    except BaseException:
        writer.abandon()
        raise
    writer.close()
    errors = sum(r["kind"] == "label-error" for r in found.rows)
    twins = len(found.rows) - errors
    err.print(
        f"{args.data}: {errors} of {len(data)} labels look wrong and {twins} near-duplicate pairs "
        f"carry different labels ({spec.display}, {found.folds}-fold; out-of-fold accuracy "
        f"{found.accuracy:.4f})" + ("" if args.out == "-" else f"; written to {args.out}"),
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    for a, b, n in found.confused[:5]:
        err.print(f"  most confused: {a} / {b}: {n} texts", highlight=False, markup=False)
    return 0
