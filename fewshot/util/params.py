"""Learner parameters: what each may be, declared next to the constructor, checked in one place.

In the spirit of scikit-learn's ``_parameter_constraints``, a learner lists a constraint per
constructor parameter::

    class NearestNeighborsLearner(Learner):
        parameter_constraints = {
            "n_neighbors": Integer(min=1),
            "metric": OneOf("cosine", "euclidean"),
        }

:func:`validate_params` checks them all. It runs where a learner is built from a name
(``Registry.make_learner``: ``fewshot bench`` and ``fewshot adapt`` check every learner before
any data is read) and again at the start of every ``fit`` (``check_support`` calls it), so the
Python API refuses a bad value too. A bad value is a :class:`~fewshot.errors.ConfigError`
naming the learner, the parameter, what it must be and what it got.

A constraint also knows a few values it must refuse (``invalid_examples``): the conformance
suite (:mod:`fewshot.learners.conformance`) feeds them to a learner and checks that it says no.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fewshot.errors import ConfigError

if TYPE_CHECKING:
    from fewshot.learners.base import Learner

_CUDA = re.compile(r"cuda(:[0-9]+)?")

__all__ = [
    "Boolean",
    "Constraint",
    "Device",
    "Integer",
    "OneOf",
    "OrNone",
    "Real",
    "Text",
    "validate_params",
]


class Constraint:
    """What one parameter may be."""

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        """The rule as the end of a sentence: '... must be <describe()>'."""
        raise NotImplementedError

    def invalid_examples(self) -> list[Any]:
        """Values this constraint refuses (used by the conformance suite)."""
        raise NotImplementedError


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, (float, np.floating))) and math.isfinite(value)


@dataclass(frozen=True)
class Integer(Constraint):
    """An integer (not a bool) from ``min`` to ``max``, both included; None = unbounded."""

    min: int | None = None
    max: int | None = None

    def accepts(self, value: Any) -> bool:
        return (
            _is_int(value)
            and (self.min is None or value >= self.min)
            and (self.max is None or value <= self.max)
        )

    def describe(self) -> str:
        if self.min is not None and self.max is not None:
            return f"an integer from {self.min} to {self.max}"
        if self.min is not None:
            return f"an integer >= {self.min}"
        if self.max is not None:
            return f"an integer <= {self.max}"
        return "an integer"

    def invalid_examples(self) -> list[Any]:
        out: list[Any] = ["3", 1.5, True]
        if self.min is not None:
            out.append(self.min - 1)
        if self.max is not None:
            out.append(self.max + 1)
        return out


@dataclass(frozen=True)
class Real(Constraint):
    """A finite number (int or float, not a bool) within the bounds; ``*_open`` excludes the
    bound itself. None = unbounded."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False

    def accepts(self, value: Any) -> bool:
        if not _is_number(value):
            return False
        if self.min is not None and (value <= self.min if self.min_open else value < self.min):
            return False
        return self.max is None or (value < self.max if self.max_open else value <= self.max)

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{'>' if self.min_open else '>='} {self.min:g}")
        if self.max is not None:
            parts.append(f"{'<' if self.max_open else '<='} {self.max:g}")
        return "a finite number" + (" " + " and ".join(parts) if parts else "")

    def invalid_examples(self) -> list[Any]:
        out: list[Any] = ["0.1", float("nan"), float("inf"), True]
        if self.min is not None:
            out.append(self.min if self.min_open else self.min - 1)
        if self.max is not None:
            out.append(self.max if self.max_open else self.max + 1)
        return out


@dataclass(frozen=True, init=False)
class OneOf(Constraint):
    """One of the given values (compared with ==, so ``OneOf("a", "b")`` takes strings)."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any):
        object.__setattr__(self, "values", values)

    def accepts(self, value: Any) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def describe(self) -> str:
        names = [repr(v) for v in self.values]
        return "one of " + ", ".join(names) if len(names) > 2 else " or ".join(names)

    def invalid_examples(self) -> list[Any]:
        return ["no such option", 3.5]


@dataclass(frozen=True)
class Boolean(Constraint):
    """``True`` or ``False`` (not 0/1, not a string)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def describe(self) -> str:
        return "true or false"

    def invalid_examples(self) -> list[Any]:
        return ["yes", 2]


@dataclass(frozen=True)
class Text(Constraint):
    """A non-empty string."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and bool(value.strip())

    def describe(self) -> str:
        return "a non-empty string"

    def invalid_examples(self) -> list[Any]:
        return ["", 3]


@dataclass(frozen=True)
class Device(Constraint):
    """``"cpu"``, or ``"cuda"`` / ``"cuda:N"`` where torch sees a CUDA GPU."""

    def accepts(self, value: Any) -> bool:
        if value == "cpu":
            return True
        if not isinstance(value, str) or not _CUDA.fullmatch(value):
            return False
        import torch  # only asked when a GPU is asked for

        return torch.cuda.is_available()

    def describe(self) -> str:
        return "'cpu', or 'cuda' / 'cuda:N' on a machine where torch sees a CUDA GPU"

    def invalid_examples(self) -> list[Any]:
        return ["tpu", "cuda:x", 3]


@dataclass(frozen=True)
class OrNone(Constraint):
    """``None``, or what ``inner`` accepts."""

    inner: Constraint

    def accepts(self, value: Any) -> bool:
        return value is None or self.inner.accepts(value)

    def describe(self) -> str:
        return f"{self.inner.describe()}, or null"

    def invalid_examples(self) -> list[Any]:
        return self.inner.invalid_examples()


def check_value(owner: str, name: str, value: Any, constraint: Constraint) -> Any:
    """``value`` if ``constraint`` accepts it, else a ConfigError ``owner: name must be ...``."""
    if not constraint.accepts(value):
        raise ConfigError(f"{owner}: {name} must be {constraint.describe()}, got {value!r}")
    return value


def check_count(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int, or a ConfigError if it is not an integer >= ``minimum`` (bools are
    refused: ``True`` is not a count). For sampler arguments and the like."""
    constraint = Integer(min=minimum)
    if not constraint.accepts(value):
        raise ConfigError(f"{name} must be {constraint.describe()}, got {value!r}")
    return int(value)


def validate_params(learner: Learner) -> None:
    """Check every parameter of ``learner`` that its class constrains; the first bad one raises
    a :class:`ConfigError`."""
    constraints: Mapping[str, Constraint] = getattr(type(learner), "parameter_constraints", {})
    owner = getattr(learner, "name", "") or type(learner).__name__
    for name, constraint in constraints.items():  # attributes, not get_params: fit calls this
        if hasattr(learner, name):
            check_value(owner, name, getattr(learner, name), constraint)


def json_params(params: Mapping[str, Any], *, strict: bool) -> dict[str, Any]:
    """Parameters as JSON values: the one rule for results, run descriptions and model
    directories. A value that is not a JSON scalar, list or object is written as its ``repr``,
    or, where ``strict`` (a model directory, which must load back), refused with a ConfigError."""
    plain = (
        (str, int, float, bool, type(None))
        if strict
        else (str, int, float, bool, type(None), list, dict)
    )
    out = {}
    for key, value in params.items():
        if isinstance(value, plain):
            out[key] = value
        elif strict:
            raise ConfigError(f"parameter {key}={value!r} cannot be saved as JSON")
        else:
            out[key] = repr(value)
    return out
