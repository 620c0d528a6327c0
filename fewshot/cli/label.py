"""``fewshot label POOL --classes NAMES|FILE --project DIR``: the labelling page."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fewshot.cli.common import DEFAULT_ENCODER, add_cache_options, add_device_option, checked, err
from fewshot.util.params import Integer

#: Where a project keeps the model it exports, and the labels that model learnt from.
MODEL_DIR = "model"
MODEL_LABELS = "model.labels.jsonl"


def add_parser(commands) -> None:
    label = commands.add_parser(
        "label",
        help="label a pool of texts in a local page while the model learns (fewshot[serve])",
        description="Serve a labelling page on 127.0.0.1: it shows the pool's texts in the order "
        "an acquisition strategy picks (zero-shot from the class names at the start) with the "
        "model's guesses; pick a class by click or number key, skip (s), none of these (0), "
        "undo (u). The model refits in the background every few labels and the page shows its "
        "cross-validated accuracy. Every label is committed to DIR/labels.sqlite before the "
        "next text shows; run the same command again to resume.",
    )
    label.add_argument("pool", metavar="POOL", help="unlabelled texts: NAME:SPLIT or a file")
    label.add_argument(
        "--classes",
        metavar="NAMES|FILE",
        help="the classes: comma-separated, or a file (one per line, or a JSON object of "
        "names and descriptions); on resume, new ones are added",
    )
    label.add_argument(
        "--project", required=True, metavar="DIR", help="the project folder (made if missing)"
    )
    label.add_argument(
        "--model",
        metavar="MODEL_DIR|ENCODER",
        help="a model directory to start from (it ranks the pool until every class has a "
        "label; its encoder and learner are kept), or a sentence encoder (default "
        f"{DEFAULT_ENCODER})",
    )
    label.add_argument(
        "--learner",
        metavar="NAME[:p=v,...]",
        help="the learner once every class has a label (default logreg on frozen embeddings, "
        "refitted in seconds; finetune tunes the encoder, the page shows its steps)",
    )
    label.add_argument(
        "--multi-label", action="store_true", help="a text may have several labels (new projects)"
    )
    label.add_argument(
        "--retrain-every",
        type=checked(int, Integer(min=1)),
        default=5,
        metavar="N",
        help="refit after N new decisions (default 5)",
    )
    label.add_argument(
        "--strategy", default="hybrid", help="what to show next (default hybrid; see suggest)"
    )
    label.add_argument(
        "--audit-every",
        type=checked(int, Integer(min=0)),
        default=10,
        metavar="N",
        help="every N-th text is drawn at random from the pool: the model's guesses on those "
        "estimate its accuracy on the pool (default 10; 0: none)",
    )
    label.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1); any other address prints a link with a "
        "random access token (or set FEWSHOT_SERVE_TOKEN) that every request must carry",
    )
    label.add_argument(
        "--port",
        type=checked(int, Integer(min=0, max=65535)),
        default=8765,
        help="default 8765; 0: a free port",
    )
    label.add_argument(
        "--export-labels", metavar="FILE", help="write the labels (.jsonl, .csv) and exit"
    )
    label.add_argument(
        "--export-model",
        action="store_true",
        help=f"fit on every label, write the model to DIR/{MODEL_DIR} and exit",
    )
    label.add_argument("--seed", type=int, default=0, help="seed of random choices (default 0)")
    label.add_argument("--text-column", default="text", help="text column of JSONL/CSV files")
    label.add_argument("--id-column", default="id", help="id column kept in the exports")
    label.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    add_device_option(label)
    add_cache_options(label)
    label.set_defaults(handler=run_label)


def class_list(given: str | None) -> tuple[list[str], dict[str, str] | None]:
    """``--classes``: a file of classes where one is there (with their descriptions, for a JSON
    object), else comma-separated names."""
    from fewshot.data.label_names import read_class_list

    if not given:
        return [], None
    if os.path.isfile(given):
        return read_class_list(given)
    return [name.strip() for name in given.split(",") if name.strip()], None


def starting_point(model: str | None):
    """(encoder, learner spec, start model) from ``--model``: a model directory's, or an
    encoder's name (and no learner or model)."""
    from fewshot.models.classifier import load
    from fewshot.models.directory import CONFIG

    if model is None or not (Path(model) / CONFIG).is_file():
        return model or DEFAULT_ENCODER, None, None
    from fewshot.learners.base import LearnerSpec

    start = load(model, backend="torch")
    encoder = str(start.encoder)
    if (Path(model) / encoder).is_dir():  # an encoder the model directory carries
        encoder = str(Path(model) / encoder)
    params = start.learner_.get_params(deep=False)
    for shared in ("encoder", "device"):  # the classifier's, not the learner's own
        params.pop(shared, None)
    return encoder, LearnerSpec(str(start.learner), params), start


