"""``fewshot bench``: run learners on identical tasks and score them."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from fewshot.cli.bench_suite import suite_from_args
from fewshot.cli.common import (
    DEFAULT_ENCODER,
    add_cache_options,
    add_device_option,
    add_track_option,
    cache_of,
    checked,
    err,
    int_list,
    interrupt_status,
    warn_failures,
)
from fewshot.errors import ConfigError
from fewshot.util.params import Integer, Real


def add_parser(commands) -> None:
    bench = commands.add_parser("bench", help="run learners on identical episodes and score them")
    bench.add_argument("suite", nargs="?", type=Path, help="a suite TOML file (see episodes/)")
    bench.add_argument("--out", required=True, type=Path, help="directory for results.json/.csv")
    bench.add_argument("--learner", action="append", metavar="NAME[:p=v,...]", help="repeatable")
    bench.add_argument(
        "--dataset", action="append", metavar="NAME:SPLIT|FILE", help="episodes from this data"
    )
    bench.add_argument(
        "--ways", type=int_list, metavar="N[,N]", help="classes per episode (default 5)"
    )
    bench.add_argument(
        "--shots", type=int_list, metavar="K[,K]", help="support examples per class (default 1,5)"
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
        "--unlabeled-data",
        metavar="NAME:SPLIT|FILE",
        help="full-way: unlabelled texts for learners that use them (finetune:self_training=M); "
        "any text of --test is left out",
    )
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
        "--seeds",
        type=int,
        metavar="S",
        help="cross-domain, multi-label full-way and active-learning runs: tasks, one per seed "
        "(default 10; multi-label and active learning 5)",
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
    bench.add_argument(
        "--oos",
        metavar="NAME:SPLIT|FILE",
        help="out-of-scope texts added to the test (full-way) or to every episode's queries: "
        "learners then reject what fits no class",
    )
    bench.add_argument(
        "--oos-valid",
        metavar="NAME:SPLIT|FILE",
        help="full-way: held-out out-of-scope texts that, with --valid, choose the thresholds",
    )
    bench.add_argument(
        "--valid",
        metavar="NAME:SPLIT|FILE",
        help="full-way: held-out in-scope texts (with --oos-valid)",
    )
    bench.add_argument(
        "--scorer",
        metavar="NAME[,NAME]",
        help="out-of-scope scorers, the first one reported at the top of each record "
        "(default: mahalanobis,msp,energy,cosine,knn)",
    )
    bench.add_argument(
        "--reject-recall",
        type=float,
        metavar="R",
        help="share of in-scope texts the thresholds keep in scope (default 0.95)",
    )
    bench.add_argument(
        "--oos-queries",
        type=int,
        metavar="N",
        help="out-of-scope queries per episode (default: as many as in-scope queries)",
    )
    bench.add_argument(
        "--multi-label",
        action="store_true",
        help="texts carry sets of labels: full-way (--train/--test, --shots K, --seeds S "
        "supports) or episodes over subsets of labels (--dataset); see docs/how-to/multi-label.md",
    )
    bench.add_argument(
        "--pool",
        metavar="NAME:SPLIT|FILE",
        help="active learning, simulated: labelled texts whose labels answer as a person would, "
        "scored on --test; see docs/how-to/label-from-zero.md",
    )
    bench.add_argument(
        "--strategies",
        metavar="NAME[,NAME]",
        help="active learning: strategies (default hybrid,margin,kcenter,random,class-balanced)",
    )
    bench.add_argument("--batch", type=int, metavar="B", help="active learning: texts per round")
    bench.add_argument("--total", type=int, metavar="T", help="active learning: texts in all")
    bench.add_argument(
        "--start", help="active learning: one-per-class (default) or zero-shot (nothing labelled)"
    )
    add_device_option(bench)
    add_cache_options(bench)
    bench.add_argument(
        "--workers",
        type=checked(int, Integer(min=1, max=1024)),
        metavar="N",
        help="run the work in N local worker processes (each gets its share of the cores)",
    )
    bench.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the work on Ray: 'local' starts one on this machine; or a running cluster's "
        "address ('auto', HOST:PORT, ray://HOST:10001); needs pip install 'fewshot[ray]'",
    )
    bench.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    bench.add_argument(
        "--overwrite", action="store_true", help="replace an earlier run's results in --out"
    )
    bench.add_argument(
        "--episode-timeout",
        type=checked(float, Real(min=0, min_open=True)),
        metavar="S",
        help="fail a learner's setting when one episode takes > S s",
    )
    bench.add_argument(
        "--report",
        action="store_true",
        help="also write OUT/report.html, the run's results drawn (see fewshot report; "
        "needs pip install 'fewshot[report]')",
    )
    bench.add_argument("--text-column", help="text column of file datasets (default text)")
    bench.add_argument("--label-column", help="label column of file datasets (default label)")
    bench.add_argument("--domain-column", help="domain column of file datasets (default domain)")
    bench.add_argument(
        "--labels-column", help="multi-label files: the column of label lists (default labels)"
    )
    bench.add_argument(
        "--label-separator",
        help="multi-label CSV/TSV: what separates the labels in one cell (default |)",
    )
    add_track_option(bench)
    bench.set_defaults(handler=run)


def _describe_run(suite, evaluator, device: str) -> dict:
    """run.json: what this run computes; its fingerprint decides whether --resume may continue
    it (call after ``evaluator.prepare``, which loads the data it fingerprints)."""
    import fewshot
    from fewshot.evaluation.aggregate import jsonable
    from fewshot.evaluation.run_directory import describe_run

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


def _tracked_params(run: dict, suite) -> dict:
    """What a tracker is told the run is: the suite's learners, data and settings."""
    return {
        "suite": run["suite"],
        "learners": ", ".join(spec.display for spec in suite.learners),
        "data": ", ".join(sorted(run["parts"]["data"])),
        "settings": len(suite.settings),
        "encoder": run["encoder"],
        "device": run["device"],
        "fingerprint": run["fingerprint"],
        "argv": " ".join(run["argv"]),
    }


