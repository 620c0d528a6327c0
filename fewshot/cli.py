"""The ``fewshot`` command line: ``bench``, ``datasets``, ``learners``."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import fewshot
from fewshot.cache import EmbeddingCache, default_cache_dir
from fewshot.datasets import Columns
from fewshot.encoders import DEFAULT_ENCODER, check_device
from fewshot.errors import ConfigError, FewshotError
from fewshot.evaluation import EpisodeSetting, Evaluator, FullWaySetting, LearnerSpec
from fewshot.plugins import Registry, load_registry
from fewshot.report import print_report, wide_console, write_atomic, write_results
from fewshot.suite import Suite, load_suite

err = Console(stderr=True, soft_wrap=True)


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
    for failure in registry.failures:
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
    if not args.dataset and not args.train:
        raise ConfigError(
            "give a suite file, --dataset NAME:SPLIT for episodes, or --train/--test for full-way"
        )
    seed = 0 if args.seed is None else args.seed
    settings: list = []
    for dataset in args.dataset or []:
        for ways in args.ways or [5]:
            for shots in args.shots or [1, 5]:
                settings.append(
                    EpisodeSetting(
                        dataset,
                        ways,
                        shots,
                        args.queries or 15,
                        args.episodes or 600,
                        seed=seed,
                        domain=args.domain,
                        skip_small_classes=args.skip_small_classes,
                    )
                )
    if args.train:
        settings.append(FullWaySetting(args.train, args.test, seed=seed))
    return Suite(
        name="command-line",
        learners=[parse_learner(t) for t in args.learner],
        settings=settings,
        seed=seed,
    )


def cmd_bench(args: argparse.Namespace) -> int:
    registry = load_registry()
    _warn_failures(registry)
    suite = _suite_from_args(args)
    device = check_device(args.device)
    columns = Columns(
        args.text_column or suite.columns.text,
        args.label_column or suite.columns.label,
        args.domain_column or suite.columns.domain,
    )
    cache = None if args.no_cache else EmbeddingCache(args.cache_dir or default_cache_dir())
    progress = not args.no_progress and sys.stderr.isatty()
    encoder = registry.cached_encoder(
        args.encoder or suite.encoder or DEFAULT_ENCODER,
        device=device,
        cache=cache,
        progress=progress,
    )
    evaluator = Evaluator(registry, encoder, columns=columns, progress=progress)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    comparisons: list[dict] = []
    run = {
        "suite": suite.name,
        "argv": sys.argv[1:],
        "fewshot_version": fewshot.__version__,
        "encoder": encoder.identity,
        "device": device,
    }
    for result in evaluator.run(suite.settings, suite.learners):
        if not records:  # nothing in --out is replaced until this run has a result
            write_atomic(out / "run.json", json.dumps(run, indent=2) + "\n")
        records += [outcome.record for outcome in result.outcomes]
        comparisons += result.comparisons
        write_results(out, records, comparisons)  # after every setting, so finished work is kept
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
            cls.input_kind,
            params,
            description,
        )
    console = wide_console()
    console.print(table)
    if registry.failures:
        console.print("\nunavailable (the plugins below failed and were skipped):", style="red")
        for failure in registry.failures:
            console.print(f"  {failure}", soft_wrap=True, highlight=False, markup=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fewshot", description=fewshot.__doc__)
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
        "--skip-small-classes", action="store_true", help="leave out classes with < K+Q examples"
    )
    bench.add_argument(
        "--train", metavar="NAME:SPLIT|FILE", help="full-way protocol: training split"
    )
    bench.add_argument("--test", metavar="NAME:SPLIT|FILE", help="full-way protocol: test split")
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
    bench.add_argument("--text-column", help="text column of file datasets (default text)")
    bench.add_argument("--label-column", help="label column of file datasets (default label)")
    bench.add_argument("--domain-column", help="domain column of file datasets (default domain)")
    bench.set_defaults(handler=cmd_bench)

    commands.add_parser("datasets", help="list the named datasets").set_defaults(
        handler=cmd_datasets
    )
    commands.add_parser("learners", help="list the installed learners").set_defaults(
        handler=cmd_learners
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except FewshotError as exc:
        if args.debug:
            raise
        err.print(f"fewshot: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err.print(
            "fewshot: interrupted; results of finished settings are in --out", highlight=False
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
