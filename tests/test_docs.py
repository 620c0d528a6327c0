"""The documentation site: its generated reference pages follow the code, it builds with
``mkdocs build --strict``, every code block of the tutorials and how-to guides runs, and the
built site works in a real browser without asking anything of another machine."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, docs_module

DOCS = ROOT / "docs"


reference = docs_module("hooks/reference.py")


# -- the generated reference follows the code --------------------------------------------------


def test_the_cli_reference_changes_when_a_flag_or_a_default_changes():
    from fewshot.cli import build_parser

    parser = build_parser()
    before = reference.cli_markdown(parser)
    assert "| `--episode-timeout S` |" in before and "## fewshot serve" in before
    bench = next(a for a in parser._actions if hasattr(a, "choices") and a.choices).choices["bench"]
    bench.add_argument("--brand-new-flag", metavar="N", default=7, help="a flag added today")
    next(a for a in bench._actions if a.dest == "queries").default = 99
    after = reference.cli_markdown(parser)
    assert "| `--brand-new-flag N` | `7` | a flag added today |" in after
    assert "--brand-new-flag" not in before
    assert "| `--queries Q` | `99` |" in after and "| `--queries Q` | `99` |" not in before


def test_every_command_and_flag_is_on_the_cli_page():
    from fewshot.cli import build_parser

    page = reference.cli_markdown()
    commands = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices)
    for name, sub in commands.choices.items():
        assert f"## fewshot {name}" in page
        for action in sub._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert any(f"{before}{flag}" in page for before in ("`", ", ", "<code>")), (
                        name,
                        flag,
                    )


@pytest.mark.docs
def test_the_learner_reference_changes_when_a_constraint_changes(registry, monkeypatch):
    from fewshot.util.params import Real

    logreg = registry.learners["logreg"]
    before = reference.learners_markdown(registry)
    assert "| `C` | float | a finite number > 0 | `10.0` | Inverse of the L2" in before
    monkeypatch.setattr(
        logreg, "parameter_constraints", {**logreg.parameter_constraints, "C": Real(min=1)}
    )
    after = reference.learners_markdown(registry)
    assert "| `C` | float | a finite number >= 1 | `10.0` | Inverse of the L2" in after


@pytest.mark.docs
def test_every_learner_and_parameter_is_on_the_learner_page_with_its_meaning(registry):
    """Each built-in learner's docstring describes every parameter (numpydoc), so that the page
    says what each one means."""
    import inspect

    page = reference.learners_markdown(registry)
    for name, cls in registry.learners.items():
        assert f"## {name}\n" in page
        described = reference.parameter_descriptions(cls)
        for parameter in inspect.signature(cls.__init__).parameters:
            if parameter != "self":
                assert f"| `{parameter}` |" in page, (name, parameter)
                assert described.get(parameter), f"{name}: no description of {parameter!r}"
    assert "## maml\n" in page and "## metasgd\n" in page  # documented without learn2learn too


def test_a_suite_key_without_a_description_fails_the_build():
    read = reference._suite_keys_read()
    assert "| `reject_recall` |" in reference.suite_markdown(read)
    read["[[episodes]]"] = read["[[episodes]]"] | {"new_key"}
    with pytest.raises(reference.SuiteKeyUndocumented, match="'new_key' of \\[\\[episodes\\]\\]"):
        reference.suite_markdown(read)


def test_the_record_and_hostile_input_pages_follow_their_sources():
    from fewshot.evaluation.records import RECORD_FIELDS
    from tests.test_hostile_inputs import CASES

    fields = reference.record_fields_markdown()
    assert all(f"| `{field.name}` |" in fields for field in RECORD_FIELDS)
    assert reference.hostile_cases() == [(item, message) for item, _, message in CASES]
    page = reference.hostile_inputs_markdown()
    assert all(f"| {reference._cell(item)} |" in page for item, _, _ in CASES)


@pytest.mark.docs
@pytest.mark.integration
def test_the_site_builds_strictly(tmp_path):
    """What CI runs: a broken link, a missing reference or a bad page fails the build."""
    _build(tmp_path / "site")
    for page in (
        "reference/cli/index.html",
        "reference/learners/index.html",
        "reference/python-api/index.html",
    ):
        assert (tmp_path / "site" / page).stat().st_size > 10_000, page
    api = (tmp_path / "site" / "reference/python-api/index.html").read_text()
    assert "FewShotClassifier" in api and "Parameters" in api  # numpydoc sections rendered


@pytest.mark.docs
@pytest.mark.integration
def test_a_broken_link_fails_the_build(tmp_path):
    config = (ROOT / "mkdocs.yml").read_text()
    docs = tmp_path / "docs"
    subprocess.run(["cp", "-r", str(DOCS), str(docs)], check=True)
    (docs / "building.md").write_text((docs / "building.md").read_text() + "\n[gone](nowhere.md)\n")
    (tmp_path / "mkdocs.yml").write_text(config)
    for name in ("episodes", "tests"):  # what the generated pages are written from
        (tmp_path / name).symlink_to(ROOT / name)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode != 0 and "nowhere.md" in result.stderr


def _build(out: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]


# -- every code block of the tutorials and how-to guides runs ----------------------------------

FENCE = re.compile(
    r"^(?:<!-- not run: (?P<reason>[^\n]+?) -->\n)?```(?P<lang>[\w-]*)(?P<info>[^\n]*)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
TITLE = re.compile(r'title="([^"]+)"')
#: Blocks that show what a command prints: read, not run.
SHOWN = {"text"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    title: str | None
    body: str
    not_run: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        title = TITLE.search(match["info"])
        line = text.count("\n", 0, match.start("lang")) + 1
        found.append(
            Block(page, line, match["lang"], title and title[1], match["body"], match["reason"])
        )
    return found


RUN_PAGES = sorted((DOCS / "tutorials").glob("*.md")) + sorted((DOCS / "how-to").glob("*.md"))
# What a page's blocks need beyond the core install; the slow ones train a model or several.
PAGE_MARKS = {
    "first-benchmark": [pytest.mark.report],
    "adapt-and-deploy": [pytest.mark.slow, pytest.mark.onnx, pytest.mark.serve],
    "write-a-plugin": [],
    "out-of-scope": [],
    "multi-label": [],
    "domain-alignment": [pytest.mark.slow],
    "meta-learning": [pytest.mark.meta],
    "self-training": [pytest.mark.slow],
    "parallel-and-ray": [pytest.mark.ray],
    "reports": [pytest.mark.report],
    "export-and-serve": [pytest.mark.onnx, pytest.mark.serve, pytest.mark.ray],
    "read-results": [],
    "compress": [pytest.mark.distill, pytest.mark.slow],
    "label-from-zero": [pytest.mark.labelling],
    "label-page": [pytest.mark.serve, pytest.mark.labelling],
    "your-stack": [pytest.mark.hf, pytest.mark.mlflow],
}


def test_every_block_runs_or_says_why_not():
    assert {page.stem for page in RUN_PAGES} == set(PAGE_MARKS)
    skipped = []
    for page in RUN_PAGES:
        for block in blocks(page):
            runnable = block.lang in ("bash", "python") or block.title or block.lang in SHOWN
            assert runnable or block.not_run, (
                f"{block.where}: a {block.lang!r} block that is neither run, written nor output"
            )
            if block.not_run:
                skipped.append(block.where)
        said = page.read_text().count("<!-- not run:")
        assert said == sum(1 for block in blocks(page) if block.not_run), (
            f"{page}: a 'not run' note not right above its block"
        )
    # installs, an upload, one long benchmark, one 9-minute distillation, the labelling page's
    # server (run by the script below it), Ray Serve's server (run by its tests)
    assert len(skipped) <= 10, skipped


def run_blocks(page: Path, workdir: Path, shared_cache: Path) -> None:
    """Each block of ``page`` in order, as a reader would: files written, bash run in bash,
    Python in a fresh interpreter, all in ``workdir`` (a checkout's suites beside it). pip
    installs go to a directory of the test's own, so the environment is left as it was."""
    (workdir / "episodes").symlink_to(ROOT / "episodes")
    site = workdir / ".site-packages"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "FEWSHOT_CACHE_DIR": str(shared_cache),
        "HF_HUB_OFFLINE": "1",
        "PIP_TARGET": str(site),
        "PIP_NO_DEPS": "1",
        "PYTHONPATH": f"{site}{os.pathsep}{ROOT}",
        "COLUMNS": "160",
    }
    for block in blocks(page):
        if block.not_run or block.lang in SHOWN:
            continue
        if block.title:
            target = workdir / block.title
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.body)
            continue
        command = (
            ["bash", "-euo", "pipefail", "-c", block.body]
            if block.lang == "bash"
            else [sys.executable, "-c", block.body]
        )
        result = subprocess.run(
            command, cwd=workdir, env=env, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, (
            f"{block.where} failed ({result.returncode}):\n{block.body}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )


@pytest.mark.integration
@pytest.mark.parametrize(
    "page",
    [pytest.param(page, id=page.stem, marks=PAGE_MARKS.get(page.stem, [])) for page in RUN_PAGES],
)
def test_the_code_of_each_page_runs(page, tmp_path, shared_cache):
    run_blocks(page, tmp_path, shared_cache)


# -- the built site in a real browser -----------------------------------------------------------


@pytest.mark.docs
@pytest.mark.browser
@pytest.mark.integration
def test_the_site_works_in_chromium_and_asks_nothing_of_another_machine(tmp_path):
    """Served on 127.0.0.1, every page renders without a console error, the search finds a
    command-line flag, and every request the pages make is to the site itself."""
    from playwright.sync_api import sync_playwright

    pictures = docs_module("screenshot.py")
    site = tmp_path / "site"
    _build(site)
    paths = sorted(p.parent.relative_to(site).as_posix() for p in site.rglob("index.html"))
    assert len(paths) >= 25
    requests, errors = [], []
    with pictures.serve_directory(site) as url, sync_playwright() as playwright:
        browser = pictures.launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.on(
                "console",
                lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
            for path in paths:
                page.goto(url + ("" if path == "." else f"{path}/"), wait_until="networkidle")
                assert page.locator("article h1").count() == 1, path  # the page's own content
            page.goto(url, wait_until="networkidle")
            page.locator(".md-search__input").click()
            page.keyboard.type("episode-timeout")  # a flag of fewshot bench
            # Results come as the letters are typed: wait for those of the whole query.
            page.wait_for_function(
                "Array.from(document.querySelectorAll('.md-search-result__item a'))"
                ".some(a => a.href.includes('timeout'))",
                timeout=15_000,
            )
            found = page.evaluate(
                "Array.from(document.querySelectorAll('.md-search-result__item > a:first-child'))"
                ".map(a => a.href)"
            )
            assert any("/reference/cli/" in href for href in found[:5]), found
            page.locator(".md-search-result__item > a[href*='/reference/cli/']").first.click()
            page.wait_for_url("**/reference/cli/**")
            assert page.locator("code", has_text="--episode-timeout").count() >= 1
        finally:
            browser.close()
    assert errors == []
    elsewhere = [r for r in requests if not r.startswith((url, "data:", "blob:"))]
    assert elsewhere == [] and len(requests) > len(paths)


@pytest.mark.docs
def test_every_object_of_the_python_api_page_documents_its_parameters():
    """The numpydoc "Parameters" section of each object on the API page names every parameter
    of its signature (parsed by griffe, as mkdocstrings parses it)."""
    import importlib
    import inspect

    from griffe import Docstring

    page = (DOCS / "reference" / "python-api.md").read_text()
    paths = re.findall(r"^::: ([\w.]+)", page, re.MULTILINE)
    assert len(paths) >= 20
    for path in paths:
        module, name = path.rsplit(".", 1)
        obj = getattr(importlib.import_module(module), name)
        doc = inspect.getdoc(obj)
        assert doc and doc.split("\n")[0].strip(), f"{path}: no summary line"
        target = obj.__init__ if inspect.isclass(obj) else obj
        wanted = [
            p.name
            for p in inspect.signature(target).parameters.values()
            if p.name != "self"
            and not p.name.startswith("_")
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if not wanted or obj.__init__ is BaseException.__init__:
            continue
        described = {
            parameter.name
            for section in Docstring(doc).parse("numpy", warnings=False)
            if section.kind.value == "parameters"
            for parameter in section.value
        }
        assert set(wanted) <= described, f"{path}: {sorted(set(wanted) - described)} undescribed"
