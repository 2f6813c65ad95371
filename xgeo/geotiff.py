"""GeoTIFF in and out through GDAL (rasterio / rioxarray, the ``geotiff`` extra).

Reading (:func:`open_geotiff`, what :func:`xgeo.open_dataset` uses for GeoTIFF, COG, VRT
and other GDAL rasters) gives one variable with a ``band`` dim in the raw layout of
:mod:`xgeo.nodata`: the stored values, nodata as ``_FillValue`` in ``.attrs`` (where
``.rio.nodata`` finds it). GDAL's "no packing" ``scale_factor=1``/``add_offset=0`` are
dropped, so xarray's writers do not turn them into float64 decoding. Pixels GDAL cannot
read (a truncated or corrupt file) raise :class:`~xgeo.errors.DecodeError` naming the
file when they are read, not a bare ``RasterioIOError``.

Writing (:func:`to_geotiff`) produces a Cloud-Optimised GeoTIFF by default: GDAL's COG
driver, 512 x 512 tiles (a smaller raster: one tile), DEFLATE with the predictor that fits
the dtype, overviews down to one tile (nearest for integers, so class labels stay classes;
average for floats), the grid's CRS and transform, the nodata value and a description per
band.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from .crs import find_spatial_dims, read_grid
from .errors import DecodeError, GeoTIFFError, MissingVariableError
from .nodata import as_unsigned, for_writing

__all__ = ["open_geotiff", "to_geotiff", "require_gdal", "GDAL_DTYPES"]

GDAL_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
               "float32", "float64")
_INSTALL = "pip install 'xgeo[geotiff]'"
_LOAD_AT_ONCE = 256 * 2**20  # bytes: smaller non-dask variables are read whole


def _rioxarray(path: Path | str, what: str) -> Any:
    try:
        import rioxarray
    except ImportError as exc:
        raise ImportError(f"{what} {Path(path).name} needs GDAL through rioxarray: {_INSTALL}"
                          ) from exc
    return rioxarray


def require_gdal(path: str | os.PathLike) -> None:
    """Raise ImportError with the pip command when writing ``path`` as GeoTIFF is impossible."""
    try:
        import rasterio  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"writing {Path(path).name} needs GDAL through rasterio: {_INSTALL}"
                          ) from exc


# ------------------------------------------------------------------------------ reading
def _gdal_reason(exc: BaseException) -> str:
    """The messages of ``exc`` and the GDAL errors chained to it, most specific first."""
    seen: list[str] = []
    cur: BaseException | None = exc
    while cur is not None and len(seen) < 5:
        text = str(cur).strip()
        if text and text not in seen:
            seen.append(text)
        cur = cur.__cause__ or cur.__context__
    generic = [t for t in seen if "See previous exception" in t]
    specific = [t for t in seen if t not in generic]
    return "; ".join(specific or generic)


class _GdalReads(BackendArray):
    """The lazily read pixels of a GDAL raster, read errors turned into DecodeError."""

    def __init__(self, source: xr.Variable, path: Path) -> None:
        self.source = source
        self.path = path
        self.shape = source.shape
        self.dtype = source.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> Any:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self._read)

    def _read(self, key: tuple[Any, ...]) -> np.ndarray:
        from rasterio.errors import RasterioError

        try:
            return np.asarray(self.source[key].values)
        except RasterioError as exc:
            raise DecodeError(
                f"{self.path}: GDAL cannot read its pixels ({_gdal_reason(exc)}); the file is "
                "truncated or corrupt: download or export it again") from exc


def open_geotiff(path: str | os.PathLike, chunks: Any = None) -> xr.Dataset:
    """A GDAL raster as a Dataset with one ``(band, y, x)`` variable named after the file.

    Parameters
    ----------
    path
        A GeoTIFF, COG or any raster GDAL reads.
    chunks
        ``None``: lazy NumPy reads; ``{}`` or a dict/int: dask, as
        :meth:`xarray.DataArray.chunk` takes it.

    Raises
    ------
    DecodeError
        If GDAL cannot open the file, or (on read) its pixels.
    ImportError
        If rioxarray is not installed (with the pip command that installs it).

    Examples
    --------
    >>> import tempfile, os, xgeo
    >>> path = to_geotiff(xgeo.datasets.sentinel2_cube(), os.path.join(tempfile.mkdtemp(),
    ...                   "lulc.tif"), variable="lulc")
    >>> open_geotiff(path)["lulc"].dims
    ('band', 'y', 'x')
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    rioxarray = _rioxarray(path, "reading")
    from rasterio.errors import RasterioError

    try:
        with warnings.catch_warnings():
            # rioxarray's own use of affine's deprecated ``*`` (nothing a user can change)
            warnings.filterwarnings("ignore", category=PendingDeprecationWarning,
                                    module="rioxarray")
            da = rioxarray.open_rasterio(path, mask_and_scale=False)
    except RasterioError as exc:  # GDAL's word for "not a raster it can read"
        raise DecodeError(f"{path}: GDAL cannot read it as a raster ({_gdal_reason(exc)}); check "
                          "that the file is a complete GeoTIFF/COG or another GDAL format") from exc
    if isinstance(da, list | xr.Dataset):
        raise DecodeError(f"{path} holds several subdatasets; open one with its GDAL name")
    attrs = dict(da.attrs)
    if float(attrs.get("scale_factor", 1.0)) == 1.0 and float(attrs.get("add_offset", 0.0)) == 0.0:
        attrs.pop("scale_factor", None)  # GDAL's "no packing": nothing to decode
        attrs.pop("add_offset", None)
    for key in [k for k in attrs if str(k).startswith("STATISTICS_")]:
        del attrs[key]  # GDAL's cached statistics of this file: stale after any operation
    names = attrs.pop("long_name", None)
    data = indexing.LazilyIndexedArray(_GdalReads(da.variable, path))
    var = xr.Variable(da.dims, data, attrs=attrs, encoding=dict(da.encoding))
    out = xr.DataArray(var, coords=da.coords, name=path.stem.replace(".", "_") or "data")
    if (
        isinstance(names, tuple | list)
        and len(names) == out.sizes.get("band", 0)
        and len(set(names)) == len(names)
    ):
        out = out.assign_coords(band=list(names))
    if chunks is not None:
        from dask.base import tokenize

        token = tokenize(str(path.resolve()), path.stat().st_mtime_ns, chunks)
        out = out.chunk(chunks, name_prefix=f"open_geotiff-{token}", token=token)
    return out.to_dataset()


