"""The README's promises: its plugin example is the package the tests install, and its test
command is the one CI runs."""

import pytest

from tests.conftest import FIXTURES, ROOT

README = (ROOT / "README.md").read_text()


def test_plugin_example_is_the_tested_fixture():
    for name in ("pyproject.toml", "fewshot_simpleshot.py"):
        assert (FIXTURES / "example_plugin" / name).read_text() in README, (
            f"README's copy of {name} is stale"
        )


def test_readme_test_commands_are_what_ci_runs():
    assert '```bash\npytest -m "not meta"\n```' in README
    assert "`pytest -m meta`" in README
    assert 'pytest -m "not slow and not integration"  # the fast tier' in README
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert 'pytest -m "not meta"' in ci  # the core environment
    assert "export FEWSHOT_REQUIRE_EXTRAS=1" in ci  # no skips of optional extras in CI
    assert ci[-1] == "pytest -m meta"  # the meta environment


def test_readme_quotes_the_shipped_suites():
    for suite in (ROOT / "episodes").glob("*.toml"):
        assert suite.name in README


@pytest.mark.integration
def test_python_api_example_runs():
    start = README.index("The pieces underneath, for benchmarks and your own loops")
    code = README[
        README.index("```python\n", start) + len("```python\n") : README.index("```\n", start + 20)
    ]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["accuracy"] >= 0.6
    assert namespace["probabilities"].shape == (75, 5)
    assert len(namespace["tiny"]) == 4
