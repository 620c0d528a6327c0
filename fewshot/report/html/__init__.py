"""``fewshot report``: one self-contained HTML page of a benchmark's results, with figures.

    from fewshot.report.html import write_report
    write_report(["runs/banking77"], "report.html", figures="figures/")

Needs matplotlib (``pip install 'fewshot[report]'``). The data flows one way: run directories
(:mod:`~fewshot.report.html.runs`) → figures (:mod:`~fewshot.report.html.figures`) → the page
(:mod:`~fewshot.report.html.page`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from fewshot.errors import ConfigError
from fewshot.util.files import check_output_file, write_atomic

#: Lists what ``--figures DIR`` holds, so that a later report replaces only its own files.
FIGURES_INDEX = "fewshot-figures.json"

__all__ = ["require_matplotlib", "write_report"]


def require_matplotlib() -> None:
    """Refuse, in one line, before any work, where the ``report`` extra is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError("reports need matplotlib: pip install 'fewshot[report]'") from None


def _check_report_path(out: Path, inputs: list[Path]) -> None:
    check_output_file(
        out, inputs=[d / name for d in inputs for name in ("results.json", "run.json")]
    )
    if out.exists() and out.stat().st_size:
        with open(out, encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
        from fewshot.report.html.page import GENERATOR

        if f'content="{GENERATOR}"' not in head:
            raise ConfigError(
                f"{out}: exists and is not a fewshot report; choose another --out "
                "(fewshot replaces only its own reports)"
            )


def _check_figures_dir(directory: Path) -> list[str]:
    """The files an earlier report wrote in ``directory``; refuses a directory that holds
    anything else."""
    if not directory.exists():
        return []
    if not directory.is_dir():
        raise ConfigError(f"--figures {directory}: exists and is not a directory")
    index = directory / FIGURES_INDEX
    present = sorted(p.name for p in directory.iterdir())
    if not present:
        return []
    if not index.is_file():
        raise ConfigError(
            f"--figures {directory}: not empty and not written by fewshot report "
            f"(no {FIGURES_INDEX}); choose a new or empty directory"
        )
    try:
        owned = json.loads(index.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ConfigError(f"{index}: damaged; choose a new or empty --figures directory") from None
    foreign = sorted(set(present) - set(owned) - {FIGURES_INDEX})
    if foreign:
        raise ConfigError(
            f"--figures {directory}: holds {foreign[0]}, which fewshot report did not write; "
            "choose a new or empty directory"
        )
    return owned


def write_report(
    run_dirs: list[str | Path], out: str | Path, *, figures: str | Path | None = None
) -> list[str]:
    """Write the report of ``run_dirs`` to ``out`` (HTML), and each figure as SVG and PNG under
    ``figures``; returns the figures' titles. Every input is checked before anything is written."""
    from fewshot.report.html.runs import drawing, load_runs

    out = Path(out)
    runs = load_runs(list(run_dirs))  # the runs first: what is wrong with them, whatever is missing
    require_matplotlib()
    import matplotlib

    from fewshot.report.html.figures import all_figures
    from fewshot.report.html.page import page, svg

    _check_report_path(out, [run.path for run in runs])
    earlier = _check_figures_dir(Path(figures)) if figures is not None else []
    # Fixed ids and no dates inside the SVGs: the same runs give the same report, byte for byte.
    with matplotlib.rc_context({"svg.hashsalt": "fewshot"}):
        plots = all_figures(runs)
        drawn = {plot.slug: svg(plot.figure) for plot in plots}
        with drawing(runs, "tables"):
            text = page(runs, plots, drawn)
        if figures is not None:
            directory = Path(figures)
            directory.mkdir(parents=True, exist_ok=True)
            written = []
            for plot in plots:
                write_atomic(directory / f"{plot.slug}.svg", drawn[plot.slug])
                png = io.BytesIO()
                plot.figure.savefig(png, format="png", dpi=150, metadata={"Software": None})
                write_atomic(directory / f"{plot.slug}.png", png.getvalue())
                written += [f"{plot.slug}.svg", f"{plot.slug}.png"]
            for stale in set(earlier) - set(written):
                (directory / stale).unlink(missing_ok=True)
            write_atomic(
                directory / FIGURES_INDEX,
                json.dumps({"format": "fewshot-figures", "files": sorted(written)}, indent=2)
                + "\n",
            )
    write_atomic(out, text)
    return [plot.title for plot in plots]
