"""Aligning a source and a target domain in a learned representation (torch).

The domain-alignment learners (``mmd``, ``kl``) share one training loop, :func:`train_aligned`:
a small network maps frozen (or fine-tuned) sentence embeddings to a representation ``z`` and
class logits; it learns from the labelled source, the K labelled target texts (if any), and a
penalty that pulls the source and target distributions of ``z`` together. Only the penalty
differs between the learners:

- :func:`mmd2`: multi-kernel maximum mean discrepancy (DAN; Long et al. 2015, "Learning
  Transferable Features with Deep Adaptation Networks");
- :func:`class_conditional_kl`: closed-form KL divergence between class-conditional diagonal
  Gaussians of the target (pseudo-labelled) and of the source.

The penalty weight ramps up as in DANN (Ganin et al. 2016): ``2 / (1 + exp(-10 p)) - 1`` of its
final value at training progress ``p``, so early, meaningless representations are not aligned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fewshot.learners.training import BestCheckpoint
from fewshot.util import progress

#: Gaussian kernel bandwidths, as multiples of the median pairwise squared distance.
BANDWIDTH_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def mmd2(x: torch.Tensor, y: torch.Tensor, factors=BANDWIDTH_FACTORS) -> torch.Tensor:
    """Unbiased estimate of the squared multi-kernel MMD between samples ``x`` and ``y``.

    The kernel is a sum of Gaussians whose bandwidths are set from the data: the median squared
    distance between the pooled points, times each of ``factors`` (the median heuristic, spread
    over a range as DAN does). The estimate is about zero for two samples of one distribution
    (it can be slightly negative) and grows as the distributions move apart.
    """
    if len(x) < 2 or len(y) < 2:
        raise ValueError("MMD needs at least two points on each side")
    z = torch.cat([x, y])
    squared = (z * z).sum(dim=1)
    # |a-b|² written out: torch.cdist's gradient is NaN at zero distance (the diagonal).
    d2 = (squared[:, None] + squared[None, :] - 2 * z @ z.T).clamp_min(0)
    n, m = len(x), len(y)
    off_diagonal = ~torch.eye(n + m, dtype=torch.bool, device=z.device)
    median = d2.detach()[off_diagonal].median().clamp_min(1e-8)
    kernel = sum(torch.exp(-d2 / (median * f)) for f in factors)
    kxx = kernel[:n, :n]
    kyy = kernel[n:, n:]
    kxy = kernel[:n, n:]
    same_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    same_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return same_x + same_y - 2 * kxy.mean()


def gaussian_kl(
    mean_p: torch.Tensor, var_p: torch.Tensor, mean_q: torch.Tensor, var_q: torch.Tensor
) -> torch.Tensor:
    """KL(P || Q) between diagonal Gaussians, summed over the last dimension."""
    return 0.5 * (torch.log(var_q / var_p) + (var_p + (mean_p - mean_q) ** 2) / var_q - 1).sum(
        dim=-1
    )


def class_conditional_kl(
    z_source: torch.Tensor,
    y_source: torch.Tensor,
    z_target: torch.Tensor,
    p_target: torch.Tensor,
    floor: float = 1e-2,
) -> torch.Tensor:
    """Σ_c π_c · KL(N_target,c || N_source,c) over diagonal Gaussians fitted per class, per
    dimension of the representation (so its scale does not grow with the width).

    Target points have no labels, so each counts towards class ``c`` with its predicted
    probability ``p_target[:, c]`` (held fixed: the classifier is not trained through the
    weights). ``π_c`` is the target's predicted share of class ``c``. Classes missing from the
    source batch are left out. ``floor`` (a share of the batch's mean variance) keeps variances
    away from zero in small batches.
    """
    weights = p_target.detach()
    # The floor is relative to the spread of the whole batch, so the penalty does not depend
    # on the scale of the representation.
    floor = floor * float(torch.cat([z_source, z_target]).detach().var(dim=0).mean()) + 1e-8
    total = torch.zeros((), device=z_source.device)
    mass = weights.sum(dim=0)
    share = mass / mass.sum()
    for c in range(p_target.shape[1]):
        members = z_source[y_source == c]
        if len(members) < 2 or mass[c] < 1e-6:
            continue
        mean_s, var_s = members.mean(dim=0), members.var(dim=0, unbiased=False) + floor
        w = weights[:, c : c + 1] / mass[c]
        mean_t = (w * z_target).sum(dim=0)
        var_t = (w * (z_target - mean_t) ** 2).sum(dim=0) + floor
        total = total + share[c] * gaussian_kl(mean_t, var_t, mean_s, var_s)
    return total / z_source.shape[1]


def information_maximisation(logits: torch.Tensor) -> torch.Tensor:
    """Mean prediction entropy minus the entropy of the mean prediction (SHOT's loss).

    Low when every target prediction is confident *and* the classes stay balanced overall, so
    entropy minimisation cannot collapse everything into one class.
    """
    p = logits.softmax(dim=1)
    entropy = -(p * p.clamp_min(1e-12).log()).sum(dim=1).mean()
    mean = p.mean(dim=0)
    diversity = -(mean * mean.clamp_min(1e-12).log()).sum()
    return entropy - diversity


class AlignmentNetwork(nn.Module):
    """Embedding ``x`` → representation ``z = x + adapter(x)`` → class logits.

    The adapter (one hidden layer) starts at zero, so training starts from the classifier it is
    given (the source-trained one). By default only target inputs pass through it: the source
    keeps its representation and the adapter learns to carry the target onto it, as ADDA (Tzeng
    et al. 2017) does with a separate target encoder. A representation shared by both domains
    could instead sharpen itself on the source labels, which on frozen embeddings costs more on
    the target than the alignment gives back.
    """

    def __init__(
        self,
        dimensions: int,
        hidden: int,
        classes: int,
        dropout: float = 0.1,
        adapt_source: bool = False,
    ):
        super().__init__()
        self.adapt_source = adapt_source
        self.adapter = nn.Sequential(
            nn.Linear(dimensions, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dimensions),
        )
        nn.init.zeros_(self.adapter[-1].weight)
        nn.init.zeros_(self.adapter[-1].bias)
        self.classify = nn.Linear(dimensions, classes)

    def forward(self, x: torch.Tensor, target: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Target inputs pass through the adapter; source inputs keep their representation
        unless ``adapt_source``."""
        z = x + self.adapter(x) if target or self.adapt_source else x
        return z, self.classify(z)


#: (z_source, y_source, z_target, logits_target) → penalty
Penalty = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class AlignmentData:
    """Index spaces the training loop samples from; ``features`` turns indices into inputs.

    ``features(part, indices)`` returns the encoder outputs of ``part`` ("source", "support" or
    "target", the last being support and unlabelled target pooled; "validation", held-out
    labelled source rows) at ``indices``.
    """

    features: Callable[[str, np.ndarray], torch.Tensor]
    source_codes: np.ndarray
    support_codes: np.ndarray
    target_size: int
    #: labels of the held-out source rows ("validation" part) that choose the checkpoint
    validation_codes: np.ndarray | None = None


def ramp(progress: float) -> float:
    """DANN's schedule for the penalty weight: 0 at the start, close to 1 by the middle."""
    return 2.0 / (1.0 + np.exp(-10.0 * progress)) - 1.0


def train_aligned(
    network: AlignmentNetwork,
    data: AlignmentData,
    penalty: Penalty,
    *,
    weight: float,
    steps: int,
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    target_weight: float = 1.0,
    entropy_weight: float = 0.0,
    transport_weight: float = 0.0,
    check_every: int = 20,
) -> int:
    """``steps`` optimiser steps on: cross-entropy of a source batch, cross-entropy of (up to a
    batch of) the labelled target texts, and ``weight · ramp · penalty`` between the source batch
    and a batch of target texts (labelled and unlabelled alike), ``entropy_weight`` times the
    information-maximisation loss of the target batch, and ``transport_weight`` times the mean
    squared displacement ``z - x`` of the target batch (the transport cost).

    With validation rows, their cross-entropy is measured every ``check_every`` steps and the
    network ends at its best checkpoint (model selection on the source, never on target labels).
    Returns the step count of the kept checkpoint.
    """
    device = next(network.parameters()).device
    n_source, n_support = len(data.source_codes), len(data.support_codes)
    keep = BestCheckpoint.of_module(network, higher_is_better=False)
    progress.expect(steps)
    for step in range(steps):
        network.train()
        s = rng.choice(n_source, size=batch_size, replace=n_source < batch_size)
        t = rng.choice(data.target_size, size=batch_size, replace=data.target_size < batch_size)
        y_s = torch.as_tensor(data.source_codes[s], device=device)
        z_s, logits_s = network(data.features("source", s), target=False)
        x_t = data.features("target", t)
        z_t, logits_t = network(x_t)
        loss = F.cross_entropy(logits_s, y_s)  # constant unless the source representation trains
        if n_support:
            k = rng.choice(n_support, size=min(batch_size, n_support), replace=False)
            _, logits_k = network(data.features("support", k))
            y_k = torch.as_tensor(data.support_codes[k], device=device)
            loss = loss + target_weight * F.cross_entropy(logits_k, y_k)
        if weight:
            loss = loss + weight * ramp(step / steps) * penalty(z_s, y_s, z_t, logits_t)
        if entropy_weight:
            loss = loss + entropy_weight * information_maximisation(logits_t)
        if transport_weight:
            loss = loss + transport_weight * (z_t - x_t).pow(2).mean()
        optimizer.zero_grad()
        if loss.requires_grad:  # False when nothing trainable is in the loss (weights all 0)
            loss.backward()
            optimizer.step()
        progress.step(loss.detach())
        if data.validation_codes is not None and (
            (step + 1) % check_every == 0 or step + 1 == steps
        ):
            keep.check(_validation_loss(network, data), step + 1)
    keep.restore_best()
    return steps if keep.best_step is None else keep.best_step


def _validation_loss(network: AlignmentNetwork, data: AlignmentData) -> float:
    network.eval()
    with torch.no_grad():
        validation = data.features("validation", np.arange(len(data.validation_codes)))
        _, logits = network(validation, target=False)
        codes = torch.as_tensor(data.validation_codes, device=logits.device)
        loss = float(F.cross_entropy(logits, codes))
    network.train()
    return loss
