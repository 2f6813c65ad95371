"""The container format version a video-coded store's newest chunk must carry (for tests that
read it from :func:`xgeo.compression.compression_report`)."""

from __future__ import annotations

from typing import Any


def stamped_version(row: dict[str, Any], needed: int) -> int:
    """``needed`` (what the chunks' header keys need), raised to 9 when a chunk holds a
    context-coded mask and to 8 when one stores its header deflated."""
    if row["masks_context_coded"]:
        return max(needed, 9)
    if row["headers_deflated"]:
        return max(needed, 8)
    return needed
