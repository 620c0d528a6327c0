"""finetune's two recipes, both seeded end to end and linear in the number of examples (no O(n²)
pairs):

- ``contrastive_epoch`` (SetFit-style): every example is paired with another example of its class;
  each batch holds pairs of distinct classes, and the other pairs of the batch are the negatives
  (in-batch negatives with a symmetric InfoNCE loss, as in sentence-transformers'
  MultipleNegativesRankingLoss); ``contrastive_label_sets_epoch`` is its multi-label form;
- ``cross_entropy_epoch``: end-to-end training of encoder and a cosine classifier whose weights
  start at the class prototypes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fewshot.learners.training import TrainingBudget, embed, optimizer_step


def contrastive_epoch(
    model,
    optimizer,
    texts: Sequence[str],
    codes: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    budget: TrainingBudget,
    scale: float = 20.0,
    names: Sequence[str] | None = None,
    name_weight: float = 1.0,
    head=None,
    head_weight: float = 1.0,
    dropout_views: bool = False,
) -> None:
    """One pass: a positive partner for every example, unless the budget runs out first.

    With ``names`` (one readable label name per class code), each step also pulls every text
    of the batch towards its own class's name and away from the other names (FastFit's
    text-to-label term), weighted by ``name_weight``. With ``head`` (a cosine classifier's
    class vectors), a cross-entropy term through it joins the loss, weighted by
    ``head_weight``. With ``dropout_views``, each text is encoded a second time (another
    dropout mask) and the two views form one more positive pair (SimCSE's, FastFit's repeats)."""
    import torch
    import torch.nn.functional as F

    members = {c: np.flatnonzero(codes == c) for c in np.unique(codes)}
    pending = list(rng.permutation(len(texts)))
    while pending and not budget.exhausted():
        batch, classes, rest = [], set(), []
        for anchor in pending:
            if codes[anchor] in classes or len(batch) == batch_size:
                rest.append(anchor)
            else:
                batch.append(anchor)
                classes.add(codes[anchor])
        pending = rest
        if len(batch) < 2:
            continue  # a lone pair has no negatives
        partners = []
        for anchor in batch:
            others = members[codes[anchor]][members[codes[anchor]] != anchor]
            partners.append(rng.choice(others) if len(others) else anchor)
        a = F.normalize(embed(model, [texts[i] for i in batch]), dim=1)
        b = F.normalize(embed(model, [texts[i] for i in partners]), dim=1)
        logits = scale * a @ b.T
        target = torch.arange(len(batch), device=logits.device)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        if dropout_views:
            views = scale * a @ F.normalize(embed(model, [texts[i] for i in batch]), dim=1).T
            loss = loss + (F.cross_entropy(views, target) + F.cross_entropy(views.T, target)) / 2
        own = torch.as_tensor(codes[batch], device=logits.device)
        if names is not None:
            loss = loss + name_weight * _towards(embed(model, names), scale, (a, own), (b, own))
        if head is not None:
            loss = loss + head_weight * _towards(head, scale, (a, own), (b, own))
        optimizer_step(optimizer, loss)
        budget.step(loss.detach())


def _towards(anchors, scale: float, *sides):
    """Mean cross-entropy of texts over the class ``anchors`` (label names' embeddings, or a
    cosine head's vectors); each side is (normalized text embeddings, their targets: class
    indices, or a distribution over the classes)."""
    import torch.nn.functional as F

    anchors = F.normalize(anchors, dim=1)
    return sum(F.cross_entropy(scale * e @ anchors.T, own) for e, own in sides) / len(sides)


def contrastive_label_sets_epoch(
    model,
    optimizer,
    texts: Sequence[str],
    Y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    budget: TrainingBudget,
    scale: float = 20.0,
    names: Sequence[str] | None = None,
    name_weight: float = 1.0,
) -> None:
    """One contrastive pass over multi-label texts that respects their label sets: each text's
    partner shares one of its labels (drawn at random), and a batch's other texts count as
    negatives only when they share *no* label with it. SetFit's pairs treat a text with an
    overlapping label set as a negative, which works against its one-vs-rest head
    (huggingface/setfit#500); here such pairs are simply left out of the loss.

    With ``names`` (one readable name per label), each text is also pulled towards its labels'
    names, its target spread evenly over its label set, and away from the other names."""
    import torch
    import torch.nn.functional as F

    Y = np.asarray(Y, dtype=bool)
    spread = (Y / Y.sum(axis=1, keepdims=True)).astype(np.float32)  # each text's name targets
    members = [np.flatnonzero(Y[:, j]) for j in range(Y.shape[1])]
    order = rng.permutation(len(texts))
    for start in range(0, len(order), batch_size):
        if budget.exhausted():
            break
        batch = order[start : start + batch_size]
        if len(batch) < 2:
            continue  # a lone pair has no negatives
        partners = []
        for anchor in batch:
            others = members[rng.choice(np.flatnonzero(Y[anchor]))]
            others = others[others != anchor]
            partners.append(rng.choice(others) if len(others) else anchor)
        a = F.normalize(embed(model, [texts[i] for i in batch]), dim=1)
        b = F.normalize(embed(model, [texts[i] for i in partners]), dim=1)
        logits = scale * a @ b.T
        shared = torch.as_tensor(Y[batch].astype(np.float32) @ Y[partners].T.astype(np.float32) > 0)
        shared.fill_diagonal_(False)  # the own partner stays the target
        logits = logits.masked_fill(shared.to(logits.device), float("-inf"))
        target = torch.arange(len(batch), device=logits.device)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        if names is not None:
            own_a, own_b = (torch.as_tensor(spread[i], device=a.device) for i in (batch, partners))
            loss = loss + name_weight * _towards(embed(model, names), scale, (a, own_a), (b, own_b))
        optimizer_step(optimizer, loss)
        budget.step(loss.detach())


def cross_entropy_epoch(
    model,
    head,
    optimizer,
    texts: Sequence[str],
    codes: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    budget: TrainingBudget,
    scale: float = 20.0,
) -> None:
    import torch
    import torch.nn.functional as F

    order = rng.permutation(len(texts))
    for start in range(0, len(order), batch_size):
        if budget.exhausted():
            break
        batch = order[start : start + batch_size]
        e = F.normalize(embed(model, [texts[i] for i in batch]), dim=1)
        logits = scale * e @ F.normalize(head, dim=1).T
        loss = F.cross_entropy(logits, torch.as_tensor(codes[batch], device=logits.device))
        optimizer_step(optimizer, loss)
        budget.step(loss.detach())
