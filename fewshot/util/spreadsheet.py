"""CSV cells that a spreadsheet shows as text, never runs as a formula.

A spreadsheet treats a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (OWASP, "CSV Injection"): a label, text or id such as
``=HYPERLINK("http://evil", "x")`` in ``predict``'s CSV or a run's ``results.csv`` would run
when the file is opened. Such cells are written with a leading ``'``, OWASP's advice, which the
spreadsheet hides and keeps the rest as text. Numbers (``-1``, ``-0.5``) are left as they are:
a spreadsheet reads them as numbers, which is what they are. JSONL and Parquet are not
spreadsheet formats and keep every value exactly.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as a CSV cell that opens as text: a leading ``'`` where it could run as a formula."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value
