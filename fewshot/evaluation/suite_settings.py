"""The settings a suite file's tables describe: each kind of table (episodes, full-way, out of
scope, cross-domain, multi-label) checked key by key and turned into protocol settings. Every
refusal names the file, the table and the key."""

from __future__ import annotations

from itertools import product
from typing import Any

from fewshot.errors import ConfigError, did_you_mean
from fewshot.evaluation.evaluator import (
    CrossDomainSetting,
    EpisodeSetting,
    FullWaySetting,
    Setting,
)
from fewshot.evaluation.protocols.out_of_scope import OutOfScopeEpisodeSetting, OutOfScopeSetting
from fewshot.util.params import Integer, check_value

EPISODE_KEYS = {
    "oos",
    "oos_queries",
    "scorers",
    "reject_recall",
    "dataset",
    "ways",
    "shots",
    "queries",
    "episodes",
    "seed",
    "domain",
    "classes",
    "split",
    "skip_small_classes",
}

SPLIT_KEYS = {
    "by",
    "base",
    "validation",
    "novel",
    "seed",
    "use",
    "train",
    "validate",
    "validation_episodes",
}

FULL_WAY_KEYS = {
    "train",
    "test",
    "seed",
    "unlabeled_data",
    "oos",
    "oos_valid",
    "valid",
    "scorers",
    "reject_recall",
}

#: Keys that make an [[episodes]] or [[full_way]] table an out-of-scope run.
OOS_KEYS = {"oos", "oos_valid", "valid", "scorers", "reject_recall", "oos_queries"}

CROSS_DOMAIN_KEYS = {
    "source",
    "target",
    "shots",
    "seeds",
    "seed",
    "ways",
    "unlabeled",
    "source_domain",
    "target_domain",
}

MULTI_LABEL_KEYS = {
    "train",
    "test",
    "dataset",
    "ways",
    "shots",
    "queries",
    "episodes",
    "seeds",
    "seed",
}


def check_keys(where: str, table: Any, allowed: set[str]) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], allowed)} "
            f"(expected one of {', '.join(sorted(allowed))})"
        )
    return table


def int_list(where: str, key: str, value: Any) -> list[int]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{where}: {key} must be an integer or a list of integers, got {value!r}")
    return values


def positive(where: str, key: str, value: Any, minimum: int = 1, maximum: int = 10**7) -> int:
    return check_value(where, key, value, Integer(min=minimum, max=maximum))


def episode_settings(table: dict, where: str, default_seed: int) -> list[EpisodeSetting]:
    check_keys(where, table, EPISODE_KEYS)
    for key in ("dataset", "ways", "shots"):
        if key not in table:
            raise ConfigError(f"{where}: missing key {key!r}")
    split: dict[str, Any] = {}
    part = "novel"
    if "split" in table:
        split = _split_options(f"{where}.split", table["split"])
        part = split.pop("split_part")
    seed = positive(where, "seed", table.get("seed", default_seed), minimum=0, maximum=2**32 - 1)
    if "domain" in table and not isinstance(table["domain"], str):
        raise ConfigError(f"{where}: domain must be a string, got {table['domain']!r}")
    if "classes" in table:
        name_list(where, "classes", table["classes"])
    if not isinstance(table.get("skip_small_classes", False), bool):
        raise ConfigError(
            f"{where}: skip_small_classes must be true or false, got {table['skip_small_classes']!r}"
        )
    if not isinstance(table["dataset"], str):
        raise ConfigError(
            f"{where}: dataset must be a NAME:SPLIT or a path, got {table['dataset']!r}"
        )
    oos = out_of_scope_options(where, table)
    kind = OutOfScopeEpisodeSetting if oos else EpisodeSetting
    settings = []
    for ways, shots in product(
        int_list(where, "ways", table["ways"]), int_list(where, "shots", table["shots"])
    ):
        settings.append(
            kind(
                dataset=str(table["dataset"]),
                ways=positive(where, "ways", ways, minimum=2, maximum=100_000),
                # 0 shots: zero-shot learners, from the class names alone
                shots=positive(where, "shots", shots, minimum=0 if not oos else 1, maximum=100_000),
                queries=positive(where, "queries", table.get("queries", 15), maximum=100_000),
                episodes=positive(where, "episodes", table.get("episodes", 600), maximum=1_000_000),
                seed=seed,
                domain=table.get("domain"),
                classes=tuple(name_list(where, "classes", table["classes"]))
                if "classes" in table
                else None,
                split_part=part,
                skip_small_classes=bool(table.get("skip_small_classes", False)),
                **split,
                **oos,
            )
        )
    return settings


