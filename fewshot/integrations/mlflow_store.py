"""The built-in MLflow tracker: ``--track mlflow[:URI]`` (the ``mlflow`` extra).

A run of ``bench`` is one MLflow run (its parameters, the suite's fingerprint as a tag, its
files as artifacts) with one nested run per result record: the learner and the setting as
parameters, accuracy, macro-F1, their intervals and the timings as metrics, so MLflow's table
compares learners side by side. A run of ``adapt`` is one MLflow run: its parameters, the loss of
each training step, the accuracy on ``--test`` and the model directory as an artifact.

``URI`` is any MLflow tracking URI (``sqlite:///mlflow.db``, ``http://...``) or a directory,
which becomes a file store there; without one, ``MLFLOW_TRACKING_URI`` where it is set, else
``./mlruns``. The experiment is ``MLFLOW_EXPERIMENT_NAME``'s, else ``fewshot``. The client
(``MlflowClient``) holds no global state: fewshot never changes the active MLflow run of a
program that calls it.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fewshot.integrations.tracking import RunStart, Tracker, TrackerInfo

INSTALL = "pip install 'fewshot[mlflow]'"
#: Record fields that describe the setting rather than measure it: parameters, not metrics.
_SETTING = {"ways", "shots", "queries", "episodes", "seed", "classes", "examples", "test_examples"}
#: MLflow's bound on a parameter's value (6000 characters since MLflow 2.x); longer are cut.
_PARAM_CHARS = 6000
_KEY = re.compile(r"[^0-9A-Za-z_\-. /]")


def _uri(argument: str | None) -> str:
    if argument is None:
        argument = os.environ.get("MLFLOW_TRACKING_URI") or "mlruns"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", argument) or argument.startswith("file:"):
        return argument
    # A directory is a file store. MLflow 3 keeps that backend in maintenance mode and refuses
    # it unless allowed: a user who names a directory asked for exactly that (read it back with
    # MLFLOW_ALLOW_FILE_STORE=true, or give sqlite:///FILE with the full mlflow package).
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return Path(argument).absolute().as_uri()


class MLflowTracker(Tracker):
    """Logs a fewshot run to an MLflow tracking store.

    Parameters
    ----------
    uri : str or None, default None
        An MLflow tracking URI or a directory (a file store); None: ``MLFLOW_TRACKING_URI``,
        else ``./mlruns``.
    experiment : str or None, default None
        The MLflow experiment; None: ``MLFLOW_EXPERIMENT_NAME``, else ``"fewshot"``.
    """

    def __init__(self, uri: str | None = None, experiment: str | None = None):
        from mlflow.tracking import MlflowClient  # ImportError: the tracker's missing library

        self.uri = _uri(uri)
        self.experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "fewshot"
        self.client = MlflowClient(tracking_uri=self.uri)
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.kind = ""
        self.records = 0

    def start(self, run: RunStart) -> None:
        found = self.client.get_experiment_by_name(self.experiment)
        self.experiment_id = (
            found.experiment_id if found else self.client.create_experiment(self.experiment)
        )
        import fewshot

        tags = {
            "fewshot.command": run.kind,
            "fewshot.fingerprint": run.fingerprint,
            "fewshot.version": fewshot.__version__,
        }
        self.kind = run.kind
        self.run_id = self.client.create_run(
            self.experiment_id, run_name=run.name, tags=tags
        ).info.run_id
        self._log(self.run_id, params=_flat(run.params))

    def record(self, record: Mapping[str, Any]) -> None:
        params, metrics = _split(record)
        if self.kind == "adapt":  # one model, one run: its test measures are the run's
            self._log(self.run_id, metrics=metrics)
            return
        self.records += 1
        parts = [str(record[k]) for k in ("learner", "dataset", "train") if record.get(k)]
        if record.get("ways"):
            parts.append(f"{record['ways']}-way {record.get('shots')}-shot")
        name = " ".join(parts)
        child = self.client.create_run(
            self.experiment_id,
            run_name=name or f"record {self.records}",
            tags={"mlflow.parentRunId": self.run_id, "fewshot.command": self.kind},
        ).info.run_id
        self._log(child, params=params, metrics=metrics)
        self.client.set_terminated(child, "FINISHED")

    def loss(self, step: int, value: float) -> None:
        if math.isfinite(value):
            self._log(self.run_id, metrics={"loss": value}, step=step)

    def finish(self, status: str, artifacts: Sequence[Path]) -> None:
        for path in artifacts:
            if path.is_dir():
                self.client.log_artifacts(self.run_id, str(path), artifact_path=path.name)
            else:
                self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id, status)

    def _log(self, run_id, *, params=None, metrics=None, step: int = 0) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(_key(k), float(v), now, step) for k, v in (metrics or {}).items()],
            params=[Param(_key(k), str(v)[:_PARAM_CHARS]) for k, v in (params or {}).items()],
        )


def _key(name: str) -> str:
    return _KEY.sub("_", name)[:250]


def _split(record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """A record's fields as MLflow parameters (what the setting is) and metrics (what was
    measured: finite numbers)."""
    params, metrics = {}, {}
    for key, value in record.items():
        if isinstance(value, bool) or key in _SETTING or isinstance(value, str):
            params[key] = value
        elif isinstance(value, (int, float)) and math.isfinite(value):
            metrics[key] = value
        elif isinstance(value, dict) and key == "params":
            params |= {f"params.{k}": v for k, v in value.items()}
    return params, metrics


def _flat(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            flat |= _flat(value, f"{prefix}{key}.")
        elif value is not None:
            flat[f"{prefix}{key}"] = value
    return flat


def tracker_info() -> TrackerInfo:
    """``--track mlflow[:URI]``, for the built-in plugin."""
    return TrackerInfo(
        "mlflow",
        lambda argument: MLflowTracker(argument),
        "MLflow: --track mlflow[:URI|DIR] (default MLFLOW_TRACKING_URI, else ./mlruns)",
        INSTALL,
    )
