"""finetune's training loop: the pristine (or a given) encoder, its optimiser and schedule, the
chosen recipe epoch by epoch within the budget, and early stopping on held-out support texts
(nearest-prototype accuracy, the best epoch kept). Seeded end to end.
"""

from __future__ import annotations

import numpy as np

from fewshot.encoding.model_loading import load_sentence_transformer
from fewshot.learners.maths import (
    class_means,
    l2_normalize,
    stratified_hold_out,
)
from fewshot.learners.training import (
    BestCheckpoint,
    LinearSchedule,
    TrainingBudget,
    adamw,
    freeze_bottom_layers,
    layer_groups,
)
from fewshot.plugins.registry import resolve_model_path
from fewshot.util import progress
from fewshot.util.seeding import generator, torch_seeded
from fewshot_plugins.finetune.recipes import (
    contrastive_epoch,
    contrastive_label_sets_epoch,
    cross_entropy_epoch,
)


def tune(
    learner,
    texts: list[str],
    codes: np.ndarray | None,
    Y: np.ndarray | None = None,
    names: list[str] | None = None,
    *,
    start=None,
    epochs: int | None = None,
    budget: TrainingBudget | None = None,
):
    """Fine-tune the encoder (``learner.model_``) on class ``codes`` or label sets ``Y``, for
    ``epochs`` (default ``learner.epochs``), from the pristine encoder or the model ``start``,
    within ``budget`` (default: a new one from ``max_steps`` and ``time_budget``)."""
    import torch

    epochs = learner.epochs if epochs is None else epochs
    budget = TrainingBudget(learner.max_steps, learner.time_budget) if budget is None else budget

    rng = generator(learner.random_state)
    if codes is None:
        train, held_out = np.arange(len(texts)), np.zeros(0, dtype=np.int64)
    else:
        train, held_out = stratified_hold_out(codes, learner.validation_fraction, rng)

    with torch_seeded(learner.random_state):  # initialisation and dropout
        if start is None:
            with progress.waiting(f"loading the encoder {learner.encoder}"):
                model = load_sentence_transformer(
                    resolve_model_path(learner.encoder), learner.device
                )
            freeze_bottom_layers(model, learner.freeze_layers)
        else:
            model = start
        groups = layer_groups(model, learner.learning_rate, learner.layer_decay)
        head = None
        if learner.recipe == "end-to-end" or (learner.head_weight and codes is not None):
            _, prototypes = class_means(model.encode([texts[i] for i in train]), codes[train])
            head = torch.nn.Parameter(torch.tensor(l2_normalize(prototypes), device=model.device))
            groups.append({"params": [head], "lr": 1e-2})
        optimizer = adamw(groups, weight_decay=0.01)
        classes = None if codes is None else len(np.unique(codes[train]))
        planned = planned_steps(learner, len(train), classes, epochs, budget)
        progress.expect(planned)  # the command line's progress line shows the share done
        if learner.schedule == "linear":
            optimizer = LinearSchedule(optimizer, planned)
        keep = BestCheckpoint.of_module(model, patience=learner.patience)
        model.train()
        train_texts = [texts[i] for i in train]
        train_codes = None if codes is None else codes[train]
        for _ in range(epochs):
            if budget.exhausted():
                break
            if Y is not None:
                contrastive_label_sets_epoch(
                    model,
                    optimizer,
                    train_texts,
                    Y[train],
                    learner.batch_size,
                    rng,
                    budget,
                    scale=learner.scale,
                    names=names,
                    name_weight=learner.name_weight,
                )
            elif learner.recipe == "contrastive":
                contrastive_epoch(
                    model,
                    optimizer,
                    train_texts,
                    train_codes,
                    learner.batch_size,
                    rng,
                    budget,
                    scale=learner.scale,
                    names=names,
                    name_weight=learner.name_weight,
                    head=head,
                    head_weight=learner.head_weight,
                    dropout_views=learner.dropout_views,
                )
            else:
                cross_entropy_epoch(
                    model,
                    head,
                    optimizer,
                    train_texts,
                    train_codes,
                    learner.batch_size,
                    rng,
                    budget,
                    scale=learner.scale,
                )
            if len(held_out):
                keep.check(prototype_accuracy(model, texts, codes, train, held_out))
                if keep.exhausted:
                    break
        keep.restore_best()
        model.eval()
    learner.steps_ = budget.steps
    learner.model_ = model


def planned_steps(
    learner, texts: int, classes: int | None, epochs: int, budget: TrainingBudget
) -> int:
    """The optimiser steps training will take, for the schedule: a contrastive batch holds
    one text per class, so an epoch is about ``texts / min(batch_size, classes)`` steps."""
    width = learner.batch_size if classes is None else min(learner.batch_size, classes)
    total = epochs * -(-texts // width)
    if budget.max_steps is not None:
        total = min(total, budget.max_steps - budget.steps)
    return max(total, 1)


def prototype_accuracy(model, texts, codes, train, held_out) -> float:
    model.eval()
    vectors = l2_normalize(
        model.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False)
    )
    model.train()
    labels, prototypes = class_means(vectors[train], codes[train])
    predicted = labels[np.argmax(vectors[held_out] @ l2_normalize(prototypes).T, axis=1)]
    return float(np.mean(predicted == codes[held_out]))
