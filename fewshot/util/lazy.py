"""Public names imported on first use, so that a package's face costs nothing to import.

``fewshot --help`` and ``fewshot learners`` must not pay for scikit-learn or torch, yet
``from fewshot.evaluation import Evaluator`` should work. A package lists its public names and
the modules that define them; :func:`lazy_exports` gives it the module ``__getattr__`` (PEP 562)
that imports each on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``table[name]`` on first use."""

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name]), name)
        setattr(importlib.import_module(package), name, value)
        return value

    return __getattr__