# ------------------------------------------------------------------------------ writing
def _label(value: Any) -> str:
    if isinstance(value, np.datetime64):
        text = str(np.datetime_as_string(value, unit="s"))
        return text[:10] if text.endswith("T00:00:00") else text
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value.item() if isinstance(value, np.generic) else value)


def _bands(name: Hashable, var: xr.Variable, coords: Any, lead: Sequence[Hashable],
           several: bool) -> Iterator[tuple[Any, str, dict[str, str]]]:
    """(2-D plane, description, band tags) for every index of ``var``'s leading dims."""
    sizes = [var.sizes[d] for d in lead]
    for index in np.ndindex(*sizes):
        parts = [str(name)] if several or not lead else []
        tags = {"variable": str(name)} if several else {}
        for dim, i in zip(lead, index, strict=True):
            value = coords[dim].values[i] if dim in coords else i
            label = _label(value)
            tags[str(dim)] = label
            if not (dim == "band" and isinstance(value, int | np.integer) and value == i + 1):
                parts.append(label)  # GDAL's own band numbers describe nothing
        plane = var[dict(zip(lead, index, strict=True))] if lead else var
        yield plane, " ".join(parts), tags


def _select(ds: xr.Dataset, variable: str | Sequence[str] | None, y_dim: Hashable,
            x_dim: Hashable) -> list[Hashable]:
    raster = [n for n, v in ds.data_vars.items() if y_dim in v.dims and x_dim in v.dims]
    if variable is None:
        if not raster:
            raise GeoTIFFError(f"nothing to write as GeoTIFF: no variable has ({y_dim}, {x_dim}) "
                               f"dims (variables: {sorted(map(str, ds.data_vars))})")
        return raster
    wanted = [variable] if isinstance(variable, str) else list(variable)
    missing = [v for v in wanted if v not in ds.data_vars]
    if missing:
        raise MissingVariableError(
            f"no variable {', '.join(map(repr, missing))}; the variables are "
            f"{', '.join(sorted(map(str, ds.data_vars)))}")
    flat = [v for v in wanted if v not in raster]
    if flat:
        raise GeoTIFFError(f"variable {flat[0]!r} has no ({y_dim}, {x_dim}) dims; a GeoTIFF "
                           "holds rasters only")
    return wanted


def _same_nodata(values: list[Any]) -> bool:
    first = values[0]
    for v in values[1:]:
        if (v is None) != (first is None):
            return False
        if v is not None and not (v == first or (math.isnan(float(v)) and math.isnan(float(first)))):
            return False
    return True


