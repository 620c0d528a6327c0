"""Putting a model to work: ONNX export, the torch-free ONNX classifier, prediction files in and
out, and the HTTP server.

May import: :mod:`fewshot.models` and everything below it; never evaluation, report or the CLI.
"""
