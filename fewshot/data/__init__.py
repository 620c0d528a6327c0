"""Texts and labels: the labelled-text type (:mod:`.texts`), what a label or label set is
(:mod:`.labels`), file readers (:mod:`.files`), readable label names (:mod:`.label_names`) and the
catalogue of datasets (:mod:`.catalogue`; the bundled ones are gzipped JSONL in ``bundled/``, with
``ATTRIBUTION.md``).

May import: :mod:`fewshot.util`. Nothing here knows an encoder or a learner.
"""

from fewshot.util.lazy import lazy_exports

__getattr__ = lazy_exports(
    __name__,
    {
        "LabeledTexts": "fewshot.data.texts",
        "check_input_file": "fewshot.data.files",
        "normalize_label": "fewshot.data.labels",
        "read_labeled_file": "fewshot.data.files",
        "read_texts": "fewshot.data.files",
        "text_list": "fewshot.data.texts",
    },
)
