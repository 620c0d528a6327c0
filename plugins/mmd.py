"""Domain alignment by maximum mean discrepancy (DAN-style) over sentence embeddings.

Long, Cao, Wang, Jordan (2015), "Learning Transferable Features with Deep Adaptation Networks":
a projection and a classifier are trained on the labelled source (and the K target labels, if
any) while a multi-kernel MMD penalty between the source and target representations pulls the
two domains together. Kernel bandwidths are set from the data (median heuristic times
0.25..4). ``finetune_encoder=True`` trains the sentence encoder end to end with the same loss.
"""

from __future__ import annotations

from fewshot import hookimpl
from fewshot.aligned import AlignedLearner
from fewshot.alignment import mmd2


class MMDLearner(AlignedLearner):
    """DAN: source (+ K target) cross-entropy plus multi-kernel MMD between the domains."""

    name = "mmd"

    def penalty(self, z_source, y_source, z_target, logits_target):
        return mmd2(z_source, z_target)


@hookimpl
def fewshot_learners():
    return [MMDLearner]
