"""The house rules that keep the code navigable: fewshot 0.1's module paths still import (with
a warning naming the new one), no module grows past 400 lines, the top level stays small and
every folder says what it holds. (The import layers are checked by ``lint-imports`` in CI.)"""

from __future__ import annotations

import ast
import importlib
import sys
import warnings
from pathlib import Path

import pytest

from fewshot._moved import MOVED

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (ROOT / "fewshot", ROOT / "fewshot_plugins")


#: the maml and metasgd plugins import learn2learn (the meta environment)
NEEDS_LEARN2LEARN = {"fewshot_plugins.maml", "fewshot_plugins.metasgd"}


@pytest.mark.parametrize(
    "old",
    [
        pytest.param(old, marks=[pytest.mark.meta] if old in NEEDS_LEARN2LEARN else [])
        for old in sorted(MOVED)
    ],
)
def test_an_old_module_path_is_the_new_module_with_a_warning(old):
    new = importlib.import_module(MOVED[old])
    sys.modules.pop(old, None)  # imported earlier in the session: ask the finder again
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is new
    assert module.__spec__.name == MOVED[old]  # the module keeps its own identity
    assert any(
        issubclass(w.category, DeprecationWarning)
        and f"{old} moved to {MOVED[old]}" in str(w.message)
        for w in caught
    ), [str(w.message) for w in caught]


def test_a_plugin_written_for_0_1_still_imports_its_names():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from fewshot.maths import softmax
        from fewshot.protocols.base import Protocol
    from fewshot.evaluation.protocols.base import Protocol as moved
    from fewshot.learners.maths import softmax as moved_softmax

    assert (softmax, Protocol) == (moved_softmax, moved)


def _modules():
    for package in PACKAGES:
        yield from sorted(package.rglob("*.py"))


def test_no_module_is_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long


def test_the_top_level_keeps_only_the_package_face():
    top = {p.name for p in (ROOT / "fewshot").glob("*.py")}
    assert top == {"__init__.py", "__main__.py", "_moved.py", "errors.py"}


def test_every_folder_says_what_it_holds():
    silent = [
        str(init.relative_to(ROOT))
        for package in PACKAGES
        for init in package.rglob("__init__.py")
        if not ast.get_docstring(ast.parse(init.read_text()))
    ]
    assert not silent
