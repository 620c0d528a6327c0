"""Episodic training of an embedding projection with the prototypical loss (Snell et al. 2017).

The projection is residual, ``z = x + W2 relu(W1 x + b1) + b2`` with ``W2`` and ``b2`` starting
at zero, so training starts exactly at the frozen embeddings and the validation tasks can
always fall back to them (step 0 is a checkpoint like any other). Inference is plain numpy on
the learned arrays, which are what a saved model stores.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fewshot.learners.training import BestCheckpoint, train_with_validation
from fewshot.tasks.meta_training import MetaTrainingData, Task


class ResidualProjection(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.inner = nn.Linear(dim, hidden)
        self.outer = nn.Linear(hidden, dim)
        nn.init.zeros_(self.outer.weight)
        nn.init.zeros_(self.outer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.outer(torch.relu(self.inner(x)))

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            name.replace(".", "_"): value.detach().cpu().numpy().copy()
            for name, value in self.state_dict().items()
        }


def project(arrays: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """``ResidualProjection`` applied with numpy to the arrays of ``arrays()``."""
    hidden = np.maximum(X @ arrays["inner_weight"].T + arrays["inner_bias"], 0.0)
    return (X + hidden @ arrays["outer_weight"].T + arrays["outer_bias"]).astype(np.float32)


def prototype_logits(
    z_support: torch.Tensor,
    y_support: torch.Tensor,
    z_query: torch.Tensor,
    ways: int,
    metric: str,
    temperature: float,
) -> torch.Tensor:
    prototypes = torch.zeros(ways, z_support.shape[1], device=z_support.device)
    prototypes = prototypes.index_add(0, y_support, z_support)
    prototypes = prototypes / torch.bincount(y_support, minlength=ways)[:, None]
    if metric == "cosine":
        q = nn.functional.normalize(z_query, dim=1)
        return temperature * q @ nn.functional.normalize(prototypes, dim=1).T
    return -torch.cdist(z_query, prototypes).pow(2)


def train_projection(
    tasks: MetaTrainingData,
    *,
    metric: str,
    temperature: float,
    hidden: int,
    steps: int,
    batch_size: int,
    learning_rate: float,
    validate_every: int,
    device: str,
) -> tuple[dict[str, np.ndarray], int, float | None]:
    """Train a projection on the base-class tasks; returns its arrays, the chosen step and its
    validation accuracy. Call it inside :func:`fewshot.util.seeding.torch_seeded`."""
    dim = tasks.train.X.shape[1]
    model = ResidualProjection(dim, hidden).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)

    def tensors(task: Task):
        def as_tensor(a, dtype):
            return torch.as_tensor(a, dtype=dtype, device=device)

        return (
            as_tensor(task.X_support, torch.float32),
            as_tensor(task.y_support, torch.long),
            as_tensor(task.X_query, torch.float32),
            as_tensor(task.y_query, torch.long),
        )

    def step(i: int) -> float:
        model.train()
        optimizer.zero_grad()
        loss = 0.0
        for j in range(batch_size):
            task = tasks.train.task(i * batch_size + j)
            Xs, ys, Xq, yq = tensors(task)
            logits = prototype_logits(model(Xs), ys, model(Xq), task.ways, metric, temperature)
            loss = loss + nn.functional.cross_entropy(logits, yq) / batch_size
        loss.backward()
        optimizer.step()
        return loss.item()

    @torch.no_grad()
    def validate() -> float | None:
        if not tasks.validation:
            return None
        model.eval()
        correct = []
        for task in tasks.validation:
            Xs, ys, Xq, yq = tensors(task)
            logits = prototype_logits(model(Xs), ys, model(Xq), task.ways, metric, temperature)
            correct.append((logits.argmax(1) == yq).float().mean().item())
        return float(np.mean(correct))

    chosen, score = train_with_validation(
        step,
        validate,
        BestCheckpoint.of_module(model),
        steps=steps,
        validate_every=validate_every,
    )
    return model.arrays(), chosen, score
