"""Words in messages: "1 prediction", "2 predictions"."""


def counted(number: int, noun: str) -> str:
    """``number`` and ``noun``, the noun in the plural unless the number is one (English nouns
    that take an -s, which are the ones fewshot counts)."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"
