"""MAML (Finn, Abbeel, Levine 2017, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
Networks") over sentence embeddings, with ``learn2learn.algorithms.MAML``.

Meta-learns the initialisation of a small head (see ``fewshot/gradient_meta.py``) on episodes of
the base classes; a new task takes ``inner_steps`` gradient steps from it. ``first_order=True``
is FOMAML: the meta-gradient ignores the second derivatives through the inner steps.
Needs learn2learn: ``pip install 'fewshot[meta]' && fewshot install-meta``.
"""

from __future__ import annotations

from fewshot import hookimpl
from fewshot.integrations.learn2learn.install import import_learn2learn

import_learn2learn()  # absent or broken: this plugin is listed as unavailable (before torch loads)

from fewshot_plugins.gradient_meta.learner import GradientMetaLearner  # noqa: E402


class MAMLLearner(GradientMetaLearner):
    """A head over embeddings with a MAML-learned initialisation."""

    name = "maml"
    algorithm = "MAML"


@hookimpl
def fewshot_learners():
    return [MAMLLearner]
