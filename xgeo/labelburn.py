"""Burning vector labels into a raster, in memory or lazily block by block.

:func:`burn` is GDAL's rasterizer (``rasterio.features.rasterize``) on one grid;
:func:`burn_lazily` builds a dask array with one task per block, each holding only the
geometries whose bounding box reaches its block (an STRtree query at graph build), so a class
map larger than memory is burnt block by block, pixel for pixel as the in-memory burn (the
rasterizer decides each pixel from the grid's transform, which a block's window shares).
:func:`burn_blocks` says which of the two a call gets. The rules for what a label is
(classes, CRS, overlaps) live in :mod:`xgeo.labels`, which calls these.

Examples
--------
>>> import numpy as np, shapely
>>> from xgeo.grid import Grid
>>> grid = Grid.from_bounds((0, 0, 40, 40), crs="EPSG:32633", resolution=10)
>>> geoms, codes = np.array([shapely.box(0, 0, 20, 40)]), np.array([1])
>>> lazy = burn_lazily(geoms, codes, grid, ((2, 2), (2, 2)), 0, False, "uint8")
>>> lazy.compute().tolist() == burn(geoms, codes, grid, 0, False, "uint8").tolist()
True
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from .errors import LabelError
from .grid import Grid

__all__ = ["burn", "burn_blocks", "burn_lazily"]

_BURNING = threading.Lock()  # see burn()


def burn(geoms: np.ndarray, codes: np.ndarray, grid: Grid, fill: int, all_touched: bool,
         dtype: Any) -> np.ndarray:
    """GDAL's burn of ``geoms`` (in the grid's CRS, burnt in order) with ``codes`` on ``grid``."""
    from rasterio import features as rio_features

    out = np.full(grid.shape, fill, dtype=dtype)
    if len(geoms):
        # rasterio hides a warning of its own with warnings.catch_warnings, which is not
        # thread-safe: two dask threads burning at once would let it out; burns are cheap
        with _BURNING:
            rio_features.rasterize(zip(geoms, codes.tolist(), strict=True), out=out,
                                   transform=grid.transform, all_touched=all_touched)
    return out


def burn_blocks(obj: Any, chunks: Any, grid: Grid, dims: tuple[Hashable, Hashable]
                ) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The ``(y, x)`` block sizes of a lazy burn, or None to burn in memory.

    Parameters
    ----------
    obj
        What the labels are burnt onto (a Grid or an xarray object): without ``chunks``, a
        dask-backed object's own ``(y, x)`` chunks are followed.
    chunks
        ``rasterize``'s ``chunks=``: an int, ``(y, x)``, ``{dim: size}`` or None.
    grid, dims
        The grid and the names of its ``(y, x)`` dims.

    Raises
    ------
    LabelError
        If ``chunks`` is not one of the above, names other dims, or is below 1 pixel.
    """
    if chunks is None:
        try:
            sizes = obj.chunksizes if isinstance(obj, xr.DataArray | xr.Dataset) else {}
        except ValueError:  # a Dataset whose variables disagree on their chunks
            sizes = {}
        if sizes:
            if dims[0] in sizes and dims[1] in sizes:
                return tuple(sizes[dims[0]]), tuple(sizes[dims[1]])
        return None
    if isinstance(chunks, Mapping):
        unknown = set(chunks) - set(dims)
        if unknown:
            raise LabelError(f"chunks= names {sorted(map(str, unknown))}, which are not the "
                             f"spatial dims {[str(d) for d in dims]}")
        size = (chunks.get(dims[0], grid.height), chunks.get(dims[1], grid.width))
    elif isinstance(chunks, int | np.integer):
        size = (int(chunks), int(chunks))
    else:
        try:
            size = tuple(int(c) for c in chunks)
        except (TypeError, ValueError):
            size = ()
        if len(size) != 2:
            raise LabelError(f"chunks= must be an int, (y, x) or {{dim: size}}, got {chunks!r}")
    if min(size) < 1:
        raise LabelError(f"chunks= must be at least 1 pixel, got {chunks!r}")
    from dask.array.core import normalize_chunks

    return normalize_chunks(size, shape=grid.shape)


def burn_lazily(geoms: np.ndarray, codes: np.ndarray, grid: Grid,
                blocks: tuple[tuple[int, ...], tuple[int, ...]], fill: int, all_touched: bool,
                dtype: Any) -> Any:
    """A dask array of :func:`burn` on ``grid`` in ``blocks`` (``(y sizes, x sizes)``): one
    task per block, holding the geometries that reach it, in their burning order."""
    import dask.array as da
    import shapely
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    ychunks, xchunks = blocks
    name = "rasterize-" + tokenize(shapely.to_wkb(geoms).tolist(), codes.tolist(),
                                   grid.crs.to_wkt(), tuple(grid.transform), grid.shape, fill,
                                   all_touched, str(dtype), ychunks, xchunks)
    # a pixel touched by a geometry lies within its bounding box; pad by a pixel so
    # all_touched's edge cases are kept (an extra geometry in a task burns nothing wrong)
    tree = shapely.STRtree(geoms)
    pad = max(abs(grid.transform.a), abs(grid.transform.e))
    dsk: dict = {}
    r0 = 0
    for iy, h in enumerate(ychunks):
        c0 = 0
        for ix, w in enumerate(xchunks):
            sub = grid.window(r0, c0, h, w)
            x0, y0, x1, y1 = sub.bounds
            hits = np.sort(tree.query(shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad)))
            dsk[(name, iy, ix)] = (burn, geoms[hits], codes[hits], sub, fill, all_touched,
                                   dtype)
            c0 += w
        r0 += h
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    return da.Array(graph, name, blocks, dtype=dtype, meta=np.empty((0, 0), dtype))
