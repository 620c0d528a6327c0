"""The report as one self-contained HTML page: metadata, tables and the figures inlined as SVG.

Nothing on the page refers to another file or host (no external script, style, font or image),
so it works offline, from a file:// URL and attached to an e-mail; it prints on A4.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from fewshot.evaluation.records import FIELDS
from fewshot.report.html.plotting import Plot, natural, ok, setting_name
from fewshot.report.html.runs import Run

#: Marks a file as a fewshot report, so that ``--out`` replaces only its own reports.
GENERATOR = "fewshot report"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 1180px; padding: 1.5em; color: #1a1a1a; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f4f4f4; cursor: pointer; user-select: none; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.failed { color: #b00020; }
figure { margin: 1.2em 0; page-break-inside: avoid; break-inside: avoid; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #444; max-width: 60em; }
nav ul { columns: 2; font-size: 0.9em; } .meta td:first-child { color: #555; white-space: nowrap; }
@media print { body { max-width: none; padding: 0; } th { cursor: auto; } nav { display: none; } }
"""

# Click a column heading to sort by it (numbers as numbers; a second click reverses).
SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, column) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var down = th.dataset.order !== "asc";
    th.dataset.order = down ? "asc" : "desc";
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.value || a.cells[column].textContent;
      var y = b.cells[column].dataset.value || b.cells[column].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var order = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
      return down ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def svg(figure) -> str:
    """The figure as SVG text, the same bytes for the same figure (no date, fixed ids)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _cell(value: Any, digits: int = 3) -> str:
    sort = "" if value is None else f' data-value="{value}"'
    return f'<td class="num"{sort}>{_number(value, digits)}</td>'


def metadata_table(run: Run) -> str:
    meta = run.meta
    seeds = sorted({r.get("seed") for r in run.records if r.get("seed") is not None})
    data = meta.get("parts", {}).get("data", {})
    rows = [
        ("run directory", str(run.path)),
        ("suite", meta.get("suite", "")),
        ("command", " ".join(["fewshot", *meta.get("argv", [])])),
        ("fewshot version", meta.get("fewshot_version", "")),
        ("encoder", meta.get("encoder", "")),
        ("device", meta.get("device", "")),
        ("executor", ", ".join(f"{k} {v}" for k, v in meta.get("executor", {}).items())),
        ("seeds", ", ".join(map(str, seeds))),
        ("results written", run.written),
        ("fingerprint", meta.get("fingerprint", "")),
    ]
    body = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows if v != "")
    if data:
        fingerprints = "<br>".join(f"{_e(spec)}: <code>{_e(h)}</code>" for spec, h in data.items())
        body += f"<tr><td>data fingerprints</td><td>{fingerprints}</td></tr>"
    return f'<table class="meta">{body}</table>'


#: The results table's number columns: record fields (headings from the record schema) and the
#: decimals shown.
RESULT_COLUMNS = (
    ("accuracy", 4),
    ("ci95", 4),
    ("macro_f1", 4),
    ("ece", 3),
    ("fit_seconds", 4),
    ("predict_seconds", 4),
)


def _heading(name: str) -> str:
    return f"<th>{_e(FIELDS[name].heading)}</th>"


def results_table(runs: list[Run]) -> str:
    several = len(runs) > 1
    rows = []
    for run in runs:
        for r in run.records:
            rows.append((run, r))
    rows.sort(key=lambda item: (natural(setting_name(item[1])), -(item[1].get("accuracy") or -1)))
    lines = []
    for run, r in rows:
        status = r.get("status", "")
        status_cell = (
            f"<td>{_e(status)}</td>"
            if status == "ok"
            else f'<td class="failed">{_e(status)}: {_e(r.get("error", ""))}</td>'
        )
        cells = [
            *([f"<td>{_e(run.name)}</td>"] if several else []),
            f"<td>{_e(setting_name(r))}</td>",
            f"<td>{_e(r['learner'])}</td>",
            *(_cell(r.get(name), digits) for name, digits in RESULT_COLUMNS),
            status_cell,
        ]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(
        [
            *(["<th>run</th>"] if several else []),
            "<th>setting</th>",
            _heading("learner"),
            *(_heading(name) for name, _ in RESULT_COLUMNS),
            _heading("status"),
        ]
    )
    return (
        f'<table class="sortable"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table>"
    )


def _comparison_setting(c: dict[str, Any]) -> str:
    if c.get("source"):
        return f"from {c['source']}, {c['shots']}-shot"
    if c.get("protocol") == "episodes":
        return f"{c['ways']}-way {c['shots']}-shot"
    return f"{c.get('protocol', '')} {c['shots']}-shot"


def comparisons_table(runs: list[Run]) -> str:
    lines = []
    for run in runs:
        for c in run.comparisons:
            lines.append(
                "<tr>"
                + (f"<td>{_e(run.name)}</td>" if len(runs) > 1 else "")
                + f"<td>{_e(c.get('target') or c['dataset'])}</td>"
                + f"<td>{_e(_comparison_setting(c))}</td>"
                + f"<td>{_e(c['learner_a'])}</td><td>{_e(c['learner_b'])}</td>"
                + f"<td>{_e(c.get('metric', 'accuracy'))}</td>"
                + _cell(c.get("difference"), 4)
                + _cell(c.get("ci95"), 4)
                + f'<td class="num" data-value="{c["p_value"]}">{c["p_value"]:.3g}</td>'
                + f"<td>{_e(c['test'])}</td></tr>"
            )
    if not lines:
        return ""
    head = ["dataset", "setting", "A", "B", "metric", "A − B", "± 95% CI", "p", "test"]
    if len(runs) > 1:
        head.insert(0, "run")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (
        f'<table class="sortable"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table>"
    )


def figure_html(plot: Plot, drawn: str) -> str:
    """``plot`` with its SVG text ``drawn``. An <img> of a data: URL keeps each SVG's ids to
    itself (inline SVGs would share the page's one namespace)."""
    data = base64.b64encode(drawn.encode()).decode()
    return (
        f'<figure id="{_e(plot.slug)}"><img alt="{_e(plot.title)}" '
        f'src="data:image/svg+xml;base64,{data}">'
        f"<figcaption><b>{_e(plot.title)}.</b> {_e(plot.caption)}</figcaption></figure>"
    )


def page(runs: list[Run], plots: list[Plot], drawn: dict[str, str]) -> str:
    """The HTML of ``runs`` with ``plots`` (``drawn``: each plot's SVG text by its slug)."""
    title = "fewshot report: " + ", ".join(run.name for run in runs)
    records = sum(len(r.records) for r in runs)
    failed = sum(len(r.records) - len(ok(r.records)) for r in runs)
    summary = f"{records} result records from {len(runs)} run(s)" + (
        f", {failed} failed or empty" if failed else ""
    )
    comparisons = comparisons_table(runs)
    sections = [
        ("results", "Results", results_table(runs)),
        *([("comparisons", "Paired comparisons", comparisons)] if comparisons else []),
        (
            "figures",
            "Figures",
            "".join(figure_html(p, drawn[p.slug]) for p in plots)
            or "<p>No figures: the runs hold no finished records.</p>",
        ),
        ("runs", "Runs", "".join(f"<h3>{_e(run.name)}</h3>{metadata_table(run)}" for run in runs)),
    ]
    contents = "".join(
        f'<li><a href="#{slug}">{_e(heading)}</a></li>' for slug, heading, _ in sections
    ) + "".join(f'<li><a href="#{_e(p.slug)}">{_e(p.title)}</a></li>' for p in plots)
    body = "".join(f'<h2 id="{slug}">{_e(h)}</h2>{content}' for slug, h, content in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="generator" content="{GENERATOR}">'
        # The page may load nothing from anywhere: its images are data: URLs, style and script inline.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1><p>{_e(summary)}</p><nav><ul>{contents}</ul></nav>{body}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
