"""A conformance suite for learners, in the spirit of scikit-learn's ``check_estimator``.

A plugin author checks a learner in one line::

    from fewshot.learners.conformance import check_learner
    check_learner(MyLearner())

or gets one pytest test per check::

    @pytest.mark.parametrize("check", learner_checks(MyLearner()), ids=lambda c: c.__name__)
    def test_conformance(check):
        check()

Each check builds fresh learners with ``sklearn.base.clone`` and small synthetic tasks: Gaussian
clusters for embedding learners, keyword sentences for text learners. Learners that declare
``fit_inputs`` get them too (the support set serves as source and as unlabelled data).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial

import numpy as np
from sklearn.base import clone

from fewshot.data.texts import LabeledTexts
from fewshot.errors import ConfigError
from fewshot.learners.base import Learner, NotFittedError
from fewshot.learners.maths import l2_normalize
from fewshot.tasks.episodes import ClassSplit
from fewshot.tasks.meta_training import MetaTrainingData

_WORDS = {
    "sport": ["football", "tennis", "goal", "match", "team", "score"],
    "food": ["pizza", "pasta", "salad", "bread", "cheese", "soup"],
    "money": ["bank", "loan", "credit", "cash", "account", "payment"],
}


def make_task(
    learner: Learner, *, ways: int = 3, shots: int = 5, queries: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An easy task of the kind ``learner`` consumes: (X_support, y_support, X_query, y_query)."""
    rng = np.random.default_rng(seed)
    labels = np.array([f"class {chr(65 + i)}/ü" for i in range(ways)], dtype=object)
    y_support = np.repeat(labels, shots)
    y_query = np.repeat(labels, queries)
    if learner.input_kind == "texts":
        topics = list(_WORDS)[:ways]
        if ways > len(topics):
            raise ValueError(f"text tasks have at most {len(_WORDS)} classes")

        def sentences(count: int) -> np.ndarray:
            out = []
            for topic in topics:
                for _ in range(count):
                    words = rng.choice(_WORDS[topic], size=4)
                    out.append("we talked about " + " and ".join(words))
            return np.array(out, dtype=object)

        return sentences(shots), y_support, sentences(queries), y_query
    centers = rng.normal(size=(ways, 32)) * 3.0
    X_support = (
        np.repeat(centers, shots, axis=0) + rng.normal(size=(ways * shots, 32)) * 0.3
    ).astype(np.float32)
    X_query = (
        np.repeat(centers, queries, axis=0) + rng.normal(size=(ways * queries, 32)) * 0.3
    ).astype(np.float32)
    return X_support, y_support, X_query, y_query


def make_meta_tasks(learner: Learner, *, ways: int, shots: int, seed: int = 0) -> MetaTrainingData:
    """Meta-training tasks for ``learner`` (embeddings only): Gaussian clusters of 16 base and 8
    validation classes, in the 32 dimensions of ``make_task``."""
    if learner.input_kind != "embeddings":
        raise ValueError("synthetic meta-training tasks are embeddings")
    rng = np.random.default_rng([seed, 1])
    per_class = shots + 10
    labels = [f"meta {c}" for c in range(24) for _ in range(per_class)]
    centers = rng.normal(size=(24, 32)) * 3.0
    X = (np.repeat(centers, per_class, axis=0) + rng.normal(size=(len(labels), 32)) * 0.3).astype(
        np.float32
    )
    data = LabeledTexts.from_lists([f"point {i}" for i in range(len(labels))], labels)
    classes = tuple(sorted(set(labels)))
    split = ClassSplit(base=classes[:16], validation=classes[16:], novel=())
    return MetaTrainingData.from_split(
        split, (data, X), ways=ways, shots=shots, queries=10, seed=seed, validation_episodes=5
    )


