"""Every item of the README's hostile-input list: one line naming the problem, exit status 2,
no traceback, nothing written. Runs the real CLI entry point in-process."""

import json
import shutil

import numpy as np
import pytest

from fewshot.cli import main
from fewshot.encoders import default_model_path

GOOD_ROW = '{"text": "a", "label": "x"}\n'


@pytest.fixture(scope="module")
def files(tmp_path_factory, registry):
    root = tmp_path_factory.mktemp("hostile")

    def write(name, content):
        path = root / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)

    made = {
        "malformed.jsonl": write("malformed.jsonl", GOOD_ROW + '{"text": "b", "label": \n'),
        "ragged.csv": write("ragged.csv", "text,label\nhi,x\nhello\n"),
        "latin1.jsonl": write(
            "latin1.jsonl", GOOD_ROW.encode() + '{"text": "café", "label": "x"}\n'.encode("latin-1")
        ),
        "no_text.jsonl": write("no_text.jsonl", '{"sentence": "a", "label": "x"}\n'),
        "empty_text.jsonl": write("empty_text.jsonl", GOOD_ROW + '{"text": "", "label": "x"}\n'),
        "empty.jsonl": write("empty.jsonl", ""),
        "unknown_key.toml": write(
            "unknown_key.toml",
            'learners = ["protonet"]\n[[episodes]]\ndataset = "banking77:test"\nways = 5\nshot = 1\n',
        ),
        "broken.toml": write("broken.toml", 'learners = ["protonet"\n'),
        "texts.txt": write("texts.txt", "my card is lost\n"),
    }
    data = registry.datasets.load("banking77:train_5")
    with open(root / "train.jsonl", "w") as handle:
        for text, label in zip(data.texts, data.labels, strict=True):
            handle.write(json.dumps({"text": text, "label": label}) + "\n")
    made["train.jsonl"] = str(root / "train.jsonl")

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
    for damage in ("missing", "truncated", "tampered", "newer"):
        shutil.copytree(root / "model", root / damage)
    (root / "missing" / "state.safetensors").unlink()
    state = root / "truncated" / "state.safetensors"
    state.write_bytes(state.read_bytes()[:64])
    tampered = root / "tampered" / "state.safetensors"
    raw = bytearray(tampered.read_bytes())
    raw[-1] ^= 1
    tampered.write_bytes(bytes(raw))
    config = json.loads((root / "newer" / "fewshot.json").read_text())
    config.update(format_version=2, fewshot_version="0.9.0")
    (root / "newer" / "fewshot.json").write_text(json.dumps(config))

    # A model whose weights are NaN: every embedding it computes is NaN.
    from safetensors.numpy import load_file, save_file

    shutil.copytree(default_model_path(), root / "nan-model")
    weights = load_file(str(root / "nan-model" / "model.safetensors"))
    for name in weights:
        if "word_embeddings" in name:
            weights[name] = np.full_like(weights[name], np.nan)
    save_file(weights, str(root / "nan-model" / "model.safetensors"))

    run_args = [
        "bench",
        "--dataset",
        "banking77:test",
        "--learner",
        "protonet",
        "--shots",
        "1",
        "--episodes",
        "3",
    ]
    assert main([*run_args, "--out", str(root / "earlier")]) == 0
    made.update(
        {
            k: str(root / k)
            for k in ("model", "missing", "truncated", "tampered", "newer", "nan-model", "earlier")
        }
    )
    made["root"] = str(root)
    return made


def bench(*args):
    return ["bench", *args, "--episodes", "3"]


