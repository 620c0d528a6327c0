"""Property-based tests: whatever the input, the loaders, the suite parser and the sampler give a
valid result or a clean FewshotError, never another exception."""

import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fewshot.data.files import read_labeled_file
from fewshot.data.texts import LabeledTexts
from fewshot.errors import FewshotError
from fewshot.evaluation.suite import load_suite
from fewshot.tasks.episodes import EpisodeSampler

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
rows = st.dictionaries(
    st.sampled_from(["text", "label", "domain", "other"]), json_values, max_size=4
)


def load_bytes(content: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"data{suffix}"
        path.write_bytes(content)
        try:
            return read_labeled_file(path)
        except FewshotError:
            return None


def check_valid(data: LabeledTexts | None) -> None:
    if data is None:
        return
    assert len(data.texts) == len(data.labels) > 0
    assert all(isinstance(t, str) and t.strip() for t in data.texts)
    assert all(isinstance(label, str) and label for label in data.labels)


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([".jsonl", ".csv", ".tsv", ".jsonl.gz"]))
def test_any_bytes(content, suffix):
    check_valid(load_bytes(content, suffix))


@FUZZ
@given(st.lists(rows, max_size=6))
def test_any_json_rows(records):
    content = "\n".join(json.dumps(r) for r in records).encode()
    check_valid(load_bytes(content, ".jsonl"))


@FUZZ
@given(st.lists(st.lists(st.text(max_size=6), min_size=1, max_size=3), max_size=6))
def test_any_csv_cells(table):
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer).writerows([["text", "label"], *table])
    check_valid(load_bytes(buffer.getvalue().encode(), ".csv"))


@FUZZ
@given(st.text(max_size=200))
def test_any_suite_text(text):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "suite.toml"
        path.write_text(text)
        try:
            suite = load_suite(path)
        except FewshotError:
            return
        assert suite.learners and suite.settings


@FUZZ
@given(
    labels=st.lists(st.integers(0, 6), min_size=1, max_size=60),
    ways=st.integers(-1, 8),
    shots=st.integers(-1, 6),
    queries=st.integers(-1, 6),
    seed=st.integers(0, 2**32 - 1),
    index=st.integers(0, 10**9),
    skip=st.booleans(),
)
def test_sampler_gives_valid_episodes_or_a_clean_error(
    labels, ways, shots, queries, seed, index, skip
):
    texts = [f"text {i % 40}" for i in range(len(labels))]  # repeated texts on purpose
    data = LabeledTexts.from_lists(texts, labels)
    try:
        sampler = EpisodeSampler(
            data, ways, shots, queries, seed=seed, small_classes="skip" if skip else "error"
        )
    except FewshotError:
        return
    episode = sampler.episode(index)
    assert len(set(episode.classes)) == ways
    support_texts = {data.texts[i] for i in episode.support}
    query_texts = {data.texts[i] for i in episode.query}
    assert not support_texts & query_texts
    for label in episode.classes:
        assert np.sum(episode.support_labels == label) == shots
        assert np.sum(episode.query_labels == label) == queries
