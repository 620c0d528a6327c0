"""The model behind the labelling page: refitted in a background thread as labels come in.

Until every class has a label the model is ``zeroshot`` (each class from its name, averaged
with the examples it has); after that it is the project's learner (``logreg`` on frozen
embeddings by default, or ``finetune``, whose optimiser steps the page shows). Each fit
scores the whole pool; the acquisition strategy then ranks the texts not decided yet, and the
page takes them in that order, but for every ``audit_every``-th text, drawn at random: the
model's guesses on those, recorded before their label, estimate its accuracy on the pool. Beside
each fit, accuracy cross-validated on the labels so far (kept in the project as a learning
curve) and ``check-labels``' suspects (cleanlab) for a second look.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import numpy as np

from fewshot.labelling.estimates import cross_validated, pairs, suspects
from fewshot.labelling.queue import rank_pool
from fewshot.util.quiet import few_examples

#: Texts ranked after each fit; the page falls back to pool order past them until the next fit.
QUEUE = 200


class Trainer:
    """Fits the project's model, ranks the pool with it, and estimates its accuracy.

    Parameters
    ----------
    project : LabelProject
        Where the labels are.
    learner : str or LearnerSpec, default "logreg"
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
    audit_every : int, default 10
        Every this many texts, one drawn uniformly at random from the undecided pool: the
        model's guess on those, made before their label, is an unbiased estimate of its
        accuracy on the pool (0: none).
    label_names : dict or None, default None
        Readable names or short descriptions of the classes (``--classes FILE.json``), which
        the zero-shot model embeds instead of the class labels.
    start_model : FewShotClassifier or None, default None
        A fitted model that ranks the pool until every class has a label (where it knows every
        class); None: ``zeroshot`` from the class names.
    """

    def __init__(
        self,
        project,
        *,
        learner: Any = "logreg",
        encoder: str = "all-MiniLM-L6-v2",
        device: str = "cpu",
        cache: bool | str = True,
        retrain_every: int = 5,
        strategy: str = "hybrid",
        folds: int = 5,
        seed: int = 0,
        audit_every: int = 10,
        start_model=None,
        label_names: dict[str, str] | None = None,
    ):
        from fewshot.acquisition.base import make_strategy
        from fewshot.learners.base import LearnerSpec
        from fewshot.plugins.registry import shared_registry

        self.project = project
        self.spec = learner if isinstance(learner, LearnerSpec) else LearnerSpec.parse(learner)
        registry = shared_registry()
        self._learner_class = registry.learner_class(self.spec.name)
        self.ranker = make_strategy(strategy, registry.strategies)
        self.encoder, self.device, self.cache = encoder, device, cache
        self.retrain_every, self.folds, self.seed = retrain_every, folds, seed
        self.start_model = start_model
        self.label_names = dict(label_names or {})
        self.audit_every = audit_every
        self.drawn: set[int] = set()  # rows shown as the audit's random draws
        self.predicted: list | None = None
        self.model = None
        self.proba: np.ndarray | None = None
        self.queue: list[int] = []
        self.suspects: list[dict[str, Any]] = []
        self.fitted_version = -1
        self.fits = 0
        self.status: dict[str, Any] = {"state": "idle"}
        self._lock = threading.Lock()  # guards the fields above, swapped whole after a fit
        self._fitting = threading.Lock()
        self._fitted = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._forced = False
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
        self._forced = True
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            due = self.project.version() - self.fitted_version >= self.retrain_every
            if not (due or self._forced):  # a wake-up the last fit has answered already
                continue
            self._forced = False
            try:
                self.fit()
            except Exception as exc:  # keep serving the last model; the page shows why
                error = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self.status = {"state": "failed", "error": error}
                    self._fitted.notify_all()
                print(f"fewshot label: training failed: {error}", file=sys.stderr, flush=True)

    # -- one fit --------------------------------------------------------------------------

    def fit(self) -> None:
        """Fit on the labels committed now, score the pool, rank it, estimate accuracy (one
        fit at a time: the background thread's and an export's)."""
        with self._fitting, few_examples():
            self._fit()

    def current(self) -> tuple[Any, int]:
        """The model fitted on every decision committed now (fitting it first where it is
        not), and how many labels it learnt from."""
        with self._fitting, few_examples():
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
            self._use(start, texts, labels, version, "the --model given", 0.0, learnt=None)
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
                model.fit(
                    *pairs(texts, labels, self.project.multi_label),
                    classes=classes,
                    label_names=self._names(classes),
                )
            else:
                model.fit(texts, labels)
        self._use(
            model,
            texts,
            labels,
            version,
            name,
            time.perf_counter() - started,
            learnt="zeroshot" if zero_shot else self.spec.name,
            optimiser_steps=steps["done"],
        )

    def _use(self, model, texts, labels, version: int, name: str, seconds: float, *,
             learnt: str | None, optimiser_steps: int = 0) -> None:  # fmt: skip
        """Score the pool with ``model``, rank it, and serve it; then, where it learnt from
        the labels (``learnt``: its learner), estimate its accuracy and look for suspects."""
        proba = model.predict_proba(self.project.texts)
        if self.project.multi_label:
            predicted = [list(p) for p in model.predict(self.project.texts)]
        else:
            predicted = [[str(model.classes_[j])] for j in proba.argmax(1)]
        queue = self._rank(model, proba, texts, labels)
        with self._lock:  # the new model serves at once; its estimate follows
            self.model, self.proba, self.queue = model, proba, queue
            self.predicted = predicted
            self.fitted_version, self.fits = version, self.fits + 1
            self._fitted.notify_all()
            self.status = {
                "state": "ready",
                "learner": name,
                "labels": len(texts),
                "fit_seconds": round(seconds, 2),
                "fits": self.fits,
                "estimating": learnt is not None,
                "optimiser_steps": optimiser_steps,
            }
        if learnt is None:
            return
        # zeroshot's fits need the class names, which check-labels' folds do not give
        suspects = self._suspects(texts, labels) if learnt != "zeroshot" else []
        estimate = self._estimate(texts, labels, learnt)
        if estimate is not None:
            self.project.add_estimate(*estimate)
        with self._lock:
            self.suspects = suspects
            self.status = {**self.status, "estimating": False}

    def _names(self, classes: list[str]) -> dict[str, str] | None:
        """The descriptions given for ``classes`` (None where none were)."""
        names = {c: self.label_names[c] for c in classes if c in self.label_names}
        return names or None

    def _needs_names(self, labels: list, classes: list[str]) -> bool:
        """Whether some class has no label yet (then only its name can stand for it)."""
        labelled = {y for ys in labels for y in (ys if self.project.multi_label else (ys,))}
        return not set(classes) <= labelled or len(classes) < 2

    def _rank(self, model, proba: np.ndarray, texts: list[str], labels: list) -> list[int]:
        """The undecided pool rows, best to label first (at most :data:`QUEUE`)."""
        decided = set(self.project.decisions())
        open_rows = np.array([i for i in range(len(proba)) if i not in decided], dtype=int)
        rng = np.random.default_rng(self.seed + self.fits)
        return rank_pool(
            model, proba, self.project.texts, open_rows, texts, labels,
            ranker=self.ranker, multi_label=self.project.multi_label, take=QUEUE, rng=rng,
        )  # fmt: skip

    def _estimator(self, learner: str | None = None):
        """The learner the estimate refits on each fold: the one serving (``learner``;
        default the project's) where it works on frozen embeddings; ``logreg`` stands in for
        one that trains the encoder (a fit per fold would take minutes), and the page says
        so. Returns its name and a maker of fresh models."""
        from fewshot.models.classifier import FewShotClassifier

        if learner == "zeroshot":
            name, params = learner, {}
        elif self._learner_class.input_kind == "embeddings":
            name, params = self.spec.name, dict(self.spec.params)
        else:
            name, params = "logreg", {}
        return name, lambda: FewShotClassifier(
            name, encoder=self.encoder, device=self.device, cache=self.cache, **params
        )

    def _estimate(self, texts: list[str], labels: list, learner: str):
        """(labels, accuracy, low, high, folds, learner) cross-validated on the labels, or
        None while there are too few."""
        name, make = self._estimator(learner)
        if self.project.multi_label and name == "zeroshot":
            return None  # one label per text: no estimate of label sets
        found = cross_validated(
            make,
            texts,
            labels,
            multi_label=self.project.multi_label,
            classes=self.project.classes() if name == "zeroshot" else None,
            label_names=self._names(self.project.classes()),
            folds=self.folds,
            seed=self.seed,
        )
        return None if found is None else (*found, name)

    def _suspects(self, texts: list[str], labels: list) -> list[dict[str, Any]]:
        if self.project.multi_label:
            return []
        name, make = self._estimator()
        return suspects(
            texts,
            labels,
            learner=name,
            encode=lambda chosen: make()._cached_encoder().encode(chosen),
            pool=self.project.texts,
            folds=self.folds,
            seed=self.seed,
        )

    # -- what the page asks ---------------------------------------------------------------

    def caught_up(self, timeout: float = 600.0) -> bool:
        """Wait until the model has seen the decisions a refit is due for (a script that
        wants the same texts in the same order on every run asks for this); False on
        timeout or where the last fit failed."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.project.version() - self.fitted_version >= self.retrain_every:
                if self.status.get("state") == "failed" or time.monotonic() > deadline:
                    return False
                self._fitted.wait(timeout=1.0)
        return True

    def next_row(self, exclude: set[int] | None = None) -> int | None:
        """The undecided row best to label now (and not in ``exclude``), or None: the
        strategy's next, or every ``audit_every``-th decision a uniform random draw (the same
        one for every tab and reload until it is decided)."""
        decided = set(self.project.decisions())
        skip = decided | (exclude or set())
        open_rows = [i for i in range(len(self.project.texts)) if i not in skip]
        if not open_rows:
            return None
        if self.audit_every and len(decided) % self.audit_every == self.audit_every - 1:
            rng = np.random.default_rng([self.seed, len(decided)])
            row = int(rng.choice(open_rows))
            with self._lock:
                self.drawn.add(row)
            return row
        with self._lock:
            queue = list(self.queue)
        return next((row for row in queue if row not in skip), open_rows[0])

    def prediction(self, row: int) -> list[str] | None:
        """What the serving model predicts for pool row ``row`` (its labels)."""
        with self._lock:
            return None if self.predicted is None else list(self.predicted[row])

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
