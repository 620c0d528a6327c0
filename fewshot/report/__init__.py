"""Results for people: the terminal table, results.json / results.csv (:mod:`.tables`) and the
HTML report (:mod:`.html`).

May import: :mod:`fewshot.evaluation` (run directories, records) and everything below it; never
deploy or the CLI.
"""

from fewshot.util.lazy import lazy_exports

__getattr__ = lazy_exports(
    __name__,
    {
        "CSV_FIELDS": "fewshot.report.tables",
        "print_report": "fewshot.report.tables",
        "wide_console": "fewshot.report.tables",
        "write_results": "fewshot.report.tables",
    },
)
