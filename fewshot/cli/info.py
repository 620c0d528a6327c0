"""``fewshot datasets``, ``fewshot learners`` and ``fewshot install-meta``."""

from __future__ import annotations

import argparse
import inspect

from fewshot.cli.common import warn_failures


def add_parsers(commands) -> None:
    commands.add_parser("datasets", help="list the named datasets").set_defaults(handler=datasets)
    commands.add_parser("learners", help="list the installed learners").set_defaults(
        handler=learners
    )
    install_meta = commands.add_parser(
        "install-meta",
        help="build learn2learn for the maml/metasgd learners (after pip install 'fewshot[meta]')",
    )
    install_meta.add_argument("--force", action="store_true", help="rebuild even if it imports")
    install_meta.set_defaults(handler=run_install_meta)


def datasets(args: argparse.Namespace) -> int:
    from rich.table import Table

    from fewshot.errors import FewshotError
    from fewshot.plugins.registry import load_registry
    from fewshot.report.tables import wide_console

    registry = load_registry()
    warn_failures(registry)
    table = Table(title="datasets (use as NAME:SPLIT; or hf:NAME:SPLIT, a .jsonl/.csv path)")
    for column, justify in (
        ("name", "left"),
        ("split", "left"),
        ("examples", "right"),
        ("classes", "right"),
        ("description", "left"),
        ("license", "left"),
    ):
        table.add_column(column, justify=justify)
    for number, info in enumerate(registry.datasets.datasets.values()):
        if number:
            table.add_section()
        for i, split in enumerate(info.splits):
            try:
                data = info.load(split)
                examples, classes = f"{len(data):,}", f"{len(data.classes):,}"
            except FewshotError as exc:  # a plugin's file that is broken: say so, list the rest
                examples, classes = "unreadable", str(exc)[:60]
            first = i == 0
            table.add_row(
                info.name if first else "",
                split,
                examples,
                classes,
                info.description if first else "",
                info.license if first else "",
            )
    wide_console().print(table)
    return 0


def learners(args: argparse.Namespace) -> int:
    from rich.table import Table

    from fewshot.plugins.registry import load_registry
    from fewshot.report.tables import wide_console

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


def run_install_meta(args: argparse.Namespace) -> int:
    from fewshot.integrations.learn2learn.install import install_meta

    install_meta(force=args.force)
    return 0
