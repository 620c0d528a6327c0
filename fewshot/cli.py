"""The ``fewshot`` command line: ``bench``, ``datasets``, ``learners``."""

from __future__ import annotations

import argparse
import csv
import inspect
import io
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from rich.console import Console
from rich.table import Table

import fewshot
from fewshot.cache import EmbeddingCache, default_cache_dir
from fewshot.datasets import Columns
from fewshot.encoders import DEFAULT_ENCODER, check_device
from fewshot.errors import ConfigError, FewshotError
from fewshot.evaluation import Evaluator, FullWaySetting, LearnerSpec, jsonable
from fewshot.journal import Journal
from fewshot.outputs import check_output_file, write_atomic
from fewshot.params import Real
from fewshot.plugins import Registry, load_registry
from fewshot.report import print_report, wide_console, write_results
from fewshot.rundir import RunDirectory, describe_run
from fewshot.suite import Suite, cross_domain_settings, episode_settings, load_suite

err = Console(stderr=True, soft_wrap=True, emoji=False)  # ':x' in a message is not an emoji


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error style: one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one integer, got {text!r}")
    return values


def _checked(convert, constraint):
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


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_learner(text: str) -> LearnerSpec:
    """``NAME`` or ``NAME:param=value,param=value`` (values read as JSON when they parse)."""
    name, _, rest = text.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--learner {text!r}: expected NAME:param=value,param=value")
        params[key.strip()] = _parse_value(value.strip())
    return LearnerSpec(name.strip(), params)


def _warn_failures(registry: Registry) -> None:
    # A plugin whose optional dependency is not installed is news only where it is asked for
    # (`fewshot learners`, or naming its learner).
    for failure in registry.failures:
        if failure.install:
            continue
        err.print(f"[yellow]fewshot: warning:[/yellow] {failure}; skipped", highlight=False)


def _suite_from_args(args: argparse.Namespace) -> Suite:
    flags = {
        "--dataset": args.dataset,
        "--train": args.train,
        "--test": args.test,
        "--ways": args.ways,
        "--shots": args.shots,
        "--queries": args.queries,
        "--episodes": args.episodes,
        "--domain": args.domain,
        "--source": args.source,
        "--target": args.target,
        "--seeds": args.seeds,
        "--unlabeled": args.unlabeled,
        "--source-domain": args.source_domain,
        "--target-domain": args.target_domain,
        "--split": args.split,
        "--meta-train": args.meta_train,
        "--meta-validation": args.meta_validation,
    }
    if args.suite is not None:
        given = [flag for flag, value in flags.items() if value]
        if given:
            raise ConfigError(f"give a suite file or {', '.join(given)}, not both")
        suite = load_suite(args.suite)
        if args.learner:
            suite.learners = [parse_learner(text) for text in args.learner]
        if args.seed is not None:
            suite.settings = [replace(s, seed=args.seed) for s in suite.settings]
        return suite
    if not args.learner:
        raise ConfigError("name at least one learner with --learner (see `fewshot learners`)")
    if bool(args.train) != bool(args.test):
        raise ConfigError("full-way runs need both --train and --test")
    if bool(args.source) != bool(args.target):
        raise ConfigError("cross-domain runs need both --source and --target")
    if not args.dataset and not args.train and not args.source:
        raise ConfigError(
            "give a suite file, --dataset NAME:SPLIT for episodes, --train/--test for full-way, "
            "or --source/--target for cross-domain runs"
        )
    cross_only = {
        "--seeds": args.seeds,
        "--unlabeled": args.unlabeled,
        "--source-domain": args.source_domain,
        "--target-domain": args.target_domain,
    }
    stray = [flag for flag, value in cross_only.items() if value is not None and not args.source]
    if stray:
        raise ConfigError(f"{stray[0]} belongs to cross-domain runs; add --source and --target")
    episodes_only = {
        "--split": args.split,
        "--meta-train": args.meta_train,
        "--meta-validation": args.meta_validation,
    }
    stray = [flag for flag, value in episodes_only.items() if value and not args.dataset]
    if stray:
        raise ConfigError(f"{stray[0]} belongs to episode runs; add --dataset")
    if (args.meta_train or args.meta_validation) and not args.split:
        raise ConfigError("--meta-train and --meta-validation need --split BASE,VALIDATION")
    seed = 0 if args.seed is None else args.seed
    settings: list = []
    for dataset in args.dataset or []:
        table = {
            "dataset": dataset,
            "ways": args.ways or [5],
            "shots": args.shots or [1, 5],
            "queries": 15 if args.queries is None else args.queries,
            "episodes": 600 if args.episodes is None else args.episodes,
            "seed": seed,
            "skip_small_classes": args.skip_small_classes,
        }
        if args.domain:
            table["domain"] = args.domain
        if args.split:
            table["split"] = _split_table(args)
        settings += episode_settings(table, "command line", seed)  # the checks suite files get
    if args.train:
        settings.append(FullWaySetting(args.train, args.test, seed=seed))
    if args.source:
        table = {"source": args.source, "target": args.target, "shots": args.shots or [0, 8]}
        table.update(
            {
                key: value
                for key, value in (
                    ("seeds", args.seeds),
                    ("unlabeled", args.unlabeled),
                    ("source_domain", args.source_domain),
                    ("target_domain", args.target_domain),
                    ("ways", args.ways[0] if args.ways and len(args.ways) == 1 else args.ways),
                )
                if value is not None
            }
        )
        settings += cross_domain_settings(table, "command line", seed)
    return Suite(
        name="command-line",
        learners=[parse_learner(t) for t in args.learner],
        settings=settings,
        seed=seed,
    )


