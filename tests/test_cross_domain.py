"""Cross-domain tasks and the domain-alignment learners (issue 4), on the real Amazon reviews."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import run_fewshot

from fewshot.data.texts import LabeledTexts
from fewshot.errors import ConfigError, EpisodeError
from fewshot.evaluation.suite import load_suite
from fewshot.tasks.episodes import CrossDomainSampler
from fewshot_plugins.alignment.training import (
    AlignmentNetwork,
    class_conditional_kl,
    gaussian_kl,
    mmd2,
)


@pytest.fixture(scope="module")
def reviews(registry):
    return {d: registry.datasets.load(f"amazon_reviews:{d}") for d in ("books", "kitchen")}


def subset(data: LabeledTexts, size: int, seed: int = 0) -> LabeledTexts:
    """``size`` reviews, half of each label."""
    rng = np.random.default_rng(seed)
    rows = np.concatenate(
        [
            rng.choice(np.flatnonzero(data.label_array == c), size // 2, replace=False)
            for c in data.classes
        ]
    )
    return LabeledTexts(
        [data.texts[i] for i in rows], [data.labels[i] for i in rows], name=data.name + "-subset"
    )


@pytest.fixture(scope="module")
def small_task(reviews, encoder):
    """400 books reviews (source) and 400 kitchen reviews (target), embedded."""
    source, target = subset(reviews["books"], 400), subset(reviews["kitchen"], 400)
    return source, target, encoder.encode(source.texts), encoder.encode(target.texts)


# -- the alignment measures -------------------------------------------------------------------


def test_mmd_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(300, 16, generator=generator)
    y = torch.randn(300, 16, generator=generator)
    same = float(mmd2(x, y))
    assert abs(same) < 0.01
    values = [float(mmd2(x, y + shift)) for shift in (0.25, 0.5, 1.0, 2.0)]
    assert values[0] > 5 * abs(same)
    assert values == sorted(values), values


def test_gaussian_kl_is_zero_for_equal_gaussians_and_matches_the_closed_form():
    mean, var = torch.zeros(3), torch.ones(3)
    assert float(gaussian_kl(mean, var, mean, var)) == pytest.approx(0.0, abs=1e-7)
    # KL(N(1, 1) || N(0, 4)) per dimension: 0.5 * (log 4 + (1 + 1) / 4 - 1)
    expected = 3 * 0.5 * (np.log(4) + 0.5 - 1)
    assert float(gaussian_kl(mean + 1, var, mean, 4 * var)) == pytest.approx(expected, rel=1e-6)


def test_class_conditional_kl_sees_a_shift_of_one_class():
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(200, 8, generator=generator)
    labels = torch.arange(200) % 2
    p = torch.nn.functional.one_hot(labels, 2).float()
    aligned = float(class_conditional_kl(z, labels, z.clone(), p))
    shifted = z.clone()
    shifted[labels == 1] += 2.0
    assert aligned == pytest.approx(0.0, abs=1e-6)
    assert float(class_conditional_kl(z, labels, shifted, p)) > 0.5


@pytest.mark.integration
def test_training_with_the_mmd_penalty_shrinks_the_discrepancy_on_real_data(registry, small_task):
    source, _, X_source, X_target = small_task
    raw = float(mmd2(torch.as_tensor(X_source), torch.as_tensor(X_target)))

    def trained(**params) -> tuple[float, float]:
        """MK-MMD between source and target representations after training (no checkpoint
        selection, so every network trains the full 400 steps), and the mean squared
        displacement of the target by the adapter."""
        params = {"validation_fraction": 0.0, "random_state": 0, "transport_weight": 0, **params}
        learner = registry.make_learner("mmd", params)
        learner.fit(X_target[:0], [], source=(X_source, source.label_array), unlabeled=X_target)
        network: AlignmentNetwork = learner.network_
        scale = float(learner.scale_)
        x_t = torch.as_tensor((X_target - learner.target_mean_) * scale)
        with torch.no_grad():
            z_s, _ = network(torch.as_tensor((X_source - X_source.mean(axis=0)) * scale), False)
            z_t, _ = network(x_t)
        return float(mmd2(z_s, z_t)), float((z_t - x_t).pow(2).mean())

    centred, _ = trained(weight=0.0)  # the target adapter gets no gradient: centring alone
    adapted, moved = trained(weight=1.0)
    assert centred < raw / 10, (raw, centred)
    assert adapted < 0.85 * centred, (centred, adapted)
    # The transport cost trades alignment for movement: the target moves less, and the
    # discrepancy stays between the centred and the freely adapted one.
    held, moved_less = trained(weight=1.0, transport_weight=3.0)
    assert moved_less < moved / 2, (moved, moved_less)
    assert adapted < held < centred, (adapted, held, centred)
    # DAN's shared network: training on the source labels alone lets the discrepancy grow back;
    # the penalty holds it down.
    shared_without, _ = trained(weight=0.0, adapt_source=True)
    shared_with, _ = trained(weight=1.0, adapt_source=True)
    assert shared_without > centred
    assert shared_with < shared_without / 3, (shared_without, shared_with)


# -- cross-domain tasks ------------------------------------------------------------------------


def test_cross_domain_tasks_split_the_target_three_ways(reviews):
    sampler = CrossDomainSampler(reviews["books"], reviews["kitchen"], 8, seed=3)
    task = sampler.episode(0)
    texts = reviews["kitchen"].text_array
    support, query, unlabeled = (
        set(texts[rows]) for rows in (task.support, task.query, task.unlabeled)
    )
    assert not (support & query or support & unlabeled or query & unlabeled)  # distinct texts
    assert sorted(task.support_labels) == ["negative"] * 8 + ["positive"] * 8
    assert abs(len(task.unlabeled) - len(task.query)) <= 1
    assert len(sampler.source_rows) == 2000
    again = CrossDomainSampler(reviews["books"], reviews["kitchen"], 8, seed=3).episode(0)
    assert np.array_equal(again.query, task.query) and np.array_equal(again.support, task.support)
    assert not np.array_equal(sampler.episode(1).query, task.query)


def test_zero_shot_tasks_have_no_labels_and_need_the_source_to_cover_the_target(registry, reviews):
    task = CrossDomainSampler(reviews["books"], reviews["kitchen"], 0).episode(0)
    assert len(task.support) == 0 and len(task.query) > 900
    clinc = registry.datasets.load("clinc150:test")
    with pytest.raises(EpisodeError, match="must cover every target class"):
        CrossDomainSampler(clinc, clinc, 0, source_domain="banking", target_domain="travel")
    with pytest.raises(EpisodeError, match="no domain 'bankin'"):
        CrossDomainSampler(clinc, clinc, 5, source_domain="bankin", target_domain="travel")


def test_the_amazon_suite_has_all_twelve_pairs_at_both_shot_counts():
    suite = load_suite("episodes/amazon-cross-domain.toml")
    pairs = {(s.source, s.target) for s in suite.settings}
    assert len(pairs) == 12 and all(a != b for a, b in pairs)
    assert sorted({s.shots for s in suite.settings}) == [0, 8]
    assert {s.seeds for s in suite.settings} == {10}


def test_a_cross_domain_table_with_an_unknown_key_is_refused(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(
        'learners = ["mmd"]\n[[cross_domain]]\nsource = "a:b"\ntarget = "c:d"\nshots = 0\nseed = 1\nunlabelled = 0.5\n'
    )
    with pytest.raises(ConfigError, match="unknown key 'unlabelled'"):
        load_suite(suite)


# -- learners ----------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("name", ["mmd", "kl", "source-only", "source+target"])
@pytest.mark.parametrize("shots", [0, 8])
def test_learners_adapt_from_books_to_kitchen(registry, small_task, name, shots):
    source, target, X_source, X_target = small_task
    rng = np.random.default_rng(0)
    support = np.concatenate(
        [
            rng.choice(np.flatnonzero(target.label_array == c), shots, replace=False)
            for c in target.classes
        ]
    ).astype(int)
    rest = np.setdiff1d(np.arange(len(target)), support)
    unlabeled, query = rest[::2], rest[1::2]
    learner = registry.make_learner(name)
    extra = {"source": (X_source, source.label_array)}
    if "unlabeled" in learner.fit_inputs:
        extra["unlabeled"] = X_target[unlabeled]
    learner.fit(X_target[support], target.label_array[support], **extra)
    assert list(learner.classes_) == ["negative", "positive"]
    accuracy = float(np.mean(learner.predict(X_target[query]) == target.label_array[query]))
    baseline = registry.make_learner("source-only").fit(X_target[:0], [], source=extra["source"])
    baseline_accuracy = float(
        np.mean(baseline.predict(X_target[query]) == target.label_array[query])
    )
    # A smoke test on 400 reviews; the accuracy claims are in the slow test and the README.
    assert accuracy > 0.55 and accuracy >= baseline_accuracy - 0.05, (accuracy, baseline_accuracy)


def test_target_only_refuses_a_task_without_target_labels(registry, small_task):
    with pytest.raises(ValueError, match="needs target labels"):
        registry.make_learner("target-only").fit(np.zeros((0, 384), np.float32), [])


def test_alignment_learners_need_a_source(registry, small_task):
    _, target, _, X_target = small_task
    with pytest.raises(ValueError, match="needs labelled source data"):
        registry.make_learner("mmd").fit(X_target[:10], target.label_array[:10])


def test_alignment_is_reproducible(registry, small_task):
    source, _, X_source, X_target = small_task
    outputs = [
        registry.make_learner("kl", {"steps": 50, "random_state": 7})
        .fit(X_target[:0], [], source=(X_source, source.label_array), unlabeled=X_target)
        .predict_proba(X_target)
        for _ in range(2)
    ]
    assert np.array_equal(outputs[0], outputs[1])


# -- command line ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def review_files(tmp_path_factory, reviews):
    """Smaller books and kitchen files, so command-line tests encode 600 reviews, not 4,000."""
    directory = tmp_path_factory.mktemp("reviews")
    paths = {}
    for name, size in (("books", 300), ("kitchen", 300)):
        data = subset(reviews[name], size, seed=1)
        paths[name] = directory / f"{name}.jsonl"
        paths[name].write_text(
            "".join(
                json.dumps({"text": t, "label": y}) + "\n"
                for t, y in zip(data.texts, data.labels, strict=True)
            )
        )
    return paths


@pytest.mark.integration
def test_bench_runs_the_cross_domain_command_and_records_source_and_target(tmp_path, review_files):
    out = tmp_path / "run"
    result = run_fewshot(
        "bench",
        "--source",
        str(review_files["books"]),
        "--target",
        str(review_files["kitchen"]),
        "--shots",
        "0,8",
        "--learner",
        "source-only",
        "--learner",
        "mmd:steps=100",
        "--learner",
        "kl:steps=100",
        "--seeds",
        "3",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    records = json.loads((out / "results.json").read_text())
    assert len(records) == 6
    for record in records:
        assert record["status"] == "ok"
        assert record["source"] == str(review_files["books"])
        assert record["target"] == str(review_files["kitchen"])
        assert record["protocol"] == "cross-domain"
        assert record["episodes"] == record["seeds"] == 3
        assert record["accuracy"] > 0.55
    assert {r["shots"] for r in records} == {0, 8}
    comparisons = json.loads((out / "comparisons.json").read_text())
    assert {c["source"] for c in comparisons} == {str(review_files["books"])}


def test_cross_domain_flags_need_both_sides(tmp_path, review_files):
    result = run_fewshot(
        "bench", "--source", str(review_files["books"]), "--learner", "mmd", "--out", str(tmp_path)
    )
    assert result.returncode == 2
    assert "need both --source and --target" in result.stderr
    result = run_fewshot(
        "bench",
        "--dataset",
        "clinc150:test",
        "--seeds",
        "3",
        "--learner",
        "mmd",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 2 and "--seeds belongs to cross-domain runs" in result.stderr


@pytest.mark.integration
def test_adapt_with_source_and_unlabeled_saves_a_model_that_predicts(
    tmp_path, review_files, reviews
):
    kitchen = [json.loads(line) for line in review_files["kitchen"].read_text().splitlines()]
    labelled = [r for r in kitchen if r["label"] == "positive"][:8] + [
        r for r in kitchen if r["label"] == "negative"
    ][:8]
    rest = [r for r in kitchen if r not in labelled]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in labelled))
    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_text("".join(r["text"].replace("\n", " ") + "\n" for r in rest[:150]))
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in rest[150:]))
    model = tmp_path / "model"
    result = run_fewshot(
        "adapt",
        "--source",
        str(review_files["books"]),
        "--train",
        str(train),
        "--unlabeled",
        str(unlabeled),
        "--learner",
        "mmd:steps=100",
        "--out",
        str(model),
    )
    assert result.returncode == 0, result.stderr
    predictions = tmp_path / "p.jsonl"
    result = run_fewshot("predict", str(model), str(test), "--out", str(predictions))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    truth = [r["label"] for r in rest[150:]]
    accuracy = np.mean([row["label"] == label for row, label in zip(rows, truth, strict=True)])
    assert accuracy > 0.6
    assert f"accuracy on the labelled inputs: {accuracy:.4f}" in result.stderr


@pytest.mark.slow
def test_the_issue_command_on_books_to_kitchen(tmp_path):
    """The command of issue 4 on the real data (3 seeds instead of 10, to keep CI short)."""
    out = tmp_path / "b2k"
    result = run_fewshot(
        "bench",
        "--source",
        "amazon_reviews:books",
        "--target",
        "amazon_reviews:kitchen",
        "--shots",
        "0,8",
        "--learner",
        "source-only",
        "--learner",
        "mmd",
        "--learner",
        "kl",
        "--seeds",
        "3",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    records = {
        (r["learner"], r["shots"]): r for r in json.loads((out / "results.json").read_text())
    }
    assert len(records) == 6
    assert all(r["source_examples"] == 2000 and r["unlabeled"] > 900 for r in records.values())
    # source-only matches the independent frozen-MiniLM figure for B→K (about 0.66-0.67)
    assert 0.64 <= records[("source-only", 0)]["accuracy"] <= 0.70
    # measured on this machine: K=0 0.671 / mmd 0.675, kl 0.688; K=8 0.654 / mmd 0.672, kl 0.699
    for shots in (0, 8):
        baseline = records[("source-only", shots)]["accuracy"]
        assert records[("mmd", shots)]["accuracy"] >= baseline - 0.01
    assert records[("mmd", 8)]["accuracy"] > records[("source-only", 8)]["accuracy"]
    assert records[("kl", 8)]["accuracy"] > records[("source-only", 8)]["accuracy"]


@pytest.mark.integration
def test_mmd_with_a_fine_tuned_encoder_saves_the_encoder_and_predicts(tmp_path, review_files):
    books = review_files["books"].read_text().splitlines()[:24]
    kitchen = [json.loads(line) for line in review_files["kitchen"].read_text().splitlines()]
    source = tmp_path / "source.jsonl"
    source.write_text("\n".join(books) + "\n")
    train = tmp_path / "train.jsonl"
    labelled = [r for r in kitchen if r["label"] == "positive"][:2]
    labelled += [r for r in kitchen if r["label"] == "negative"][:2]
    train.write_text("".join(json.dumps(r) + "\n" for r in labelled))
    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_text("".join(r["text"].replace("\n", " ") + "\n" for r in kitchen[100:110]))
    model = tmp_path / "model"
    learner = "mmd:finetune_encoder=true,steps=2,batch_size=4,max_seq_length=32"
    result = run_fewshot(
        "adapt",
        *("--source", str(source), "--train", str(train), "--unlabeled", str(unlabeled)),
        *("--learner", learner, "--out", str(model)),
    )
    assert result.returncode == 0, result.stderr
    assert (model / "encoder" / "modules.json").is_file()
    config = json.loads((model / "fewshot.json").read_text())
    assert config["input_kind"] == "texts"
    predictions = tmp_path / "p.jsonl"
    result = run_fewshot("predict", str(model), str(unlabeled), "--out", str(predictions))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(rows) == 10 and {row["label"] for row in rows} <= {"positive", "negative"}
