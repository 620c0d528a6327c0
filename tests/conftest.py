"""Shared fixtures. Everything is real: the bundled data, the bundled MiniLM model, pip-installed
plugin packages. Nothing is downloaded (HF_HUB_OFFLINE=1)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.pop("FEWSHOT_DISABLE_PLUGIN_AUTOLOAD", None)
os.environ.pop("FEWSHOT_BLOCK_PLUGINS", None)

ROOT = Path(__file__).resolve().parents[1]
#: Set in CI: a test marked with an optional extra must run there, never be skipped.
REQUIRE_EXTRAS_ENV = "FEWSHOT_REQUIRE_EXTRAS"


def _learn2learn_missing() -> str | None:
    from fewshot.integrations.learn2learn.install import INSTALL_HINT

    try:
        from fewshot.integrations.learn2learn.install import import_learn2learn

        import_learn2learn()
    except ImportError:
        return f"needs learn2learn: {INSTALL_HINT}"
    return None


def _module_missing(module: str, extra: str):
    def missing() -> str | None:
        import importlib.util

        if importlib.util.find_spec(module) is None:
            return f"needs {module}: pip install 'fewshot[{extra}]'"
        return None

    return missing


def _browser_missing() -> str | None:
    import importlib.util
    import shutil

    if importlib.util.find_spec("playwright") is None:
        return "needs playwright: pip install -e '.[dev]'"
    if not (os.environ.get("FEWSHOT_CHROMIUM") or shutil.which("chromium")):
        return "needs Chromium: apt-get install chromium (or FEWSHOT_CHROMIUM=/path/to/chrome)"
    return _module_missing("matplotlib", "report")()


#: Marker -> what tells whether its optional dependency is there.
EXTRAS = {
    "meta": _learn2learn_missing,
    "ray": _module_missing("ray", "ray"),
    "parquet": _module_missing("pyarrow", "parquet"),
    "report": _module_missing("matplotlib", "report"),
    "onnx": _module_missing("onnxruntime", "onnx"),
    "serve": _module_missing("fastapi", "serve"),
    "browser": _browser_missing,
    "docs": _module_missing("mkdocs", "docs"),
    "distill": _module_missing("model2vec", "distill"),
    "labelling": _module_missing("cleanlab", "labelling"),
    "hf": _module_missing("datasets", "hf"),
    "mlflow": _module_missing("mlflow", "mlflow"),
}


def pytest_collection_modifyitems(config, items):
    """Tests marked with an extra (``meta``, ``ray``) are skipped, saying what to install, where
    it is missing, unless FEWSHOT_REQUIRE_EXTRAS=1 (CI), where they run and fail instead."""
    if os.environ.get(REQUIRE_EXTRAS_ENV) == "1":
        return
    for marker, missing in EXTRAS.items():
        marked = [item for item in items if item.get_closest_marker(marker)]
        reason = missing() if marked else None
        if reason:
            for item in marked:
                item.add_marker(pytest.mark.skip(reason=reason))


FIXTURES = Path(__file__).parent / "fixtures"


def docs_module(relative: str):
    """A script of docs/ (``hooks/reference.py``, ``screenshot.py``) as a module: mkdocs and the
    screenshot command run them by path, so they are not in a package."""
    import importlib.util

    path = ROOT / "docs" / relative
    spec = importlib.util.spec_from_file_location(f"docs_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session", autouse=True)
def shared_cache(tmp_path_factory) -> Path:
    """One embedding cache for the session (FEWSHOT_TEST_CACHE_DIR reuses one across sessions)."""
    directory = Path(os.environ.get("FEWSHOT_TEST_CACHE_DIR") or tmp_path_factory.mktemp("cache"))
    os.environ["FEWSHOT_CACHE_DIR"] = str(directory)
    return directory


@pytest.fixture(scope="session")
def registry():
    from fewshot.plugins.registry import load_registry

    return load_registry()


@pytest.fixture(scope="session")
def encoder(registry, shared_cache):
    from fewshot.encoding.cache import EmbeddingCache

    return registry.cached_encoder(
        "all-MiniLM-L6-v2", device="cpu", cache=EmbeddingCache(shared_cache), progress=False
    )


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """The example and the broken plugin packages, really installed by pip into a directory.

    Subprocesses given it on PYTHONPATH discover their entry points like any installed package.
    """
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(FIXTURES / "example_plugin"),
            str(FIXTURES / "broken_plugin"),
            str(FIXTURES / "probe_plugin"),
        ],
        check=True,
        capture_output=True,
    )
    return target


def run_fewshot(
    *args: str,
    pythonpath: Path | None = None,
    env: dict | None = None,
    cwd=None,
    process: bool = False,
) -> subprocess.CompletedProcess:
    """Run the ``fewshot`` command line and return what it did as a ``CompletedProcess``.

    In this process (``fewshot.cli.main(argv)`` with its stdout and stderr captured; ``env`` and
    ``cwd`` apply for the call), unless ``process`` is true or another ``pythonpath`` is needed:
    then ``python -m fewshot`` in a fresh process, for tests of the process itself (its exit, its
    imports, its signals, plugins found on a new path, Ray started from it). An exception that
    ``main`` lets through is printed as Python would, with status 1.
    """
    if process or pythonpath is not None:
        return run_fewshot_process(*args, pythonpath=pythonpath, env=env, cwd=cwd)
    import io
    import traceback

    from fewshot.cli import main

    out, err = io.StringIO(), io.StringIO()
    with (
        _environment(dict(COLUMNS="200", **(env or {}))),
        contextlib.chdir(cwd or os.getcwd()),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            status = main(list(args))
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except Exception:
            traceback.print_exc()
            status = 1
    return subprocess.CompletedProcess(["fewshot", *args], status, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _environment(changes: dict):
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_fewshot_process(
    *args: str, pythonpath: Path | None = None, env: dict | None = None, cwd=None
):
    """Run the installed ``fewshot`` CLI in a fresh process."""
    environment = dict(os.environ, COLUMNS="200", **(env or {}))
    if pythonpath is not None:
        environment["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, "-m", "fewshot", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=600,
    )


def bundled_rows(name: str, split: str) -> list[dict]:
    """The rows of a bundled dataset's split, as stored (text, label or labels)."""
    import gzip
    import json
    from importlib import resources

    path = resources.files("fewshot.data") / "bundled" / name / f"{split}.jsonl.gz"
    with gzip.open(str(path), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]
