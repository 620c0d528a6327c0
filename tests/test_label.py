"""``fewshot label``: the labelling page, its SQLite project, its background model.

The project is tested on its own (real SQLite files); the server as users run it, a
``python -m fewshot label`` process on a free loopback port, killed with SIGKILL where the test
is that nothing committed is lost; the page in Debian's Chromium through playwright.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import bundled_rows, run_fewshot

pytestmark = pytest.mark.serve

CLASSES = ["card_arrival", "lost_or_stolen_card", "exchange_rate", "top_up_failed", "pin_blocked"]
SCRIPT = "<script>alert(1)</script>"
MARKUP = '<b>bold</b><img src="x" onerror="alert(2)"> is this a card arrival question?'


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    """150 banking77 training texts of five classes, with their ids, and two texts of HTML."""
    rows = [r for r in bundled_rows("banking77", "train") if r["label"] in CLASSES][:150]
    path = tmp_path_factory.mktemp("pool") / "pool.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i, row in enumerate(rows):
            out.write(json.dumps({"id": f"q{i}", "text": row["text"]}) + "\n")
        for i, text in enumerate((SCRIPT, MARKUP)):
            out.write(json.dumps({"id": f"html{i}", "text": text}) + "\n")
    return path


# -- the project: SQLite, undo, resume -------------------------------------------------------


def test_a_project_keeps_each_decision_and_undo_keeps_the_history(tmp_path):
    from fewshot.labelling.project import LabelProject

    texts = ["one", "two", "three"]
    with LabelProject(tmp_path / "p", texts, ["a", "b"], ids=["x", None, "z"]) as project:
        project.record(0, "label", ["a"])
        project.record(1, "skip")
        project.record(0, "label", ["b"])  # a text relabelled: the latest counts
        project.record(2, "none")
        undone = project.undo()
        assert (undone.row, undone.kind) == (2, "none")
        assert {r: (d.kind, d.labels) for r, d in project.decisions().items()} == {
            0: ("label", ("b",)),
            1: ("skip", ()),
        }
        assert project.export_rows() == [{"id": "x", "text": "one", "label": "b"}]
        assert project.counts()["classes"] == {"a": 0, "b": 1}
    # resumed with one more class: everything is there, undone events too
    with LabelProject(tmp_path / "p", texts, ["a", "b", "c"]) as project:
        assert project.classes() == ["a", "b", "c"]
        assert project.labelled() == (["one"], ["b"])
        assert project.version() == 5  # four events, one undone
    with sqlite3.connect(tmp_path / "p" / "labels.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM events WHERE undone = 1").fetchone()[0] == 1


def test_a_project_refuses_another_pool_a_second_writer_and_bad_decisions(tmp_path):
    from fewshot.errors import ConfigError, DataError
    from fewshot.labelling.project import LabelProject

    with LabelProject(tmp_path / "p", ["one", "two"], ["a", "b"]) as project:
        with pytest.raises(ConfigError, match="another fewshot label is serving this project"):
            LabelProject(tmp_path / "p", ["one", "two"], ["a", "b"])
        with pytest.raises(DataError, match="unknown class 'c'; add it first"):
            project.record(0, "label", ["c"])
        with pytest.raises(DataError, match="one label per text"):
            project.record(0, "label", ["a", "b"])
        with pytest.raises(DataError, match="row 2 is not in the pool"):
            project.record(2, "label", ["a"])
        assert project.version() == 0
    with pytest.raises(ConfigError, match="made for another pool"):
        LabelProject(tmp_path / "p", ["one", "three"], ["a", "b"])
    with pytest.raises(ConfigError, match="this project is single-label"):
        LabelProject(tmp_path / "p", ["one", "two"], ["a", "b"], multi_label=True)
    with LabelProject(tmp_path / "m", ["one", "two"], ["a", "b"], multi_label=True) as project:
        project.record(0, "label", ["a", "b"])
        assert project.export_rows() == [{"text": "one", "labels": ["a", "b"]}]


# -- the server, as a process -----------------------------------------------------------------


@contextlib.contextmanager
def label_server(pool: Path, project: Path, *extra: str, env: dict | None = None):
    """``fewshot label`` on a free loopback port; yields (base URL, process)."""
    command = [sys.executable, "-m", "fewshot", "label", str(pool), "--project", str(project)]
    command += ["--classes", ",".join(CLASSES), "--port", "0", *extra]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )
    try:
        line = process.stdout.readline()  # printed once the port is bound
        if not line.startswith("fewshot label: open "):
            process.kill()
            raise AssertionError(f"no address: {line!r} {process.stderr.read()}")
        yield line.split("open ", 1)[1].strip(), process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()


def wait_for(condition, seconds: float = 60.0, what: str = "the condition", shown=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"waited {seconds} s for {what}" + (f": {shown()}" if shown else ""))


def test_a_killed_server_keeps_every_committed_label_and_resumes(pool, tmp_path):
    import httpx

    project = tmp_path / "project"
    given = {}
    with label_server(pool, project) as (url, process):
        for _ in range(7):
            shown = httpx.get(url + "api/next").json()
            label = shown["guesses"][0]["label"]
            answer = httpx.post(url + "api/decide", json={"row": shown["row"], "labels": [label]})
            assert answer.status_code == 200, answer.text
            given[shown["text"]] = label
        assert httpx.post(url + "api/undo", json={}).json()["undone"]["labels"] == [label]
        del given[shown["text"]]
        process.send_signal(signal.SIGKILL)  # no shutdown, no flush: only what was committed
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    exported = tmp_path / "labels.csv"
    done = run_fewshot(
        "label", str(pool), "--project", str(project), "--export-labels", str(exported)
    )
    assert done.returncode == 0, done.stderr
    assert "wrote 6 labelled texts" in done.stderr
    import csv

    with exported.open(encoding="utf-8") as rows:
        assert {r["text"]: r["label"] for r in csv.DictReader(rows)} == given
    # the same command again: the page resumes where it stopped
    with label_server(pool, project) as (url, _):
        state = httpx.get(url + "api/state").json()
        assert state["counts"]["labelled"] == 6 and state["version"] == 8
        assert httpx.get(url + "api/next").json()["text"] not in given


def test_the_server_answers_only_this_machine_or_the_token(pool, tmp_path):
    import httpx

    token = "a-token-of-twenty-characters"
    with label_server(pool, tmp_path / "p", env={"FEWSHOT_SERVE_TOKEN": token}) as (url, _):
        assert url.endswith("/?token=<FEWSHOT_SERVE_TOKEN>")
        base = url.split("?")[0]
        refused = httpx.get(base + "api/state")
        assert refused.status_code == 401 and "?token=" in refused.json()["detail"]
        browser = httpx.Client(follow_redirects=True)  # the link: a cookie, then the page
        linked = browser.get(f"{base}?token={token}")
        assert linked.status_code == 200 and "<title>fewshot label</title>" in linked.text
        assert str(linked.url) == base  # the token is off the address bar
        assert "script-src 'self'" in linked.headers["content-security-policy"]
        assert browser.get(base + "api/state").json()["counts"]["pool"] == 152
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(base + "api/state", headers=headers).status_code == 200
        plain = httpx.post(base + "api/undo", content="{}", headers=headers)
        assert plain.status_code == 415  # not JSON: what another site's form could send
    with label_server(pool, tmp_path / "q") as (url, _):
        rebound = httpx.get(url + "api/state", headers={"Host": "attacker.example:80"})
        assert rebound.status_code == 421
        assert httpx.get(url + "api/state").status_code == 200


def test_bad_command_lines_get_one_line(pool, tmp_path):
    done = run_fewshot("label", str(pool), "--project", str(tmp_path / "p"), "--export-model")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "fewshot: error: give the classes: --classes NAME,NAME,... or --classes FILE"
    )
    done = run_fewshot(
        "label", str(pool), "--project", str(tmp_path / "p"), "--classes", "a", "--export-model"
    )
    assert "at least two classes" in done.stderr and done.returncode == 2
    other = tmp_path / "other.txt"
    other.write_text("a text\nanother\n", encoding="utf-8")
    done = run_fewshot("label", str(other), "--project", str(tmp_path / "p"), "--export-model")
    assert done.returncode == 2 and "made for another pool" in done.stderr


# -- the page, in Chromium --------------------------------------------------------------------


@pytest.mark.browser
def test_a_person_labels_by_keyboard_and_mouse_and_the_model_learns(pool, tmp_path):
    import httpx
    from playwright.sync_api import expect, sync_playwright

    from fewshot.deploy.export import recorded_training_data
    from fewshot.models.classifier import load
    from fewshot.models.directory import read_config
    from tests.conftest import docs_module

    project = tmp_path / "project"
    with (
        label_server(pool, project, "--retrain-every", "4") as (url, _),
        sync_playwright() as playwright,
    ):
        probe = next(i for i in range(150) if "card" in httpx.get(f"{url}api/text/{i}").text)
        before = httpx.get(f"{url}api/text/{probe}").json()["guesses"]
        browser = docs_module("screenshot.py").launch_chromium(playwright)
        page = browser.new_page(accept_downloads=True)
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        given: dict[str, str] = {}

        def next_text(text: str) -> None:
            expect(page.locator("#text")).not_to_have_text(text)

        page.locator("#all-classes summary").click()
        for name in CLASSES + CLASSES[:2]:  # by mouse, from the list of all classes
            expect(page.locator("#choices button").first).to_be_visible()
            text = page.locator("#text").text_content()
            page.locator("#class-list button", has_text=name).click()
            given[text] = name
            next_text(text)
        for i in range(4):  # by number key: the choice shown with that number
            expect(page.locator("#choices button").first).to_be_visible()
            text = page.locator("#text").text_content()
            key = 1 + i % 3
            given[text] = page.locator("#choices button").nth(key - 1).get_attribute("data-label")
            page.keyboard.press(str(key))
            next_text(text)
        page.locator("#none").click()  # a text that fits no class: not in the export
        page.reload()
        expect(page.locator("#recent tbody tr")).to_have_count(12)
        recent = page.locator("#recent tbody tr td:first-child").all_text_contents()
        assert set(given) <= set(recent)
        page.keyboard.press("u")  # undo: the "none of these" text is back
        expect(page.locator("#message")).to_have_text("undone: none of these")
        page.keyboard.press("u")  # and the last label before it
        expect(page.locator("#message")).to_have_text(f"undone: {given[text]}")
        assert page.locator("#text").text_content() == text
        del given[text]
        for _ in range(2):  # two more labels: four changes since the last fit, so a refit
            text = page.locator("#text").text_content()
            given[text] = page.locator("#choices button").first.get_attribute("data-label")
            page.keyboard.press("1")
            next_text(text)
        state = wait_for(
            lambda: (
                (s := httpx.get(url + "api/state").json())["training"].get("learner") == "logreg"
                and s["training"]["labels"] == len(given)
                and s["training"].get("estimating") is False
                and s
            ),
            what="a model fitted on the labels",
            shown=lambda: httpx.get(url + "api/state").json()["training"],
        )
        assert state["counts"]["labelled"] == len(given) and state["estimates"]
        after = httpx.get(f"{url}api/text/{probe}").json()["guesses"]
        assert after != before  # the retrained model predicts otherwise
        with page.expect_download() as download:
            page.locator("#export-jsonl").click()
        rows = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
        assert {r["text"]: r["label"] for r in rows} == given
        ids = {r["text"]: r["id"] for r in map(json.loads, pool.read_text().splitlines())}
        assert all(r["id"] == ids[r["text"]] for r in rows)  # the pool's ids, kept
        page.locator("#export-model").click()
        expect(page.locator("#exported")).to_have_text(re.compile("^saved "), timeout=60_000)
        assert dialogs == []
        browser.close()
    model = load(project / "model")  # adapt's format, fitted on the labels exported
    assert sorted(model.labels) == sorted(CLASSES)
    recorded = recorded_training_data(read_config(project / "model"))  # what suggest reads
    assert dict(zip(recorded.texts, recorded.labels, strict=True)) == given
    fitted = sum(p == y for p, y in zip(model.predict(list(given)), given.values(), strict=True))
    assert fitted >= 0.7 * len(given)


@pytest.mark.browser
def test_a_text_of_html_or_script_is_shown_as_text(pool, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import docs_module

    with label_server(pool, tmp_path / "p") as (url, _), sync_playwright() as playwright:
        browser = docs_module("screenshot.py").launch_chromium(playwright)
        page = browser.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        for text in (SCRIPT, MARKUP):
            page.locator("#search").fill(text[:12])
            page.locator("#results li", has_text=text[:12]).first.click()
            expect(page.locator("#text")).to_have_text(text)
            assert page.locator("#text").text_content() == text
            assert page.locator("#text script, #text img, #text b").count() == 0
            assert page.locator("#results script, #results img").count() == 0
        page.wait_for_timeout(300)
        assert dialogs == []
        browser.close()


# -- the application in this process: multi-label, the audit, finetune ------------------------


@contextlib.contextmanager
def page_client(directory: Path, texts: list[str], classes: list[str], **options):
    """The page's application over a real project and trainer, through FastAPI's client."""
    from fastapi.testclient import TestClient

    from fewshot.labelling.app import create_app
    from fewshot.labelling.project import LabelProject
    from fewshot.labelling.trainer import Trainer

    multi_label = options.pop("multi_label", False)
    with LabelProject(directory, texts, classes, multi_label=multi_label) as project:
        trainer = Trainer(project, **options)
        trainer.fit()
        trainer.start()
        try:
            yield TestClient(app=create_app(project, trainer), base_url="http://127.0.0.1"), trainer
        finally:
            trainer.stop()


def label_all(client, answer, count: int) -> list[dict]:
    """Take ``count`` texts as the page offers them (waiting for refits that are due) and
    answer each with ``answer(text)``."""
    shown = []
    for _ in range(count):
        item = client.get("/api/next?wait=true").json()
        labels = answer(item["text"])
        done = client.post("/api/decide", json={"row": item["row"], "labels": labels})
        assert done.status_code == 200, done.text
        shown.append(item)
    return shown


def test_a_multi_label_project_learns_label_sets(tmp_path):
    classes = ["admiration", "gratitude", "joy", "love"]
    rows = [r for r in bundled_rows("goemotions", "train") if set(r["labels"]) <= set(classes)]
    rows = rows[:150]
    answers = {r["text"]: r["labels"] for r in rows}
    texts = list(answers)
    with page_client(
        tmp_path / "p", texts, classes, multi_label=True, retrain_every=10, audit_every=0
    ) as (client, _):
        assert client.get("/api/state").json()["multi_label"] is True
        refused = client.post("/api/decide", json={"row": 0, "labels": ["nonsense"]})
        assert refused.status_code == 422 and "unknown class 'nonsense'" in refused.text
        label_all(client, lambda text: list(answers[text]), 60)
        state = wait_for(
            lambda: (
                (s := client.get("/api/state").json())["training"]["labels"] == 60
                and s["training"].get("estimating") is False
                and s
            ),
            what="the fit on 60 labels and its estimate",
        )
        assert state["counts"]["labelled"] == 60
        exported = client.get("/api/export/labels?format=csv").text.splitlines()
        assert exported[0] == "text,labels" and len(exported) == 61
        several = next(t for t in texts[:60] if len(answers[t]) > 1)  # joined by |
        assert any("|".join(answers[several]) in line for line in exported)
        assert state["training"]["learner"] == "logreg"  # every class has a label
        estimate = state["estimates"][-1]  # exact label sets, cross-validated
        assert estimate["labels"] == 60 and 0.3 <= estimate["accuracy"] <= 1


def test_every_nth_text_is_a_random_draw_that_scores_the_model_before_its_label(tmp_path):
    rows = [r for r in bundled_rows("banking77", "train") if r["label"] in CLASSES][:100]
    answers = {r["text"]: r["label"] for r in rows}
    with page_client(tmp_path / "p", list(answers), CLASSES, audit_every=3) as (client, _):
        shown = label_all(client, lambda text: [answers[text]], 12)
        assert [item["drawn"] for item in shown] == [False, False, True] * 4
        audit = client.get("/api/state").json()["audit"]
        assert audit["n"] == 4 and audit["every"] == 3
        # the guess recorded is the model's at the time, before it saw the label
        assert 0 <= audit["correct"] <= 4 and audit["low"] <= audit["accuracy"] <= audit["high"]
        json_type = {"content-type": "application/json"}
        for route, body, message in (  # values JSON cannot echo: 422s, not 500s
            ("/api/decide", b'{"row": NaN, "labels": ["pin_blocked"]}', "finite number"),
            ("/api/classes", b'{"name": "\\ud800"}', "unicode string"),
        ):
            answer = client.post(route, content=body, headers=json_type)
            assert answer.status_code == 422 and message in answer.text, answer.text
    with page_client(tmp_path / "p", list(answers), CLASSES, audit_every=3) as (client, _):
        again = [client.get("/api/next").json()["row"] for _ in range(2)]
        assert again[0] == again[1]  # a reload or a second tab gets the same text


@pytest.mark.slow
def test_finetune_refits_in_the_background_and_counts_its_steps(tmp_path):
    rows = bundled_rows("banking77", "train")
    answers = {r["text"]: r["label"] for c in CLASSES for r in rows if r["label"] == c}
    answers = dict(list(answers.items())[::8])  # about 12 texts of each class
    with page_client(
        tmp_path / "p",
        list(answers),
        CLASSES,
        learner="finetune:epochs=1,random_state=0",
        retrain_every=15,
        audit_every=0,
    ) as (client, trainer):
        for name in CLASSES:  # one label per class first: then finetune takes over
            row = next(i for i, t in enumerate(answers) if answers[t] == name)
            client.post("/api/decide", json={"row": row, "labels": [name]})
        label_all(client, lambda text: [answers[text]], 10)
        assert trainer.caught_up(timeout=600)
        training = client.get("/api/state").json()["training"]
        assert training["learner"] == "finetune" and training["labels"] == 15
        assert training["optimiser_steps"] > 0
        assert (
            wait_for(lambda: client.get("/api/state").json()["estimates"], 120)[-1]["learner"]
            == "logreg"
        )  # the estimate's stand-in for a learner that tunes the encoder


def test_a_model_directory_given_makes_the_first_guesses_and_lends_its_classes(tmp_path):
    from fewshot import FewShotClassifier
    from fewshot.cli.label import starting_point
    from fewshot.labelling.project import LabelProject
    from fewshot.labelling.trainer import Trainer

    rows = bundled_rows("banking77", "train")
    train = [r for c in CLASSES for r in [r for r in rows if r["label"] == c][:3]]
    model = FewShotClassifier("knn", n_neighbors=1)
    model.fit([r["text"] for r in train], [r["label"] for r in train]).save(tmp_path / "m")
    encoder, learner, start = starting_point(str(tmp_path / "m"))
    assert (encoder, learner.name, learner.params["n_neighbors"]) == ("all-MiniLM-L6-v2", "knn", 1)
    pool = [r["text"] for r in rows if r["label"] in CLASSES][100:140]
    with LabelProject(tmp_path / "p", pool, list(start.labels)) as project:
        trainer = Trainer(project, learner=learner, encoder=encoder, start_model=start)
        trainer.fit()
        assert trainer.snapshot()["learner"] == "the --model given"
        guessed = [trainer.guesses(row, 1)[0]["label"] for row in range(len(pool))]
        assert guessed == [str(p) for p in start.predict(pool)]


@pytest.mark.browser
def test_a_multi_label_project_takes_several_classes_by_key_and_enter(tmp_path):
    import httpx
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import docs_module

    classes = ["admiration", "gratitude", "joy", "love"]
    rows = [r for r in bundled_rows("goemotions", "train") if set(r["labels"]) <= set(classes)]
    pool = tmp_path / "pool.txt"
    pool.write_text("".join(r["text"].replace("\n", " ") + "\n" for r in rows[:80]))
    command = [
        sys.executable,
        "-m",
        "fewshot",
        "label",
        str(pool),
        "--project",
        str(tmp_path / "p"),
    ]
    command += ["--classes", ",".join(classes), "--multi-label", "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = server.stdout.readline().split("open ", 1)[1].strip()
        with sync_playwright() as playwright:
            browser = docs_module("screenshot.py").launch_chromium(playwright)
            page = browser.new_page()
            page.goto(url)
            expect(page.locator("#save")).to_be_visible()  # multi-label: a save button
            expect(page.locator("#choices button").first).to_be_visible()
            text = page.locator("#text").text_content()
            picked = [
                page.locator("#choices button").nth(i).get_attribute("data-label") for i in (0, 2)
            ]
            page.keyboard.press("1")
            page.keyboard.press("3")
            expect(page.locator("#choices button.picked")).to_have_count(2)
            page.keyboard.press("Enter")
            expect(page.locator("#text")).not_to_have_text(text)
            browser.close()
        latest = httpx.get(url + "api/labels").json()["rows"][0]
        assert (latest["text"], sorted(latest["labels"])) == (text, sorted(picked))
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()


def test_class_descriptions_given_in_a_json_file_make_the_zero_shot_guesses(tmp_path):
    from fewshot.cli.label import class_list
    from fewshot.labelling.project import LabelProject
    from fewshot.labelling.trainer import Trainer

    described = {"c1": "my new card has not arrived yet", "c2": "the exchange rate of currencies"}
    (tmp_path / "classes.json").write_text(json.dumps(described))
    classes, names = class_list(str(tmp_path / "classes.json"))
    assert (classes, names) == (["c1", "c2"], described)
    truth = {"card_arrival": "c1", "exchange_rate": "c2"}
    rows = [r for r in bundled_rows("banking77", "train") if r["label"] in truth][:60]
    pool = [r["text"] for r in rows]

    def accuracy(label_names, where: str) -> float:
        with LabelProject(tmp_path / where, pool, classes) as project:
            trainer = Trainer(project, label_names=label_names, audit_every=0)
            trainer.fit()
            guesses = [trainer.guesses(i, 1)[0]["label"] for i in range(len(pool))]
        return sum(g == truth[r["label"]] for g, r in zip(guesses, rows, strict=True)) / len(rows)

    assert accuracy(names, "described") >= 0.9  # "c1" and "c2" alone say nothing
    assert accuracy(None, "bare") < accuracy(names, "described")
