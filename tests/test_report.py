"""``fewshot report`` and ``bench --report``: real runs on the bundled data, drawn with matplotlib,
opened in a real headless Chromium (the ``browser`` marker)."""

from __future__ import annotations

import gzip
import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from fewshot.cli import main
from tests.conftest import docs_module, run_fewshot

pytestmark = [pytest.mark.report, pytest.mark.integration]

BANKING_SUITE = """
name = "banking77-small"
seed = 0
learners = ["protonet", "logreg"]

[[episodes]]
dataset = "banking77:test"
ways = 5
shots = [1, 5]
queries = 15
episodes = 20

[[full_way]]
train = "banking77:train_5"
test = "banking77:test"
"""

#: The figures the issue asks of the banking77 suite's report.
BANKING_FIGURES = (
    "accuracy-vs-shots",
    "paired-comparisons",
    "per-class-accuracy-1",
    "confusion-1",
    "reliability",
    "timings",
)


@pytest.fixture(scope="module")
def banking_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    (root / "suite.toml").write_text(BANKING_SUITE)
    out = root / "banking77"
    result = run_fewshot("bench", str(root / "suite.toml"), "--out", str(out), "--report")
    assert result.returncode == 0, result.stderr
    assert f"report: {out / 'report.html'}" in result.stderr
    return out


def _figure_ids(html: str) -> list[str]:
    return [part.split('"', 1)[0] for part in html.split('<figure id="')[1:]]


def test_bench_report_holds_the_issue_figures_and_loads_nothing(banking_run):
    html = (banking_run / "report.html").read_text()
    assert set(BANKING_FIGURES) <= set(_figure_ids(html))
    assert '<meta name="generator" content="fewshot report">' in html
    # Self-contained: no address of any other file or host in an attribute.
    for attribute in ("src=", "href="):
        for value in html.split(attribute)[1:]:
            assert value[1:].startswith(("data:", "#")), value[:60]
    assert (
        "<th>accuracy</th>" in html
        and "logreg" in html
        and "banking77:test full-way 5-shot" in html
    )
    assert "data fingerprints" in html and "banking77:train_5" in html


def test_records_keep_what_the_plots_need(banking_run, registry, encoder):
    records = json.loads((banking_run / "results.json").read_text())
    full_way = next(r for r in records if r["full_way"] and r["learner"] == "logreg")
    confusion = full_way["confusion"]
    assert sum(n for _, _, n in confusion) == full_way["queries"] == 3080
    for label, accuracy in full_way["per_class_accuracy"].items():
        row = {p: n for g, p, n in confusion if g == label}
        assert row.get(label, 0) / sum(row.values()) == pytest.approx(accuracy)
    # The reliability bins against an independent computation from a refit of the same learner.
    train, test = (registry.datasets.load(f"banking77:{s}") for s in ("train_5", "test"))
    learner = registry.make_learner("logreg").fit(encoder.encode(train.texts), train.label_array)
    proba = learner.predict_proba(encoder.encode(test.texts))
    confidence = proba.max(axis=1)
    correct = np.asarray(learner.classes_)[proba.argmax(axis=1)] == test.label_array
    ece = 0.0
    for low in np.arange(10) / 10:
        inside = (confidence >= low) & ((confidence < low + 0.1) | (low == 0.9))
        if inside.any():
            ece += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    assert full_way["ece"] == pytest.approx(ece, abs=2e-3)  # confidences kept to 3 decimals
    bins = full_way["reliability"]
    assert sum(bins["count"]) == 3080 and sum(bins["correct"]) / 3080 == full_way["accuracy"]
    # Episodes: the bins of all queries of all episodes.
    episodes = next(r for r in records if not r["full_way"] and r["shots"] == 5)
    bins = episodes["reliability"]
    assert sum(bins["count"]) == 20 * 5 * 15
    assert sum(bins["correct"]) / sum(bins["count"]) == pytest.approx(episodes["accuracy"])
    assert 0 < episodes["ece"] < 0.5


