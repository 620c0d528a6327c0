"""What every figure of the report is drawn with: the figure record (:class:`Plot`), one colour per
learner across all figures, grids of panels, ranked bars, and the names settings are shown under."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from fewshot.report.html.runs import Run

#: Per-class bars shown at most (the lowest ones: what needs attention).
MAX_CLASSES = 80

#: Classes in a confusion matrix: those most often confused.
CONFUSED_CLASSES = 12


@dataclass
class Plot:
    """One figure of the report: ``slug`` names its files under ``--figures``."""

    slug: str
    title: str
    caption: str
    figure: Figure


def natural(text: str) -> list:
    """A sort key that reads numbers as numbers: "5-shot" before "10-shot"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def ok(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("status") == "ok" and r.get("accuracy") is not None]


def setting_name(r: dict[str, Any], *, shots: bool = True) -> str:
    """The setting of a record in words: ``banking77:test 5-way 1-shot``, and the unlabelled
    pool a full-way run offered its learners, if any (a setting of its own)."""
    if r.get("pool"):
        return f"{r['dataset']} active learning from {r['pool']} ({r.get('start')})"
    if r.get("source"):
        where = f"{r['source']} → {r['target']}"
    else:
        where = r["dataset"] + (f" [{r['domain']}]" if r.get("domain") else "")
    if r.get("multi_label"):
        kind = "multi-label " + ("full-way" if r.get("full_way") else f"{r['ways']}-way")
    elif r.get("oos"):
        kind = "out-of-scope " + ("full-way" if r.get("full_way") else f"{r['ways']}-way")
    elif r.get("full_way"):
        kind = "full-way"
    else:
        kind = f"{r['ways']}-way" if r.get("ways") else r.get("protocol", "")
    pool = f", unlabelled {r['unlabeled_data']}" if r.get("unlabeled_data") else ""
    return f"{where} {kind}" + (f" {r['shots']}-shot" if shots else "") + pool


class Palette:
    """One colour per series (learner, and run where several), the same in every figure."""

    def __init__(self, names: Iterable[str]):
        import matplotlib

        colours = matplotlib.colormaps["tab10"].colors
        self._colour = {n: colours[i % len(colours)] for i, n in enumerate(sorted(set(names)))}

    def __call__(self, name: str):
        return self._colour.get(name, "grey")


def run_records(runs: list[Run]) -> list[tuple[Run, str, dict[str, Any]]]:
    several = len(runs) > 1
    return [(run, run.series(r["learner"], several), r) for run in runs for r in ok(run.records)]


def panel_grid(count: int, width: float = 4.2, height: float = 3.2, columns: int = 3):
    columns = min(columns, count)
    rows = -(-count // columns)
    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for extra in axes[count:]:
        extra.set_visible(False)
    return figure, axes[:count]


def ranked_bars(
    title: str, rows: dict[str, dict[str, float]], colour: Palette, xlabel: str
) -> Figure:
    """Horizontal bars of the best series per row, sorted (lowest first at the top, cut to the
    MAX_CLASSES lowest), with the other series as markers on the same rows."""
    best = max(rows, key=lambda s: np.mean(list(rows[s].values())))
    labels = sorted(rows[best], key=lambda k: (rows[best][k], k))[:MAX_CLASSES]
    figure = Figure(figsize=(7.5, 1.0 + 0.17 * len(labels)), layout="constrained")
    ax = figure.subplots()
    positions = np.arange(len(labels))[::-1]
    ax.barh(positions, [rows[best][k] for k in labels], color=colour(best), alpha=0.75, label=best)
    for name, values in sorted(rows.items()):
        if name != best:
            ax.plot(
                [values.get(k, np.nan) for k in labels],
                positions,
                "o",
                markersize=3,
                color=colour(name),
                label=name,
            )
    ax.set_yticks(positions, labels, fontsize=6)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.set_xlim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    # Beside the bars, not over them: the lowest bars are the ones a reader came to see.
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return figure


def by_setting(
    runs: list[Run], keep: Callable[[dict[str, Any]], bool]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Records that ``keep`` accepts, by setting, then by series."""
    settings: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for _, name, r in run_records(runs):
        if keep(r):
            settings[setting_name(r)][name] = r
    return dict(sorted(settings.items(), key=lambda item: natural(item[0])))


def most_confused(confusion: list[list], count: int = CONFUSED_CLASSES) -> list[str]:
    """The classes most involved in errors (as gold or as prediction)."""
    errors: dict[str, int] = defaultdict(int)
    for gold, predicted, n in confusion:
        if gold != predicted:
            errors[gold] += n
            errors[predicted] += n
    return sorted(errors, key=lambda k: (-errors[k], k))[:count]
