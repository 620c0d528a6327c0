"""Domain alignment by KL divergence between class-conditional Gaussians (+ optional entropy terms).

After Nguyen, Tran, Gal, Torr, Baydin (2022), "KL Guided Domain Adaptation" (ICLR), which
minimises the KL divergence between the target and source distributions of the representation.
Here that KL is taken in closed form, per class: each class of the source and of the target is
summarised by a diagonal Gaussian over the representation, the unlabelled target counting
towards each class with its predicted probability, and the learner minimises
Σ_c π_c KL(target_c || source_c). Aligning class by class, not just the marginals, keeps
positive target reviews near positive source reviews rather than merely near "source".

Because those class assignments are the classifier's own predictions, the unlabelled target
can also get the information-maximisation loss of SHOT (Liang, Hu, Feng 2020): confident
predictions (entropy minimisation, Grandvalet & Bengio 2005) that stay balanced over the
classes, with weight ``entropy_weight``. It is off by default: on frozen MiniLM embeddings of
the Amazon pairs it made confident mistakes where the source classifier starts out wrong
(development runs, seeds 100-102: at weight 0.1 the average over pairs fell 2.2 points at K = 0
against weight 0, at 0.01 the worst pair lost 2.3 points to source-only; see docs/explanation/results.md).

The transport cost that ``mmd`` needs (``transport_weight``, see ``fewshot/aligned.py``) is off
by default here: aligning class by class already kept every development pair within a point of
source-only without it.
"""

from __future__ import annotations

from fewshot import hookimpl
from fewshot_plugins.alignment.learner import AlignedLearner


class KLLearner(AlignedLearner):
    """Class-conditional Gaussian KL between target and source (entropy minimisation optional)."""

    name = "kl"
    default_entropy_weight = 0.0

    def penalty(self, z_source, y_source, z_target, logits_target):
        from fewshot_plugins.alignment.training import (
            class_conditional_kl,
        )  # torch, only once training

        return class_conditional_kl(z_source, y_source, z_target, logits_target.softmax(dim=1))


@hookimpl
def fewshot_learners():
    return [KLLearner]