def out_of_scope_options(where: str, table: dict) -> dict[str, Any]:
    """The out-of-scope keys of a table as setting fields (empty: not an out-of-scope run)."""
    present = OOS_KEYS & set(table)
    if not present:
        return {}
    if "oos" not in table:
        raise ConfigError(f"{where}: {sorted(present)[0]} belongs to out-of-scope runs; add oos")
    options: dict[str, Any] = {"oos": name_list(where, "oos", table["oos"])[0]}
    for key in ("oos_valid", "valid"):
        if key in table:
            options[key] = name_list(where, key, table[key])[0]
    if "scorers" in table:
        options["scorers"] = tuple(name_list(where, "scorers", table["scorers"]))
    if "reject_recall" in table:
        recall = table["reject_recall"]
        if isinstance(recall, bool) or not isinstance(recall, (int, float)) or not 0 < recall < 1:
            raise ConfigError(
                f"{where}: reject_recall must be a share between 0 and 1, got {recall!r}"
            )
        options["recall"] = float(recall)
    if "oos_queries" in table:
        options["oos_queries"] = positive(
            where, "oos_queries", table["oos_queries"], maximum=100_000
        )
    return options


def _split_options(where: str, spec: Any) -> dict[str, Any]:
    """The ``split`` table of an ``[[episodes]]`` table, as EpisodeSetting fields.

    ``by = "class"`` (default): ``base`` and ``validation`` are fractions of the classes
    (shuffled with ``seed``), the rest novel. ``by = "domain"``: ``base``, ``validation`` and
    ``novel`` are lists of domains. ``use`` picks the part the episodes come from; ``train``
    and ``validate`` name the datasets of meta-training and validation episodes.
    """
    check_keys(where, spec, SPLIT_KEYS)
    part = spec.get("use", "novel")
    if part not in ("base", "validation", "novel"):
        raise ConfigError(f"{where}: use must be 'base', 'validation' or 'novel', got {part!r}")
    by = spec.get("by", "class")
    options: dict[str, Any] = {"split_part": part}
    if by == "class":
        if "novel" in spec:
            raise ConfigError(f"{where}: novel is what base and validation leave (by = 'class')")
        fractions = []
        for key in ("base", "validation"):
            value = spec.get(key, 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(
                    f"{where}: {key} must be a fraction of the classes, got {value!r}"
                )
            fractions.append(float(value))
        seed = positive(where, "seed", spec.get("seed", 0), minimum=0, maximum=2**32 - 1)
        options["split_fractions"] = (fractions[0], fractions[1], seed)
    elif by == "domain":
        if "seed" in spec:
            raise ConfigError(f"{where}: a split by domain has no seed")
        options["split_domains"] = tuple(
            tuple(name_list(where, key, spec[key])) if key in spec else ()
            for key in ("base", "validation", "novel")
        )
    else:
        raise ConfigError(f"{where}: by must be 'class' or 'domain', got {by!r}")
    for key, field_name in (("train", "meta_train"), ("validate", "meta_validation")):
        if key in spec:
            options[field_name] = name_list(where, key, spec[key])[0]
    if "validation_episodes" in spec:
        options["validation_episodes"] = positive(
            where, "validation_episodes", spec["validation_episodes"], maximum=100_000
        )
    return options


def name_list(where: str, key: str, value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise ConfigError(f"{where}: {key} must be a name or a list of names, got {value!r}")
    return values


def cross_domain_settings(table: dict, where: str, default_seed: int) -> list[CrossDomainSetting]:
    """One setting per (source, target, shots). ``source``, ``target`` and the optional
    ``source_domain`` / ``target_domain`` may be lists: every ordered pair of distinct
    (dataset, domain) sides is a setting."""
    check_keys(where, table, CROSS_DOMAIN_KEYS)
    for key in ("source", "target", "shots"):
        if key not in table:
            raise ConfigError(f"{where}: missing key {key!r}")
    unlabeled = table.get("unlabeled", 0.5)
    if (
        isinstance(unlabeled, bool)
        or not isinstance(unlabeled, (int, float))
        or not 0 <= unlabeled < 1
    ):
        raise ConfigError(
            f"{where}: unlabeled must be a share from 0 up to (not including) 1, got {unlabeled!r}"
        )
    ways = table.get("ways")
    seed = positive(where, "seed", table.get("seed", default_seed), minimum=0, maximum=2**32 - 1)
    settings = []
    sides = {}
    for side in ("source", "target"):
        domains = table.get(f"{side}_domain")
        domains = [None] if domains is None else name_list(where, f"{side}_domain", domains)
        sides[side] = list(product(name_list(where, side, table[side]), domains))
    for (source, source_domain), (target, target_domain), shots in product(
        sides["source"], sides["target"], int_list(where, "shots", table["shots"])
    ):
        if source == target and source_domain == target_domain:
            continue  # not a domain shift
        settings.append(
            CrossDomainSetting(
                source=source,
                target=target,
                shots=positive(where, "shots", shots, minimum=0, maximum=100_000),
                seeds=positive(where, "seeds", table.get("seeds", 10), maximum=100_000),
                seed=seed,
                ways=None if ways is None else positive(where, "ways", ways, minimum=2),
                unlabeled=float(unlabeled),
                source_domain=source_domain,
                target_domain=target_domain,
            )
        )
    if not settings:
        raise ConfigError(f"{where}: source and target are the same; nothing to adapt across")
    return settings


def multi_label_settings(table: dict, where: str, default_seed: int) -> list[Setting]:
    """A ``[[multi_label]]`` table: full-way (``train`` + ``test``, ``seeds`` supports per
    shot count) or episodes (``dataset``, ``ways``, ``queries``, ``episodes``)."""
    from fewshot.evaluation.protocols.multi_label import MultiLabelEpisodeSetting, MultiLabelSetting

    check_keys(where, table, MULTI_LABEL_KEYS)
    full_way = "train" in table or "test" in table
    needed = ("train", "test", "shots") if full_way else ("dataset", "ways", "shots")
    for key in needed:
        if key not in table:
            raise ConfigError(f"{where}: missing key {key!r}")
    stray = sorted(
        set(table) & ({"dataset", "ways", "queries", "episodes"} if full_way else {"seeds"})
    )
    if stray:
        kind = "episode" if full_way else "full-way"
        raise ConfigError(f"{where}: {stray[0]} belongs to {kind} multi-label runs")
    seed = positive(where, "seed", table.get("seed", default_seed), minimum=0, maximum=2**32 - 1)
    settings: list[Setting] = []
    for shots in int_list(where, "shots", table["shots"]):
        shots = positive(where, "shots", shots, maximum=100_000)
        if full_way:
            train, test = (name_list(where, key, table[key])[0] for key in ("train", "test"))
            seeds = positive(where, "seeds", table.get("seeds", 5), maximum=100_000)
            settings.append(MultiLabelSetting(train, test, shots, seeds=seeds, seed=seed))
            continue
        for ways in int_list(where, "ways", table["ways"]):
            settings.append(
                MultiLabelEpisodeSetting(
                    name_list(where, "dataset", table["dataset"])[0],
                    positive(where, "ways", ways, minimum=2, maximum=100_000),
                    shots,
                    queries=positive(where, "queries", table.get("queries", 15), maximum=100_000),
                    episodes=positive(where, "episodes", table.get("episodes", 100), maximum=10**6),
                    seed=seed,
                )
            )
    return settings


ACTIVE_LEARNING_KEYS = {"pool", "test", "strategies", "start", "batch", "total", "seeds", "seed"}


def active_learning_setting(table: dict, where: str, default_seed: int) -> Setting:
    """An ``[[active_learning]]`` table: simulated labelling rounds from ``pool``."""
    from fewshot.evaluation.protocols.active_learning import ActiveLearningSetting

    check_keys(where, table, ACTIVE_LEARNING_KEYS)
    for key in ("pool", "test"):
        if key not in table:
            raise ConfigError(f"{where}: missing key {key!r}")
    options: dict[str, Any] = {}
    if "strategies" in table:
        options["strategies"] = tuple(name_list(where, "strategies", table["strategies"]))
    if "start" in table:
        options["start"] = name_list(where, "start", table["start"])[0]
    for key, maximum in (("batch", 100_000), ("total", 10**7), ("seeds", 1000)):
        if key in table:
            options[key] = positive(where, key, table[key], maximum=maximum)
    seed = positive(where, "seed", table.get("seed", default_seed), minimum=0, maximum=2**32 - 1)
    pool, test = (name_list(where, key, table[key])[0] for key in ("pool", "test"))
    return ActiveLearningSetting(pool, test, seed=seed, **options)


def full_way_setting(train: str, test: str, seed: int, table: dict, where: str) -> Setting:
    """A full-way setting, or its out-of-scope variant where the table names ``oos``."""
    oos = out_of_scope_options(where, table)
    if "oos_queries" in oos:
        raise ConfigError(
            f"{where}: oos_queries belongs to episode runs (full-way uses all of oos)"
        )
    unlabeled = table.get("unlabeled_data")
    if unlabeled is not None:
        if not isinstance(unlabeled, str) or not unlabeled:
            raise ConfigError(
                f"{where}: unlabeled_data must be a dataset (NAME:SPLIT or a file), got {unlabeled!r}"
            )
        if oos:
            raise ConfigError(f"{where}: unlabeled_data does not combine with out-of-scope runs")
    if oos:
        return OutOfScopeSetting(train, test, seed=seed, **oos)
    return FullWaySetting(train, test, seed=seed, unlabeled_data=unlabeled)
