"""A student's teacher and the pool of unlabelled texts it learns on.

The pool is the teacher's training texts (where its recorded training data still loads, and is
the same data) and the texts of the sources given; only their texts are read. A tenth of it, at
most 2,000 texts, is held out: the student never trains on them, and how often it decides as
the teacher on them is what its card reports and what picks its training epoch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.errors import ConfigError

#: The share of the pool held out to measure agreement with the teacher, and its cap.
HELD_OUT_SHARE, HELD_OUT_MAX = 0.1, 2000


@dataclass
class Teacher:
    """A loaded teacher model and what a student copies from it.

    Parameters
    ----------
    directory : Path
        Its model directory.
    config : dict
        Its ``fewshot.json``.
    classifier : FewShotClassifier
        The teacher, loaded on torch.
    head : LinearHead
        Its predictions as a linear head over sentence vectors (``Learner.linear_head``).
    thresholds : ndarray or None
        Its per-label thresholds (multi-label models).
    rejection : Rejection or None
        Its out-of-scope rule.
    """

    directory: Path
    config: dict[str, Any]
    classifier: Any
    head: Any
    thresholds: np.ndarray | None
    rejection: Any

    def embed(self, texts: list[str]) -> np.ndarray:
        """The sentence vectors the head reads (before its own scaling): what a student learns
        to produce."""
        learner = self.classifier.learner_
        if learner.input_kind == "embeddings":
            vectors = self.classifier._inputs(texts, learner)
        else:
            vectors = learner.embed(texts)
        return np.asarray(vectors, dtype=np.float32)

    def encoder_directory(self) -> Path:
        """The sentence-transformers directory of the encoder the head reads (its fine-tuned
        one, a copy in the model, or the registered one it names)."""
        from fewshot.deploy.export import encoder_directory

        return encoder_directory(self.directory, self.config)


def load_teacher(directory: str | Path, *, device: str | None = None, cache=True) -> Teacher:
    """The model in ``directory``, verified and loaded on torch, checked to be one a student can
    learn: predictions that are a linear head over sentence vectors (checked on its texts)."""
    from fewshot.deploy.onnx_model import bundle_can_reject
    from fewshot.models.classifier import load
    from fewshot.models.directory import read_config

    directory = Path(directory)
    config = read_config(directory)
    if isinstance(config.get("student"), dict):
        raise ConfigError(
            f"{directory}: already a student (of {config['student'].get('teacher', {}).get('name')!r}); "
            "distil from its teacher instead"
        )
    classifier = load(directory, device=device, cache=cache, backend="torch")
    learner = classifier.learner_
    head = learner.linear_head()
    if head is None:
        raise ConfigError(
            f"{directory}: learner {config['learner']!r} does not predict through a linear head "
            "over sentence vectors (logreg and finetune do), so a student cannot take its head"
        )
    if not bundle_can_reject(config):
        raise ConfigError(
            f"{directory}: its out-of-scope scorer {config['reject'].get('scorer')!r} comes from "
            "a plugin; a student carries over the built-in scorers only"
        )
    thresholds = learner.thresholds_ if getattr(classifier, "multi_label_", False) else None
    return Teacher(
        directory, config, classifier, head, thresholds, getattr(classifier, "rejection_", None)
    )


def check_head(teacher: Teacher, texts: list[str], vectors: np.ndarray) -> None:
    """The head over the teacher's vectors must give the teacher's probabilities (and its
    in-scope scores): else a student copying them would not answer as the teacher."""
    from fewshot.deploy.onnx_model import _BundleView

    expected = teacher.classifier.predict_proba(texts)
    difference = float(np.abs(teacher.head.predict_proba(vectors) - expected).max())
    if difference > 1e-4:
        raise ConfigError(
            f"{teacher.directory}: learner {teacher.config['learner']!r}'s linear head does not "
            f"reproduce its probabilities (largest difference {difference:.2g}); cannot distil it"
        )
    if teacher.rejection is not None:
        scores = teacher.rejection.reject(_BundleView(teacher.head), vectors)[0]
        if not np.allclose(scores, teacher.classifier.predict_with_scores(texts)[2], atol=1e-4):
            raise ConfigError(
                f"{teacher.directory}: its out-of-scope scores are not computed from its head's "
                "inputs, so a student cannot carry its rejection over"
            )


def pool_texts(teacher: Teacher, sources: list[str], *, text_column: str = "text") -> list[str]:
    """The teacher's training texts and the texts of ``sources`` (files or ``NAME:SPLIT``),
    each once. A source that is the teacher's recorded test data is refused."""
    from fewshot.deploy.export import recorded_training_texts
    from fewshot.deploy.predictions import input_rows, text_of
    from fewshot.plugins.registry import load_registry

    training = teacher.config.get("training_data") or {}
    for source in sources:
        if source == training.get("test"):
            raise ConfigError(
                f"--unlabeled {source}: the teacher's test data; a student learns from training "
                "texts only, so that its accuracy there still means something"
            )
    registry = load_registry()
    texts = recorded_training_texts(teacher.config)
    for source in sources:
        texts += [
            text_of(where, row, text_column)
            for where, row in input_rows(source, text_column=text_column, registry=registry)
        ]
    texts = list(dict.fromkeys(texts))
    if len(texts) < 20:
        raise ConfigError(
            f"{teacher.directory}: {len(texts)} texts to learn from (its training data "
            f"{training.get('data')!r} and --unlabeled); a student needs at least 20, and "
            "thousands of in-domain texts to match its teacher"
        )
    return texts


def fingerprint(texts: list[str]) -> str:
    """The pool's identity on the card: the SHA-256 of its sorted texts."""
    digest = hashlib.sha256()
    for text in sorted(texts):
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def held_out_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, held-out rows) of a pool of ``n`` texts."""
    order = np.random.default_rng(seed).permutation(n)
    held = min(HELD_OUT_MAX, max(1, int(n * HELD_OUT_SHARE)))
    return np.sort(order[held:]), np.sort(order[:held])
