"""The evaluation protocols: one class per kind of benchmark setting (see ``base.py``)."""

from fewshot.evaluation.protocols.active_learning import ActiveLearningSetting
from fewshot.evaluation.protocols.base import DataSource, Setting
from fewshot.evaluation.protocols.cross_domain import CrossDomainSetting
from fewshot.evaluation.protocols.episodes import EpisodeSetting, TaskDatasetSetting
from fewshot.evaluation.protocols.full_way import FullWaySetting

__all__ = [
    "ActiveLearningSetting",
    "CrossDomainSetting",
    "DataSource",
    "EpisodeSetting",
    "FullWaySetting",
    "Setting",
    "TaskDatasetSetting",
]
