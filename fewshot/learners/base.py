"""The learner interface every method implements, in scikit-learn's estimator style.

A learner is configured only by its constructor arguments (stored as given), learns in ``fit``
(which validates and returns ``self``), and answers ``predict`` / ``predict_proba``. The
evaluator builds a fresh learner from those arguments for every episode, so no state can leak
from one episode into the next.

What a learner consumes is declared by ``input_kind``:

- ``"embeddings"``: ``X`` is a float32 array (n, d) of frozen encoder outputs;
- ``"texts"``: ``X`` is an array of strings, for learners that run or fine-tune an encoder
  themselves.

Extra information some methods use arrives as keyword arguments of ``fit``, and only when the
setting has it: ``unlabeled=`` (unlabelled inputs of the target domain), ``source=`` (a
``(X, y)`` pair of labelled data from another domain) and ``label_vectors=`` (a mapping from each
class to the embedding of its name or description, by the same encoder as ``X``). A learner lists
the ones it uses in ``fit_inputs``; the evaluator passes nothing else.

A *meta-trained* learner (``meta_trained`` true) first learns from episodes of other classes:
the evaluator calls ``meta_fit(tasks)`` once per setting with episodes of the base classes (see
``fewshot.tasks.meta_training``), then, for each evaluation episode, ``fit`` on a copy of it. ``meta_fit``
stores what it learns in attributes that ``fit`` starts from and does not overwrite.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from fewshot.errors import ConfigError
from fewshot.util.params import Constraint, validate_params

if TYPE_CHECKING:
    from fewshot.learners.heads import LinearHead
    from fewshot.tasks.meta_training import MetaTrainingData

__all__ = ["Learner", "LearnerSpec", "NotFittedError", "check_query", "check_support"]


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@dataclass(frozen=True)
class LearnerSpec:
    """A learner by name, its constructor parameters, and the label it is reported under.

    Parameters
    ----------
    name : str
        The learner's registered name (``logreg``, a plugin's).
    params : mapping, default {}
        Its constructor parameters.
    label : str, default ""
        The name it is reported under (default: the name and parameters, ``knn:n_neighbors=1``).
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    @classmethod
    def parse(cls, entry: Any, where: str = "--learner") -> LearnerSpec:
        """A learner as the command line (``NAME`` or ``NAME:param=value,param=value``, values
        read as JSON where they parse) or a suite file (that text, or a table ``{name = ...,
        label = ..., <param> = ...}``) gives it; ``where`` starts the error message."""
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            params = {k: v for k, v in entry.items() if k not in ("name", "label")}
            return cls(entry["name"], params, str(entry.get("label", "")))
        if not isinstance(entry, str):
            raise ConfigError(
                f"{where}: a learner is a name or a table with a 'name' key, got {entry!r}"
            )
        name, _, rest = entry.partition(":")
        params = {}
        for item in filter(None, rest.split(",")):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"{where} {entry!r}: expected NAME:param=value,param=value")
            params[key.strip()] = _json_or_text(value.strip())
        return cls(name.strip(), params)

    @property
    def display(self) -> str:
        if self.label:
            return self.label
        if not self.params:
            return self.name
        return self.name + "(" + ",".join(f"{k}={v}" for k, v in sorted(self.params.items())) + ")"


