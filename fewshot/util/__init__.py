"""Plumbing every layer may use: parameter constraints, seeding, atomic files, progress lines.

May import: the standard library, numpy and :mod:`fewshot.errors`; nothing else of fewshot.
"""
