"""The core's own plugin: the bundled datasets, the default encoder, the out-of-scope
scorers and the acquisition strategies.

It registers through the same hooks as any other plugin. (The built-in *learners* live in
``fewshot_plugins/`` and are found through the ``fewshot`` entry-point group, like third-party ones.)
"""

from __future__ import annotations

from fewshot import hookimpl
from fewshot.data.catalogue import DatasetInfo, bundled_datasets
from fewshot.encoding.encoders import EncoderInfo, bundled_encoders


@hookimpl
def fewshot_datasets() -> list[DatasetInfo]:
    return bundled_datasets()


@hookimpl
def fewshot_encoders() -> list[EncoderInfo]:
    return bundled_encoders()


@hookimpl
def fewshot_scorers() -> list:
    from fewshot.learners.rejection import BUILT_IN

    return list(BUILT_IN)


@hookimpl
def fewshot_strategies() -> list:
    from fewshot.acquisition import BUILT_IN

    return list(BUILT_IN)


@hookimpl
def fewshot_trackers() -> list:
    from fewshot.integrations.mlflow_store import tracker_info

    return [tracker_info()]
