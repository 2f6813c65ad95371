"""Opening and writing datacubes (netCDF, Zarr, GeoTIFF) with their grid intact.

:func:`open_dataset` always returns a Dataset whose ``.geo`` works: grid-mapping
variables become coordinates (``decode_coords="all"``), GeoTIFFs come in as one
variable with a ``band`` dim (:func:`xgeo.geotiff.open_geotiff`). :func:`to_netcdf` and
:func:`to_zarr` rewrite the grid metadata first, and put fill values where every reader
expects them (:func:`xgeo.nodata.for_writing`), so the files read back in GDAL, rioxarray and
odc-geo; :func:`to_geotiff` (from :mod:`xgeo.geotiff`) writes a Cloud-Optimised GeoTIFF.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ._objectstore import access_error, store_access
from .crs import find_spatial_dims, read_crs, write_grid
from .errors import CodecError, DecodeError, GridError, ResumeError, codec_errors_as_xgeo
from .geotiff import to_geotiff
from .nodata import for_writing
from .peer_cubes import encodable_metadata

__all__ = ["open_dataset", "to_netcdf", "to_zarr", "to_geotiff", "detect_format"]

_TIFF_SUFFIXES = {".tif", ".tiff", ".vrt", ".jp2", ".img"}
_NETCDF_SUFFIXES = {".nc", ".nc4", ".cdf", ".netcdf", ".h5", ".hdf5", ".he5"}


def detect_format(path: str | os.PathLike) -> str:
    """``"zarr"``, ``"netcdf3"``, ``"netcdf4"`` or ``"geotiff"`` from the path and magic bytes."""
    p = Path(path)
    if p.is_dir():
        if any((p / marker).exists() for marker in ("zarr.json", ".zgroup", ".zarray", ".zattrs")):
            return "zarr"
        raise DecodeError(f"{p} is a directory but not a Zarr store (no zarr.json or .zgroup)")
    if p.suffix.lower() == ".zarr":
        return "zarr"
    with open(p, "rb") as fh:
        magic = fh.read(8)
    if magic[:3] == b"CDF":
        return "netcdf3"
    if magic[:4] == b"\x89HDF":
        return "netcdf4"
    if magic[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "geotiff"
    if p.suffix.lower() in _TIFF_SUFFIXES:
        return "geotiff"
    if p.suffix.lower() in _NETCDF_SUFFIXES:
        return "netcdf4"
    raise DecodeError(
        f"cannot tell the format of {p} (magic bytes {magic[:4]!r}); xgeo reads netCDF, Zarr "
        "and GeoTIFF — pass engine= explicitly if it is one of those"
    )


def open_dataset(
    path: str | os.PathLike,
    *,
    engine: str | None = None,
    chunks: Any = None,
    allow_incomplete: bool = False,
    verify: bool = False,
    **kwargs: Any,
) -> xr.Dataset:
    """Open a netCDF file, Zarr store or GeoTIFF as a Dataset with a readable grid.

    Parameters
    ----------
    path
        File or Zarr directory.
    engine
        Force an xarray engine (``"netcdf4"``, ``"h5netcdf"``, ``"scipy"``,
        ``"zarr"``) or ``"rasterio"`` (GDAL, via rioxarray). By default the format
        is detected; when netCDF4 cannot decode a file, the other readers that
        can are tried, with a warning that says what failed.
    chunks
        Passed to xarray: ``None`` loads lazily without dask, ``{}`` or a dict
        gives dask arrays.
    allow_incomplete
        Open a Zarr store whose xgeo write was interrupted (unwritten chunks read as the
        fill value); by default that raises :class:`~xgeo.errors.IncompleteStoreError`.
    verify
        Zarr only: first read every chunk and compare it with the size and digest its
        writer recorded (see :func:`xgeo.verify.verify_store`); raises
        :class:`~xgeo.errors.StoreIntegrityError` listing missing or changed chunks.
        Reading a corrupt chunk later raises :class:`~xgeo.errors.CodecError` naming the
        store, variable and chunk key, with or without it.
    **kwargs
        Passed to :func:`xarray.open_dataset`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DecodeError
        If no reader can decode the file (or a Zarr metadata document is corrupt); the
        message names the file and lists what each reader said.

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.open_dataset(xgeo.datasets.sentinel2_cube_path())
    >>> ds.geo.crs.to_epsg()
    32633
    """
    if isinstance(path, str) and "://" in path:
        return _open_zarr_url(path, chunks=chunks, allow_incomplete=allow_incomplete,
                              verify=verify, **kwargs)
    path = Path(path)
    if not path.exists():
        if not allow_incomplete:
            from .store import check_complete

            check_complete(str(path))  # a write interrupted before it created the store
        raise FileNotFoundError(f"no such file or Zarr store: {path}")
    kind = (
        "geotiff" if engine == "rasterio" else ("zarr" if engine == "zarr" else detect_format(path))
    )
    if kind == "zarr":
        if not allow_incomplete:
            from .store import check_complete

            check_complete(str(path))
        if verify:
            _verify(str(path), None)
        kwargs.setdefault("decode_coords", "all")
        kwargs.setdefault("consolidated", _has_consolidated_metadata(path))
        from .optional import check_store_codecs, missing_codec
        from .readerrors import chunk_error_context

        check_store_codecs(path)  # a video store without xgeo-codecs: say how to install it
        try:
            with chunk_error_context():
                return xr.open_zarr(path, chunks=chunks, **kwargs)
        except Exception as exc:
            hint = missing_codec(exc, str(path))
            if hint is not None:
                raise hint from exc
            raise DecodeError(f"cannot open Zarr store {path}: {_corrupt_metadata(path) or exc}"
                              ) from exc
    if kind == "geotiff":
        return _open_with_gdal(path, chunks)

    candidates = (
        [engine]
        if engine
        else (["netcdf4", "scipy"] if kind == "netcdf3" else ["netcdf4", "h5netcdf"])
    )
    errors: list[str] = []
    for candidate in candidates:
        try:
            ds = xr.open_dataset(
                path, engine=candidate, chunks=chunks, decode_coords="all", **kwargs
            )
        except Exception as exc:  # each backend fails in its own way
            errors.append(f"{candidate}: {type(exc).__name__}: {exc}")
            continue
        if errors:
            warnings.warn(
                f"{path.name}: {'; '.join(errors)} — read with engine={candidate!r} instead",
                UserWarning,
                stacklevel=2,
            )
        return ds
    if engine is None:
        try:
            ds = _open_with_gdal(path, chunks)
        except Exception as exc:
            errors.append(f"GDAL: {type(exc).__name__}: {exc}")
        else:
            warnings.warn(
                f"{path.name}: {'; '.join(errors)} — read through GDAL (rasterio) instead",
                UserWarning,
                stacklevel=2,
            )
            return ds
    hint = (
        "it is a netCDF-3 file: try engine='scipy'"
        if kind == "netcdf3"
        else "try engine='h5netcdf'"
    )
    raise DecodeError(
        f"cannot decode {path}: " + "; ".join(errors) + f". How to open it instead: {hint}, or "
        "engine='rasterio' to read it through GDAL (pip install rioxarray)"
    )


def _open_zarr_url(
    url: str, *, chunks: Any, allow_incomplete: bool, verify: bool, **kwargs: Any
) -> xr.Dataset:
    """A Zarr store behind an fsspec URL (``s3://``, ``gs://``, ``memory://`` ...)."""
    suffix = os.path.splitext(url.rstrip("/"))[1].lower()
    if suffix in (".tif", ".tiff", ".nc", ".nc4", ".h5", ".jp2", ".vrt"):
        raise DecodeError(
            f"{url}: from an object-store URL xgeo opens Zarr stores; this names a "
            f"{suffix} file: copy it to a local path first (or read it with rioxarray "
            "through GDAL's /vsis3/, /vsigs/ ... paths)")
    with store_access(url):  # no bucket, endpoint, credentials: xgeo errors naming the URL
        if not allow_incomplete:
            from .store import check_complete

            check_complete(url, storage_options=kwargs.get("storage_options"))
        if verify:
            _verify(url, kwargs.get("storage_options"))
    kwargs.setdefault("decode_coords", "all")
    from .readerrors import chunk_error_context

    try:
        with chunk_error_context():
            return xr.open_zarr(url, chunks=chunks, **kwargs)
    except Exception as exc:
        from .optional import missing_codec

        reach = access_error(exc, url)
        if reach is not None:
            raise reach from exc
        hint = missing_codec(exc, url)
        if hint is not None:
            raise hint from exc
        raise DecodeError(f"cannot open Zarr store {url}: {exc}") from exc


def _verify(store: str, storage_options: dict[str, Any] | None) -> None:
    from .errors import StoreIntegrityError
    from .verify import verify_store

    report = verify_store(store, storage_options)
    if not report.ok:
        shown = "; ".join(report.problems[:5])
        more = f" (and {len(report.problems) - 5} more)" if len(report.problems) > 5 else ""
        raise StoreIntegrityError(
            f"{report.summary()}: {shown}{more}. Rewrite the store from its source; "
            "`xgeo verify STORE` lists every problem"
        )


def _corrupt_metadata(path: Path) -> str | None:
    """A sentence naming the first Zarr metadata document under ``path`` that is not JSON."""
    import json

    for doc in sorted(path.rglob("*")):
        if doc.name not in ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"):
            continue
        try:
            json.loads(doc.read_bytes())
        except (ValueError, UnicodeDecodeError) as exc:
            return f"its metadata file {doc} is corrupt (not JSON: {exc})"
    return None


def _has_consolidated_metadata(path: Path) -> bool:
    """True if a Zarr store carries consolidated metadata (v2 ``.zmetadata`` or v3 in zarr.json)."""
    if (path / ".zmetadata").exists():
        return True
    root = path / "zarr.json"
    if root.exists():
        import json

        try:
            meta = json.loads(root.read_bytes())
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodeError(f"cannot open Zarr store {path}: its metadata file {root} is "
                              f"corrupt (not JSON: {exc}); rewrite the store from its source"
                              ) from exc
        return isinstance(meta, dict) and meta.get("consolidated_metadata") is not None
    return False


def _open_with_gdal(path: Path, chunks: Any) -> xr.Dataset:
    from .geotiff import open_geotiff

    return open_geotiff(path, chunks)


def _with_grid(obj: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    """The object with fresh grid metadata where it has a grid, and its fill values and
    packing where xarray's writers expect them (:func:`xgeo.nodata.for_writing`)."""
    obj = encodable_metadata(obj)  # stackstac's STAC-property coordinates, as JSON text
    if isinstance(obj, xr.Dataset):
        obj = for_writing(obj)
    else:
        name = obj.name if obj.name is not None else "__xgeo_data__"
        ready = for_writing(obj.to_dataset(name=name))[name]
        obj = ready if obj.name is not None else ready.rename(None)
    try:
        find_spatial_dims(obj)
    except GridError:
        return obj
    if read_crs(obj) is None:
        warnings.warn(
            "writing data without a CRS: call .geo.set_crs(...) first", UserWarning, stacklevel=3
        )
    return write_grid(obj)


def to_netcdf(obj: xr.DataArray | xr.Dataset, path: str | os.PathLike, **kwargs: Any) -> Any:
    """Write netCDF with CF ``grid_mapping``, ``crs_wkt`` and ``GeoTransform``.

    Examples
    --------
    >>> import tempfile, os, xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> path = os.path.join(tempfile.mkdtemp(), "cube.nc")
    >>> _ = xgeo.io.to_netcdf(ds[["ndvi"]], path)
    >>> xgeo.open_dataset(path).geo.crs.to_epsg()
    32633
    """
    return _with_grid(obj).to_netcdf(path, **kwargs)


def to_zarr(
    obj: xr.DataArray | xr.Dataset,
    store: Any,
    *,
    codec: str | None = None,
    codec_options: dict[str, Any] | None = None,
    encoding: dict[str, Any] | None = None,
    resume: bool = False,
    progress: bool | None = None,
    mask: xr.DataArray | str | None = None,
    categorical: Any = None,
    **kwargs: Any,
) -> Any:
    """Write a Zarr v3 store with the grid, optionally video-compressed.

    Dask-backed variables are written block by block with completion markers (see
    :mod:`xgeo.store`): an interrupted write is detected on open and finished with
    ``resume=True`` without redoing written chunks. A new store of in-memory data is written
    the same way (one block per variable): interrupted, it is refused on open and rewritten
    by ``resume=True``. Appends (``append_dim=``) and region writes (``region=``) are
    xarray's writes, under the store's lock (see :mod:`xgeo.appending`).

    Parameters
    ----------
    codec
        None for Zarr's default compression, or a video codec name (``"hevc"``,
        ``"av1"``, ``"vp9"``, ``"ffv1"``) applied to every spatial variable with
        GOP-sized chunks (see :func:`xgeo.compression.video_encoding`).
    codec_options
        Options for the video codec (``crf``, ``lossless``, ``value_range``...).
    encoding
        Per-variable encodings, merged over the codec's.
    resume
        Finish an interrupted write of the same Dataset, whatever
        step it stopped at; refused (:class:`~xgeo.errors.IncompleteStoreError`) when the
        Dataset differs from the interrupted write's (see :mod:`xgeo.store`). Every write
        holds the store's lock: a second writer gets :class:`~xgeo.errors.StoreLockedError`.
    progress
        Progress bar for lazy writes; default: when standard error is a terminal.
    mask
        Pixels to store as missing (e.g. clouds): a boolean DataArray on the data's grid, or
        the name of such a variable in ``obj`` (see :func:`xgeo.compression.apply_mask`).
    categorical
        With ``codec=``: which variables hold classes or masks, stored exactly even when the
        codec is lossy (default: decided per variable, see :mod:`xgeo.categorical`; a list
        of names for exactly those, ``{name: bool}`` for some, ``True``/``False`` for all).
        The decision is recorded in each variable's ``xgeo_kind`` attribute and shown by
        :func:`xgeo.compression.compression_report`.
    **kwargs
        Passed to :meth:`xarray.Dataset.to_zarr` (``mode``, ``zarr_format``...).
        ``consolidated`` (default True) writes consolidated metadata once the write is
        complete, so that a plain ``xarray.open_zarr`` opens the store without a warning.

    Examples
    --------
    >>> import tempfile, os, xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> store = os.path.join(tempfile.mkdtemp(), "cube.zarr")
    >>> _ = xgeo.io.to_zarr(ds[["ndvi"]], store)
    >>> xgeo.open_dataset(store).geo.crs.to_epsg()
    32633
    """
    obj = _with_grid(obj)
    if isinstance(obj, xr.DataArray):
        obj = obj.to_dataset(name=obj.name if obj.name is not None else "data")
    if mask is not None:
        from .compression import apply_mask, resolve_mask

        obj = apply_mask(obj, resolve_mask(obj, mask))
    merged: dict[str, Any] = {}
    if codec is not None:
        from .compression import video_plan

        obj, merged = video_plan(obj, codec, categorical=categorical, **(codec_options or {}))
    for name, enc in (encoding or {}).items():
        merged[name] = {**merged.get(name, {}), **enc}
    if merged:
        from .compression import check_zarr_encoding

        check_zarr_encoding(merged)
        obj = _grid_mapping_to_attrs(obj, merged)
    kwargs.setdefault("zarr_format", 3)
    kwargs.setdefault("consolidated", True)  # at the end of the write: see xgeo.completion
    video = sorted(str(n) for n, enc in merged.items() if "serializer" in enc)
    if kwargs["zarr_format"] == 2 and video:
        raise CodecError(
            f"zarr_format=2 cannot hold the video serializer of {video}: Zarr v2 has no "
            "serializers (and GDAL reads no video-coded array in either version). Write "
            "zarr_format=3 (the default), or give Zarr v2 the numcodecs face yourself: "
            "encoding={name: {'compressors': [xgeo_codecs.VideoCodec(...)]}} without codec=")
    if kwargs["zarr_format"] == 3:
        obj = _variable_length_strings(obj)
    # the codec package's errors surface as xgeo's, and so do an object store's (a URL)
    with codec_errors_as_xgeo(), store_access(store if isinstance(store, str) else ""):
        return _write_zarr(obj, store, merged, resume=resume, progress=progress, **kwargs)


def _write_zarr(
    obj: xr.Dataset,
    store: Any,
    merged: dict[str, Any],
    *,
    resume: bool,
    progress: bool | None,
    **kwargs: Any,
) -> Any:
    adding = kwargs.get("mode") in ("a", "a-", "r+") or "append_dim" in kwargs \
        or "region" in kwargs
    if adding or not isinstance(store, str | os.PathLike):
        # Appends, region writes and zarr Store objects are xarray's own writes (the
        # resumable writer places its blocks from 0 and makes new stores at paths: a lazy
        # append overwrote the first dates and left the new ones empty)
        if resume:
            raise ResumeError("resume=True finishes an interrupted write of a new store at a "
                              "path; it does not apply to appends, region writes or zarr "
                              "Store objects")
        from .completion import quiet_consolidation

        if not isinstance(store, str | os.PathLike):
            with quiet_consolidation():
                return obj.to_zarr(store, encoding=merged or None, **kwargs)
        from .appending import added_write

        return added_write(obj, str(store), merged, kwargs)
    from .store import write_resumable
    from .storestate import with_loaded_coords

    obj = _chunk_like_encoding(with_loaded_coords(obj), merged)
    return write_resumable(
        obj, str(store), encoding=merged or None, resume=resume, progress=progress, **kwargs
    )


def _grid_mapping_to_attrs(ds: xr.Dataset, encoding: dict[str, Any]) -> xr.Dataset:
    """Keep ``grid_mapping`` for variables given an explicit encoding.

    xarray replaces a variable's whole ``.encoding`` by an explicit one (and rejects the
    key there for Zarr), which would drop the link to ``spatial_ref``: carry it in attrs.
    """
    out = ds.copy()
    for name in encoding:
        if name in out.variables and "grid_mapping" in out[name].encoding:
            var = out[name].variable
            var.attrs["grid_mapping"] = var.encoding.pop("grid_mapping")
    return out


def _chunk_like_encoding(ds: xr.Dataset, encoding: dict[str, Any]) -> xr.Dataset:
    """Rechunk lazy variables to their Zarr chunks so each dask block is whole Zarr chunks."""
    out = ds
    for name, enc in encoding.items():
        chunks = enc.get("chunks")
        if chunks is not None and name in ds and ds[name].chunks is not None:
            out[name] = ds[name].chunk(dict(zip(ds[name].dims, chunks, strict=True)))
    return out


def _variable_length_strings(ds: xr.Dataset) -> xr.Dataset:
    """Store text coordinates (band names) as Zarr v3's specified variable-length strings.

    xarray would write fixed-width bytes/UTF-32, which have no Zarr v3 specification.
    """
    text = {
        name: coord.astype(np.dtypes.StringDType())
        for name, coord in ds.coords.items()
        if coord.size
        and (
            coord.dtype.kind == "U"
            or (coord.dtype.kind == "O" and isinstance(coord.values.flat[0], str))
        )
    }
    return ds.assign_coords(text) if text else ds
