"""The base of the domain-alignment learners: labelled source, K target labels, unlabelled target.

``fit(X, y, source=(X_source, y_source), unlabeled=X_unlabeled)``: ``X, y`` are the K labelled
target examples per class (K may be 0: then ``X`` is empty and the target's classes are the
source's). A subclass supplies only the alignment penalty (see :mod:`fewshot_plugins.alignment.training`).

The recipe, on frozen embeddings:

1. each domain is centred on its own mean (the closed-form minimiser of MMD with a linear
   kernel) and scaled to unit variance per dimension;
2. the classifier is logistic regression (C=1) on the centred source and the K target labels,
   and stays fixed;
3. a residual adapter, starting at zero, learns to carry the target onto the source: the
   penalty between source and adapted target representations and, for ``kl``, entropy terms
   on the unlabelled target, and a transport cost (the adapter's mean squared displacement of
   the target) that keeps it from moving the target further than the alignment is worth. The
   K target labels shape the classifier; ``target_weight`` (default 0) lets their
   cross-entropy train the adapter too.

``adapt_source=True`` passes the source through the adapter too and adds its cross-entropy
(DAN's shared network); ``finetune_encoder=True`` takes texts, trains the sentence encoder with
the same loss, and implies a shared network.

Model selection never sees target labels beyond the K given: the steps, learning rate and
penalty weight are fixed defaults; when the source representation trains, held-out source rows
(``validation_fraction``) choose the checkpoint.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fewshot.learners.base import Learner, check_query, check_support
from fewshot.learners.maths import softmax, stratified_hold_out
from fewshot.learners.training import TunedEncoderMixin, adamw
from fewshot.util.params import Boolean, Device, Integer, OrNone, Real, Text
from fewshot.util.seeding import generator, torch_seeded


class AlignedLearner(TunedEncoderMixin, Learner):
    """Projection + classifier trained on source and target with an alignment penalty.

    Parameters
    ----------
    weight : float, default 1.0
        The weight of the alignment penalty (MMD or KL), ramped up during training.
    hidden : int, default 256
        Width of the adapter's hidden layer.
    steps : int, default 400
        Training steps of the adapter.
    batch_size : int, default 64
        Source and target rows per step.
    learning_rate : float, default 3e-4
        AdamW's learning rate for the adapter (on unit-variance inputs).
    weight_decay : float, default 1e-4
        AdamW's weight decay.
    target_weight : float, default 0.0
        The weight of the K target labels' cross-entropy in training the adapter.
    entropy_weight : float or None, default None
        The weight of the information-maximisation loss on the unlabelled target; None: the
        learner's default (0 for both ``mmd`` and ``kl``).
    transport_weight : float or None, default None
        The weight of the transport cost (the adapter's mean squared displacement of the
        target); None: the learner's default (3 for ``mmd``, 0 for ``kl``).
    validation_fraction : float, default 0.1
        Source rows held out to choose the checkpoint when the source representation trains.
    adapt_source : bool, default False
        Pass the source through the adapter too, with its cross-entropy (DAN's shared network).
    finetune_encoder : bool, default False
        Take texts and train the sentence encoder itself with the same loss.
    encoder : str, default "all-MiniLM-L6-v2"
        The encoder ``finetune_encoder`` trains.
    encoder_learning_rate : float, default 2e-5
        The encoder's learning rate with ``finetune_encoder``.
    max_seq_length : int, default 128
        Tokens per text with ``finetune_encoder``.
    device : str, default "cpu"
        Where training runs (``cpu``, ``cuda``, ``cuda:N``).
    random_state : int or None, default 0
        The seed of training: one seed, one model.
    """

    fit_inputs = frozenset({"source", "unlabeled"})
    #: ``entropy_weight=None`` means this: the weight of the information-maximisation loss
    #: on the unlabelled target (confident yet class-balanced predictions; see
    #: :func:`fewshot_plugins.alignment.training.information_maximisation`).
    default_entropy_weight: float = 0.0
    #: ``transport_weight=None`` means this: the weight of the transport cost, the mean squared
    #: displacement of target inputs by the adapter (per dimension, on unit-variance inputs).
    #: With it the adapter solves a relaxed Monge problem (match the source distribution with
    #: the least movement, as in optimal-transport adaptation: Courty et al. 2017) instead of
    #: matching at any cost, which on frozen features can carry one class onto the other.
    default_transport_weight: float = 0.0
    parameter_constraints = {
        "weight": Real(min=0),
        "hidden": Integer(min=1),
        "steps": Integer(min=1),
        "batch_size": Integer(min=2),
        "learning_rate": Real(min=0),
        "weight_decay": Real(min=0),
        "target_weight": Real(min=0),
        "entropy_weight": OrNone(Real(min=0)),
        "transport_weight": OrNone(Real(min=0)),
        "validation_fraction": Real(min=0, max=1, max_open=True),
        "adapt_source": Boolean(),
        "finetune_encoder": Boolean(),
        "encoder": Text(),
        "encoder_learning_rate": Real(min=0),
        "max_seq_length": Integer(min=1),
        "device": Device(),
        "random_state": OrNone(Integer(min=0)),
    }

    def __init__(
        self,
        weight: float = 1.0,
        hidden: int = 256,
        steps: int = 400,
        batch_size: int = 64,
        learning_rate: float = 3e-4,
        weight_decay: float = 1e-4,
        target_weight: float = 0.0,
        entropy_weight: float | None = None,
        transport_weight: float | None = None,
        validation_fraction: float = 0.1,
        adapt_source: bool = False,
        finetune_encoder: bool = False,
        encoder: str = "all-MiniLM-L6-v2",
        encoder_learning_rate: float = 2e-5,
        max_seq_length: int = 128,
        device: str = "cpu",
        random_state: int | None = 0,
    ):
        self.weight = weight
        self.hidden = hidden
        self.steps = steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.target_weight = target_weight
        self.entropy_weight = entropy_weight
        self.transport_weight = transport_weight
        self.validation_fraction = validation_fraction
        self.adapt_source = adapt_source
        self.finetune_encoder = finetune_encoder
        self.encoder = encoder
        self.encoder_learning_rate = encoder_learning_rate
        self.max_seq_length = max_seq_length
        self.device = device
        self.random_state = random_state

    # input_kind and owns_encoder follow the finetune_encoder parameter.
    @property
    def input_kind(self) -> str:  # type: ignore[override]
        return "texts" if self.finetune_encoder else "embeddings"

    @property
    def owns_encoder(self) -> bool:  # type: ignore[override]
        return bool(self.finetune_encoder)

    def penalty(self, z_source, y_source, z_target, logits_target):
        """The alignment penalty between a source and a target batch of representations."""
        raise NotImplementedError

    def fit(self, X: Any, y: Any, *, source: Any = None, unlabeled: Any = None) -> AlignedLearner:
        import torch

        from fewshot_plugins.alignment.training import (
            AlignmentData,
            AlignmentNetwork,
            train_aligned,
        )

        self.validate_params()
        if source is None:
            raise ValueError(f"{self.name} needs labelled source data: fit(X, y, source=(X, y))")
        X_source, y_source = check_support(self, *source)
        y = np.asarray(y)
        if len(y):
            X, y = check_support(self, X, y)
        else:  # K = 0: no target labels
            X = X_source[:0]
        U = check_query(self, unlabeled) if unlabeled is not None else X[:0]
        if len(X) + len(U) < 2:
            raise ValueError(
                f"{self.name} needs target texts to align with: give unlabelled target data, "
                "target labels, or both"
            )
        self.classes_ = np.unique(y) if len(y) else np.unique(y_source)
        labels = np.union1d(np.unique(y_source), self.classes_)
        source_codes = np.searchsorted(labels, y_source)
        rng = generator(self.random_state)
        # Held-out source rows choose the checkpoint when the encoder trains (and with it the
        # source representation); a frozen source side has nothing to select.
        shared = self.finetune_encoder or self.adapt_source
        train, held_out = stratified_hold_out(
            source_codes, self.validation_fraction if shared else 0.0, rng
        )
        support_codes = np.searchsorted(labels, y)
        self.columns_ = np.searchsorted(labels, self.classes_)

        if self.finetune_encoder:
            from fewshot.encoding.model_loading import load_sentence_transformer
            from fewshot.plugins.registry import resolve_model_path

            self.model_ = load_sentence_transformer(resolve_model_path(self.encoder), self.device)
            self.model_.max_seq_length = self.max_seq_length
            self.model_.eval()
            vectors = [self._encode(part) for part in (X_source, X, U)]
        else:
            vectors = [X_source, X, U]
        # Each domain centred on its own mean: the closed-form answer to aligning the first
        # moments (MMD with a linear kernel); the network then aligns what is left. The
        # classifier is logistic regression on the centred source (and target labels), fixed.
        source_mean = vectors[0].mean(axis=0)
        self.target_mean_ = np.concatenate(vectors[1:]).mean(axis=0).astype(np.float32)
        centred_source = vectors[0] - source_mean
        # The network sees inputs scaled to unit variance per dimension on average: sentence
        # embeddings are unit vectors (about 0.05 per dimension), at which even one optimiser
        # step of the adapter would be a large change.
        self.scale_ = np.float32(1.0 / max(float(np.sqrt((centred_source**2).mean())), 1e-8))
        # The baselines' logistic regression (C=1) on the centred inputs, rescaled to take
        # scaled ones. (Its inputs go through the scaling and back so that results stay
        # bit-identical with the published table.)
        scaled_source = centred_source * self.scale_
        scaled_support = (vectors[1] - self.target_mean_) * self.scale_
        weights, bias = _pooled_logistic(
            scaled_source[train] / self.scale_,
            source_codes[train],
            scaled_support / self.scale_,
            support_codes,
        )
        weights = weights / self.scale_
        with torch_seeded(self.random_state):  # initialisation and dropout
            network = AlignmentNetwork(
                centred_source.shape[1], self.hidden, len(labels), adapt_source=shared
            )
            network = network.to(self.device)
            with torch.no_grad():
                network.classify.weight.copy_(torch.as_tensor(weights))
                network.classify.bias.copy_(torch.as_tensor(bias))
            network.classify.requires_grad_(False)
            parts = {
                "source": (X_source[train], source_mean),
                "support": (X, self.target_mean_),
                "target": (np.concatenate([X, U]), self.target_mean_),
                "validation": (X_source[held_out], source_mean),
            }
            features = self._features(parts)
            trainable = [p for p in network.parameters() if p.requires_grad]
            groups = [{"params": trainable, "lr": self.learning_rate}]
            if self.finetune_encoder:
                self.model_.train()
                groups.append(
                    {"params": self.model_.parameters(), "lr": self.encoder_learning_rate}
                )
            optimizer = adamw(groups, weight_decay=self.weight_decay)
            data = AlignmentData(
                features,
                source_codes[train],
                support_codes,
                len(X) + len(U),
                validation_codes=source_codes[held_out] if len(held_out) else None,
            )
            self.steps_ = train_aligned(
                network,
                data,
                self.penalty,
                weight=self.weight,
                steps=self.steps,
                batch_size=self.batch_size,
                optimizer=optimizer,
                rng=rng,
                target_weight=self.target_weight,
                entropy_weight=self._weight_or_default("entropy_weight"),
                transport_weight=self._weight_or_default("transport_weight"),
            )
        network.eval()
        if self.finetune_encoder:
            self.model_.eval()
        self.network_ = network.cpu()
        self.n_features_in_ = None if self.finetune_encoder else centred_source.shape[1]
        return self

    def _weight_or_default(self, name: str) -> float:
        """The ``name`` parameter, or the learner's ``default_<name>`` where it is None."""
        value = getattr(self, name)
        return getattr(self, f"default_{name}") if value is None else value

    def _features(self, parts: dict[str, tuple[np.ndarray, np.ndarray]]):
        """``features(part, indices)`` for the training loop: centred embeddings, computed with
        gradients by the encoder being trained, or looked up in the frozen ones."""
        import torch

        if not self.finetune_encoder:
            tensors = {
                name: torch.as_tensor(
                    np.asarray((X - mean) * self.scale_, np.float32), device=self.device
                )
                for name, (X, mean) in parts.items()
            }
            return lambda part, idx: tensors[part][torch.as_tensor(idx)]

        from fewshot.learners.training import embed

        means = {
            name: torch.as_tensor(mean, device=self.device) for name, (_, mean) in parts.items()
        }

        def features(part: str, idx: np.ndarray):
            texts = [str(t) for t in parts[part][0][idx]]
            return (embed(self.model_, texts) - means[part]) * float(self.scale_)

        return features

    def _encode(self, texts: np.ndarray) -> np.ndarray:
        """Embeddings of ``texts`` by the (possibly fine-tuned) encoder, without gradients."""
        # sentence-transformers 6 renamed get_sentence_embedding_dimension.
        dimension = getattr(self.model_, "get_embedding_dimension", None)
        dimensions = (dimension or self.model_.get_sentence_embedding_dimension)()
        if len(texts) == 0:
            return np.zeros((0, dimensions), dtype=np.float32)
        vectors = self.model_.encode(
            [str(t) for t in texts], batch_size=64, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def predict_proba(self, X: Any) -> np.ndarray:
        import torch

        self._check_fitted("network_")
        X = check_query(self, X)
        if self.finetune_encoder:
            self._check_fitted("model_")
            X = self._encode(X)
        with torch.no_grad():
            inputs = np.asarray((X - self.target_mean_) * self.scale_, np.float32)
            _, logits = self.network_(torch.as_tensor(inputs))
        return softmax(logits.cpu().numpy().astype(np.float64)[:, self.columns_])

    # -- saving --------------------------------------------------------------------------------

    def get_state(self) -> dict[str, np.ndarray]:
        self._check_fitted("network_")
        state = {k: v.detach().cpu().numpy() for k, v in self.network_.state_dict().items()}
        state["columns"] = self.columns_.astype(np.int64)
        state["target_mean"] = self.target_mean_
        state["scale"] = np.asarray([self.scale_], dtype=np.float32)
        return state

    def set_state(self, classes, state) -> AlignedLearner:
        import torch

        from fewshot_plugins.alignment.training import AlignmentNetwork

        extra = ("columns", "target_mean", "scale")
        weights = {k: torch.as_tensor(v) for k, v in state.items() if k not in extra}
        hidden, dimensions = weights["adapter.0.weight"].shape
        n_labels = weights["classify.weight"].shape[0]
        network = AlignmentNetwork(
            dimensions, hidden, n_labels, adapt_source=self.finetune_encoder or self.adapt_source
        )
        network.load_state_dict(weights)
        network.eval()
        self.network_ = network
        self.classes_ = np.asarray(classes, dtype=object)
        self.columns_ = np.asarray(state["columns"], dtype=np.int64)
        self.target_mean_ = np.asarray(state["target_mean"], dtype=np.float32)
        self.scale_ = np.float32(np.asarray(state["scale"]).reshape(-1)[0])
        if not self.finetune_encoder:
            self.n_features_in_ = dimensions
        return self


def _pooled_logistic(X_source, source_codes, X_support, support_codes):
    """Softmax weights of logistic regression (C=1) on the source and target labels pooled."""
    from sklearn.linear_model import LogisticRegression

    from fewshot.learners.maths import softmax_weights

    X = np.concatenate([X_source, X_support]) if len(X_support) else X_source
    codes = np.concatenate([source_codes, support_codes])
    model = LogisticRegression(C=1.0, max_iter=1000).fit(X, codes)
    return softmax_weights(model.coef_, model.intercept_)
