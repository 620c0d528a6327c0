"""Fine-tuning the sentence encoder itself on the support set, then a classification head.

``recipe="contrastive"`` (default; SetFit's idea with in-batch negatives): a few epochs of
contrastive training on pairs of same-class texts. ``recipe="end-to-end"``: the encoder trained with
cross-entropy through a cosine classifier initialised at the class prototypes. Either way a
logistic-regression head is then fitted on the tuned embeddings. Defaults (3 epochs, learning rate
5e-5, batch 32) were chosen on banking77's `valid` split, full-way 5-shot, never on test data:
there, frozen logreg scored 0.795, contrastive 0.815-0.819 for 1-4 epochs, end-to-end 0.799.

Label names (``label_names``, on by default): intent ids say what their class is about
(``card_arrival``), so each contrastive step also pulls every text towards its own label's
readable name and away from the other labels' names (FastFit's text-to-label term, weight
``name_weight``). Names come from the data where it carries them (``label_names=`` in ``fit``),
else from the ids (``fewshot.data.label_names``); opaque ids (``"17"``, ``LABEL_3``) turn the term off.
On the `valid` splits it added 2.0 points on banking77 (0.819 → 0.839) and 1.5 on clinc150
(0.903 → 0.918); see ``benchmarks/finetune_ablation.py`` for what else was tried.

Self-training (``self_training`` = M > 0, with ``unlabeled=`` texts of the same domain in
``fit``): the tuned model labels the unlabelled texts, M per class, drawn from the more
confident half of those it assigns to the class, join the support with those labels, and
training goes on from the tuned encoder for one epoch over both, then the head is fitted again.
Chosen on the `valid` splits (5-shot, M = 15; docs/explanation/results.md has the table):
one epoch from the tuned encoder beat three from the pristine one (banking77 0.855 vs 0.851,
clinc150 0.931 vs 0.929, with the M most confident texts of 4,000), and drawing from the
confident half beat taking the most confident when the pool is large.

Early stopping (``validation_fraction`` > 0) holds out that share of each class's support texts,
scores nearest-prototype accuracy on them after every epoch, and keeps the best epoch.

Multi-label (``fit_label_sets``): contrastive pairs that respect label sets (a partner shares a
label; texts that share one are never negatives), then a one-vs-rest head. The label-name term
applies too, each text's target spread evenly over its labels' names: on GoEmotions' `valid`
split (K = 8, 6 epochs, 3 seeds) macro-F1 rose from 0.232 to 0.272.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

from fewshot import hookimpl
from fewshot.data.label_names import label_names as readable_names
from fewshot.data.labels import is_label_sets
from fewshot.learners.base import Learner, check_query, check_support
from fewshot.learners.heads import LinearHead
from fewshot.learners.maths import (
    l2_normalize,
    softmax,
    softmax_weights,
)
from fewshot.learners.multi_label import THRESHOLD_FOLDS, one_vs_rest
from fewshot.learners.training import (
    TrainingBudget,
    TunedEncoderMixin,
)
from fewshot.util.params import Boolean, Device, Integer, OneOf, OrNone, Real, Text
from fewshot.util.seeding import generator
from fewshot_plugins.finetune.training import tune

RECIPES = ("contrastive", "end-to-end")


class FineTuneLearner(TunedEncoderMixin, Learner):
    """Fine-tunes the encoder on the support texts (contrastive or end-to-end), then a head.

    Parameters
    ----------
    recipe : {"contrastive", "end-to-end"}
        How the encoder is trained: same-class pairs with in-batch negatives, or cross-entropy
        through a cosine classifier. Either way a logistic-regression head follows.
    encoder : str
        A registered encoder name, a local sentence-transformers directory or a hub id in the
        local cache; the model that is tuned.
    epochs : int
        Passes over the support texts (3).
    max_steps, time_budget : int or None, float or None
        Stop after this many optimiser steps / seconds of training, both rounds of
        self-training included (None: no limit).
    learning_rate : float
        AdamW's learning rate (5e-5).
    layer_decay : float in (0, 1]
        Below 1, each transformer layer learns at this times the rate of the one above it.
    batch_size : int
        Texts per step; a contrastive batch holds at most one anchor per class (32).
    freeze_layers : int
        Bottom transformer layers kept fixed (0).
    head_C : float
        Inverse regularisation of the logistic head (10).
    class_weight : {"balanced"} or None
        Weight the head's classes inverse to their frequency, for imbalanced labels.
    validation_fraction, patience : float in [0, 1), int
        Early stopping: hold out this share of each class's texts, score nearest-prototype
        accuracy on them after every epoch, stop after ``patience`` epochs without a gain and
        keep the best (0: off).
    label_names : bool
        Pull each text towards its label's readable name and away from the other names (True;
        left out where the ids are opaque).
    name_weight, head_weight : float
        Weights of the name term (1) and of a joint cross-entropy term through a cosine
        classifier (0: off).
    scale : float
        Similarity scale (inverse temperature) of the contrastive and name terms (20).
    dropout_views : bool
        Encode each text twice and treat the two dropout views as one more positive pair.
    schedule : {"constant", "linear"}
        The learning rate: constant, or warm-up then linear decay.
    self_training : int
        M > 0: after training, label the ``unlabeled=`` texts given to ``fit``, add M per class
        drawn from the more confident half, and train one more epoch over both (0: off).
    device : str
        ``cpu``, or ``cuda`` / ``cuda:N`` where torch sees a GPU.
    random_state : int or None
        One seed, one model, bit for bit (None: seed 0).
    """

    name = "finetune"
    supports_multi_label = True
    uses_label_names = True
    input_kind = "texts"
    owns_encoder = True
    parameter_constraints = {
        "recipe": OneOf(*RECIPES),
        "encoder": Text(),
        "epochs": Integer(min=0),
        "max_steps": OrNone(Integer(min=0)),
        "learning_rate": Real(min=0),
        "layer_decay": Real(min=0, max=1, min_open=True),
        "batch_size": Integer(min=2),
        "freeze_layers": Integer(min=0),
        "head_C": Real(min=0, min_open=True),
        "class_weight": OrNone(OneOf("balanced")),
        "time_budget": OrNone(Real(min=0)),
        "validation_fraction": Real(min=0, max=1, max_open=True),
        "patience": Integer(min=0),
        "label_names": Boolean(),
        "name_weight": Real(min=0),
        "head_weight": Real(min=0),
        "scale": Real(min=0, min_open=True),
        "dropout_views": Boolean(),
        "schedule": OneOf("constant", "linear"),
        "self_training": Integer(min=0),
        "device": Device(),
        "random_state": OrNone(Integer(min=0)),
    }

    def __init__(
        self,
        recipe: str = "contrastive",
        encoder: str = "all-MiniLM-L6-v2",
        epochs: int = 3,
        max_steps: int | None = None,
        learning_rate: float = 5e-5,
        layer_decay: float = 1.0,
        batch_size: int = 32,
        freeze_layers: int = 0,
        head_C: float = 10.0,
        class_weight: str | None = None,
        time_budget: float | None = None,
        validation_fraction: float = 0.0,
        patience: int = 1,
        label_names: bool = True,
        name_weight: float = 1.0,
        head_weight: float = 0.0,
        scale: float = 20.0,
        dropout_views: bool = False,
        schedule: str = "constant",
        self_training: int = 0,
        device: str = "cpu",
        random_state: int | None = 0,
    ):
        self.recipe = recipe
        self.encoder = encoder
        self.epochs = epochs
        self.max_steps = max_steps
        self.learning_rate = learning_rate
        self.layer_decay = layer_decay
        self.batch_size = batch_size
        self.freeze_layers = freeze_layers
        self.head_C = head_C
        self.class_weight = class_weight
        self.time_budget = time_budget
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.label_names = label_names
        self.name_weight = name_weight
        self.head_weight = head_weight
        self.scale = scale
        self.dropout_views = dropout_views
        self.schedule = schedule
        self.self_training = self_training
        self.device = device
        self.random_state = random_state

    @property
    def fit_inputs(self) -> frozenset[str]:
        """Unlabelled texts of the same domain (``unlabeled=``), when self-training is on."""
        return frozenset({"unlabeled"}) if self.self_training else frozenset()

    def fit(self, X, y, label_names=None, unlabeled=None) -> FineTuneLearner:
        if is_label_sets(y):
            return self.fit_label_sets(X, y, label_names=label_names, unlabeled=unlabeled)
        X, y = check_support(self, X, y)
        if self.self_training and unlabeled is None:
            raise ValueError(
                "self_training needs unlabelled texts of the domain: fit(X, y, unlabeled=...), "
                "fewshot adapt --unlabeled FILE, fewshot bench --unlabeled-data DATA"
            )
        texts = [str(t) for t in X]
        self.classes_, codes = np.unique(y, return_inverse=True)
        names = readable_names(self.classes_, label_names) if self.label_names else None
        self.names_used_ = names is not None
        budget = TrainingBudget(self.max_steps, self.time_budget)  # for both rounds
        self._tune(texts, codes, names=names, budget=budget)
        self._fit_head(texts, codes)
        chosen, chosen_codes = [], np.zeros(0, dtype=np.int64)
        if self.self_training:
            chosen, chosen_codes = self._pseudo_labels(texts, unlabeled)
        self.pseudo_texts_, self.pseudo_labels_ = chosen, self.classes_[chosen_codes]
        if chosen:
            # One more epoch over support and pseudo-labels, from the tuned encoder: on the
            # valid splits it beat three epochs from the pristine one (see the module's
            # docstring), with a third of the steps.
            texts, codes = texts + chosen, np.concatenate([codes, chosen_codes])
            self._tune(texts, codes, names=names, start=self.model_, epochs=1, budget=budget)
            self._fit_head(texts, codes)
        return self

    def _fit_head(self, texts: list[str], codes: np.ndarray) -> None:
        # Both recipes end with a logistic-regression head on the tuned embeddings: on banking77's
        # valid split (end-to-end, 5 epochs) it beat the cosine head trained with the encoder,
        # 0.799 vs 0.786.
        embeddings = self._embed(texts)
        probe = LogisticRegression(
            C=self.head_C, max_iter=1000, class_weight=self.class_weight
        ).fit(embeddings, codes)
        self.weights_, self.bias_ = softmax_weights(probe.coef_, probe.intercept_)
        self.n_features_in_ = embeddings.shape[1]

    def _pseudo_labels(self, support: list[str], unlabeled) -> tuple[list[str], np.ndarray]:
        """Self-training's new examples: for each class, ``self_training`` texts drawn at random
        (seeded) from the more confident half of the unlabelled texts the model assigns to it
        (repeats and support texts left out), with that class's code. Not simply the most
        confident: from a large pool those are nearly all right yet add little (with all of
        clinc150's `train` as the pool they scored 0.916 on `valid`, this rule 0.923)."""
        seen = set(support)
        pool = [t for t in dict.fromkeys(map(str, check_query(self, unlabeled))) if t not in seen]
        if not pool:
            return [], np.zeros(0, dtype=np.int64)
        proba = self.predict_proba(np.asarray(pool, dtype=object))
        predicted, confidence = proba.argmax(axis=1), proba.max(axis=1)
        rng = generator(self.random_state)
        chosen = []
        for c in range(len(self.classes_)):
            members = np.flatnonzero(predicted == c)
            ranked = members[np.argsort(-confidence[members], kind="stable")]
            confident = ranked[: max(self.self_training, (len(ranked) + 1) // 2)]
            size = min(self.self_training, len(confident))
            chosen.extend(rng.choice(confident, size=size, replace=False).tolist())
        return [pool[i] for i in chosen], predicted[np.asarray(chosen, dtype=np.int64)]

    def _fit_label_sets(self, X, Y, label_names=None, unlabeled=None) -> None:
        """Multi-label: the contrastive recipe with pairs that respect label sets (see
        ``contrastive_label_sets_epoch``), then a one-vs-rest head on the tuned embeddings."""
        if self.recipe != "contrastive" or self.validation_fraction or self.self_training:
            raise ValueError(
                "multi-label fine-tuning takes recipe='contrastive', no validation_fraction and "
                "no self_training"
            )
        texts = [str(t) for t in X]
        names = readable_names(self.classes_, label_names) if self.label_names else None
        self.names_used_ = names is not None
        self._tune(texts, None, Y, names=names)
        embeddings = self._embed(texts)
        self.weights_, self.bias_ = one_vs_rest(
            embeddings, Y, C=self.head_C, class_weight=self.class_weight
        )
        self.n_features_in_ = embeddings.shape[1]

    def _held_out_label_scores(self, X, Y, label_names=None, unlabeled=None) -> np.ndarray:
        """Held-out scores of the head alone, on the tuned embeddings: refitting the encoder
        per fold would cost five fine-tunings. The encoder has seen every support text, so
        these scores are somewhat optimistic; the thresholds come out a little high."""
        embeddings = self._embed([str(t) for t in X])
        scores = np.zeros(Y.shape)
        for train, test in KFold(THRESHOLD_FOLDS, shuffle=True, random_state=0).split(Y):
            weights, bias = one_vs_rest(
                embeddings[train], Y[train], C=self.head_C, class_weight=self.class_weight
            )
            scores[test] = expit(embeddings[test] @ weights.T + bias)
        return scores

    def _tune(self, texts, codes, Y=None, names=None, *, start=None, epochs=None, budget=None):
        """Fine-tune the encoder (``self.model_``): see :func:`.training.tune`."""
        tune(self, texts, codes, Y, names, start=start, epochs=epochs, budget=budget)

    def _embed(self, texts) -> np.ndarray:
        vectors = self.model_.encode(
            list(texts), batch_size=64, convert_to_numpy=True, show_progress_bar=False
        )
        return l2_normalize(np.asarray(vectors, dtype=np.float32))

    def embed(self, X) -> np.ndarray:
        """The tuned encoder's (normalised) embeddings of the texts."""
        self._check_fitted("model_")
        return self._embed(check_query(self, X))

    def decision_function(self, X) -> np.ndarray:
        """The head's logits."""
        self._check_fitted("model_", "weights_")
        return self.embed(X) @ self.weights_.T + self.bias_

    def predict_proba(self, X) -> np.ndarray:
        if getattr(self, "multi_label_", False):
            return expit(self.decision_function(X).astype(np.float64))
        return softmax(self.decision_function(X))

    def linear_head(self) -> LinearHead:
        """The head over the tuned encoder's embeddings (which ``_embed`` normalises)."""
        self._check_fitted("model_", "weights_")
        activation = "sigmoid" if getattr(self, "multi_label_", False) else "softmax"
        return LinearHead(self.weights_, self.bias_, activation, normalize=True)

    def get_state(self) -> dict[str, np.ndarray]:
        self._check_fitted("model_", "weights_")
        state = {"head_weights": self.weights_, "head_bias": self.bias_}
        if getattr(self, "multi_label_", False):
            state["thresholds"] = self.thresholds_
        return state

    def set_state(self, classes, state) -> FineTuneLearner:
        self.classes_ = np.asarray(classes, dtype=object)
        if "thresholds" in state:
            self.multi_label_, self.thresholds_ = True, np.asarray(state["thresholds"])
        self.weights_ = np.asarray(state["head_weights"], dtype=np.float32)
        self.bias_ = np.asarray(state["head_bias"], dtype=np.float32)
        self.n_features_in_ = self.weights_.shape[1]
        return self


@hookimpl
def fewshot_learners():
    return [FineTuneLearner]