def _describe_run(suite: Suite, evaluator: Evaluator, device: str) -> dict:
    """run.json: what this run computes; its fingerprint decides whether --resume may continue
    it (call after ``evaluator.prepare``, which loads the data it fingerprints)."""
    return describe_run(
        suite=suite.name,
        settings=[{"type": type(s).__name__, **asdict(s)} for s in suite.settings],
        learners=[
            {"label": spec.display, "name": spec.name, "params": jsonable(learner.get_params())}
            for spec, learner in zip(
                suite.learners, evaluator.configured(suite.learners), strict=True
            )
        ],
        encoder=evaluator.encoder.identity,
        data=evaluator.data_fingerprints(),
        device=device,
        argv=sys.argv[1:],
        version=fewshot.__version__,
    )


def _split_table(args: argparse.Namespace) -> dict:
    """``--split 0.34,0.33[,SEED]`` (and --meta-train / --meta-validation) as a suite split."""
    parts = args.split.split(",")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        table: dict = {"base": float(parts[0]), "validation": float(parts[1])}
        if len(parts) == 3:
            table["seed"] = int(parts[2])
    except ValueError:
        raise ConfigError(
            f"--split takes BASE,VALIDATION[,SEED] (class fractions, e.g. 0.34,0.33), got "
            f"{args.split!r}"
        ) from None
    if args.meta_train:
        table["train"] = args.meta_train
    if args.meta_validation:
        table["validate"] = args.meta_validation
    return table


def _cache(args: argparse.Namespace) -> EmbeddingCache | None:
    return None if args.no_cache else EmbeddingCache(args.cache_dir or default_cache_dir())


