"""Temporal composites: one image per time group (month, quarter, 16 days...), per pixel.

:func:`composite` groups the observations of a cube by a pandas offset alias (``"1MS"``,
``"QS"``, ``"1YS"``, ``"16D"``...; groups are labelled by their start, exactly as
``xarray``'s ``resample(time=freq)`` labels them, empty groups included) and reduces each
group, pixel by pixel, with a numba kernel (:mod:`xgeo._composite_kernels`):

* ``"median"`` / ``"mean"``: each band on its own valid observations. The result is float
  (``float32`` for inputs of up to 16 bits and ``float32``; ``float64`` otherwise), NaN
  where a group has no valid observation;
* ``"max_ndvi"`` (the "best pixel" composite): per pixel and group, the one observation with
  the largest NDVI ``(nir - red) / (nir + red)`` (first of ties), all bands of that date. The
  result keeps the input dtype (values are picked, not computed); pixels with no valid
  observation get NaN, or the variable's nodata value for integers (integer variables that
  declare none become float, so an empty pixel is never a made-up number).

An observation is missing where it is NaN, equals the variable's raw nodata
(``_FillValue``/``nodata`` of an integer array, see :func:`xgeo.nodata.raw_nodata`) or is
flagged by ``mask=`` (True = invalid, as in :func:`xgeo.compression.apply_mask`). The
``count`` coordinate holds, per group and pixel, the number of valid observations the value
rests on (for median/mean the fewest any band had; for max_ndvi those with a valid NDVI).

On dask data the result is lazy: one task per (time group, spatial chunk); the time axis of
a group is rechunked to one piece, and the band axis too.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from . import _composite_kernels as kern
from .bands import BAND_DIM, band_sources
from .categorical import categorical_variables
from .crs import find_spatial_dims
from .errors import BandMappingError, CompositeError, MissingBandError, MissingVariableError
from .indices.sensors import resolve_bands
from .nodata import raw_nodata
from .validity import disagreeing_dim

__all__ = ["METHODS", "composite", "time_groups"]

#: The reductions :func:`composite` knows.
METHODS = ("median", "mean", "max_ndvi")

_FILL_KEYS = ("_FillValue", "missing_value", "nodata")


def time_groups(times: Any, freq: str) -> tuple[pd.DatetimeIndex, list[np.ndarray]]:
    """Group labels (the start of each group) and the positions of the times in each group.

    Parameters
    ----------
    times
        Datetime-like values (need not be sorted).
    freq
        A pandas offset alias: ``"1MS"``, ``"QS"``, ``"1YS"``, ``"16D"``...

    Returns
    -------
    (labels, positions)
        The labels xarray's ``resample(time=freq)`` gives, and one integer array per label
        (empty for a group without observations).

    Raises
    ------
    CompositeError
        If pandas does not know ``freq`` or the times are not datetimes.

    Examples
    --------
    >>> labels, groups = time_groups(["2020-01-05", "2020-01-20", "2020-03-02"], "1MS")
    >>> [str(d.date()) for d in labels], [g.tolist() for g in groups]
    (['2020-01-01', '2020-02-01', '2020-03-01'], [[0, 1], [], [2]])
    """
    values = np.asarray(times)
    if values.dtype.kind in "biufc":  # numbers are no dates (pandas would read them as ns)
        raise CompositeError(f"the time coordinate is not datetimes (its dtype is {values.dtype}); "
                             "decode it (xarray.decode_cf) or give time_dim= the datetime dimension")
    try:
        index = pd.DatetimeIndex(values)
    except (TypeError, ValueError) as exc:
        raise CompositeError(f"the time coordinate is not datetimes ({exc}); decode it "
                             "(xarray.decode_cf) or give time_dim= the datetime dimension") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' deprecation notes on odd spellings
        try:
            pd.tseries.frequencies.to_offset(freq)
            groups = pd.Series(np.arange(len(index)), index=index).resample(freq)
            pairs = [(label, sub.to_numpy(dtype=np.intp)) for label, sub in groups]
        except (TypeError, ValueError) as exc:
            raise CompositeError(f"freq={freq!r} is not a pandas offset alias ({exc}); use e.g. "
                                 "'1MS' (months), 'QS' (quarters), '1YS' (years), '16D'") from None
    labels = pd.DatetimeIndex([label for label, _ in pairs])
    return labels, [p for _, p in pairs]


def composite(
    obj: xr.Dataset | xr.DataArray,
    freq: str = "1MS",
    method: str = "median",
    *,
    mask: xr.DataArray | str | None = None,
    red: Hashable | None = None,
    nir: Hashable | None = None,
    sensor: str | None = None,
    variables: Sequence[Hashable] | None = None,
    time_dim: Hashable = "time",
    count: bool = True,
) -> xr.Dataset | xr.DataArray:
    """Temporal composite of a cube: one image per ``freq`` group, reduced by ``method``.

    Parameters
    ----------
    obj
        A Dataset with one ``(time, y, x)`` variable per band (variables with a ``band`` dim
        too), or a DataArray, with or without a ``band`` dim (see :mod:`xgeo.bands`).
    freq
        Pandas offset alias of the groups (``"1MS"``, ``"QS"``, ``"1YS"``, ``"16D"``...);
        labelled by their start, as ``resample(time=freq)`` labels them.
    method
        ``"median"``, ``"mean"`` or ``"max_ndvi"`` (see the module docstring for dtypes).
    mask
        True = invalid (clouds...), applied before compositing: a boolean DataArray whose
        dims are among ``(time, y, x)``, or the name of a variable (non-zero = invalid), or
        ``"name=v1,v2"`` (those class values invalid, e.g. ``"SCL=3,8,9,10"``), as
        :func:`xgeo.compression.resolve_mask` reads it. A mask variable named here is not
        composited itself.
    red, nir
        Band names (variable names, or labels of the ``band`` dim) for ``"max_ndvi"``;
        default: found as :mod:`xgeo.indices` finds them (``B04``/``B08``, ``red``/``nir``...).
    sensor
        Preset for that band lookup (``"sentinel2"``, ``"landsat8"``...); default auto-detect.
    variables
        Variables to composite (default: every data variable with the time and spatial
        dims, except the mask and, for median/mean, categorical ones, which are left out
        with a warning: a median of class values means nothing). Variables without the time
        dim are kept unchanged; others with a time dim but no spatial dims are dropped.
    time_dim
        The time dimension.
    count
        Add the ``count`` coordinate ``(time, y, x)``: valid observations per group.
        ``"max_ndvi"`` also adds ``best_time`` ``(time, y, x)``: the date each pixel was taken
        from (NaT where the group had no valid observation).

    Returns
    -------
    Dataset or DataArray
        Same kind and layout as ``obj``, ``time`` holding the group labels. Lazy if ``obj``
        is dask-backed.

    Raises
    ------
    CompositeError
        No ``time_dim``, unknown ``freq=`` or ``method=``, or ``mask=`` off the data's grid.
    MissingBandError
        ``"max_ndvi"`` without a red or NIR band (the message names ``red=``/``nir=``).
    BandMappingError
        ``"max_ndvi"`` on band names several sensors read differently (give ``sensor=``, or
        ``red=`` and ``nir=``).
    MissingVariableError
        ``variables=`` or ``mask=`` names a variable that is not in the Dataset.

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> out = composite(ds[["reflectance", "cloud_mask"]], "1MS", "max_ndvi", mask="cloud_mask")
    >>> out.reflectance.dims, out.time.dt.month.values.tolist()
    (('time', 'band', 'y', 'x'), [7, 8, 9])
    >>> out["count"].sum(("y", "x")).values.tolist()  # one clear date per pixel and month
    [10100, 10100, 10100]
    """
    if method not in METHODS:
        raise CompositeError(f"method={method!r} is not one of {', '.join(METHODS)}")
    if time_dim not in obj.dims:
        raise CompositeError(f"no time dimension {time_dim!r} (dims: {tuple(obj.dims)}); "
                             "give the time dimension with time_dim=")
    labels, groups = time_groups(obj[time_dim].values, freq)
    name = None
    if isinstance(obj, xr.DataArray) and mask is not None and not isinstance(mask, xr.DataArray):
        raise CompositeError(f"mask={mask!r} names a variable, and a DataArray has none; pass "
                             "the mask as a boolean DataArray (True = invalid)")
    if isinstance(obj, xr.DataArray):
        name = obj.name
        ds = obj.to_dataset(name="__composite__")
    else:
        ds = obj
    y_dim, x_dim = find_spatial_dims(ds)
    dims3 = (time_dim, y_dim, x_dim)
    m, mask_var = _resolve_mask(ds, mask, dims3)
    names = _choose(ds, variables, mask_var, method, dims3)
    if not names:
        raise MissingVariableError(f"no variable with dims {dims3} to composite; variables: "
                                   f"{sorted(map(str, ds.data_vars))}")
    best = None
    if method == "max_ndvi":
        r, q = _red_nir(ds, names, red, nir, sensor, dims3)
        best = _best(r, q, m, groups)
    out = {}
    counts = []
    for v in names:
        var, c = _one(ds[v], m, groups, method, best, dims3)
        out[v] = var
        if c is not None:
            counts.append(c)
    if best is not None:
        counts = [_as_dataarray(best[:, 1].astype(np.int32), dims3)]
    time_coord = xr.DataArray(labels.values, dims=time_dim, attrs=dict(ds[time_dim].attrs))
    kept = {v: out.get(v, x) for v, x in ds.data_vars.items() if v in out or time_dim not in x.dims}
    coords = {k: c for k, c in ds.coords.items() if time_dim not in c.dims}
    result = xr.Dataset(kept, coords=coords).assign_coords({time_dim: time_coord})
    if count:
        cnt = functools.reduce(np.minimum, counts)  # elementwise: blockwise on dask
        result = result.assign_coords(count=cnt.assign_coords({time_dim: labels.values}))
    if best is not None:
        chosen = _as_dataarray(_chosen_times(best[:, 0], groups, ds[time_dim].values), dims3)
        result = result.assign_coords(best_time=chosen.assign_coords({time_dim: labels.values}))
    result.attrs = dict(ds.attrs, composite=f"{method} over {freq} groups (xgeo.composite)")
    if isinstance(obj, xr.DataArray):
        da_out = result["__composite__"].rename(name)
        da_out.attrs = dict(da_out.attrs)
        return da_out
    return result


# -- pieces -------------------------------------------------------------------------------------


def _resolve_mask(ds: xr.Dataset, mask: Any, dims3: tuple) -> tuple[xr.DataArray | None,
                                                                    Hashable | None]:
    """The mask as a bool ``(time, y, x)`` DataArray (or None) and the variable it came from."""
    if mask is None:
        return None, None
    mask_var = None
    if not isinstance(mask, xr.DataArray):
        mask_var = str(mask).partition("=")[0]
        if mask_var not in ds.variables:
            raise MissingVariableError(f"mask={mask!r}: no variable {mask_var!r}; variables: "
                                       f"{sorted(map(str, ds.data_vars))}")
        from .compression import resolve_mask

        mask = resolve_mask(ds, mask)
    extra = [d for d in mask.dims if d not in dims3]
    if extra:
        raise CompositeError(f"mask= has dims {mask.dims}; it may only have dims among {dims3}")
    d = disagreeing_dim(mask, ds)
    if d is not None:
        raise CompositeError(f"mask= disagrees with the data along {d!r} (sizes "
                             f"{mask.sizes[d]} vs {ds.sizes[d]} or other coordinates); "
                             "put the mask on the data's grid and dates first")
    m = mask.drop_vars(list(mask.coords)).astype(bool)
    for d in dims3:
        if d not in m.dims:
            m = m.expand_dims({d: ds.sizes[d]})
    return m.transpose(*dims3), mask_var


def _choose(ds: xr.Dataset, variables: Sequence[Hashable] | None, mask_var: Hashable | None,
            method: str, dims3: tuple) -> list[Hashable]:
    """The variables to composite."""
    if variables is not None:
        missing = [v for v in variables if v not in ds.data_vars]
        if missing:
            raise MissingVariableError(f"variables={list(variables)!r}: {missing} not in the "
                                       f"Dataset; variables: {sorted(map(str, ds.data_vars))}")
        bad = [v for v in variables if not set(dims3) <= set(ds[v].dims)]
        if bad:
            raise CompositeError(f"variables={list(variables)!r}: {bad} lack some of {dims3}")
        return list(variables)
    names = [v for v, x in ds.data_vars.items() if set(dims3) <= set(x.dims) and v != mask_var]
    if method == "max_ndvi" or len(names) == 0:
        return names
    kinds = categorical_variables(ds, variables=names)
    left = [v for v in names if kinds[v].categorical]
    if left:
        warnings.warn(f"{method} composite: categorical variable(s) {[str(v) for v in left]} left "
                      f"out (a {method} of class values means nothing); name them in "
                      "variables= to include them, or use method='max_ndvi'", UserWarning,
                      stacklevel=3)
    return [v for v in names if v not in left]


def _red_nir(ds: xr.Dataset, names: list[Hashable], red: Hashable | None, nir: Hashable | None,
             sensor: str | None, dims3: tuple) -> tuple[xr.DataArray, xr.DataArray]:
    """The red and NIR ``(time, y, x)`` arrays, found by name or as xgeo.indices finds them."""
    sources = {label: (v, k) for label, v, k in band_sources(ds, names)}
    for arg, given in (("red", red), ("nir", nir)):
        if given is not None and given not in sources:
            raise MissingBandError(f"{arg}={given!r}: no such band; bands: {list(sources)}")
    wanted = {s: b for s, b in (("R", red), ("N", nir)) if b is not None}
    try:
        mapping, _ = resolve_bands(list(sources), sensor=sensor, bands=wanted, needed=("R", "N"))
    except BandMappingError as exc:
        raise BandMappingError(f"max_ndvi: {exc} Or name the bands with red= and nir=.") from None
    out = []
    for arg, sym in (("red", "R"), ("nir", "N")):
        if sym not in mapping:
            raise MissingBandError(f"max_ndvi needs a {arg} band and none was found among "
                                   f"{list(sources)}; name it with {arg}=")
        v, k = sources[mapping[sym]]
        arr = ds[v] if k is None else ds[v].isel({BAND_DIM: k})
        out.append(arr.transpose(*dims3).variable)
    return out[0], out[1]


def _fill(var: xr.DataArray | xr.Variable) -> float:
    """The raw nodata value as a float (NaN when there is none)."""
    value = raw_nodata(var)
    return math.nan if value is None else float(value)


def _as_dataarray(data: Any, dims3: tuple) -> xr.DataArray:
    return xr.DataArray(data, dims=dims3)


def _is_dask(*datas: Any) -> bool:
    return any(type(d).__module__.startswith("dask") for d in datas)


def _flat(values: np.ndarray) -> np.ndarray:
    """``(t, ..., y, x)`` as a C-contiguous ``(t, pixels)`` array."""
    n_pix = int(np.prod(values.shape[1:]))
    return np.ascontiguousarray(values.reshape(values.shape[0], n_pix))


def _mask2d(m: np.ndarray | None) -> np.ndarray:
    return kern.NO_MASK if m is None else _flat(m)


def _best_block(r: np.ndarray, q: np.ndarray, m: np.ndarray | None = None, *,
                fills: tuple[float, float], parallel: bool | None = None) -> np.ndarray:
    """One group's ``(1, 2, y, x)`` block of best positions and valid counts."""
    h, w = r.shape[-2:]
    best = np.empty(h * w, np.int64)
    cnt = np.empty(h * w, np.int64)
    kern.best_ndvi(_flat(r), _flat(q), _mask2d(m), fills[0], fills[1], best, cnt, parallel)
    return np.stack([best, cnt]).reshape(1, 2, h, w)


