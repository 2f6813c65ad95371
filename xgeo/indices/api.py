"""Spectral indices on xarray objects (NumPy eager, dask lazy), with band mapping by sensor.

Band layouts: a DataArray with a ``band`` dim labelled by band names; a Dataset with one
variable per band; a Dataset holding a band-dimensioned DataArray among other variables
(found when it is the only one, else ``variable=``). Leading dims, coordinates (the
``spatial_ref`` grid mapping included) and the grid-mapping encoding are carried through.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from ..bands import BAND_DIM, band_array
from ..crs import read_crs, spatial_variables
from ..errors import IndexArgumentError, IndexNamesError, InputTypeError, MissingBandError
from .catalog import catalog, catalog_source, get_index
from .core import (
    DTYPES,
    ConstantsLike,
    IndexPlan,
    ScaleLike,
    as_rows,
    band_scales,
    build_plan,
    index_bands,
    index_constants,
    n_threads,
    request_names,
    run_kernel,
    warn_unscaled,
)
from .custom import RequestItem, UserIndex, check_user_symbols, item_name
from .sensors import Preset, presets, resolve_bands

__all__ = ["compute_index", "compute_indices", "available_indices"]


@dataclass
class _Source:
    """Where the bands are: one stacked DataArray, or one DataArray per band."""

    labels: list[Hashable]
    stacked: xr.DataArray | None = None      # (..., band, ...) array
    separate: dict[Hashable, xr.DataArray] | None = None
    skipped: dict[Hashable, str] = field(default_factory=dict)  # variable -> its dtype

    def band(self, label: Hashable) -> xr.DataArray:
        if self.separate is not None:
            return self.separate[label]
        assert self.stacked is not None
        return self.stacked.sel({BAND_DIM: label})


def _source(obj: Any, variable: Hashable | None) -> _Source:
    if isinstance(obj, Mapping) and not isinstance(obj, xr.Dataset):
        obj = xr.Dataset({k: v if isinstance(v, xr.DataArray) else
                          xr.DataArray(v, dims=[f"dim_{i}" for i in range(np.ndim(v))])
                          for k, v in obj.items()})
    if isinstance(obj, xr.DataArray) or variable is not None or any(
            BAND_DIM in v.dims for v in obj.data_vars.values()):
        arr = band_array(obj, variable=variable)
        labels = ([b.item() if hasattr(b, "item") else b for b in arr[BAND_DIM].values]
                  if BAND_DIM in arr.coords else list(range(1, arr.sizes[BAND_DIM] + 1)))
        if BAND_DIM not in arr.coords:
            arr = arr.assign_coords({BAND_DIM: labels})
        return _Source(labels, stacked=arr)
    if not isinstance(obj, xr.Dataset):
        raise InputTypeError(f"expected an xarray Dataset/DataArray or a dict of arrays, got {type(obj).__name__}")
    try:
        names = spatial_variables(obj)
    except Exception:  # no recognisable spatial dims: every numeric variable is a candidate
        names = list(obj.data_vars)
    skipped = {n: str(obj[n].dtype) for n in names if obj[n].dtype.kind not in "uif"}
    names = [n for n in names if n not in skipped]
    return _Source(list(names), separate={n: obj[n] for n in names}, skipped=skipped)


def _check_one_crs(obj: Any, src: _Source, labels: Iterable[Hashable]) -> None:
    """Band variables of a Dataset must share one CRS: :func:`xgeo.crs.read_crs` raises
    :class:`~xgeo.errors.GridMappingConflictError` otherwise (variables not read are ignored)."""
    if src.separate is None or not isinstance(obj, xr.Dataset):
        return
    used = set(labels)  # grid-mapping variables are 0-d: keep those, drop other unused arrays
    read_crs(obj.drop_vars([n for n, v in obj.data_vars.items() if n not in used and v.ndim]))


def _mapping(src: _Source, symbols: Iterable[str], sensor: str | None,
             bands: Mapping[str, Hashable] | None) -> tuple[dict[str, Hashable], Preset | None]:
    return resolve_bands(src.labels, sensor=sensor, bands=bands, needed=symbols)


def _expected(sym: str, preset: Preset | None) -> str:
    from .catalog import band_table

    info = band_table().get(sym)
    what = f"{sym} ({info['common_name']}, {info['min_wavelength']}-{info['max_wavelength']} nm)" if info else sym
    if preset is not None and sym in preset.bands:
        what += f", band {preset.bands[sym]} of {preset.name}"
    return what


def _check_bands(items: Sequence[RequestItem], mapping: Mapping[str, Hashable], src: _Source,
                 preset: Preset | None, kernel: str) -> None:
    for item in items:
        name = item_name(item)
        miss = [b for b in index_bands(item, kernel) if b not in mapping]
        if miss:
            sensor = f" (sensor {preset.name})" if preset is not None else " (no sensor detected)"
            raise MissingBandError(
                f"{name} needs bands {', '.join(index_bands(item, kernel))}; missing "
                f"{'; '.join(_expected(m, preset) for m in miss)}. Found bands{sensor}: "
                f"{', '.join(map(repr, src.labels)) or 'none'}{_skipped(src)}. Pass "
                f"bands={{{miss[0]!r}: <name>}} or sensor= to map them.")


def _skipped(src: _Source) -> str:
    if not src.skipped:
        return ""
    listed = ", ".join(f"{n!r} ({dt})" for n, dt in src.skipped.items())
    return f" (not read, as they are not integer or float: {listed}; cast them, e.g. .astype('float32'))"


def _cf_scale(attrs: Mapping[str, Any]) -> tuple[float, float] | None:
    if "scale_factor" in attrs or "add_offset" in attrs:
        return float(attrs.get("scale_factor", 1.0)), float(attrs.get("add_offset", 0.0))
    return None


def _cf_nodata(attrs: Mapping[str, Any]) -> float | None:
    for key in ("_FillValue", "missing_value", "nodata"):
        v = attrs.get(key)
        if v is not None and np.ndim(v) == 0:
            return float(v)
    return None


class _BlockFn:
    """Per-block work for dask: picklable (holds the kernel source, not the compiled code)."""

    def __init__(self, plan: IndexPlan, positions: list[int], axis: int | None, scale: np.ndarray,
                 offset: np.ndarray, nodata: np.ndarray) -> None:
        self.plan, self.positions, self.axis = plan, positions, axis
        self.scale, self.offset, self.nodata = scale, offset, nodata

    def __call__(self, *blocks: np.ndarray) -> np.ndarray:
        if self.axis is None:  # one block per band
            shape = blocks[0].shape
            arrays, q = as_rows(blocks)
        else:
            b, pos = blocks[0], self.positions
            if not b.flags.c_contiguous:  # copy only the bands read
                b, pos = np.take(b, pos, axis=self.axis), range(len(pos))
            shape = b.shape[:self.axis] + b.shape[self.axis + 1:]
            P = int(np.prod(b.shape[:self.axis], dtype=np.int64))
            b3 = b.reshape(P, b.shape[self.axis], -1)
            arrays = [(b3, i) for i in pos]
        out = run_kernel(self.plan, arrays, self.scale, self.offset, self.nodata, threads=1,
                         q=q if self.axis is None else None)
        return out.reshape((out.shape[0], *shape))


def _task_name(plan: IndexPlan, *inputs: Any) -> str:
    """Readable and unique dask key: index names + a hash of kernel, constants and inputs."""
    from dask.base import tokenize

    return f"xgeo-{'-'.join(plan.names)[:40]}-{tokenize(plan.source, plan.consts, *inputs)}"


def _run(plan: IndexPlan, src: _Source, mapping: Mapping[str, Hashable], scale: ScaleLike,
         nodata: float | Mapping[str, float] | None) -> tuple[Any, tuple[Hashable, ...], xr.DataArray]:
    """Evaluate; returns (data of shape (n_kernel_outputs, *dims), dims, template DataArray)."""
    import dask.array as da

    labels = [mapping[s] for s in plan.symbols]
    template = src.stacked if src.stacked is not None else src.band(labels[0])
    attrs = [template.attrs if src.stacked is not None else src.band(lab).attrs for lab in labels]
    cf = [_cf_scale(a) for a in attrs]
    user = band_scales(plan.symbols, scale, dict(zip(plan.symbols, labels, strict=True))) if scale is not None else None
    s = np.array([user[0][i] if user is not None else (c or (1.0, 0.0))[0] for i, c in enumerate(cf)])
    o = np.array([user[1][i] if user is not None else (c or (1.0, 0.0))[1] for i, c in enumerate(cf)])
    nd = np.full(len(labels), np.nan)
    for i, (sym, a) in enumerate(zip(plan.symbols, attrs, strict=True)):
        v = (nodata.get(sym, nodata.get(labels[i])) if isinstance(nodata, Mapping) else nodata)
        v = _cf_nodata(a) if v is None else v
        if v is not None:
            nd[i] = float(v)
    n_out = len(plan.order)

    if src.stacked is not None:
        arr = src.stacked
        axis = arr.get_axis_num(BAND_DIM)
        dims = tuple(d for d in arr.dims if d != BAND_DIM)
        warn_unscaled([arr] if all(c is None for c in cf) else [], scale)
        pos = [src.labels.index(lab) for lab in labels]
        data = arr.data
        if isinstance(data, da.Array):
            if len(data.chunks[axis]) > 1:  # bring the needed bands into one chunk
                data = data[(slice(None),) * axis + (pos,)].rechunk({axis: -1})
                pos = list(range(len(pos)))
            chunks = ((n_out,), *(c for i, c in enumerate(data.chunks) if i != axis))
            fn = _BlockFn(plan, pos, axis, s, o, nd)
            out = data.map_blocks(fn, drop_axis=axis, new_axis=0, chunks=chunks, dtype=plan.dtype,
                                  name=_task_name(plan, data, pos, s, o, nd))
            return out, dims, arr
        data = np.asarray(data)
        if not data.flags.c_contiguous:  # copy only the bands we read
            data = np.ascontiguousarray(np.take(data, pos, axis=axis))
            pos = list(range(len(pos)))
        shape = data.shape[:axis] + data.shape[axis + 1:]
        P = int(np.prod(data.shape[:axis], dtype=np.int64))
        b3 = data.reshape(P, data.shape[axis], -1)
        out = run_kernel(plan, [(b3, i) for i in pos], s, o, nd, threads=n_threads())
        return out.reshape((n_out, *shape)), dims, arr

    bands_ = [src.band(lab) for lab in labels]
    dims = bands_[0].dims
    for lab, b in zip(labels, bands_, strict=True):
        if set(b.dims) != set(dims) or b.shape != bands_[0].transpose(*b.dims).shape:
            raise IndexArgumentError(f"band variables {labels[0]!r}{dims} and {lab!r}{b.dims} "
                                     "differ in dims or shape; put them on one grid first")
    bands_ = [b.transpose(*dims) for b in bands_]
    warn_unscaled([b for b, c in zip(bands_, cf, strict=True) if c is None], scale)
    datas = [b.data for b in bands_]
    if len({np.dtype(d.dtype) for d in datas}) > 1:
        common = np.result_type(*[d.dtype for d in datas])
        datas = [d.astype(common) for d in datas]
    if any(isinstance(d, da.Array) for d in datas):
        ref = next(d for d in datas if isinstance(d, da.Array))
        datas = [d.rechunk(ref.chunks) if isinstance(d, da.Array) else da.from_array(d, chunks=ref.chunks)
                 for d in datas]
        fn = _BlockFn(plan, [], None, s, o, nd)
        out = da.map_blocks(fn, *datas, new_axis=0, chunks=((n_out,), *ref.chunks), dtype=plan.dtype,
                            name=_task_name(plan, *datas, s, o, nd))
        return out, dims, bands_[0]
    datas = [np.asarray(d) for d in datas]
    rows, q = as_rows(datas)
    out = run_kernel(plan, rows, s, o, nd, threads=n_threads(), q=q)
    return out.reshape((n_out, *np.shape(datas[0]))), dims, bands_[0]


def _attrs(item: RequestItem, plan: IndexPlan) -> dict[str, Any]:
    name = item_name(item)
    used = dict(plan.constants_used).get(name, ())
    if isinstance(item, UserIndex):
        attrs = {"long_name": f"{name} (user formula)", "formula": item.formula}
    else:
        idx = get_index(name)
        attrs = {
            "long_name": idx.long_name,
            "formula": idx.formula,
            "reference": idx.reference,
            "application_domain": idx.application_domain,
        }
    if used:  # the values actually used (defaults, overrides, sensor wavelengths)
        attrs["constants"] = ", ".join(f"{k}={v}" for k, v in used)
    if isinstance(item, UserIndex):
        attrs["source"] = "xgeo.indices; user formula, compiled by xgeo's formula compiler"
    else:
        src = catalog_source()
        attrs["source"] = f"xgeo.indices; catalog: {src['name']} ({src['origin']}), {src['license']}"
    return attrs


def _output_array(data: Any, dims: tuple[Hashable, ...], template: xr.DataArray,
                  name: str, attrs: dict[str, Any]) -> xr.DataArray:
    coords = {k: c for k, c in template.coords.items() if BAND_DIM not in c.dims}
    out = xr.DataArray(data, dims=dims, coords=coords, name=name, attrs=attrs)
    gm = template.encoding.get("grid_mapping", template.attrs.get("grid_mapping"))
    if gm is not None:  # keep the CRS link; in encoding only, as xgeo.crs writes it
        out.encoding["grid_mapping"] = gm
    return out


def compute_indices(obj: xr.Dataset | xr.DataArray | Mapping[str, Any],
                    names: str | Mapping[str, str] | Iterable[str | Mapping[str, str]], *,
                    sensor: str | None = None, bands: Mapping[str, Hashable] | None = None,
                    variable: Hashable | None = None, constants: ConstantsLike = None,
                    scale: ScaleLike = None, nodata: float | Mapping[str, float] | None = None,
                    kernel: str = "rbf", dtype: str = "float32", **constants_kw: Any) -> xr.Dataset:
    """Compute several spectral indices in one fused pass; one variable per index.

    Parameters
    ----------
    obj
        A Dataset with one variable per band, a DataArray with a ``band`` dim labelled by band
        names, a Dataset holding such a DataArray, or a dict of arrays keyed by band name.
    names
        Index short names from :func:`xgeo.indices.catalog` (case-sensitive), and/or formulas
        of your own as a ``{name: formula}`` dict, alone or in the list:
        ``["NDVI", {"MY": "(N - R) / (N + R + 0.1)"}]``. A formula uses the catalog's band
        symbols (``N``, ``R``, ``G``, ``B``, ``RE1``, ``S1``...), numbers, ``+ - * / **``,
        ``exp log sqrt abs tanh`` and constants (catalog ones such as ``L``, or your own
        given with ``constants=``); it is compiled like a catalog formula, in the same fused
        pass (see :mod:`xgeo.indices.custom`). A catalog name cannot be reused for a formula.
    sensor
        Band preset (``"sentinel2"``, ``"landsat8"``, ``"landsat7"``, ``"modis"``, ``"rgbn"``,
        ...). Default: detected from the band names when unambiguous.
    bands
        Explicit ``{symbol: band name}`` mapping (``{"N": "B08", "R": "B04"}``); wins over
        ``sensor``.
    variable
        In a Dataset with several band-dimensioned variables, the one to use.
    constants, **constants_kw
        Constant overrides (``L=0.5``); ``constants={"SAVI": {"L": 0.5}}`` for one index only.
        Defaults are the catalog's; ``lambda*`` wavelengths come from the sensor preset. User
        formulas may name constants of their own (``eps=0.1``).
    scale
        Integer data: factor, ``(factor, offset)`` or a dict by band symbol/name. Default: the
        variable's CF ``scale_factor``/``add_offset`` attributes when present.
    nodata
        Raw no-data value(s); default the ``_FillValue``/``missing_value``/``nodata`` attribute.
    kernel
        Kernel of the kernel indices (kNDVI...): ``"rbf"``, ``"linear"`` or ``"poly"``.
    dtype
        ``"float32"`` (default) or ``"float64"``.

    Returns
    -------
    xarray.Dataset
        One variable per index with the input's non-band dims and coordinates, and the
        attributes ``long_name``, ``formula``, ``reference``. Lazy (dask) if the input is.

    Raises
    ------
    GridMappingConflictError
        If the band variables read point at grid mappings with different CRSs.
    IndexNamesError
        If ``names`` is empty or not a list of names and ``{name: formula}`` dicts, or a user
        formula is named like a catalog index.
    FormulaError
        If a user formula does not parse, uses a construct outside the whitelist (attributes,
        calls other than the whitelisted functions, comparisons...) or a symbol that is neither
        a band symbol nor a constant (the message names it and the bands available).

    Notes
    -----
    A denominator of exactly zero gives NaN (never inf, never an epsilon); other infinite
    results are NaN too. NaN inputs and nodata values give NaN in the indices that use them.

    Examples
    --------
    >>> import xgeo
    >>> from xgeo.indices import compute_indices
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> out = compute_indices(ds, ["NDVI", "EVI", "NDWI"])
    >>> list(out.data_vars), out.NDVI.dims
    (['NDVI', 'EVI', 'NDWI'], ('time', 'y', 'x'))
    >>> mine = compute_indices(ds, ["NDVI", {"MY": "(N - R) / (N + R + 0.1)"}])
    >>> list(mine.data_vars), mine.MY.attrs["formula"]
    (['NDVI', 'MY'], '(N - R) / (N + R + 0.1)')
    """
    items = list(dict.fromkeys(request_names(names)))
    if dtype not in DTYPES:
        raise IndexArgumentError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    for n in items:
        if not isinstance(n, UserIndex):
            get_index(n)
    consts = {**(constants or {}), **constants_kw}
    src = _source(obj, variable)
    needed = {b for n in items for b in index_bands(n, kernel)}
    mapping, preset = _mapping(src, needed, sensor, bands)
    for n in items:  # name the data's bands when a formula's symbol is unknown
        if isinstance(n, UserIndex):
            check_user_symbols(n, index_constants(n, kernel), consts, mapping, src.labels)
    _check_bands(items, mapping, src, preset, kernel)
    plan = build_plan(items, constants=consts, wavelengths=preset.wavelengths if preset else None,
                      kernel=kernel, dtype=dtype)
    _check_one_crs(obj, src, [mapping[s] for s in plan.symbols])
    data, dims, template = _run(plan, src, mapping, scale, nodata)
    out = xr.Dataset({
        item_name(n): _output_array(data[k], dims, template, item_name(n), _attrs(n, plan))
        for k, n in enumerate(items)
    })
    if isinstance(obj, xr.Dataset):
        out.attrs.update({k: v for k, v in obj.attrs.items() if k in ("Conventions",)})
    return out


def compute_index(obj: xr.Dataset | xr.DataArray | Mapping[str, Any],
                  name: str | Mapping[str, str], *,
                  sensor: str | None = None, bands: Mapping[str, Hashable] | None = None,
                  variable: Hashable | None = None, constants: ConstantsLike = None,
                  scale: ScaleLike = None, nodata: float | Mapping[str, float] | None = None,
                  kernel: str = "rbf", dtype: str = "float32", **constants_kw: Any) -> xr.DataArray:
    """Compute one spectral index; a DataArray named after it. See :func:`compute_indices`.

    ``name`` is a catalog name or a one-entry ``{name: formula}`` dict of your own.

    Examples
    --------
    >>> import xgeo
    >>> from xgeo.indices import compute_index
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> ndvi = compute_index(ds, "NDVI")
    >>> ndvi.name, ndvi.dtype, ndvi.attrs["formula"]
    ('NDVI', dtype('float32'), '(N - R)/(N + R)')
    >>> float(abs(ndvi - ds.ndvi).max())
    0.0
    >>> compute_index(ds, {"MY": "(N - R) / (N + R + 0.1)"}).name
    'MY'
    """
    items = request_names(name)
    if len(items) != 1:
        raise IndexNamesError(f"compute_index computes one index, got {len(items)} in {name!r}; "
                              "use compute_indices for several")
    return compute_indices(obj, items, sensor=sensor, bands=bands, variable=variable,
                           constants=constants, scale=scale, nodata=nodata, kernel=kernel,
                           dtype=dtype, **constants_kw)[item_name(items[0])]


def available_indices(obj: xr.Dataset | xr.DataArray | Mapping[str, Any], *,
                      sensor: str | None = None, bands: Mapping[str, Hashable] | None = None,
                      variable: Hashable | None = None, constants: ConstantsLike = None,
                      kernel: str = "rbf", **constants_kw: Any) -> list[str]:
    """Names of the catalog indices computable from the bands present (sorted).

    An index is listed when all its bands map to bands of ``obj`` and each of its constants has
    a value (catalog default, sensor wavelength, or one you pass).

    Examples
    --------
    >>> import xgeo
    >>> from xgeo.indices import available_indices
    >>> names = available_indices(xgeo.datasets.sentinel2_cube())
    >>> "NDVI" in names, "kNDVI" in names, "NIRvP" in names   # NIRvP needs PAR
    (True, True, False)
    """
    consts = {**(constants or {}), **constants_kw}
    src = _source(obj, variable)
    mapping, preset = _mapping(src, None, sensor, bands)
    waves = preset.wavelengths if preset else {}
    out = []
    for name in catalog():
        if not all(b in mapping for b in index_bands(name, kernel)):
            continue
        if all(c in consts or (c.startswith("lambda") and c[6:] in waves) or _default(c) is not None
               for c in index_constants(name, kernel)):
            out.append(name)
    return out


def _default(const: str) -> float | None:
    from .catalog import constants

    c = constants().get(const)
    return None if c is None else c.default


def sensors() -> list[str]:
    """Names of the sensor presets accepted by ``sensor=``."""
    return sorted(presets())

