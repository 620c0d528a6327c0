"""Module paths of fewshot 0.1, before its modules moved into folders by concern.

``import fewshot.cache`` (or ``from fewshot.maths import softmax``, as plugins written for 0.1 do)
still works: a finder on ``sys.meta_path`` answers an old path with the module that now holds its
code, under a :class:`DeprecationWarning` naming the new path. A module that became a package
(``fewshot.learners``, ``fewshot.evaluation``, ``fewshot.plugins``, ``fewshot.models``,
``fewshot.data``, ``fewshot.report``) keeps its public names on the package itself instead.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings

#: old dotted path -> new dotted path; a package's submodules follow it (fewshot.protocols.base).
MOVED = {
    "fewshot.aggregate": "fewshot.evaluation.aggregate",
    "fewshot.aligned": "fewshot_plugins.alignment.learner",
    "fewshot.alignment": "fewshot_plugins.alignment.training",
    "fewshot.builtin": "fewshot.plugins.builtin",
    "fewshot.cache": "fewshot.encoding.cache",
    "fewshot.classifier": "fewshot.models.classifier",
    "fewshot.datasets": "fewshot.data.catalogue",
    "fewshot.decisions": "fewshot.learners.decisions",
    "fewshot.encoders": "fewshot.encoding.encoders",
    "fewshot.episodes": "fewshot.tasks.episodes",
    "fewshot.executors": "fewshot.evaluation.executors",
    "fewshot.export": "fewshot.deploy.export",
    "fewshot.finetuning": "fewshot.learners.training",
    "fewshot.gradient_meta": "fewshot_plugins.gradient_meta.learner",
    "fewshot.heads": "fewshot.learners.heads",
    "fewshot.hookspecs": "fewshot.plugins.hookspecs",
    "fewshot.htmlreport": "fewshot.report.html",
    "fewshot.install_meta": "fewshot.integrations.learn2learn.install",
    "fewshot.interop": "fewshot.integrations.learn2learn.tasks",
    "fewshot.journal": "fewshot.evaluation.journal",
    "fewshot.labelnames": "fewshot.data.label_names",
    "fewshot.labelsets": "fewshot.data.labels",
    "fewshot.maths": "fewshot.learners.maths",
    "fewshot.meta": "fewshot.tasks.meta_training",
    "fewshot.modelcard": "fewshot.models.card",
    "fewshot.modeldir": "fewshot.models.directory",
    "fewshot.multilabel": "fewshot.learners.multi_label",
    "fewshot.onnxencoder": "fewshot.encoding.onnx_encoder",
    "fewshot.onnxmodel": "fewshot.deploy.onnx_model",
    "fewshot.outputs": "fewshot.util.files",
    "fewshot.params": "fewshot.util.params",
    "fewshot.plan": "fewshot.evaluation.plan",
    "fewshot.predictions": "fewshot.deploy.predictions",
    "fewshot.progress": "fewshot.util.progress",
    "fewshot.projection": "fewshot_plugins.protonet.projection",
    "fewshot.protocols": "fewshot.evaluation.protocols",
    "fewshot.rejection": "fewshot.learners.rejection",
    "fewshot.rundir": "fewshot.evaluation.run_directory",
    "fewshot.serve": "fewshot.deploy.serve",
    "fewshot.stats": "fewshot.evaluation.stats",
    "fewshot.suite": "fewshot.evaluation.suite",
    "fewshot.testing": "fewshot.learners.conformance",
    "fewshot.work": "fewshot.evaluation.work",
    "fewshot_plugins.kl": "fewshot_plugins.alignment.kl",
    "fewshot_plugins.maml": "fewshot_plugins.gradient_meta.maml",
    "fewshot_plugins.metasgd": "fewshot_plugins.gradient_meta.metasgd",
    "fewshot_plugins.mmd": "fewshot_plugins.alignment.mmd",
}


def new_name(old: str) -> str | None:
    """Where the module once named ``old`` lives now, or None if it did not move."""
    for prefix, target in MOVED.items():
        if old == prefix or old.startswith(prefix + "."):
            return target + old[len(prefix) :]
    return None


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self.spec = module.__spec__  # the import system overwrites it with the alias's
        return module

    def exec_module(self, module) -> None:
        module.__spec__ = self.spec  # the real module ran when imported under its own name


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Answers an old module path with the module that holds its code now."""

    def find_spec(self, fullname, path=None, target=None):
        new = new_name(fullname)
        if new is None:
            return None
        warnings.warn(
            f"{fullname} moved to {new}; import it from there (the old path will go away)",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    # First in line: the path finder would otherwise load an old submodule path
    # (fewshot.protocols.base) a second time, from its package's new folder.
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