def cmd_bench(args: argparse.Namespace) -> int:
    registry = load_registry()
    _warn_failures(registry)
    suite = _suite_from_args(args)
    device = check_device(args.device)
    RunDirectory.check(args.out, resume=args.resume, overwrite=args.overwrite)
    columns = Columns(
        args.text_column or suite.columns.text,
        args.label_column or suite.columns.label,
        args.domain_column or suite.columns.domain,
    )
    progress = not args.no_progress and sys.stderr.isatty()
    encoder = registry.cached_encoder(
        args.encoder or suite.encoder or DEFAULT_ENCODER,
        device=device,
        cache=_cache(args),
        progress=progress,
    )
    evaluator = Evaluator(
        registry,
        encoder,
        columns=columns,
        progress=progress,
        device=device,
        episode_timeout=args.episode_timeout,
    )
    # Every input error surfaces here, before --out is touched.
    evaluator.prepare(suite.settings, suite.learners)
    run = _describe_run(suite, evaluator, device)
    directory = RunDirectory.open(args.out, run, resume=args.resume, overwrite=args.overwrite)
    records: list[dict] = []
    comparisons: list[dict] = []
    try:
        journal = Journal(directory.path, resume=args.resume)
        evaluator.journal = journal
        try:
            for result in evaluator.run(suite.settings, suite.learners):
                records += [outcome.record for outcome in result.outcomes]
                comparisons += result.comparisons
                # After every setting, so finished work is kept whatever happens next.
                write_results(directory.path, records, comparisons)
        finally:
            journal.close()
    except KeyboardInterrupt:
        directory.abandon()
        kept = (
            "the earlier run there is unchanged (the replacement was dropped)"
            if directory.replacing
            else "finished episodes are kept: continue with --resume"
        )
        err.print(f"fewshot: interrupted; {args.out}: {kept}", highlight=False, markup=False)
        return 130
    except BaseException:
        directory.abandon()
        raise
    directory.finish()
    out = directory.path
    if args.resume:
        err.print(
            f"resumed: {journal.reused_total()} episodes taken from the journal, {journal.computed} computed",
            highlight=False,
        )
    print_report(records, comparisons)
    failed = [r for r in records if r["status"] != "ok"]
    err.print(
        f"results: {out / 'results.json'}, {out / 'results.csv'}, {out / 'comparisons.json'}",
        highlight=False,
    )
    if failed:
        err.print(
            f"[red]{len(failed)} learner run(s) failed[/red]; see the 'error' field",
            highlight=False,
        )
        return 1
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    registry = load_registry()
    _warn_failures(registry)
    table = Table(title="datasets (use as NAME:SPLIT, or give a .jsonl/.csv path)")
    for column in ("name", "splits", "description", "license"):
        table.add_column(column)
    for info in registry.datasets.datasets.values():
        table.add_row(info.name, ", ".join(info.splits), info.description, info.license)
    wide_console().print(table)
    return 0


def cmd_learners(args: argparse.Namespace) -> int:
    registry = load_registry()
    table = Table(title="learners")
    for column in ("name", "plugin", "input", "parameters (defaults)", "description"):
        table.add_column(column)
    for name, cls in sorted(registry.learners.items()):
        plugin = registry.learner_plugin[name]
        version = registry.plugin_versions.get(plugin, "")
        signature = inspect.signature(cls.__init__)
        params = ", ".join(
            f"{p.name}={p.default!r}" for p in signature.parameters.values() if p.name != "self"
        )
        description = (inspect.getdoc(cls) or "").split("\n")[0]
        table.add_row(
            name,
            f"{plugin} ({version})" if version else plugin,
            cls.input_kind if isinstance(cls.input_kind, str) else "set by parameters",
            params,
            description,
        )
    console = wide_console()
    console.print(table)
    missing = [f for f in registry.failures if f.install]
    if missing:
        console.print("\nunavailable until their dependencies are installed:", style="yellow")
        for failure in missing:
            console.print(
                f"  {failure.plugin}: {failure.error}",
                soft_wrap=True,
                highlight=False,
                markup=False,
            )
    broken = [f for f in registry.failures if not f.install]
    if broken:
        console.print("\nunavailable (the plugins below failed and were skipped):", style="red")
        for failure in broken:
            console.print(f"  {failure}", soft_wrap=True, highlight=False, markup=False)
    return 0


def cmd_install_meta(args: argparse.Namespace) -> int:
    from fewshot.install_meta import install_meta

    install_meta(force=args.force)
    return 0


def _apply_run_options(learner, spec: LearnerSpec, device: str, seed: int | None) -> None:
    """--device and --seed reach learners that take them, unless the learner spec set them."""
    params = learner.get_params()
    if "device" in params and "device" not in spec.params:
        learner.set_params(device=device)
    if seed is not None and "random_state" in params and "random_state" not in spec.params:
        learner.set_params(random_state=seed)


