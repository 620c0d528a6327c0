"""The model behind the labelling page: refitted in a background thread as labels come in.

Until every class has a label the model is ``zeroshot`` (each class from its name, averaged
with the examples it has); after that it is the project's learner (``logreg`` on frozen
embeddings by default, or ``finetune``, whose optimiser steps the page shows). Each fit
scores the whole pool; the acquisition strategy then ranks the texts not decided yet, and the
page takes them in that order. Beside each fit, an honest estimate: accuracy cross-validated on
the labels so far (stratified folds; a Wilson 95% interval over the texts), kept in the project
as a learning curve, and ``check-labels``' suspects (cleanlab) for a second look.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import numpy as np

from fewshot.errors import ConfigError

#: Texts ranked after each fit; the page falls back to pool order past them until the next fit.
QUEUE = 200


def wilson_interval(correct: int, n: int) -> tuple[float, float]:
    """The Wilson 95% interval of ``correct`` successes in ``n`` trials (scipy)."""
    from scipy.stats import binomtest

    interval = binomtest(correct, n).proportion_ci(0.95, method="wilson")
    return float(interval.low), float(interval.high)


class Trainer:
    """Fits the project's model, ranks the pool with it, and estimates its accuracy.

    Parameters
    ----------
    project : LabelProject
        Where the labels are.
    learner : str, default "logreg"
        The learner once every class has a label: a name, optionally ``NAME:p=v,...``.
    encoder : str, default "all-MiniLM-L6-v2"
        The sentence encoder.
    device : str, default "cpu"
        Where to encode and train.
    cache : bool or str, default True
        The embedding cache (see :class:`~fewshot.models.classifier.FewShotClassifier`).
    retrain_every : int, default 5
        Refit after this many new decisions.
    strategy : str, default "hybrid"
        The acquisition strategy that ranks the pool (single-label projects; a multi-label
        one takes the texts whose least certain class is closest to 0.5 first).
    folds : int, default 5
        Folds of the accuracy estimate and of the label check.
    seed : int, default 0
        Seed of every random choice.
    start_model : FewShotClassifier or None, default None
        A fitted model that ranks the pool until every class has a label (where it knows every
        class); None: ``zeroshot`` from the class names.
    """

    def __init__(
        self,
        project,
        *,
        learner: str = "logreg",
        encoder: str = "all-MiniLM-L6-v2",
        device: str = "cpu",
        cache: bool | str = True,
        retrain_every: int = 5,
        strategy: str = "hybrid",
        folds: int = 5,
        seed: int = 0,
        start_model=None,
    ):
        from fewshot.acquisition.base import make_strategy
        from fewshot.learners.base import LearnerSpec
        from fewshot.plugins.registry import shared_registry

        self.project = project
        self.spec = LearnerSpec.parse(learner)
        registry = shared_registry()
        self._learner_class = registry.learner_class(self.spec.name)
        self.ranker = make_strategy(strategy, registry.strategies)
        self.encoder, self.device, self.cache = encoder, device, cache
        self.retrain_every, self.folds, self.seed = retrain_every, folds, seed
        self.start_model = start_model
        self.model = None
        self.proba: np.ndarray | None = None
        self.queue: list[int] = []
        self.suspects: list[dict[str, Any]] = []
        self.fitted_version = -1
        self.fits = 0
        self.status: dict[str, Any] = {"state": "idle"}
        self._lock = threading.Lock()  # guards the fields above, swapped whole after a fit
        self._fitting = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the background thread ------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="fewshot-label-trainer")
        self._thread.daemon = True  # a killed server must not wait for a fit
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def notify(self) -> None:
        """A decision was committed (or undone, or a class added): refit once enough are new."""
        if self.project.version() - self.fitted_version >= self.retrain_every:
            self._wake.set()

    def refit_soon(self) -> None:
        """Refit at the next chance, however few decisions are new (a class was added)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.fit()
            except Exception as exc:  # keep serving the last model; the page shows why
                error = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self.status = {"state": "failed", "error": error}
                print(f"fewshot label: training failed: {error}", file=sys.stderr, flush=True)

    # -- one fit --------------------------------------------------------------------------

    def fit(self) -> None:
        """Fit on the labels committed now, score the pool, rank it, estimate accuracy (one
        fit at a time: the background thread's and an export's)."""
        with self._fitting:
            self._fit()

    def current(self) -> tuple[Any, int]:
        """The model fitted on every decision committed now (fitting it first where it is
        not), and how many labels it learnt from."""
        with self._fitting:
            if self.fitted_version != self.project.version() or self.model is None:
                self._fit()
            return self.model, self.status.get("labels", 0)

    def _fit(self) -> None:
        from fewshot.models.classifier import FewShotClassifier
        from fewshot.util import progress

        version = self.project.version()
        texts, labels = self.project.labelled()
        classes = self.project.classes()
        zero_shot = self._needs_names(labels, classes)
        start = self.start_model
        if zero_shot and start is not None and set(classes) <= set(start.labels):
            self._use(start, texts, labels, version, "the --model given", 0.0, learnt=False)
            return
        name = "zeroshot" if zero_shot else self.spec.name
        steps = {"done": 0, "planned": 0}
        with self._lock:
            self.status = {
                "state": "training",
                "learner": name,
                "labels": len(texts),
                "started": time.time(),
                "steps": steps,
            }
        params = {} if zero_shot else dict(self.spec.params)
        model = FewShotClassifier(
            name, encoder=self.encoder, device=self.device, cache=self.cache, **params
        )

        def advance(n: int) -> None:
            steps["done"] += n

        def plan(n: int) -> None:
            steps["planned"] += n

        started = time.perf_counter()
        with progress.reported(advance, plan):
            if zero_shot:
                pairs = [(t, y) for t, ys in zip(texts, labels, strict=True)
                         for y in (ys if self.project.multi_label else (ys,))]  # fmt: skip
                model.fit([t for t, _ in pairs], [y for _, y in pairs], classes=classes)
            else:
                model.fit(texts, labels)
        self._use(
            model,
            texts,
            labels,
            version,
            name,
            time.perf_counter() - started,
            learnt=not zero_shot,
        )

    def _use(self, model, texts, labels, version: int, name: str, seconds: float, *,
             learnt: bool) -> None:  # fmt: skip
        """Score the pool with ``model``, rank it, estimate its accuracy where it learnt
        from the labels, and serve it."""
        proba = model.predict_proba(self.project.texts)
        queue = self._rank(model, proba, texts, labels)
        with self._lock:  # the new model serves at once; its estimate follows
            self.model, self.proba, self.queue = model, proba, queue
            self.fitted_version, self.fits = version, self.fits + 1
            self.status = {
                "state": "ready",
                "learner": name,
                "labels": len(texts),
                "fit_seconds": round(seconds, 2),
                "fits": self.fits,
                "estimating": learnt,
            }
        if not learnt:
            return
        suspects = self._suspects(texts, labels)
        estimate = self._estimate(texts, labels)
        if estimate is not None:
            self.project.add_estimate(*estimate)
        with self._lock:
            self.suspects = suspects
            self.status = {**self.status, "estimating": False}

    def _needs_names(self, labels: list, classes: list[str]) -> bool:
        """Whether some class has no label yet (then only its name can stand for it)."""
        labelled = {y for ys in labels for y in (ys if self.project.multi_label else (ys,))}
        return not set(classes) <= labelled or len(classes) < 2

    def _rank(self, model, proba: np.ndarray, texts: list[str], labels: list) -> list[int]:
        """The undecided pool rows, best to label first (at most :data:`QUEUE`)."""
        from fewshot.acquisition.base import PoolView
        from fewshot.labelling.suggest import embed

        decided = set(self.project.decisions())
        open_rows = np.array([i for i in range(len(proba)) if i not in decided], dtype=int)
        if not len(open_rows):
            return []
        take = min(QUEUE, len(open_rows))
        if self.project.multi_label:  # the least certain decision of each text
            doubt = np.abs(proba[open_rows] - 0.5).min(axis=1)
            return open_rows[np.argsort(doubt, kind="stable")[:take]].tolist()
        pool_vectors = embed(model, self.project.texts)
        classes = np.asarray(model.classes_)
        counts = np.array([sum(1 for y in labels if y == c) for c in classes])
        labelled = pool_vectors[[self.project.texts.index(t) for t in texts]] if texts else (
            np.zeros((0, pool_vectors.shape[1]), np.float32))  # fmt: skip
        view = PoolView(proba[open_rows], pool_vectors[open_rows], classes, labelled, counts)
        rng = np.random.default_rng(self.seed + self.fits)
        order = np.asarray(self.ranker.rank(view, take, rng), dtype=int)
        return open_rows[order].tolist()

    def _estimator(self):
        """The learner the estimate refits on each fold: the project's where it works on
        frozen embeddings; ``logreg`` stands in for one that trains the encoder (a fit per
        fold would take minutes), and the page says so."""
        from fewshot.models.classifier import FewShotClassifier

        if self._learner_class.input_kind == "embeddings":
            name, params = self.spec.name, dict(self.spec.params)
        else:
            name, params = "logreg", {}
        return name, lambda: FewShotClassifier(
            name, encoder=self.encoder, device=self.device, cache=self.cache, **params
        )

    def _estimate(self, texts: list[str], labels: list):
        """(labels, accuracy, low, high, folds, learner) cross-validated on the labels of the
        classes with two or more, or None while there are too few."""
        from collections import Counter

        from sklearn.model_selection import KFold, StratifiedKFold

        name, make = self._estimator()
        if self.project.multi_label:
            keep = list(range(len(texts)))
            splitter = KFold(n_splits=min(self.folds, len(keep)), shuffle=True,
                             random_state=self.seed) if len(keep) >= 4 else None  # fmt: skip
            strata = None
        else:
            counts = Counter(labels)
            keep = [i for i, y in enumerate(labels) if counts[y] >= 2]
            kept = Counter(labels[i] for i in keep)
            if len(kept) < 2:
                return None
            folds = max(2, min(self.folds, min(kept.values())))
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
            strata = [labels[i] for i in keep]
        if splitter is None:
            return None
        X = np.asarray([texts[i] for i in keep], dtype=object)
        Y = [labels[i] for i in keep]
        correct = 0
        for train, held in splitter.split(X, strata):
            model = make().fit(list(X[train]), [Y[i] for i in train])
            predicted = model.predict(list(X[held]))
            for i, guess in zip(held, predicted, strict=True):
                wanted = Y[i]
                if self.project.multi_label:
                    correct += set(guess) == set(wanted)
                else:
                    correct += str(guess) == str(wanted)
        low, high = wilson_interval(correct, len(keep))
        return len(keep), correct / len(keep), low, high, splitter.get_n_splits(), name

    def _suspects(self, texts: list[str], labels: list) -> list[dict[str, Any]]:
        """``check-labels``' label errors among the labels so far (single-label projects with
        cleanlab installed), each with its pool row."""
        from collections import Counter

        if self.project.multi_label:
            return []
        try:
            import cleanlab  # noqa: F401
        except ImportError:
            return []
        from fewshot.labelling.label_errors import check_labels

        counts = Counter(labels)
        keep = [i for i, y in enumerate(labels) if counts[y] >= 2]
        if len({labels[i] for i in keep}) < 2:
            return []
        name, make = self._estimator()
        vectors = make()._cached_encoder().encode([texts[i] for i in keep])
        try:
            found = check_labels(
                [texts[i] for i in keep],
                [labels[i] for i in keep],
                learner=name,
                vectors=vectors,
                folds=self.folds,
                seed=self.seed,
            )
        except ConfigError:
            return []
        rows = self.project.texts
        where = {text: i for i, text in enumerate(rows)}
        return [
            {
                "row": where[r["text"]],
                "text": r["text"],
                "label": r["given_label"],
                "suggested": r["suggested_label"],
            }
            for r in found.rows
            if r["kind"] == "label-error" and r["text"] in where
        ]

    # -- what the page asks ---------------------------------------------------------------

    def next_row(self, exclude: set[int] | None = None) -> int | None:
        """The undecided row best to label now (and not in ``exclude``), or None."""
        decided = set(self.project.decisions()) | (exclude or set())
        with self._lock:
            queue = list(self.queue)
        for row in queue:
            if row not in decided:
                return row
        return next((i for i in range(len(self.project.texts)) if i not in decided), None)

    def guesses(self, row: int, k: int = 9) -> list[dict[str, Any]]:
        """The model's ``k`` most probable classes for pool row ``row``."""
        with self._lock:
            model, proba = self.model, self.proba
        if model is None or proba is None:
            return []
        ranked = np.argsort(-proba[row], kind="stable")[:k]
        return [
            {"label": str(model.classes_[j]), "probability": round(float(proba[row, j]), 4)}
            for j in ranked
        ]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            status = dict(self.status)
        if "steps" in status:
            status["steps"] = dict(status["steps"])
            status["seconds"] = round(time.time() - status.pop("started"), 1)
        return status
