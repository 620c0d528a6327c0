"""Write docs/record-fields.md, the table of every result-record field, from the record schema
(fewshot.evaluation.records). tests/test_records.py checks the file is current.

Run: python docs/record_fields.py
"""

from __future__ import annotations

from pathlib import Path

from fewshot.evaluation.records import PROTOCOLS, RECORD_FIELDS

OUT = Path(__file__).with_name("record-fields.md")


def record_fields_markdown() -> str:
    lines = [
        "# Result record fields",
        "",
        "Every field of a record in `results.json` (one per learner and setting). Written by",
        "`python docs/record_fields.py` from `fewshot/evaluation/records.py`; do not edit by hand.",
        "Any field may be `null` (a failed learner's scores, a field its setting does not have).",
        "`csv`: a column of `results.csv`, in this order.",
        "",
        "| field | type | csv | protocols | meaning |",
        "|---|---|---|---|---|",
    ]
    for field in RECORD_FIELDS:
        protocols = "all" if field.protocols == PROTOCOLS else ", ".join(field.protocols)
        meaning = field.description.replace("|", "\\|")
        csv = "yes" if field.csv else ""
        lines.append(f"| `{field.name}` | {field.type} | {csv} | {protocols} | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    OUT.write_text(record_fields_markdown())
    print(f"wrote {OUT}")
