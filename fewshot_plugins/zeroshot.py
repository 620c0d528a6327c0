"""Zero-shot: classes from their names alone, then, given unlabelled texts, from the texts the
names pick out (self-training).

Each class is a prototype in the encoder's space: the embedding of its name (or the description
given for it), averaged with its labelled examples where there are any (the name counts as one
more example). A text goes to the class of the nearest prototype by cosine.

With unlabelled texts of the domain (``unlabeled=``) and ``self_training`` rounds, the
prototypes are refitted on the texts they claim: each round every class takes the unlabelled
texts closest to it among those it wins, at most ``per_class`` of them (twice as many each
round), and its prototype becomes the mean of those, its name and its labelled examples. Taking
the same number per class keeps a class that wins few texts from vanishing. Labels of the pool
are never read. The recipe (1 round of 32 doubling to 3 rounds; cosine scale 20) was chosen on
the ``valid`` splits of banking77 and clinc150, never on test data: names alone score 0.62 and
0.70 there, three rounds 0.69 and 0.82.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fewshot import hookimpl
from fewshot.learners.base import Learner, check_query
from fewshot.learners.heads import LinearHead
from fewshot.learners.maths import l2_normalize, softmax
from fewshot.util.params import Integer, Real


class ZeroShotLearner(Learner):
    """Nearest class name by cosine, refined on unlabelled texts.

    Parameters
    ----------
    self_training : int, default 3
        Rounds of refitting the prototypes on the unlabelled texts each claims (with
        ``unlabeled=`` only; 0: names and labelled examples alone).
    per_class : int, default 32
        Unlabelled texts a class takes in the first round; doubled every round.
    scale : float, default 20.0
        Cosine similarities are multiplied by this before the softmax: how sharp the
        probabilities are.
    """

    name = "zeroshot"
    fit_inputs = frozenset({"label_vectors", "unlabeled"})
    zero_shot = True
    parameter_constraints = {
        "self_training": Integer(min=0),
        "per_class": Integer(min=1),
        "scale": Real(min=0, min_open=True),
    }

    def __init__(self, self_training: int = 3, per_class: int = 32, scale: float = 20.0):
        self.self_training = self_training
        self.per_class = per_class
        self.scale = scale

    def fit(self, X, y, label_vectors: Mapping | None = None, unlabeled=None) -> ZeroShotLearner:
        self.validate_params()
        y = np.asarray(y, dtype=object).reshape(-1)
        vectors = dict(label_vectors or {})
        if not vectors and not len(y):
            raise ValueError("zeroshot needs the classes' names (label_vectors=) or examples")
        X = np.asarray(X, dtype=np.float32).reshape(len(y), -1) if len(y) else None
        self.classes_ = np.asarray(sorted({*vectors, *y.tolist()}, key=str), dtype=object)
        dimension = len(next(iter(vectors.values()))) if vectors else X.shape[1]
        known = [np.zeros(dimension, np.float64) for _ in self.classes_]
        counts = np.zeros(len(self.classes_))
        for j, label in enumerate(self.classes_):
            if label in vectors:
                known[j] = known[j] + l2_normalize(np.asarray(vectors[label], np.float32)[None])[0]
                counts[j] += 1
            if X is not None and (y == label).any():
                known[j] = known[j] + l2_normalize(X[y == label]).sum(0)
                counts[j] += int((y == label).sum())
        known, counts = np.stack(known), counts[:, None]
        self.prototypes_ = l2_normalize((known / counts).astype(np.float32))
        if unlabeled is not None and len(unlabeled) and self.self_training:
            self._self_train(l2_normalize(np.asarray(unlabeled, np.float32)), known, counts)
        self.n_features_in_ = dimension
        return self

    def _self_train(self, pool: np.ndarray, known: np.ndarray, counts: np.ndarray) -> None:
        """Refit the prototypes on the pool texts each claims (see the module docstring)."""
        for round_ in range(self.self_training):
            take = self.per_class * 2**round_
            similarity = pool @ self.prototypes_.T
            winner = similarity.argmax(1)
            sums, sizes = known.copy(), counts.copy()
            for j in range(len(self.classes_)):
                claimed = np.flatnonzero(winner == j)
                closest = claimed[np.argsort(-similarity[claimed, j], kind="stable")][:take]
                sums[j] += pool[closest].sum(0)
                sizes[j] += len(closest)
            self.prototypes_ = l2_normalize((sums / sizes).astype(np.float32))

    def linear_head(self) -> LinearHead:
        self._check_fitted("prototypes_")
        weights = (self.prototypes_ * self.scale).astype(np.float32)
        return LinearHead(weights, np.zeros(len(weights), np.float32), "softmax", normalize=True)

    def predict_proba(self, X) -> np.ndarray:
        self._check_fitted("prototypes_")
        return softmax(l2_normalize(check_query(self, X)) @ self.prototypes_.T * self.scale)

    def get_state(self) -> dict[str, np.ndarray]:
        self._check_fitted("prototypes_")
        return {"prototypes": self.prototypes_}

    def set_state(self, classes, state) -> ZeroShotLearner:
        self.classes_ = np.asarray(classes, dtype=object)
        self.prototypes_ = np.asarray(state["prototypes"], dtype=np.float32)
        self.n_features_in_ = self.prototypes_.shape[1]
        return self


@hookimpl
def fewshot_learners():
    return [ZeroShotLearner]
