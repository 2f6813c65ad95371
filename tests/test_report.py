"""benchmarks/report.py: the README's headline table and the docs' benchmark pages come from
the results JSON, and the committed README is what the generator writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _report():
    spec = importlib.util.spec_from_file_location("report", ROOT / "benchmarks" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_headline_is_generated():
    assert _report().main(["--check"]) == 0, "run: python benchmarks/report.py"


def test_docs_pages_cover_every_topic():
    report = _report()
    pages = report.docs_pages()
    assert {f"{topic}.md" for topic in report.topics()} <= set(pages)
    assert "reliability.inc.md" in pages and "index.md" in pages
    for topic in report.topics():
        assert pages[f"{topic}.md"].startswith(f"# {topic}\n")
        assert "|---|" in pages[f"{topic}.md"]  # at least one table, rendered from the JSON
    assert "| codec chunks mutated with the CRC recomputed |" in pages["reliability.inc.md"]


def test_markdown_table():
    assert _report().markdown_table(["a", "b"], [["1", "2"]]) == ["| a | b |", "|---|---|", "| 1 | 2 |"]
