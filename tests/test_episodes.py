import numpy as np
import pytest

from fewshot.data.texts import LabeledTexts
from fewshot.errors import ConfigError, EpisodeError
from fewshot.tasks.episodes import ClassSplit, EpisodeSampler, FullWayTask


def toy(classes=8, per_class=30, duplicates=0, domains=None):
    texts, labels, doms = [], [], []
    for c in range(classes):
        for i in range(per_class):
            texts.append(f"class {c} example {i}")
            labels.append(f"c{c}")
            doms.append(domains[c % len(domains)] if domains else "d")
        for _ in range(duplicates):
            texts.append(f"class {c} example 0")
            labels.append(f"c{c}")
            doms.append(domains[c % len(domains)] if domains else "d")
    return LabeledTexts.from_lists(texts, labels, doms)


def test_episode_shape_and_disjointness():
    data = toy()
    sampler = EpisodeSampler(data, ways=5, shots=3, queries=4, seed=1)
    episode = sampler.episode(0)
    assert len(episode.classes) == len(set(episode.classes)) == 5
    assert len(episode.support) == 15 and len(episode.query) == 20
    assert not set(episode.support) & set(episode.query)
    for label in episode.classes:
        assert (episode.support_labels == label).sum() == 3
        assert (episode.query_labels == label).sum() == 4
    assert list(episode.support_labels) == [data.labels[i] for i in episode.support]


def test_episode_is_a_pure_function_of_seed_and_index():
    data = toy()
    a = EpisodeSampler(data, 5, 2, 3, seed=7)
    b = EpisodeSampler(data, 5, 2, 3, seed=7)
    forward = [a.episode(i) for i in range(20)]
    backward = [b.episode(i) for i in reversed(range(20))][::-1]
    for x, y in zip(forward, backward, strict=True):
        assert x.classes == y.classes
        assert np.array_equal(x.support, y.support) and np.array_equal(x.query, y.query)
    other_seed = EpisodeSampler(data, 5, 2, 3, seed=8).episode(0)
    assert not np.array_equal(other_seed.support, forward[0].support)
    assert len({tuple(e.support) for e in forward}) == 20


def test_repeated_texts_never_straddle_support_and_query():
    data = toy(classes=5, per_class=6, duplicates=10)
    sampler = EpisodeSampler(data, 5, 2, 4, seed=0)
    for episode in sampler.episodes(50):
        support = {data.texts[i] for i in episode.support}
        query = {data.texts[i] for i in episode.query}
        assert not support & query


def test_small_class_error_and_skip():
    data = LabeledTexts.from_lists(
        [f"t{i}" for i in range(45)], ["a"] * 20 + ["b"] * 20 + ["c"] * 5
    )
    with pytest.raises(
        EpisodeError,
        match=r"class 'c' has 5 distinct examples, but a 5-shot 10-query episode needs 15",
    ):
        EpisodeSampler(data, 2, 5, 10)
    sampler = EpisodeSampler(data, 2, 5, 10, small_classes="skip")
    assert sampler.classes == ("a", "b")
    with pytest.raises(EpisodeError, match="3-way episodes need 3 classes"):
        EpisodeSampler(data, 3, 5, 10, small_classes="skip")


def test_too_many_ways():
    with pytest.raises(EpisodeError, match=r"9-way episodes need 9 classes .* only 8"):
        EpisodeSampler(toy(), 9, 1, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ways": 1}, "ways must be an integer >= 2"),
        ({"shots": -1}, "shots must be an integer >= 0"),  # 0: zero-shot
        ({"queries": -1}, "queries must be an integer >= 1"),
        ({"shots": 1.5}, "shots must be an integer"),
        ({"seed": -3}, "seed must be an integer >= 0"),
    ],
)
def test_invalid_numbers(kwargs, message):
    args = {"ways": 5, "shots": 1, "queries": 1} | kwargs
    with pytest.raises(ConfigError, match=message):
        EpisodeSampler(toy(), **args)


def test_domain_restriction():
    data = toy(classes=8, domains=["x", "y"])
    sampler = EpisodeSampler(data, 3, 2, 2, domain="y")
    for episode in sampler.episodes(10):
        assert {data.domains[i] for i in (*episode.support, *episode.query)} == {"y"}
    with pytest.raises(EpisodeError, match="no domain 'z'"):
        EpisodeSampler(data, 3, 2, 2, domain="z")


def test_class_restriction_and_split():
    data = toy(classes=12)
    split = ClassSplit.by_fraction(data.classes, base=0.5, validation=0.25, seed=3)
    assert len(split.base) == 6 and len(split.validation) == 3 and len(split.novel) == 3
    assert not set(split.base) & set(split.novel)
    assert split == ClassSplit.by_fraction(data.classes, base=0.5, validation=0.25, seed=3)
    sampler = EpisodeSampler(data, 3, 1, 1, classes=split.novel)
    for episode in sampler.episodes(20):
        assert set(episode.classes) <= set(split.novel)
    with pytest.raises(ConfigError, match="share classes"):
        ClassSplit(("a", "b"), ("b",), ("c",))
    with pytest.raises(ConfigError, match="add up to at most 1"):
        ClassSplit.by_fraction(data.classes, base=0.8, validation=0.4)


def test_split_by_domain(registry):
    clinc = registry.datasets.load("clinc150:train_5")
    split = ClassSplit.by_domain(
        clinc, base=["banking", "travel"], validation=["work"], novel=["utility"]
    )
    assert len(split.base) == 30 and len(split.validation) == 15 and len(split.novel) == 15


def test_sampler_memory_is_linear_not_combinatorial():
    # 2,000 classes x 20 examples: C(2000, 20) possible class sets would never fit in memory.
    texts = [f"t{i}" for i in range(40_000)]
    labels = [f"c{i // 20}" for i in range(40_000)]
    sampler = EpisodeSampler(LabeledTexts.from_lists(texts, labels), 20, 5, 5)
    episode = sampler.episode(123_456_789)
    assert len(episode.support) == 100


def test_real_data_episodes(registry):
    clinc = registry.datasets.load("clinc150:test")
    sampler = EpisodeSampler(clinc, 5, 5, 15, seed=0)
    first = sampler.episode(0)
    assert first.classes == EpisodeSampler(clinc, 5, 5, 15, seed=0).episode(0).classes
    assert len(first.query) == 75


def test_full_way_task(registry):
    task = FullWayTask(
        registry.datasets.load("banking77:train_5"), registry.datasets.load("banking77:test")
    )
    assert task.shots == 5
    train = LabeledTexts.from_lists(["a", "b"], ["x", "y"], name="tiny")
    with pytest.raises(EpisodeError, match="classes that tiny lacks"):
        FullWayTask(train, LabeledTexts.from_lists(["c"], ["z"]))
