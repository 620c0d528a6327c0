"""The learner contract and what every learner, built-in or third-party, builds on.

- :mod:`~fewshot.learners.base`: :class:`Learner`, :class:`LearnerSpec`, ``check_support`` /
  ``check_query``;
- :mod:`~fewshot.learners.maths`, :mod:`~fewshot.learners.heads` (linear heads),
  :mod:`~fewshot.learners.decisions` (labels from probabilities), :mod:`~fewshot.learners.rejection`
  (out-of-scope scorers and thresholds), :mod:`~fewshot.learners.multi_label` (one-vs-rest heads,
  thresholds, metrics);
- :mod:`~fewshot.learners.training`: the shared toolkit of trained learners (optimiser, schedule,
  budget, the keep-the-best-checkpoint loop, tuned encoders);
- :mod:`~fewshot.learners.conformance`: the checks every learner must pass (``check_learner``).

May import: :mod:`fewshot.tasks`, :mod:`fewshot.encoding`, :mod:`fewshot.data`,
:mod:`fewshot.util`; never evaluation, models, deploy, report, plugins or the CLI.
"""

from fewshot.util.lazy import lazy_exports

__getattr__ = lazy_exports(
    __name__,
    {
        "Learner": "fewshot.learners.base",
        "LearnerSpec": "fewshot.learners.base",
        "NotFittedError": "fewshot.learners.base",
        "check_query": "fewshot.learners.base",
        "check_support": "fewshot.learners.base",
    },
)
