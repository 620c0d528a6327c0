"""Fine-tuning the encoder on the support texts (:mod:`.learner`), with its training recipes
(:mod:`.recipes`: SetFit-style contrastive pairs, end-to-end cross-entropy, label sets)."""

from fewshot_plugins.finetune.learner import FineTuneLearner

__all__ = ["FineTuneLearner"]
