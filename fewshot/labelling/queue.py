"""The order in which the labelling page shows the pool's texts."""

from __future__ import annotations

import numpy as np


def rank_pool(
    model,
    proba: np.ndarray,
    pool: list[str],
    open_rows: np.ndarray,
    texts: list[str],
    labels: list,
    *,
    ranker,
    multi_label: bool,
    take: int,
    rng: np.random.Generator,
) -> list[int]:
    """The rows of ``open_rows`` (pool rows not decided yet) best to label first, at most
    ``take``: the acquisition strategy's order (``ranker``) for a single-label project, the
    least certain decision first for a multi-label one, and before either, for each class
    without a label (among ``labels``, those of ``texts``), the text the model finds most like
    it: an uncertainty strategy alone can go a long time without showing an easy class, and the
    model stays zero-shot until every class has a label."""
    from fewshot.acquisition.base import PoolView
    from fewshot.labelling.suggest import embed

    if not len(open_rows):
        return []
    take = min(take, len(open_rows))
    classes = np.asarray(model.classes_)
    counts = np.array(
        [sum(1 for y in labels if (c in y if multi_label else y == c)) for c in classes]
    )
    if multi_label:
        doubt = np.abs(proba[open_rows] - 0.5).min(axis=1)
        order = np.argsort(doubt, kind="stable")[:take]
    else:
        vectors = embed(model, pool)
        where = {text: i for i, text in enumerate(pool)}
        labelled = vectors[np.array([where[t] for t in texts], dtype=int)]
        view = PoolView(proba[open_rows], vectors[open_rows], classes, labelled, counts)
        order = np.asarray(ranker.rank(view, take, rng), dtype=int)
    first: list[int] = []
    for j in np.flatnonzero(counts == 0):
        likeliest = np.argsort(-proba[open_rows, j], kind="stable")
        first.append(int(next(i for i in likeliest if i not in first)))
    ranked = first + [int(i) for i in order if i not in first]
    return open_rows[ranked[:take]].tolist()
