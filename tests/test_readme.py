"""The README's promises: its test commands are the ones CI runs, and what it leaves to the docs
is there (the plugin example is the package the tests install)."""

import re

from tests.conftest import FIXTURES, ROOT

README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


def test_the_readme_is_one_screen_and_links_into_the_docs():
    assert len(README.splitlines()) <= 150
    for link in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (ROOT / link).is_file(), link


def test_plugin_example_is_the_tested_fixture():
    tutorial = (DOCS / "tutorials" / "write-a-plugin.md").read_text()
    for name in ("pyproject.toml", "fewshot_simpleshot.py"):
        assert (FIXTURES / "example_plugin" / name).read_text() in tutorial, (
            f"the plugin tutorial's copy of {name} is stale"
        )


def test_readme_test_commands_are_what_ci_runs():
    assert '```bash\npytest -m "not meta"\n```' in README
    assert "`pytest -m meta`" in README
    assert 'pytest -m "not slow and not integration"  # the fast tier' in README
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert 'pytest -m "not meta"' in ci  # the core environment
    assert "export FEWSHOT_REQUIRE_EXTRAS=1" in ci  # no skips of optional extras in CI
    assert "mkdocs build --strict" in ci  # the docs site
    # the meta environment, built and tested beside the core tests (a block run in background)
    assert "  pytest -m meta" in ci and ci.index("  pytest -m meta") < ci.index(
        'pytest -m "not meta"'
    )


def test_one_version_in_one_place():
    """pyproject.toml defines the version; fewshot --version, CITATION.cff and the changelog
    say the same."""
    import tomllib

    from tests.conftest import run_fewshot

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = run_fewshot("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"fewshot {version}"
    assert f"\nversion: {version}\n" in (ROOT / "CITATION.cff").read_text()
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and f"## [{version}] - " in changelog
    assert f'"{version}"' not in (ROOT / "fewshot" / "__init__.py").read_text()
