"""The finetune learner with the real MiniLM encoder: conformance, reproducibility, budgets, saving."""

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import time

import numpy as np
import pytest

import fewshot
from fewshot.encoding.model_loading import SAFE_MODULE_PREFIX, check_modules
from fewshot.learners.conformance import make_task
from fewshot.models.saving import save_model
from tests.conftest import run_fewshot

pytestmark = pytest.mark.slow
FAST = {"epochs": 1, "batch_size": 16}


@pytest.fixture(scope="module")
def finetune(registry):
    return lambda **params: registry.make_learner("finetune", {**FAST, **params})


# Conformance (check_learner) with finetune's defaults: test_learners checks every registered
# learner.


@pytest.mark.parametrize("recipe", ["contrastive", "end-to-end"])
def test_same_seed_same_model(finetune, recipe):
    X, y, _, _ = make_task(finetune(), shots=4)
    a = finetune(recipe=recipe, random_state=3).fit(X, y)
    b = finetune(recipe=recipe, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    for (name, p), (_, q) in zip(
        a.model_.state_dict().items(), b.model_.state_dict().items(), strict=True
    ):
        assert np.array_equal(p.numpy(), q.numpy()), name
    c = finetune(recipe=recipe, random_state=4).fit(X, y)
    assert not np.array_equal(a.weights_, c.weights_)
    # the similarity scale (inverse temperature) reaches the loss of either recipe
    d = finetune(recipe=recipe, random_state=3, scale=10.0).fit(X, y)
    assert not np.array_equal(a.weights_, d.weights_)


def test_label_names_join_training_when_the_labels_say_something(finetune):
    X, y, Xq, yq = make_task(finetune(), shots=4)
    # make_task's ids ("class A/ü") are opaque: the name term stays off
    assert not finetune().fit(X, y).names_used_
    topics = dict(zip(np.unique(y), ["sport_talk", "food_talk", "money_talk"], strict=True))
    y, yq = np.array([topics[v] for v in y]), np.array([topics[v] for v in yq])

    named = finetune(random_state=1).fit(X, y)
    assert named.names_used_ and (named.predict(Xq) == yq).mean() >= 0.9
    again = finetune(random_state=1).fit(X, y)
    np.testing.assert_array_equal(named.weights_, again.weights_)  # still one seed, one model
    plain = finetune(random_state=1, label_names=False).fit(X, y)
    assert not plain.names_used_
    assert not np.array_equal(named.weights_, plain.weights_)
    # the data's own names, where it has them, replace the derived ones
    given = {"sport_talk": "football", "food_talk": "pizza", "money_talk": "a bank loan"}
    described = finetune(random_state=1).fit(X, y, label_names=given)
    assert not np.array_equal(named.weights_, described.weights_)


def test_label_names_join_multi_label_training(finetune):
    X, y, _, _ = make_task(finetune(), shots=4)
    topics = dict(zip(np.unique(y), ["sport_talk", "food_talk", "money_talk"], strict=True))
    # the third topic's texts carry the first two labels
    sets = [(topics[v],) if topics[v] != "money_talk" else ("food_talk", "sport_talk") for v in y]
    named = finetune(random_state=1).fit(X, sets)
    assert named.multi_label_ and named.names_used_
    again = finetune(random_state=1).fit_label_sets(X, sets)
    np.testing.assert_array_equal(named.weights_, again.weights_)
    np.testing.assert_array_equal(named.thresholds_, again.thresholds_)
    plain = finetune(random_state=1, label_names=False).fit(X, sets)
    assert not plain.names_used_ and not np.array_equal(named.weights_, plain.weights_)
    given = {"sport_talk": "football", "food_talk": "pizza"}
    described = finetune(random_state=1).fit(X, sets, label_names=given)
    assert not np.array_equal(named.weights_, described.weights_)


def test_self_training_adds_the_most_confident_unlabelled_texts_per_class(finetune):
    X, y, Xq, yq = make_task(finetune(), shots=4)
    plain = finetune().fit(X, y)
    assert plain.fit_inputs == frozenset()  # the protocols pass unlabelled texts only when used
    assert finetune(self_training=3).fit_inputs == {"unlabeled"}
    # support texts and repeats are never pseudo-labelled: nothing new, nothing changes
    same = finetune(self_training=3).fit(X, y, unlabeled=np.concatenate([X, X[::-1]]))
    assert same.pseudo_texts_ == [] and len(same.pseudo_labels_) == 0
    np.testing.assert_array_equal(same.weights_, plain.weights_)

    trained = finetune(self_training=3).fit(X, y, unlabeled=np.concatenate([Xq, Xq]))
    truth = dict(zip(Xq, yq, strict=True))
    chosen = trained.pseudo_texts_
    assert len(chosen) == len(set(chosen)) == 9  # 3 per class, each text once
    assert [truth[t] for t in chosen] == list(trained.pseudo_labels_)  # this task is easy
    assert sorted(trained.pseudo_labels_) == sorted(np.repeat(trained.classes_, 3))
    assert (trained.predict(Xq) == yq).mean() >= 0.9
    assert trained.steps_ > plain.steps_  # one more epoch, over support and pseudo-labels
    again = finetune(self_training=3).fit(X, y, unlabeled=np.concatenate([Xq, Xq]))
    np.testing.assert_array_equal(trained.weights_, again.weights_)  # one seed, one model
    assert not np.array_equal(trained.weights_, plain.weights_)
    assert finetune(self_training=3, max_steps=2).fit(X, y, unlabeled=Xq).steps_ == 2
    with pytest.raises(ValueError, match="self_training needs unlabelled texts of the domain"):
        finetune(self_training=3).fit(X, y)
    with pytest.raises(ValueError, match="no self_training"):
        finetune(self_training=3).fit(X, [(label,) for label in y])


def test_layer_decay_lowers_the_learning_rate_layer_by_layer():
    from fewshot.encoding.encoders import default_model_path
    from fewshot.encoding.model_loading import load_sentence_transformer
    from fewshot.learners.training import freeze_bottom_layers, layer_groups

    model = load_sentence_transformer(default_model_path(), "cpu")
    [one] = layer_groups(model, 1e-4, 1.0)
    assert len(one["params"]) == len(list(model.parameters()))
    groups = layer_groups(model, 1e-4, 0.5)
    # the top layer (with what sits above it: BERT's pooler), 5 more, the embeddings
    assert [g["lr"] for g in groups] == [1e-4 * 0.5**level for level in range(7)]
    assert sum(len(g["params"]) for g in groups) == len(one["params"])
    transformer = model[0].auto_model
    for level, module in ((0, transformer.encoder.layer[5]), (6, transformer.embeddings)):
        assert {id(p) for p in module.parameters()} <= {id(p) for p in groups[level]["params"]}
    freeze_bottom_layers(model, 4)  # frozen parameters are in no group
    assert [g["lr"] for g in layer_groups(model, 1e-4, 0.5)] == [1e-4, 5e-5]


def test_training_moves_the_encoder_and_freezing_holds_layers(finetune):
    X, y, _, _ = make_task(finetune(), shots=4)
    from fewshot.encoding.encoders import default_model_path
    from fewshot.encoding.model_loading import load_sentence_transformer

    pristine = load_sentence_transformer(default_model_path(), "cpu").state_dict()
    tuned = finetune(freeze_layers=4).fit(X, y).model_.state_dict()
    frozen = [k for k in pristine if ".layer.0." in k or ".layer.3." in k or "embeddings" in k]
    moved = [k for k in pristine if ".layer.5." in k]
    assert frozen and moved
    assert all(np.array_equal(pristine[k].numpy(), tuned[k].numpy()) for k in frozen)
    assert any(not np.array_equal(pristine[k].numpy(), tuned[k].numpy()) for k in moved)


def test_pairs_are_linear_in_the_data(finetune):
    # 3 classes x 8 shots: each step takes one anchor per class, so an epoch is 8 steps, not 24^2 pairs.
    X, y, _, _ = make_task(finetune(), shots=8)
    assert finetune(batch_size=32).fit(X, y).steps_ == 8


def test_time_budget_and_max_steps(finetune):
    X, y, _, _ = make_task(finetune(), shots=8)
    assert finetune(epochs=50, max_steps=3).fit(X, y).steps_ == 3
    start = time.perf_counter()
    budgeted = finetune(epochs=500, time_budget=3.0).fit(X, y)
    assert time.perf_counter() - start < 30 and 0 < budgeted.steps_ < 500 * 8


def test_early_stopping_runs_on_held_out_support(finetune):
    X, y, Xq, yq = make_task(finetune(), shots=6)
    learner = finetune(epochs=6, validation_fraction=0.34, patience=0).fit(X, y)
    assert (learner.predict(Xq) == yq).mean() >= 0.9


def test_bad_parameters(finetune):
    X, y, _, _ = make_task(finetune())
    with pytest.raises(
        fewshot.ConfigError, match="recipe must be 'contrastive' or 'end-to-end', got 'magic'"
    ):
        finetune(recipe="magic").fit(X, y)
    with pytest.raises(
        fewshot.ConfigError, match="freeze_layers=9, but the encoder has only 6 layers"
    ):
        finetune(freeze_layers=9).fit(X, y)


def test_saved_finetuned_model_roundtrip_and_unsafe_modules(finetune, tmp_path):
    X, y, Xq, _ = make_task(finetune())
    learner = finetune().fit(X, y)
    save_model(learner, tmp_path / "m", encoder={"name": "all-MiniLM-L6-v2"}, training={})
    files = json.loads((tmp_path / "m" / "fewshot.json").read_text())["files"]
    assert "encoder/model.safetensors" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl", ".pickle"))]
    model = fewshot.load(tmp_path / "m")
    np.testing.assert_allclose(model.predict_proba(list(Xq)), learner.predict_proba(Xq), atol=1e-5)

    check_modules(tmp_path / "m" / "encoder")
    modules = tmp_path / "m" / "encoder" / "modules.json"
    entries = json.loads(modules.read_text())
    assert all(e["type"].startswith(SAFE_MODULE_PREFIX) for e in entries)
    entries[0]["type"] = "os.system"
    modules.write_text(json.dumps(entries))
    with pytest.raises(fewshot.FewshotError, match="modules.json"):
        fewshot.load(tmp_path / "m")


def test_banking77_adapt_predict_reproduces_the_benchmark(tmp_path):
    bench = run_fewshot(
        "bench",
        "--train",
        "banking77:train_5",
        "--test",
        "banking77:test",
        "--learner",
        "finetune",
        "--out",
        str(tmp_path / "bench"),
    )
    assert bench.returncode == 0, bench.stderr
    [record] = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert record["accuracy"] >= 0.83  # 0.836 measured; 0.823 before label names

    adapt = run_fewshot(
        "adapt",
        "--train",
        "banking77:train_5",
        "--learner",
        "finetune",
        "--out",
        str(tmp_path / "m"),
    )
    assert adapt.returncode == 0, adapt.stderr
    predict = run_fewshot(
        "predict", str(tmp_path / "m"), "banking77:test", "--out", str(tmp_path / "p.jsonl")
    )
    assert predict.returncode == 0, predict.stderr
    assert f"accuracy on the labelled inputs: {record['accuracy']:.4f}" in predict.stderr


def _topic_file(tmp_path, X, y):
    """make_task's texts as a JSONL training file, their opaque ids renamed to topics (so that
    label names apply), and that renaming."""
    topics = dict(zip(np.unique(y), ["sport", "food", "money"], strict=True))
    train = tmp_path / "train.jsonl"
    train.write_text(
        "".join(
            json.dumps({"text": t, "label": topics[v]}) + "\n" for t, v in zip(X, y, strict=True)
        )
    )
    return train, topics


def test_adapt_self_trains_on_the_unlabelled_file(finetune, tmp_path):
    X, y, Xq, yq = make_task(finetune(), shots=4)
    train, topics = _topic_file(tmp_path, X, y)
    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_text("".join(t + "\n" for t in Xq))
    common = ("adapt", "--train", str(train), "--unlabeled", str(unlabeled), "--out")

    refused = run_fewshot(*common, str(tmp_path / "plain"), "--learner", "finetune")
    assert refused.returncode == 2
    assert "does not use --unlabeled; learners that do: finetune:self_training=M" in refused.stderr
    assert not (tmp_path / "plain").exists()

    learner = "finetune:self_training=2,epochs=1,batch_size=16"
    adapt = run_fewshot(*common, str(tmp_path / "m"), "--learner", learner)
    assert adapt.returncode == 0, adapt.stderr
    assert "12 training texts + 6 it labelled itself" in adapt.stderr
    training = json.loads((tmp_path / "m" / "fewshot.json").read_text())["training_data"]
    assert training["unlabeled"] == str(unlabeled) and training["pseudo_labels"] == 6
    assert "then also on 6 texts of" in (tmp_path / "m" / "README.md").read_text()
    model = fewshot.load(tmp_path / "m")
    assert (model.predict(list(Xq)) == np.array([topics[v] for v in yq])).mean() >= 0.9


def test_adapt_shows_its_training_steps_on_a_terminal(finetune, tmp_path):
    X, y, _, _ = make_task(finetune(), shots=4)
    train, _ = _topic_file(tmp_path, X, y)

    def adapt(*options: str) -> str:
        """What `fewshot adapt` writes to standard error when that is a terminal."""
        leader, follower = pty.openpty()
        # a terminal has a size (a new pseudo-terminal's is 0 x 0: tqdm would draw nothing)
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        command = ["adapt", "--train", str(train), "--out", str(tmp_path / "m"), *options]
        process = subprocess.Popen(
            [sys.executable, "-m", "fewshot", *command],
            stdout=subprocess.DEVNULL,
            stderr=follower,
            env=dict(os.environ, COLUMNS="200"),
        )
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
        os.close(leader)
        assert process.wait(timeout=600) == 0, shown
        return shown.decode(errors="replace")

    learner = ("--learner", "finetune:max_steps=3,batch_size=16")
    shown = adapt(*learner)
    # A total and the share done (max_steps=3 is the plan), and the line is gone before the
    # closing message, not glued to it.
    assert "training: 100%" in shown and "3/3" in shown and "saved finetune" in shown
    assert "]saved" not in shown and "steps/s]" not in shown.split("saved finetune")[0][-80:]
    # The seconds of loading before the first step say what they are.
    assert shown.index("loading the encoder all-MiniLM-L6-v2...") < shown.index("training:")
    quiet = adapt(*learner, "--no-progress")
    assert "training:" not in quiet and "loading" not in quiet and "saved finetune" in quiet
    frozen = adapt("--learner", "logreg")  # nothing trains step by step: no line at all
    assert "training:" not in frozen and "saved logreg" in frozen
