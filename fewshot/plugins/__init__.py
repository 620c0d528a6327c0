"""Where learners, datasets and encoders come from: the hook specifications, the registry that
loads the ``fewshot`` entry points, and the built-in datasets, encoders and scorers.

May import: :mod:`fewshot.learners`, :mod:`fewshot.encoding`, :mod:`fewshot.data`,
:mod:`fewshot.util`. The built-in *learners* are plugins like any other (``fewshot_plugins``).
"""

from fewshot.util.lazy import lazy_exports

__getattr__ = lazy_exports(
    __name__,
    {
        "PluginFailure": "fewshot.plugins.registry",
        "Registry": "fewshot.plugins.registry",
        "load_registry": "fewshot.plugins.registry",
    },
)
