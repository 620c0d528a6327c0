"""``fewshot predict MODEL DATA --ray ADDRESS --out DIR``: batch prediction on Ray Data.

The input is read as a Ray Dataset (a .jsonl, .csv, .tsv, .parquet or .txt file, or a folder
of such files: its shards), the model is mapped over it in batches by a pool of Ray actors (one
copy of the model each, loaded once), and the predictions are written in ``DIR`` as shards
(Parquet or JSONL) with ``manifest.json``, which lists them in the input's order. Each output row
is what ``fewshot predict`` writes for that input row (:func:`~fewshot.deploy.predictions.
label_rows`): the input's columns, ids among them, then the prediction.

``DIR`` is built beside itself and put in place at the end, so it is complete or absent; an
existing ``DIR`` is replaced only where it is an earlier prediction directory (its manifest
says so). On a cluster, the model directory, the input and ``DIR`` must be at the same path on
every node (shared storage).
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from fewshot.data.blank import is_blank
from fewshot.deploy.predictions import label_rows
from fewshot.errors import ConfigError, DataError
from fewshot.util.files import building, check_outside_models, replace_directory, write_atomic

MANIFEST = "manifest.json"
KIND = "fewshot predictions"
SHARD_FORMATS = ("parquet", "jsonl")
_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".txt": "txt"}
_SUFFIXES[".parquet"] = "parquet"


class Labeller:
    """What each Ray actor runs: the model in ``directory``, loaded once, mapped over batches
    of input rows (Arrow tables) to tables of prediction rows.

    Parameters
    ----------
    directory : str
        The model directory (the same path on every node).
    backend : str
        ``auto``, ``torch`` or ``onnx`` (see ``fewshot predict --backend``).
    text_column, label_column : str, str or None
        The input's text column; its gold label column (compared, as ``fewshot predict`` does).
    top_k : int
        The most probable labels to list per row (0: none).
    skip_blank : bool
        Drop blank texts instead of refusing them (a .txt input's empty lines).
    source : str
        The input, for error messages.
    """

    def __init__(self, directory, backend, text_column, label_column, top_k, skip_blank, source):
        from fewshot.deploy.predictor import load_predictor

        self.model = load_predictor(directory, cache=False, backend=backend)
        self.text_column, self.label_column, self.top_k = text_column, label_column, top_k
        self.skip_blank, self.source = skip_blank, source

    def __call__(self, batch):
        import pyarrow as pa

        rows = batch.to_pylist()
        if self.skip_blank:
            rows = [r for r in rows if not is_blank(r.get(self.text_column) or "")]
        if not rows:
            return pa.table({})
        where = f"{self.source} (a row read by Ray)"
        labelled = label_rows(
            self.model,
            [(where, row) for row in rows],
            text_column=self.text_column,
            label_column=self.label_column,
            top_k=self.top_k,
        )
        return pa.Table.from_pylist(labelled.rows)


def input_kind(source: Path) -> tuple[str, list[str]]:
    """The format of a file, or of every file in a folder (one format), and the paths."""
    if not source.exists():
        raise ConfigError(f"{source}: no such file or folder (with --ray, the input is a file)")
    files = [source] if source.is_file() else sorted(
        p for p in source.iterdir() if p.is_file() and not p.name.startswith((".", "_"))
    )  # fmt: skip
    kinds = {_SUFFIXES.get(p.suffix.lower()) for p in files}
    if not files or None in kinds or len(kinds) > 1:
        found = ", ".join(sorted({p.suffix or p.name for p in files})) or "nothing"
        raise ConfigError(
            f"{source}: expected one .jsonl, .csv, .tsv, .parquet or .txt file, or a folder of "
            f"files of one of those formats; found {found}"
        )
    return kinds.pop(), [str(p.resolve()) for p in files]


#: Reading and writing take no CPU of Ray's count: the actors hold every CPU (one each), and
#: a read task waiting for a CPU that an actor holds would wait for ever.
_IO = {"num_cpus": 0}


def _read(ray, kind: str, paths: list[str], text_column: str):
    if kind == "jsonl":
        return ray.data.read_json(paths, lines=True, num_cpus=0)
    if kind in ("csv", "tsv"):
        from pyarrow import csv

        options = csv.ParseOptions(delimiter="\t" if kind == "tsv" else ",")
        return ray.data.read_csv(paths, parse_options=options, num_cpus=0)
    if kind == "parquet":
        return ray.data.read_parquet(paths, num_cpus=0)
    return ray.data.read_text(paths, num_cpus=0).rename_columns({"text": text_column})


def check_output_directory(out: Path) -> None:
    """Refuse an ``--out`` that exists and is not an earlier prediction directory."""
    check_outside_models(out)
    if not out.exists():
        if not out.parent.is_dir():
            raise ConfigError(f"--out {out}: the folder {out.parent} does not exist")
        return
    manifest = out / MANIFEST
    try:
        earlier = json.loads(manifest.read_text(encoding="utf-8")).get("kind") == KIND
    except (OSError, ValueError, AttributeError):
        earlier = False
    if not earlier:
        raise ConfigError(
            f"--out {out} exists and is not a prediction directory of fewshot (no {MANIFEST} "
            "of ours): with --ray, --out names a new folder"
        )


def predict_on_ray(
    directory: str,
    source: str,
    out: str,
    *,
    address: str,
    text_column: str = "text",
    label_column: str | None = None,
    top_k: int = 0,
    batch_size: int = 256,
    workers: int | None = None,
    shard_format: str = "parquet",
    backend: str = "auto",
    progress: bool = False,
) -> dict[str, Any]:
    """Label ``source`` with the model in ``directory`` on Ray at ``address`` and write the
    shards and the manifest in ``out`` (see the module docstring); returns the manifest.
    ``workers``: the actors, one model copy and one CPU each (default: the cluster's CPUs)."""
    from fewshot.deploy.predictor import load_predictor
    from fewshot.evaluation.executors.ray import ray_session

    out_dir = Path(out)
    check_output_directory(out_dir)
    kind, paths = input_kind(Path(source))
    directory = str(Path(directory).resolve())
    load_predictor(directory, cache=False, backend=backend)  # a bad model: said here, once
    with ray_session(address) as ray:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # shards in the input's order
        context.enable_progress_bars = progress
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # its errors: raised here
        workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        started = time.perf_counter()
        dataset = _read(ray, kind, paths, text_column).map_batches(
            Labeller,
            fn_constructor_args=(
                directory, backend, text_column, label_column, top_k, kind == "txt", source
            ),
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
        )  # fmt: skip
        with building(out_dir.resolve(), "predict") as staging:
            try:
                if shard_format == "parquet":
                    dataset.write_parquet(str(staging), ray_remote_args=_IO)
                else:
                    # pandas writes the JSON: every digit, and text as it is
                    dataset.write_json(
                        str(staging), ray_remote_args=_IO, double_precision=15, force_ascii=False
                    )
            except ray.exceptions.RayError as exc:
                raise _cause(exc) from None
            seconds = time.perf_counter() - started
            manifest = _manifest(staging, shard_format)
            manifest.update(
                model=directory,
                input=paths,
                ray={"address": address, "workers": workers, "batch_size": batch_size},
                seconds=round(seconds, 3),
            )
            write_atomic(staging / MANIFEST, json.dumps(manifest, indent=2) + "\n")
            replace_directory(staging, out_dir.resolve())
    return manifest


def _manifest(staging: Path, shard_format: str) -> dict[str, Any]:
    """The shards written, in order (Ray names them by task and block index), and their rows."""
    import pyarrow.parquet as pq

    shards = []
    for path in sorted(staging.glob(f"*.{'parquet' if shard_format == 'parquet' else 'json'}*")):
        if shard_format == "parquet":
            rows = pq.ParquetFile(path).metadata.num_rows
        else:
            with path.open("rb") as lines:
                rows = sum(1 for line in lines if line.strip())
        shards.append({"file": path.name, "rows": rows})
    return {
        "kind": KIND,
        "format": shard_format,
        "rows": sum(s["rows"] for s in shards),
        "shards": shards,
    }


def _cause(exc: BaseException) -> BaseException:
    """The error of ours a Ray task raised (a bad row: one line), else Ray's own. Ray Data
    wraps it (a UserCodeException of a RayTaskError), each layer keeping the one below as
    ``cause`` or ``__cause__``."""
    seen, todo = set(), [exc]
    while todo:
        found = todo.pop()
        if found is None or id(found) in seen:
            continue
        seen.add(id(found))
        if isinstance(found, DataError | ConfigError):
            return type(found)(*found.args)
        todo += [getattr(found, "cause", None), found.__cause__, found.__context__]
    # Ray Data keeps a UDF's exception as its traceback's text only
    said = re.findall(r"fewshot\.errors\.(DataError|ConfigError): (.+)", str(exc))
    if said:
        kind, message = said[-1]
        return (DataError if kind == "DataError" else ConfigError)(message.strip())
    return exc
