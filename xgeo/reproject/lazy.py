"""The dask graph of a lazy reprojection: one task per output chunk, reading only the
source chunks under its footprint.

Each task's source window comes from the plan (:meth:`WarpPlan.source_window
<xgeo.reproject.plan.WarpPlan.source_window>`: the coordinate map's per-tile bounding
boxes, widened by the kernel's margin); output chunks whose footprint misses the source
become fill tasks that read nothing. The tasks themselves live in :mod:`._blocks`.
"""

from __future__ import annotations

import math
from itertools import product
from typing import Any

import numpy as np

from ..errors import ReprojectionError
from ._blocks import warp_chunk
from .coords import DEFAULT_TILE
from .plan import WarpPlan

__all__ = ["reproject_dask", "output_chunks", "default_chunks", "CHUNK_BUDGET"]

CHUNK_BUDGET = 32 * 2**20
"""Default bytes per output chunk of a lazy reprojection."""


def default_chunks(lead_items: int, itemsize: int, budget: int | None = None) -> int:
    """Square spatial chunk side (a multiple of the transform tile) fitting ``budget`` bytes
    (default :data:`CHUNK_BUDGET`).

    Examples
    --------
    >>> default_chunks(1, 4)
    2816
    """
    budget = CHUNK_BUDGET if budget is None else budget
    side = math.sqrt(budget / max(1, lead_items * itemsize))
    return max(DEFAULT_TILE, int(side // DEFAULT_TILE) * DEFAULT_TILE)


def output_chunks(plan: WarpPlan, lead_items: int, itemsize: int, chunks: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Spatial output chunks ``(row_chunks, col_chunks)`` from ``chunks`` or the memory budget.

    The default is never copied from the input: tiny input chunks would make a huge graph.
    """
    h, w = plan.dst.shape
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        cy = cx = default_chunks(lead_items, itemsize)
    elif _is_size(chunks):
        cy = cx = int(chunks)
    else:
        try:
            cy, cx = chunks
        except (TypeError, ValueError):
            cy = cx = None
        if not (_is_size(cy) and _is_size(cx)):
            raise ReprojectionError(
                f"chunks must be a positive int, a pair (y, x) of them or 'auto', got {chunks!r}")
        cy, cx = int(cy), int(cx)
    if cy <= 0 or cx <= 0:
        raise ReprojectionError(f"chunks must be positive, got {chunks!r}")
    from dask.array.core import normalize_chunks

    return normalize_chunks((cy, cx), shape=(h, w))


def _is_size(v: Any) -> bool:
    """An integer (Python or NumPy, not bool) or an integral float: a chunk length."""
    if isinstance(v, bool | np.bool_):
        return False
    if isinstance(v, int | np.integer):
        return True
    return isinstance(v, float | np.floating) and math.isfinite(v) and float(v).is_integer()


def reproject_dask(array: Any, plan: WarpPlan, out_dtype: np.dtype, src_nodata: Any, fill: float, chunks: Any):
    """Lazy reprojection of a dask (or NumPy) array ``(..., y, x)`` following ``plan``."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    if not isinstance(array, da.Array):
        # NumPy input: one source block per leading index, so tasks slice it without copies.
        array = da.from_array(array, chunks=(1,) * (array.ndim - 2) + tuple(array.shape[-2:]))
    lead_chunks = array.chunks[:-2]
    lead_items = max((math.prod(c) for c in product(*lead_chunks)), default=1) if lead_chunks else 1
    ychunks, xchunks = output_chunks(plan, lead_items, out_dtype.itemsize, chunks)
    row_edges = np.cumsum((0,) + array.chunks[-2])
    col_edges = np.cumsum((0,) + array.chunks[-1])
    token = tokenize(array, plan.src, plan.dst, plan.method, str(out_dtype), src_nodata, fill, ychunks, xchunks,
                     plan.coords.lattice.nodes_x.size, plan.scale)
    name = f"reproject-{token}"
    plan_args = (plan.method, plan.src.shape, src_nodata, fill, plan.scale)
    extra = plan.corner
    dsk: dict = {}
    lead_ranges = [range(len(c)) for c in lead_chunks]
    r0 = 0
    for iy, ch in enumerate(ychunks):
        c0 = 0
        for ix, cw in enumerate(xchunks):
            window = plan.source_window(r0, r0 + ch + extra, c0, c0 + cw + extra)
            if window is not None:
                wr0, wr1, wc0, wc1 = window
                by0 = int(np.searchsorted(row_edges, wr0, side="right")) - 1
                by1 = int(np.searchsorted(row_edges, wr1, side="left"))
                bx0 = int(np.searchsorted(col_edges, wc0, side="right")) - 1
                bx1 = int(np.searchsorted(col_edges, wc1, side="left"))
                cm = plan.coords.subset(r0, r0 + ch + extra, c0, c0 + cw + extra)
                origin = (int(row_edges[by0]), int(col_edges[bx0]))
            for lead in product(*lead_ranges):
                lead_shape = tuple(lead_chunks[k][i] for k, i in enumerate(lead))
                out_shape = lead_shape + (ch, cw)
                key = (name, *lead, iy, ix)
                if window is None:
                    dsk[key] = (np.full, out_shape, fill, out_dtype)
                    continue
                blocks = [[(array.name, *lead, jy, jx) for jx in range(bx0, bx1)] for jy in range(by0, by1)]
                dsk[key] = (warp_chunk, blocks, origin, window, cm, plan_args, out_shape, out_dtype, (r0, c0))
            c0 += cw
        r0 += ch
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[array])
    out_chunks = tuple(lead_chunks) + (ychunks, xchunks)
    return da.Array(graph, name, out_chunks, dtype=out_dtype, meta=np.empty((0,) * len(out_chunks), out_dtype))
