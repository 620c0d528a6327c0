"""Finding plugins and merging what they contribute into one :class:`Registry`.

Plugins are the modules named by installed entry points of the ``fewshot`` group, plus the
core's own ``fewshot.plugins.builtin``. A plugin that fails to import, raises in a hook or returns
something unusable is recorded as a :class:`PluginFailure` under its name and skipped; every
other plugin keeps working.

Trust: only installed entry points are loaded. ``FEWSHOT_DISABLE_PLUGIN_AUTOLOAD=1`` turns
autoloading off entirely; ``FEWSHOT_BLOCK_PLUGINS=a,b`` skips the named plugins.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from fewshot.data.catalogue import DatasetCatalog
from fewshot.encoding.encoders import (
    BUNDLED_HUB_IDS,
    DEFAULT_ENCODER,
    CachedEncoder,
    Encoder,
    EncoderInfo,
    SentenceTransformerEncoder,
    default_model_path,
    hub_snapshot,
    is_hub_id,
)
from fewshot.errors import (
    ConfigError,
    MissingDependency,
    PluginError,
    did_you_mean,
    unknown_name,
)
from fewshot.learners.base import Learner
from fewshot.plugins import builtin, hookspecs

GROUP = "fewshot"
DISABLE_AUTOLOAD_ENV = "FEWSHOT_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "FEWSHOT_BLOCK_PLUGINS"


@dataclass(frozen=True)
class PluginFailure:
    plugin: str
    stage: str  # "import", or the hook that raised or returned something unusable
    error: str
    #: For a missing optional dependency (``MissingDependency``): the command that installs it.
    install: str = ""

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} failed at {self.stage}: {self.error}"


@dataclass
class Registry:
    """Everything the installed plugins contribute, by name."""

    learners: dict[str, type[Learner]] = field(default_factory=dict)
    learner_plugin: dict[str, str] = field(default_factory=dict)
    datasets: DatasetCatalog = field(default_factory=DatasetCatalog)
    encoders: dict[str, EncoderInfo] = field(default_factory=dict)
    #: Out-of-scope scorers by name (``fewshot.learners.rejection``).
    scorers: dict[str, type] = field(default_factory=dict)
    #: Acquisition strategies by name (``fewshot.acquisition``).
    strategies: dict[str, type] = field(default_factory=dict)
    #: Experiment trackers by name (``fewshot.integrations.tracking``).
    trackers: dict[str, Any] = field(default_factory=dict)
    plugin_versions: dict[str, str] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    def learner_class(self, name: str) -> type[Learner]:
        if name not in self.learners:
            broken = [f for f in self.failures if f.plugin == name]
            if broken:
                raise PluginError(f"learner {name!r} is unavailable: {broken[0]}")
            raise unknown_name("learner", name, self.learners)
        return self.learners[name]

    def make_learner(self, name: str, params: dict[str, Any] | None = None) -> Learner:
        """A fresh, unfitted learner; parameters are checked against its constructor and its
        declared constraints (``Learner.parameter_constraints``) before anything else runs."""
        cls = self.learner_class(name)
        params = dict(params or {})
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise ConfigError(
                f"learner {name!r} has no parameter {unknown[0]!r}"
                f"{did_you_mean(unknown[0], accepted)} (its parameters are "
                f"{', '.join(sorted(accepted)) or 'none'})"
            )
        try:
            learner = cls(**params)
        except Exception as exc:  # a plugin's constructor that checks (or chokes on) its values
            raise ConfigError(
                f"learner {name!r} refused its parameters {params}: {type(exc).__name__}: {exc}"
            ) from exc
        learner.validate_params()
        return learner

    def encoder(self, name_or_path: str, *, device: str = "cpu") -> Encoder:
        """A registered encoder by name, a local sentence-transformers directory, or a
        Hugging Face hub id (``ORG/NAME``) resolved through the local hub cache."""
        if name_or_path in self.encoders:
            return self.encoders[name_or_path].factory(device)
        if Path(name_or_path).is_dir():
            return SentenceTransformerEncoder(name_or_path, device=device)
        if is_hub_id(name_or_path):
            try:
                path = hub_snapshot(name_or_path)
            except ConfigError:
                if name_or_path not in BUNDLED_HUB_IDS:
                    raise
                return self.encoders[BUNDLED_HUB_IDS[name_or_path]].factory(device)
            return SentenceTransformerEncoder(path, device=device, name=name_or_path)
        raise unknown_name(
            "encoder (a registered name, a model directory or a hub id ORG/NAME)",
            name_or_path,
            self.encoders,
        )

    def cached_encoder(
        self, name_or_path: str, *, device: str, cache, progress: bool
    ) -> CachedEncoder:
        return CachedEncoder(self.encoder(name_or_path, device=device), cache, progress=progress)


def _blocked() -> set[str]:
    return {name.strip() for name in os.environ.get(BLOCK_ENV, "").split(",") if name.strip()}


def _load_entry_points(pm: pluggy.PluginManager, failures: list[PluginFailure]) -> None:
    """``load_setuptools_entrypoints``, resumed past each plugin that fails to import."""
    for name in _blocked():
        pm.set_blocked(name)
    while True:
        try:
            pm.load_setuptools_entrypoints(GROUP)
            return
        except Exception as exc:
            culprit = _first_unloaded_entry_point(pm)
            if culprit is None:
                raise
            if isinstance(exc, MissingDependency):
                failures.append(PluginFailure(culprit, "import", str(exc), exc.install))
            else:
                failures.append(PluginFailure(culprit, "import", f"{type(exc).__name__}: {exc}"))
            pm.set_blocked(culprit)


def _first_unloaded_entry_point(pm: pluggy.PluginManager) -> str | None:
    # The same walk as pluggy's loader: the first entry point neither loaded nor blocked is the
    # one whose import just raised.
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == GROUP and pm.get_plugin(ep.name) is None and not pm.is_blocked(ep.name):
                return ep.name
    return None


def build_plugin_manager(
    *, autoload: bool | None = None
) -> tuple[pluggy.PluginManager, list[PluginFailure]]:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name="builtin")
    failures: list[PluginFailure] = []
    if autoload is None:
        autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "") in ("", "0")
    if autoload:
        _load_entry_points(pm, failures)
    pm.check_pending()
    return pm, failures


def _collect(
    pm: pluggy.PluginManager, hook_name: str, failures: list[PluginFailure], core: set[str]
):
    """Call one collection hook plugin by plugin, so one failure stays that plugin's.

    The core's plugins go first, then the others by name: on a name clash the built-in keeps its
    name, and which third-party plugin wins does not depend on the order of ``sys.path``.
    """
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    for impl in sorted(impls, key=lambda impl: (impl.plugin_name not in core, impl.plugin_name)):
        try:
            contributed = impl.function()
        except Exception as exc:
            failures.append(
                PluginFailure(impl.plugin_name, hook_name, f"{type(exc).__name__}: {exc}")
            )
            continue
        if contributed is None:
            continue
        if not isinstance(contributed, (list, tuple)):
            failures.append(
                PluginFailure(
                    impl.plugin_name, hook_name, f"returned {contributed!r}; expected a list"
                )
            )
            continue
        for item in contributed:
            yield impl.plugin_name, item


def load_registry(*, autoload: bool | None = None) -> Registry:
    """Discover the installed plugins and merge their contributions.

    Parameters
    ----------
    autoload : bool or None, default None
        Load the plugins named by ``fewshot`` entry points (the built-in learners are such
        plugins too); None: yes, unless ``FEWSHOT_DISABLE_PLUGIN_AUTOLOAD=1``. Without them
        only the bundled datasets and encoders are there.

    Returns
    -------
    Registry
        Learners, datasets, encoders, scorers, strategies and trackers by name, and the
        plugins that failed.
    """
    pm, failures = build_plugin_manager(autoload=autoload)
    registry = Registry(failures=failures)
    core = {"builtin"}
    for plugin, dist in pm.list_plugin_distinfo():
        registry.plugin_versions[pm.get_name(plugin)] = f"{dist.project_name} {dist.version}"
        if dist.project_name == "fewshot":
            core.add(pm.get_name(plugin))

    def clash(kind: str, name: str, plugin: str, owner: str, hook: str) -> None:
        failures.append(
            PluginFailure(
                plugin,
                hook,
                f"{kind} name {name!r} is already taken by plugin {owner!r}",
            )
        )

    for plugin, cls in _collect(pm, "fewshot_learners", failures, core):
        if not (isinstance(cls, type) and issubclass(cls, Learner)) or not getattr(cls, "name", ""):
            failures.append(
                PluginFailure(
                    plugin,
                    "fewshot_learners",
                    f"{cls!r} is not a fewshot.Learner subclass with a name",
                )
            )
        elif cls.name in registry.learners:
            clash(
                "learner", cls.name, plugin, registry.learner_plugin[cls.name], "fewshot_learners"
            )
        else:
            registry.learners[cls.name] = cls
            registry.learner_plugin[cls.name] = plugin
    for kind, hook, table in (
        ("dataset", "fewshot_datasets", registry.datasets.datasets),
        ("encoder", "fewshot_encoders", registry.encoders),
        ("scorer", "fewshot_scorers", registry.scorers),
        ("strategy", "fewshot_strategies", registry.strategies),
        ("tracker", "fewshot_trackers", registry.trackers),
    ):
        owner: dict[str, str] = {}
        for plugin, info in _collect(pm, hook, failures, core):
            name = getattr(info, "name", None)
            if not isinstance(name, str) or not name:
                failures.append(PluginFailure(plugin, hook, f"{info!r} has no name; skipped"))
            elif name in table:
                clash(kind, name, plugin, owner[name], hook)
            else:
                table[name] = info
                owner[name] = plugin
    return registry


def resolve_model_path(encoder: str) -> Path:
    """The sentence-transformers directory of a registered encoder name, a local model or a hub
    id (``ORG/NAME``): what a learner that tunes an encoder (``finetune``, ``mmd``) starts from.
    The registry is built only for a name that is neither the default nor a directory."""
    if encoder == DEFAULT_ENCODER:
        return default_model_path()
    if Path(encoder).is_dir():
        return Path(encoder)
    resolved = load_registry().encoder(encoder)
    if not isinstance(resolved, SentenceTransformerEncoder):
        raise ConfigError(
            f"encoder {encoder!r} is not a sentence-transformers model; it cannot be fine-tuned"
        )
    return resolved.model


_SHARED: Registry | None = None


def shared_registry() -> Registry:
    """This process's registry, loaded on first use and kept (a classifier consults it for every
    encoder, scorer and learner it builds)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = load_registry()
    return _SHARED
