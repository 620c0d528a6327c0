"""Prototypical networks: nearest class mean (:mod:`.learner`), optionally on an embedding
projection meta-trained on episodes of base classes (:mod:`.projection`)."""

from fewshot_plugins.protonet.learner import PrototypicalLearner

__all__ = ["PrototypicalLearner"]