def _reduce_block(block: np.ndarray, m: np.ndarray | None = None, *, kernel: Any, fill: float,
                  dtype: np.dtype, parallel: bool | None = None) -> np.ndarray:
    """One group's ``(1, channels + 1, y, x)`` block: the reduced channels, then the count
    (the fewest valid observations of any channel)."""
    n_c, h, w = block.shape[1:]
    out = np.empty(n_c * h * w, np.float64)
    cnt = np.empty(n_c * h * w, np.int64)
    kernel(_flat(block), _mask2d(m), fill, out, cnt, parallel)
    res = np.empty((1, n_c + 1, h, w), dtype)
    res[0, :n_c] = out.reshape(n_c, h, w)
    res[0, n_c] = cnt.reshape(n_c, h, w).min(axis=0) if n_c else 0
    return res


def _select_block(block: np.ndarray, best: np.ndarray, *, fill: Any, dtype: np.dtype
                  ) -> np.ndarray:
    """One group's ``(1, channels, y, x)`` block: each pixel's observation at ``best``."""
    where = best[0, 0]
    ok = where >= 0
    if block.shape[0] == 0:
        return np.full((1, *block.shape[1:]), fill, dtype)
    picked = np.take_along_axis(block, np.where(ok, where, 0)[None, None], axis=0)
    return np.where(ok, picked, fill).astype(dtype, copy=False)


