"""The dask task of a stack: read, reproject and mosaic one output block of one band.

For each asset of the block's time step that overlaps it (in mosaic order), the block's
footprint in the asset's pixels comes from a :class:`~xgeo.reproject.plan.WarpPlan` built for
the block (with the whole output's kernel scale, so blocks agree); only that source window,
widened by the kernel's margin and clipped to the raster, is read (rasterio for GDAL rasters,
an ``isel`` for netCDF/Zarr variables), then resampled by xgeo's kernels
(:func:`~xgeo.reproject.kernels.warp_block`). A pixel takes the first asset's valid value
(not NaN, not the fill value): later assets fill only what is still empty, and reading stops
once the block is full.
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ReprojectionError, SceneReadError
from ..grid import Grid
from ..reproject.kernels import copy_block, warp_block
from ..reproject.plan import make_plan
from .sources import Asset, Same

__all__ = ["read_window", "stack_block", "OPEN_FILES_PER_THREAD"]

OPEN_FILES_PER_THREAD = 32
"""Raster files each worker thread keeps open between blocks (least recently used closed first)."""

_handles = threading.local()


def _open(href: str) -> Any:
    """A rasterio dataset for ``href``, kept open per thread (an LRU of
    :data:`OPEN_FILES_PER_THREAD`): opening costs about a millisecond, a block read less."""
    import rasterio

    cache = getattr(_handles, "files", None)
    if cache is None:
        cache = _handles.files = OrderedDict()
    ds = cache.pop(href, None)
    if ds is None or ds.closed:
        ds = rasterio.open(href)
    cache[href] = ds
    while len(cache) > OPEN_FILES_PER_THREAD:
        cache.popitem(last=False)[1].close()
    return ds


@functools.lru_cache(maxsize=1024)
def _plan_key(src: Same, src_transform: Any, src_shape: tuple[int, int], dst: Same, dst_transform: Any,
              dst_shape: tuple[int, int], method: str, scale: tuple[float, float],
              exact: bool = False) -> Any:
    try:
        return make_plan(Grid(src.obj, src_transform, src_shape), Grid(dst.obj, dst_transform, dst_shape),
                         method, scale=scale, exact=exact)
    except ReprojectionError:
        return None  # the planner's footprint test is a box: this asset misses the block


def _plan(src: Grid, dst: Grid, method: str, scale: tuple[float, float], exact: bool = False
          ) -> Any:
    """The warp plan of one asset grid onto one block (shared by the bands of a file and by
    scenes on the same grid); None when they do not overlap."""
    return _plan_key(Same(src.crs), src.transform, src.shape, Same(dst.crs), dst.transform, dst.shape,
                     method, scale, exact)


def aligned_window(src: Grid, dst: Grid) -> tuple[int, int, int, int] | None:
    """The window ``(row0, row1, col0, col1)`` of ``src`` holding exactly the pixels of
    ``dst`` (same CRS, same pixel size and orientation, whole-pixel offset, inside ``src``),
    or None when ``dst`` is not such a window and must be resampled.

    Examples
    --------
    >>> g = Grid.from_bounds((0, 0, 4, 4), crs=32633, resolution=1)
    >>> aligned_window(g, g[1:3, 2:4]), aligned_window(g, g.to_crs(32634)) is None
    ((1, 3, 2, 4), True)
    """
    a, b, c, d, e, f = tuple(src.transform)[:6]
    da, db, dc, dd, de, df = tuple(dst.transform)[:6]
    if (a, b, d, e) != (da, db, dd, de) or b or d or src.crs != dst.crs:
        return None
    col, row = (dc - c) / a, (df - f) / e
    r0, c0 = round(row), round(col)
    if abs(row - r0) > 1e-9 or abs(col - c0) > 1e-9:
        return None
    r1, c1 = r0 + dst.height, c0 + dst.width
    if r0 < 0 or c0 < 0 or r1 > src.height or c1 > src.width:
        return None
    return r0, r1, c0, c1


def read_window(asset: Asset, window: tuple[int, int, int, int]) -> np.ndarray:
    """Pixels ``[row0:row1, col0:col1]`` of ``asset`` as a ``(1, h, w)`` array.

    Raises
    ------
    SceneReadError
        If the file cannot be opened or read; the message names it.
    """
    r0, r1, c0, c1 = window
    if asset.data is not None:
        try:
            values = np.asarray(asset.data[..., r0:r1, c0:c1].values)
        except Exception as exc:
            raise SceneReadError(f"{asset.href}: cannot read variable {asset.band!r} "
                                 f"({type(exc).__name__}: {exc})") from exc
        return values[None]
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    try:
        values = _open(asset.href).read(asset.index, window=Window(c0, r0, c1 - c0, r1 - r0))
    except RasterioError as exc:
        raise SceneReadError(f"{asset.href}: cannot read band {asset.index} "
                             f"rows {r0}:{r1}, cols {c0}:{c1} ({exc})") from exc
    return values[None]


def _valid(block: np.ndarray, fill: float | int) -> np.ndarray:
    if block.dtype.kind == "f":
        ok = ~np.isnan(block)
        if not (isinstance(fill, float) and math.isnan(fill)):
            ok &= block != fill
        return ok
    return block != fill


_SENTINEL = np.iinfo(np.int64).min
"""Work fill of an integer band with an implicit fill: outside every source range up to 32 bits."""


def stack_block(assets: Sequence[Asset], scales: Sequence[tuple[float, float]],
                boxes: Sequence[tuple[int, int, int, int]], grid: Grid, method: str,
                dtype: np.dtype, fill: float | int, implicit: bool = False, exact: bool = False
                ) -> np.ndarray:
    """One output block ``(1, h, w)`` on ``grid`` (a window of the output grid): the mosaic of
    ``assets`` (in order, first valid pixel wins) resampled with ``method``.

    ``scales`` are the assets' kernel scales ``(x, y)`` on the whole output; ``boxes`` the
    pixels ``(row0, row1, col0, col1)`` of the block each asset may cover (outside them it
    has no data): only those are resampled. ``implicit`` (an integer band whose fill no source
    declares as nodata): scenes are resampled into int64 against a fill outside their range,
    so a valid value equal to ``fill`` (0 by default) is kept as it is and counts as valid.

    Examples
    --------
    >>> import numpy as np
    >>> from datetime import datetime
    >>> import xarray as xr
    >>> g = Grid.from_bounds((0, 0, 4, 4), crs=32633, resolution=1)
    >>> a = Asset("mem", "b", 0, datetime(2020, 1, 1), 0, g, np.dtype("float32"), None,
    ...           xr.DataArray(np.arange(16, dtype="float32").reshape(4, 4), dims=("y", "x")))
    >>> stack_block([a], [(1.0, 1.0)], [(0, 2, 0, 2)], g[1:3, 1:3], "nearest", np.dtype("float32"), np.nan)[0]
    array([[ 5.,  6.],
           [ 9., 10.]], dtype=float32)
    """
    h, w = grid.shape
    out = np.full((1, h, w), fill, dtype=dtype)
    empty = np.ones((h, w), dtype=bool)
    work_dtype, work_fill = dtype, fill
    if implicit and dtype.kind in "iub" and dtype.itemsize <= 4:
        work_dtype, work_fill = np.dtype(np.int64), _SENTINEL
    for asset, scale, (b0, b1, d0, d1) in zip(assets, scales, boxes, strict=True):
        if not empty[b0:b1, d0:d1].any():
            continue
        sub = grid if (b0, b1, d0, d1) == (0, h, 0, w) else grid.window(b0, d0, b1 - b0, d1 - d0)
        shift = aligned_window(asset.grid, sub) if method == "nearest" else None
        if shift is not None:  # the same pixels: a copy (nearest's rules), no resampling
            tmp = np.empty((1,) + sub.shape, dtype=work_dtype)
            copy_block(read_window(asset, shift), tmp, nodata=asset.nodata, fill=work_fill)
        else:
            plan = _plan(asset.grid, sub, method, tuple(scale), exact)
            if plan is None:
                continue
            window = plan.source_window(0, sub.height + plan.corner, 0, sub.width + plan.corner)
            if window is None:
                continue
            r0, r1, c0, c1 = window
            src = np.ascontiguousarray(read_window(asset, (r0, r1, c0, c1)))
            tmp = np.empty((1,) + sub.shape, dtype=work_dtype)
            warp_block(src, (r0, c0), asset.grid.shape, tmp, (0, 0), plan.coords.lattice,
                       plan.method, nodata=asset.nodata, fill=work_fill, scale=plan.scale)
        hole = empty[b0:b1, d0:d1]
        take = hole & _valid(tmp[0], work_fill)
        out[0, b0:b1, d0:d1][take] = tmp[0][take]
        hole &= ~take
        if not empty.any():
            break
    return out
