"""Plugin discovery through real, pip-installed entry points."""

import inspect
import json

import pytest

from fewshot.plugins import hookspecs
from fewshot.plugins.registry import load_registry
from tests.conftest import run_fewshot

# Plugins found on a new path, each run in a fresh process: integration tests.
pytestmark = pytest.mark.integration


def test_built_in_learners_come_from_entry_points(registry):
    assert {"protonet", "logreg", "knn"} <= set(registry.learners)
    assert registry.learner_plugin["protonet"] == "protonet"
    assert registry.plugin_versions["protonet"].startswith("fewshot ")
    # The only failures allowed: the meta-learning plugins where learn2learn is not installed.
    assert all(f.install and f.plugin in ("maml", "metasgd") for f in registry.failures), (
        registry.failures
    )


def test_every_hook_is_documented():
    specs = [
        f
        for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("fewshot_")
    ]
    assert {f.__name__ for f in specs} == {
        "fewshot_learners",
        "fewshot_datasets",
        "fewshot_encoders",
        "fewshot_scorers",
        "fewshot_strategies",
        "fewshot_trackers",
    }
    for spec in specs:
        assert len(inspect.getdoc(spec) or "") > 80, f"{spec.__name__} needs documentation"


def test_external_plugin_is_listed(plugin_site):
    result = run_fewshot("learners", pythonpath=plugin_site)
    assert result.returncode == 0, result.stderr
    assert "simpleshot" in result.stdout
    assert "fewshot-simpleshot 0.1.0" in result.stdout


def test_broken_plugins_are_reported_by_name_and_do_not_stop_the_others(plugin_site):
    result = run_fewshot("learners", pythonpath=plugin_site)
    out = result.stdout
    assert "broken_import" in out and "No module named 'a_module_that_does_not_exist'" in out
    assert "broken_hook" in out and "this plugin's hook always fails" in out
    assert "name_clash" in out and "already taken by plugin 'protonet'" in out
    for name in ("protonet", "logreg", "knn", "simpleshot"):
        assert name in out


def test_external_plugin_runs_in_bench_despite_broken_ones(plugin_site, tmp_path):
    result = run_fewshot(
        "bench",
        "--dataset",
        "banking77:test",
        "--learner",
        "simpleshot",
        "--learner",
        "protonet",
        "--shots",
        "1",
        "--episodes",
        "30",
        "--out",
        str(tmp_path),
        pythonpath=plugin_site,
    )
    assert result.returncode == 0, result.stderr
    assert "plugin 'broken_import' failed at import" in result.stderr
    records = json.loads((tmp_path / "results.json").read_text())
    simpleshot = next(r for r in records if r["learner"] == "simpleshot")
    assert simpleshot["status"] == "ok" and simpleshot["plugin"] == "simpleshot"
    assert simpleshot["accuracy"] > 0.7


def test_asking_for_a_broken_plugins_learner_says_why(plugin_site, tmp_path):
    result = run_fewshot(
        "bench",
        "--dataset",
        "banking77:test",
        "--learner",
        "broken_hook",
        "--episodes",
        "2",
        "--out",
        str(tmp_path),
        pythonpath=plugin_site,
    )
    assert result.returncode == 2
    assert (
        "learner 'broken_hook' is unavailable: plugin 'broken_hook' failed at fewshot_learners"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_block_and_disable_autoload(plugin_site):
    blocked = run_fewshot(
        "learners",
        pythonpath=plugin_site,
        env={"FEWSHOT_BLOCK_PLUGINS": "broken_import, simpleshot"},
    )
    assert "simpleshot" not in blocked.stdout and "broken_import" not in blocked.stdout
    assert "broken_hook" in blocked.stdout
    disabled = run_fewshot(
        "learners", pythonpath=plugin_site, env={"FEWSHOT_DISABLE_PLUGIN_AUTOLOAD": "1"}
    )
    assert disabled.returncode == 0
    assert "simpleshot" not in disabled.stdout and "protonet" not in disabled.stdout


def test_the_example_plugin_passes_the_conformance_suite(plugin_site, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_site))
    registry = load_registry()
    from fewshot.learners.conformance import check_learner

    check_learner(registry.make_learner("simpleshot"))


@pytest.mark.parametrize("hook", ["fewshot_datasets", "fewshot_encoders"])
def test_builtin_plugin_contributes_datasets_and_encoders(registry, hook):
    if hook == "fewshot_datasets":
        assert {"banking77", "clinc150", "amazon_reviews"} <= set(registry.datasets.datasets)
    else:
        assert "all-MiniLM-L6-v2" in registry.encoders
