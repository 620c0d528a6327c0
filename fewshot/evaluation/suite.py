"""Benchmark suites: which learners run on which settings, read from TOML or built from flags.

A suite file (see ``episodes/`` for real ones)::

    name = "clinc150"
    seed = 0
    learners = ["protonet", "logreg", {name = "knn", label = "1-nn", n_neighbors = 1}]

    [[episodes]]
    dataset = "clinc150:test"
    ways = 5
    shots = [1, 5]          # a list expands into one setting per value
    queries = 15
    episodes = 600

    [[full_way]]
    train = "clinc150:train_5"
    test = "clinc150:test"
    unlabeled_data = "clinc150:train"  # optional: for learners that use unlabelled texts

    [[cross_domain]]        # every ordered pair of distinct source and target
    source = ["amazon_reviews:books", "amazon_reviews:dvd"]
    target = ["amazon_reviews:books", "amazon_reviews:dvd"]
    shots = [0, 8]          # target labels per class; 0 = unsupervised adaptation
    seeds = 10              # tasks (random target splits), each with its own seed

Unknown keys are errors, so a typo never silently changes a benchmark.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from fewshot.data.catalogue import Columns
from fewshot.errors import ConfigError
from fewshot.evaluation.evaluator import (
    LearnerSpec,
    Setting,
)
from fewshot.evaluation.suite_settings import (
    FULL_WAY_KEYS,
    active_learning_setting,
    check_keys,
    cross_domain_settings,
    episode_settings,
    full_way_setting,
    multi_label_settings,
    name_list,
    positive,
)
from fewshot.util.files import file_kind

_TOP_KEYS = {
    "name",
    "description",
    "seed",
    "encoder",
    "learners",
    "episodes",
    "full_way",
    "cross_domain",
    "multi_label",
    "active_learning",
    "columns",
}
_COLUMN_KEYS = {"text", "label", "domain", "labels", "label_separator"}


@dataclass
class Suite:
    name: str
    learners: list[LearnerSpec]
    settings: list[Setting]
    seed: int = 0
    encoder: str | None = None
    columns: Columns = field(default_factory=Columns)
    description: str = ""


#: A suite file is a few lines of TOML; anything far larger is not one.
MAX_SUITE_BYTES = 1 << 20


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such suite file") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{path}: is {file_kind(mode)}; expected a suite file (TOML)")
    try:
        with open(path, "rb") as handle:
            raw_bytes = handle.read(MAX_SUITE_BYTES + 1)
        if len(raw_bytes) > MAX_SUITE_BYTES:
            raise ConfigError(f"{path}: larger than 1 MiB; not a suite file")
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML (nested too deeply)") from None
    check_keys(str(path), raw, _TOP_KEYS)
    seed = positive(str(path), "seed", raw.get("seed", 0), minimum=0, maximum=2**32 - 1)
    learners_raw = raw.get("learners")
    if not isinstance(learners_raw, list) or not learners_raw:
        raise ConfigError(f"{path}: 'learners' must be a non-empty list of learner names or tables")
    learners = [LearnerSpec.parse(e, f"{path}: learners[{i}]") for i, e in enumerate(learners_raw)]
    settings: list[Setting] = []
    for i, table in enumerate(raw.get("episodes", [])):
        settings += episode_settings(table, f"{path}: [[episodes]] #{i + 1}", seed)
    for i, table in enumerate(raw.get("full_way", [])):
        where = f"{path}: [[full_way]] #{i + 1}"
        check_keys(where, table, FULL_WAY_KEYS)
        for key in ("train", "test"):
            if key not in table:
                raise ConfigError(f"{where}: missing key {key!r}")
        for key in ("train", "test"):
            name_list(where, key, table[key])
        full_way_seed = positive(
            where, "seed", table.get("seed", seed), minimum=0, maximum=2**32 - 1
        )
        settings.append(
            full_way_setting(table["train"], table["test"], full_way_seed, table, where)
        )
    for i, table in enumerate(raw.get("cross_domain", [])):
        settings += cross_domain_settings(table, f"{path}: [[cross_domain]] #{i + 1}", seed)
    for i, table in enumerate(raw.get("multi_label", [])):
        settings += multi_label_settings(table, f"{path}: [[multi_label]] #{i + 1}", seed)
    for i, table in enumerate(raw.get("active_learning", [])):
        where = f"{path}: [[active_learning]] #{i + 1}"
        settings.append(active_learning_setting(table, where, seed))
    if not settings:
        raise ConfigError(
            f"{path}: no [[episodes]], [[full_way]], [[cross_domain]], [[multi_label]] or "
            "[[active_learning]] tables; nothing to run"
        )
    columns = check_keys(f"{path}: [columns]", raw.get("columns", {}), _COLUMN_KEYS)
    for key, value in columns.items():
        name_list(f"{path}: [columns]", key, value)
    encoder = raw.get("encoder")
    if encoder is not None:
        name_list(str(path), "encoder", encoder)
    return Suite(
        name=str(raw.get("name", path.stem)),
        learners=learners,
        settings=settings,
        seed=seed,
        encoder=encoder,
        columns=Columns(**columns),
        description=str(raw.get("description", "")),
    )
