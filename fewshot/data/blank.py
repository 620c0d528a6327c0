"""What "empty" means for a text or a label, in one place for every reader and for ``serve``.

A string is blank when nothing visible is left after removing whitespace, control characters
(U+0000, ...), format characters (zero-width space U+200B, soft hyphen U+00AD, byte-order mark
U+FEFF, ...), combining marks with nothing to combine with, and the letters that render as
nothing (the Hangul fillers, the blank braille pattern U+2800). ``str.strip()`` removes only
the whitespace, so a text of zero-width spaces would pass it, be embedded and teach the model
nothing.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories that show nothing by themselves: control (Cc), format (Cf), separators
#: (Zs, Zl, Zp) and marks (Mn, Me), which need a character to sit on.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
#: Characters of visible categories that fonts draw as blank space.
BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_blank(text: str) -> bool:
    """True when ``text`` has no visible character (see the module's definition)."""
    for char in text:  # returns at the first visible character: cheap for real texts
        if (
            char not in BLANK_CHARACTERS
            and not char.isspace()
            and unicodedata.category(char) not in INVISIBLE_CATEGORIES
        ):
            return False
    return True


def invisible_note(text: str) -> str:
    """For a message about a blank ``text``: what it holds, where that is not plain
    whitespace (a user looking at the file sees nothing there)."""
    return "" if not text.strip() else f" (only invisible characters: {ascii(text)[:60]})"


def _invisible_ranges() -> list[tuple[int, int]]:
    """The code points that show nothing (see :func:`is_blank`), and the surrogates (never
    valid in a text), as ranges (first, last)."""
    import sys

    ranges: list[tuple[int, int]] = []
    for point in range(sys.maxunicode + 1):
        char = chr(point)
        if (
            0xD800 <= point <= 0xDFFF
            or char in BLANK_CHARACTERS
            or char.isspace()
            or unicodedata.category(char) in INVISIBLE_CATEGORIES
        ):
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1] = (ranges[-1][0], point)
            else:
                ranges.append((point, point))
    return ranges


def visible_pattern() -> str:
    """A regular expression (JSON Schema's dialect, and Python's) that matches a text holding a
    visible character and no lone surrogate: what ``not is_blank(text)`` and a valid text
    mean, for a schema that states it (``fewshot serve``'s OpenAPI description)."""

    # the characters themselves (escaped in the JSON): \\U escapes are Python's only
    invisible = "".join(
        chr(a) if a == b else f"{chr(a)}-{chr(b)}"
        for a, b in _invisible_ranges()
        if not 0xD800 <= a <= 0xDFFF
    )
    surrogates = "\\ud800-\\udfff"
    return f"^[^{surrogates}]*[^{surrogates}{invisible}][^{surrogates}]*$"
