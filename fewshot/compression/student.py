"""What every student shares: the decision thresholds set again on its own scores, its
accuracy, its card, its model directory, and the steps of a distillation (:func:`distil`), with
the student's own making given as a :class:`Build`.

Thresholds. A student's scores are not its teacher's, so the teacher's thresholds are moved:
each multi-label threshold to where the student gives that label to as many pool texts as the
teacher does, and the out-of-scope threshold to where the student rejects as many pool texts as
the teacher (the in-scope probability curve moves with it). Training data only, as everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.compression.teacher import (
    Teacher,
    check_head,
    fingerprint,
    held_out_split,
    load_teacher,
    pool_texts,
)
from fewshot.util import progress


@dataclass
class Built:
    """What a student's own making (a :data:`Build`) gives :func:`distil`.

    Parameters
    ----------
    encoder : object
        Its ``encode(texts)``: the vectors the teacher's head reads, as the student directory
        will compute them.
    folder : str
        Its folder in the directory and its entry in ``fewshot.json`` (``static``, ``onnx``);
        the head goes there too.
    files : dict of str to bytes
        Its files, by name in the directory.
    entry : dict
        Its ``fewshot.json`` entry (the head is added to it).
    details : dict
        What its ``student`` entry adds: epochs run, layers kept, ...
    description : str
        What it is, in a sentence of its card.
    """

    encoder: Any
    folder: str
    files: dict[str, bytes]
    entry: dict[str, Any]
    details: dict[str, Any]
    description: str


#: (teacher, pool texts, teacher's vectors of them, training rows, held-out rows) -> Built.
Build = Callable[[Teacher, list[str], np.ndarray, np.ndarray, np.ndarray], Built]


def distil(
    teacher_directory: str | Path,
    unlabeled: list[str],
    out: str | Path,
    *,
    kind: str,
    build: Build,
    seed: int,
    device: str | None,
    test,
    text_column: str,
) -> dict[str, Any]:
    """The steps every student takes (see the module docstring); returns its ``student`` entry."""
    from safetensors.numpy import save

    from fewshot.deploy.onnx_model import HEAD, head_entry
    from fewshot.models.directory import CONFIG, sha256_file

    start = time.perf_counter()
    with progress.waiting("loading the teacher"):
        teacher = load_teacher(teacher_directory, device=device)
    texts = pool_texts(teacher, unlabeled, text_column=text_column)
    with progress.waiting(f"the teacher's vectors of {len(texts):,} pool texts"):
        taught = teacher.embed(texts)
    check_head(teacher, texts[:256], taught[:256])
    train, held = held_out_split(len(texts), seed)
    built = build(teacher, texts, taught, train, held)
    with progress.waiting(f"the student's vectors of {len(texts):,} pool texts"):
        learnt = built.encoder.encode(texts)
    thresholds, rejection = matched_thresholds(teacher, taught[train], learnt[train])
    head, arrays = head_entry(teacher.head, thresholds, folder=built.folder)
    files = {**built.files, f"{built.folder}/{HEAD}": save(arrays)}
    info = {
        "kind": kind,
        "teacher": {
            "name": teacher.directory.name,
            "learner": teacher.config["learner"],
            "encoder": teacher.config.get("encoder"),
            "fewshot_json_sha256": sha256_file(teacher.directory / CONFIG),
        },
        "pool": {
            "sources": ["training texts", *unlabeled],
            "texts": len(texts),
            "sha256": fingerprint(texts),
        },
        "held_out": {
            "texts": len(held),
            "agreement": round(
                agreement(teacher, taught[held], learnt[held], thresholds, rejection), 4
            ),
            "cosine": round(_mean_cosine(teacher.head.inputs, learnt[held], taught[held]), 4),
        },
        **built.details,
        "seed": seed,
    }
    if test is not None:
        info["test"] = measured_accuracy(built.encoder, teacher, thresholds, rejection, test)
    info["seconds"] = round(time.perf_counter() - start, 1)
    write_student(
        out,
        teacher,
        files=files,
        entries={built.folder: {**built.entry, "head": head}},
        info=info,
        rejection=rejection,
        card=student_card(teacher, info, built.description),
    )
    return info


def _mean_cosine(inputs, a: np.ndarray, b: np.ndarray) -> float:
    a, b = inputs(a), inputs(b)
    norms = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return float(np.mean(np.sum(a * b, axis=1) / norms))


def measured_accuracy(encoder, teacher: Teacher, thresholds, rejection, test) -> dict[str, Any]:
    """The student's accuracy on labelled test texts (single-label: the label, the
    out-of-scope label counting right where rejected; multi-label: the exact label set),
    measured before it is written, for its card."""
    from fewshot.deploy.onnx_model import OnnxClassifier

    student = OnnxClassifier(encoder, teacher.config["labels"], teacher.head, thresholds, rejection)
    predicted = student.predict(list(test.texts))
    if thresholds is not None:
        gold = [tuple(sorted(map(str, y))) for y in test.label_sets or ()]
        right = [tuple(sorted(p)) == g for p, g in zip(predicted, gold, strict=True)]
    else:
        right = list(predicted.astype(str) == test.label_array.astype(str))
    return {"texts": len(right), "accuracy": round(float(np.mean(right)), 4)}


def decisions(head, vectors: np.ndarray, classes, thresholds, rejection):
    """What a model with this head, thresholds and rule answers for ``vectors``: labels (label
    tuples, multi-label) and the in-scope scores (or None)."""
    from fewshot.deploy.onnx_model import _BundleView
    from fewshot.learners.decisions import decide_labels

    proba = head.predict_proba(vectors)
    return decide_labels(
        proba,
        np.asarray(classes, dtype=object),
        thresholds=thresholds,
        rejection=rejection,
        scored=lambda: (_BundleView(head), vectors),
    )


def matched_thresholds(teacher: Teacher, taught: np.ndarray, learnt: np.ndarray):
    """The teacher's thresholds and rule moved to the student's scores (see the module
    docstring): ``taught`` and ``learnt`` are the teacher's and the student's vectors of the
    pool's training rows."""
    from fewshot.deploy.onnx_model import _BundleView

    thresholds = None
    if teacher.thresholds is not None:
        p_teacher, p_student = (
            teacher.head.predict_proba(taught),
            teacher.head.predict_proba(learnt),
        )
        thresholds = np.asarray(teacher.thresholds, dtype=np.float64).copy()
        for j, threshold in enumerate(teacher.thresholds):
            given = int(np.sum(p_teacher[:, j] >= threshold))
            if 0 < given < len(p_student):  # else no rate to match: the teacher's stays
                ranked = np.sort(p_student[:, j])[::-1]
                thresholds[j] = float(ranked[given - 1])
    rejection = teacher.rejection
    if rejection is not None:
        scores_teacher = rejection.reject(_BundleView(teacher.head), taught)[0]
        scores_student = rejection.reject(_BundleView(teacher.head), learnt)[0]
        share = float(np.mean(scores_teacher < rejection.threshold))
        threshold = float(np.quantile(scores_student, share))
        measured = dict(rejection.measured) if rejection.measured else None
        if measured and measured.get("probability"):
            curve = measured["probability"]
            shift = curve["slope"] * (rejection.threshold - threshold)
            measured["probability"] = {**curve, "intercept": curve["intercept"] + shift}
        if measured is not None:
            measured["student"] = {
                "teacher_threshold": rejection.threshold,
                "pool_texts": len(scores_student),
                "pool_rejected_by_teacher": round(share, 4),
            }
        rejection = replace(rejection, threshold=threshold, measured=measured)
    return thresholds, rejection


