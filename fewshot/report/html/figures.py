"""The report's figures, drawn with matplotlib from the records runs wrote.

Each ``*_figures`` function takes the runs and returns :class:`Plot` s (none where the runs hold
no data for it): accuracy against shots, paired comparisons as a forest plot, per-class accuracy,
the most-confused classes, reliability diagrams, timings, out-of-scope ROC curves, multi-label
per-label F1, cross-domain heat maps and active-learning curves (``learning_curves.py``). Figures are ``matplotlib.figure.Figure`` objects (no
pyplot, so no global state and no display is needed).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from fewshot.report.html.learning_curves import learning_curve_figures
from fewshot.report.html.plotting import (
    MAX_CLASSES,
    Palette,
    Plot,
    by_setting,
    most_confused,
    natural,
    panel_grid,
    ranked_bars,
    run_records,
    setting_name,
)
from fewshot.report.html.runs import Run, drawing


def accuracy_figures(runs: list[Run], colour: Palette) -> list[Plot]:
    """Accuracy against shots, one panel per dataset and setting kind, a line per learner."""
    panels: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for _, name, r in run_records(runs):
        if r.get("multi_label") or r.get("source") or r.get("pool"):
            continue  # no shots to plot against (active learning has its own curves)
        panels[setting_name(r, shots=False)][name].append(r)
    if not panels:
        return []
    figure, axes = panel_grid(len(panels))
    for ax, (title, lines) in zip(
        axes, sorted(panels.items(), key=lambda i: natural(i[0])), strict=True
    ):
        for name, records in sorted(lines.items()):
            records = sorted(records, key=lambda r: r["shots"])
            ax.errorbar(
                [r["shots"] for r in records],
                [r["accuracy"] for r in records],
                yerr=[r.get("ci95") or 0 for r in records],
                marker="o",
                capsize=3,
                label=name,
                color=colour(name),
            )
        ax.set_xticks(sorted({r["shots"] for records in lines.values() for r in records}))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("labelled examples per class (K)")
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return [
        Plot(
            "accuracy-vs-shots",
            "Accuracy against shots",
            "Mean accuracy per learner; error bars are the 95% confidence intervals (t-interval "
            "over episodes, normal interval over test examples for full-way runs).",
            figure,
        )
    ]


def forest_figures(runs: list[Run], colour: Palette) -> list[Plot]:
    """Every paired comparison: the difference A − B with its 95% CI; filled where p < 0.05."""
    rows = []
    for run in runs:
        for c in run.comparisons:
            if c.get("difference") is None:
                continue
            where = c.get("target") or c["dataset"]
            setting = (
                f"{c['protocol']} {c['shots']}-shot"
                if c.get("protocol") in ("full-way", "multi-label", "out-of-scope")
                else f"{c.get('ways')}-way {c['shots']}-shot"
            )
            label = f"{where} {setting}: {c['learner_a']} − {c['learner_b']}"
            if len(runs) > 1:
                label += f" ({run.name})"
            rows.append((label, c))
    if not rows:
        return []
    figure = Figure(figsize=(8.5, 1.2 + 0.32 * len(rows)), layout="constrained")
    ax = figure.subplots()
    for y, (_, c) in enumerate(reversed(rows)):
        significant = c["p_value"] < 0.05
        ax.errorbar(
            c["difference"],
            y,
            xerr=c.get("ci95") or 0,
            fmt="o",
            capsize=3,
            color="tab:blue" if c["difference"] >= 0 else "tab:red",
            markerfacecolor=None if significant else "white",
        )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.legend(
        handles=[
            Line2D([], [], color="tab:blue", marker="o", linestyle="", label="A better (A − B ≥ 0)"),
            Line2D([], [], color="tab:red", marker="o", linestyle="", label="B better"),
            Line2D([], [], color="grey", marker="o", linestyle="", label="p < 0.05"),
            Line2D([], [], color="grey", marker="o", markerfacecolor="white", linestyle="",
                   label="not significant"),
        ],
        fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False,
    )  # fmt: skip
    ax.set_yticks(range(len(rows)), [label for label, _ in reversed(rows)], fontsize=7)
    ax.set_xlabel("difference A − B (accuracy, or the comparison's metric) ± 95% CI")
    ax.grid(axis="x", alpha=0.3)
    return [
        Plot(
            "paired-comparisons",
            "Paired comparisons: forest plot",
            "Each row compares two learners on the same episodes or test examples (paired t-test "
            "over episodes, exact McNemar test over examples). Blue: A scored higher, red: B did; "
            "filled markers: p < 0.05, hollow: not significant. Right of the line: A is better.",
            figure,
        )
    ]


def per_class_figures(runs: list[Run], colour: Palette) -> list[Plot]:
    plots = []
    settings = by_setting(runs, lambda r: bool(r.get("per_class_accuracy")))
    for i, (setting, series) in enumerate(settings.items()):
        rows = {name: r["per_class_accuracy"] for name, r in series.items()}
        count = len(next(iter(rows.values())))
        shown = "every class" if count <= MAX_CLASSES else f"the {MAX_CLASSES} lowest of {count}"
        plots.append(
            Plot(
                f"per-class-accuracy-{i + 1}",
                f"Per-class accuracy: {setting}",
                f"Accuracy on the test examples of each class ({shown}), sorted by the best "
                "learner's (bars); the other learners are the dots.",
                ranked_bars(setting, rows, colour, "accuracy on the class's test examples"),
            )
        )
    return plots


def confusion_figures(runs: list[Run], colour: Palette) -> list[Plot]:
    plots = []
    settings = by_setting(runs, lambda r: bool(r.get("confusion")))
    for i, (setting, series) in enumerate(settings.items()):
        name, record = max(series.items(), key=lambda item: item[1]["accuracy"])
        classes = most_confused(record["confusion"])
        if len(classes) < 2:
            continue
        index = {c: j for j, c in enumerate(classes)}
        counts = np.zeros((len(classes), len(classes)), dtype=int)
        for gold, predicted, n in record["confusion"]:
            if gold in index and predicted in index:
                counts[index[gold], index[predicted]] = n
        figure = Figure(figsize=(7.5, 6.6), layout="constrained")
        ax = figure.subplots()
        image = ax.imshow(counts, cmap="Blues")
        for (g, p), n in np.ndenumerate(counts):
            if n:
                ax.text(
                    p,
                    g,
                    str(n),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if n > counts.max() / 2 else "black",
                )
        ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=6)
        ax.set_yticks(range(len(classes)), classes, fontsize=6)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.set_title(f"{setting}: {name}", fontsize=9)
        figure.colorbar(image, ax=ax, shrink=0.7, label="test examples")
        plots.append(
            Plot(
                f"confusion-{i + 1}",
                f"Most-confused classes: {setting}",
                f"The confusion matrix of {name} (the most accurate learner here) restricted to "
                f"the {len(classes)} classes most involved in its errors; rows are the gold "
                "classes, columns the predictions, cells count test examples.",
                figure,
            )
        )
    return plots


def reliability_figures(runs: list[Run], colour: Palette) -> list[Plot]:
    """Reliability diagrams: accuracy against confidence per bin, ECE in the legend."""
    settings = by_setting(runs, lambda r: bool(r.get("reliability")))
    if not settings:
        return []
    figure, axes = panel_grid(len(settings), width=3.6, height=3.4, columns=4)
    for ax, (setting, series) in zip(axes, settings.items(), strict=True):
        ax.plot([0, 1], [0, 1], color="black", linewidth=0.8, linestyle="--")
        for name, r in sorted(series.items()):
            bins = r["reliability"]
            count = np.asarray(bins["count"], dtype=float)
            used = count > 0
            ax.plot(
                np.asarray(bins["confidence"])[used] / count[used],
                np.asarray(bins["correct"])[used] / count[used],
                marker="o",
                markersize=3,
                color=colour(name),
                label=f"{name} (ECE {r['ece']:.3f})",
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(setting, fontsize=8)
        ax.set_xlabel("confidence (top probability)")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=6, loc="upper left")
        ax.grid(alpha=0.3)
    return [
        Plot(
            "reliability",
            "Calibration: reliability diagrams",
            "Predictions binned by their top probability (ten equal-width bins): the mean "
            "confidence in each bin against the share that was right. On the dashed diagonal a "
            "learner's probabilities can be trusted; below it, it is overconfident. ECE: the "
            "expected calibration error (count-weighted mean gap).",
            figure,
        )
    ]


def timing_figures(runs: list[Run], colour: Palette) -> list[Plot]:
    """Fit and predict seconds per task, per setting and learner (log scale)."""
    settings = by_setting(runs, lambda r: r.get("fit_seconds") is not None)
    if not settings:
        return []
    names = sorted({name for series in settings.values() for name in series})
    labels = list(settings)
    height = 1.2 + 0.22 * len(labels) * max(1, len(names)) / 2
    figure = Figure(figsize=(10, height), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    width = 0.8 / len(names)
    positions = np.arange(len(labels))[::-1]
    for ax, key, what in zip(
        axes, ("fit_seconds", "predict_seconds"), ("fit", "predict"), strict=True
    ):
        for j, name in enumerate(names):
            values = [settings[s].get(name, {}).get(key) for s in labels]
            ax.barh(
                positions + 0.4 - (j + 0.5) * width,
                [np.nan if v is None else max(v, 1e-5) for v in values],
                height=width,
                color=colour(name),
                label=name,
            )
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on short ranges
        ax.set_xlabel(f"{what} seconds per task (log scale)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(positions, labels, fontsize=7)
    axes[1].legend(fontsize=7)
    return [
        Plot(
            "timings",
            "Time per task",
            "Mean seconds to fit a learner on one task's support and to predict its queries "
            "(one episode, or the whole test split for full-way runs), as measured in the run.",
            figure,
        )
    ]


def roc_figures(runs: list[Run], colour: Palette) -> list[Plot]:
    """Out-of-scope ROC curves: one panel per setting and learner, a curve per scorer."""
    panels = []
    for _, name, r in run_records(runs):
        scorers = {s: m for s, m in (r.get("scorers") or {}).items() if m.get("roc")}
        if scorers:
            panels.append((f"{setting_name(r)}: {name}", scorers))
    if not panels:
        return []
    figure, axes = panel_grid(len(panels), width=3.6, height=3.4, columns=4)
    for ax, (title, scorers) in zip(axes, sorted(panels, key=lambda p: natural(p[0])), strict=True):
        for scorer, m in scorers.items():
            ax.plot(
                m["roc"]["fpr"], m["roc"]["tpr"], label=f"{scorer} (AUROC {m['oos_auroc']:.3f})"
            )
        ax.plot([0, 1], [0, 1], color="black", linewidth=0.8, linestyle="--")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("out-of-scope texts kept (FPR)")
        ax.set_ylabel("in-scope texts kept (TPR)")
        ax.legend(fontsize=6, loc="lower right")
        ax.grid(alpha=0.3)
    return [
        Plot(
            "out-of-scope-roc",
            "Out-of-scope detection: ROC curves",
            "How well each scorer tells in-scope from out-of-scope test texts, at every "
            "threshold; the thresholds the runs used come from the training data alone.",
            figure,
        )
    ]


def label_f1_figures(runs: list[Run], colour: Palette) -> list[Plot]:
    plots = []
    settings = by_setting(runs, lambda r: bool(r.get("label_f1")))
    for i, (setting, series) in enumerate(settings.items()):
        rows = {name: r["label_f1"] for name, r in series.items()}
        plots.append(
            Plot(
                f"label-f1-{i + 1}",
                f"Per-label F1: {setting}",
                "Multi-label F1 of each label (mean over the run's supports), sorted by the best "
                "learner's (bars); the other learners are the dots.",
                ranked_bars(setting, rows, colour, "F1 of the label"),
            )
        )
    return plots


def cross_domain_figures(runs: list[Run], colour: Palette) -> list[Plot]:
    """Accuracy of every (source, target) pair as a heat map, one panel per learner and K."""
    panels: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for _, name, r in run_records(runs):
        if r.get("source"):
            source = r["source"] + (f"[{r['source_domain']}]" if r.get("source_domain") else "")
            target = r["target"] + (f"[{r['target_domain']}]" if r.get("target_domain") else "")
            panels[f"{name}, {r['shots']}-shot"][(source, target)] = r["accuracy"]
    if not panels:
        return []
    figure, axes = panel_grid(len(panels), width=4.6, height=4.2, columns=3)
    for ax, (title, cells) in zip(
        axes, sorted(panels.items(), key=lambda i: natural(i[0])), strict=True
    ):
        sources = sorted({s for s, _ in cells})
        targets = sorted({t for _, t in cells})
        grid = np.full((len(sources), len(targets)), np.nan)
        for (s, t), value in cells.items():
            grid[sources.index(s), targets.index(t)] = value
        image = ax.imshow(grid, cmap="viridis", vmin=np.nanmin(grid), vmax=np.nanmax(grid))
        for (a, b), value in np.ndenumerate(grid):
            if not np.isnan(value):
                ax.text(b, a, f"{value:.2f}", ha="center", va="center", fontsize=6, color="white")
        ax.set_xticks(range(len(targets)), targets, rotation=45, ha="right", fontsize=6)
        ax.set_yticks(range(len(sources)), sources, fontsize=6)
        ax.set_xlabel("target")
        ax.set_ylabel("source")
        ax.set_title(title, fontsize=8)
        figure.colorbar(image, ax=ax, shrink=0.7)
    return [
        Plot(
            "cross-domain",
            "Cross-domain pairs",
            "Accuracy on each target domain of a learner adapted from each source domain.",
            figure,
        )
    ]


FIGURES = (
    accuracy_figures,
    forest_figures,
    per_class_figures,
    confusion_figures,
    reliability_figures,
    timing_figures,
    roc_figures,
    label_f1_figures,
    cross_domain_figures,
    learning_curve_figures,
)


def all_figures(runs: list[Run]) -> list[Plot]:
    """Every figure the runs have data for, in the report's order."""
    colour = Palette(name for _, name, _ in run_records(runs))
    plots = []
    for draw in FIGURES:
        with drawing(runs, draw.__name__.removesuffix("_figures").replace("_", " ") + " figures"):
            plots += draw(runs, colour)
    return plots
