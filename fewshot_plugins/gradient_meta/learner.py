"""The base of the gradient-based meta-learners (``maml``, ``metasgd``), on learn2learn.

The network is a head over frozen sentence embeddings: by default one linear layer
``Linear(d, N)``; with ``hidden > 0``, ``Linear(d, hidden) → ReLU → Linear(hidden, N)``. Inputs
are L2-normalised and scaled by ``sqrt(d)`` so each dimension has about unit size. (On CLINC150
validation episodes the linear head meta-trained better than the 256-unit one, which did not
improve on its random start; see docs/explanation/results.md.) ``meta_fit`` learns its initialisation (and,
for Meta-SGD, a learning rate per parameter) on N-way K-shot episodes of the base classes:
each task clones the network, takes ``inner_steps`` gradient steps on its support set and is
scored on its queries; the query loss, averaged over ``meta_batch_size`` tasks, updates the
initialisation (through the inner steps, or not with ``first_order=True``). Validation
episodes pick the checkpoint. ``fit`` on a support set then takes the same inner steps from the
meta-learned start; prediction is one forward pass of the adapted network.

A subclass names its ``learn2learn.algorithms`` class in ``algorithm``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from fewshot.integrations.learn2learn.install import import_learn2learn
from fewshot.learners.base import Learner, NotFittedError, check_query, check_support
from fewshot.learners.maths import l2_normalize
from fewshot.learners.training import BestCheckpoint, train_with_validation
from fewshot.tasks.meta_training import MetaTrainingData, Task
from fewshot.util.params import Boolean, Device, Integer, OrNone, Real
from fewshot.util.seeding import torch_seeded


class GradientMetaLearner(Learner):
    """A head over embeddings whose initialisation is meta-learned (MAML family).

    Parameters
    ----------
    hidden : int, default 0
        Width of the head's hidden layer; 0: one linear layer.
    inner_steps : int, default 5
        Gradient steps a task takes from the meta-learned start.
    inner_learning_rate : float, default 0.5
        Their learning rate (Meta-SGD learns one per parameter, starting here).
    first_order : bool, default False
        Ignore second derivatives through the inner steps (FOMAML).
    meta_steps : int, default 1000
        Meta-training steps on base-class episodes.
    meta_batch_size : int, default 8
        Tasks per meta-training step.
    meta_learning_rate : float, default 1e-3
        Adam's learning rate for the initialisation.
    validate_every : int, default 100
        Meta-training steps between checkpoint choices on validation episodes.
    device : str, default "cpu"
        Where training runs (``cpu``, ``cuda``, ``cuda:N``).
    random_state : int or None, default None
        The seed of meta-training; None: one derived from the run's seed and episode.
    """

    meta_trained = True
    #: The ``learn2learn.algorithms`` class that wraps the network (``clone()`` / ``adapt``).
    algorithm: ClassVar[str] = ""
    parameter_constraints = {
        "hidden": Integer(min=0),
        "inner_steps": Integer(min=0),
        "inner_learning_rate": Real(min=0),
        "first_order": Boolean(),
        "meta_steps": Integer(min=0),
        "meta_batch_size": Integer(min=1),
        "meta_learning_rate": Real(min=0, min_open=True),
        "validate_every": Integer(min=1),
        "device": Device(),
        "random_state": OrNone(Integer(min=0)),
    }

    def __init__(
        self,
        hidden: int = 0,
        inner_steps: int = 5,
        inner_learning_rate: float = 0.5,
        first_order: bool = False,
        meta_steps: int = 1000,
        meta_batch_size: int = 8,
        meta_learning_rate: float = 1e-3,
        validate_every: int = 100,
        device: str = "cpu",
        random_state: int | None = None,
    ):
        self.hidden = hidden
        self.inner_steps = inner_steps
        self.inner_learning_rate = inner_learning_rate
        self.first_order = first_order
        self.meta_steps = meta_steps
        self.meta_batch_size = meta_batch_size
        self.meta_learning_rate = meta_learning_rate
        self.validate_every = validate_every
        self.device = device
        self.random_state = random_state

    def wrap(self, network: nn.Module) -> nn.Module:
        """``network`` in the learn2learn algorithm of this learner."""
        wrapper = getattr(import_learn2learn().algorithms, self.algorithm)
        return wrapper(network, lr=self.inner_learning_rate, first_order=self.first_order)

    # -- meta-training ------------------------------------------------------------------------

    def meta_fit(self, tasks: MetaTrainingData) -> GradientMetaLearner:
        self.validate_params()
        with torch_seeded(self.random_state):  # initialisation; the caller's RNG is left alone
            return self._meta_fit(tasks)

    def _meta_fit(self, tasks: MetaTrainingData) -> GradientMetaLearner:
        self.ways_ = tasks.ways
        self.n_features_in_ = tasks.train.X.shape[1]
        meta = self.wrap(self._network()).to(self.device)
        optimizer = torch.optim.Adam(meta.parameters(), lr=self.meta_learning_rate)

        def step(i: int) -> None:
            optimizer.zero_grad()
            for j in range(self.meta_batch_size):
                task = tasks.train.task(i * self.meta_batch_size + j)
                adapted = self._adapt(
                    meta, self._tensor(task.X_support), task.y_support, meta_gradient=True
                )
                loss = nn.functional.cross_entropy(
                    adapted(self._tensor(task.X_query)), self._codes(task.y_query)
                )
                (loss / self.meta_batch_size).backward()
            optimizer.step()

        def validate() -> float | None:
            if not tasks.validation:
                return None
            return float(np.mean([self._task_accuracy(meta, task) for task in tasks.validation]))

        self.meta_step_, self.meta_validation_accuracy_ = train_with_validation(
            step,
            validate,
            BestCheckpoint.of_module(meta),
            steps=self.meta_steps,
            validate_every=self.validate_every,
        )
        self.meta_state_ = {k: v.cpu().numpy().copy() for k, v in meta.state_dict().items()}
        return self

    # -- one task -----------------------------------------------------------------------------

    def fit(self, X, y) -> GradientMetaLearner:
        X, y = check_support(self, X, y)
        if not hasattr(self, "meta_state_"):
            raise NotFittedError(
                f"{self.name} is meta-trained: call meta_fit first (the evaluator does, on the "
                "setting's base classes)"
            )
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) != self.ways_:
            raise ValueError(
                f"{self.name} was meta-trained on {self.ways_}-way tasks; this support set has "
                f"{len(self.classes_)} classes"
            )
        adapted = self._adapt(self._meta(), self._tensor(X), codes)
        self.adapted_state_ = {
            name: parameter.detach().cpu().numpy().copy()
            for name, parameter in adapted.module.named_parameters()
        }
        return self

    def predict_proba(self, X) -> np.ndarray:
        self._check_fitted("adapted_state_")
        X = check_query(self, X)
        network = self._network()
        network.load_state_dict({k: torch.from_numpy(v) for k, v in self.adapted_state_.items()})
        with torch.no_grad():
            logits = network.to(self.device)(self._tensor(X))
        return torch.softmax(logits, dim=1).cpu().numpy().astype(np.float64)

    # -- saving -------------------------------------------------------------------------------

    def get_state(self) -> dict[str, np.ndarray]:
        self._check_fitted("adapted_state_")
        return {f"meta.{k}": v for k, v in self.meta_state_.items()} | {
            f"adapted.{k}": v for k, v in self.adapted_state_.items()
        }

    def set_state(self, classes, state) -> GradientMetaLearner:
        self.classes_ = np.asarray(classes, dtype=object)
        self.meta_state_ = {k[5:]: v for k, v in state.items() if k.startswith("meta.")}
        self.adapted_state_ = {k[8:]: v for k, v in state.items() if k.startswith("adapted.")}
        last = sorted(k for k in self.adapted_state_ if k.endswith("weight"))[-1]
        self.ways_ = self.adapted_state_[last].shape[0]
        self.n_features_in_ = self.adapted_state_["0.weight"].shape[1]
        return self

    # -- helpers ------------------------------------------------------------------------------

    def _network(self) -> nn.Module:
        d = self.n_features_in_
        if self.hidden == 0:
            return nn.Sequential(nn.Linear(d, self.ways_))
        return nn.Sequential(
            nn.Linear(d, self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.ways_)
        )

    def _meta(self) -> nn.Module:
        meta = self.wrap(self._network())
        meta.load_state_dict({k: torch.from_numpy(v) for k, v in self.meta_state_.items()})
        return meta.to(self.device)

    def _tensor(self, X: np.ndarray) -> torch.Tensor:
        scaled = l2_normalize(np.asarray(X, dtype=np.float32)) * np.sqrt(X.shape[1])
        return torch.as_tensor(scaled, dtype=torch.float32, device=self.device)

    def _codes(self, y: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(y, dtype=torch.long, device=self.device)

    def _adapt(
        self, meta: nn.Module, X: torch.Tensor, codes: np.ndarray, *, meta_gradient: bool = False
    ) -> nn.Module:
        """A clone of ``meta`` after the inner steps on (X, codes). Only meta-training steps
        need the graph through them (``meta_gradient``); elsewhere the steps are first order,
        which gives the same adapted weights."""
        learner = meta.clone()
        target = self._codes(codes)
        first_order = self.first_order or not meta_gradient
        for _ in range(self.inner_steps):
            learner.adapt(nn.functional.cross_entropy(learner(X), target), first_order=first_order)
        return learner

    def _task_accuracy(self, meta: nn.Module, task: Task) -> float:
        adapted = self._adapt(meta, self._tensor(task.X_support), task.y_support)
        with torch.no_grad():
            predicted = adapted(self._tensor(task.X_query)).argmax(1).cpu().numpy()
        return float(np.mean(predicted == task.y_query))
