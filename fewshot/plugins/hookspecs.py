"""The hooks through which plugins extend fewshot.

Every hook here is a *collection* hook: fewshot calls each plugin's implementation separately
and merges what they return, so a plugin that raises is reported by name and the others still
count. Implement a hook with the ``fewshot.hookimpl`` marker in a module that your package
exposes through the ``fewshot`` entry-point group::

    [project.entry-points.fewshot]
    my_plugin = "my_package.fewshot_plugin"

Names must be unique across all plugins; a clash is reported naming both plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from fewshot.acquisition.base import Strategy
    from fewshot.data.catalogue import DatasetInfo
    from fewshot.encoding.encoders import EncoderInfo
    from fewshot.integrations.tracking import TrackerInfo
    from fewshot.learners.base import Learner
    from fewshot.learners.rejection import Scorer

hookspec = pluggy.HookspecMarker("fewshot")


@hookspec
def fewshot_learners() -> list[type[Learner]]:
    """Contribute learner classes.

    Return a list of subclasses of :class:`fewshot.Learner`. Each class has a unique ``name``
    class attribute (what users type after ``--learner``) and follows the scikit-learn estimator
    conventions checked by :func:`fewshot.learners.conformance.check_learner`.
    """


@hookspec
def fewshot_datasets() -> list[DatasetInfo]:
    """Contribute named datasets.

    Return a list of :class:`fewshot.DatasetInfo`; each maps split names to files, so users can
    write ``NAME:SPLIT`` wherever a dataset is expected.
    """


@hookspec
def fewshot_encoders() -> list[EncoderInfo]:
    """Contribute named text encoders.

    Return a list of :class:`fewshot.EncoderInfo`; each has a ``name`` and a
    ``factory(device: str) -> Encoder``. Encoders are cached on disk by their ``identity``.
    """


@hookspec
def fewshot_scorers() -> list[type[Scorer]]:
    """Contribute out-of-scope scorers.

    Return a list of subclasses of :class:`fewshot.learners.rejection.Scorer`, each with a unique
    ``name`` (what users give to ``--scorer``): ``fit(learner, X, y)`` on the support set after
    the learner, ``score(learner, X)`` higher for texts that look in scope, and
    ``get_state`` / ``set_state`` to be saved in a model directory.
    """


@hookspec
def fewshot_strategies() -> list[type[Strategy]]:
    """Contribute acquisition strategies (what to label next).

    Return a list of subclasses of :class:`fewshot.acquisition.Strategy`, each with a unique
    ``name`` (what users give to ``fewshot suggest --strategy`` and active-learning suites)
    and a one-line ``description``; ``rank(pool, budget, rng)`` returns the rows of a
    :class:`~fewshot.acquisition.PoolView` to label, best first.
    """


@hookspec
def fewshot_trackers() -> list[TrackerInfo]:
    """Contribute experiment trackers (what ``--track NAME[:ARGUMENT]`` logs runs to).

    Return a list of :class:`fewshot.integrations.tracking.TrackerInfo`; each has a unique
    ``name`` and a ``factory(argument) -> Tracker``. A
    :class:`~fewshot.integrations.tracking.Tracker` is told a run's start (its fingerprint and
    parameters), each result record, each training step's loss (``adapt``) and the run's end with its
    artifacts. The built-in ``mlflow`` tracker is one.
    """
