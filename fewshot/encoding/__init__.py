"""Texts to vectors: encoders (sentence-transformers, plugin encoders), the on-disk embedding
cache, the torch-free ONNX encoder, and the safe loading of sentence-transformers directories.

May import: :mod:`fewshot.data`, :mod:`fewshot.util`. Nothing here knows a learner.
"""