def cmd_adapt(args: argparse.Namespace) -> int:
    from fewshot.data import read_texts
    from fewshot.models import check_model_out, data_fingerprint, save_model

    registry = load_registry()
    _warn_failures(registry)
    device = check_device(args.device)
    columns = Columns(
        args.text_column or "text", args.label_column or "label", args.domain_column or "domain"
    )
    spec = parse_learner(args.learner)
    learner = registry.make_learner(spec.name, spec.params)
    _apply_run_options(learner, spec, device, args.seed)
    for flag, needed in (("--unlabeled", "unlabeled"), ("--source", "source")):
        if getattr(args, needed) and needed not in learner.fit_inputs:
            raise ConfigError(
                f"learner {spec.name!r} does not use {flag}; learners that do: see `fewshot learners`"
            )
    if "source" in learner.fit_inputs and not args.source:
        raise ConfigError(
            f"learner {spec.name!r} needs --source DATA: labelled texts of the source domain"
        )
    if learner.meta_trained != bool(args.meta_train):
        raise ConfigError(
            f"learner {spec.display!r} is meta-trained: give --meta-train DATA, labelled texts of "
            "other classes to learn from"
            if learner.meta_trained
            else f"learner {spec.display!r} is not meta-trained; --meta-train is for those that are"
        )
    check_model_out(args.out)  # before any work: never train for a place we may not write
    encoder_name = args.encoder or DEFAULT_ENCODER
    encoder = None
    if learner.input_kind == "embeddings":
        encoder = registry.cached_encoder(
            encoder_name, device=device, cache=_cache(args), progress=sys.stderr.isatty()
        )
    train = registry.datasets.load(args.train, columns)
    if len(train.classes) < 2:
        raise ConfigError(
            f"{args.train}: every text has the label {train.classes[0]!r}; a classifier needs "
            "at least two classes"
        )

    def inputs(texts):
        return encoder.encode(texts) if encoder is not None else np.asarray(texts, dtype=object)

    fit_inputs: dict = {}
    if args.unlabeled:
        fit_inputs["unlabeled"] = inputs(read_texts(args.unlabeled, text_column=columns.text)[0])
    if args.source:
        source = registry.datasets.load(args.source, columns)
        fit_inputs["source"] = (inputs(source.texts), source.label_array)
    start = time.perf_counter()
    try:
        if learner.meta_trained:
            meta_data = registry.datasets.load(args.meta_train, columns)
            tasks = _adapt_meta_tasks(meta_data, inputs(meta_data.texts), train, args.seed)
            learner.meta_fit(tasks)
        learner.fit(inputs(train.texts), train.label_array, **fit_inputs)
    except (FewshotError, KeyboardInterrupt):
        raise
    except Exception as exc:  # the learner could not learn from this data: say so in one line
        raise ConfigError(
            f"learner {spec.display!r} failed on {args.train}: {type(exc).__name__}: {exc}"
        ) from exc
    seconds = time.perf_counter() - start
    encoder_directory = None
    if encoder is not None:
        encoder_info = {"name": encoder_name, "identity": encoder.identity}
        if encoder_name not in registry.encoders:  # a local directory: it travels with the model
            encoder_directory = encoder.encoder.model
            encoder_info["name"] = Path(encoder_name).name
    else:
        encoder_info = {
            "name": str(learner.get_params().get("encoder", "")),
            "fine_tuned": learner.owns_encoder,
        }
    training = {
        "data": args.train,
        "examples": len(train),
        "classes": len(train.classes),
        "fingerprint": data_fingerprint(train),
        "fit_seconds": round(seconds, 3),
        "unlabeled": args.unlabeled,
        "source": args.source,
        "meta_train": args.meta_train,
    }
    out = save_model(
        learner,
        args.out,
        encoder=encoder_info,
        training=training,
        encoder_directory=encoder_directory,
    )
    err.print(
        f"saved {spec.name} ({len(train.classes)} labels, {len(train)} training texts, fit in {seconds:.1f} s) to {out}",
        highlight=False,
    )
    return 0


def _adapt_meta_tasks(meta_data, X, train, seed: int | None):
    """Meta-training tasks shaped like the training set (its number of classes and its smallest
    class as K), from the classes of ``meta_data`` it does not have: three quarters for
    training episodes, a quarter for validation episodes."""
    from fewshot.episodes import ClassSplit
    from fewshot.meta import MetaTrainingData

    other = [c for c in meta_data.classes if c not in set(train.classes)]
    split = ClassSplit.by_fraction(other, base=0.75, validation=0.25, seed=seed or 0)
    _, counts = np.unique(train.label_array, return_counts=True)
    return MetaTrainingData.from_split(
        split,
        (meta_data, X),
        ways=len(counts),
        shots=int(counts.min()),
        queries=10,
        seed=seed or 0,
    )