def _fit(learner: Learner, X, y, source=None, unlabeled=None) -> Learner:
    """``learner.fit(X, y)``, with the extra inputs it declares: by default the support set
    doubles as the labelled source (``source``) and as unlabelled target data (``unlabeled``).
    A meta-trained learner is first meta-trained on synthetic tasks of the same shape."""
    if learner.meta_trained:
        _, counts = np.unique(np.asarray(y), return_counts=True)
        learner.meta_fit(make_meta_tasks(learner, ways=len(counts), shots=int(counts.min())))
    extra: dict = {}
    if "source" in learner.fit_inputs:
        extra["source"] = (X, y) if source is None else source
    if "unlabeled" in learner.fit_inputs:
        extra["unlabeled"] = X if unlabeled is None else unlabeled
    return learner.fit(X, y, **extra)


def check_declares_itself(learner: Learner) -> None:
    assert isinstance(learner, Learner), f"{type(learner).__name__} must subclass fewshot.Learner"
    assert isinstance(type(learner).name, str) and type(learner).name, (
        "set a non-empty `name` class attribute"
    )
    assert learner.input_kind in ("embeddings", "texts"), f"input_kind is {learner.input_kind!r}"
    unknown = set(learner.fit_inputs) - {"unlabeled", "source", "label_vectors"}
    assert not unknown, f"fit_inputs has unknown entries {sorted(unknown)}"


def check_parameters_stored_as_given(learner: Learner) -> None:
    signature = inspect.signature(type(learner).__init__)
    params = learner.get_params(deep=False)
    for name, parameter in signature.parameters.items():
        if name == "self":
            continue
        assert parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD), (
            f"{type(learner).__name__}.__init__ must not take *args/**kwargs"
        )
        assert name in params, (
            f"constructor argument {name!r} is not stored as an attribute of that name"
        )
    rebuilt = clone(learner)
    assert rebuilt.get_params(deep=False).keys() == params.keys(), "clone() lost parameters"


def check_parameter_constraints(learner: Learner) -> None:
    """Every constructor parameter has a declared constraint (``parameter_constraints``, see
    :mod:`fewshot.util.params`), the learner's own values pass it, and out-of-range values are
    refused with a ConfigError by ``validate_params`` and by ``fit``, before any work."""
    constraints = type(learner).parameter_constraints
    params = learner.get_params(deep=False)
    undeclared = sorted(set(params) - set(constraints))
    assert not undeclared, (
        f"declare a constraint for every parameter in {type(learner).__name__}."
        f"parameter_constraints (fewshot.util.params); missing: {undeclared}"
    )
    learner.validate_params()
    X, y, _, _ = make_task(learner)
    for name, constraint in constraints.items():
        if name not in params:
            continue
        for value in constraint.invalid_examples():
            bad = clone(learner).set_params(**{name: value})
            try:
                bad.validate_params()
            except ConfigError:
                pass
            else:
                raise AssertionError(f"validate_params accepted {name}={value!r}")
        bad = clone(learner).set_params(**{name: constraint.invalid_examples()[0]})
        try:
            _fit(bad, X, y)
        except ConfigError:
            continue
        raise AssertionError(f"fit accepted {name}={constraint.invalid_examples()[0]!r}")


def check_fit_returns_self(learner: Learner) -> None:
    X, y, _, _ = make_task(learner)
    fresh = clone(learner)
    assert _fit(fresh, X, y) is fresh, "fit must return self"


def check_not_fitted_error(learner: Learner) -> None:
    _, _, Xq, _ = make_task(learner)
    fresh = clone(learner)
    for method in ("predict", "predict_proba"):
        try:
            getattr(fresh, method)(Xq)
        except NotFittedError:
            continue
        except Exception as exc:
            raise AssertionError(
                f"{method} before fit raised {type(exc).__name__}, not NotFittedError"
            ) from exc
        raise AssertionError(f"{method} before fit must raise NotFittedError")