def agreement(teacher: Teacher, taught, learnt, thresholds, rejection) -> float:
    """The share of texts on which the student decides as the teacher does."""
    classes = teacher.classifier.classes_
    mine = decisions(teacher.head, learnt, classes, thresholds, rejection)[0]
    theirs = decisions(teacher.head, taught, classes, teacher.thresholds, teacher.rejection)[0]
    return float(np.mean([a == b for a, b in zip(mine, theirs, strict=True)]))


def write_student(
    out: str | Path,
    teacher: Teacher,
    *,
    files: dict[str, bytes],
    entries: dict[str, Any],
    info: dict[str, Any],
    rejection,
    card: str,
) -> Path:
    """Write a student model directory at ``out`` (replacing only an earlier model there):
    ``files`` (relative name -> bytes), ``entries`` (its folder's entry, ``static`` or
    ``onnx``) and the ``student`` description in ``fewshot.json``, the rejection rule's arrays
    in the state, and its card."""
    from safetensors.numpy import save

    from fewshot.models.directory import (
        STATE,
        config_header,
        read_config,
        stored_metadata,
        verify,
    )
    from fewshot.models.saving import check_model_out, write_config, writer_lock
    from fewshot.util.files import building, replace_directory, share, write_new

    config = teacher.config
    reject = rejection.describe() if rejection is not None else None
    check_model_out(out)
    with writer_lock(out):
        out = check_model_out(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with building(out, "distill") as staging:
            for name, data in files.items():
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                write_new(staging / name, data)
            arrays = {}
            if rejection is not None:
                arrays = {
                    f"reject.{k}": np.ascontiguousarray(v)
                    for k, v in rejection.scorer.get_state().items()
                }
            metadata = stored_metadata(
                config["learner"], config["labels"], config["params"], reject
            )
            write_new(staging / STATE, save(arrays, metadata=metadata))
            write_new(staging / "README.md", card.encode("utf-8"))
            share(staging)
            student_config = {
                **config_header(),
                "learner": config["learner"],
                "params": config["params"],
                "input_kind": "texts",
                "labels": config["labels"],
                "encoder": {"name": f"{info['kind']} student", "fine_tuned": True},
                "training_data": config.get("training_data"),
                "classifier": config.get("classifier"),
                "student": info,
                **entries,
            }
            if reject is not None:
                student_config["reject"] = reject
            write_config(staging, student_config)
            verify(staging, read_config(staging))
            replace_directory(staging, out)
    return out


def student_card(teacher: Teacher, info: dict[str, Any], description: str) -> str:
    """The README.md of a student."""
    import fewshot

    held, pool, source = info["held_out"], info["pool"], info["teacher"]
    test = info.get("test")
    measured = (
        f"Accuracy on the {test['texts']:,} test texts given: **{test['accuracy']:.4f}**."
        if test
        else "No test data was given to measure its accuracy (`fewshot distill ... --test DATA`)."
    )
    labels = "\n".join(f"- `{label}`" for label in teacher.config["labels"])
    return f"""---
library_name: fewshot
tags:
- fewshot
- text-classification
- knowledge-distillation
---

# A {info["kind"]} student of `{source["name"]}`

Distilled with fewshot {fewshot.__version__} (`fewshot distill --student {info["kind"]}`) from
the teacher model `{source["name"]}` (learner `{source["learner"]}`; its `fewshot.json` has
SHA-256 `{source["fewshot_json_sha256"]}`). {description}

## How it was made

- Pool of unlabelled texts: {pool["texts"]:,} ({", ".join(pool["sources"])}); SHA-256 of its
  sorted texts `{pool["sha256"]}`. Their labels were never read.
- {held["texts"]:,} pool texts held out of training: the student decides as the teacher on
  {held["agreement"]:.2%} of them (mean cosine of the vectors {held["cosine"]:.3f}).
- Seed {info["seed"]}, {info["seconds"]} s.
- Out-of-scope and multi-label thresholds, where the teacher has them, were moved to where the
  student rejects (or gives each label to) as many pool texts as the teacher.

{measured}

## Use

```python
import fewshot

classifier = fewshot.load("path/to/this/model")
classifier.predict(["a text to label"])
```

or `fewshot predict path/to/this/model texts.txt --out predictions.jsonl`.

## Labels

{labels}

## Files

Every file here is listed with its SHA-256 in `fewshot.json`, and fewshot refuses to load the
directory if one is missing, changed or added. The checksums catch damage and accidental edits,
not a determined attacker: load models only from people you trust.
"""
