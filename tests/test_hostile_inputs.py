"""Every row of the hostile-input table (docs/reference/hostile-inputs.md, written from CASES): one line naming the problem, exit status 2,
no traceback, nothing written to --out, and nothing that was there before changed. Runs the
real CLI entry point in-process, against real files, devices, FIFOs, runs and models."""

import json
import os
import shutil
import stat

import numpy as np
import pytest

from fewshot.cli import main
from fewshot.encoding.encoders import default_model_path

GOOD_ROW = '{"text": "a", "label": "x"}\n'
BANKING_RUN = ["--dataset", "banking77:test", "--learner", "protonet", "--shots", "1"]


def _edit_config(directory, **changes):
    path = directory / "fewshot.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))
    return config


def _relist(directory):
    """Recompute the checksums in fewshot.json, as someone editing a model by hand would."""
    from fewshot.models.directory import sha256_file

    config = json.loads((directory / "fewshot.json").read_text())
    config["files"] = {name: sha256_file(directory / name) for name in config["files"]}
    (directory / "fewshot.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def files(tmp_path_factory, registry):
    root = tmp_path_factory.mktemp("hostile")

    def write(name, content):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)

    def suite(name, body):
        return write(name, 'learners = ["protonet"]\n' + body)

    episodes = '[[episodes]]\ndataset = "banking77:test"\nways = 5\nshots = 1\nepisodes = 3\n'
    made = {
        "malformed.jsonl": write("malformed.jsonl", GOOD_ROW + '{"text": "b", "label": \n'),
        "ragged.csv": write("ragged.csv", "text,label\nhi,x\nhello\n"),
        "latin1.jsonl": write(
            "latin1.jsonl", GOOD_ROW.encode() + '{"text": "café", "label": "x"}\n'.encode("latin-1")
        ),
        "utf16.jsonl": write("utf16.jsonl", GOOD_ROW.encode("utf-16")),
        "binary.jsonl": write("binary.jsonl", bytes(range(256)) * 4),
        "no_text.jsonl": write("no_text.jsonl", '{"sentence": "a", "label": "x"}\n'),
        "empty_labels.jsonl": write(
            "empty_labels.jsonl", '{"text": "a", "labels": ["x"]}\n{"text": "b", "labels": []}\n'
        ),
        "multi.jsonl": write(
            "multi.jsonl", '{"text": "a", "labels": ["x", "y"]}\n{"text": "b", "labels": ["y"]}\n'
        ),
        "twice.jsonl": write("twice.jsonl", '{"text": "a", "labels": ["x", "y", "x"]}\n'),
        "mixed.jsonl": write(
            "mixed.jsonl", '{"text": "a", "labels": ["x"]}\n{"text": "b", "label": "y"}\n'
        ),
        "labels_string.jsonl": write("labels_string.jsonl", '{"text": "a", "labels": "x,y"}\n'),
        "empty_text.jsonl": write("empty_text.jsonl", GOOD_ROW + '{"text": "", "label": "x"}\n'),
        "empty.jsonl": write("empty.jsonl", ""),
        "surrogate.jsonl": write(
            "surrogate.jsonl", GOOD_ROW + '{"text": "a\\ud800b", "label": "x"}\n'
        ),
        "deep.jsonl": write("deep.jsonl", "[" * 200_000 + "]" * 200_000 + "\n"),
        "digits.jsonl": write("digits.jsonl", '{"text": "a", "label": ' + "7" * 5000 + "}\n"),
        "long_line.jsonl": write("long_line.jsonl", '{"text": "' + "a" * (2 << 20) + '"}\n'),
        "array_row.jsonl": write("array_row.jsonl", '["a", "x"]\n'),
        "list_label.jsonl": write("list_label.jsonl", '{"text": "a", "label": ["x", "y"]}\n'),
        "null_label.jsonl": write("null_label.jsonl", '{"text": "a", "label": null}\n'),
        "blank_label.jsonl": write("blank_label.jsonl", '{"text": "a", "label": "   "}\n'),
        "number_text.jsonl": write("number_text.jsonl", '{"text": 5, "label": "x"}\n'),
        "sheet.xlsx": write("sheet.xlsx", b"PK\x03\x04 not really a spreadsheet"),
        "fake.parquet": write("fake.parquet", b"PAR1 but not really"),
        "unclosed.csv": write("unclosed.csv", 'text,label\n"hi,x\n'),
        "unclosed_mid.csv": write(
            "unclosed_mid.csv", 'text,label\nok,a\n"hi,x\nthird,c\nfourth,d\n'
        ),
        "header_only.csv": write("header_only.csv", "text,label\n"),
        "one_class.jsonl": write(
            "one_class.jsonl", "".join(f'{{"text": "t{i}", "label": "only"}}\n' for i in range(40))
        ),
        "plain.csv.gz": write("plain.csv.gz", "text,label\nhi,x\n"),
        "no_texts.txt": write("no_texts.txt", "\n   \n\n"),
        "texts.txt": write("texts.txt", "my card is lost\n"),
        "unknown_key.toml": suite("unknown_key.toml", episodes.replace("shots = 1", "shot = 1")),
        "broken.toml": write("broken.toml", 'learners = ["protonet"\n'),
        "latin1.toml": write("latin1.toml", "name = 'caf\xe9'\n".encode("latin-1")),
        "ways_text.toml": suite("ways_text.toml", episodes.replace("ways = 5", 'ways = "5"')),
        "encoder_number.toml": suite("encoder_number.toml", "encoder = 5\n" + episodes),
        "skip_text.toml": suite("skip_text.toml", episodes + 'skip_small_classes = "yes"\n'),
        "classes_text.toml": suite("classes_text.toml", episodes + 'classes = "abc"\n'),
        "learner_number.toml": write("learner_number.toml", "learners = [5]\n" + episodes),
        "full_way_seed.toml": suite(
            "full_way_seed.toml",
            '[[full_way]]\ntrain = "banking77:train_5"\ntest = "banking77:test"\nseed = "x"\n',
        ),
        "bad_param.toml": write(
            "bad_param.toml", 'learners = [{name = "knn", n_neighbors = 0}]\n' + episodes
        ),
    }
    # A truncated .csv.gz: the first half of a real gzip stream.
    import gzip

    packed = gzip.compress(("text,label\n" + "hello there,x\n" * 2000).encode())
    made["truncated.csv.gz"] = write("truncated.csv.gz", packed[: len(packed) // 2])
    os.mkfifo(root / "pipe.jsonl")
    os.mkfifo(root / "pipe.txt")
    made["pipe.jsonl"], made["pipe.txt"] = str(root / "pipe.jsonl"), str(root / "pipe.txt")
    (root / "folder.toml").mkdir()
    write("not-an-encoder/config.json", "{}")
    write("not-an-encoder/modules.json", "[]")
    made["not-an-encoder"] = str(root / "not-an-encoder")
    made["folder.toml"] = str(root / "folder.toml")

    data = registry.datasets.load("banking77:train_5")
    with open(root / "train.jsonl", "w") as handle:
        for text, label in zip(data.texts, data.labels, strict=True):
            handle.write(json.dumps({"text": text, "label": label}) + "\n")
    made["train.jsonl"] = str(root / "train.jsonl")

    # Output places that are not fewshot's to take.
    made["a-file"] = write("a-file", "a user's file\n")
    made["predictions.jsonl"] = write("predictions.jsonl", "a user's earlier predictions\n")
    write("docs/notes.txt", "precious notes\n")
    write("docs/fewshot.json", "{}\n")  # the name alone does not make it a model
    made["docs"] = str(root / "docs")
    write("mine/results.csv", "my own results\n")
    write("mine/run.json", '{"my": "own file"}\n')
    made["mine"] = str(root / "mine")
    (root / "out-folder").mkdir()
    made["out-folder"] = str(root / "out-folder")
    (root / "cache-as-file").write_text("not a folder\n")
    made["cache-as-file"] = str(root / "cache-as-file")
    (root / "cache-with-folder" / "embeddings.sqlite3").mkdir(parents=True)
    made["cache-with-folder"] = str(root / "cache-with-folder")

    assert (
        main(
            [
                "adapt",
                "--train",
                "banking77:train_5",
                "--learner",
                "protonet",
                "--out",
                str(root / "model"),
            ]
        )
        == 0
    )
    model = root / "model"
    for damage in (
        "missing", "truncated", "tampered", "newer", "older", "swapped", "unlisted-state",
        "extra-file", "escaping", "absolute", "symlink", "encoder-path", "nan-state",
        "edited-params", "duplicate-labels",
    ):  # fmt: skip
        shutil.copytree(model, root / damage)
    (root / "missing" / "state.safetensors").unlink()
    state = root / "truncated" / "state.safetensors"
    state.write_bytes(state.read_bytes()[:64])
    tampered = root / "tampered" / "state.safetensors"
    raw = bytearray(tampered.read_bytes())
    raw[-1] ^= 1
    tampered.write_bytes(bytes(raw))
    _edit_config(root / "newer", format_version=3, fewshot_version="0.9.0")
    _edit_config(root / "older", format_version=1)
    labels = json.loads((model / "fewshot.json").read_text())["labels"]
    _edit_config(root / "swapped", labels=[labels[1], labels[0], *labels[2:]])
    _edit_config(root / "unlisted-state", files={})
    (root / "extra-file" / "added_tokens.json").write_text('{"[NEW]": 30522}\n')
    _edit_config(root / "escaping", files={"../../etc/hostname": "0" * 64})
    _edit_config(root / "absolute", files={"/etc/hostname": "0" * 64})
    (root / "symlink" / "link").symlink_to("/etc/hostname")
    _edit_config(root / "encoder-path", encoder={"name": str(default_model_path())})
    _edit_config(root / "edited-params", params={"metric": "euclidean"})
    _edit_config(root / "duplicate-labels", labels=[labels[0], *labels[:-1]])
    from safetensors.numpy import load_file, save_file

    nan_state = root / "nan-state" / "state.safetensors"
    from safetensors import safe_open

    with safe_open(str(nan_state), framework="numpy") as handle:
        metadata = handle.metadata()
    arrays = load_file(str(nan_state))
    arrays["prototypes"][0, 0] = np.nan
    save_file(arrays, str(nan_state), metadata=metadata)
    _relist(root / "nan-state")
    (root / "not-a-model-dir").write_text("a file\n")
    made["not-a-model-dir"] = str(root / "not-a-model-dir")

    # A model that carries its own encoder (adapted with a local encoder directory), whose
    # modules.json was then edited to import code of the editor's choosing.
    shutil.copytree(default_model_path(), root / "my-encoder")
    assert main(["adapt", "--train", "banking77:train_5", "--learner", "protonet", "--encoder", str(root / "my-encoder"), "--out", str(root / "own-encoder")]) == 0  # fmt: skip
    modules = root / "own-encoder" / "encoder" / "modules.json"
    entries = json.loads(modules.read_text())
    entries[0]["type"] = "os.system"
    modules.write_text(json.dumps(entries))
    _relist(root / "own-encoder")

    # A model whose weights are NaN: every embedding it computes is NaN.
    shutil.copytree(default_model_path(), root / "nan-model")
    weights = load_file(str(root / "nan-model" / "model.safetensors"))
    for name in weights:
        if "word_embeddings" in name:
            weights[name] = np.full_like(weights[name], np.nan)
    save_file(weights, str(root / "nan-model" / "model.safetensors"))

    quick = ["bench", *BANKING_RUN, "--episodes", "3"]
    assert main([*quick, "--out", str(root / "earlier")]) == 0
    assert main([*quick[:4], "knn", *quick[5:], "--out", str(root / "earlier-knn")]) == 0
    # A run on a file whose labels are then shuffled (same texts): --resume must notice.
    rows = [json.loads(line) for line in open(root / "train.jsonl")]
    write("changing.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    changing = ["bench", "--dataset", str(root / "changing.jsonl"), "--learner", "protonet"]
    changing += ["--shots", "1", "--queries", "2", "--episodes", "3"]
    assert main([*changing, "--out", str(root / "earlier-changing")]) == 0
    shuffled = [r["label"] for r in rows]
    np.random.default_rng(0).shuffle(shuffled)
    write("changing.jsonl", "".join(json.dumps({**r, "label": s}) + "\n" for r, s in zip(rows, shuffled, strict=True)))  # fmt: skip
    # A run directory with a file the user put there.
    shutil.copytree(root / "earlier", root / "earlier-plus")
    write("earlier-plus/my-notes.txt", "mine\n")
    # Damaged and unfinished runs, for `report`.
    for name, file, change in [
        ("run-string-accuracy", "results.json", lambda r: r.update(accuracy="0.9")),
        ("run-no-learner", "results.json", lambda r: r.pop("learner")),
    ]:
        shutil.copytree(root / "earlier", root / name)
        rows = json.loads((root / name / file).read_text())
        change(rows[0])
        write(f"{name}/{file}", json.dumps(rows))
    shutil.copytree(root / "earlier", root / "run-p-value-2")
    comparison = {"dataset": "banking77:test", "protocol": "episodes", "ways": 5, "shots": 1}
    comparison |= {"learner_a": "protonet", "learner_b": "logreg", "metric": "accuracy"}
    comparison |= {"difference": 0.01, "ci95": 0.02, "p_value": 2.0, "test": "paired-t"}
    write("run-p-value-2/comparisons.json", json.dumps([comparison]))
    shutil.copytree(root / "earlier", root / "run-unfinished")
    (root / "run-unfinished" / "results.json").unlink()

    for name in [
        "model", "missing", "truncated", "tampered", "newer", "older", "swapped",
        "unlisted-state", "extra-file", "escaping", "absolute", "symlink", "encoder-path",
        "nan-state", "edited-params", "duplicate-labels", "own-encoder", "nan-model", "earlier",
        "earlier-knn", "earlier-changing", "earlier-plus", "changing.jsonl", "run-string-accuracy",
        "run-no-learner", "run-p-value-2", "run-unfinished",
    ]:  # fmt: skip
        made[name] = str(root / name)
    made["root"] = str(root)
    return made


def bench(*args):
    return ["bench", *args, "--episodes", "3"]


def predict(model, data="{texts.txt}", *extra):
    return ["predict", model, data, *extra, "--out", "{out}"]


def adapt(*extra, learner="protonet", out="{out}"):
    return ["adapt", "--train", "banking77:train_5", "--learner", learner, *extra, "--out", out]


P = ["--learner", "protonet", "--out", "{out}"]  # the usual tail of a bench command

# (the table's item, command line, what the one-line error says). {name} is a file from the
# fixture; {out} is a fresh output path.
CASES = [
    # -- data files ----------------------------------------------------------------------------
    ("malformed JSONL", bench("--dataset", "{malformed.jsonl}", *P), "malformed.jsonl, line 2: malformed JSON"),
    ("malformed CSV", bench("--dataset", "{ragged.csv}", *P), "ragged.csv, line 3: 1 field, but the header has 2"),
    ("wrong encoding", bench("--dataset", "{latin1.jsonl}", *P), "latin1.jsonl, line 2: not valid UTF-8"),
    ("UTF-16 file", bench("--dataset", "{utf16.jsonl}", *P), "utf16.jsonl, line 1: not valid UTF-8"),
    ("binary file named .jsonl", bench("--dataset", "{binary.jsonl}", *P), "binary.jsonl, line 1: malformed JSON"),
    ("missing column", bench("--dataset", "{no_text.jsonl}", *P), "no_text.jsonl, line 1: missing column 'text'"),
    ("renamed column", bench("--dataset", "{train.jsonl}", "--text-column", "utterance", *P), "train.jsonl, line 1: missing column 'utterance'"),
    ("empty text", bench("--dataset", "{empty_text.jsonl}", *P), "empty_text.jsonl, line 2: empty text"),
    ("text that is a number", bench("--dataset", "{number_text.jsonl}", *P), "number_text.jsonl, line 1: 'text' is 5; expected a string"),
    ("label that is a list", bench("--dataset", "{list_label.jsonl}", *P), "list_label.jsonl, line 1: 'label' is ['x', 'y']; expected a non-empty label"),
    ("label that is null", bench("--dataset", "{null_label.jsonl}", *P), "null_label.jsonl, line 1: 'label' is None; expected a non-empty label"),
    ("label of spaces", bench("--dataset", "{blank_label.jsonl}", *P), "blank_label.jsonl, line 1: 'label' is '   '; expected a non-empty label"),
    ("a row that is not an object", bench("--dataset", "{array_row.jsonl}", *P), "array_row.jsonl, line 1: expected a JSON object"),
    ("lone surrogate in a text", bench("--dataset", "{surrogate.jsonl}", *P), "surrogate.jsonl, line 2: holds an unpaired surrogate"),
    ("200,000-deep nested JSON", bench("--dataset", "{deep.jsonl}", *P), "deep.jsonl, line 1: JSON nested too deeply"),
    ("5000-digit integer label", bench("--dataset", "{digits.jsonl}", *P), "digits.jsonl, line 1: unreadable JSON"),
    ("a 2 MiB line", bench("--dataset", "{long_line.jsonl}", *P), "long_line.jsonl, line 1: longer than 1 MiB"),
    ("CSV with an unclosed quote in its middle", bench("--dataset", "{unclosed_mid.csv}", *P), "unclosed_mid.csv, line 3: a quoted field opened on this line runs to line 5 without its closing quote"),
    ("CSV with an unclosed quote", bench("--dataset", "{unclosed.csv}", *P), "unclosed.csv, line 2: a quoted field opened on this line runs to the end of the file without its closing quote"),
    ("empty file", bench("--dataset", "{empty.jsonl}", *P), "empty.jsonl: the file has no examples"),
    ("CSV with a header only", bench("--dataset", "{header_only.csv}", *P), "header_only.csv: the file has no examples"),
    ("truncated .csv.gz", bench("--dataset", "{truncated.csv.gz}", *P), "truncated.csv.gz: cannot read the file after line"),
    ("plain CSV named .csv.gz", bench("--dataset", "{plain.csv.gz}", *P), "plain.csv.gz: not a valid gzip file"),
    ("unknown file type", bench("--dataset", "{sheet.xlsx}", *P), "sheet.xlsx: unknown file type '.xlsx'"),
    ("data path is a directory", bench("--dataset", "{root}", *P), "is a directory"),
    ("data path is /dev/zero", bench("--dataset", "/dev/zero", *P), "/dev/zero: is a character device; expected a regular file"),
    ("data path is a FIFO", bench("--dataset", "{pipe.jsonl}", *P), "pipe.jsonl: is a FIFO (named pipe); expected a regular file"),
    ("missing data file", bench("--dataset", "nowhere.jsonl", *P), "nowhere.jsonl: no such file"),
    # -- what can be drawn from the data -----------------------------------------------------
    ("class too small for K+Q", bench("--dataset", "banking77:train_5", "--shots", "5", *P), "has 5 distinct examples, but a 5-shot 15-query episode needs 20"),
    ("N larger than the classes", bench("--dataset", "clinc150:test", "--ways", "200", *P), "200-way episodes need 200 classes"),
    ("data with one class", bench("--dataset", "{one_class.jsonl}", "--shots", "1", "--queries", "2", *P), "5-way episodes need 5 classes"),
    ("unknown domain", bench("--dataset", "clinc150:test", "--domain", "space", *P), "has no domain 'space'"),
    ("unknown dataset", bench("--dataset", "clinc:test", *P), "unknown dataset 'clinc'; did you mean 'clinc150'?"),
    ("unknown split", bench("--dataset", "banking77:tset", *P), "unknown split of banking77 'tset'; did you mean 'test'?"),
    ("K = 0 where the source lacks the target's classes", ["bench", "--source", "clinc150:train", "--source-domain", "banking", "--target", "clinc150:test", "--target-domain", "travel", "--shots", "0", "--learner", "mmd", "--out", "{out}"], "with 0 target labels (shots=0) the source must cover every target class"),
    # -- numbers and flags ---------------------------------------------------------------------
    ("K = 0 for a learner that needs examples", bench("--dataset", "clinc150:test", "--shots", "0", *P), "learner 'protonet' needs examples; 0-shot episodes are for learners that start from the class names: zeroshot"),
    ("K < 0", bench("--dataset", "clinc150:test", "--shots", "-1", *P), "shots must be an integer from 0"),
    ("negative number", bench("--dataset", "clinc150:test", "--queries", "-1", *P), "queries must be an integer from 1"),
    ("absurd number", ["bench", "--dataset", "clinc150:test", "--episodes", "1000000000", *P], "episodes must be an integer from 1 to 1000000"),
    ("one-way episodes", bench("--dataset", "clinc150:test", "--ways", "1", *P), "ways must be an integer from 2"),
    ("shots that are not numbers", bench("--dataset", "clinc150:test", "--shots", "1,x", *P), "argument --shots: expected integers separated by commas, got '1,x'"),
    ("negative seed", bench("--dataset", "clinc150:test", "--seed", "-1", *P), "seed must be an integer from 0"),
    ("--episode-timeout -1", bench("--dataset", "clinc150:test", "--episode-timeout", "-1", *P), "argument --episode-timeout: expected a finite number > 0, got '-1'"),
    ("--episode-timeout 0", bench("--dataset", "clinc150:test", "--episode-timeout", "0", *P), "argument --episode-timeout: expected a finite number > 0, got '0'"),
    ("--episode-timeout nan", bench("--dataset", "clinc150:test", "--episode-timeout", "nan", *P), "argument --episode-timeout: expected a finite number > 0, got 'nan'"),
    ("--unlabeled share of 1.5", ["bench", "--source", "amazon_reviews:books", "--target", "amazon_reviews:dvd", "--unlabeled", "1.5", "--learner", "mmd", "--out", "{out}"], "unlabeled must be a share from 0 up to (not including) 1, got 1.5"),
    ("--seeds 0", ["bench", "--source", "amazon_reviews:books", "--target", "amazon_reviews:dvd", "--seeds", "0", "--learner", "mmd", "--out", "{out}"], "seeds must be an integer from 1"),
    ("--unlabeled-data outside full-way runs", bench("--dataset", "clinc150:test", "--unlabeled-data", "clinc150:train", *P), "--unlabeled-data belongs to full-way runs; add --train and --test"),
    ("--source without --target", ["bench", "--source", "amazon_reviews:books", "--learner", "mmd", "--out", "{out}"], "cross-domain runs need both --source and --target"),
    ("no learner named", ["bench", "--dataset", "clinc150:test", "--out", "{out}"], "name at least one learner with --learner"),
    ("full-way without a test split", ["bench", "--train", "banking77:train_5", "--learner", "logreg", "--out", "{out}"], "full-way runs need both --train and --test"),
    ("--device cuda without a GPU", bench("--dataset", "clinc150:test", "--device", "cuda", *P), "--device cuda: no CUDA GPU is visible"),
    ("--device that does not exist", bench("--dataset", "clinc150:test", "--device", "tpu", *P), "--device 'tpu': expected 'cpu', 'cuda' or 'cuda:N'"),
    ("a learner's device without a GPU", adapt(learner="finetune:device=cuda"), "finetune: device must be 'cpu', or 'cuda' / 'cuda:N' on a machine where torch sees a CUDA GPU, got 'cuda'"),
    ("--encoder that is not a model", bench("--dataset", "{train.jsonl}", "--encoder", "{not-an-encoder}", "--shots", "1", "--queries", "2", "--no-cache", *P), "cannot load it as a sentence-transformers model"),
    ("an unknown out-of-scope scorer", ["bench", "--train", "clinc150:train_5", "--test", "clinc150:test", "--oos", "clinc150:oos_test", "--scorer", "mahalanobiss", *P], "unknown out-of-scope scorer 'mahalanobiss'; did you mean 'mahalanobis'?"),
    ("--oos-valid without --valid", ["bench", "--train", "clinc150:train_5", "--test", "clinc150:test", "--oos", "clinc150:oos_test", "--oos-valid", "clinc150:oos_valid", *P], "held-out calibration needs both valid (in-scope) and oos_valid"),
    ("--reject-recall 1.5", ["bench", "--train", "clinc150:train_5", "--test", "clinc150:test", "--oos", "clinc150:oos_test", "--reject-recall", "1.5", *P], "reject_recall must be a share between 0 and 1, got 1.5"),
    ("out-of-scope options without --oos", ["bench", "--train", "clinc150:train_5", "--test", "clinc150:test", "--scorer", "msp", *P], "scorers belongs to out-of-scope runs; add oos"),
    ("out-of-scope episodes of one shot", bench("--dataset", "clinc150:test", "--oos", "clinc150:oos_test", "--shots", "1", *P), "thresholds from the training shots need at least 2 shots"),
    ("--oos-valid in an episode run", bench("--dataset", "clinc150:test", "--oos", "clinc150:oos_test", "--oos-valid", "clinc150:oos_valid", "--shots", "5", *P), "--oos-valid is for full-way runs"),
    ("--reject that is not a number", adapt("--reject", "sometimes", learner="logreg"), "--reject takes 'auto' or a threshold (a number), got 'sometimes'"),
    ("--reject with an unknown scorer", adapt("--reject", "auto", "--scorer", "energyy", learner="logreg"), "unknown out-of-scope scorer 'energyy'; did you mean 'energy'?"),
    ("an empty label list", bench("--dataset", "{empty_labels.jsonl}", "--multi-label", *P), "line 2: 'labels' is empty; expected at least one label per text"),
    ("a label twice in one row", bench("--dataset", "{twice.jsonl}", "--multi-label", *P), "line 1: 'labels' lists 'x' twice; expected each label once"),
    ("label lists mixed with single labels", ["adapt", "--train", "{mixed.jsonl}", "--learner", "logreg", "--out", "{out}"], "line 2: has 'label' (one label) where the rows above have 'labels' (a list of labels)"),
    ("a string where a label list belongs", bench("--dataset", "{labels_string.jsonl}", "--multi-label", *P), "line 1: 'labels' is 'x,y'; expected a list of labels"),
    ("label lists without --multi-label", bench("--dataset", "goemotions:valid", *P), "goemotions:valid is multi-label (a list of labels per text); run it with --multi-label"),
    ("--multi-label on single-label data", ["bench", "--multi-label", "--train", "clinc150:train_5", "--test", "clinc150:test", *P], "clinc150:train_5 has one label per text; a multi-label run needs label lists"),
    ("a learner without multi-label support", ["bench", "--multi-label", "--train", "goemotions:valid", "--test", "goemotions:test", "--learner", "mmd", "--out", "{out}"], "learner 'mmd' does not support multi-label data; these do: finetune, knn, logreg, protonet"),
    ("more shots than a label has texts", ["bench", "--multi-label", "--train", "goemotions:valid", "--test", "goemotions:test", "--shots", "500", *P], "label(s) have fewer than 500 texts to draw a 500-shot support from (label 'admiration' has 487)"),
    ("--reject on multi-label data", ["adapt", "--train", "{multi.jsonl}", "--learner", "logreg", "--reject", "auto", "--out", "{out}"], "--reject does not combine with multi-label training data"),
    # -- learners and their parameters ---------------------------------------------------------
    ("unknown learner", bench("--dataset", "clinc150:test", "--learner", "protonet2", "--out", "{out}"), "unknown learner 'protonet2'; did you mean 'protonet'?"),
    ("unknown learner parameter", bench("--dataset", "clinc150:test", "--learner", "knn:k=3", "--out", "{out}"), "learner 'knn' has no parameter 'k'"),
    ("malformed --learner", bench("--dataset", "clinc150:test", "--learner", "knn:n_neighbors", "--out", "{out}"), "--learner 'knn:n_neighbors': expected NAME:param=value"),
    ("negative temperature", bench("--dataset", "clinc150:test", "--learner", "protonet:temperature=-10", "--out", "{out}"), "protonet: temperature must be a finite number > 0, got -10"),
    ("zero neighbours", bench("--dataset", "clinc150:test", "--learner", "knn:n_neighbors=0", "--out", "{out}"), "knn: n_neighbors must be an integer >= 1, got 0"),
    ("negative C", bench("--dataset", "clinc150:test", "--learner", "logreg:C=-1", "--out", "{out}"), "logreg: C must be a finite number > 0, got -1"),
    ("NaN parameter", bench("--dataset", "clinc150:test", "--learner", "logreg:C=NaN", "--out", "{out}"), "logreg: C must be a finite number > 0, got nan"),
    ("parameter of the wrong type", bench("--dataset", "clinc150:test", "--learner", "knn:n_neighbors=three", "--out", "{out}"), "knn: n_neighbors must be an integer >= 1, got 'three'"),
    ("unknown metric", bench("--dataset", "clinc150:test", "--learner", "protonet:metric=manhattan", "--out", "{out}"), "protonet: metric must be 'cosine' or 'euclidean', got 'manhattan'"),
    ("fractional epochs", adapt(learner="finetune:epochs=1.5"), "finetune: epochs must be an integer >= 0, got 1.5"),
    ("adapt with a bad parameter", adapt(learner="logreg:C=0"), "logreg: C must be a finite number > 0, got 0"),
    ("adapt on data with one class", ["adapt", "--train", "{one_class.jsonl}", "--learner", "logreg", "--out", "{out}"], "every text has the label 'only'; a classifier needs at least two classes"),
    ("adapt a domain learner without --source", adapt(learner="mmd"), "learner 'mmd' needs --source DATA"),
    ("adapt with inputs the learner ignores", adapt("--unlabeled", "{texts.txt}", learner="logreg"), "learner 'logreg' does not use --unlabeled"),
    ("self-training without unlabelled texts", adapt(learner="finetune:self_training=5"), "self_training needs unlabelled texts of the domain"),
    # -- suite files ---------------------------------------------------------------------------
    ("suite with an unknown key", ["bench", "{unknown_key.toml}", "--out", "{out}"], "unknown key 'shot'"),
    ("suite that is not TOML", ["bench", "{broken.toml}", "--out", "{out}"], "invalid TOML"),
    ("suite that is not UTF-8", ["bench", "{latin1.toml}", "--out", "{out}"], "latin1.toml: not valid UTF-8"),
    ("missing suite file", ["bench", "nowhere.toml", "--out", "{out}"], "nowhere.toml: no such suite file"),
    ("suite path is a directory", ["bench", "{folder.toml}", "--out", "{out}"], "folder.toml: is a directory; expected a suite file"),
    ("suite path is /dev/zero", ["bench", "/dev/zero", "--out", "{out}"], "/dev/zero: is a character device; expected a suite file"),
    ("suite with ways as text", ["bench", "{ways_text.toml}", "--out", "{out}"], "ways must be an integer or a list of integers, got '5'"),
    ("suite with an encoder that is a number", ["bench", "{encoder_number.toml}", "--out", "{out}"], "encoder must be a name or a list of names, got 5"),
    ("suite with a yes/no as text", ["bench", "{skip_text.toml}", "--out", "{out}"], "skip_small_classes must be true or false, got 'yes'"),
    ("suite with classes as one string", ["bench", "{classes_text.toml}", "--out", "{out}"], "has no examples of classes ['abc']"),
    ("suite with a learner that is a number", ["bench", "{learner_number.toml}", "--out", "{out}"], "a learner is a name or a table with a 'name' key, got 5"),
    ("suite with a seed as text", ["bench", "{full_way_seed.toml}", "--out", "{out}"], "seed must be an integer from 0 to 4294967295, got 'x'"),
    ("suite with a bad learner parameter", ["bench", "{bad_param.toml}", "--out", "{out}"], "knn: n_neighbors must be an integer >= 1, got 0"),
    ("suite and flags together", ["bench", "{broken.toml}", "--dataset", "x:y", "--out", "{out}"], "give a suite file or --dataset, not both"),
    # -- the embedding cache -------------------------------------------------------------------
    ("NaN embeddings", bench("--dataset", "{train.jsonl}", "--encoder", "{nan-model}", "--shots", "1", "--queries", "2", "--no-cache", *P), "non-finite values; refusing to use or cache them"),
    ("--cache-dir that is a file", bench(*BANKING_RUN, "--cache-dir", "{cache-as-file}", "--out", "{out}"), "cannot use it as a folder"),
    ("a cache file that is a directory", bench(*BANKING_RUN, "--cache-dir", "{cache-with-folder}", "--out", "{out}"), "embeddings.sqlite3 is not a file"),
    # -- where a run writes --------------------------------------------------------------------
    ("report on a record with a string accuracy", ["report", "{run-string-accuracy}"], "results.json, record 1: record field 'accuracy' = '0.9': expected float, got str"),
    ("report on a record that names no learner", ["report", "{run-no-learner}"], "results.json, record 1: no 'learner'; expected a string"),
    ("report on a comparison with a p-value of 2", ["report", "{run-p-value-2}"], "comparisons.json, comparison 1: 'p_value' is not between 0 and 1"),
    ("report on a run that has not finished a setting", ["report", "{run-unfinished}"], "the run has not finished a setting yet"),
    ("rerun into an earlier run's --out", bench(*BANKING_RUN, "--out", "{earlier}"), "holds results of an earlier run"),
    ("--resume with a changed seed", bench(*BANKING_RUN, "--seed", "9", "--resume", "--out", "{earlier}"), "--resume only continues the same run"),
    ("--resume with another learner parameter", bench(*BANKING_RUN[:3], "knn:n_neighbors=3", *BANKING_RUN[4:], "--resume", "--out", "{earlier-knn}"), "the learners or their parameters changed"),
    ("--resume after the data file changed", ["bench", "--dataset", "{changing.jsonl}", "--learner", "protonet", "--shots", "1", "--queries", "2", "--episodes", "3", "--resume", "--out", "{earlier-changing}"], "changing.jsonl changed since it started"),
    ("--resume where there is no run", bench(*BANKING_RUN, "--resume", "--out", "{out-folder}"), "no earlier run to resume"),
    ("--resume and --overwrite together", bench(*BANKING_RUN, "--resume", "--overwrite", "--out", "{earlier}"), "--resume continues a run and --overwrite replaces it; choose one"),
    ("--out a folder of the user's files", bench(*BANKING_RUN, "--out", "{docs}"), "is not empty and holds no fewshot run"),
    ("--out with the user's own results.csv and run.json", bench(*BANKING_RUN, "--overwrite", "--out", "{mine}"), "is not empty and holds no fewshot run"),
    ("--overwrite a run holding the user's files", bench(*BANKING_RUN, "--overwrite", "--out", "{earlier-plus}"), "holds files fewshot did not write (my-notes.txt)"),
    ("bench --out that is a file", bench(*BANKING_RUN, "--out", "{a-file}"), "exists and is not a directory"),
    # -- models --------------------------------------------------------------------------------
    ("adapt --out a folder holding a stray fewshot.json", adapt(out="{docs}"), "exists and is not a fewshot model directory that verifies"),
    ("adapt --out that is a file", adapt(out="{a-file}"), "exists and is not a directory; not replacing it"),
    ("predict --out inside a model directory", ["predict", "{model}", "{texts.txt}", "--out", "{model}/preds.jsonl"], "is inside the model directory"),
    ("adapt --out inside a model directory", adapt(out="{model}/inner"), "is inside the model directory"),
    ("export --out inside a model directory", ["export", "{model}", "--onnx", "--out", "{model}/sub"], "is inside the model directory"),
    ("bench --out inside a model directory", bench(*BANKING_RUN, "--out", "{model}/run"), "is inside the model directory"),
    ("--cache-dir inside a model directory", predict("{model}", "{texts.txt}", "--cache-dir", "{model}/cache"), "embedding cache"),
    ("missing model directory", predict("nowhere-model"), "nowhere-model: no such model directory"),
    ("model directory that is a file", predict("{not-a-model-dir}"), "not-a-model-dir: not a directory"),
    ("model with a missing file", predict("{missing}"), "state.safetensors: missing; the model directory is incomplete"),
    ("model with a truncated file", predict("{truncated}"), "state.safetensors: does not match the checksum"),
    ("model with a tampered file", predict("{tampered}"), "state.safetensors: does not match the checksum"),
    ("model from a newer fewshot", predict("{newer}"), "written by fewshot 0.9.0 in model format 3; this fewshot 0.1.0 reads format 2: upgrade fewshot"),
    ("model in an old format", predict("{older}"), "model format 1 cannot be verified by this fewshot"),
    ("model with two labels swapped", predict("{swapped}"), "differ from those stored with the weights in state.safetensors"),
    ("model with edited parameters", predict("{edited-params}"), "differ from those stored with the weights in state.safetensors"),
    ("model with duplicate labels", predict("{duplicate-labels}"), "'labels' must be a list of distinct strings"),
    ("model listing no files", predict("{unlisted-state}"), "state.safetensors is not listed"),
    ("model with an unlisted extra file", predict("{extra-file}"), "added_tokens.json: not listed in fewshot.json"),
    ("model listing a path outside it", predict("{escaping}"), "listed file '../../etc/hostname' is not a plain name inside the model directory"),
    ("model listing an absolute path", predict("{absolute}"), "listed file '/etc/hostname' is not a plain name inside the model directory"),
    ("model with a symbolic link", predict("{symlink}"), "link: a symbolic link in a model directory"),
    ("model whose encoder is a path elsewhere", predict("{encoder-path}"), "is neither inside the model directory nor a registered encoder name"),
    ("model with NaN weights", predict("{nan-state}"), "prototypes holds NaN or infinite values"),
    ("model whose encoder names foreign code", predict("{own-encoder}"), "modules.json names module types that fewshot will not import: ['os.system']"),
    # -- predicting ----------------------------------------------------------------------------
    ("prediction input without the text column", predict("{model}", "{no_text.jsonl}"), "no_text.jsonl, line 1: missing column 'text'"),
    ("prediction input with no texts", predict("{model}", "{no_texts.txt}"), "no_texts.txt: the file has no texts"),
    ("a prediction input .txt that is not there", predict("{model}", "nothere.txt"), "nothere.txt: no such file"),
    ("a prediction input path that is not there", predict("{model}", "some/folder/texts"), "some/folder/texts: no such file"),
    ("prediction input is a FIFO", predict("{model}", "{pipe.txt}"), "pipe.txt: is a FIFO (named pipe); expected a regular file"),
    ("--top-k 0", predict("{model}", "{texts.txt}", "--top-k", "0"), "--top-k must be at least 1"),
    ("--top-k that is not a number", predict("{model}", "{texts.txt}", "--top-k", "all"), "argument --top-k: invalid int value: 'all'"),
    ("predict --out a character device", ["predict", "{model}", "{texts.txt}", "--out", "/dev/null"], "--out /dev/null is a character device; expected a regular file"),
    ("predict --out a FIFO", ["predict", "{model}", "{texts.txt}", "--out", "{pipe.jsonl}"], "pipe.jsonl is a FIFO (named pipe); expected a regular file"),
    ("predict --out a directory", ["predict", "{model}", "{texts.txt}", "--out", "{out-folder}"], "out-folder is a directory; expected a regular file"),
    ("predict --out the input file", ["predict", "{model}", "{train.jsonl}", "--out", "{train.jsonl}"], "is the input file"),
    ("predict --out where nothing may be written", ["predict", "{model}", "{texts.txt}", "--out", "/sys/kernel/predictions.jsonl"], "/sys/kernel/"),
    ("bench --out where nothing may be written", bench(*BANKING_RUN, "--out", "/sys/kernel/fewshot-run"), "/sys/kernel/fewshot-run"),
    ("predict --out with an unknown suffix", ["predict", "{model}", "{texts.txt}", "--out", "{root}/p.xlsx"], "unknown output format '.xlsx'; expected .jsonl, .csv or .parquet"),
    ("--batch-size 0", ["predict", "{model}", "{texts.txt}", "--batch-size", "0", "--out", "{out}"], "argument --batch-size: expected an integer from 1 to 1000000, got '0'"),
    ("a Parquet file that is not one", predict("{model}", "{fake.parquet}"), "fake.parquet: not a readable Parquet file"),
    ("an encoder hub id that is not in the cache", adapt("--encoder", "acme/not-downloaded", learner="logreg"), "encoder 'acme/not-downloaded' is not in the local Hugging Face cache"),
    ("an encoder that is neither name, folder nor hub id", adapt("--encoder", "no such thing", learner="logreg"), "unknown encoder (a registered name, a model directory or a hub id ORG/NAME) 'no such thing'"),
    ("predict --out in a missing folder", ["predict", "{model}", "{texts.txt}", "--out", "{root}/no/such/folder/p.jsonl"], "the folder"),
]  # fmt: skip


def _snapshot(root):
    """(kind, size, modification time) of everything under ``root`` (links not followed)."""
    seen = {}
    for folder, names, files in os.walk(root):
        for name in names + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            seen[path] = (stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns)
    return seen


@pytest.mark.parametrize(("item", "argv", "message"), CASES, ids=[c[0] for c in CASES])
def test_hostile_input(files, tmp_path, capsys, item, argv, message):
    out = tmp_path / "out"
    values = {"out": str(out), **files}
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        argv = [a.replace("{" + name + "}", value) for a in argv]
    message = message.replace("{root}", files["root"])
    before = _snapshot(files["root"])
    null_before = os.stat("/dev/null").st_mode
    assert main(argv) == 2
    stderr = capsys.readouterr().err
    assert message in stderr, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert not out.exists()
    assert _snapshot(files["root"]) == before, "a file that was there changed"
    assert (
        stat.S_ISCHR(os.stat("/dev/null").st_mode) and os.stat("/dev/null").st_mode == null_before
    )


def test_every_item_is_distinct_and_the_table_is_long():
    """The docs' hostile-input table is written from CASES (tests/test_docs.py checks it)."""
    assert len(CASES) >= 70
    assert len({item for item, _, _ in CASES}) == len(CASES)
