"""Meta-SGD (Li, Zhou, Chen, Li 2017, "Meta-SGD: Learning to Learn Quickly for Few-Shot
Learning") over sentence embeddings, with ``learn2learn.algorithms.MetaSGD``.

Like MAML (see ``fewshot/gradient_meta.py``), but a learning rate per parameter, starting at
``inner_learning_rate``, is meta-learned with the initialisation.
Needs learn2learn: ``pip install 'fewshot[meta]' && fewshot install-meta``.
"""

from __future__ import annotations

from torch import nn

from fewshot import hookimpl
from fewshot.gradient_meta import GradientMetaLearner, import_learn2learn

learn2learn = import_learn2learn()  # absent: this plugin is listed as unavailable


class MetaSGDLearner(GradientMetaLearner):
    """A head over embeddings with a meta-learned initialisation and learning rates."""

    name = "metasgd"

    def wrap(self, network: nn.Module) -> nn.Module:
        return learn2learn.algorithms.MetaSGD(
            network, lr=self.inner_learning_rate, first_order=self.first_order
        )


@hookimpl
def fewshot_learners():
    return [MetaSGDLearner]