def save_model(project, trainer) -> tuple[Path, int]:
    """Fit on every label committed now and write the model to ``DIR/model`` (adapt's format),
    recording the labels it learnt from in ``DIR/model.labels.jsonl``."""
    from fewshot.data.catalogue import Columns
    from fewshot.deploy.predictions import PredictionWriter
    from fewshot.errors import ConfigError
    from fewshot.models.saving import data_fingerprint
    from fewshot.plugins.registry import shared_registry

    model, labelled = trainer.current()
    if not labelled:
        raise ConfigError("label some texts first: the model would know the class names only")
    labels_path = project.directory / MODEL_LABELS
    writer = PredictionWriter(str(labels_path), "jsonl")
    try:
        writer.write(project.export_rows())
    except BaseException:
        writer.abandon()
        raise
    writer.close()
    data = shared_registry().datasets.load(str(labels_path), Columns())
    training = {
        "data": str(labels_path.resolve()),
        "columns": {},
        "examples": labelled,
        "classes": len(model.classes_),
        "fingerprint": data_fingerprint(data),
        "labelling_project": str(project.directory.resolve()),
    }
    return model.save(project.directory / MODEL_DIR, training=training), labelled


def run_label(args: argparse.Namespace) -> int:
    from fewshot.cli.model import _cache_param
    from fewshot.deploy.predictions import input_rows, text_of
    from fewshot.errors import ConfigError
    from fewshot.labelling.project import DATABASE, LabelProject
    from fewshot.labelling.trainer import Trainer
    from fewshot.plugins.registry import load_registry

    serving = not (args.export_labels or args.export_model)
    if serving:
        from fewshot.deploy.serve import require_serve

        require_serve("label")
    if args.export_labels:
        from fewshot.util.files import check_output_file

        check_output_file(args.export_labels, flag="--export-labels")
    registry = load_registry()
    texts, ids = [], []
    for where, row in input_rows(args.pool, text_column=args.text_column, registry=registry):
        texts.append(text_of(where, row, args.text_column))
        ids.append(row.get(args.id_column))
    if not texts:
        raise ConfigError(f"{args.pool}: the pool has no texts")
    encoder, learner, start = starting_point(args.model)
    given, label_names = class_list(args.classes)
    classes = given + ([] if start is None else list(start.labels))
    if not classes and not (Path(args.project) / DATABASE).exists():
        raise ConfigError("give the classes: --classes NAME,NAME,... or --classes FILE")
    project = LabelProject(
        args.project,
        texts,
        list(dict.fromkeys(classes)),
        multi_label=args.multi_label,
        ids=ids if any(i is not None for i in ids) else None,
        pool=args.pool,
    )
    try:
        if len(project.classes()) < 2:
            raise ConfigError("a labelling project needs at least two classes (--classes)")
        if args.export_labels:
            return _export_labels(project, args.export_labels)
        trainer = Trainer(
            project,
            learner=args.learner or learner or "logreg",
            encoder=encoder,
            device=args.device,
            cache=_cache_param(args),
            retrain_every=args.retrain_every,
            strategy=args.strategy,
            seed=args.seed,
            audit_every=args.audit_every,
            start_model=start,
            label_names=label_names,
        )
        counts = project.counts()
        say(
            f"fewshot label: {len(texts)} texts, {len(project.classes())} classes, "
            f"{counts['labelled']} labelled so far; encoding the pool and fitting a first model"
        )
        trainer.fit()
        if args.export_model:
            path, labelled = save_model(project, trainer)
            say(f"saved the model ({labelled} labels) to {path}")
            return 0
        _serve(project, trainer, args)
    finally:
        project.close()
    return 0


def _export_labels(project, out: str) -> int:
    from fewshot.deploy.predictions import PredictionWriter, output_format

    fmt = output_format(out, "jsonl")
    if fmt not in ("jsonl", "csv"):
        from fewshot.errors import ConfigError

        raise ConfigError(f"--export-labels {out}: write .jsonl or .csv")
    rows = project.export_rows()
    if project.multi_label and fmt == "csv":
        rows = [{**row, "labels": "|".join(row["labels"])} for row in rows]
    writer = PredictionWriter(out, fmt)
    try:
        writer.write(rows)
    except BaseException:
        writer.abandon()
        raise
    writer.close()
    say(f"wrote {len(rows)} labelled texts to {out}")
    return 0


def _serve(project, trainer, args: argparse.Namespace) -> None:
    from fewshot.labelling.app import create_app
    from fewshot.util.access import TOKEN_VARIABLE, access_token
    from fewshot.util.http_server import run_app

    token = access_token(args.host)
    app = create_app(
        project,
        trainer,
        host=args.host,
        token=token,
        export_model=lambda: save_model(project, trainer),
    )

    def announce(port: int) -> None:
        host = f"[{args.host}]" if ":" in args.host and not args.host.startswith("[") else args.host
        address = f"http://{host}:{port}/"
        if token is not None and TOKEN_VARIABLE not in os.environ:
            address += f"?token={token}"
        elif token is not None:
            address += f"?token=<{TOKEN_VARIABLE}>"
        print(f"fewshot label: open {address}", flush=True)  # stdout: what a script reads
        say("stop with Ctrl-C; every label is already saved")

    trainer.start()
    try:
        run_app(app, host=args.host, port=args.port, log_level=args.log_level, announce=announce)
    finally:
        trainer.stop()


def say(line: str) -> None:
    err.print(line, highlight=False, markup=False, soft_wrap=True)
    sys.stderr.flush()
