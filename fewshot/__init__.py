"""fewshot: few-shot text classification with pluggable learners and one honest evaluator."""

from importlib.metadata import PackageNotFoundError, version

import pluggy

hookimpl = pluggy.HookimplMarker("fewshot")
"""Marker for plugin hook implementations: ``@fewshot.hookimpl``."""

try:
    __version__ = version("fewshot")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

from fewshot.data import LabeledTexts, read_labeled_file  # noqa: E402
from fewshot.datasets import DatasetInfo  # noqa: E402
from fewshot.encoders import EncoderInfo  # noqa: E402
from fewshot.episodes import ClassSplit, Episode, EpisodeSampler, FullWayTask  # noqa: E402
from fewshot.errors import ConfigError, DataError, EpisodeError, FewshotError, PluginError  # noqa: E402
from fewshot.learners import Learner, NotFittedError  # noqa: E402


def load(directory, *, device=None, cache=None):
    """Load a model directory written by ``fewshot adapt``; see :mod:`fewshot.models`."""
    from fewshot.models import load as _load

    return _load(directory, device=device, cache=cache)


__all__ = [
    "ClassSplit",
    "ConfigError",
    "DataError",
    "DatasetInfo",
    "EncoderInfo",
    "Episode",
    "EpisodeError",
    "EpisodeSampler",
    "FewshotError",
    "FullWayTask",
    "LabeledTexts",
    "Learner",
    "NotFittedError",
    "PluginError",
    "__version__",
    "hookimpl",
    "load",
    "read_labeled_file",
]
