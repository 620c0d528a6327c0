"""fewshot: few-shot text classification with pluggable learners and one honest evaluator."""

from importlib.metadata import PackageNotFoundError, version

import pluggy

from fewshot import _moved
from fewshot.util.lazy import lazy_exports

hookimpl = pluggy.HookimplMarker("fewshot")
"""Marker for plugin hook implementations: ``@fewshot.hookimpl``."""

try:
    __version__ = version("fewshot")
except PackageNotFoundError:
    try:  # the runtime distribution (runtime/build.py): the same package
        __version__ = version("fewshot-runtime")
    except PackageNotFoundError:  # running from a source tree that was not installed
        __version__ = "0.0.0"

# The public names, imported on first use: `fewshot --help` and `fewshot learners` must not pay
# for scikit-learn or torch.
_EXPORTS = {
    "ClassSplit": "fewshot.tasks.episodes",
    "check_labels": "fewshot.labelling.label_errors",
    "ConfigError": "fewshot.errors",
    "distill": "fewshot.compression",
    "DataError": "fewshot.errors",
    "DatasetInfo": "fewshot.data.catalogue",
    "EncoderInfo": "fewshot.encoding.encoders",
    "Episode": "fewshot.tasks.episodes",
    "EpisodeError": "fewshot.errors",
    "EpisodeSampler": "fewshot.tasks.episodes",
    "FewShotClassifier": "fewshot.models.classifier",
    "FewshotError": "fewshot.errors",
    "FullWayTask": "fewshot.tasks.episodes",
    "LabeledTexts": "fewshot.data.texts",
    "Learner": "fewshot.learners.base",
    "NotFittedError": "fewshot.learners.base",
    "OnnxClassifier": "fewshot.deploy.onnx_model",
    "PluginError": "fewshot.errors",
    "load": "fewshot.deploy.predictor",
    "load_predictor": "fewshot.deploy.predictor",
    "read_labeled_file": "fewshot.data.files",
    "suggest": "fewshot.labelling.suggest",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
_moved.install()  # module paths of fewshot 0.1 (fewshot.cache, fewshot.maths, ...) still import


__all__ = [*sorted(_EXPORTS), "__version__", "hookimpl"]
