"""Smaller models from an adapted one: ``fewshot distill TEACHER --student static|layers:N``.

A *student* learns to answer as its *teacher* (any fewshot model with a linear head: ``logreg``,
``finetune``, single- or multi-label, with or without out-of-scope rejection) does, on unlabelled
in-domain texts: the teacher's training texts plus a pool the user gives, whose labels are never
read. The student keeps the teacher's head and learns to produce the sentence vectors that head
reads; its out-of-scope threshold and multi-label thresholds are set again on its own scores of
the pool (:mod:`fewshot.compression.student`).

- ``static`` (:mod:`fewshot.compression.static`): one vector per token, distilled from the
  teacher's encoder by model2vec, then trained on the pool; predicts with numpy and
  ``tokenizers`` alone (:class:`fewshot.encoding.static_encoder.StaticEncoder`).

A student is a model directory like any other (closed, checksummed, verified on load), with a
model card naming its teacher and the pool; ``fewshot predict``, ``fewshot serve``,
``fewshot.load`` and :func:`fewshot.load_predictor` use it without torch
(:mod:`fewshot.deploy.static_model`). Distilling needs ``pip install 'fewshot[distill]'``.
"""
