"""``fewshot suggest``: the texts of a pool worth labelling next, and the ones that fit no class.

The model scores every pool text; an acquisition strategy (:mod:`fewshot.acquisition`) ranks
them, knowing what is labelled already (the model's recorded training texts, or those given),
so none of those is suggested again. Beside them, the *out-of-scope candidates*: the texts the
model is least sure belong to any class (lowest in-scope score where the model rejects, else
lowest top probability), grouped by similarity, so that a group of like texts is a class the
model lacks rather than noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fewshot.acquisition.base import PoolView, make_strategy
from fewshot.errors import ConfigError
from fewshot.learners.maths import l2_normalize

#: Texts closer than this (cosine) join one out-of-scope group.
GROUP_SIMILARITY = 0.6


@dataclass
class Suggestions:
    """What :func:`suggest` found.

    Parameters
    ----------
    rows : list of dict
        The texts to label, best first: ``rank``, ``row`` (the pool's row, from 1), ``text``,
        ``suggested_label``, ``probability``, ``second_label``, ``second_probability``,
        ``score`` (the strategy's, where it has one), an empty ``label`` to fill in, and the
        pool row's ``id`` where it has one.
    out_of_scope : list of dict
        Texts that may fit no class: ``group`` (from 1, the largest first), ``row``, ``text``,
        ``in_scope_score`` (or ``probability``), ``closest_label``.
    strategy : str
        The strategy that ranked ``rows``.
    skipped_labelled : int
        Pool texts left out because they are labelled already.
    """

    rows: list[dict[str, Any]]
    out_of_scope: list[dict[str, Any]]
    strategy: str
    skipped_labelled: int = 0


def embed(classifier, texts: list[str]) -> np.ndarray:
    """The texts as the model's learner represents them (its tuned encoder, for finetune),
    unit length: what diversity is measured in."""
    learner = classifier.learner_
    return l2_normalize(np.asarray(learner.embed(classifier._inputs(texts, learner)), np.float32))


def suggest(
    classifier,
    texts: list[str],
    budget: int,
    *,
    strategy: str = "hybrid",
    strategies: dict[str, type] | None = None,
    labelled: tuple[list[str], list[str]] | None = None,
    out_of_scope: int = 50,
    seed: int = 0,
    ids: list[Any] | None = None,
) -> Suggestions:
    """Rank a pool of unlabelled texts for labelling, and list those that may fit no class.

    Parameters
    ----------
    classifier : FewShotClassifier
        A fitted single-label model (:func:`fewshot.load` of a model directory).
    texts : list of str
        The pool.
    budget : int
        How many texts to suggest.
    strategy : str, default "hybrid"
        The acquisition strategy's name (see :mod:`fewshot.acquisition.strategies`).
    strategies : dict or None, default None
        The known strategies by name; None: those of the installed plugins.
    labelled : tuple of (list of str, list of str), or None, default None
        The texts labelled so far and their labels: never suggested again, and what a diverse
        choice keeps away from.
    out_of_scope : int, default 50
        How many texts that may fit no class to list (0: none).
    seed : int, default 0
        Seed of every random choice.
    ids : list or None, default None
        An id per pool text, passed through to the rows.

    Returns
    -------
    Suggestions
    """
    if strategies is None:
        from fewshot.plugins.registry import shared_registry

        strategies = shared_registry().strategies
    ranker = make_strategy(strategy, strategies)
    if getattr(classifier, "multi_label_", False):
        raise ConfigError("suggest ranks texts for single-label models; this one is multi-label")
    if budget < 1:
        raise ConfigError(f"--budget must be at least 1, got {budget}")
    known_texts, known_labels = labelled or ([], [])
    seen = set(known_texts)
    keep = [i for i, text in enumerate(texts) if text not in seen]
    skipped = len(texts) - len(keep)
    if not keep:
        raise ConfigError("every pool text is labelled already; nothing to suggest")
    pool = [texts[i] for i in keep]
    _, proba, in_scope = classifier.predict_with_scores(pool)
    classes = np.asarray(classifier.classes_)
    counts = np.array([sum(1 for y in known_labels if str(y) == str(c)) for c in classes])
    vectors = embed(classifier, pool)
    labelled_vectors = (
        embed(classifier, list(known_texts))
        if len(known_texts)
        else np.zeros((0, vectors.shape[1]), np.float32)
    )
    view = PoolView(proba, vectors, classes, labelled_vectors, counts)
    rng = np.random.default_rng(seed)
    order = np.asarray(ranker.rank(view, min(budget, len(pool)), rng), dtype=int)
    scores = ranker.scores(view)
    rows = [
        _row(rank, keep[i], pool[i], proba[i], classes, None if scores is None else scores[i], ids)
        for rank, i in enumerate(order, 1)
    ]
    candidates = _out_of_scope(view, pool, keep, in_scope, out_of_scope, ids)
    return Suggestions(rows, candidates, strategy, skipped)


def _row(rank, row, text, proba, classes, score, ids) -> dict[str, Any]:
    """One suggestion as the output file shows it."""
    ranked = np.argsort(-proba, kind="stable")
    first, second = ranked[0], ranked[min(1, len(ranked) - 1)]
    out: dict[str, Any] = {"rank": rank, "row": row + 1}
    if ids is not None:
        out["id"] = ids[row]
    out.update(
        text=text,
        suggested_label=str(classes[first]),
        probability=round(float(proba[first]), 4),
        second_label=str(classes[second]),
        second_probability=round(float(proba[second]), 4),
    )
    if score is not None:
        out["score"] = round(float(score), 4)
    out["label"] = ""
    return out


def _out_of_scope(view: PoolView, pool, keep, in_scope, count: int, ids) -> list[dict[str, Any]]:
    """The ``count`` pool texts least likely in scope, grouped by similarity (average-linkage
    clustering on cosine distance, cut at ``GROUP_SIMILARITY``), the largest group first."""
    if count <= 0:
        return []
    scored = in_scope if in_scope is not None else view.proba.max(1)
    key = "in_scope_score" if in_scope is not None else "probability"
    chosen = np.argsort(scored, kind="stable")[: min(count, len(pool))]
    groups = _groups(view.vectors[chosen])
    sizes = np.bincount(groups)
    # the largest group first; within one, the least in scope first
    order = sorted(
        range(len(chosen)), key=lambda k: (-sizes[groups[k]], groups[k], scored[chosen[k]])
    )
    numbering: dict[int, int] = {}
    rows = []
    for k in order:
        i = int(chosen[k])
        group = numbering.setdefault(int(groups[k]), len(numbering) + 1)
        row: dict[str, Any] = {"group": group, "row": keep[i] + 1}
        if ids is not None:
            row["id"] = ids[keep[i]]
        row.update(
            text=pool[i],
            **{key: round(float(scored[i]), 4)},
            closest_label=str(view.classes[view.predicted[i]]),
        )
        rows.append(row)
    return rows


def _groups(vectors: np.ndarray) -> np.ndarray:
    """A group number per vector: average-linkage clusters at cosine similarity
    ``GROUP_SIMILARITY`` (scikit-learn)."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    clustering = AgglomerativeClustering(
        n_clusters=None,
        metric="cosine",
        linkage="average",
        distance_threshold=1.0 - GROUP_SIMILARITY,
    )
    return clustering.fit_predict(vectors)
