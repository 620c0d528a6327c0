"""The active-learning figure: accuracy against labels used, a line per strategy, one panel per
setting and learner (from the records' ``curves``)."""

from __future__ import annotations

from fewshot.report.html.plotting import (
    Palette,
    Plot,
    natural,
    panel_grid,
    run_records,
    setting_name,
)
from fewshot.report.html.runs import Run


def learning_curve_figures(runs: list[Run], colour: Palette) -> list[Plot]:
    panels = []
    for _, name, r in run_records(runs):
        if r.get("curves"):
            panels.append((f"{setting_name(r)}: {name}", r["curves"]))
    if not panels:
        return []
    strategies = Palette(s for _, curves in panels for s in curves)
    figure, axes = panel_grid(len(panels), width=5.0, height=3.6, columns=2)
    for ax, (title, curves) in zip(axes, sorted(panels, key=lambda p: natural(p[0])), strict=True):
        for strategy, points in curves.items():
            ax.errorbar(
                [p["labels"] for p in points],
                [p["accuracy"] for p in points],
                yerr=[p.get("ci95") or 0 for p in points],
                marker="o",
                markersize=3,
                capsize=2,
                label=strategy,
                color=strategies(strategy),
                linestyle="--" if strategy in ("random", "class-balanced") else "-",
            )
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("labelled texts")
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")
    return [
        Plot(
            "learning-curves",
            "Active learning: accuracy against labels",
            "Mean test accuracy over the seeds after each round of labelling, with its 95% "
            "interval; dashed: random and class-balanced sampling (the references).",
            figure,
        )
    ]