def _best(red: xr.Variable, nir: xr.Variable, m: xr.DataArray | None,
          groups: list[np.ndarray]) -> Any:
    """``(groups, 2, y, x)`` int64: per group the position of the best observation (-1: none)
    and the count of valid NDVI values."""
    fills = (_fill(red), _fill(nir))
    r, q = red.data, nir.data
    md = None if m is None else m.data
    if not _is_dask(r, q, md):
        r, q = np.asarray(r), np.asarray(q)
        md = None if md is None else np.asarray(md)
        return np.concatenate([_best_block(r[g], q[g], None if md is None else md[g], fills=fills)
                               for g in groups])
    import dask.array as da

    fn = functools.partial(_best_block, fills=fills, parallel=False)  # tasks run in parallel
    r = da.asarray(r)
    spatial = r.chunks[1:]
    args = [_by_group(x, groups, spatial) for x in (r, q, md) if x is not None]
    return da.map_blocks(fn, *args, dtype=np.int64, new_axis=1,
                         chunks=((1,) * len(groups), (2,), *spatial),
                         meta=np.empty((0, 0, 0, 0), np.int64))


def _chosen_times(pos: Any, groups: list[np.ndarray], times: np.ndarray) -> Any:
    """``(groups, y, x)`` datetime64: the date of each group's best observation (NaT: none),
    from its position within the group; blockwise on dask (one block per group)."""
    times = np.asarray(times).astype("datetime64[ns]")

    def dates(block: np.ndarray, gi: int) -> np.ndarray:
        g = times[groups[gi]]
        out = np.full(block.shape, np.datetime64("NaT", "ns"))
        ok = block >= 0
        out[ok] = g[block[ok]]
        return out

    if not _is_dask(pos):
        return np.stack([dates(p, gi) for gi, p in enumerate(np.asarray(pos))])
    import dask.array as da

    return da.map_blocks(lambda b, block_info=None: dates(b[0], block_info[0]["chunk-location"][0])[None],
                         pos, dtype="datetime64[ns]")


