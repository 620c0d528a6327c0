"""fewshot's built-in learners, each a plugin found through the ``fewshot`` entry-point group,
exactly as a third-party plugin is. A learner is one file (``logreg``, ``knn``,
``domain_baselines``) or, where its method needs more, one subpackage (``protonet``,
``finetune``, ``alignment``: mmd and kl, ``gradient_meta``: maml and metasgd).

May import: fewshot's layers up to the plugin registry (:mod:`fewshot.plugins`, to find another
plugin's encoder by name: :mod:`fewshot.learners`, :mod:`fewshot.tasks`, :mod:`fewshot.encoding`,
:mod:`fewshot.data`, :mod:`fewshot.util`, :mod:`fewshot.integrations`); never evaluation, models,
deploy, report or the CLI.
"""

import fewshot  # noqa: F401  (module paths of fewshot 0.1: fewshot_plugins.mmd, ...)
