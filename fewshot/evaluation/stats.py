"""The statistics of a benchmark: means with confidence intervals, macro-F1 and paired tests.

Intervals and tests come from scipy; macro-F1 is computed here because it runs once per episode
(thousands of times a run) and scikit-learn's ``f1_score`` costs a millisecond a call (a test
checks that the two agree).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-averaged F1 over the classes present in ``y_true``."""
    classes, true_codes = np.unique(y_true, return_inverse=True)
    y_pred = np.asarray(y_pred, dtype=classes.dtype if classes.dtype != object else object)
    positions = np.minimum(np.searchsorted(classes, y_pred), len(classes) - 1)
    pred_codes = np.where(classes[positions] == y_pred, positions, -1)
    k = len(classes)
    hit = pred_codes == true_codes
    tp = np.bincount(true_codes[hit], minlength=k)
    support = np.bincount(true_codes, minlength=k)
    predicted = np.bincount(pred_codes[pred_codes >= 0], minlength=k)
    denominator = support + predicted
    f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    return float(f1.mean())


def mean_ci95(values: np.ndarray) -> float | None:
    """Half-width of the 95% t-interval of the mean; None for a single value."""
    if len(values) < 2:
        return None
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def proportion_ci95(proportion: float, n: int) -> float:
    """Half-width of the 95% normal interval of a proportion over ``n`` independent trials."""
    return float(1.96 * np.sqrt(proportion * (1 - proportion) / n))


def paired_t(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Paired t-test of per-episode scores ``a`` against ``b`` (the same episodes)."""
    diff = a - b
    if np.all(diff == diff[0]):  # no spread: the t-test is undefined
        p = 1.0 if diff[0] == 0 else 0.0
    else:
        p = float(stats.ttest_rel(a, b).pvalue)
    return {
        "test": "paired-t",
        "ci95": mean_ci95(diff),
        "p_value": p,
        "a_wins": int(np.sum(diff > 0)),
        "b_wins": int(np.sum(diff < 0)),
        "ties": int(np.sum(diff == 0)),
    }


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Exact McNemar test of per-example correctness ``a`` against ``b`` (1/0, same examples),
    with a 95% interval of the accuracy difference."""
    diff = a - b
    a_only, b_only, n = int(np.sum(diff > 0)), int(np.sum(diff < 0)), len(diff)
    discordant = a_only + b_only
    p = stats.binomtest(min(a_only, b_only), discordant, 0.5).pvalue if discordant else 1.0
    spread = np.sqrt(max(discordant - (a_only - b_only) ** 2 / n, 0.0)) / n
    return {
        "test": "mcnemar-exact",
        "ci95": float(1.96 * spread),
        "p_value": float(p),
        "a_only": a_only,
        "b_only": b_only,
    }


#: Equal-width confidence bins of the reliability diagrams (0-0.1, ..., 0.9-1.0).
RELIABILITY_BINS = 10


def reliability_bins(proba: np.ndarray, correct: np.ndarray) -> dict[str, list]:
    """What a reliability diagram needs from one set of predictions, in ten equal-width bins of
    the top probability (the confidence): how many predictions fell in each bin, their summed
    confidence and how many were right. Sums, so that episodes add up (see ``add_reliability``).

    Confidences are rounded to 3 decimals first: probabilities computed with different thread
    counts differ in their last bits, and results must not depend on the executor."""
    confidence = np.round(np.asarray(proba, dtype=np.float64).max(axis=1), 3)
    where = np.minimum((confidence * RELIABILITY_BINS).astype(int), RELIABILITY_BINS - 1)
    return {
        "count": np.bincount(where, minlength=RELIABILITY_BINS).tolist(),
        "confidence": np.round(
            np.bincount(where, weights=confidence, minlength=RELIABILITY_BINS), 3
        ).tolist(),
        "correct": np.bincount(
            where, weights=np.asarray(correct, dtype=np.float64), minlength=RELIABILITY_BINS
        )
        .astype(int)
        .tolist(),
    }


def add_reliability(parts: list[dict[str, list]]) -> dict[str, list] | None:
    """The bins of several outcomes together (None where any outcome has none, e.g. a journal
    written before fewshot recorded them)."""
    if not parts or any(p is None for p in parts):
        return None
    return {
        key: np.round(np.sum([p[key] for p in parts], axis=0), 3).tolist()
        for key in ("count", "confidence", "correct")
    }


def expected_calibration_error(bins: dict[str, list] | None) -> float | None:
    """ECE: the count-weighted mean gap between confidence and accuracy over the bins."""
    if bins is None:
        return None
    count = np.asarray(bins["count"], dtype=np.float64)
    if count.sum() == 0:
        return None
    used = count > 0
    gap = np.abs(np.asarray(bins["confidence"])[used] - np.asarray(bins["correct"])[used])
    return float(gap.sum() / count.sum())
