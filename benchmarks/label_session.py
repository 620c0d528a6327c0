"""A labelling session of `fewshot label`, played by a script answering with the true labels.

    python benchmarks/label_session.py [--dataset banking77] [--labels 300] [--strategy hybrid]

The pool is the dataset's train split without its labels. The script takes each text the page
offers (waiting for a refit that is due, so the session is the same on every run), answers
with its label, and at the end prints what the page said of the model (its accuracy on the
random draws and cross-validated on the labels) beside the accuracy of the model exported then
on the whole test split, which the page never sees; and how long the session took.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="banking77")
    parser.add_argument("--labels", type=int, default=300)
    parser.add_argument("--strategy", default="hybrid")
    args = parser.parse_args()

    import fewshot
    from fewshot.plugins.registry import load_registry

    registry = load_registry()
    train = registry.datasets.load(f"{args.dataset}:train")
    test = registry.datasets.load(f"{args.dataset}:test")
    answers = dict(zip(train.texts, train.labels, strict=True))
    with tempfile.TemporaryDirectory(prefix="fewshot-label-session-") as work:
        classes = Path(work) / "classes.txt"
        classes.write_text("\n".join(sorted(set(train.labels))) + "\n", encoding="utf-8")
        project = Path(work) / "project"
        command = [sys.executable, "-m", "fewshot", "label", f"{args.dataset}:train"]
        command += ["--classes", str(classes), "--project", str(project), "--port", "0"]
        command += ["--strategy", args.strategy]
        started = time.perf_counter()
        server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().split("open ", 1)[1].strip()
            ready = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(args.labels):
                shown = httpx.get(url + "api/next?wait=true", timeout=600).json()
                label = answers[shown["text"]]
                httpx.post(url + "api/decide", json={"row": shown["row"], "labels": [label]})
            session = time.perf_counter() - started
            while True:
                state = httpx.get(url + "api/state").json()
                training = state["training"]
                if training.get("labels") == args.labels and training.get("estimating") is False:
                    break
                time.sleep(0.5)
            httpx.post(url + "api/export/model", json={}, timeout=600)
        finally:
            server.terminate()
            server.wait(timeout=60)
        model = fewshot.load(project / "model")
        accuracy = float(np.mean(model.predict(list(test.texts)) == np.asarray(test.labels)))
    audit, estimate = state["audit"], state["estimates"][-1]
    print(f"{args.dataset}, {len(train)} pool texts, {args.labels} labels ({args.strategy})")
    print(f"page ready in {ready:.1f} s; {args.labels} labels in {session:.1f} s of page time")
    print(f"last fit: {training['learner']}, {training['fit_seconds']} s")
    print(
        f"the page, on {audit['n']} random draws: {audit['accuracy']:.3f} "
        f"[{audit['low']:.3f}, {audit['high']:.3f}]"
    )
    print(
        f"the page, cross-validated on {estimate['labels']} labels ({estimate['folds']}-fold): "
        f"{estimate['accuracy']:.3f} [{estimate['low']:.3f}, {estimate['high']:.3f}]"
    )
    print(f"the model exported, on all {len(test)} test texts: {accuracy:.3f}")


if __name__ == "__main__":
    main()