def test_the_same_runs_give_the_same_report(banking_run, tmp_path):
    for name in ("a.html", "b.html"):
        assert main(["report", str(banking_run), "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()
    assert (tmp_path / "a.html").read_bytes() == (banking_run / "report.html").read_bytes()


def test_figures_as_files_and_only_our_own_replaced(banking_run, tmp_path):
    from PIL import Image

    figures = tmp_path / "figures"
    out = tmp_path / "report.html"
    for _ in range(2):  # a second report replaces its own figures
        result = run_fewshot(
            "report", str(banking_run), "--out", str(out), "--figures", str(figures)
        )
        assert result.returncode == 0, result.stderr
    index = json.loads((figures / "fewshot-figures.json").read_text())
    assert sorted(p.name for p in figures.iterdir()) == sorted(
        [*index["files"], "fewshot-figures.json"]
    )
    for slug in BANKING_FIGURES:
        assert (figures / f"{slug}.svg").read_text().lstrip().startswith("<?xml")
        with Image.open(figures / f"{slug}.png") as image:
            assert image.width > 400 and np.asarray(image.convert("L")).std() > 10
    (figures / "notes.txt").write_text("mine")
    result = run_fewshot("report", str(banking_run), "--out", str(out), "--figures", str(figures))
    assert result.returncode == 2
    assert "holds notes.txt, which fewshot report did not write" in result.stderr
    assert (figures / "notes.txt").read_text() == "mine"


def test_refusals_are_one_line_and_change_nothing(banking_run, tmp_path, capsys):
    mine = tmp_path / "mine.html"
    mine.write_text("<html>my own page</html>")
    cases = [
        (
            ["report", str(banking_run), "--out", str(mine)],
            "mine.html: exists and is not a fewshot report",
        ),
        (
            ["report", str(tmp_path), "--out", str(tmp_path / "r.html")],
            "run.json: no run.json there",
        ),
        (["report", str(banking_run), str(banking_run)], "several runs need --out FILE"),
        (["report", str(tmp_path / "missing")], "missing: not a directory"),
    ]
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    cases.append((["report", str(tmp_path / "broken")], "run.json: not valid JSON"))
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2
        stderr = capsys.readouterr().err
        assert message in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert mine.read_text() == "<html>my own page</html>"
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "broken" / "report.html").exists()


def test_settings_in_numeric_order_and_figures_that_explain_themselves(banking_run):
    """5-shot before 10-shot; the forest plot says what its colours and fills mean; the
    per-class legend stands beside the bars, not over them; no lock file is left behind."""
    from fewshot.report.html.figures import forest_figures, per_class_figures
    from fewshot.report.html.plotting import Palette, natural
    from fewshot.report.html.runs import load_runs

    names = ["b 10-way 10-shot", "b 5-way 10-shot", "b 5-way 5-shot", "a full-way 10-shot"]
    assert sorted(names, key=natural) == [
        "a full-way 10-shot", "b 5-way 5-shot", "b 5-way 10-shot", "b 10-way 10-shot",
    ]  # fmt: skip
    runs = load_runs([banking_run])
    colour = Palette(["protonet", "logreg"])
    [forest] = forest_figures(runs, colour)
    legend = forest.figure.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "A better (A − B ≥ 0)", "B better", "p < 0.05", "not significant",
    ]  # fmt: skip
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    per_class = per_class_figures(runs, colour)[0].figure
    renderer = FigureCanvasAgg(per_class).get_renderer()
    per_class.draw(renderer)
    axes, legend = per_class.axes[0], per_class.axes[0].get_legend()
    box, plot = legend.get_window_extent(renderer), axes.get_window_extent(renderer)
    assert box.x0 >= plot.x1  # right of the plotting area
    assert not (banking_run / ".fewshot-bench.lock").exists()


def test_a_full_way_run_with_an_unlabelled_pool_is_a_setting_of_its_own():
    from fewshot.report.html.plotting import setting_name

    plain = {"dataset": "banking77:test", "full_way": True, "shots": 5}
    pooled = {**plain, "unlabeled_data": "banking77:train"}
    assert setting_name(plain) == "banking77:test full-way 5-shot"
    assert setting_name(pooled) == "banking77:test full-way 5-shot, unlabelled banking77:train"


