import numpy as np
import pytest
from sklearn.base import clone

from fewshot.errors import ConfigError
from fewshot.learners.base import NotFittedError, check_support
from fewshot.learners.conformance import check_learner, learner_checks, make_task
from fewshot.util.params import Integer

BUILT_IN = [
    ("protonet", {}),
    ("protonet", {"metric": "euclidean"}),
    ("logreg", {}),
    ("knn", {}),
    ("knn", {"n_neighbors": 1}),
    ("zeroshot", {}),
]


def built_in_checks():
    from fewshot.plugins.registry import load_registry

    registry = load_registry()
    for name, params in BUILT_IN:
        for check in learner_checks(registry.make_learner(name, params)):
            yield pytest.param(check, id=f"{name}{params or ''}-{check.__name__}")


@pytest.mark.parametrize("check", list(built_in_checks()))
def test_built_in_learners_conform(check):
    check()


@pytest.mark.integration
def test_every_registered_learner_passes_check_learner(registry):
    for name in registry.learners:
        check_learner(registry.make_learner(name))


def test_conformance_suite_catches_a_broken_learner():
    from fewshot.learners.base import Learner

    class Forgetful(Learner):
        name = "forgetful"
        parameter_constraints = {"k": Integer(min=1)}

        def __init__(self, k=1):
            self.k = k

        def fit(self, X, y):
            X, y = check_support(self, X, y)
            self.classes_ = np.unique(y)
            return None  # wrong: fit must return self

        def predict_proba(self, X):
            return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))

    with pytest.raises(AssertionError, match="fails check_fit_returns_self"):
        check_learner(Forgetful())


def test_protonet_matches_hand_computed_prototypes(registry):
    X = np.array([[1, 0], [3, 0], [0, 2], [0, 4]], dtype=np.float32)
    y = np.array(["a", "a", "b", "b"], dtype=object)
    learner = registry.make_learner("protonet", {"metric": "euclidean"}).fit(X, y)
    np.testing.assert_allclose(learner.prototypes_, [[2, 0], [0, 3]])
    assert list(learner.predict(np.array([[2.1, 0.2], [0.1, 2.5]]))) == ["a", "b"]
    scores = learner.decision_function(np.array([[0, 0]], dtype=np.float32))
    np.testing.assert_allclose(scores, [[-4, -9]])


def test_protonet_rejects_unknown_metric(registry):
    X, y, _, _ = make_task(registry.make_learner("protonet"))
    with pytest.raises(ConfigError, match="metric must be 'cosine' or 'euclidean'"):
        registry.make_learner("protonet", {"metric": "manhattan"}).fit(X, y)


def test_validation_happens_in_fit_and_predict(registry):
    learner = registry.make_learner("logreg")
    X, y, Xq, _ = make_task(learner)
    with pytest.raises(NotFittedError):
        learner.predict(Xq)
    learner.fit(X, y)
    with pytest.raises(ValueError, match="fitted with 32"):
        learner.predict(Xq[:, :10])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        clone(learner).fit(bad, y)


def test_unknown_learner_and_parameter(registry):
    with pytest.raises(ConfigError, match="unknown learner 'protonett'; did you mean 'protonet'"):
        registry.make_learner("protonett")
    with pytest.raises(
        ConfigError,
        match=r"learner 'knn' has no parameter 'k' \(its parameters are metric, n_neighbors, weights\)",
    ):
        registry.make_learner("knn", {"k": 3})
    # A near miss gets a suggestion, as learner and dataset names do.
    with pytest.raises(ConfigError, match="has no parameter 'epoch'; did you mean 'epochs'\\?"):
        registry.make_learner("finetune", {"epoch": 2})