class _BandWriter:
    """A ``__setitem__`` target for :func:`dask.array.store`: one band of an open raster."""

    def __init__(self, dst: Any, band: int, lock: threading.Lock) -> None:
        self.dst, self.band, self.lock = dst, band, lock

    def __setitem__(self, key: tuple[slice, slice], value: np.ndarray) -> None:
        from rasterio.windows import Window

        ys, xs = key
        window = Window(xs.start, ys.start, xs.stop - xs.start, ys.stop - ys.start)
        with self.lock:
            self.dst.write(np.asarray(value), self.band, window=window)


def to_geotiff(
    obj: xr.DataArray | xr.Dataset,
    path: str | os.PathLike,
    *,
    variable: str | Sequence[str] | None = None,
    cog: bool = True,
    compress: str = "deflate",
) -> Path:
    """Write a raster as a (Cloud-Optimised) GeoTIFF that GDAL reads with the same grid.

    What becomes a band: every 2-D ``(y, x)`` plane of the spatial data variables, in
    order. A ``(band, y, x)`` variable gives its bands; any other leading dims (``time``,
    or ``time`` x ``band``) are flattened into bands too, each described by its labels
    (``"2015-07-11 B04"``) and tagged with them in the band metadata (``time=...``,
    ``band=...``). Several variables are stacked (descriptions prefixed with the variable
    name, as rioxarray's ``Dataset.rio.to_raster`` does) when they share one stored dtype
    and one nodata value; otherwise choose some with ``variable=``. Variables without both
    spatial dims are not written (a GeoTIFF has no place for them).

    Values are written as stored: a decoded variable (float with ``.encoding`` ``dtype``,
    ``_FillValue``, ``scale_factor``) is packed back exactly as xarray packs it for netCDF,
    the packing going into the band's scale/offset; the nodata value is the variable's
    ``_FillValue`` (see :func:`xgeo.nodata.declared_nodata`), NaN for floats without one,
    none for integers without one. Lazy (dask) data are written chunk by chunk.

    Parameters
    ----------
    obj
        DataArray or Dataset with a grid (see :mod:`xgeo.crs`).
    path
        The output file. It is written beside itself under a temporary name and renamed
        when complete, so an interrupted write leaves no half file at ``path``.
    variable
        Name(s) of the variable(s) to write (default: every spatial variable).
    cog
        True (default): GDAL's COG driver, tiles of 512 (one tile, a multiple of 16, for
        a smaller raster), overviews. False: a plain tiled compressed GeoTIFF, the same
        tiles, without overviews.
    compress
        GDAL compression: ``"deflate"`` (default, readable everywhere), ``"zstd"``,
        ``"lzw"``, ``"lerc"`` or ``"none"``; the predictor is chosen for the dtype.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    GeoTIFFError
        If the variables cannot share one GeoTIFF (dtypes or nodata differ, no spatial
        variable, a dtype GDAL cannot store); the message says what to select.
    MissingVariableError
        If ``variable`` names a variable that is not there.
    ImportError
        If rasterio is not installed.

    Examples
    --------
    >>> import tempfile, os, rasterio, xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> out = to_geotiff(ds, os.path.join(tempfile.mkdtemp(), "ndvi.tif"), variable="ndvi")
    >>> with rasterio.open(out) as src:
    ...     src.count, src.crs.to_epsg(), src.descriptions[0], src.profile["compress"]
    (5, 32633, '2015-07-11T10:00:08', 'deflate')
    """
    path = Path(path)
    require_gdal(path)
    import rasterio
    import rasterio.shutil
    from rasterio.crs import CRS as RioCRS

    ds = obj.to_dataset(name=obj.name if obj.name is not None else "data") if isinstance(
        obj, xr.DataArray) else obj
    y_dim, x_dim = find_spatial_dims(ds)
    names = _select(ds, variable, y_dim, x_dim)
    grid = read_grid(ds)
    if grid.crs is None:
        warnings.warn(f"writing {path.name} without a CRS: call .geo.set_crs(...) first",
                      UserWarning, stacklevel=2)
    ready = for_writing(ds[names])
    for n in names:  # a GeoTIFF has no _Unsigned: netCDF-3's unsigned data as unsigned
        ready[n].encoding = as_unsigned(ready[n].encoding, ready[n].dtype)
    encoded = {n: xr.conventions.encode_cf_variable(ready[n].variable, name=n) for n in names}
    dtypes = {n: np.dtype(v.dtype) for n, v in encoded.items()}
    if len(set(dtypes.values())) > 1:
        shown = ", ".join(f"{n}: {d}" for n, d in dtypes.items())
        raise GeoTIFFError(
            f"cannot write {path.name}: a GeoTIFF has one dtype for all bands and the variables "
            f"differ ({shown}); choose variables of one dtype with variable= (xgeo CLI: "
            "--variable NAME), or write .nc/.zarr, which keep them all")
    dtype = next(iter(dtypes.values()))
    if dtype.name not in GDAL_DTYPES:
        raise GeoTIFFError(f"cannot write {path.name}: GDAL does not store {dtype} in GeoTIFF "
                           f"(it stores {', '.join(GDAL_DTYPES)}); cast the variable first")
    fills = [next((v.attrs[k] for k in ("_FillValue", "missing_value") if k in v.attrs), None)
             for v in encoded.values()]
    if not _same_nodata(fills):
        shown = ", ".join(f"{n}: {f}" for n, f in zip(names, fills, strict=True))
        raise GeoTIFFError(
            f"cannot write {path.name}: a GeoTIFF has one nodata value for all bands and the "
            f"variables differ ({shown}); choose variables with variable= (xgeo CLI: "
            "--variable NAME), or write .nc/.zarr")
    nodata = fills[0]
    if nodata is None and dtype.kind == "f":
        nodata = float("nan")
    bands = []
    for n in names:
        var = encoded[n].transpose(..., y_dim, x_dim)
        if var.chunks is None and var.nbytes <= _LOAD_AT_ONCE:
            var = var.load()  # one read, not one per band of a lazily opened file
        lead = [d for d in var.dims if d not in (y_dim, x_dim)]
        for plane, description, tags in _bands(n, var, ds.coords, lead, len(names) > 1):
            bands.append((plane, description, tags, var.attrs))
    if not bands:
        raise GeoTIFFError(f"cannot write {path.name}: the variables hold no band (a zero-size dim)")
    height, width = grid.shape
    block = min(512, -(-max(height, width, 16) // 16) * 16)  # a small raster is one tile
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": len(bands),
        "dtype": dtype.name, "transform": grid.transform, "nodata": nodata,
        "crs": RioCRS.from_wkt(grid.crs.to_wkt()) if grid.crs is not None else None,
        "tiled": True, "blockxsize": block, "blockysize": block, "BIGTIFF": "IF_SAFER",
        "interleave": "band",
    }
    predictor = 3 if dtype.kind == "f" else 2
    codec = compress.lower()
    if codec != "none":
        profile["compress"] = codec
        if codec in ("deflate", "zstd", "lzw"):
            profile["predictor"] = predictor
    tmp = path.with_name(f".{path.name}.xgeo-{os.getpid()}.tif")
    staged = tmp.with_suffix(".cog.tif") if cog else tmp
    try:
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            stage_profile = dict(profile, compress="zstd", predictor=predictor, ZSTD_LEVEL=1
                                 ) if cog else profile
            _write_bands(tmp, stage_profile, bands)
            if cog:
                rasterio.shutil.copy(
                    tmp, staged, driver="COG", COMPRESS=codec.upper(),
                    PREDICTOR="YES" if codec in ("deflate", "zstd", "lzw") else "NO",
                    BLOCKSIZE=block, OVERVIEWS="AUTO", BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
                    OVERVIEW_RESAMPLING="AVERAGE" if dtype.kind == "f" else "NEAREST")
        os.replace(staged, path)
    finally:
        for leftover in {tmp, staged}:
            leftover.unlink(missing_ok=True)
    return path


def _write_bands(target: Path, profile: dict[str, Any],
                 bands: list[tuple[xr.Variable, str, dict[str, str], dict[str, Any]]]) -> None:
    import dask.array
    import rasterio

    lock = threading.Lock()
    with rasterio.open(target, "w", **profile) as dst:
        lazy_sources, lazy_targets = [], []
        scales, offsets = [], []
        for i, (plane, description, tags, attrs) in enumerate(bands, start=1):
            dst.set_band_description(i, description)
            if tags:
                dst.update_tags(i, **tags)
            if isinstance(attrs.get("units"), str):
                dst.set_band_unit(i, attrs["units"])
            scales.append(float(attrs.get("scale_factor", 1.0)))
            offsets.append(float(attrs.get("add_offset", 0.0)))
            if isinstance(plane.data, dask.array.Array):
                lazy_sources.append(plane.data)
                lazy_targets.append(_BandWriter(dst, i, lock))
            else:
                dst.write(np.asarray(plane.values), i)
        if any(s != 1.0 for s in scales) or any(o != 0.0 for o in offsets):
            dst.scales, dst.offsets = scales, offsets
        if lazy_sources:
            dask.array.store(lazy_sources, lazy_targets, lock=False)