def test_several_runs_side_by_side(banking_run, tmp_path):
    for name in ("before", "after"):
        shutil.copytree(banking_run, tmp_path / name)
    out = tmp_path / "compare.html"
    result = run_fewshot(
        "report", str(tmp_path / "before"), str(tmp_path / "after"), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert "<th>run</th>" in html and "<td>before</td>" in html and "<td>after</td>" in html
    assert html.count("<h3>") == 2 and set(BANKING_FIGURES) <= set(_figure_ids(html))


def _goemotions(split: str, rows: int) -> list[dict]:
    path = resources.files("fewshot.data") / "bundled" / "goemotions" / f"{split}.jsonl.gz"
    with gzip.open(str(path), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle][:rows]


def test_out_of_scope_multi_label_and_cross_domain_figures(tmp_path):
    for name, rows in (("train", _goemotions("valid", 6000)), ("test", _goemotions("test", 800))):
        with open(tmp_path / f"{name}.jsonl", "w") as handle:
            for row in rows:
                handle.write(json.dumps({"text": row["text"], "labels": row["labels"]}) + "\n")
    suite = f"""
learners = ["logreg", "protonet"]
[[full_way]]
train = "clinc150:train_5"
test = "clinc150:test"
oos = "clinc150:oos_test"
scorers = ["msp", "cosine"]
[[multi_label]]
train = "{tmp_path / "train.jsonl"}"
test = "{tmp_path / "test.jsonl"}"
shots = 8
seeds = 1
[[cross_domain]]
source = ["amazon_reviews:books", "amazon_reviews:kitchen"]
target = ["amazon_reviews:books", "amazon_reviews:kitchen"]
shots = [8]
seeds = 3
"""
    (tmp_path / "suite.toml").write_text(suite)
    out = tmp_path / "run"
    result = run_fewshot("bench", str(tmp_path / "suite.toml"), "--out", str(out), "--report")
    assert result.returncode == 0, result.stderr
    ids = _figure_ids((out / "report.html").read_text())
    assert {"out-of-scope-roc", "label-f1-1", "cross-domain"} <= set(ids)
    records = {r["protocol"]: r for r in json.loads((out / "results.json").read_text())}
    roc = records["out-of-scope"]["scorers"]["msp"]["roc"]
    assert len(roc["fpr"]) == len(roc["tpr"]) == 101 and roc["tpr"][-1] == 1.0
    # The area under the kept curve is the recorded AUROC, to the grid's resolution.
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(
        records["out-of-scope"]["scorers"]["msp"]["oos_auroc"], abs=0.01
    )
    assert len(records["multi-label"]["label_f1"]) == 28


@pytest.mark.browser
def test_the_report_renders_in_a_real_browser_offline(banking_run, tmp_path):
    """Headless Chromium opens the report from a file:// URL: every figure is drawn (not blank),
    the console has no error, and the page asks for nothing but itself."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    url = (banking_run / "report.html").resolve().as_uri()
    requests, errors = [], []
    with sync_playwright() as playwright:
        browser = docs_module("screenshot.py").launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url, wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
            )
            figures = page.locator("figure img")
            assert figures.count() == len(images) >= len(BANKING_FIGURES)
            for i in range(figures.count()):
                shot = tmp_path / f"figure-{i}.png"
                figures.nth(i).screenshot(path=str(shot))
                with Image.open(shot) as image:
                    pixels = np.asarray(image.convert("L"), dtype=float)
                # Drawn: not one colour, and a real share of the area is ink, not background.
                assert pixels.std() > 20 and (pixels < 200).mean() > 0.02, f"figure {i} is blank"
            # The sortable table: a click on "accuracy" orders the rows by it.
            page.locator("table.sortable th", has_text="accuracy").first.click()
            column = page.evaluate(
                "Array.from(document.querySelector('table.sortable').tBodies[0].rows)"
                ".map(r => parseFloat(r.cells[2].dataset.value))"
            )
            assert column == sorted(column)
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert all(complete and width > 0 and height > 0 for complete, width, height in images)
    assert errors == []
    assert requests == [url]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small") / "run"
    bench = ["bench", "--dataset", "banking77:test", "--learner", "logreg", "--learner", "protonet"]
    result = run_fewshot(*bench, "--episodes", "5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def _damaged_copy(run: Path, target: Path, name: str, change) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(run, target)
    rows = json.loads((target / name).read_text())
    change(rows[0])
    (target / name).write_text(json.dumps(rows))
    return target


def test_the_issue_examples_of_a_damaged_run_are_one_line(small_run, tmp_path, capsys):
    cases = [
        (lambda r: r.update(accuracy="0.9"), "record 1: record field 'accuracy' = '0.9': expected float, got str"),
        (lambda r: r.pop("learner"), "record 1: no 'learner'; expected a string"),
    ]  # fmt: skip
    for change, message in cases:
        damaged = _damaged_copy(small_run, tmp_path / "damaged", "results.json", change)
        capsys.readouterr()
        assert main(["report", str(damaged)]) == 2
        stderr = capsys.readouterr().err
        assert f"{damaged / 'results.json'}, {message}" in stderr, stderr
        assert len(stderr.strip().splitlines()) == 1 and not (damaged / "report.html").exists()
    unfinished = tmp_path / "unfinished"
    shutil.copytree(small_run, unfinished)
    (unfinished / "results.json").unlink()
    assert main(["report", str(unfinished)]) == 2
    assert "the run has not finished a setting yet" in capsys.readouterr().err


#: What a damaged field may hold instead of its value (``...``: the field is missing).
DAMAGE = {"missing": ..., "a string": "x", "a negative number": -1, "an object": {"a": [1]}}


def test_any_damaged_field_is_a_report_or_one_line(small_run, tmp_path):
    """Every field of a record and of a comparison, missing or of another kind: the report is
    drawn, or a ConfigError (one line from the CLI) says what is wrong; never another error."""
    from fewshot.errors import ConfigError
    from fewshot.report.html import write_report

    checked = 0
    for name in ("results.json", "comparisons.json"):
        for field in json.loads((small_run / name).read_text())[0]:
            for damage, value in DAMAGE.items():

                def change(row, field=field, value=value):
                    if value is ...:
                        row.pop(field)
                    else:
                        row[field] = value

                damaged = _damaged_copy(small_run, tmp_path / "damaged", name, change)
                try:
                    write_report([damaged], damaged / "report.html")
                except ConfigError:
                    assert not (damaged / "report.html").exists()
                except Exception as exc:
                    pytest.fail(f"{name}: {field} as {damage}: {type(exc).__name__}: {exc}")
                checked += 1
    assert checked > 150
