"""The toolkit of learners that train: embeddings with gradients, the optimiser and its
schedule, per-layer learning rates, a training budget, and an encoder a learner tunes and saves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from fewshot.encoding.model_loading import load_sentence_transformer
from fewshot.errors import ConfigError
from fewshot.util import progress


def embed(model, texts: Sequence[str]):
    """Sentence embeddings with gradients (``model.encode`` runs without them)."""
    # sentence-transformers 6 renamed tokenize to preprocess.
    preprocess = getattr(model, "preprocess", None) or model.tokenize
    features = preprocess(list(texts))
    features = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in features.items()}
    return model(features)["sentence_embedding"]


def adamw(groups, *, weight_decay: float):
    """AdamW with torch's fused kernel: on a 22M-parameter encoder one step takes 16 ms instead
    of 108 ms on one CPU core (the per-tensor loop touches every weight several times)."""
    import torch

    try:
        return torch.optim.AdamW(groups, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):  # a device or torch without the fused kernel
        return torch.optim.AdamW(groups, weight_decay=weight_decay)


class LinearSchedule:
    """An optimiser whose learning rates warm up linearly over the first ``warmup`` share of
    ``total`` steps, then decay linearly to zero (the schedule SetFit and BERT fine-tuning use)."""

    def __init__(self, optimizer, total: int, warmup: float = 0.1):
        import torch

        self.optimizer = optimizer
        rise = max(1, round(warmup * total))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: (
                (step + 1) / rise if step < rise else max(0.0, (total - step) / (total - rise + 1))
            ),
        )

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def step(self) -> None:
        self.optimizer.step()
        self.scheduler.step()


def optimizer_step(optimizer, loss) -> None:
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def freeze_bottom_layers(model, layers: int) -> None:
    """Freeze the embeddings and the lowest ``layers`` transformer layers."""
    if layers <= 0:
        return
    transformer = model[0].auto_model
    for parameter in transformer.embeddings.parameters():
        parameter.requires_grad = False
    blocks = transformer.encoder.layer
    if layers > len(blocks):
        raise ConfigError(f"freeze_layers={layers}, but the encoder has only {len(blocks)} layers")
    for block in blocks[:layers]:
        for parameter in block.parameters():
            parameter.requires_grad = False


def layer_groups(model, learning_rate: float, decay: float) -> list[dict]:
    """Optimiser groups with layer-wise learning rates: the top transformer layer (and what sits
    above it) at ``learning_rate``, each layer below at ``decay`` times the one above, the
    embeddings below them all; only parameters that train. ``decay`` 1: one group."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if decay == 1:
        return [{"params": trainable, "lr": learning_rate}]
    transformer = model[0].auto_model
    blocks = list(transformer.encoder.layer)
    depth = {id(p): len(blocks) for p in transformer.embeddings.parameters()}
    for i, block in enumerate(blocks):
        depth.update({id(p): len(blocks) - 1 - i for p in block.parameters()})
    groups: dict[int, list] = {}
    for parameter in trainable:
        groups.setdefault(depth.get(id(parameter), 0), []).append(parameter)
    return [
        {"params": params, "lr": learning_rate * decay**level}
        for level, params in sorted(groups.items())
    ]


class TrainingBudget:
    """Stops training after ``max_steps`` optimiser steps or ``seconds``, whichever comes first."""

    def __init__(self, max_steps: int | None = None, seconds: float | None = None):
        self.max_steps = max_steps
        self.end = None if seconds is None else time.monotonic() + seconds
        self.steps = 0

    def step(self, loss=None) -> None:
        """Count one optimiser step (and show it, where the command line shows progress);
        ``loss``, the step's, goes to an experiment tracker where one listens."""
        self.steps += 1
        progress.step(loss)

    def exhausted(self) -> bool:
        if self.max_steps is not None and self.steps >= self.max_steps:
            return True
        return self.end is not None and time.monotonic() >= self.end


class TunedEncoderMixin:
    """``save_encoder`` / ``load_encoder`` for learners that keep the sentence-transformers model
    they fine-tuned in ``model_`` (and take a ``device`` parameter)."""

    def save_encoder(self, directory) -> None:
        self._check_fitted("model_")
        self.model_.save(str(directory), safe_serialization=True)

    def load_encoder(self, directory) -> None:
        self.model_ = load_sentence_transformer(directory, self.device)
        self.model_.eval()

    def use_encoder(self, encoder) -> None:
        self.model_ = ExportedEncoder(encoder)


class ExportedEncoder:
    """An exported encoder (``fewshot.encoding.onnx_encoder.OnnxEncoder``) in the place of the
    sentence-transformers model a tuned learner keeps in ``model_``: it answers what prediction
    asks of that model (``encode``, the dimension), with no torch."""

    def __init__(self, encoder):
        self.encoder = encoder

    def encode(self, texts, **_options) -> np.ndarray:
        return self.encoder.encode(list(texts))

    def get_embedding_dimension(self) -> int:
        return self.encoder.dimension

    get_sentence_embedding_dimension = get_embedding_dimension

    def eval(self):
        return self


class BestCheckpoint:
    """The one keep-the-best-checkpoint rule of every trained learner: remember the state of the
    best validation score seen so far (the earliest on ties), say when ``patience`` checks in a
    row brought no gain, and put the best state back at the end.

    Parameters
    ----------
    snapshot, restore : callable
        ``snapshot()`` returns a copy of the trained state; ``restore(state)`` puts one back.
        :meth:`of_module` builds both for a torch module.
    higher_is_better : bool
        True for accuracies, False for losses.
    patience : int or None
        Checks without a gain after which :attr:`exhausted` turns true (None: never).
    """

    def __init__(self, snapshot, restore, *, higher_is_better: bool = True, patience=None):
        self.snapshot = snapshot
        self.restore = restore
        self.sign = 1.0 if higher_is_better else -1.0
        self.patience = patience
        self.best_score: float | None = None
        self.best_step: int | None = None
        self._key = -math.inf  # sign · best score: a NaN score is never a gain
        self.best_state = None
        self.waited = 0

    @classmethod
    def of_module(cls, module, **options) -> BestCheckpoint:
        """For a torch module: snapshots are detached copies of its ``state_dict``."""
        return cls(
            lambda: {k: v.detach().clone() for k, v in module.state_dict().items()},
            module.load_state_dict,
            **options,
        )

    def check(self, score: float, step: int | None = None) -> bool:
        """Record the score reached at ``step``; True (and a snapshot) when it is a new best."""
        if self.sign * score > self._key:
            self._key = self.sign * score
            self.best_score, self.best_step, self.waited = score, step, 0
            self.best_state = self.snapshot()
            return True
        self.waited += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.patience is not None and self.waited > self.patience

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.restore(self.best_state)


def train_with_validation(
    step: Callable[[int], float],
    validate: Callable[[], float | None],
    keep: BestCheckpoint,
    *,
    steps: int,
    validate_every: int,
) -> tuple[int, float | None]:
    """Run ``step(i)`` for ``i`` in ``range(steps)``, validating before the first step and every
    ``validate_every`` steps; ``keep`` restores the state of the best validation score (the
    earliest on ties). Returns (the chosen step count, its validation score; None without
    validation)."""
    progress.expect(steps)
    first = validate()
    if first is None:
        for i in range(steps):
            step(i)
            progress.step()
        return steps, None
    keep.check(first, 0)
    for i in range(steps):
        step(i)
        progress.step()
        if (i + 1) % validate_every == 0 or i + 1 == steps:
            keep.check(validate(), i + 1)
    keep.restore_best()
    return keep.best_step, keep.best_score