def check_predictions_are_consistent(learner: Learner) -> None:
    X, y, Xq, _ = make_task(learner)
    fitted = _fit(clone(learner), X, y)
    assert list(fitted.classes_) == sorted(set(y)), "classes_ must be the sorted distinct labels"
    proba = np.asarray(fitted.predict_proba(Xq))
    assert proba.shape == (len(Xq), len(fitted.classes_)), f"predict_proba shape {proba.shape}"
    assert np.isfinite(proba).all() and (proba >= 0).all(), "probabilities must be finite and >= 0"
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5), "probability rows must sum to 1"
    predicted = np.asarray(fitted.predict(Xq))
    assert predicted.shape == (len(Xq),), f"predict shape {predicted.shape}"
    assert set(predicted) <= set(y), "predict returned labels that were not in the support set"
    assert (predicted == fitted.classes_[proba.argmax(axis=1)]).mean() >= 0.95, (
        "predict must agree with the most probable class of predict_proba"
    )


def check_learns_an_easy_task(learner: Learner, shots: int = 5, minimum: float = 0.9) -> None:
    X, y, Xq, yq = make_task(learner, shots=shots)
    # Learners that use a source domain get one from the same distribution, 20 per class.
    X_source, y_source, X_unlabeled, _ = make_task(learner, shots=20)
    fitted = _fit(clone(learner), X, y, source=(X_source, y_source), unlabeled=X_unlabeled)
    accuracy = float((np.asarray(fitted.predict(Xq)) == yq).mean())
    assert accuracy >= minimum, (
        f"{shots}-shot accuracy {accuracy:.2f} on a well-separated task (need {minimum})"
    )


def check_deterministic(learner: Learner) -> None:
    X, y, Xq, _ = make_task(learner)
    first = _fit(clone(learner), X, y).predict_proba(Xq)
    second = _fit(clone(learner), X, y).predict_proba(Xq)
    assert np.allclose(first, second, atol=1e-6), (
        "two fits on the same data must give the same output"
    )


def check_refit_forgets(learner: Learner) -> None:
    X, y, _, _ = make_task(learner, ways=3)
    X2, y2, Xq2, _ = make_task(learner, ways=2, seed=1)
    y2 = np.array([label.replace("class", "other") for label in y2], dtype=object)
    fitted = _fit(_fit(clone(learner), X, y), X2, y2)
    assert set(fitted.classes_) == set(y2), "a second fit must forget the classes of the first"
    assert set(fitted.predict(Xq2)) <= set(y2)


def check_does_not_modify_inputs(learner: Learner) -> None:
    X, y, Xq, _ = make_task(learner)
    copies = [np.array(a, copy=True) for a in (X, y, Xq)]
    _fit(clone(learner), X, y).predict(Xq)
    for original, copy in zip((X, y, Xq), copies, strict=True):
        assert np.array_equal(original, copy), "fit/predict must not modify their inputs"


def check_rejects_mismatched_lengths(learner: Learner) -> None:
    X, y, _, _ = make_task(learner)
    try:
        _fit(clone(learner), X, y[:-1])
    except ValueError:
        return
    raise AssertionError("fit with len(X) != len(y) must raise ValueError")


