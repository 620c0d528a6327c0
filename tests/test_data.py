import gzip
import json

import pandas as pd
import pytest

from fewshot.data.catalogue import Columns
from fewshot.data.files import read_labeled_file
from fewshot.data.texts import LabeledTexts
from fewshot.errors import ConfigError, DataError


def write(path, text, mode="w"):
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_with_domain(tmp_path):
    path = write(
        tmp_path / "d.jsonl",
        '{"text": "hello", "label": "greet", "domain": "a"}\n\n{"text": "bye", "label": 3, "domain": "b"}\n',
    )
    data = read_labeled_file(path)
    assert data.texts == ("hello", "bye")
    assert data.labels == ("greet", "3")
    assert data.domains == ("a", "b")
    assert data.classes == ("3", "greet")


def test_csv_with_custom_columns(tmp_path):
    path = write(
        tmp_path / "d.csv", 'utterance,intent\n"hi, there",greet\n"a ""quoted"" one",other\n'
    )
    data = read_labeled_file(path, text_column="utterance", label_column="intent")
    assert data.texts == ("hi, there", 'a "quoted" one')
    assert data.labels == ("greet", "other")
    assert data.domains is None


def test_gzipped_jsonl(tmp_path):
    path = tmp_path / "d.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "x", "label": "y"}\n'))
    assert read_labeled_file(path).labels == ("y",)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "bad.jsonl",
            '{"text": "a", "label": "b"}\n{"text": "a", "label": \n',
            "bad.jsonl, line 2: malformed JSON",
        ),
        ("list.jsonl", '["a", "b"]\n', "list.jsonl, line 1: expected a JSON object"),
        (
            "nolabel.jsonl",
            '{"text": "a", "label": "b"}\n{"text": "c"}\n',
            "nolabel.jsonl, line 2: missing column 'label'",
        ),
        (
            "empty_text.jsonl",
            '{"text": "a", "label": "b"}\n{"text": "  ", "label": "b"}\n',
            "empty_text.jsonl, line 2: empty text",
        ),
        (
            "null_label.jsonl",
            '{"text": "a", "label": null}\n',
            "null_label.jsonl, line 1: 'label' is None",
        ),
        (
            "num_text.jsonl",
            '{"text": 5, "label": "x"}\n',
            "num_text.jsonl, line 1: 'text' is 5; expected a string",
        ),
        ("empty.jsonl", "", "empty.jsonl: the file has no examples"),
        ("blank.jsonl", "\n\n", "blank.jsonl: the file has no examples"),
        ("empty.csv", "", "empty.csv: the file has no examples"),
        ("header_only.csv", "text,label\n", "header_only.csv: the file has no examples"),
        (
            "missing_col.csv",
            "sentence,label\nhi,x\n",
            "missing_col.csv, line 2: missing column 'text'",
        ),
        (
            "ragged.csv",
            "text,label\nhi,x\nhello\n",
            "ragged.csv, line 3: 1 field, but the header has 2",
        ),
        ("empty_text.csv", "text,label\nhi,x\n,y\n", "empty_text.csv, line 3: empty text"),
        ("data.txt", "hello", "data.txt: unknown file type '.txt'"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as info:
        read_labeled_file(path)
    assert str(info.value).startswith(str(tmp_path / message.split(":")[0]))
    assert message.split(":", 1)[1].strip() in str(info.value)


def test_wrong_encoding_names_the_line(tmp_path):
    path = write(
        tmp_path / "latin1.jsonl",
        b'{"text": "ok", "label": "a"}\n' + '{"text": "café", "label": "a"}\n'.encode("latin-1"),
        mode="wb",
    )
    with pytest.raises(DataError, match=r"latin1.jsonl, line 2: not valid UTF-8 \(byte 0xe9"):
        read_labeled_file(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_labeled_file(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="is a directory"):
        read_labeled_file(tmp_path)


def test_truncated_gzip(tmp_path):
    body = gzip.compress(b'{"text": "x", "label": "y"}\n' * 2000)
    path = write(tmp_path / "cut.jsonl.gz", body[: len(body) // 2], mode="wb")
    with pytest.raises(DataError, match="cut.jsonl.gz: cannot read the file"):
        read_labeled_file(path)


def test_from_lists_and_dataframe():
    data = LabeledTexts.from_lists(["a b", "c d"], [1, 2], ["x", "y"])
    assert data.labels == ("1", "2") and data.domains == ("x", "y")
    frame = pd.DataFrame({"sentence": ["one", "two"], "intent": ["p", "q"], "domain": ["d", "e"]})
    data = LabeledTexts.from_dataframe(frame, text_column="sentence", label_column="intent")
    assert data.texts == ("one", "two") and data.domains == ("d", "e")
    with pytest.raises(DataError, match="missing column 'text'"):
        LabeledTexts.from_dataframe(frame)


def test_in_memory_validation():
    with pytest.raises(DataError, match="2 texts but 1 labels"):
        LabeledTexts.from_lists(["a", "b"], ["x"])
    with pytest.raises(DataError, match="example 1 has an empty text"):
        LabeledTexts.from_lists(["a", ""], ["x", "y"])
    with pytest.raises(DataError, match="example 0 has no label"):
        LabeledTexts.from_lists(["a"], [None])
    with pytest.raises(DataError, match="no examples"):
        LabeledTexts.from_lists([], [])


@pytest.mark.parametrize(
    ("spec", "rows", "classes"),
    [
        ("banking77:train_5", 385, 77),
        ("banking77:test", 3080, 77),
        ("clinc150:train_10", 1500, 150),
        ("clinc150:test", 4500, 150),
        ("amazon_reviews:books", 2000, 2),
    ],
)
def test_bundled_datasets(registry, spec, rows, classes):
    data = registry.datasets.load(spec)
    assert len(data) == rows
    assert len(data.classes) == classes
    assert data.name == spec


def test_bundled_domains(registry):
    clinc = registry.datasets.load("clinc150:test")
    assert len(set(clinc.domains)) == 10
    assert set(registry.datasets.load("amazon_reviews:kitchen").domains) == {"kitchen"}


def test_dataset_spec_errors(registry, tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset 'bankin77'; did you mean 'banking77'"):
        registry.datasets.load("bankin77:test")
    with pytest.raises(ConfigError, match="needs a split.*train_5"):
        registry.datasets.load("banking77")
    with pytest.raises(ConfigError, match="unknown split of banking77 'tset'; did you mean 'test'"):
        registry.datasets.load("banking77:tset")
    path = write(tmp_path / "mine.csv", "q,y\nhello,a\n")
    assert registry.datasets.load(str(path), Columns(text="q", label="y")).texts == ("hello",)


def test_attribution_is_shipped():
    from importlib import resources

    text = (resources.files("fewshot.data") / "bundled" / "ATTRIBUTION.md").read_text()
    for credit in ("Casanueva", "Larson", "Blitzer", "CC BY 4.0", "CC BY 3.0"):
        assert credit in text


def test_jsonl_rows_roundtrip_real_file(tmp_path, registry):
    data = registry.datasets.load("clinc150:train_5")
    path = tmp_path / "clinc.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for t, lab, d in zip(data.texts, data.labels, data.domains, strict=True):
            handle.write(json.dumps({"text": t, "label": lab, "domain": d}) + "\n")
    again = read_labeled_file(path)
    assert (
        again.texts == data.texts and again.labels == data.labels and again.domains == data.domains
    )