def cmd_predict(args: argparse.Namespace) -> int:
    from fewshot.data import read_texts
    from fewshot.models import load

    device = check_device(args.device)
    if args.top_k is not None and args.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {args.top_k}")
    input_is_file = Path(args.input).exists()
    check_output_file(args.out, inputs=[args.input] if input_is_file else [])
    model = load(args.model, device=device, cache=_cache(args))
    if input_is_file:
        texts, labels = read_texts(args.input, text_column=args.text_column or "text")
    else:
        data = load_registry().datasets.load(args.input)
        texts, labels = list(data.texts), list(data.labels)
    proba = model.predict_proba(texts)
    order = np.argsort(-proba, axis=1, kind="stable")
    names = model.labels
    rows = []
    for i, text in enumerate(texts):
        best = order[i, 0]
        row = {"text": text, "label": names[best], "probability": round(float(proba[i, best]), 6)}
        if args.top_k:
            row["top_k"] = [
                {"label": names[j], "probability": round(float(proba[i, j]), 6)}
                for j in order[i, : args.top_k]
            ]
        rows.append(row)
    out = Path(args.out)
    if out.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            {k: json.dumps(v) if k == "top_k" else v for k, v in row.items()} for row in rows
        )
        write_atomic(out, buffer.getvalue())
    else:
        write_atomic(out, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    message = f"{len(rows)} predictions written to {out}"
    if labels is not None:
        accuracy = float(
            np.mean([row["label"] == label for row, label in zip(rows, labels, strict=True)])
        )
        message += f"; accuracy on the labelled inputs: {accuracy:.4f}"
    err.print(message, highlight=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fewshot", description=fewshot.__doc__)
    parser.add_argument("--version", action="version", version=f"fewshot {fewshot.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    bench = commands.add_parser("bench", help="run learners on identical episodes and score them")
    bench.add_argument("suite", nargs="?", type=Path, help="a suite TOML file (see episodes/)")
    bench.add_argument("--out", required=True, type=Path, help="directory for results.json/.csv")
    bench.add_argument("--learner", action="append", metavar="NAME[:p=v,...]", help="repeatable")
    bench.add_argument(
        "--dataset", action="append", metavar="NAME:SPLIT|FILE", help="episodes from this data"
    )
    bench.add_argument(
        "--ways", type=_int_list, metavar="N[,N]", help="classes per episode (default 5)"
    )
    bench.add_argument(
        "--shots", type=_int_list, metavar="K[,K]", help="support examples per class (default 1,5)"
    )
    bench.add_argument(
        "--queries", type=int, metavar="Q", help="query examples per class (default 15)"
    )
    bench.add_argument(
        "--episodes", type=int, metavar="E", help="episodes per setting (default 600)"
    )
    bench.add_argument("--seed", type=int, help="episode seed (default 0)")
    bench.add_argument("--domain", help="draw episodes from this domain only")
    bench.add_argument(
        "--split",
        metavar="BASE,VALIDATION[,SEED]",
        help="split the classes (fractions, shuffled with SEED, default 0): episodes come from "
        "the novel rest; meta-trained learners train on base and validate on validation classes",
    )
    bench.add_argument(
        "--meta-train", metavar="NAME:SPLIT|FILE", help="data of the base-class training episodes"
    )
    bench.add_argument(
        "--meta-validation", metavar="NAME:SPLIT|FILE", help="data of the validation episodes"
    )
    bench.add_argument(
        "--skip-small-classes", action="store_true", help="leave out classes with < K+Q examples"
    )
    bench.add_argument(
        "--train", metavar="NAME:SPLIT|FILE", help="full-way protocol: training split"
    )
    bench.add_argument("--test", metavar="NAME:SPLIT|FILE", help="full-way protocol: test split")
    bench.add_argument(
        "--source", action="append", metavar="NAME:SPLIT|FILE", help="cross-domain: labelled source"
    )
    bench.add_argument(
        "--target",
        action="append",
        metavar="NAME:SPLIT|FILE",
        help="cross-domain: target domain (K labels per class from --shots, default 0,8)",
    )
    bench.add_argument(
        "--seeds", type=int, metavar="S", help="cross-domain: tasks, one per seed (default 10)"
    )
    bench.add_argument(
        "--unlabeled",
        type=float,
        metavar="SHARE",
        help="cross-domain: share of the target (after the K labels) given unlabelled (default 0.5)",
    )
    bench.add_argument("--source-domain", help="cross-domain: source rows of this domain only")
    bench.add_argument("--target-domain", help="cross-domain: target rows of this domain only")
    bench.add_argument(
        "--encoder", help=f"encoder name or local model directory (default {DEFAULT_ENCODER})"
    )
    bench.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    bench.add_argument(
        "--cache-dir",
        type=Path,
        help="embedding cache (default $FEWSHOT_CACHE_DIR or ~/.cache/fewshot)",
    )
    bench.add_argument(
        "--no-cache", action="store_true", help="do not read or write the embedding cache"
    )
    bench.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    bench.add_argument(
        "--overwrite", action="store_true", help="replace an earlier run's results in --out"
    )
    bench.add_argument(
        "--episode-timeout",
        type=_checked(float, Real(min=0, min_open=True)),
        metavar="S",
        help="fail a learner's setting when one episode takes > S s",
    )
    bench.add_argument("--text-column", help="text column of file datasets (default text)")
    bench.add_argument("--label-column", help="label column of file datasets (default label)")
    bench.add_argument("--domain-column", help="domain column of file datasets (default domain)")
    bench.set_defaults(handler=cmd_bench)

    adapt = commands.add_parser(
        "adapt", help="train a learner on labelled texts and save it as a model directory"
    )
    adapt.add_argument(
        "--train", required=True, metavar="NAME:SPLIT|FILE", help="labelled training texts"
    )
    adapt.add_argument(
        "--learner", required=True, metavar="NAME[:p=v,...]", help="e.g. finetune, logreg"
    )
    adapt.add_argument("--out", required=True, type=Path, help="the model directory to write")
    adapt.add_argument(
        "--unlabeled", metavar="FILE", help="unlabelled target texts (domain-alignment learners)"
    )
    adapt.add_argument(
        "--source",
        metavar="NAME:SPLIT|FILE",
        help="labelled source data (domain-alignment learners)",
    )
    adapt.add_argument(
        "--meta-train",
        metavar="NAME:SPLIT|FILE",
        help="meta-trained learners: labelled texts of other classes to meta-train on",
    )
    adapt.add_argument("--seed", type=int, help="random_state for learners that take one")
    predict = commands.add_parser("predict", help="label texts with a saved model directory")
    predict.add_argument("model", type=Path, help="a model directory from `fewshot adapt`")
    predict.add_argument(
        "input", help="a .txt (one text per line), .jsonl or .csv file, or NAME:SPLIT"
    )
    predict.add_argument(
        "--out", required=True, type=Path, help="predictions, .jsonl (default) or .csv"
    )
    predict.add_argument(
        "--top-k", type=int, metavar="K", help="also list the K most probable labels"
    )
    for sub in (adapt, predict):
        sub.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
        sub.add_argument("--cache-dir", type=Path, help="embedding cache directory")
        sub.add_argument("--no-cache", action="store_true", help="do not use the embedding cache")
        sub.add_argument("--text-column", help="text column of JSONL/CSV files (default text)")
    adapt.add_argument(
        "--encoder", help=f"encoder for embedding learners (default {DEFAULT_ENCODER})"
    )
    adapt.add_argument("--label-column", help="label column (default label)")
    adapt.add_argument("--domain-column", help="domain column (default domain)")
    adapt.set_defaults(handler=cmd_adapt)
    predict.set_defaults(handler=cmd_predict)

    commands.add_parser("datasets", help="list the named datasets").set_defaults(
        handler=cmd_datasets
    )
    commands.add_parser("learners", help="list the installed learners").set_defaults(
        handler=cmd_learners
    )
    install_meta = commands.add_parser(
        "install-meta",
        help="build learn2learn for the maml/metasgd learners (after pip install 'fewshot[meta]')",
    )
    install_meta.add_argument("--force", action="store_true", help="rebuild even if it imports")
    install_meta.set_defaults(handler=cmd_install_meta)
    return parser


def _describe_os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def main(argv: list[str] | None = None) -> int:
    # A text or path that is not valid UTF-8 must not turn an error message into a crash.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (one line, status 2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.handler(args)
    except FewshotError as exc:
        if args.debug:
            raise
        err.print(f"fewshot: error: {exc}", highlight=False, markup=False, soft_wrap=True)
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
    except KeyboardInterrupt:
        err.print(
            "fewshot: interrupted; results of finished settings are in --out", highlight=False
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
