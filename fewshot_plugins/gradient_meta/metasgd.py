"""Meta-SGD (Li, Zhou, Chen, Li 2017, "Meta-SGD: Learning to Learn Quickly for Few-Shot
Learning") over sentence embeddings, with ``learn2learn.algorithms.MetaSGD``.

Like MAML (see ``fewshot/gradient_meta.py``), but a learning rate per parameter, starting at
``inner_learning_rate``, is meta-learned with the initialisation.
Needs learn2learn: ``pip install 'fewshot[meta]' && fewshot install-meta``.
"""

from __future__ import annotations

from fewshot import hookimpl
from fewshot.integrations.learn2learn.install import import_learn2learn

import_learn2learn()  # absent or broken: this plugin is listed as unavailable (before torch loads)

from fewshot_plugins.gradient_meta.learner import GradientMetaLearner  # noqa: E402


class MetaSGDLearner(GradientMetaLearner):
    """A head over embeddings with a meta-learned initialisation and learning rates."""

    name = "metasgd"
    algorithm = "MetaSGD"


@hookimpl
def fewshot_learners():
    return [MetaSGDLearner]
