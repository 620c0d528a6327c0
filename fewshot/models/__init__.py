"""Adapted models people use: :class:`~fewshot.models.classifier.FewShotClassifier`, the model
directory (layout, trust model, checks: :mod:`~fewshot.models.directory`), saving and loading
(:mod:`~fewshot.models.saving`) and the model card.

May import: :mod:`fewshot.plugins`, :mod:`fewshot.learners`, :mod:`fewshot.encoding`,
:mod:`fewshot.data`, :mod:`fewshot.util`; never evaluation, deploy, report or the CLI.
"""

from fewshot.util.lazy import lazy_exports

__getattr__ = lazy_exports(
    __name__,
    {
        "FewShotClassifier": "fewshot.models.classifier",
        "check_model_out": "fewshot.models.saving",
        "data_fingerprint": "fewshot.models.saving",
        "load": "fewshot.models.classifier",
        "load_fitted": "fewshot.models.saving",
        "load_predictor": "fewshot.deploy.predictor",
        "save_model": "fewshot.models.saving",
    },
)
