"""Warnings that are news elsewhere and expected here."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def few_examples() -> Iterator[None]:
    """Fit on a handful of texts per class without scikit-learn's warning that so many classes
    for so few samples look like a regression problem: in few-shot learning they are the
    point. (``warnings.catch_warnings`` changes the process's filters: the block is meant for
    the one thread that fits.)"""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The number of unique classes", UserWarning)
        yield
