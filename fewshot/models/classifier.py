"""``FewShotClassifier``: texts in, labels out, in three lines; a scikit-learn estimator.

::

    from fewshot import FewShotClassifier

    classifier = FewShotClassifier("logreg", C=10).fit(texts, labels)
    classifier.predict(["I still have not received my card"])
    classifier.save("models/support")  # FewShotClassifier.load("models/support") gives it back

It wraps any registered learner (built-in or a plugin's) and the sentence encoder it needs,
with the embedding cache the command line uses, so refitting on the same texts costs no
encoding. As a scikit-learn estimator it clones, takes part in a ``Pipeline``, and is tuned by
``GridSearchCV`` over its learner's parameters by their own names (``C``) or nested
(``learner__C``). A saved classifier is a model directory (see :mod:`fewshot.models.saving`) with a
model card, laid out as the Hugging Face hub expects: ``save_pretrained`` / ``from_pretrained``
/ ``push_to_hub``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from fewshot.data.texts import text_list
from fewshot.encoding.encoders import DEFAULT_ENCODER
from fewshot.errors import ConfigError, DataError
from fewshot.learners.base import Learner, NotFittedError
from fewshot.learners.decisions import decide_labels
from fewshot.models.fit_inputs import known_classes, label_name_input, label_vector_input
from fewshot.models.persistence import SavedModelMixin
from fewshot.plugins.registry import shared_registry as _registry

#: The classifier's own parameters; the learner's come after them. ``encoder`` and ``device``
#: also reach learners that take them (``finetune`` tunes that encoder).
OWN_PARAMS = (
    "learner",
    "encoder",
    "device",
    "cache",
    "reject",
    "scorer",
    "reject_recall",
    "oos_label",
)


class FewShotClassifier(SavedModelMixin, ClassifierMixin, BaseEstimator):
    """A few-shot text classifier on raw texts.

    Parameters
    ----------
    learner : str or Learner, default "logreg"
        A learner name (see ``fewshot learners``: ``logreg``, ``protonet``, ``knn``,
        ``finetune``, a plugin's) or a learner instance.
    encoder : str, default "all-MiniLM-L6-v2"
        The sentence encoder: a registered name, a local sentence-transformers directory or a
        Hugging Face hub id (``ORG/NAME``, found in the local hub cache). ``finetune`` tunes it.
    device : str, default "cpu"
        ``cpu``, ``cuda`` or ``cuda:N``, for encoding and for learners that run a model.
    cache : bool or str, default True
        The embedding cache: True for the default one (``$FEWSHOT_CACHE_DIR`` or
        ``~/.cache/fewshot``, shared with the command line), a directory, or False for none.
    reject : None, "auto" or float, default None
        Out-of-scope rejection ("none of these", see :mod:`fewshot.learners.rejection`): a text whose
        in-scope score is below the threshold is predicted as ``oos_label``. ``"auto"`` sets
        the threshold from the training texts alone (stratified cross-validation, keeping
        ``reject_recall`` of held-out in-scope texts; it refits the learner once per fold); a
        number is the threshold itself.
    scorer : str, default "mahalanobis"
        The in-scope score: ``mahalanobis``, ``msp``, ``energy``, ``cosine``, ``knn`` or a
        plugin's.
    reject_recall : float, default 0.95
        The share of in-scope texts ``reject="auto"`` aims to keep.
    oos_label : str, default "oos"
        The label of rejected texts.
    **learner_params
        The learner's parameters (``C=10`` for ``logreg``, ``n_neighbors=3`` for ``knn``...),
        checked against its declared constraints when fitting.

    Attributes
    ----------
    classes_ : ndarray
        The labels, sorted; the columns of ``predict_proba``.
    learner_ : Learner
        The fitted learner.
    """

    own_params = OWN_PARAMS  # what load keeps for the classifier, not the learner

    def __init__(
        self,
        learner: str | Learner = "logreg",
        *,
        encoder: str = DEFAULT_ENCODER,
        device: str = "cpu",
        cache: bool | str = True,
        reject: str | float | None = None,
        scorer: str = "mahalanobis",
        reject_recall: float = 0.95,
        oos_label: str = "oos",
        **learner_params: Any,
    ):
        self.learner = learner
        self.encoder = encoder
        self.device = device
        self.cache = cache
        self.reject = reject
        self.scorer = scorer
        self.reject_recall = reject_recall
        self.oos_label = oos_label
        for name, value in learner_params.items():
            setattr(self, name, value)

    # -- parameters: the classifier's own, then its learner's -------------------------------

    def _learner_defaults(self) -> dict[str, Any]:
        """The learner's parameters (by name) and their defaults; none for a learner instance,
        whose parameters are nested (``learner__C``)."""
        if isinstance(self.learner, Learner):
            return {}
        cls = _registry().learner_class(self.learner)
        signature = inspect.signature(cls.__init__).parameters.values()
        return {
            p.name: p.default for p in signature if p.name != "self" and p.name not in OWN_PARAMS
        }

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = {name: getattr(self, name) for name in OWN_PARAMS}
        for name, default in self._learner_defaults().items():
            params[name] = getattr(self, name, default)
        if deep and isinstance(self.learner, Learner):
            params.update({f"learner__{k}": v for k, v in self.learner.get_params().items()})
        return params

    def set_params(self, **params: Any) -> FewShotClassifier:
        if "learner" in params:  # first: it decides which other names are valid
            self.learner = params.pop("learner")
        valid = self.get_params(deep=False)
        for key, value in params.items():
            name = key.removeprefix("learner__")
            if key != name and isinstance(self.learner, Learner):
                self.learner.set_params(**{name: value})
            elif name in valid:
                setattr(self, name, value)
            else:
                raise ValueError(
                    f"invalid parameter {key!r} for {type(self).__name__} with learner "
                    f"{self.learner!r}; valid parameters: {sorted(valid)}"
                )
        return self

    def _new_learner(self) -> Learner:
        """A fresh learner from the parameters, checked against its constraints."""
        if isinstance(self.learner, Learner):
            learner = clone(self.learner)
        else:
            params = {n: getattr(self, n) for n in self._learner_defaults() if hasattr(self, n)}
            learner = _registry().make_learner(self.learner, params)
        shared = {n: getattr(self, n) for n in ("encoder", "device")}
        accepted = learner.get_params(deep=False)
        learner.set_params(**{n: v for n, v in shared.items() if n in accepted})
        learner.validate_params()
        return learner

    # -- fitting and predicting -------------------------------------------------------------

    def fit(
        self,
        X: Sequence[str] | Any,
        y: Sequence[Any] | None = None,
        label_names: Mapping[str, str] | None = None,
        unlabeled: Sequence[str] | None = None,
        classes: Sequence[Any] | None = None,
    ) -> FewShotClassifier:
        """Fit on texts ``X`` and their labels ``y`` (strings, integers, ...), or their label
        *lists* for multi-label data (``[["billing", "refund"], ["billing"], ...]``: then
        ``predict`` gives each text a tuple of labels). ``label_names`` maps labels to readable
        names or short descriptions for learners that use them (``finetune``, ``zeroshot``); by
        default they derive them from the labels (``card_arrival`` → "card arrival").
        ``unlabeled``: unlabelled texts of the same domain, for learners that use them
        (``finetune`` with ``self_training``, ``zeroshot``). ``classes``: labels to learn
        beside those of ``y``; ``zeroshot`` learns them from their names, with ``X`` and ``y``
        empty. ``X`` may also be labelled data with ``y`` left out: a ``datasets.Dataset``
        (its text and label columns found from its features, ``ClassLabel`` names as the
        labels; see :mod:`fewshot.data.huggingface`) or a
        :class:`~fewshot.data.texts.LabeledTexts`. Returns self."""
        from fewshot.data.labels import is_label_sets

        if y is None:
            X, y = _texts_and_labels(X)
        texts = text_list(X)
        if len(texts) and is_label_sets(y):
            if unlabeled is not None:
                raise ConfigError("unlabeled texts are for single-label data")
            return self._fit_label_sets(texts, list(y), label_names)
        labels = np.asarray(list(y))
        if labels.ndim != 1 or len(labels) != len(texts):
            raise DataError(f"X has {len(texts)} texts but y has {len(labels)} labels")
        learner = self._new_learner()
        known = known_classes(learner, labels, classes, label_names)
        if not len(texts) and self.reject is not None:
            raise ConfigError("out-of-scope rejection (reject) calibrates on training texts")
        inputs = self._inputs(texts, learner)
        calibration_learner = self._new_learner() if self.reject == "auto" else None
        names = label_name_input(learner, label_names)
        names |= label_vector_input(learner, known, label_names, lambda t: self._inputs(t, learner))
        extra = {}
        if unlabeled is not None:
            if "unlabeled" not in learner.fit_inputs:
                raise ConfigError(
                    f"learner {learner.name!r} does not use unlabelled texts (finetune does, "
                    "with self_training=M; zeroshot does)"
                )
            extra["unlabeled"] = self._inputs(text_list(unlabeled), learner)
        learner.fit(inputs, labels, **names, **extra)
        self.learner_ = learner
        self.classes_ = np.asarray(learner.classes_)
        self.n_training_texts_ = len(texts)
        self.rejection_ = self._rejection(calibration_learner, inputs, labels, names | extra)
        self.multi_label_ = False
        return self

    def _fit_label_sets(
        self, texts: list[str], label_sets: list, label_names: Mapping[str, str] | None
    ) -> FewShotClassifier:
        if len(label_sets) != len(texts):
            raise DataError(f"X has {len(texts)} texts but y has {len(label_sets)} label lists")
        if self.reject is not None:
            raise ConfigError("out-of-scope rejection (reject) is for single-label models")
        learner = self._new_learner()
        if not learner.supports_multi_label:
            raise ConfigError(f"learner {learner.name!r} does not support multi-label data")
        learner.fit_label_sets(
            self._inputs(texts, learner), label_sets, **label_name_input(learner, label_names)
        )
        self.learner_, self.classes_ = learner, np.asarray(learner.classes_)
        self.n_training_texts_ = len(texts)
        self.rejection_, self.multi_label_ = None, True
        return self

    def _rejection(self, fresh: Learner | None, inputs, labels, fit_inputs: dict):
        """The fitted rejection rule of ``reject`` (None without one); the calibration folds
        are fitted as the model was, with the same ``fit_inputs`` (label names, unlabelled
        texts, a source domain: data beside the training texts, so every fold gets it whole)."""
        from fewshot.learners import rejection_calibration as calibrate
        from fewshot.learners.rejection import Rejection, make_scorer

        if self.reject is None:
            return None
        auto = self.reject == "auto"
        if not auto and not (
            isinstance(self.reject, (int, float)) and not isinstance(self.reject, bool)
        ):
            raise ConfigError(f"reject must be None, 'auto' or a number, got {self.reject!r}")
        if not 0 < self.reject_recall < 1:
            raise ConfigError(f"reject_recall must be in (0, 1), got {self.reject_recall!r}")
        scorer = make_scorer(self.scorer, _registry().scorers)
        measured = None
        if auto:
            if fresh is None or fresh.meta_trained:
                raise ConfigError(
                    "reject='auto' refits the learner on folds of the training texts, which "
                    f"{self.learner!r} (meta-trained on other classes) cannot do; give a "
                    "threshold"
                )

            def fit(fold, X, y):
                fold.fit(X, y, **fit_inputs)

            held_out = calibrate.held_out_scores(fresh, inputs, labels, [scorer], fit=fit)
            threshold = calibrate.recall_threshold(held_out[scorer.name], self.reject_recall)
            unseen = calibrate.unseen_class_scores(fresh, inputs, labels, scorer, fit=fit)
            measured = calibrate.measure(held_out[scorer.name], unseen, threshold)
        else:
            threshold = float(self.reject)
        scorer.fit(self.learner_, inputs, labels)
        return Rejection(
            scorer,
            threshold,
            oos_label=self.oos_label,
            recall=self.reject_recall if auto else None,
            calibration="cv-5" if auto else "given",
            measured=measured,
        )

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Class probabilities, one column per label of ``classes_``."""
        if not hasattr(self, "learner_"):
            raise NotFittedError("this FewShotClassifier is not fitted yet; call fit first")
        texts = text_list(X)
        if not texts:
            return np.zeros((0, len(self.classes_)))
        proba = np.asarray(self.learner_.predict_proba(self._inputs(texts, self.learner_)))
        if not np.isfinite(proba).all():
            raise DataError("the model gave non-finite probabilities; its weights are broken")
        return proba.astype(np.float64, copy=False)

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """The most probable label of each text (``oos_label`` where it is rejected); for a
        multi-label model, each text's tuple of labels."""
        return self.predict_with_scores(X)[0]

    def predict_with_scores(
        self, X: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Labels, class probabilities and, with rejection, the in-scope scores."""
        texts = text_list(X)
        proba = self.predict_proba(texts)
        multi_label = getattr(self, "multi_label_", False)
        labels, scores = decide_labels(
            proba,
            self.classes_,
            thresholds=self.learner_.thresholds_ if multi_label else None,
            rejection=getattr(self, "rejection_", None),
            scored=lambda: (self.learner_, self._inputs(texts, self.learner_)),
        )
        return labels, proba, scores

    @property
    def labels(self) -> list[str]:
        """The labels as strings, in the order of ``predict_proba``'s columns."""
        return [str(c) for c in self.classes_]

    def _inputs(self, texts: list[str], learner: Learner):
        if learner.input_kind == "texts":
            return np.asarray(texts, dtype=object)
        return self._cached_encoder().encode(texts)

    def _cached_encoder(self):
        key = (self.encoder, self.device, self.cache)
        if getattr(self, "_encoder_key", None) != key:
            from fewshot.encoding.cache import EmbeddingCache, default_cache_dir
            from fewshot.encoding.encoders import CachedEncoder

            base = getattr(self, "_loaded_encoder", None) or _registry().encoder(
                self.encoder, device=self.device
            )
            cache = None
            if self.cache is not False:
                cache = EmbeddingCache(default_cache_dir() if self.cache is True else self.cache)
            self._encoder_object = CachedEncoder(base, cache)
            self._encoder_key = key
        return self._encoder_object

    def __getstate__(self) -> dict[str, Any]:
        # The encoder holds a database connection and a model: rebuilt where unpickled.
        state = dict(self.__dict__)
        for name in ("_encoder_object", "_encoder_key", "_loaded_encoder"):
            state.pop(name, None)
        return state


def load(directory: str | Path, *, device: str | None = None, cache=True, backend: str = "auto"):
    """Load a model directory written by ``fewshot adapt`` or ``FewShotClassifier.save``:
    a fitted :class:`FewShotClassifier`, verified (``backend``: see
    :func:`fewshot.models.saving.load_fitted`). This is ``fewshot.load``.

    Parameters
    ----------
    directory : str or Path
        The model directory.
    device : str or None, default None
        Where the encoder and any model the learner runs go (``cpu``, ``cuda``, ``cuda:N``; a
        GPU means the torch backend). None: the CPU for the encoder, and the learner's saved
        device.
    cache : bool or str, default True
        The embedding cache: True for the default one, a directory, or False for none.
    backend : {"auto", "torch", "onnx", "onnx-fp32", "onnx-int8"}, default "auto"
        ``auto`` uses the model's ONNX bundle when it has one, torch otherwise.

    Returns
    -------
    FewShotClassifier
        Fitted, ready to predict or to fit again.
    """
    return FewShotClassifier.load(directory, device=device, cache=cache, backend=backend)


def _texts_and_labels(data: Any) -> tuple[list[str], list]:
    """The texts and labels of labelled data given as ``fit``'s ``X`` alone."""
    from fewshot.data.huggingface import from_hf_dataset, is_hf_dataset
    from fewshot.data.texts import LabeledTexts

    if is_hf_dataset(data):
        data = from_hf_dataset(data)
    if not isinstance(data, LabeledTexts):
        raise ConfigError(
            "fit needs y, the labels of X, unless X is a datasets.Dataset or LabeledTexts"
        )
    if data.is_multi_label:
        return list(data.texts), [list(labels) for labels in data.label_sets]
    return list(data.texts), list(data.labels)
