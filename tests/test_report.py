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


def test_downstream_verdicts_are_computed_from_the_cells():
    """A cell meets its target only when the coding reached the rate and its worst loss over
    every task metric (trained on raw and on decoded) is within the target."""
    _report()  # puts benchmarks/ on sys.path
    import report_tasks

    def row(rate, deltas, bpppb=None):
        return {"coding": "xgeo defaults", "bpppb_target": rate, "bpppb": bpppb or rate,
                "reached": abs((bpppb or rate) / rate - 1) <= 0.1, "delta_pp": deltas}

    data = {"seed": 0, "safe_pp": 0.5, "tasks": {"scene": {
        "task": "t1", "metrics": ["accuracy"], "raw": {"accuracy": 70.0}, "codings": [
            row(0.5, {"raw-trained, accuracy": -0.9, "decoded-trained, accuracy": -1.2}),
            row(1.0, {"raw-trained, accuracy": 0.3, "decoded-trained, accuracy": -0.4}),
            row(2.0, {"raw-trained, accuracy": 0.0, "decoded-trained, accuracy": 0.0}, 1.5)],
        "lowest_safe_rate": {"both": {"xgeo defaults": 1.0}}}}}
    lines = report_tasks.target_verdicts(data)
    assert len(lines) == 1
    assert "0.5 bpppb: worst loss +1.20 pp (target <= 1) **missed**" in lines[0]
    assert "1 bpppb: worst loss +0.40 pp (target <= 0.5) met" in lines[0]
    assert "2 bpppb: worst loss +0.00 pp (target <= 0.2) **missed**" in lines[0]  # 1.5 bpppb
    table = "\n".join(report_tasks.summary_tables(data))
    assert "| xgeo defaults | - | -1.20 | -0.40 | not reached (1.50) | 1 |" in table
