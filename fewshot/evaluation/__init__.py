"""The one evaluator: settings (protocols), their work units (plan, work), where units run
(executors: in-process, local processes, Ray), the resumable journal, run directories, records,
statistics and suite files.

May import: :mod:`fewshot.plugins`, :mod:`fewshot.learners`, :mod:`fewshot.tasks`,
:mod:`fewshot.encoding`, :mod:`fewshot.data`, :mod:`fewshot.util`; never models, deploy, report
or the CLI.
"""

from fewshot.util.lazy import lazy_exports

__getattr__ = lazy_exports(
    __name__,
    {
        "CrossDomainSetting": "fewshot.evaluation.protocols",
        "EpisodeSetting": "fewshot.evaluation.protocols",
        "Evaluator": "fewshot.evaluation.evaluator",
        "FullWaySetting": "fewshot.evaluation.protocols",
        "LearnerOutcome": "fewshot.evaluation.evaluator",
        "LearnerSpec": "fewshot.learners.base",
        "SettingResult": "fewshot.evaluation.evaluator",
        "jsonable": "fewshot.evaluation.aggregate",
        "macro_f1": "fewshot.evaluation.stats",
        "mean_ci95": "fewshot.evaluation.stats",
        "Setting": "fewshot.evaluation.protocols",
        "TaskDatasetSetting": "fewshot.evaluation.protocols",
    },
)
