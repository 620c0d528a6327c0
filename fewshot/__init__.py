"""fewshot: few-shot text classification with pluggable learners and one honest evaluator."""

from importlib.metadata import PackageNotFoundError, version

import pluggy

hookimpl = pluggy.HookimplMarker("fewshot")
"""Marker for plugin hook implementations: ``@fewshot.hookimpl``."""

try:
    __version__ = version("fewshot")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

# The public names, imported on first use: `fewshot --help` and `fewshot learners` must not pay
# for scikit-learn or torch.
_EXPORTS = {
    "ClassSplit": "fewshot.episodes",
    "ConfigError": "fewshot.errors",
    "DataError": "fewshot.errors",
    "DatasetInfo": "fewshot.datasets",
    "EncoderInfo": "fewshot.encoders",
    "Episode": "fewshot.episodes",
    "EpisodeError": "fewshot.errors",
    "EpisodeSampler": "fewshot.episodes",
    "FewShotClassifier": "fewshot.classifier",
    "FewshotError": "fewshot.errors",
    "FullWayTask": "fewshot.episodes",
    "LabeledTexts": "fewshot.data",
    "Learner": "fewshot.learners",
    "NotFittedError": "fewshot.learners",
    "OnnxClassifier": "fewshot.onnxmodel",
    "PluginError": "fewshot.errors",
    "load_predictor": "fewshot.models",
    "read_labeled_file": "fewshot.data",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fewshot' has no attribute {name!r}")


def load(directory, *, device=None, cache=True):
    """Load a model directory written by ``fewshot adapt`` or ``FewShotClassifier.save``: a
    fitted :class:`FewShotClassifier`, verified (see :mod:`fewshot.models`)."""
    from fewshot.classifier import FewShotClassifier

    return FewShotClassifier.load(directory, device=device, cache=cache)


__all__ = [*sorted(_EXPORTS), "__version__", "hookimpl", "load"]
