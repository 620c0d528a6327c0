"""The reference pages that the code is the truth for, written at build time (an mkdocs hook).

``mkdocs build`` calls :func:`on_files`, which adds each page of :data:`PAGES` to the site as a
generated file: the command line from fewshot's argparse parsers, each learner's parameters from
its constructor and ``parameter_constraints``, the suite-file keys from the sets the suite reader
checks, the result record's fields from the record schema, and the hostile-input table from its
test cases. None of these pages is kept in the repository, so none can go stale; a suite key
without a description here fails the build (``SuiteKeyUndocumented``), as a new flag without help
would read as a gap on the page. ``tests/test_docs.py`` calls these functions directly.
"""

from __future__ import annotations

import argparse
import ast
import html
import inspect
import json
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _sibling(name: str):
    """A module beside this one (mkdocs loads a hook by path, not as a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"docs_hooks_{name}", Path(__file__).with_name(f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(text: object) -> str:
    """One table cell: pipes escaped, newlines folded."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(text: object) -> str:
    """Inline code for a table cell. A pipe would end the cell, and Markdown keeps the
    backslash of an escaped one inside backticks, so such code is written as HTML."""
    text = str(text)
    if not text:
        return ""
    if "|" in text:
        return "<code>" + html.escape(text).replace("|", "&#124;") + "</code>"
    tick = "``" if "`" in text else "`"
    return f"{tick}{text}{tick}"


# -- the command line ----------------------------------------------------------------------------

CLI_NOTES = _sibling("prose").CLI_NOTES


def _flag_default(action: argparse.Action) -> str:
    if action.required or action.default in (None, argparse.SUPPRESS, False, [], ()):
        return "required" if action.required and action.option_strings else ""
    if isinstance(action, argparse._StoreTrueAction):
        return ""
    return _code(action.default)


def _flag_name(action: argparse.Action) -> str:
    if not action.option_strings:
        return _code(action.metavar or action.dest)
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return _code(names)
    metavar = action.metavar or (
        "{" + ",".join(map(str, action.choices)) + "}" if action.choices else action.dest.upper()
    )
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    return _code(f"{names} {metavar}")


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    return _cell(argparse.HelpFormatter(parser.prog)._expand_help(action))


def cli_markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """Every command of ``fewshot``, each flag with its default and help, from the parsers."""
    if parser is None:
        from fewshot.cli import build_parser

        parser = build_parser()
    lines = [
        "# Command line",
        "",
        "Every command, flag and default of `fewshot`, as `fewshot COMMAND --help` prints them.",
        "This page is written from the argparse parsers in `fewshot/cli/` each time the site is",
        "built, so it always says what the installed version does. Errors a user can act on are",
        "one line on stderr and exit status 2; `fewshot --debug COMMAND ...` shows the traceback.",
        "",
        CLI_NOTES,
        "| option | default | meaning |",
        "|---|---|---|",
    ]
    commands = None
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands = action
            continue
        if action.help != argparse.SUPPRESS:
            lines.append(
                f"| {_flag_name(action)} | {_flag_default(action)} | {_help(parser, action)} |"
            )
    helps = {choice.dest: choice.help for choice in (commands._choices_actions if commands else [])}
    for name, sub in commands.choices.items() if commands else []:
        lines += ["", f"## fewshot {name}", ""]
        summary = sub.description or helps.get(name) or ""
        if summary:
            lines += [_cell(summary), ""]
        lines += ["```text", sub.format_usage().strip(), "```", ""]
        rows = [a for a in sub._actions if a.help != argparse.SUPPRESS and a.dest != "help"]
        if rows:
            lines += ["| argument | default | meaning |", "|---|---|---|"]
            for action in rows:
                lines.append(
                    f"| {_flag_name(action)} | {_flag_default(action)} | {_help(sub, action)} |"
                )
    return "\n".join(lines) + "\n"


# -- learners ------------------------------------------------------------------------------------

# Learners whose plugin needs an extra that the docs build may not have; their parameters live in
# a base class that imports without it.
_WITHOUT_THEIR_DEPENDENCIES = {
    "maml": ("fewshot_plugins.gradient_meta.learner", "GradientMetaLearner"),
    "metasgd": ("fewshot_plugins.gradient_meta.learner", "GradientMetaLearner"),
}


