"""Video compression of datacubes in Zarr v3: encodings, misuse checks and size reports.

The codec itself lives in the ``xgeo-codecs`` distribution (:mod:`xgeo_codecs`, registered
as ``"xgeo.video"``); this module chooses, per variable of an xarray Dataset, the codec
parameters and the chunk shape (:mod:`xgeo.chunkshape`: a group of pictures along time,
the bands coded together, 256 x 256 pixels), and reports what a store costs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import xarray as xr
import zarr
from xgeo_codecs import CODEC_ID, VideoCodec, VideoParams, VideoSerializer, chunk_info
from xgeo_codecs import CodecError as _CodecsError
from xgeo_codecs.autotools import used as tools_used

from .categorical import CategoricalSpec, Decision, categorical_variables
from .chunkshape import DEFAULT_TILE, FRAME_DIM_NAMES, check_chunk_size, chunk_shape, frame_dim_of
from .crs import find_spatial_dims
from .errors import CodecError, chunk_codec_error, codec_errors_as_xgeo
from .lossless import kind_label, lossless_choice, record_kinds, zstd_codec
from .nodata import as_unsigned
from .validity import disagreeing_dim

log = logging.getLogger(__name__)

CODECS = ("hevc", "av1", "vp9", "ffv1")
def _fill_value(var: xr.DataArray) -> Any:
    """The variable's ``_FillValue`` as stored (:func:`_cf_packing`'s, else the attrs'): the
    codec's ``nodata``, the Zarr fill value and the value :func:`apply_mask` writes into masked
    integer pixels, so they always agree."""
    return _cf_packing(var).get("_FillValue", var.attrs.get("_FillValue"))


def _cf_packing(var: xr.DataArray) -> dict[str, Any]:
    """The variable's CF packing (``dtype``, ``scale_factor``, ``add_offset``, ``_FillValue``
    from its ``.encoding``) as the video codec stores it: netCDF-3's ``_Unsigned`` data as
    their unsigned type (:func:`xgeo.nodata.as_unsigned`; the Zarr encoding keeps no
    ``_Unsigned``)."""
    enc = as_unsigned(var.encoding, var.dtype)
    return {k: enc[k] for k in ("dtype", "scale_factor", "add_offset", "_FillValue") if k in enc}


def apply_mask(ds: xr.Dataset, mask: xr.DataArray, variables: list[Hashable] | None = None
               ) -> xr.Dataset:
    """Mark the pixels of a user mask (e.g. clouds) as missing in every spatial variable.

    Float variables get NaN, integer variables their ``_FillValue``. The video codec then
    stores those pixels in its lossless mask, fills them with a smooth blend of their
    neighbours that costs few bits, and leaves them out of the chunk's quality metrics
    (``psnr=``, ``max_error=`` are met on the clear pixels). Lazy when the data are dask.

    Parameters
    ----------
    ds
        The Dataset to be compressed.
    mask
        True / non-zero = masked. Its dimensions must be a subset of each variable's (it
        is broadcast, e.g. a (time, y, x) cloud mask over a (time, band, y, x) cube) with
        the same sizes and coordinates.
    variables
        Variables to mask (default: every variable that has all of the mask's dims,
        categorical ones (see :mod:`xgeo.categorical`) and the mask itself excepted).

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> masked = apply_mask(ds[["ndvi", "cloud_mask"]], ds.cloud_mask)
    >>> bool(masked.ndvi.isnull().sum() > ds.ndvi.isnull().sum())
    True
    """
    m = mask.astype(bool) if mask.dtype != bool else mask
    if variables is not None:
        names = list(variables)
    else:
        candidates = [n for n, v in ds.data_vars.items()
                      if set(m.dims) <= set(v.dims) and n != mask.name]
        kinds = categorical_variables(ds, variables=candidates)
        names = [n for n in candidates if not kinds[n].categorical]
    out = ds.copy()
    for name in names:
        var = ds[name]
        if not set(m.dims) <= set(var.dims):
            raise CodecError(f"mask dims {m.dims} are not all dims of variable {name!r} "
                             f"{var.dims}; pass a mask on the variable's grid")
        d = disagreeing_dim(m, var)
        if d is not None:
            raise CodecError(f"mask and variable {name!r} disagree along {d!r} (sizes "
                             f"{m.sizes[d]} vs {var.sizes[d]} or different coordinates); "
                             "reproject or align the mask to the variable's grid first")
        if var.dtype.kind == "f":
            fill: Any = np.nan
        else:
            fill = _fill_value(var)
            if fill is None:
                raise CodecError(f"variable {name!r} is {var.dtype} with no _FillValue, so "
                                 "masked pixels have no value to take; set "
                                 f"ds[{name!r}].encoding['_FillValue'] or cast it to float")
        # keep the mask's own coordinates out, so alignment never reindexes the data
        mk = m.drop_vars([c for c in m.coords if c not in m.dims])
        masked = var.where(~mk, other=np.asarray(fill).astype(var.dtype)[()])
        out[name] = masked.transpose(*var.dims).astype(var.dtype)
        out[name].attrs = var.attrs
        out[name].encoding = var.encoding
    return out


def resolve_mask(ds: xr.Dataset, mask: xr.DataArray | str) -> xr.DataArray:
    """A mask given as a DataArray, a variable name (non-zero = masked) or
    ``"name=v1,v2"`` (those class values masked, e.g. ``"SCL=3,8,9,10"`` for cloud and
    shadow in a Sentinel-2 scene classification).

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> int(resolve_mask(ds, "cloud_mask").sum()) == int(ds.cloud_mask.sum())
    True
    """
    if isinstance(mask, xr.DataArray):
        return mask
    name, _, values = str(mask).partition("=")
    if name not in ds.variables:
        raise CodecError(f"mask variable {name!r} is not in the dataset; variables: "
                         f"{sorted(map(str, ds.data_vars))}")
    var = ds[name]
    if not values:
        return (var != 0) & var.notnull()
    try:
        classes = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise CodecError(f"mask {mask!r}: class values must be numbers, e.g. "
                         f"'{name}=3,8,9,10'") from None
    return var.isin(classes)


def video_encoding(
    ds: xr.Dataset | xr.DataArray,
    codec: str | None = None,
    *,
    frame_dim: Hashable | None = None,
    chunks: Mapping[Hashable, int] | None = None,
    variables: list[Hashable] | None = None,
    gop: int | None = None,
    tile: int = DEFAULT_TILE,
    band_chunk: int | None = None,
    categorical: CategoricalSpec = None,
    **codec_kwargs: Any,
) -> dict[Hashable, dict[str, Any]]:
    """Per-variable Zarr v3 encoding that stores each spatial variable as video.

    Parameters
    ----------
    ds
        Dataset (or DataArray, keyed by its name) to be written with ``to_zarr``.
    codec
        ``"hevc"`` (lossy x265 12 bit, or a hardware encoder), ``"av1"``, ``"vp9"``, or
        ``"ffv1"`` (lossless). Default: ``"ffv1"`` when ``lossless=True``, else ``"hevc"``.
        ``"hevc"`` with ``lossless=True`` is x265's lossless mode, for data spanning at
        most 4096 values per chunk (12 bit); wider data raise an error naming ``"ffv1"``.
    frame_dim
        Dimension used as video frames (default: ``time`` if present, else the first
        non-spatial dimension). Other non-spatial dims (band, ...) become separate planes.
    chunks
        Chunk sizes per dimension overriding the defaults (``tile`` x ``tile`` pixels; along
        the frames at most ``gop``, spread evenly over the series by
        :func:`~xgeo.chunkshape.frames_per_chunk`; ``band_chunk`` along other dims).
    gop
        The most frames per chunk. Default: by the frame size,
        :func:`~xgeo.chunkshape.frames_for_tile` (32 frames of a full 256 x 256 tile, more
        on smaller frames).
    band_chunk
        Chunk size along non-frame, non-spatial dims (bands). Default for lossy HEVC: all
        bands up to 16, the planes the KLT may rotate (``decorrelate="auto"``, the default,
        measures per chunk whether it pays; reading one band decodes the chunk's others);
        with ``decorrelate=None``: 3, the bands of one 4:4:4 stream (``pack_planes``: +0.4
        to +2 dB at equal rate over one band per chunk on the nrt and L1C cubes); other
        lossy codecs: 1; lossless: all bands up to 16, so that FFV1 can code a band as its
        difference to the previous one (3 % smaller on the eo-learn cube). With per-band
        ``band_weights`` (one number per band): that many bands, all in one chunk.
    variables
        Variables to encode (default: every data variable with both spatial dims and a
        numeric dtype the codec supports).
    categorical
        Which variables hold classes or masks (see :mod:`xgeo.categorical`): None (default)
        decides each by CF flags, dtype and a measurement of the data; ``True``/``False``
        for all; a name or list of names for exactly those; ``{name: bool}`` for those, the
        rest decided. When the request is lossy, categorical variables are stored exactly
        instead, with Zarr's Zstd or FFV1, whichever is smaller on a few trial chunks
        (:func:`xgeo.lossless.lossless_choice`). Each decision is logged (INFO, logger
        ``xgeo.compression``).
    **codec_kwargs
        Parameters of :class:`xgeo_codecs.VideoParams` (``crf``, ``qp``, ``preset``,
        ``lossless``, ``value_range``, ``encoder``, ...). ``nodata`` defaults to the
        variable's ``_FillValue``; integer CF packing (``scale_factor``/``add_offset``/
        ``dtype``) found in ``.encoding`` is kept so the codec sees the stored integers.

    Returns
    -------
    dict
        ``{name: {"serializer": VideoSerializer, "compressors": None, "chunks": ...}}``,
        ready for ``ds.to_zarr(store, encoding=..., zarr_format=3)``.

    Examples
    --------
    >>> import xgeo
    >>> from xgeo.compression import video_encoding
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> enc = video_encoding(ds, "hevc", crf=12)
    >>> enc["reflectance"]["chunks"]  # 5 dates, all 13 bands (the KLT may rotate them)
    (5, 13, 101, 100)
    >>> "cloud_coverage" in enc  # no spatial dims: left to Zarr's default
    False
    >>> enc["lulc"]["serializer"].params.codec  # land-cover classes: exact, FFV1 (measured)
    'ffv1'
    """
    return _encodings(ds, codec, frame_dim=frame_dim, chunks=chunks, variables=variables, gop=gop,
                      tile=tile, band_chunk=band_chunk, categorical=categorical,
                      **codec_kwargs)[0]


def video_plan(
    ds: xr.Dataset | xr.DataArray, codec: str | None = None, *,
    categorical: CategoricalSpec = None, **kwargs: Any,
) -> tuple[xr.Dataset, dict[Hashable, dict[str, Any]]]:
    """:func:`video_encoding`, plus the Dataset to write with it: each encoded variable
    records its decision in ``xgeo_kind`` (``categorical``/``continuous``) and
    ``xgeo_kind_reason`` attributes, which :func:`compression_report` reads back."""
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name if ds.name is not None else "data")
    enc, kinds = _encodings(ds, codec, categorical=categorical, **kwargs)
    return record_kinds(ds, kinds), enc


def _encodings(
    ds: xr.Dataset | xr.DataArray,
    codec: str | None = None,
    *,
    frame_dim: Hashable | None = None,
    chunks: Mapping[Hashable, int] | None = None,
    variables: list[Hashable] | None = None,
    gop: int | None = None,
    tile: int = DEFAULT_TILE,
    band_chunk: int | None = None,
    categorical: CategoricalSpec = None,
    **codec_kwargs: Any,
) -> tuple[dict[Hashable, dict[str, Any]], dict[Hashable, Decision]]:
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name if ds.name is not None else "data")
    codec = ("ffv1" if codec_kwargs.get("lossless") else "hevc") if codec is None else str(
        codec).lower()
    if codec not in CODECS:
        raise CodecError(f"codec={codec!r} is not a video codec; use one of {CODECS}")
    for arg, value in (("gop", gop), ("tile", tile), ("band_chunk", band_chunk)):
        if value is not None:
            check_chunk_size(value, arg)
    for d, n in (chunks or {}).items():
        check_chunk_size(n, f"chunks[{d!r}]")
    y_dim, x_dim = find_spatial_dims(ds)
    names = list(ds.data_vars) if variables is None else list(variables)
    for name in names:
        if name not in ds.data_vars:
            raise CodecError(f"variables= names {name!r}, which is not a data variable; "
                             f"variables: {sorted(map(str, ds.data_vars))}")
    decisions = categorical_variables(ds, categorical, variables=[
        n for n in names if y_dim in ds[n].dims and x_dim in ds[n].dims])
    user_lossless = codec == "ffv1" or bool(codec_kwargs.get("lossless"))
    out: dict[Hashable, dict[str, Any]] = {}
    kinds: dict[Hashable, Decision] = {}
    for name in names:
        var = ds[name]
        if y_dim not in var.dims or x_dim not in var.dims:
            if variables is not None:
                raise CodecError(f"variable {name!r} has no ({y_dim}, {x_dim}) dims; a video "
                                 "codec needs images — leave it out of `variables`")
            continue
        packing = _cf_packing(var)
        stored = np.dtype(packing.get("dtype", var.dtype))
        if stored.kind not in "uif" or stored.itemsize > 8:
            if variables is not None:
                raise CodecError(f"variable {name!r} has dtype {stored}, which the video "
                                 "codec does not store; cast it or leave it out")
            continue
        if var.dims[-2:] != (y_dim, x_dim):
            raise CodecError(
                f"variable {name!r} has dims {var.dims}; the video codec needs "
                f"({y_dim}, {x_dim}) last. Fix: ds[{name!r}] = "
                f"ds[{name!r}].transpose(..., {y_dim!r}, {x_dim!r})")
        fdim = frame_dim_of(var, (y_dim, x_dim), frame_dim)
        exact = decisions[name].categorical and not user_lossless  # lossy asked, kept exact
        lossless = user_lossless or exact
        # all bands in one chunk where the KLT may rotate them ("auto", the default, measures
        # per chunk whether it pays); x265 alone measures it (xgeo_codecs.autotools)
        together = lossless or (codec == "hevc"
                                and codec_kwargs.get("decorrelate", "auto") is not None)
        packs = codec == "hevc" and codec_kwargs.get("pack_planes", True)
        # per-band band_weights weigh the bands of one chunk: all of them in it
        given = codec_kwargs.get("band_weights")
        weighted = isinstance(given, (list, tuple, np.ndarray))
        per_band = band_chunk if band_chunk is not None else (
            len(given) if weighted else 16 if together else 3 if packs else 1)
        want = chunk_shape(var, (y_dim, x_dim), fdim, per_band=per_band, tile=tile, gop=gop,
                           chunks=chunks)
        params = {**codec_kwargs, "codec": codec}
        if codec == "ffv1":
            params["lossless"] = True
        if exact:
            params.update(codec="ffv1", lossless=True)
        if params.get("lossless"):
            for k in ("crf", "qp", "preset", "bit_depth", "value_range", "psnr", "max_error",
                      "bpppb", "decorrelate", "band_weights"):
                params.pop(k, None)
        elif weighted:
            bands = int(np.prod([var.sizes[d] for d in var.dims
                                 if d not in (y_dim, x_dim, fdim)]))
            with codec_errors_as_xgeo("band_weights"):
                VideoParams(band_weights=given)  # weights, whatever they weigh: finite, > 0
            as_frames = fdim is not None and str(fdim).lower() not in FRAME_DIM_NAMES
            if bands == 1 and not (as_frames and len(given) > 1):
                # one band (NDVI beside the weighted reflectance): nothing to weigh against
                params.pop("band_weights")
            elif bands == 1:  # a band dim coded as frames (a GeoTIFF's): the weights were
                raise CodecError(
                    f"band_weights gives {len(given)} weights but variable {name!r} is coded "
                    f"as one band (its {fdim!r} dim is the frame axis: each band a frame), "
                    "so there are no bands to weigh; drop band_weights for it")
            elif len(given) != bands:
                raise CodecError(f"band_weights gives {len(given)} weights but variable "
                                 f"{name!r} has {bands} band(s); give one weight per band, "
                                 "or name the variables it is for with variables=")
        fill = _fill_value(var)
        if "nodata" not in params and fill is not None and not np.isnan(float(fill)):
            params["nodata"] = float(fill) if stored.kind == "f" else int(fill)
        params["frame_axis"] = var.dims.index(fdim) if fdim is not None and var.ndim > 2 else 0
        if params["frame_axis"] == 0 and "frame_axis" not in codec_kwargs:
            params.pop("frame_axis")
        with codec_errors_as_xgeo(f"variable {name!r}"):
            serializer = VideoSerializer(**params)
        enc: dict[str, Any] = {"serializer": serializer, "compressors": None,
                               "chunks": tuple(want[d] for d in var.dims), **packing}
        if stored.kind in "iu" and params.get("nodata") is not None:
            # Zarr pads edge chunks with the array's fill_value (0 unless told): padding that
            # is not the nodata was coded as data, widening an edge chunk's range (a 278-DN
            # scene's edge chunks came back at -4 to 15 dB under psnr=40)
            enc["fill_value"] = params["nodata"]
        how = f"{params['codec']} " + ("lossless" if params.get("lossless") else ", ".join(
            f"{k}={params[k]}" for k in ("psnr", "max_error", "bpppb", "crf", "qp")
            if params.get(k) is not None) or "default quality")
        if exact:
            with codec_errors_as_xgeo(f"variable {name!r}"):
                choice = lossless_choice(var, enc["chunks"], serializer.params)
            how = str(choice)
            if choice.codec == "zstd":
                del enc["serializer"]
                enc["compressors"] = (zstd_codec(),)
        log.info("video_encoding %r: %s -> %s", name, decisions[name], how)
        out[name] = enc
        kinds[name] = decisions[name]
    return out, kinds


def _is_video(obj: Any) -> bool:
    return isinstance(obj, (VideoSerializer, VideoCodec)) or (
        isinstance(obj, Mapping) and str(obj.get("name", obj.get("id", ""))) == CODEC_ID)


def check_zarr_encoding(encoding: Mapping[Hashable, Mapping[str, Any]]) -> None:
    """Raise :class:`~xgeo.errors.CodecError` if a video codec sits in the wrong slot, or a
    chunk size is not a positive integer.

    A video codec turns an *array* into bytes, so in Zarr v3 it is the ``serializer``;
    ``compressors``/``filters`` receive bytes and cannot hold it, and the numcodecs
    :class:`~xgeo_codecs.VideoCodec` is for Zarr v2/numcodecs users, not ``serializer=``.

    Examples
    --------
    >>> from xgeo_codecs import VideoSerializer
    >>> check_zarr_encoding({"ndvi": {"serializer": VideoSerializer(), "compressors": None}})
    >>> try:
    ...     check_zarr_encoding({"ndvi": {"compressors": [VideoSerializer()]}})
    ... except ValueError as err:
    ...     print(str(err)[:47])
    variable 'ndvi': VideoSerializer is passed in c
    """
    for name, enc in encoding.items():
        if not isinstance(enc, Mapping):
            continue
        chunks = enc.get("chunks")
        if chunks is not None:
            for n in (chunks if isinstance(chunks, (list, tuple)) else [chunks]):
                check_chunk_size(n, f"encoding[{name!r}]['chunks']")
        for slot in ("compressors", "compressor", "filters"):
            value = enc.get(slot)
            items = value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if item is not None and _is_video(item):
                    raise CodecError(
                        f"variable {name!r}: {type(item).__name__} is passed in {slot}=, but "
                        "a video codec turns arrays into bytes, so it must be the serializer. "
                        f"Fix: encoding={{{name!r}: {{'serializer': VideoSerializer(...), "
                        "'compressors': None, 'chunks': ...}}}}, or use "
                        "xgeo.compression.video_encoding(ds) / ds.geo.to_zarr(path, "
                        "codec='hevc')")
        ser = enc.get("serializer")
        if isinstance(ser, VideoCodec):
            raise CodecError(
                f"variable {name!r}: VideoCodec is the numcodecs (Zarr v2) face; Zarr v3's "
                "serializer= needs VideoSerializer(**same_arguments)")


def _open_group(ds_or_store: Any) -> zarr.Group:
    if isinstance(ds_or_store, zarr.Group):
        return ds_or_store
    if isinstance(ds_or_store, (xr.Dataset, xr.DataArray)):
        source = ds_or_store.encoding.get("source")
        if source is None:
            raise CodecError("compression_report needs the Zarr store: pass its path or "
                             "zarr.Group (a Dataset does not remember where it was read from)")
        ds_or_store = source
    try:
        if isinstance(ds_or_store, (str, os.PathLike)):
            return zarr.open_group(str(ds_or_store), mode="r")
        return zarr.open_group(ds_or_store, mode="r")
    except (zarr.errors.GroupNotFoundError, FileNotFoundError, ValueError) as err:
        raise CodecError(f"{ds_or_store!r} is not a Zarr store ({err}); pass the path or "
                         "zarr.Group of the store to report on") from err


def _chunk_headers(arr: zarr.Array) -> list[dict[str, Any]]:
    """``chunk_info`` of every stored chunk of a video-coded array."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    store = arr.store_path.store
    prefix = arr.store_path.path
    out = []
    for coords in np.ndindex(*arr.cdata_shape):
        key = arr.metadata.encode_chunk_key(coords)
        buf = sync(store.get(f"{prefix}/{key}" if prefix else key,
                             prototype=default_buffer_prototype()))
        if buf is not None:
            try:
                out.append(chunk_info(buf.to_bytes()))
            except _CodecsError as exc:  # named like a read's: store, variable, chunk
                raise chunk_codec_error(exc, store=store, variable=arr.path,
                                        chunk=key) from exc
    return out


