"""Markdown cells and tables shared by ``report.py`` and ``report_codec.py``."""

from __future__ import annotations


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a Markdown table.

    >>> markdown_table(["a"], [["1"]])
    ['| a |', '|---|', '| 1 |']
    """
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


def fmt_db(value, sign: bool = False) -> str:
    """A dB value with two decimals (``sign``: always signed); ``n/a`` for None."""
    if value is None:
        return "n/a"
    return f"{value:+.2f}" if sign else f"{value:.2f}"
