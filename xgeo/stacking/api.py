""":func:`stack`: raw scenes (files or STAC items) into one lazy ``(time, y, x)`` cube."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..crs import write_grid
from ..errors import StackError
from ..grid import Grid
from ..reproject.lazy import default_chunks
from ..reproject.plan import check_method
from .plan import StackPlan, make_stack_plan
from .read import stack_block
from .sources import collect_assets

__all__ = ["stack", "build_cube"]


def _chunk_sizes(chunks: Any, itemsize: int) -> tuple[int, int]:
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        side = default_chunks(1, itemsize)
        return side, side
    if isinstance(chunks, Mapping):
        unknown = set(chunks) - {"x", "y", "time"}
        if unknown or "x" not in chunks or "y" not in chunks:
            raise StackError(f"chunks= as a mapping needs 'y' and 'x' (and optionally 'time': 1), got {dict(chunks)}")
        if chunks.get("time", 1) != 1:
            raise StackError("chunks['time'] must be 1: each time step is its own block")
        pair: Any = (chunks["y"], chunks["x"])
    elif isinstance(chunks, int | np.integer) and not isinstance(chunks, bool):
        pair = (chunks, chunks)
    else:
        pair = chunks
    try:
        cy, cx = (int(v) for v in pair)
        ok = all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in pair)
    except (TypeError, ValueError):
        ok = False
    if not ok or cy <= 0 or cx <= 0:
        raise StackError(f"chunks= must be a positive int, a (y, x) pair, {{'y': .., 'x': ..}} or 'auto', "
                         f"got {chunks!r}")
    return cy, cx


def _clip(box: tuple[int, int, int, int], r0: int, c0: int, h: int, w: int) -> tuple[int, int, int, int]:
    """``box`` (output pixels) clipped to the block at ``(r0, c0)`` of ``(h, w)``, block-relative."""
    return (max(box[0] - r0, 0), min(box[1] - r0, h), max(box[2] - c0, 0), min(box[3] - c0, w))


def build_cube(plan: StackPlan, resampling: str, chunks: Any, exact: bool = False) -> xr.Dataset:
    """The lazy Dataset of ``plan``: one dask task per (time step, y block, x block) of each band."""
    import dask.array as da
    from dask.array.core import normalize_chunks
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    method = check_method(resampling)
    grid = plan.grid
    itemsize = max(plan.dtypes[b].itemsize for b in plan.bands)
    cy, cx = _chunk_sizes(chunks, itemsize)
    ychunks, xchunks = normalize_chunks((cy, cx), shape=grid.shape)
    token = tokenize(grid.crs.to_wkt(), tuple(grid.transform), grid.shape, method, exact, ychunks,
                     xchunks,
                     {b: (str(plan.dtypes[b]), plan.fills[b], b in plan.implicit) for b in plan.bands},
                     [[(a.href, a.band, a.index, a.time, a.nodata) for a in s] for s in plan.steps])
    windows = []
    r0 = 0
    for iy, h in enumerate(ychunks):
        c0 = 0
        for ix, w in enumerate(xchunks):
            windows.append((iy, ix, r0, c0, h, w, grid.window(r0, c0, h, w)))
            c0 += w
        r0 += h
    data_vars = {}
    for band in plan.bands:
        dtype, fill = plan.dtypes[band], plan.fills[band]
        name = f"stack-{band}-{token}"
        dsk: dict = {}
        for t in range(len(plan.steps)):
            for iy, ix, r0, c0, h, w, sub in windows:
                assets = plan.assets_for(t, band, r0, r0 + h, c0, c0 + w)
                if not assets:
                    dsk[(name, t, iy, ix)] = (np.full, (1, h, w), fill, dtype)
                    continue
                scales = [plan.scales[id(a)] for a in assets]
                boxes = [_clip(plan.footprints[id(a)], r0, c0, h, w) for a in assets]
                dsk[(name, t, iy, ix)] = (stack_block, assets, scales, boxes, sub, method, dtype, fill,
                                          band in plan.implicit, exact)
        graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
        arr = da.Array(graph, name, ((1,) * len(plan.steps), ychunks, xchunks), dtype=dtype,
                       meta=np.empty((0, 0, 0), dtype))
        attrs = {} if isinstance(fill, float) and math.isnan(fill) else {"_FillValue": fill}
        data_vars[band] = (("time", "y", "x"), arr, attrs)
    times = pd.DatetimeIndex(plan.times).as_unit("ns")
    ds = xr.Dataset(data_vars, coords={"time": ("time", times)})
    return write_grid(ds, grid)


def stack(
    sources: Any,
    *,
    pattern: str | None = None,
    time_format: str | None = None,
    grid: Grid | None = None,
    crs: Any = None,
    resolution: float | Sequence[float] | None = None,
    bounds: Sequence[float] | None = None,
    bands: Mapping[str, Any] | Sequence[str] | None = None,
    time: Any = None,
    resampling: str = "nearest",
    group: str | None = "solar_day",
    chunks: Any = None,
    nodata: float | int | None = None,
    exact: bool = False,
) -> xr.Dataset:
    """Stack raw scenes (files or STAC items) into one lazy ``(time, y, x)`` cube.

    Parameters
    ----------
    sources
        File paths, globs or folders (GeoTIFF/COG and other GDAL rasters via rasterio; netCDF
        and Zarr via :func:`xgeo.open_dataset`, one band per ``(y, x)`` or ``(time, y, x)``
        variable), or pystac Items, an ItemCollection, a Catalog/Collection, or the path of a
        local STAC JSON file.
    pattern
        Regular expression searched in each file *name*, with named groups ``band`` (the
        variable the file stacks under) and ``time``. Files it does not match are left out
        with one :class:`~xgeo.errors.StackWarning` listing them.
    time_format
        :func:`~datetime.datetime.strptime` format of the pattern's ``time`` group, e.g.
        ``"%Y%m%d"`` or ``"%Y%j"`` (year + day of year); default ISO 8601.
    grid
        The output :class:`~xgeo.grid.Grid`. By default derived as gdalwarp does from ``crs``
        (default: the most common CRS of the scenes, ties to the first), ``resolution`` (default:
        the finest band's, in that CRS) and ``bounds`` (``(left, bottom, right, top)`` in that
        CRS; default: the union of the scenes' footprints).
    bands
        A mapping band name -> glob(s) of its files, or a list of band names (STAC asset keys)
        to keep.
    time
        A callable ``path -> datetime`` or one value for every file, used when ``pattern`` has
        no ``time`` group; otherwise a GeoTIFF's ``TIFFTAG_DATETIME``. STAC items use their
        ``datetime``.
    resampling
        Any method of :func:`xgeo.reproject.reproject` (``nearest``, ``bilinear``, ``cubic``,
        ``average``, ``mode``...). Nearest on a grid pixel-aligned with a source in its CRS
        copies the source pixels exactly.
    group
        ``"solar_day"`` (scenes of the same local solar date, UTC + ``int(lon / 15)`` h, form one
        time step, as odc-stac's ``groupby="solar_day"``), ``"time"`` (identical timestamps) or
        None (each scene its own step). A step's time is its earliest scene's.
    chunks
        Output block ``(y, x)``, an int, ``{"y": .., "x": ..}`` or ``"auto"`` (default: about
        32 MiB per block). Time is always one step per block.
    nodata
        Output fill value; default the sources' common nodata, else NaN (floats) or 0 (integers).
    exact
        Transform every output pixel exactly with pyproj instead of GDAL's 0.125-pixel
        approximation (as :func:`xgeo.reproject.reproject`'s ``exact=``): slower across CRSs,
        and nearest then picks the source pixel whose area holds each output centre.

    Returns
    -------
    xarray.Dataset
        One dask-backed ``(time, y, x)`` variable per band, time sorted, the grid written as
        xgeo writes it (:func:`xgeo.write_grid`), a non-NaN fill as ``_FillValue`` in ``.attrs``.
        Within a time step scenes are mosaicked in order of time, then of ``sources``: each
        pixel takes the first valid value (not NaN, not the band's nodata). A band's dtype is
        NumPy's promotion of its sources' dtypes (uint16 with float64 gives float64).

    Raises
    ------
    PatternMatchError
        If ``pattern`` matches no file name (the message names the pattern and folder).
    SceneReadError
        For a missing or unreadable file (at planning time, or when a block is computed).
    NoOverlapError
        If no scene overlaps the output grid. Scenes off the grid while others overlap are
        skipped with a :class:`~xgeo.errors.StackWarning`.
    StackError
        For a scene without time, an unknown band or ``group``, bad ``chunks``, or mixing
        STAC items with files.

    Examples
    --------
    >>> import numpy as np, xgeo
    >>> path = xgeo.datasets.sentinel2_cube_path()  # netCDF: ndvi(time, y, x), ...
    >>> cube = xgeo.stack([path], bands=["ndvi"], group=None, chunks=64)
    >>> cube["ndvi"].shape, cube.geo.crs.to_epsg(), cube["ndvi"].chunks[1]
    ((5, 101, 100), 32633, (64, 37))
    >>> bool(np.array_equal(cube["ndvi"].values, xgeo.open_dataset(path)["ndvi"].values, equal_nan=True))
    True
    """
    assets = collect_assets(sources, pattern=pattern, time_format=time_format, bands=bands, time=time)
    plan = make_stack_plan(assets, grid=grid, crs=crs, resolution=resolution, bounds=bounds,
                           group=group, nodata=nodata)
    return build_cube(plan, resampling, chunks, exact)