def run(args: argparse.Namespace) -> int:
    from fewshot.data.catalogue import Columns
    from fewshot.encoding.encoders import check_device
    from fewshot.evaluation.evaluator import Evaluator
    from fewshot.evaluation.executors import make_executor
    from fewshot.evaluation.run_directory import RunDirectory
    from fewshot.integrations.tracking import make_trackers, tracked
    from fewshot.plugins.registry import load_registry

    registry = load_registry()
    warn_failures(registry)
    suite = suite_from_args(args)
    device = check_device(args.device)
    if args.workers and args.ray:
        raise ConfigError("--workers runs local processes and --ray runs on Ray; choose one")
    RunDirectory.check(args.out, resume=args.resume, overwrite=args.overwrite)
    if args.report:
        from fewshot.report.html import require_matplotlib

        require_matplotlib()  # now, not after hours of work
    trackers = make_trackers(args.track, registry.trackers)
    executor = make_executor(args.workers, args.ray, registry=registry)
    columns = Columns(
        args.text_column or suite.columns.text,
        args.label_column or suite.columns.label,
        args.domain_column or suite.columns.domain,
        args.labels_column or suite.columns.labels,
        args.label_separator or suite.columns.label_separator,
    )
    progress = not args.no_progress and sys.stderr.isatty()
    encoder = registry.cached_encoder(
        args.encoder or suite.encoder or DEFAULT_ENCODER,
        device=device,
        cache=cache_of(args),
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
    try:
        # Every input error surfaces here, before --out is touched.
        prepared = evaluator.prepare(suite.settings, suite.learners)
        with tracked(trackers, losses=False) as tracking:
            return _execute(args, suite, evaluator, prepared, executor, device, tracking)
    finally:
        executor.close()


def _execute(args, suite, evaluator, prepared, executor, device, tracking) -> int:
    from fewshot.evaluation.journal import Journal
    from fewshot.evaluation.run_directory import RunDirectory
    from fewshot.integrations.tracking import RunStart
    from fewshot.report.tables import print_report, write_results

    run = _describe_run(suite, evaluator, device)
    run["executor"] = executor.describe()
    directory = RunDirectory.open(args.out, run, resume=args.resume, overwrite=args.overwrite)
    tracking.start(RunStart("bench", suite.name, run["fingerprint"], _tracked_params(run, suite)))
    evaluator.executor = executor
    records: list[dict] = []
    comparisons: list[dict] = []
    try:
        journal = Journal(directory.path, resume=args.resume)
        evaluator.journal = journal
        try:
            for result in evaluator.execute(prepared):
                records += [outcome.record for outcome in result.outcomes]
                for outcome in result.outcomes:
                    tracking.record(outcome.record)
                comparisons += result.comparisons
                # After every setting, so finished work is kept whatever happens next.
                write_results(directory.path, records, comparisons)
        finally:
            journal.close()
    except KeyboardInterrupt as exc:
        directory.abandon()
        tracking.finish("KILLED")
        kept = (
            "the earlier run there is unchanged (the replacement was dropped)"
            if directory.replacing
            else "finished episodes are kept: continue with --resume"
        )
        err.print(f"fewshot: interrupted; {args.out}: {kept}", highlight=False, markup=False)
        return interrupt_status(exc)
    except OSError as exc:  # a write refused (full disk, file-size limit): said in one line
        directory.abandon()
        if not directory.replacing:
            raise  # it names the file, and the journal says how to resume
        reason = (exc.strerror or str(exc)).split(";")[0]
        raise OSError(
            exc.errno,
            f"{reason}; the earlier run there is unchanged (the replacement was dropped)",
            str(args.out),
        ) from None
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
    if args.report:
        from fewshot.report.html import write_report

        write_report([out], out / "report.html")
        err.print(f"report: {out / 'report.html'}", highlight=False)
    for name in ("results.json", "results.csv", "comparisons.json", "run.json", "report.html"):
        tracking.artifact(out / name)
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
