"""Named datasets (``NAME:SPLIT``), the bundled ones, and resolving what a user typed to data."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from fewshot.data import huggingface
from fewshot.data.files import check_input_file, read_labeled_file
from fewshot.data.texts import LabeledTexts
from fewshot.errors import ConfigError, unknown_name


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset that plugins contribute through the ``fewshot_datasets`` hook.

    Parameters
    ----------
    name : str
        The name users type before the split: ``NAME:SPLIT``.
    splits : mapping of str to Path
        Each split's file (JSONL, CSV or TSV, optionally gzipped).
    description, license, citation : str, default ""
        Shown by ``fewshot datasets``.
    text_column, label_column : str, default "text", "label"
        The columns of the files.
    domain_column : str or None, default "domain"
        The column of domains, where the files have one.
    label_names : mapping of str to str, or None, default None
        Readable names or short descriptions of the labels, for learners that use them.
    """

    name: str
    splits: Mapping[str, Path]
    description: str = ""
    license: str = ""
    citation: str = ""
    text_column: str = "text"
    label_column: str = "label"
    domain_column: str | None = "domain"
    #: readable names or short descriptions of the labels, for learners that use them
    #: (``uses_label_names``); without it they derive names from the labels
    label_names: Mapping[str, str] | None = None

    def load(self, split: str) -> LabeledTexts:
        if split not in self.splits:
            raise unknown_name(f"split of {self.name}", split, self.splits)
        data = read_labeled_file(
            self.splits[split],
            text_column=self.text_column,
            label_column=self.label_column,
            domain_column=self.domain_column,
        )
        return replace(data, name=f"{self.name}:{split}", label_names=self.label_names, _arrays={})


@dataclass(frozen=True)
class Columns:
    """Column names for reading a user's file."""

    text: str = "text"
    label: str = "label"
    domain: str | None = "domain"
    #: multi-label files: the column of label lists, and the separator of labels in a CSV cell
    labels: str = "labels"
    label_separator: str = "|"


@dataclass
class DatasetCatalog:
    """Every named dataset, and the one place that turns ``NAME:SPLIT`` or a path into data."""

    datasets: dict[str, DatasetInfo] = field(default_factory=dict)

    def load(self, spec: str, columns: Columns | None = None) -> LabeledTexts:
        """Load ``NAME:SPLIT`` from the catalog, a JSONL/CSV file by path, a Hugging Face
        dataset (``hf:NAME[:CONFIG]:SPLIT``) or a directory written by ``Dataset.save_to_disk``
        (see :mod:`fewshot.data.huggingface`)."""
        columns = columns or Columns()
        if spec.startswith(huggingface.PREFIX):
            return huggingface.load_spec(spec, columns)
        path = Path(spec)
        if huggingface.is_saved_dataset(path):
            return huggingface.load_saved(path, columns)
        if (
            path.suffix.lower() in {".jsonl", ".json", ".ndjson", ".csv", ".tsv", ".gz"}
            or path.exists()
        ):
            return read_labeled_file(
                path,
                text_column=columns.text,
                label_column=columns.label,
                domain_column=columns.domain,
                labels_column=columns.labels,
                label_separator=columns.label_separator,
            )
        name, _, split = spec.partition(":")
        if name not in self.datasets:
            if not split and (path.suffix or "/" in spec or os.sep in spec):
                check_input_file(path)  # a path that is not there is a missing file, not a name
            raise unknown_name("dataset", name, self.datasets)
        info = self.datasets[name]
        if not split:
            raise ConfigError(
                f"dataset {name!r} needs a split: write {name}:SPLIT with SPLIT one of "
                f"{', '.join(info.splits)}"
            )
        return info.load(split)


def _bundled(name: str) -> dict[str, Path]:
    folder = Path(str(resources.files("fewshot.data") / "bundled" / name))
    return {p.name.removesuffix(".jsonl.gz"): p for p in sorted(folder.glob("*.jsonl.gz"))}


def bundled_datasets() -> list[DatasetInfo]:
    """The datasets shipped inside the package (see ``fewshot/bundled/ATTRIBUTION.md``)."""
    return [
        DatasetInfo(
            "banking77",
            _bundled("banking77"),
            "BANKING77: online-banking customer queries, 77 intents",
            "CC BY 4.0",
            'Casanueva et al. 2020, "Efficient Intent Detection with Dual Sentence Encoders"',
        ),
        DatasetInfo(
            "clinc150",
            _bundled("clinc150"),
            "CLINC150: 150 intents in 10 domains (in-scope queries)",
            "CC BY 3.0",
            'Larson et al. 2019, "An Evaluation Dataset for Intent Classification and '
            'Out-of-Scope Prediction"',
        ),
        DatasetInfo(
            "amazon_reviews",
            _bundled("amazon_reviews"),
            "Amazon multi-domain reviews, positive/negative; one split per domain",
            "research data",
            'Blitzer, Dredze, Pereira 2007, "Biographies, Bollywood, Boom-boxes and Blenders: '
            'Domain Adaptation for Sentiment Classification"',
        ),
        DatasetInfo(
            "goemotions",
            _bundled("goemotions"),
            "GoEmotions: Reddit comments, multi-label (27 emotions + neutral)",
            "Apache-2.0",
            'Demszky et al. 2020, "GoEmotions: A Dataset of Fine-Grained Emotions"',
        ),
    ]


def bundled_catalog() -> DatasetCatalog:
    """A catalog of the bundled datasets alone (the plugin registry's holds these and the
    plugins' own)."""
    return DatasetCatalog({info.name: info for info in bundled_datasets()})