class Learner(ClassifierMixin, BaseEstimator):
    """Base class of fewshot learners. Subclasses set ``name`` and implement ``fit`` and
    ``predict_proba``; ``predict`` takes the most probable class unless overridden."""

    name: ClassVar[str] = ""
    input_kind: ClassVar[Literal["embeddings", "texts"]] = "embeddings"
    fit_inputs: ClassVar[frozenset[str]] = frozenset()
    #: True for learners that fine-tune their own sentence-transformers encoder; a saved model
    #: then carries that encoder in ``encoder/`` (see ``save_encoder``).
    owns_encoder: ClassVar[bool] = False
    #: True for learners the evaluator meta-trains (``meta_fit``) before the episodes; a
    #: property where a parameter decides (protonet meta-trains when ``meta_steps > 0``).
    meta_trained: ClassVar[bool] = False
    #: What each constructor parameter may be (see :mod:`fewshot.util.params`); checked by
    #: ``validate_params`` before any work and at the start of every ``fit``.
    parameter_constraints: ClassVar[dict[str, Constraint]] = {}
    #: True for learners that also fit label *sets* (multi-label, see :mod:`fewshot.learners.multi_label`):
    #: they implement ``_fit_label_sets(X, Y)`` on a 0/1 matrix and, once fitted so
    #: (``multi_label_`` true), ``predict_proba`` returns one score in [0, 1] per label.
    supports_multi_label: ClassVar[bool] = False
    #: True for learners whose ``fit`` also takes ``label_names=``, a mapping from label to a
    #: readable name or short description that the data carries (see
    #: :mod:`fewshot.data.label_names`); it arrives only when the data has one, so such a learner
    #: derives names from the labels themselves otherwise (``card_arrival`` → "card arrival").
    uses_label_names: ClassVar[bool] = False
    #: True for learners that can fit with no examples at all (``X`` and ``y`` empty), from
    #: ``label_vectors`` alone: the classes are its keys (0-shot settings, ``adapt --labels``).
    zero_shot: ClassVar[bool] = False

    def validate_params(self) -> None:
        """Raise a ConfigError naming the first parameter outside its declared constraint."""
        validate_params(self)

    def fit(self, X: Any, y: Any, **fit_inputs: Any) -> Learner:
        raise NotImplementedError

    def predict_proba(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def meta_fit(self, tasks: MetaTrainingData) -> Learner:
        """Learn from training tasks of base classes, picking the checkpoint on the validation
        tasks (``meta_trained`` learners only). Returns self."""
        raise NotImplementedError(f"learner {self.name!r} is not meta-trained")

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each input; for a multi-label fit, a 0/1 matrix of the
        labels each input gets (those at or above their thresholds, at least one each)."""
        proba = self.predict_proba(X)  # raises NotFittedError first, before classes_ is read
        if getattr(self, "multi_label_", False):
            from fewshot.learners.multi_label import decide

            return decide(proba, self.thresholds_)
        return self.classes_[np.argmax(proba, axis=1)]

    # -- multi-label: label sets in, one score per label out ---------------------------------

    def fit_label_sets(self, X: Any, label_sets: Any, **fit_inputs: Any) -> Learner:
        """Fit on texts with sets of labels (``supports_multi_label`` learners): the labels
        become ``classes_`` (sorted), then each label's threshold is calibrated on held-out
        folds of this support alone (see :mod:`fewshot.learners.multi_label`). ``fit_inputs`` are what
        ``fit`` would take besides the data (``label_names=``). Returns self."""
        from fewshot.data.labels import indicator, is_label_sets, parse_label_set
        from fewshot.learners.multi_label import fit_thresholds

        if not self.supports_multi_label:
            raise ValueError(f"learner {self.name!r} does not support multi-label data")
        self.validate_params()
        if not is_label_sets(label_sets):
            raise ValueError("label_sets must be a sequence of label lists")
        try:
            sets = [parse_label_set(value, "|", "label_sets", cell=False) for value in label_sets]
        except ValueError as exc:
            raise ValueError(f"label_sets: {exc}") from None
        X = _as_inputs(self, X)
        if len(X) != len(sets):
            raise ValueError(f"X has {len(X)} examples but {len(sets)} label sets")
        self.classes_ = np.asarray(sorted({lab for s in sets for lab in s}), dtype=object)
        Y = indicator(sets, self.classes_)
        self.multi_label_ = True
        self._fit_label_sets(X, Y, **fit_inputs)
        self.thresholds_ = fit_thresholds(self._held_out_label_scores(X, Y, **fit_inputs), Y)
        return self

    def _fit_label_sets(self, X: np.ndarray, Y: np.ndarray, **fit_inputs: Any) -> None:
        """Learn one scorer per column of the 0/1 matrix ``Y`` (``classes_`` is set)."""
        raise NotImplementedError(f"learner {self.name!r} does not support multi-label data")

    def _held_out_label_scores(self, X: np.ndarray, Y: np.ndarray, **fit_inputs: Any) -> np.ndarray:
        """Every support text's label scores from a fit that did not see it (k-fold copies of
        this learner); what the thresholds are calibrated on."""
        from fewshot.learners.multi_label import held_out_scores

        return held_out_scores(self, X, Y, **fit_inputs)

    def embed(self, X: Any) -> np.ndarray:
        """The representation the learner classifies in (one row per input), which
        out-of-scope scorers measure distances in (see :mod:`fewshot.learners.rejection`).

        The frozen embeddings by default; learners that tune the encoder or project the
        embeddings override it, text learners must.
        """
        if self.input_kind == "embeddings":
            return check_query(self, X)
        raise NotImplementedError(f"learner {self.name!r} has no representation of its texts")

    def linear_head(self) -> LinearHead | None:
        """The fitted learner's ``predict_proba`` as a linear head over the embeddings it
        predicts from (the encoder's, or its own tuned encoder's), which are also what ``embed``
        returns (up to length); None where it is not one. With a head, an exported model
        predicts, and rejects out-of-scope texts, without the learner's code (``fewshot export``
        checks both before it writes the head)."""
        return None

    # -- saving: a learner that can be saved returns its learned arrays, and restores them --------

    def get_state(self) -> dict[str, np.ndarray]:
        """The learned arrays (``classes_`` aside) that ``set_state`` restores.

        Saved as safetensors in a model directory (``fewshot adapt``). Learners that cannot be
        saved leave this unimplemented.
        """
        raise NotImplementedError(f"learner {self.name!r} cannot be saved")

    def set_state(self, classes: np.ndarray, state: dict[str, np.ndarray]) -> Learner:
        """Restore a fitted learner from ``classes_`` and the arrays of ``get_state``."""
        raise NotImplementedError(f"learner {self.name!r} cannot be loaded")

    def save_encoder(self, directory: Any) -> None:
        """Write the fine-tuned encoder (``owns_encoder`` learners only)."""
        raise NotImplementedError

    def load_encoder(self, directory: Any) -> None:
        """Read the encoder written by ``save_encoder``."""
        raise NotImplementedError

    def use_encoder(self, encoder: Any) -> None:
        """Encode texts with ``encoder`` (an ``Encoder``: the ONNX export of the encoder
        ``save_encoder`` wrote) instead of loading that encoder (``owns_encoder`` learners)."""
        raise NotImplementedError

    def _check_fitted(self, *attributes: str) -> None:
        if not all(hasattr(self, a) for a in ("classes_", *attributes)):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")


def check_support(learner: Learner, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``learner``'s parameters and a support set for it; return the set as arrays.

    Every learner's ``fit`` starts here, so a bad parameter is refused before any work whether
    the learner came from the command line or from Python.
    """
    learner.validate_params()
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one-dimensional, got shape {y.shape}")
    X = _as_inputs(learner, X)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} examples but y has {len(y)} labels")
    if len(y) == 0:
        raise ValueError("the support set is empty")
    return X, y


def check_query(learner: Learner, X: Any) -> np.ndarray:
    return _as_inputs(learner, X)


def _as_inputs(learner: Learner, X: Any) -> np.ndarray:
    if learner.input_kind == "texts":
        X = np.asarray(X, dtype=object)
        if X.ndim != 1:
            raise ValueError(
                f"texts must be a one-dimensional sequence of strings, got shape {X.shape}"
            )
        return X
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(
            f"embeddings must be a 2-d array (examples, dimensions), got shape {X.shape}"
        )
    if not np.isfinite(X).all():
        raise ValueError("embeddings contain NaN or infinite values")
    n_features = getattr(learner, "n_features_in_", None)
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but the learner was fitted with {n_features}"
        )
    return X
