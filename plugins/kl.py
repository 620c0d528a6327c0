"""Domain alignment by KL divergence between class-conditional Gaussians, with entropy terms.

After Nguyen, Tran, Gal, Torr, Baydin (2022), "KL Guided Domain Adaptation" (ICLR), which
minimises the KL divergence between the target and source distributions of the representation.
Here that KL is taken in closed form, per class: each class of the source and of the target is
summarised by a diagonal Gaussian over the representation, the unlabelled target counting
towards each class with its predicted probability, and the learner minimises
Σ_c π_c KL(target_c || source_c). Aligning class by class, not just the marginals, keeps
positive target reviews near positive source reviews rather than merely near "source".

Because those class assignments are the classifier's own predictions, the unlabelled target
also gets the information-maximisation loss of SHOT (Liang, Hu, Feng 2020; ``entropy_weight``,
default 0.1): confident predictions (entropy minimisation, Grandvalet & Bengio 2005) that stay
balanced over the classes.
"""

from __future__ import annotations

from fewshot import hookimpl
from fewshot.aligned import AlignedLearner
from fewshot.alignment import class_conditional_kl


class KLLearner(AlignedLearner):
    """Class-conditional Gaussian KL between target and source, plus entropy minimisation."""

    name = "kl"
    default_entropy_weight = 0.1

    def penalty(self, z_source, y_source, z_target, logits_target):
        return class_conditional_kl(z_source, y_source, z_target, logits_target.softmax(dim=1))


@hookimpl
def fewshot_learners():
    return [KLLearner]
