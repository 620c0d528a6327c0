"""``fewshot bench``'s flags as a suite: a suite file (with --learner / --seed overriding it), or
the settings the flags describe (episodes, full-way, cross-domain, meta-training splits,
out-of-scope and multi-label runs), each checked for flags that do not belong with it."""

from __future__ import annotations

import argparse
from dataclasses import replace

from fewshot.cli.common import parse_learner
from fewshot.errors import ConfigError


def suite_from_args(args: argparse.Namespace):
    """The suite a run computes: a suite file (with --learner / --seed overriding it) or the
    settings the flags describe."""
    from fewshot.evaluation.suite import load_suite
    from fewshot.evaluation.suite_settings import (
        cross_domain_settings,
        episode_settings,
        full_way_setting,
    )

    flags = {
        "--dataset": args.dataset,
        "--train": args.train,
        "--test": args.test,
        "--unlabeled-data": args.unlabeled_data,
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
        "--oos": args.oos,
        "--oos-valid": args.oos_valid,
        "--valid": args.valid,
        "--scorer": args.scorer,
        "--reject-recall": args.reject_recall,
        "--oos-queries": args.oos_queries,
        "--multi-label": args.multi_label,
        "--pool": args.pool,
        "--strategies": args.strategies,
        "--batch": args.batch,
        "--total": args.total,
        "--start": args.start,
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
        if args.skip_small_classes:  # like --seed: a change to the suite's episode runs
            episodic = [s for s in suite.settings if hasattr(s, "skip_small_classes")]
            if not episodic:
                raise ConfigError(
                    f"--skip-small-classes is for episode runs; {args.suite} has none"
                )
            suite.settings = [
                replace(s, skip_small_classes=True) if s in episodic else s for s in suite.settings
            ]
        return suite
    if not args.learner:
        raise ConfigError("name at least one learner with --learner (see `fewshot learners`)")
    active = {"--strategies": args.strategies, "--batch": args.batch, "--total": args.total}
    stray = [
        flag for flag, value in {**active, "--start": args.start}.items() if value and not args.pool
    ]
    if stray:
        raise ConfigError(f"{stray[0]} belongs to active-learning runs; add --pool and --test")
    if args.pool:
        return _active_learning_suite(args)
    if bool(args.train) != bool(args.test):
        raise ConfigError("full-way runs need both --train and --test")
    if args.unlabeled_data and not args.train:
        raise ConfigError("--unlabeled-data belongs to full-way runs; add --train and --test")
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
    if args.multi_label:
        return _multi_label_suite(args)
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
    oos_table = {
        key: value
        for key, value in (
            ("oos", args.oos),
            ("oos_valid", args.oos_valid),
            ("valid", args.valid),
            ("scorers", args.scorer.split(",") if args.scorer else None),
            ("reject_recall", args.reject_recall),
            ("oos_queries", args.oos_queries),
        )
        if value is not None
    }
    if oos_table and args.source:
        raise ConfigError("--oos and its options belong to episode and full-way runs, not --source")
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
        if oos_table:
            for key in ("oos_valid", "valid"):
                if key in oos_table:
                    raise ConfigError(
                        f"--{key.replace('_', '-')} is for full-way runs: episode runs calibrate "
                        "their thresholds on each episode's training shots"
                    )
        settings += episode_settings(table | oos_table, "command line", seed)
    if args.train:
        table = dict(oos_table)
        if args.unlabeled_data:
            table["unlabeled_data"] = args.unlabeled_data
        settings.append(full_way_setting(args.train, args.test, seed, table, "command line"))
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
    return _command_line_suite(args, settings, seed)


def _multi_label_suite(args: argparse.Namespace):
    """--multi-label: full-way with --train/--test, episodes with --dataset."""
    from fewshot.evaluation.suite_settings import multi_label_settings

    stray = [
        flag
        for flag, value in (
            ("--source", args.source),
            ("--oos", args.oos),
            ("--split", args.split),
            ("--domain", args.domain),
            ("--unlabeled", args.unlabeled),
            ("--unlabeled-data", args.unlabeled_data),
        )
        if value
    ]
    if stray:
        raise ConfigError(f"{stray[0]} does not combine with --multi-label")
    seed = 0 if args.seed is None else args.seed
    settings: list = []
    if args.train:
        table = {"train": args.train, "test": args.test, "shots": args.shots or [8]}
        if args.seeds is not None:
            table["seeds"] = args.seeds
        if args.ways or args.queries is not None or args.episodes is not None:
            raise ConfigError("--ways, --queries and --episodes belong to --dataset runs")
        settings += multi_label_settings(table, "command line", seed)
    for dataset in args.dataset or []:
        if args.seeds is not None:
            raise ConfigError("--seeds belongs to full-way runs (--train/--test); use --episodes")
        table = {"dataset": dataset, "ways": args.ways or [5], "shots": args.shots or [8]}
        table.update(
            {
                k: v
                for k, v in (("queries", args.queries), ("episodes", args.episodes))
                if v is not None
            }
        )
        settings += multi_label_settings(table, "command line", seed)
    return _command_line_suite(args, settings, seed)


def _active_learning_suite(args: argparse.Namespace):
    """--pool with --test: simulated active learning."""
    from fewshot.evaluation.suite_settings import active_learning_setting

    if not args.test or args.train or args.dataset or args.source:
        raise ConfigError(
            "active-learning runs take --pool and --test (no --train, --dataset or --source)"
        )
    table = {"pool": args.pool, "test": args.test}
    if args.strategies:
        table["strategies"] = [s.strip() for s in args.strategies.split(",") if s.strip()]
    for key in ("batch", "total", "seeds", "start"):
        if getattr(args, key) is not None:
            table[key] = getattr(args, key)
    seed = 0 if args.seed is None else args.seed
    return _command_line_suite(args, [active_learning_setting(table, "command line", seed)], seed)


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


def _command_line_suite(args: argparse.Namespace, settings: list, seed: int):
    """The suite of the settings the flags describe, with the --learner learners."""
    from fewshot.evaluation.suite import Suite

    learners = [parse_learner(t) for t in args.learner]
    return Suite(name="command-line", learners=learners, settings=settings, seed=seed)
