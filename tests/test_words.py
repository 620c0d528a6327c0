"""Counted nouns in messages: "1 prediction", never "1 predictions"."""

from fewshot.util.words import counted


def test_one_is_singular_and_every_other_count_plural():
    assert counted(1, "prediction") == "1 prediction"
    assert [counted(n, "field") for n in (0, 2, 3080)] == ["0 fields", "2 fields", "3,080 fields"]