def check_multi_label(learner: Learner) -> None:
    """Learners that declare ``supports_multi_label``: fit label sets (texts of two topics
    carry both labels), score every label in [0, 1], give every query at least one label and
    both where both apply, deterministically; other learners refuse label sets."""
    if learner.meta_trained:
        return  # meta-trained learners learn from episodes of base classes, not label sets
    X, y, Xq, yq = make_task(learner, ways=3, shots=6, queries=6)
    labels = list(dict.fromkeys(y))
    # the third class's texts carry the first two labels: a text can be both
    sets = [(a,) if a != labels[2] else (labels[0], labels[1]) for a in y]
    if not learner.supports_multi_label:
        try:
            clone(learner).fit_label_sets(X, sets)
        except ValueError:
            return
        raise AssertionError("a learner without supports_multi_label must refuse label sets")
    fitted = clone(learner).fit_label_sets(X, sets)
    assert list(fitted.classes_) == labels[:2], f"classes_ {list(fitted.classes_)}"
    proba = np.asarray(fitted.predict_proba(Xq))
    assert proba.shape == (len(Xq), 2) and ((proba >= 0) & (proba <= 1)).all()
    decided = np.asarray(fitted.predict(Xq))
    assert decided.shape == (len(Xq), 2) and decided.sum(axis=1).min() >= 1
    expected = np.array(
        [[1, 0] if t == labels[0] else [0, 1] if t == labels[1] else [1, 1] for t in yq]
    )
    exact = float((decided == expected).all(axis=1).mean())
    assert exact >= 0.8, f"exact match {exact:.2f} on a well-separated multi-label task (need 0.8)"
    again = clone(learner).fit_label_sets(X, sets).predict_proba(Xq)
    assert np.allclose(proba, again, atol=1e-6), "two fits must give the same scores"


def check_linear_head(learner: Learner) -> None:
    """A learner that gives a ``linear_head`` must be that head: on the embeddings it predicts
    from (``embed`` for text learners), the head's probabilities are its ``predict_proba``'s,
    single- and multi-label (an exported model predicts with the head alone)."""
    X, y, Xq, _ = make_task(learner, ways=3)
    fits = [_fit(clone(learner), X, y)]
    if learner.supports_multi_label and not learner.meta_trained:
        labels = list(dict.fromkeys(y))
        sets = [(a,) if a != labels[2] else (labels[0], labels[1]) for a in y]
        fits.append(clone(learner).fit_label_sets(X, sets))
    for model in fits:
        head = model.linear_head()
        if head is None:
            return
        inputs = Xq if learner.input_kind == "embeddings" else model.embed(Xq)
        expected = np.asarray(model.predict_proba(Xq), dtype=np.float64)
        assert np.allclose(head.predict_proba(inputs), expected, atol=1e-5), (
            "linear_head() must reproduce predict_proba on the embeddings it predicts from"
        )
        # out-of-scope scorers measure embed(); the bundle gives them the head's inputs
        assert np.allclose(
            l2_normalize(np.asarray(model.embed(Xq), dtype=np.float64)),
            l2_normalize(np.asarray(inputs, dtype=np.float64)),
            atol=1e-5,
        ), "a learner with a linear_head must embed() the inputs of that head"


CHECKS: tuple[Callable[[Learner], None], ...] = (
    check_declares_itself,
    check_parameters_stored_as_given,
    check_parameter_constraints,
    check_fit_returns_self,
    check_not_fitted_error,
    check_predictions_are_consistent,
    check_learns_an_easy_task,
    partial(check_learns_an_easy_task, shots=1, minimum=0.8),
    check_deterministic,
    check_refit_forgets,
    check_does_not_modify_inputs,
    check_rejects_mismatched_lengths,
    check_multi_label,
    check_linear_head,
)


def learner_checks(learner: Learner) -> list[Callable[[], None]]:
    """One zero-argument callable per check, named after it (for ``pytest.mark.parametrize``)."""
    checks = []
    for check in CHECKS:
        bound = partial(check, learner)
        base = check.func if isinstance(check, partial) else check
        suffix = "_1shot" if isinstance(check, partial) and check.keywords.get("shots") == 1 else ""
        bound.__name__ = base.__name__ + suffix  # type: ignore[attr-defined]
        checks.append(bound)
    return checks


def check_learner(learner: Learner) -> None:
    """Run every conformance check; the first failure raises AssertionError naming the check.

    Parameters
    ----------
    learner : Learner
        An unfitted learner, as its constructor made it.

    Raises
    ------
    AssertionError
        The first check that fails, by name.
    """
    for check in learner_checks(learner):
        try:
            check()
        except AssertionError as exc:
            raise AssertionError(f"{type(learner).__name__} fails {check.__name__}: {exc}") from exc
