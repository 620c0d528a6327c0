"""Smaller models from an adapted one: ``fewshot distill TEACHER --student static|layers:N``.

A *student* learns to answer as its *teacher* (any fewshot model with a linear head: ``logreg``,
``finetune``, single- or multi-label, with or without out-of-scope rejection) does, on unlabelled
in-domain texts: the teacher's training texts plus a pool the user gives, whose labels are never
read. The student keeps the teacher's head and learns to produce the sentence vectors that head
reads; its out-of-scope threshold and multi-label thresholds are set again on its own scores of
the pool (:mod:`fewshot.compression.student`).

- ``static`` (:mod:`fewshot.compression.static`): one vector per token, distilled from the
  teacher's encoder by model2vec, then trained on the pool; predicts with numpy and
  ``tokenizers`` alone (:class:`fewshot.encoding.static_encoder.StaticEncoder`).

A student is a model directory like any other (closed, checksummed, verified on load), with a
model card naming its teacher and the pool; ``fewshot predict``, ``fewshot serve``,
``fewshot.load`` and :func:`fewshot.load_predictor` use it without torch
(:mod:`fewshot.deploy.static_model`). Distilling needs ``pip install 'fewshot[distill]'``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fewshot.errors import ConfigError

STUDENTS = re.compile(r"static|layers:(\d+)")


def student_kind(text: str) -> tuple[str, int | None]:
    """``--student`` as (kind, layers)."""
    match = STUDENTS.fullmatch(text)
    if match is None:
        raise ConfigError(f"--student {text!r}: expected static or layers:N (N from 1 to 5)")
    if match.group(1) is None:
        return "static", None
    layers = int(match.group(1))
    if not 1 <= layers <= 5:
        raise ConfigError(
            f"--student {text}: N is the number of layers kept, from 1 to 5 (fewer than the "
            "teacher's 6)"
        )
    return "layers", layers


def distill(
    model: str | Path,
    *,
    student: str = "static",
    unlabeled: list[str] | tuple[str, ...] = (),
    out: str | Path,
    seed: int = 0,
    epochs: int | None = None,
    device: str | None = None,
    test=None,
) -> dict[str, Any]:
    """Distil a model directory into a student: ``fewshot.distill``, as ``fewshot distill``.

    Parameters
    ----------
    model : str or Path
        The teacher's model directory.
    student : str, default "static"
        ``static`` or ``layers:N``.
    unlabeled : list of str
        Files or ``NAME:SPLIT`` whose texts the student learns from (labels never read).
    out : str or Path
        The student's directory.
    seed : int, default 0
    epochs : int or None
        At most that many training epochs (None: the student's default).
    device : str or None
        Where the teacher runs and the student trains (``cpu``, ``cuda``).
    test : LabeledTexts, str or None
        Labelled texts (or ``NAME:SPLIT``) to measure the student's accuracy on, for its card.

    Returns
    -------
    dict
        The ``student`` entry of its ``fewshot.json`` (agreement, accuracy, seconds, ...).
    """
    kind, layers = student_kind(student)
    if isinstance(test, str):
        from fewshot.plugins.registry import load_registry

        test = load_registry().datasets.load(test)
    options = {"seed": seed, "device": device, "test": test}
    if epochs is not None:
        options["epochs"] = epochs
    if kind == "static":
        from fewshot.compression.static import distill_static

        return distill_static(model, list(unlabeled), out, **options)
    from fewshot.compression.layers import distill_layers

    return distill_layers(model, list(unlabeled), out, layers=layers, **options)
