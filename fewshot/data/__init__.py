"""Texts and labels: the labelled-text type, file readers, label sets, label names, the catalogue
of bundled datasets (``bundled/``: gzipped JSONL, with ``ATTRIBUTION.md``).

May import: :mod:`fewshot.util`. Nothing here knows an encoder or a learner.
"""

from fewshot.util.lazy import lazy_exports

__getattr__ = lazy_exports(
    __name__,
    {
        "LabeledTexts": "fewshot.data.texts",
        "read_labeled_file": "fewshot.data.texts",
        "read_texts": "fewshot.data.texts",
    },
)
