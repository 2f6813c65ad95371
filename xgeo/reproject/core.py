"""The eager NumPy path of a reprojection, and the checks every path shares.

:func:`reproject_array` takes an array whose last two axes are ``(y, x)`` on a
source :class:`~xgeo.grid.Grid` and returns it on an output grid. Leading axes
(time, band, ...) are carried through in the same pass. It follows a
:class:`~xgeo.reproject.plan.WarpPlan`; with ``chunks=`` or a dask input it hands the
plan to the dask graph builder (:mod:`.lazy`), which gives the same bits chunk by chunk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ReprojectionError
from ..grid import Grid
from .kernels import warp_block
from .lazy import reproject_dask
from .output_grid import output_grid
from .plan import WarpPlan, make_plan

__all__ = ["reproject_array", "check_dtype", "check_output_size", "resolve_nodata", "unused_fill",
           "MAX_OUTPUT_PIXELS", "MAX_OUTPUT_BYTES"]

MAX_OUTPUT_PIXELS = 2**31
"""Largest output grid (pixels of one 2-D plane) accepted without ``allow_large=True``."""

MAX_OUTPUT_BYTES = 4 * 2**30
"""Largest memory a reprojection may hold at once without ``allow_large=True``: the NumPy
output of an eager call (all leading planes) plus, with ``exact=True``, the per-pixel
coordinate map (16 bytes per output pixel)."""

def check_dtype(dtype: Any, what: str) -> np.dtype:
    """``dtype`` if reprojection can resample it (bool, integers, floats), else
    :class:`ReprojectionError` naming ``what`` (complex, datetime, strings, objects...)."""
    dt = np.dtype(dtype)
    if dt.kind not in "biuf":
        hint = (" Reproject the real and imaginary parts separately (x.real, x.imag)."
                if dt.kind == "c" else "")
        raise ReprojectionError(
            f"{what} has dtype {dt}; reprojection resamples real numbers only (bool, integer, "
            f"float).{hint}")
    return dt


def check_output_size(dst: Grid, planes: int, itemsize: int, *, lazy: bool, exact: bool,
                      allow_large: bool) -> None:
    """Refuse an output grid above :data:`MAX_OUTPUT_PIXELS` per plane, or one holding more
    than :data:`MAX_OUTPUT_BYTES` at once, unless ``allow_large``.

    ``planes`` x ``itemsize`` is the bytes per output pixel over all leading planes (and all
    variables of a Dataset); it counts only when ``lazy`` is false.
    """
    if allow_large:
        return
    h, w = dst.shape
    pixels = h * w
    held = (0 if lazy else pixels * planes * itemsize) + (16 * pixels if exact else 0)
    if pixels <= MAX_OUTPUT_PIXELS and held <= MAX_OUTPUT_BYTES:
        return
    what = (f"{pixels / 1e6:,.0f} million pixels per plane (limit {MAX_OUTPUT_PIXELS / 1e6:,.0f} million)"
            if pixels > MAX_OUTPUT_PIXELS else
            f"about {_size(held)} in memory at once (limit {_size(MAX_OUTPUT_BYTES)})")
    lazy_hint = ("pass chunks= for a lazy dask result, "
                 if pixels <= MAX_OUTPUT_PIXELS and not lazy and not exact else "")
    res = tuple(float(f"{abs(v):.6g}") for v in (dst.transform.a, dst.transform.e))
    raise ReprojectionError(
        f"the output grid is {h} x {w} pixels at resolution {res} in {dst.crs.name if dst.crs else 'no CRS'}"
        f" (units {_units(dst)}): {what}. Check resolution= (it is in the target CRS's units), "
        f"give shape= or bounds=, {lazy_hint}or pass allow_large=True if this is intended.")


def _size(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.1f} MiB"


def _units(grid: Grid) -> str:
    crs = grid.crs
    if crs is None or not crs.axis_info:
        return "unknown"
    return crs.axis_info[0].unit_name


def _fill_value(dtype: np.dtype, nodata: float | int | None) -> float | int:
    if dtype.kind in "iu":  # an exact integer, not a float64 that may round (2**62 + 1)
        return 0 if nodata is None else int(nodata)
    if nodata is not None:
        return float(nodata)
    return math.nan if dtype.kind in "fc" else 0.0


def resolve_nodata(src_dtype: np.dtype, out_dtype: np.dtype, src_nodata: Any,
                   nodata: Any) -> float | int | None:
    """Output nodata: the requested one, else the source's, else NaN (floats) / 0 (integers).

    An integer value (Python or NumPy) stays an ``int``, so large int64 nodata is exact.
    """
    value = nodata if nodata is not None else src_nodata
    if value is None:
        return None if out_dtype.kind in "fc" else 0.0
    value = int(value) if isinstance(value, int | np.integer) and not isinstance(value, bool) else float(value)
    if out_dtype.kind in "iu":
        if math.isnan(value):
            raise ReprojectionError(f"nodata NaN cannot be stored in integer dtype {out_dtype}; give nodata=")
        info = np.iinfo(out_dtype)
        if math.isinf(value) or not (info.min <= value <= info.max) or value != int(value):
            raise ReprojectionError(f"nodata {value} does not fit dtype {out_dtype}; give another nodata=")
    return value


def unused_fill(values: Any, dtype: Any) -> int | None:
    """Output fill for integer data that declare no nodata: the dtype's largest value
    (unsigned) or smallest (signed), or, when data in memory use it, the nearest value they
    do not use; None for a non-integer ``dtype``. Lazy (dask) data are not read for it: the
    extreme is taken (give ``nodata=`` if the data use it).

    A fill the data use would be nudged off valid pixels (gdalwarp's rule for a value equal to
    the output nodata): with 0 as the fill, every valid 0 became 1.

    Examples
    --------
    >>> import numpy as np
    >>> unused_fill(np.array([[0, 1], [1, 0]], "uint8"), "uint8")
    255
    >>> unused_fill(np.array([[0, 255], [254, 0]], "uint8"), "uint8")
    253
    >>> unused_fill(np.array([-32768, 5], "int16"), "int16"), unused_fill(np.zeros(2), "float32")
    (-32767, None)
    """
    out = np.dtype(dtype)
    if out.kind not in "iu":
        return None
    info = np.iinfo(out)
    candidate = int(info.max) if out.kind == "u" else int(info.min)
    if _is_dask(values):
        return candidate
    a = np.asarray(values)
    if not (a == candidate).any():
        return candidate
    used = set(np.unique(a).tolist())
    step = -1 if out.kind == "u" else 1
    while candidate in used and info.min <= candidate + step <= info.max:
        candidate += step
    return candidate


def reproject_array(
    array: Any,
    src_grid: Grid,
    dst_grid: Grid | None = None,
    *,
    dst_crs: Any = None,
    resolution: float | Sequence[float] | None = None,
    shape: Sequence[int] | None = None,
    bounds: Sequence[float] | None = None,
    target_aligned_pixels: bool = False,
    resampling: str = "nearest",
    src_nodata: float | None = None,
    nodata: float | None = None,
    dtype: Any = None,
    exact: bool = False,
    chunks: Any = None,
    plan: WarpPlan | None = None,
    allow_large: bool = False,
) -> tuple[Any, Grid]:
    """Reproject an array whose last two axes are ``(y, x)`` on ``src_grid``.

    Parameters
    ----------
    array
        NumPy or dask array ``(..., height, width)``.
    src_grid
        The array's grid (must have a CRS).
    dst_grid
        The output grid; by default chosen from ``dst_crs``/``resolution``/``shape``/
        ``bounds`` by :func:`xgeo.reproject.output_grid.output_grid` (gdalwarp's policy).
    resampling
        ``nearest``, ``bilinear``, ``cubic``, ``lanczos``, ``average``, ``mode``,
        ``min``, ``max`` or ``median`` (gdalwarp's meanings).
    src_nodata
        Source value meaning "no data" (NaN always does).
    nodata
        Output fill for pixels with no data; default ``src_nodata``, else NaN for
        floats and, for integers, a value the data do not use (:func:`unused_fill`: the
        dtype's largest, or smallest if signed), so no valid value is nudged off it.
    dtype
        Output dtype (default: the input's).
    exact
        Transform every pixel exactly instead of interpolating a coarse lattice.
    chunks
        Output spatial chunk size ``(y, x)`` (or an int) for a lazy dask result;
        ``"auto"`` picks one from :data:`~xgeo.reproject.lazy.CHUNK_BUDGET`. Dask input is always lazy.
    allow_large
        Accept an output grid above :data:`MAX_OUTPUT_PIXELS` pixels per plane, or holding
        more than :data:`MAX_OUTPUT_BYTES` at once (see :func:`check_output_size`).

    Raises
    ------
    ReprojectionError
        For a dtype other than bool/integer/float (e.g. complex), an output grid above the
        size limits, a bad ``chunks=``, or an output grid that misses the source.

    Returns
    -------
    (array, grid)
        The reprojected array ``(..., dst_height, dst_width)`` and its grid.

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo.grid import Grid
    >>> src = Grid.from_bounds((500000, 5000000, 502000, 5002000), crs=32633, resolution=100)
    >>> out, grid = reproject_array(np.ones((2, 20, 20), "float32"), src, dst_crs=4326)
    >>> out.shape[0], grid.crs.to_epsg(), bool(np.nanmax(out) == 1)
    (2, 4326, True)
    """
    if dst_grid is None:
        dst_grid = output_grid(
            src_grid, dst_crs, resolution=resolution, shape=shape, bounds=bounds,
            target_aligned_pixels=target_aligned_pixels,
        )
    if array.ndim < 2 or tuple(array.shape[-2:]) != src_grid.shape:
        raise ReprojectionError(
            f"array shape {tuple(array.shape)} does not end with the grid's (height, width) {src_grid.shape}"
        )
    in_dtype = check_dtype(array.dtype, "the array")
    out_dtype = check_dtype(dtype, "dtype=") if dtype is not None else in_dtype
    half = np.dtype(np.float16)
    if half in (in_dtype, out_dtype):
        # the compiled kernels take no float16: resampled in float32 (which holds every
        # float16 exactly), stored in the dtype asked for
        out, grid = reproject_array(
            array.astype(np.float32) if in_dtype == half else array, src_grid, dst_grid,
            resampling=resampling, src_nodata=src_nodata, nodata=nodata,
            dtype=np.float32 if out_dtype == half else out_dtype, exact=exact, chunks=chunks,
            plan=plan, allow_large=allow_large)
        return out.astype(out_dtype), grid
    lazy = chunks is not None or _is_dask(array)
    planes = math.prod(array.shape[:-2])
    check_output_size(dst_grid, planes, out_dtype.itemsize, lazy=lazy, exact=exact,
                      allow_large=allow_large)
    plan = plan or make_plan(src_grid, dst_grid, resampling, exact=exact)
    if nodata is None and src_nodata is None:
        nodata = unused_fill(array, out_dtype)
    out_nodata = resolve_nodata(in_dtype, out_dtype, src_nodata, nodata)
    fill = _fill_value(out_dtype, out_nodata)
    if lazy:
        return reproject_dask(array, plan, out_dtype, src_nodata, fill, chunks), dst_grid
    src = np.asarray(array)
    lead = src.shape[:-2]
    src3 = np.ascontiguousarray(src.reshape((-1,) + src.shape[-2:]))
    out = np.empty((src3.shape[0],) + dst_grid.shape, dtype=out_dtype)
    warp_block(src3, (0, 0), src_grid.shape, out, (0, 0), plan.coords.lattice, plan.method,
               nodata=src_nodata, fill=fill, scale=plan.scale)
    return out.reshape(lead + dst_grid.shape), dst_grid


def _is_dask(array: Any) -> bool:
    return type(array).__module__.startswith("dask.")
