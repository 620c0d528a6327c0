"""Hugging Face datasets as fewshot data: ``hf:NAME[:CONFIG]:SPLIT``, a ``datasets.Dataset`` in
memory, and a directory written by ``Dataset.save_to_disk``.

``hf:`` loads through the ``datasets`` library (the ``hf`` extra), so a dataset read once is read
again from its local cache, offline too (``HF_HUB_OFFLINE=1``). Columns come from the options
(``--text-column``, ``--label-column``) where the dataset has them, else from its features: the
one string column is the text, the one ``ClassLabel`` column the label, and a ``ClassLabel``'s
names are the labels (``card_arrival``, not ``11``). A column of ``ClassLabel`` lists (GoEmotions'
``labels``) makes multi-label data.

Nothing here runs a dataset's loading script: ``datasets`` 4 and newer load none, and fewshot
never asks for ``trust_remote_code``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fewshot.data.labels import normalize_label
from fewshot.data.texts import LabeledTexts, multi_label_texts
from fewshot.errors import ConfigError, DataError

PREFIX = "hf:"
INSTALL = "pip install 'fewshot[hf]'"


def is_hf_dataset(value: Any) -> bool:
    """Whether ``value`` is a ``datasets.Dataset``, told without importing ``datasets``."""
    return type(value).__module__.startswith("datasets.") and hasattr(value, "features")


def is_saved_dataset(path: Path) -> bool:
    """Whether ``path`` is a directory written by ``Dataset.save_to_disk`` (or a
    ``DatasetDict``'s, which holds one such directory per split)."""
    return path.is_dir() and (
        (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()
    )


def parse_spec(spec: str) -> tuple[str, str | None, str]:
    """``hf:NAME[:CONFIG]:SPLIT`` as (name, config, split). The split may be sliced as
    ``datasets`` slices it (``train[:500]``)."""
    rest = spec.removeprefix(PREFIX)
    head, bracket, tail = rest.partition("[")
    parts = head.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(
            f"{spec!r}: expected hf:NAME:SPLIT or hf:NAME:CONFIG:SPLIT "
            "(e.g. hf:PolyAI/banking77:train)"
        )
    split = parts[-1] + bracket + tail
    return parts[0], (parts[1] if len(parts) == 3 else None), split


def _datasets():
    try:
        import datasets
    except ImportError:
        raise ConfigError(f"Hugging Face datasets need the datasets library: {INSTALL}") from None
    return datasets


def load_spec(spec: str, columns: Any) -> LabeledTexts:
    """Load ``hf:NAME[:CONFIG]:SPLIT`` through ``datasets.load_dataset`` (its cache first).

    Raises
    ------
    DataError
        One line: the dataset is not cached and the Hub cannot be reached, the split or config
        does not exist, or a column is missing.
    """
    name, config, split = parse_spec(spec)
    saved = Path(name)
    if config is None and is_saved_dataset(saved):  # hf:DIR:SPLIT of a saved DatasetDict
        if (saved / "state.json").is_file():
            raise DataError(
                f"{spec}: {saved} holds one split (Dataset.save_to_disk); "
                "pass the directory itself, without hf: and a split"
            )
        return load_saved(saved / split, columns, name=spec)
    datasets = _datasets()
    try:
        dataset = datasets.load_dataset(name, config, split=split)
    except (ConnectionError, FileNotFoundError) as exc:
        # datasets raises these (DatasetNotFoundError is a FileNotFoundError) both for a name
        # that does not exist and for one that is not cached while the Hub is out of reach.
        raise DataError(
            f"{spec}: {name!r} is not in the local datasets cache "
            f"({datasets.config.HF_DATASETS_CACHE}) and the Hugging Face Hub could not give it "
            f"({_first_line(exc)}); load it once with a connection, or pass a directory "
            "written by Dataset.save_to_disk"
        ) from None
    except ValueError as exc:  # an unknown split or config, a config left out where needed
        raise DataError(f"{spec}: {_first_line(exc)}") from None
    if not is_hf_dataset(dataset):  # a split of "all" datasets gives a dict-like of splits
        raise DataError(f"{spec}: expected one split, got {type(dataset).__name__}")
    return from_hf_dataset(dataset, columns, name=spec)


def load_saved(path: Path, columns: Any, *, name: str | None = None) -> LabeledTexts:
    """Load a directory written by ``Dataset.save_to_disk``."""
    if not is_saved_dataset(path):
        raise DataError(
            f"{name}: no split {path.name!r} in {path.parent} "
            f"(splits: {', '.join(_saved_splits(path.parent))})"
        )
    if (path / "dataset_dict.json").is_file():
        splits = _saved_splits(path)
        raise DataError(
            f"holds the splits {', '.join(splits)} (a DatasetDict saved with save_to_disk); "
            f"expected one split's directory, e.g. {path / splits[0]}, or hf:{path}:{splits[0]}",
            path=path,
        )
    dataset = _datasets().load_from_disk(str(path))
    return from_hf_dataset(dataset, columns, name=name or str(path))


def _saved_splits(path: Path) -> list[str]:
    try:
        splits = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
    except (OSError, ValueError, KeyError, TypeError):
        splits = None
    return [str(s) for s in splits] if isinstance(splits, list) and splits else ["SPLIT"]


def from_hf_dataset(dataset: Any, columns: Any = None, *, name: str | None = None) -> LabeledTexts:
    """A ``datasets.Dataset`` as :class:`~fewshot.data.texts.LabeledTexts`.

    Parameters
    ----------
    dataset : datasets.Dataset
        One split.
    columns : Columns or None, default None
        The columns asked for (``text``, ``label``, ``labels``, ``domain``); where the dataset
        lacks the one asked for, its features name it (the one string column, the one
        ``ClassLabel`` column).
    name : str or None, default None
        Where the data came from, for messages and records (default: the dataset's own name).

    Returns
    -------
    LabeledTexts
        Labels are the ``ClassLabel`` names where the label column is one.
    """
    name = name or _dataset_name(dataset)
    features = dict(dataset.features)
    wanted_text = getattr(columns, "text", "text")
    wanted_label = getattr(columns, "label", "label")
    wanted_labels = getattr(columns, "labels", "labels")
    text_column = _pick(name, features, wanted_text, _is_string, "text", "--text-column")
    multi = wanted_label not in features and (
        wanted_labels in features or _only(features, _is_label_list) is not None
    )
    if multi:
        label_column = _pick(
            name, features, wanted_labels, _is_label_list, "label lists", "--labels-column"
        )
    else:
        label_column = _pick(
            name, features, wanted_label, _is_class_label, "label", "--label-column"
        )
    texts = dataset[text_column]
    domain_column = getattr(columns, "domain", "domain")
    domains = None
    if domain_column and domain_column in features and domain_column != label_column:
        domains = [str(d) for d in _named(features[domain_column], dataset[domain_column])]
    values = dataset[label_column]
    feature = features[label_column]
    if multi:
        inner = getattr(feature, "feature", None)
        sets = [list(_named(inner, row)) if row is not None else row for row in values]
        return multi_label_texts(texts, sets, domains, name=name)
    labels = _labels(name, label_column, _named(feature, values))
    return LabeledTexts.from_lists(texts, labels, domains, name=name)


def _labels(name: str, column: str, values: Sequence[Any]) -> list[str]:
    labels = []
    for i, value in enumerate(values):
        label = normalize_label(value)
        if label is None or label == "-1":  # datasets' "no label" (a test split's hidden labels)
            raise DataError(
                f"{name}: row {i} has no label in column {column!r} ({value!r}); "
                "expected labelled rows (a split with hidden labels cannot train or score)"
            )
        labels.append(label)
    return labels


def _named(feature: Any, values: Sequence[Any]) -> list[Any]:
    """Values of a ``ClassLabel`` column as their names (``-1``, no label, kept as is)."""
    if type(feature).__name__ != "ClassLabel":
        return list(values)
    return [feature.int2str(v) if isinstance(v, int) and v >= 0 else v for v in values]


def _is_string(feature: Any) -> bool:
    return getattr(feature, "dtype", None) in ("string", "large_string")


def _is_class_label(feature: Any) -> bool:
    return type(feature).__name__ == "ClassLabel"


def _is_label_list(feature: Any) -> bool:
    inner = getattr(feature, "feature", None)  # Sequence / List of a feature
    return inner is not None and (_is_class_label(inner) or _is_string(inner))


def _only(features: dict, kind) -> str | None:
    matching = [column for column, feature in features.items() if kind(feature)]
    return matching[0] if len(matching) == 1 else None


def _pick(name: str, features: dict, wanted: str, kind, what: str, option: str) -> str:
    if wanted in features:
        return wanted
    found = _only(features, kind)
    if found is None:
        columns = ", ".join(f"{c} ({_describe(f)})" for c, f in features.items())
        raise DataError(
            f"{name}: no column {wanted!r} and no single {what} column to use instead; "
            f"columns are {columns}; name it with {option}"
        )
    return found


def _describe(feature: Any) -> str:
    if _is_class_label(feature):
        return f"ClassLabel of {feature.num_classes}"
    return str(getattr(feature, "dtype", type(feature).__name__))


def _dataset_name(dataset: Any) -> str:
    info = getattr(dataset, "info", None)
    base = getattr(info, "dataset_name", None) or "<dataset>"
    split = getattr(dataset, "split", None)
    return f"{base}:{split}" if split else str(base)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