# (README item, command line, what the one-line error says). {name} is a file from the fixture;
# {out} is a fresh output path.
CASES = [
    (
        "malformed JSONL",
        bench("--dataset", "{malformed.jsonl}", "--learner", "protonet", "--out", "{out}"),
        "malformed.jsonl, line 2: malformed JSON",
    ),
    (
        "malformed CSV",
        bench("--dataset", "{ragged.csv}", "--learner", "protonet", "--out", "{out}"),
        "ragged.csv, line 3: 1 fields, but the header has 2",
    ),
    (
        "wrong encoding",
        bench("--dataset", "{latin1.jsonl}", "--learner", "protonet", "--out", "{out}"),
        "latin1.jsonl, line 2: not valid UTF-8",
    ),
    (
        "missing column",
        bench("--dataset", "{no_text.jsonl}", "--learner", "protonet", "--out", "{out}"),
        "no_text.jsonl, line 1: missing column 'text'",
    ),
    (
        "renamed column",
        bench(
            "--dataset",
            "{train.jsonl}",
            "--text-column",
            "utterance",
            "--learner",
            "protonet",
            "--out",
            "{out}",
        ),
        "train.jsonl, line 1: missing column 'utterance'",
    ),
    (
        "empty text",
        bench("--dataset", "{empty_text.jsonl}", "--learner", "protonet", "--out", "{out}"),
        "empty_text.jsonl, line 2: empty text",
    ),
    (
        "empty file",
        bench("--dataset", "{empty.jsonl}", "--learner", "protonet", "--out", "{out}"),
        "empty.jsonl: the file has no examples",
    ),
    (
        "data path is a directory",
        bench("--dataset", "{root}", "--learner", "protonet", "--out", "{out}"),
        "is a directory",
    ),
    (
        "missing data file",
        bench("--dataset", "nowhere.jsonl", "--learner", "protonet", "--out", "{out}"),
        "nowhere.jsonl: no such file",
    ),
    (
        "class too small for K+Q",
        bench(
            "--dataset",
            "banking77:train_5",
            "--learner",
            "protonet",
            "--shots",
            "5",
            "--out",
            "{out}",
        ),
        "has 5 distinct examples, but a 5-shot 15-query episode needs 20",
    ),
    (
        "N larger than the classes",
        bench(
            "--dataset", "clinc150:test", "--learner", "protonet", "--ways", "200", "--out", "{out}"
        ),
        "200-way episodes need 200 classes",
    ),
    (
        "K = 0",
        bench(
            "--dataset", "clinc150:test", "--learner", "protonet", "--shots", "0", "--out", "{out}"
        ),
        "shots must be an integer from 1",
    ),
    (
        "negative number",
        bench(
            "--dataset",
            "clinc150:test",
            "--learner",
            "protonet",
            "--queries",
            "-1",
            "--out",
            "{out}",
        ),
        "queries must be an integer from 1",
    ),
    (
        "absurd number",
        [
            "bench",
            "--dataset",
            "clinc150:test",
            "--learner",
            "protonet",
            "--episodes",
            "1000000000",
            "--out",
            "{out}",
        ],
        "episodes must be an integer from 1 to 1000000",
    ),
    (
        "one-way episodes",
        bench(
            "--dataset", "clinc150:test", "--learner", "protonet", "--ways", "1", "--out", "{out}"
        ),
        "ways must be an integer from 2",
    ),
    (
        "unknown learner",
        bench("--dataset", "clinc150:test", "--learner", "protonet2", "--out", "{out}"),
        "unknown learner 'protonet2'; did you mean 'protonet'?",
    ),
    (
        "unknown learner parameter",
        bench("--dataset", "clinc150:test", "--learner", "knn:k=3", "--out", "{out}"),
        "learner 'knn' has no parameter 'k'",
    ),
    (
        "unknown dataset",
        bench("--dataset", "clinc:test", "--learner", "protonet", "--out", "{out}"),
        "unknown dataset 'clinc'; did you mean 'clinc150'?",
    ),
    (
        "unknown split",
        bench("--dataset", "banking77:tset", "--learner", "protonet", "--out", "{out}"),
        "unknown split of banking77 'tset'; did you mean 'test'?",
    ),
    (
        "unknown domain",
        bench(
            "--dataset",
            "clinc150:test",
            "--domain",
            "space",
            "--learner",
            "protonet",
            "--out",
            "{out}",
        ),
        "has no domain 'space'",
    ),
    (
        "--source without --target",
        ["bench", "--source", "amazon_reviews:books", "--learner", "mmd", "--out", "{out}"],
        "cross-domain runs need both --source and --target",
    ),
    (
        "K = 0 where the source lacks the target's classes",
        [
            "bench",
            "--source",
            "clinc150:train",
            "--source-domain",
            "banking",
            "--target",
            "clinc150:test",
            "--target-domain",
            "travel",
            "--shots",
            "0",
            "--learner",
            "mmd",
            "--out",
            "{out}",
        ],
        "with 0 target labels (shots=0) the source must cover every target class",
    ),
    (
        "suite with an unknown key",
        ["bench", "{unknown_key.toml}", "--out", "{out}"],
        "unknown key 'shot'",
    ),
    ("suite that is not TOML", ["bench", "{broken.toml}", "--out", "{out}"], "invalid TOML"),
    (
        "missing suite file",
        ["bench", "nowhere.toml", "--out", "{out}"],
        "nowhere.toml: no such suite file",
    ),
    (
        "suite and flags together",
        ["bench", "{broken.toml}", "--dataset", "x:y", "--out", "{out}"],
        "give a suite file or --dataset, not both",
    ),
    (
        "--device cuda without a GPU",
        bench(
            "--dataset",
            "clinc150:test",
            "--learner",
            "protonet",
            "--device",
            "cuda",
            "--out",
            "{out}",
        ),
        "--device cuda: no CUDA GPU is visible",
    ),
    (
        "NaN embeddings",
        bench(
            "--dataset",
            "{train.jsonl}",
            "--encoder",
            "{nan-model}",
            "--learner",
            "protonet",
            "--shots",
            "1",
            "--queries",
            "2",
            "--no-cache",
            "--out",
            "{out}",
        ),
        "non-finite values; refusing to use or cache them",
    ),
    (
        "rerun into an earlier run's --out",
        bench(
            "--dataset",
            "banking77:test",
            "--learner",
            "protonet",
            "--shots",
            "1",
            "--out",
            "{earlier}",
        ),
        "holds results of an earlier run",
    ),
    (
        "--resume with a changed seed",
        bench(
            "--dataset",
            "banking77:test",
            "--learner",
            "protonet",
            "--shots",
            "1",
            "--seed",
            "9",
            "--resume",
            "--out",
            "{earlier}",
        ),
        "--resume only continues the same run",
    ),
    (
        "missing model directory",
        ["predict", "nowhere-model", "{texts.txt}", "--out", "{out}"],
        "nowhere-model: no such model directory",
    ),
    (
        "model with a missing file",
        ["predict", "{missing}", "{texts.txt}", "--out", "{out}"],
        "state.safetensors: missing; the model directory is incomplete",
    ),
    (
        "model with a truncated file",
        ["predict", "{truncated}", "{texts.txt}", "--out", "{out}"],
        "state.safetensors: does not match the checksum",
    ),
    (
        "model with a tampered file",
        ["predict", "{tampered}", "{texts.txt}", "--out", "{out}"],
        "state.safetensors: does not match the checksum",
    ),
    (
        "model from a newer fewshot",
        ["predict", "{newer}", "{texts.txt}", "--out", "{out}"],
        "written by fewshot 0.9.0 in model format 2; this fewshot 0.1.0 reads format 1 and older: upgrade fewshot",
    ),
    (
        "prediction input without the text column",
        ["predict", "{model}", "{no_text.jsonl}", "--out", "{out}"],
        "no_text.jsonl, line 1: missing column 'text'",
    ),
    (
        "--top-k 0",
        ["predict", "{model}", "{texts.txt}", "--top-k", "0", "--out", "{out}"],
        "--top-k must be at least 1",
    ),
    (
        "adapt with inputs the learner ignores",
        [
            "adapt",
            "--train",
            "banking77:train_5",
            "--learner",
            "logreg",
            "--unlabeled",
            "{texts.txt}",
            "--out",
            "{out}",
        ],
        "learner 'logreg' does not use --unlabeled",
    ),
]


@pytest.mark.parametrize(("item", "argv", "message"), CASES, ids=[c[0] for c in CASES])
def test_hostile_input(files, tmp_path, capsys, item, argv, message):
    out = tmp_path / "out"
    values = {"out": str(out), **files}
    for name, value in values.items():
        argv = [a.replace("{" + name + "}", value) for a in argv]
    assert main(argv) == 2
    stderr = capsys.readouterr().err
    assert message in stderr, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert not out.exists()


def test_the_readme_lists_every_item():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    listed = readme[readme.index("## Hostile inputs") :]
    for item, _, _ in CASES:
        assert f"| {item} |" in listed, item
    assert len(CASES) >= 25