def _by_group(x: Any, groups: list[np.ndarray], rest: tuple) -> Any:
    """Dask array ``x`` (time first) with one chunk per group along time (zero-length for an
    empty group), its dates in group order, and chunks ``rest`` along the other axes."""
    import dask.array as da

    x = da.asarray(x)
    order = np.concatenate(groups) if groups else np.arange(0)
    if not np.array_equal(order, np.arange(x.shape[0])):
        x = x[order]
    return x.rechunk((tuple(len(g) for g in groups), *rest))


def _one(var: xr.DataArray, m: xr.DataArray | None, groups: list[np.ndarray], method: str,
         best: Any, dims3: tuple) -> tuple[xr.DataArray, xr.DataArray | None]:
    """The composite of one variable, and its count (median/mean) or None."""
    time_dim, y_dim, x_dim = dims3
    other = [d for d in var.dims if d not in dims3]
    order = (time_dim, *other, y_dim, x_dim)
    data = var.transpose(*order).data
    shape = [var.sizes[d] for d in other]
    n_c = int(np.prod(shape)) if other else 1
    fill = _fill(var)
    md = None if m is None else m.data
    if method == "max_ndvi":
        if var.dtype.kind in "iu" and math.isnan(fill):
            dtype = np.result_type(var.dtype, np.float32)
            out_fill: Any = np.nan
        else:
            dtype = var.dtype
            out_fill = np.nan if math.isnan(fill) else var.dtype.type(fill)
        fn: Any = functools.partial(_select_block, fill=out_fill, dtype=dtype)
        n_out = n_c
    else:
        dtype = np.result_type(var.dtype, np.float32)
        kernel = kern.median if method == "median" else kern.mean
        # in dask tasks (which run in parallel already) the kernels stay in their thread
        fn = functools.partial(_reduce_block, kernel=kernel, fill=fill, dtype=dtype,
                               parallel=False if _is_dask(data, md) else None)
        n_out = n_c + 1
    if not _is_dask(data, md, best):
        a = np.asarray(data).reshape(data.shape[0], n_c, *data.shape[-2:])
        mm = None if md is None else np.asarray(md)[:, None]
        if method == "max_ndvi":
            res = np.concatenate([fn(a[g], best[i:i + 1]) for i, g in enumerate(groups)])
        else:
            res = np.concatenate([fn(a[g], None if mm is None else mm[g]) for g in groups])
    else:
        import dask.array as da

        a = da.asarray(data)
        if other:
            a = a.rechunk({k: -1 for k in range(1, 1 + len(other))})
        a = a.reshape(a.shape[0], n_c, *a.shape[-2:])
        spatial = a.chunks[-2:]
        args = [_by_group(a, groups, ((n_c,), *spatial))]
        if method == "max_ndvi":
            args.append(da.asarray(best).rechunk(((1,) * len(groups), (2,), *spatial)))
        elif md is not None:
            args.append(_by_group(da.asarray(md)[:, None], groups, ((1,), *spatial)))
        # one task per (group, spatial chunk)
        res = da.map_blocks(fn, *args, dtype=dtype, chunks=((1,) * len(groups), (n_out,), *spatial),
                            meta=np.empty((0, 0, 0, 0), dtype))
    n_g = len(groups)
    values = res[:, :n_c].reshape(n_g, *shape, *res.shape[-2:])
    coords = {k: c for k, c in var.coords.items() if time_dim not in c.dims}
    out = xr.DataArray(values, dims=order, coords=coords).transpose(*var.dims)
    attrs = dict(var.attrs)
    if method == "max_ndvi" and dtype == var.dtype:
        out.encoding = {k: v for k, v in var.encoding.items() if k in (
            "_FillValue", "missing_value", "dtype", "scale_factor", "add_offset")}
    else:
        for key in _FILL_KEYS:
            attrs.pop(key, None)
    out.attrs = attrs
    cnt = None if method == "max_ndvi" else _as_dataarray(res[:, n_c].astype(np.int32), dims3)
    return out, cnt
