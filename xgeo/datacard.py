"""The dataset card of a prepared training set: ``dataset.json`` and its ``README.md``.

A card says what a training set is made of, so that whoever trains on it (or finds it in
a year) needs nothing else: the sources it was built from, the grid, the bands and dates,
the classes and how many labelled pixels each split holds, and how much the compression
changed each variable. :func:`write_card` writes both files from one dictionary;
:func:`card_markdown` is the README part alone.

The card's dictionary (what :func:`xgeo.prepare.prepare` fills in)::

    {"xgeo_version", "created", "command",
     "sources": [str], "grid": {"crs", "epsg", "transform", "shape", "resolution", "bounds"},
     "bands": [str], "dates": [ISO str],
     "classes": {name: value}, "class_counts": {split: {name: pixels}},
     "chips": {"size", "stride", "count": {split: n}, "file"},
     "store": str, "compression": {variable: {"kind", "ratio", "bpppb", "psnr", "max_error"}}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["CARD_JSON", "CARD_MARKDOWN", "card_markdown", "write_card"]

CARD_JSON = "dataset.json"
CARD_MARKDOWN = "README.md"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "∞" if value > 0 else "—"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return "—" if value is None else str(value)


def _table(rows: list[list[Any]], header: list[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def card_markdown(card: Mapping[str, Any]) -> str:
    """The README of a prepared training set, from its card dictionary.

    Examples
    --------
    >>> text = card_markdown({"sources": ["a.tif"], "bands": ["B2"], "dates": ["2020-05-18"],
    ...                       "classes": {"water": 1}, "class_counts": {"train": {"water": 7}}})
    >>> "| water | 1 | 7 |" in text
    True
    """
    lines = ["# Training set", ""]
    if card.get("command"):
        lines += ["Made by:", "", "```", str(card["command"]), "```", ""]
    created = card.get("created")
    version = card.get("xgeo_version")
    if created or version:
        lines += [f"Created {created or '?'} with xgeo {version or '?'}.", ""]
    sources = list(card.get("sources", []))
    lines += [f"## Sources ({len(sources)})", ""]
    lines += [f"- `{s}`" for s in sources[:50]]
    if len(sources) > 50:
        lines.append(f"- … and {len(sources) - 50} more (all in {CARD_JSON})")
    lines.append("")
    grid = card.get("grid")
    if grid:
        lines += ["## Grid", ""]
        crs = grid.get("epsg")
        crs = f"EPSG:{crs}" if crs else grid.get("crs_name", "(see dataset.json)")
        lines += [f"- CRS: {crs}", f"- shape (rows, columns): {tuple(grid.get('shape', ()))}",
                  f"- resolution: {tuple(grid.get('resolution', ()))}",
                  f"- bounds: {tuple(grid.get('bounds', ()))}", ""]
    bands = list(card.get("bands", []))
    dates = list(card.get("dates", []))
    lines += ["## Bands and dates", "", f"- bands ({len(bands)}): {', '.join(map(str, bands))}"]
    if dates:
        lines.append(f"- dates ({len(dates)}): {dates[0]} … {dates[-1]}" if len(dates) > 1
                     else f"- dates (1): {dates[0]}")
    lines.append("")
    classes = dict(card.get("classes", {}))
    counts = dict(card.get("class_counts", {}))
    if classes:
        splits = list(counts)
        lines += ["## Classes (labelled pixels per split)", ""]
        rows = [[name, value, *(counts[s].get(name, 0) for s in splits)]
                for name, value in classes.items()]
        lines += _table(rows, ["class", "value", *splits]) + [""]
    chips = card.get("chips")
    if chips:
        per_split = ", ".join(f"{k} {v}" for k, v in chips.get("count", {}).items())
        lines += ["## Chips", "", f"- size {chips.get('size')}, stride {chips.get('stride')}",
                  f"- per split: {per_split}", f"- index: `{chips.get('file')}` (GeoParquet)", ""]
    compression = card.get("compression")
    if compression:
        lines += [f"## Store `{card.get('store')}`", ""]
        rows = [[name, info.get("kind"), info.get("ratio"), info.get("bpppb"), info.get("psnr"),
                 info.get("max_error")] for name, info in compression.items()]
        lines += _table(rows, ["variable", "kind", "ratio", "bpppb", "PSNR dB", "max error"])
        lines.append("")
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, non-finite floats to their names ("inf")."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_card(out_dir: str | Path, card: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write ``dataset.json`` and ``README.md`` into ``out_dir``; return their paths.

    Examples
    --------
    >>> import tempfile
    >>> paths = write_card(tempfile.mkdtemp(), {"sources": [], "bands": ["B2"]})
    >>> [p.name for p in paths]
    ['dataset.json', 'README.md']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / CARD_JSON
    md_path = out / CARD_MARKDOWN
    json_path.write_text(json.dumps(_plain(card), indent=2, default=str, allow_nan=False) + "\n",
                         encoding="utf-8")
    md_path.write_text(card_markdown(card), encoding="utf-8")
    return json_path, md_path