def _tools_summary(headers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Coding tools over the chunks: how many chunks used each combination, and for the
    measured ones (``decorrelate``/``reorder_frames="auto"``) the mean dB each tried tool
    gained and the mean trial cost in encodes of a chunk."""
    used = [tools_used(h) for h in headers if "planes" in h]
    if not used:
        return None
    out: dict[str, Any] = {"chunks": {k: used.count(k) for k in sorted(set(used))}}
    records = [h["tools"] for h in headers if isinstance(h.get("tools"), dict)]
    if records:
        gains: dict[str, list[float]] = {}
        for r in records:
            for name, db in r.get("tried", []):
                gains.setdefault(name, []).append(float(db))
        out["measured_dB_mean"] = {k: float(np.mean(v)) for k, v in gains.items()}
        out["trial_encodes_mean"] = float(np.mean([r.get("cost", 0.0) for r in records]))
    return out


def _quality_summary(headers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Achieved per-chunk quality (format-2 headers) aggregated over the array's chunks."""
    rows = [h["quality"] for h in headers if h.get("quality")]
    if not rows:
        return None
    psnrs = [r["psnr"] for r in rows if r.get("psnr") is not None]
    errs = [r["max_error"] for r in rows if r.get("max_error") is not None]
    angles = [r["spectral_angle"] for r in rows if r.get("spectral_angle") is not None]
    return {
        "chunks": len(rows),
        "psnr_min": min(psnrs) if psnrs else None,
        "psnr_mean": float(np.mean(psnrs)) if psnrs else None,
        "max_error": max(errs) if errs else None,
        "spectral_angle_mean": float(np.mean(angles)) if angles else None,
        "spectral_angle_max": max(angles) if angles else None,
        "chunk_bpppb_mean": float(np.mean([r["bpppb"] for r in rows])),
        "encodes_per_chunk": float(np.mean([r.get("encodes", 1) for r in rows])),
        "target": rows[0].get("target"),
    }


def _chunk_bytes(arr: zarr.Array) -> int:
    """Bytes of every stored chunk of ``arr`` (its metadata and xgeo's chunk records excluded)."""
    from zarr.core.sync import sync

    from .completion import RECORDS_FILE

    store = arr.store_path.store
    prefix = f"{arr.store_path.path}/" if arr.store_path.path else ""

    async def total() -> int:
        n = 0
        async for key in store.list_prefix(prefix):
            rest = key[len(prefix):]
            if (rest and not rest.endswith(("zarr.json", RECORDS_FILE))
                    and "/" not in rest.split("c/", 1)[0]):
                n += await store.getsize(key)
        return n

    return int(sync(total()))


def compression_report(ds_or_store: Any) -> dict[str, dict[str, Any]]:
    """What each array of a Zarr store costs, and how it was coded.

    Returns ``{name: {...}}`` with ``stored_bytes`` (every byte of every chunk, headers and
    masks included), ``raw_bytes``, ``ratio`` (raw / stored), ``bpppb`` (bits per value:
    stored bytes x 8 / number of values), ``codec`` (serializer and compressors in the
    metadata), ``kind`` for video-coded arrays and the variables a video write kept exact
    (``"categorical (lossless)"``, ``"continuous (psnr 50)"``: see :mod:`xgeo.categorical`)
    and, for video-coded arrays, ``encoder`` and ``bit_depth`` read from the first stored
    chunk, the newest ``format_version`` of its chunks, ``headers_deflated`` (how many
    chunks store their header deflated, container format 8), ``masks_context_coded`` (how
    many chunks hold a context-coded mask, format 9), ``tools`` (how many chunks used the
    KLT and frame reordering, and what the ``"auto"`` trials measured: mean dB per tried
    tool, mean trial cost in encodes), and ``quality`` (achieved PSNR
    min/mean, max error, ``spectral_angle_mean``/``spectral_angle_max`` in degrees over the
    chunks of two or more bands, None when no chunk recorded one (single-band chunks, chunks
    written before the angle was recorded), per-chunk bpppb, encodes per chunk, target)
    aggregated over the chunk headers of arrays written with ``psnr=``, ``max_error=``,
    ``bpppb=`` or ``stats=True``. :func:`xgeo.metrics.compare` measures a decoded copy
    against its original (per band, NDVI, a classifier of your own).

    Examples
    --------
    >>> import tempfile, os, xgeo
    >>> from xgeo.compression import compression_report
    >>> ds = xgeo.datasets.sentinel2_cube()[["ndvi"]]
    >>> path = os.path.join(tempfile.mkdtemp(), "c.zarr")
    >>> _ = xgeo.io.to_zarr(ds, path, codec="hevc", codec_options={"crf": 12})
    >>> rep = compression_report(path)
    >>> rep["ndvi"]["encoder"], rep["ndvi"]["ratio"] > 4
    ('libx265', True)
    """
    group = _open_group(ds_or_store)
    report: dict[str, dict[str, Any]] = {}
    for name, arr in sorted(group.arrays()):
        stored = _chunk_bytes(arr)
        raw = int(arr.size) * arr.dtype.itemsize
        meta = arr.metadata.to_dict()
        codecs = [c.get("name") for c in meta.get("codecs", []) if isinstance(c, dict)]
        row: dict[str, Any] = {
            "dtype": str(arr.dtype), "shape": tuple(arr.shape), "chunks": tuple(arr.chunks),
            "stored_bytes": stored, "raw_bytes": raw,
            "ratio": raw / stored if stored else float("inf"),
            "bpppb": stored * 8 / arr.size if arr.size else 0.0,
            "codec": codecs,
        }
        kind = kind_label(dict(arr.attrs),
                          [c for c in meta.get("codecs", []) if isinstance(c, dict)])
        if kind is not None:
            row["kind"] = kind
        if codecs and codecs[0] == CODEC_ID:
            headers = _chunk_headers(arr)
            if headers:
                info = headers[0]
                row.update(encoder=info.get("encoder"), bit_depth=info.get("bit_depth"),
                           format_version=max(h["format_version"] for h in headers),
                           headers_deflated=sum(bool(h.get("header_deflated"))
                                                for h in headers),
                           masks_context_coded=sum(
                               any(len(m) == 3 for m in h.get("masks", [])) for h in headers))
                tools = _tools_summary(headers)
                if tools is not None:
                    row["tools"] = tools
                quality = _quality_summary(headers)
                if quality is not None:
                    row["quality"] = quality
        report[str(name)] = row
    return report