def _summary(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return _cell(doc.split("\n\n")[0])


def _json(value: object) -> str:
    """A default as the command line writes it (values of --learner are JSON)."""
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


def _input_kind(cls: type) -> str:
    if isinstance(inspect.getattr_static(cls, "input_kind"), property):
        return f"{cls().input_kind} (by default; its parameters can change it)"
    return cls.input_kind


def parameter_descriptions(cls: type) -> dict[str, str]:
    """Each constructor parameter's description, from the numpydoc "Parameters" section of the
    first class in ``cls``'s MRO whose docstring describes it (parsed by griffe)."""
    from griffe import Docstring

    found: dict[str, str] = {}
    for klass in cls.__mro__:
        doc = klass.__dict__.get("__doc__")
        if not doc:
            continue
        for section in Docstring(inspect.cleandoc(doc)).parse("numpy", warnings=False):
            if section.kind.value == "parameters":
                for parameter in section.value:
                    found.setdefault(parameter.name, parameter.description)
    return found


def learner_parameters_markdown(cls: type) -> list[str]:
    """The parameter table of one learner class: type, what it may be, default, meaning."""
    constraints = getattr(cls, "parameter_constraints", {}) or {}
    described = parameter_descriptions(cls)
    signature = inspect.signature(cls.__init__)
    rows = ["| parameter | type | may be | default | meaning |", "|---|---|---|---|---|"]
    for name, parameter in signature.parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = parameter.annotation
        if annotation is parameter.empty:
            kind = ""
        else:
            kind = (
                annotation
                if isinstance(annotation, str)
                else getattr(annotation, "__name__", annotation)
            )
        rule = constraints.get(name)
        default = "" if parameter.default is parameter.empty else _code(_json(parameter.default))
        rows.append(
            f"| `{name}` | {_cell(kind)} | {_cell(rule.describe()) if rule else 'any'} | {default} "
            f"| {_cell(described.get(name, ''))} |"
        )
    return rows if len(rows) > 2 else ["No parameters."]


def learners_markdown(registry=None) -> str:
    """Each installed learner: what it is, the plugin it comes from, its parameters."""
    import importlib

    if registry is None:
        from fewshot.plugins import load_registry

        registry = load_registry()
    lines = [
        "# Learners and their parameters",
        "",
        "Every learner fewshot finds through its `fewshot` entry points, with each parameter's",
        "type, the values it accepts (its `parameter_constraints`, checked before any work) and",
        "its default. Written from the learner classes each time the site is built. Parameters",
        "are given on the command line as `--learner NAME:KEY=VALUE,KEY=VALUE` (values read as",
        'JSON) and in Python as keyword arguments: `FewShotClassifier("NAME", KEY=VALUE)`.',
        "",
        "| learner | input | plugin | what |",
        "|---|---|---|---|",
    ]
    classes = dict(sorted(registry.learners.items()))
    missing = {}
    for failure in registry.failures:
        if failure.plugin in _WITHOUT_THEIR_DEPENDENCIES and failure.plugin not in classes:
            module, name = _WITHOUT_THEIR_DEPENDENCIES[failure.plugin]
            classes[failure.plugin] = getattr(importlib.import_module(module), name)
            missing[failure.plugin] = failure
    for name, cls in sorted(classes.items()):
        plugin = registry.learner_plugin.get(name, name)
        lines.append(
            f"| [`{name}`](#{name.replace('+', '')}) | {_input_kind(cls)} | {_code(plugin)} | {_summary(cls)} |"
        )
    for name, cls in sorted(classes.items()):
        lines += ["", f"## {name}", ""]
        if name in missing:
            lines += [
                f"Needs an optional dependency: `{missing[name].install or 'see its plugin'}`.",
                "",
            ]
        doc = inspect.getdoc(cls) or ""
        if doc:
            lines += [doc.split("\n\n")[0], ""]
        lines += learner_parameters_markdown(cls)
    return "\n".join(lines) + "\n"


# -- suite files ---------------------------------------------------------------------------------


class SuiteKeyUndocumented(KeyError):
    """A key the suite reader accepts that :data:`SUITE_KEYS` does not describe."""


#: What each key of a suite file means, by table (docs/hooks/prose.py).
SUITE_KEYS = _sibling("prose").SUITE_KEYS


def _suite_keys_read() -> dict[str, set[str]]:
    from fewshot.evaluation import suite, suite_settings

    return {
        "top level": suite._TOP_KEYS,
        "[[episodes]]": suite_settings.EPISODE_KEYS,
        "split": suite_settings.SPLIT_KEYS,
        "[[full_way]]": suite_settings.FULL_WAY_KEYS,
        "[[cross_domain]]": suite_settings.CROSS_DOMAIN_KEYS,
        "[[multi_label]]": suite_settings.MULTI_LABEL_KEYS,
        "[[active_learning]]": suite_settings.ACTIVE_LEARNING_KEYS,
        "[columns]": suite._COLUMN_KEYS,
    }


def _leading_comment(text: str) -> str:
    """The comment a suite file opens with, up to its "Run:" line."""
    said = []
    for line in text.splitlines():
        if not line.startswith("#") or line.lstrip("# ").startswith("Run"):
            break
        said.append(line.lstrip("# "))
    return " ".join(said)


def suite_markdown(read: dict[str, set[str]] | None = None) -> str:
    """Every key the suite reader accepts, by table; a key without a description is an error."""
    read = _suite_keys_read() if read is None else read
    lines = [
        "# Suite files",
        "",
        "A suite file is TOML: the learners, then tables of settings. Unknown keys are errors, so",
        "a typo never silently changes a benchmark. The keys below are the ones the reader",
        "(`fewshot/evaluation/suite.py`) accepts, listed from its own sets each time the site is",
        "built. The suites in `episodes/` are real examples.",
        "",
        "```toml",
        (ROOT / "episodes" / "clinc150.toml").read_text().strip(),
        "```",
        "",
        "The suites shipped in `episodes/` (run one with `fewshot bench episodes/NAME --out DIR`):",
        "",
        "| suite | what it runs |",
        "|---|---|",
    ]
    for suite in sorted((ROOT / "episodes").glob("*.toml")):
        text = suite.read_text()
        about = tomllib.loads(text).get("description") or _leading_comment(text)
        lines.append(f"| `{suite.name}` | {_cell(about)} |")
    for table, keys in read.items():
        described = SUITE_KEYS.get(table, {})
        lines += ["", f"## {table}", "", "| key | meaning |", "|---|---|"]
        for key in sorted(keys):
            if key not in described:
                raise SuiteKeyUndocumented(
                    f"suite key {key!r} of {table} has no description in docs/hooks/reference.py"
                )
            lines.append(f"| `{key}` | {described[key]} |")
    return "\n".join(lines) + "\n"


# -- result records, hostile inputs --------------------------------------------------------------


def record_fields_markdown() -> str:
    """Every field of a result record, from ``fewshot.evaluation.records``."""
    from fewshot.evaluation.records import PROTOCOLS, RECORD_FIELDS

    lines = [
        "# Result record fields",
        "",
        "Every field of a record in `results.json` (one per learner and setting), written from",
        "the record schema in `fewshot/evaluation/records.py` each time the site is built. Any",
        "field may be `null` (a failed learner's scores, a field its setting does not have).",
        "`csv`: a column of `results.csv`, in this order.",
        "",
        "| field | type | csv | protocols | meaning |",
        "|---|---|---|---|---|",
    ]
    for field in RECORD_FIELDS:
        protocols = "all" if field.protocols == PROTOCOLS else ", ".join(field.protocols)
        csv = "yes" if field.csv else ""
        lines.append(
            f"| `{field.name}` | {field.type} | {csv} | {protocols} | {_cell(field.description)} |"
        )
    return "\n".join(lines) + "\n"


HOSTILE_TESTS = ROOT / "tests" / "test_hostile_inputs.py"


def hostile_cases(path: Path = HOSTILE_TESTS) -> list[tuple[str, str]]:
    """(input, message) of each case of the hostile-input tests, read from their source."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "CASES" for t in node.targets
        ):
            return [
                (ast.literal_eval(e.elts[0]), ast.literal_eval(e.elts[-1])) for e in node.value.elts
            ]
    raise LookupError(f"{path}: no CASES list")


def hostile_inputs_markdown(path: Path = HOSTILE_TESTS) -> str:
    lines = [
        "# Hostile inputs",
        "",
        "Each of these gets one line on stderr naming the file, line, value or option and what",
        "was expected, exit status 2, no traceback (`--debug` shows it), nothing written to",
        "`--out`, and nothing that was already there changed: the test of each row compares every",
        "file around it (kind, size, modification time) before and after, and checks that",
        "`/dev/null` is still a device. This table is written from the test cases themselves",
        "(`CASES` in `tests/test_hostile_inputs.py`) each time the site is built.",
        "",
        "| input | what fewshot says (excerpt) |",
        "|---|---|",
    ]
    lines += [f"| {_cell(item)} | {_code(message)} |" for item, message in hostile_cases(path)]
    return "\n".join(lines) + "\n"


# -- the mkdocs hook -----------------------------------------------------------------------------

#: Each generated page: its path in the site and the function that writes it.
PAGES = {
    "reference/cli.md": cli_markdown,
    "reference/learners.md": learners_markdown,
    "reference/suite-files.md": suite_markdown,
    "reference/record-fields.md": record_fields_markdown,
    "reference/hostile-inputs.md": hostile_inputs_markdown,
}


def on_files(files, config):
    from mkdocs.structure.files import File

    for path, write in PAGES.items():
        if files.get_file_from_path(path) is not None:
            raise FileExistsError(f"docs/{path} is generated at build time: remove the file")
        files.append(File.generated(config, path, content=write()))
    return files
