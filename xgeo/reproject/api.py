"""Reprojection of xarray objects: :func:`reproject` and :func:`reproject_match`."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..categorical import CategoricalSpec, Decision, categorical_variables
from ..crs import find_spatial_dims, read_grid, write_grid
from ..errors import CRSError, ReprojectionError
from ..grid import Grid, parse_crs
from ..nodata import unsigned_type
from .core import check_dtype, check_output_size, reproject_array, resolve_nodata, unused_fill
from .output_grid import output_grid
from .plan import WarpPlan, check_method, make_plan

__all__ = ["reproject", "reproject_match", "PICKING_METHODS", "MODE_PIXELS"]

XObj = xr.DataArray | xr.Dataset
log = logging.getLogger(__name__)

PICKING_METHODS = ("nearest", "mode", "min", "max", "median")
"""Methods that output a source value, never a new one: safe for categorical data."""

MODE_PIXELS = 2.0
"""A categorical variable is resampled with ``mode`` when one output pixel covers at least
this many source pixels (by area), else with ``nearest``. Below two, an output pixel lies
mostly on one source pixel and ``nearest`` picks it (``mode`` would count the slivers of
its neighbours as full votes); from two on, ``nearest`` drops source pixels and makes
speckle of small patches, while the majority keeps what covers most of the pixel."""


def reproject(
    obj: XObj,
    dst_crs: Any = None,
    *,
    resolution: float | Sequence[float] | None = None,
    shape: Sequence[int] | None = None,
    bounds: Sequence[float] | None = None,
    grid: Grid | None = None,
    resampling: str | None = None,
    nodata: float | None = None,
    dtype: Any = None,
    target_aligned_pixels: bool = False,
    exact: bool = False,
    chunks: Any = None,
    allow_large: bool = False,
    categorical: CategoricalSpec = None,
) -> XObj:
    """Reproject a DataArray or every spatial variable of a Dataset onto a new grid.

    Parameters
    ----------
    obj
        DataArray or Dataset with spatial dims (anywhere in the dim order) and a CRS.
    dst_crs
        Target CRS (EPSG code, WKT, PROJ string, pyproj.CRS); default the source's.
    resolution, shape, bounds, target_aligned_pixels
        Output grid as gdalwarp's ``-tr``, ``-ts``, ``-te``, ``-tap``; with none of them,
        gdalwarp's default grid (see :mod:`xgeo.reproject.output_grid`). Bounds are in
        ``dst_crs``.
    grid
        An explicit output :class:`~xgeo.grid.Grid` (overrides the above).
    resampling
        ``nearest`` (default), ``bilinear``, ``cubic``, ``lanczos``, ``average``,
        ``mode``, ``min``, ``max``, ``median``, with gdalwarp's meanings, for the continuous
        variables. Categorical variables (see ``categorical``) keep it only if it picks a
        source value (:data:`PICKING_METHODS`: nearest, mode, min, max, median); otherwise,
        and by default, they get ``nearest``, or ``mode`` when an output pixel covers at
        least :data:`MODE_PIXELS` source pixels. Each reprojected variable records the
        method used in its ``resampling`` attribute, and the choice is logged (INFO, logger
        ``xgeo.reproject.api``).
    nodata
        Output value where there is no data; default the source's nodata
        (``_FillValue``/``nodata`` attribute), else NaN for floats and, for integers, a
        value the data do not use (:func:`xgeo.reproject.core.unused_fill`: 255 for uint8,
        65535 for uint16, -32768 for int16..., or the nearest value data in memory do not
        use), recorded as the output's ``_FillValue``: no valid value is altered (a fill of
        0 nudged every valid 0 to 1, as gdalwarp nudges values equal to its nodata).
    dtype
        Output dtype (default the input's; integers are rounded and clamped).
    exact
        Transform every pixel exactly (slower) instead of the 0.125-pixel approximation.
    chunks
        Output spatial chunks ``(y, x)``, an int or ``"auto"`` for a lazy dask result
        (dask input is always lazy; the default chunking comes from a memory budget).
    allow_large
        Accept an output grid above :data:`~xgeo.reproject.core.MAX_OUTPUT_PIXELS` (2**31)
        pixels per 2-D plane, or an eager result above
        :data:`~xgeo.reproject.core.MAX_OUTPUT_BYTES` (4 GiB, all variables together);
        without it such requests (typically a resolution in the wrong units) are refused
        before anything is allocated.
    categorical
        Which variables hold classes or masks: None (default) decides each by the rule of
        :mod:`xgeo.categorical` (CF flags, dtype, and for integers a measurement of the
        data); ``True``/``False`` for all; a name or list of names for exactly those;
        ``{name: bool}`` for those, the rest decided.

    Raises
    ------
    CRSError
        If the source has no CRS or ``dst_crs`` cannot be parsed.
    ReprojectionError
        For a bad resolution/shape/bounds, an unknown resampling, an output grid
        that misses the source or is above the size limits, a bad ``chunks=``, or a
        variable whose dtype cannot be resampled (complex, datetime, strings...).
    CategoricalError
        If ``categorical=`` names a variable that is not there.

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> out = reproject(ds[["ndvi"]], "EPSG:4326", resampling="bilinear")
    >>> out.geo.crs.to_epsg(), out.ndvi.dims == ds.ndvi.dims
    (4326, True)

    Land cover stays classes under bilinear resampling of the rest:

    >>> ll = reproject(ds[["ndvi", "lulc"]], "EPSG:4326", resampling="bilinear")
    >>> ll.ndvi.attrs["resampling"], ll.lulc.attrs["resampling"]
    ('bilinear', 'nearest')
    """
    method = check_method("nearest" if resampling is None else resampling)
    src_grid = read_grid(obj)
    if src_grid.crs is None:
        raise CRSError(
            "the source has no CRS, so it cannot be reprojected; set one first, "
            "e.g. obj.geo.set_crs('EPSG:32633')"
        )
    if grid is None:
        grid = output_grid(
            src_grid, dst_crs, resolution=resolution, shape=shape, bounds=bounds,
            target_aligned_pixels=target_aligned_pixels,
        )
    elif not isinstance(grid, Grid):
        raise ReprojectionError(f"grid= must be an xgeo.grid.Grid, got {type(grid).__name__}")
    elif dst_crs is not None and parse_crs(dst_crs) != grid.crs:
        raise ReprojectionError("dst_crs differs from grid.crs; give one of them")
    y_dim, x_dim = find_spatial_dims(obj)
    _check_request(obj, grid, y_dim, x_dim, dtype, chunks, exact, allow_large)
    plans: dict[str, WarpPlan] = {}

    def plan_for(m: str) -> WarpPlan:
        if m not in plans:
            plans[m] = make_plan(src_grid, grid, m, exact=exact)
        return plans[m]

    explicit = resampling is not None
    if isinstance(obj, xr.DataArray):
        decision = next(iter(categorical_variables(obj, categorical).values()))
        use, fill = _choose(obj, decision, method, explicit, nodata, dtype, plan_for)
        out = _reproject_variable(obj, plan_for(use), y_dim, x_dim, fill, dtype, chunks)
    else:
        spatial = [n for n, v in obj.data_vars.items() if y_dim in v.dims and x_dim in v.dims]
        decisions = categorical_variables(obj, categorical, variables=spatial)
        choices = {n: _choose(obj[n], decisions[n], method, explicit, nodata, dtype, plan_for)
                   for n in spatial}
        if not spatial:
            plan_for(method)  # still refuse an output grid that misses the source
        out = _reproject_dataset(obj, plan_for, choices, y_dim, x_dim, dtype, chunks)
    return write_grid(out, grid)


def _choose(var: xr.DataArray, decision: Decision, method: str, explicit: bool, nodata: Any,
            dtype: Any, plan_for: Callable[[str], WarpPlan]) -> tuple[str, Any]:
    """Resampling and output nodata of one variable, logged in one line.

    Categorical data get a method that picks source values. Integer data that declare no
    nodata get a fill they do not use (:func:`~xgeo.reproject.core.unused_fill`): a fill
    equal to a value in use would make gdalwarp's nudge turn it into its neighbour (0 =
    clear into 1 = cloud; every valid 0 of a Landsat band into 1)."""
    use, fill, note = method, nodata, ""
    if decision.categorical and not (explicit and method in PICKING_METHODS):
        sx, sy = plan_for("nearest").scale
        use = "mode" if sx * sy <= 1.0 / MODE_PIXELS else "nearest"
    if nodata is None and source_nodata(var) is None:
        fill = unused_fill(var.data, dtype if dtype is not None else var.dtype)
        note = "" if fill is None else f", fill {fill} (no nodata declared)"
    label = "the DataArray" if var.name is None else repr(var.name)
    instead = f" instead of {method}" if use != method else ""
    log.info("reproject %s: %s -> %s%s%s", label, decision, use, instead, note)
    return use, fill


def _check_request(obj: XObj, grid: Grid, y_dim: Hashable, x_dim: Hashable, dtype: Any,
                   chunks: Any, exact: bool, allow_large: bool) -> None:
    """Dtypes of the spatial variables, and the output size of all of them together."""
    variables = [obj] if isinstance(obj, xr.DataArray) else [
        v for v in obj.data_vars.values() if y_dim in v.dims and x_dim in v.dims]
    per_pixel = 0  # bytes per output pixel of the eager (NumPy) results
    for var in variables:
        name = "the DataArray" if var.name is None else f"variable {var.name!r}"
        in_dtype = check_dtype(var.dtype, name)
        out_dtype = check_dtype(dtype, "dtype=") if dtype is not None else in_dtype
        if chunks is None and var.chunks is None:
            planes = math.prod(n for d, n in var.sizes.items() if d not in (y_dim, x_dim))
            per_pixel += planes * out_dtype.itemsize
    check_output_size(grid, per_pixel, 1, lazy=False, exact=exact, allow_large=allow_large)


def reproject_match(obj: XObj, other: XObj | Grid, **kwargs: Any) -> XObj:
    """Reproject ``obj`` onto the grid (CRS, transform, shape) of ``other``.

    ``other`` is an xarray object with a grid, or a :class:`~xgeo.grid.Grid`; other
    keyword arguments are those of :func:`reproject`.

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> target = reproject(ds[["ndvi"]], "EPSG:3857")
    >>> back = reproject_match(ds[["dem"]], target)
    >>> back.geo.grid == target.geo.grid
    True
    """
    for key in ("dst_crs", "grid", "resolution", "shape", "bounds"):
        if key in kwargs:
            raise ReprojectionError(f"reproject_match takes its grid from `other`; drop {key}=")
    grid = other if isinstance(other, Grid) else read_grid(other)
    if grid.crs is None:
        raise CRSError("`other` has no CRS; set one on it first (other.geo.set_crs(...))")
    return reproject(obj, grid=grid, **kwargs)


def source_nodata(var: xr.DataArray) -> float | int | None:
    """The nodata value a variable declares (``_FillValue``/``missing_value``/``nodata``);
    an integer stays an ``int`` (exact for int64/uint64)."""
    for holder in (var.attrs, var.encoding):
        for key in ("_FillValue", "missing_value", "nodata"):
            value = holder.get(key)
            if value is not None and np.ndim(value) == 0:
                if holder is var.encoding and var.dtype.kind == "f" and key != "nodata":
                    continue  # xarray already decoded it to NaN
                if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
                    return int(value)
                return float(value)
    return None


def _reproject_variable(
    var: xr.DataArray, plan: WarpPlan, y_dim: Hashable, x_dim: Hashable,
    nodata: Any, dtype: Any, chunks: Any,
) -> xr.DataArray:
    order = var.dims
    lead = [d for d in order if d not in (y_dim, x_dim)]
    moved = var.transpose(*lead, y_dim, x_dim)
    src_nodata = source_nodata(var)
    data = moved.data
    signed = var.dtype
    flag = var.attrs.get("_Unsigned", var.encoding.get("_Unsigned"))
    unsigned = unsigned_type(flag, var.dtype) if dtype is None else None
    if unsigned is not None:
        # netCDF-3's unsigned data in signed storage, read raw (mask_and_scale=False): its
        # values are the unsigned reading of the bits, so that is what is resampled (bilinear
        # on the signed reading mixed 65535 with 0); stored back in the signed type
        data = data.view(unsigned)
        src_nodata, nodata = (None if v is None or isinstance(v, float) and math.isnan(v)
                              else int(np.asarray(v).astype(signed).view(unsigned))
                              for v in (src_nodata, nodata))
    out_data, grid = reproject_array(
        data, plan.src, plan.dst, resampling=plan.method, src_nodata=src_nodata, nodata=nodata,
        dtype=dtype, chunks=chunks, plan=plan,
        allow_large=True,  # reproject() checked the size of the whole request
    )
    coords = {
        name: coord for name, coord in var.coords.items()
        if y_dim not in coord.dims and x_dim not in coord.dims and name not in (y_dim, x_dim)
    }
    y, x = grid.coords()
    coords[y_dim] = (y_dim, y)
    coords[x_dim] = (x_dim, x)
    out = xr.DataArray(out_data, dims=(*lead, y_dim, x_dim), coords=coords, name=var.name,
                       attrs={**var.attrs, "resampling": plan.method})
    out_nodata = resolve_nodata(data.dtype, out.dtype, src_nodata, nodata)
    if unsigned is not None:
        out = out.copy(data=out.data.view(signed))
        if out_nodata is not None:
            out_nodata = int(np.asarray(out_nodata).astype(unsigned).view(signed))
    for key in ("_FillValue", "missing_value", "nodata"):
        out.attrs.pop(key, None)
    # what writing the variable needs to mean what it meant (_Unsigned: GOES ABI products
    # came back 163.84 K too low without it)
    encoding = {k: v for k, v in var.encoding.items()
                if k in ("dtype", "scale_factor", "add_offset", "units", "calendar", "_Unsigned")}
    if out_nodata is not None and not (isinstance(out_nodata, float) and math.isnan(out_nodata)):
        # the raw layout (xgeo.nodata): the value is in the data, so .rio.nodata reads it
        out.attrs["_FillValue"] = out.dtype.type(out_nodata)
    elif "_FillValue" in var.encoding and out.dtype.kind == "f":
        encoding["_FillValue"] = var.encoding["_FillValue"]
    out.encoding = encoding
    return out.transpose(*order)


def _reproject_dataset(
    ds: xr.Dataset, plan_for: Callable[[str], WarpPlan], choices: dict[Hashable, tuple[str, Any]],
    y_dim: Hashable, x_dim: Hashable, dtype: Any, chunks: Any,
) -> xr.Dataset:
    variables = {}
    for name, var in ds.data_vars.items():
        if name in choices:
            method, fill = choices[name]
            variables[name] = _reproject_variable(var, plan_for(method), y_dim, x_dim, fill,
                                                  dtype, chunks)
        elif y_dim in var.dims or x_dim in var.dims:
            continue  # a profile along one spatial axis has no meaning on the new grid
        else:
            variables[name] = var
    coords = {
        name: coord for name, coord in ds.coords.items()
        if y_dim not in coord.dims and x_dim not in coord.dims
    }
    out = xr.Dataset(variables, attrs=dict(ds.attrs))
    return out.assign_coords({k: v for k, v in coords.items() if k not in out.coords})
