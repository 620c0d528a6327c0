"""Few-shot tasks drawn from labelled data: N-way K-shot episodes, full-way tasks, cross-domain
episodes, class splits (base / validation / novel), and meta-training data.

May import: :mod:`fewshot.data`, :mod:`fewshot.util`. Every draw is a pure function of a seed.
"""
