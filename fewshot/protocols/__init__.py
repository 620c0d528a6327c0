"""The evaluation protocols: one class per kind of benchmark setting (see ``base.py``)."""

from fewshot.protocols.base import DataSource, Setting
from fewshot.protocols.cross_domain import CrossDomainSetting
from fewshot.protocols.episodes import EpisodeSetting, TaskDatasetSetting
from fewshot.protocols.full_way import FullWaySetting

__all__ = [
    "CrossDomainSetting",
    "DataSource",
    "EpisodeSetting",
    "FullWaySetting",
    "Setting",
    "TaskDatasetSetting",
]
