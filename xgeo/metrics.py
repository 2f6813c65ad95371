"""Compression metrics, defined once (see ``../shared/BENCHMARKS.md``).

* **bpppb** = stored bytes x 8 / number of values in the original (every value, nodata too).
* **PSNR** = 10 log10(peak^2 / MSE), MSE over *valid* values only (finite, not nodata, not
  masked), peak = max - min of the original valid values over the whole array.
* **max error** = max ``|decoded - original|`` over valid values, in data units.
* **spectral angle** = mean over valid pixels of the angle (degrees) between the original
  and decoded band vectors (pixels valid in every band).

All functions accept NumPy or dask arrays (lazy inputs are reduced in one pass).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from .bands import BAND_DIM as BAND
from .errors import BandMappingError, CompareError, InputTypeError, MissingBandError
from .indices.sensors import resolve_bands
from .nodata import raw_nodata

__all__ = ["bpppb", "error_stats", "psnr", "max_error", "spectral_angle", "compare"]


def bpppb(stored_bytes: int, n_values: int) -> float:
    """Bits per pixel per band.

    Examples
    --------
    >>> bpppb(1000, 8000)
    1.0
    """
    return stored_bytes * 8 / n_values


def _valid(original: Any, nodata: float | None, mask: Any) -> Any:
    valid = np.isfinite(original)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        valid = valid & (original != nodata)
    if mask is not None:
        valid = valid & ~mask
    return valid


def error_stats(
    original: Any, decoded: Any, *, nodata: float | None = None, mask: Any = None
) -> dict[str, float]:
    """PSNR, MSE, max error, peak and valid count of ``decoded`` against ``original``.

    ``mask`` (True = excluded) and ``nodata`` remove values from every statistic. A
    decoded value that is NaN where the original is valid counts as an infinite error.

    Examples
    --------
    >>> a = np.array([0.0, 1.0, 2.0, np.nan])
    >>> s = error_stats(a, a + np.array([0.0, 0.1, 0.0, 0.0]))
    >>> round(s["max_error"], 3), round(s["psnr"], 2)
    (0.1, 30.79)
    """
    import dask

    o = original.astype("float64")
    (values,) = dask.compute(_error_parts(o, decoded.astype("float64"), _valid(o, nodata, mask)))
    return _stats_from_parts(values)


def _error_parts(o: Any, d: Any, valid: Any, axis: Any = None) -> dict[str, Any]:
    """The reductions behind :func:`error_stats` (lazy for dask inputs), over ``axis``:
    squared-error sum, max error, valid count and the valid original's min and max."""
    err = np.where(valid, np.abs(d - o), 0.0)
    err = np.where(valid & ~np.isfinite(d), np.inf, err)
    return {
        "sq": (err**2).sum(axis=axis),
        "max": err.max(axis=axis),
        "n": valid.sum(axis=axis),
        "lo": np.where(valid, o, np.inf).min(axis=axis),
        "hi": np.where(valid, o, -np.inf).max(axis=axis),
    }


def _stats_from_parts(values: dict[str, Any]) -> dict[str, float]:
    """:func:`error_stats`'s result from computed (scalar) :func:`_error_parts`."""
    n = int(values["n"])
    if n == 0:
        return {
            "psnr": math.nan,
            "mse": math.nan,
            "max_error": math.nan,
            "peak": math.nan,
            "valid": 0,
        }
    mse = float(values["sq"]) / n
    peak = float(values["hi"] - values["lo"])
    if mse == 0:
        value = math.inf
    elif peak == 0 or not math.isfinite(mse):
        value = -math.inf if not math.isfinite(mse) else math.nan
    else:
        value = 10 * math.log10(peak**2 / mse)
    return {"psnr": value, "mse": mse, "max_error": float(values["max"]), "peak": peak, "valid": n}


def psnr(original: Any, decoded: Any, **kwargs: Any) -> float:
    """PSNR in dB over valid values; see :func:`error_stats`."""
    return error_stats(original, decoded, **kwargs)["psnr"]


def max_error(original: Any, decoded: Any, **kwargs: Any) -> float:
    """Maximum absolute error over valid values; see :func:`error_stats`."""
    return error_stats(original, decoded, **kwargs)["max_error"]


def spectral_angle(
    original: Any, decoded: Any, *, band_axis: int = 0, nodata: float | None = None,
    mask: Any = None
) -> float:
    """Mean angle in degrees between original and decoded band vectors at valid pixels.

    A pixel counts when every band of it is valid in ``original`` (finite, not ``nodata``,
    not ``mask``-ed; ``mask`` has the arrays' shape, True = excluded) and finite in
    ``decoded``. A zero vector's angle is 0 when both are zero.

    Examples
    --------
    >>> a = np.ones((3, 2, 2))
    >>> spectral_angle(a, a)
    0.0
    """
    import dask

    o = original.astype("float64")
    valid = _valid(o, nodata, mask)
    o, d = (np.moveaxis(x, band_axis, -1) for x in (o, decoded.astype("float64")))
    pixel_ok = np.moveaxis(valid, band_axis, -1).all(axis=-1)
    return _mean(*dask.compute(*_angle_parts(o, d, pixel_ok)))


def _angle_parts(o: Any, d: Any, valid: Any) -> tuple[Any, Any]:
    """Sum of the angles (degrees) and count of the pixels ``valid`` (the band axis last in
    ``o`` and ``d``, none in ``valid``) whose decoded vector is finite; lazy for dask."""
    valid = valid & np.isfinite(o).all(axis=-1) & np.isfinite(d).all(axis=-1)
    dot = np.where(valid, (o * d).sum(axis=-1), 0.0)
    norms = np.where(valid, np.sqrt((o * o).sum(axis=-1) * (d * d).sum(axis=-1)), 1.0)
    cos = np.clip(np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), 1.0), -1.0, 1.0)
    angle = np.where(valid, np.degrees(np.arccos(cos)), 0.0)
    return angle.sum(), valid.sum()


def compare(
    original: Any,
    decoded: Any,
    *,
    band_dim: Hashable | int | None = None,
    nodata: float | None = None,
    mask: Any = None,
    red: Hashable | None = None,
    nir: Hashable | None = None,
    classify: Callable[[np.ndarray], Any] | None = None,
) -> dict[str, Any]:
    """Is ``decoded`` still good for my task? Error metrics of ``decoded`` against ``original``.

    Everything is computed in one pass (one ``dask.compute`` for lazy inputs).

    Parameters
    ----------
    original, decoded
        NumPy or dask arrays with a band axis (``band_dim``: its position), xarray
        DataArrays (``band_dim``: a dim name; default the dim ``"band"`` if there is one),
        or xarray Datasets (each data variable with dims is a band, e.g. ``B2 B3 B4 B8``;
        ``band_dim`` is ignored). Without a band axis the array is one band. ``decoded``
        has ``original``'s shape (an xarray ``decoded`` is transposed to its dims first).
    nodata
        Value marking missing data in ``original``. Default: none for arrays; for xarray
        inputs each band's own ``_FillValue``/``nodata`` attribute in the raw layout
        (:func:`xgeo.nodata.raw_nodata`).
    mask
        True = excluded: an array of ``original``'s shape (its own axis order) or of its
        pixels' shape (no band axis), or a DataArray broadcast over ``original``'s dims.
    red, nir
        Band labels (or positions for arrays) of the red and near-infrared bands for
        ``ndvi_mae``; found from band names (``B04``/``B4``/``red``, ...) when not given.
    classify
        ``classify(bands) -> labels``: ``bands`` a float64 NumPy array ``(band, *pixels)``
        (one dask block at a time for lazy inputs), returning one label per pixel
        (``pixels``' shape). Applied to both arrays for ``class_change``.

    Returns
    -------
    dict
        ``psnr`` (peak = max - min of all valid original values), ``psnr_per_band``
        (``{band: dB}``, each band with its own peak), ``max_error`` and
        ``max_error_per_band`` (data units), ``valid`` (valid values), ``nrmse`` (the RMSE
        of the bands after each is standardised by the std of its valid original values:
        the error a model that standardises its inputs sees) and ``nrmse_per_band`` (each
        band's RMSE / its std; NaN for a constant band), ``spectral_angle``
        (mean degrees over pixels valid in every band; None with one band), ``ndvi_mae``
        (mean ``|NDVI(decoded) - NDVI(original)|`` over pixels valid in red and nir; None
        without them) and ``class_change`` (fraction of pixels valid in every band whose
        label differs; None without ``classify``). Values follow :func:`error_stats`
        (NaN with no valid value; a decoded NaN where data was valid is an infinite error).

    Raises
    ------
    CompareError
        ``original`` and ``decoded`` differ in shape, dims or bands; ``band_dim`` is not an
        axis/dim of them; ``mask`` does not fit; ``classify`` returns the wrong shape.
    MissingBandError
        ``red=``/``nir=`` names a band that is not there.
    InputTypeError
        An input is not an array, DataArray or Dataset.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.uniform(100, 2000, (4, 8, 8))  # bands B2 B3 B4 B8 first
    >>> r = compare(a, a + 1.0, band_dim=0, red=2, nir=3, classify=lambda b: b[3] > b[2])
    >>> r["max_error"], round(r["spectral_angle"], 3) >= 0, r["class_change"] <= 1
    (1.0, True, True)
    >>> sorted(r["psnr_per_band"])
    [0, 1, 2, 3]
    """
    import dask
    import xarray as xr

    o, d, labels, nd, template = _as_bands(original, decoded, band_dim, nodata)
    o = o.astype("float64")
    d = d.astype("float64")
    valid = np.isfinite(o)
    if nd is not None:
        valid = valid & ~(o == nd)
    if mask is not None and not hasattr(mask, "dims"):
        mask = mask if hasattr(mask, "shape") else np.asarray(mask)
        if tuple(mask.shape) == tuple(getattr(original, "shape", ())):  # original's axis order
            if isinstance(original, xr.DataArray):
                mask = xr.DataArray(mask, dims=original.dims)
            elif isinstance(band_dim, int):
                mask = np.moveaxis(mask, band_dim, 0)
    pix_mask = _mask(mask, template, o.shape)
    if pix_mask is not None:
        valid = valid & ~pix_mask
    rest = tuple(range(1, o.ndim))
    parts: dict[str, Any] = {"bands": _error_parts(o, d, valid, axis=rest),
                             "spread": _spread_parts(o, valid, axis=rest)}
    pixel_ok = valid.all(axis=0)
    if len(labels) >= 2:
        parts["angle"] = _angle_parts(np.moveaxis(o, 0, -1), np.moveaxis(d, 0, -1), pixel_ok)
    pair = _red_nir(labels, red, nir, template is None)
    if pair is not None:
        parts["ndvi"] = _ndvi_parts(o, d, valid, *pair)
    if classify is not None:
        parts["classes"] = _class_parts(o, d, pixel_ok, classify)
    (v,) = dask.compute(parts)
    b = v["bands"]
    whole = _stats_from_parts({"sq": b["sq"].sum(), "max": b["max"].max(), "n": b["n"].sum(),
                              "lo": b["lo"].min(), "hi": b["hi"].max()})
    per = [_stats_from_parts({k: b[k][i] for k in b}) for i in range(len(labels))]
    nrmse = _nrmse(b, v["spread"])
    return {
        "psnr": whole["psnr"],
        "psnr_per_band": {lab: s["psnr"] for lab, s in zip(labels, per, strict=True)},
        "max_error": whole["max_error"],
        "max_error_per_band": {lab: s["max_error"] for lab, s in zip(labels, per, strict=True)},
        "valid": whole["valid"],
        "nrmse": nrmse[0],
        "nrmse_per_band": dict(zip(labels, nrmse[1], strict=True)),
        "spectral_angle": _mean(*v["angle"]) if "angle" in v else None,
        "ndvi_mae": _mean(*v["ndvi"]) if "ndvi" in v else None,
        "class_change": _mean(*v["classes"]) if "classes" in v else None,
    }


def _spread_parts(o: Any, valid: Any, axis: Any) -> dict[str, Any]:
    """Sum and sum of squares of the valid original values over ``axis`` (each band's std)."""
    v = np.where(valid, o, 0.0)
    return {"s1": v.sum(axis=axis), "s2": (v * v).sum(axis=axis)}


def _nrmse(b: dict[str, Any], spread: dict[str, Any]) -> tuple[float, list[float]]:
    """The RMSE of the bands standardised by their own std (what a model that standardises
    its inputs sees), and each band's RMSE / std; NaN for a band without valid values or
    with a constant one."""
    per, num, den = [], 0.0, 0
    for n, s1, s2, sq in zip(b["n"], spread["s1"], spread["s2"], b["sq"], strict=True):
        n = int(n)
        mean = float(s1) / n if n else 0.0
        var = float(s2) / n - mean * mean if n else 0.0
        if not var > 0:
            per.append(math.nan)
            continue
        per.append(math.sqrt(float(sq) / n / var))
        num, den = num + float(sq) / var, den + n
    return (math.sqrt(num / den) if den else math.nan), per


def _mean(total: Any, count: Any) -> float:
    return float(total) / int(count) if int(count) else math.nan


def _plain(label: Any) -> Any:
    return label.item() if hasattr(label, "item") else label


def _as_bands(original: Any, decoded: Any, band_dim: Hashable | int | None,
              nodata: float | None) -> tuple[Any, Any, list[Any], Any, Any]:
    """Both inputs as arrays with the band axis first, the band labels, the nodata per band
    (an array broadcasting over the bands, or None) and, for xarray inputs, the band-first
    DataArray the arrays come from (None for arrays: labels are then positions)."""
    import xarray as xr

    nds: list[Any] | None = None
    if isinstance(original, xr.Dataset):
        from .bands import band_array

        names = [n for n, var in original.data_vars.items() if var.ndim]
        if not isinstance(decoded, xr.Dataset):
            raise CompareError(f"decoded is a {type(decoded).__name__}; original is a Dataset: "
                               "pass decoded as a Dataset with the same variables")
        missing = [str(n) for n in names if n not in decoded.data_vars]
        if missing:
            raise CompareError(f"decoded has no variable(s) {missing}; the original's bands are "
                               f"{[str(n) for n in names]}")
        nds = [raw_nodata(original[n]) if nodata is None else nodata for n in names]
        original, decoded = band_array(original, variables=names), band_array(decoded,
                                                                                  variables=names)
        band_dim = BAND
    if isinstance(original, xr.DataArray):
        if not isinstance(decoded, xr.DataArray):
            raise CompareError(f"decoded is a {type(decoded).__name__}; original is a "
                               "DataArray: pass decoded as a DataArray with the same dims")
        if band_dim is None:
            band_dim = BAND if BAND in original.dims else None
        elif isinstance(band_dim, int) and band_dim not in original.dims:
            _check_axis(band_dim, original.ndim)
            band_dim = original.dims[band_dim]
        elif band_dim not in original.dims:
            raise CompareError(f"band_dim={band_dim!r} is not a dim of original {original.dims}; "
                               "name the band dim, or leave band_dim=None for a single band")
        if set(decoded.dims) != set(original.dims):
            raise CompareError(f"decoded has dims {decoded.dims}, original {original.dims}")
        if band_dim is None:
            band_dim = "band" if original.name is None else original.name
            original = original.expand_dims({band_dim: [band_dim]})
            decoded = decoded.expand_dims({band_dim: [band_dim]})
        order = (band_dim, *(x for x in original.dims if x != band_dim))
        original, decoded = original.transpose(*order), decoded.transpose(*order)
        decoded = _aligned(original, decoded)
        labels = ([_plain(x) for x in original[band_dim].values] if band_dim in original.coords
                  else list(range(original.sizes[band_dim])))
        if nds is None:
            nds = [raw_nodata(original) if nodata is None else nodata] * len(labels)
        _same_shape(original, decoded)
        return original.data, decoded.data, labels, _nodata_column(nds, original.ndim), original
    for arg, x in (("original", original), ("decoded", decoded)):
        if not (hasattr(x, "shape") and hasattr(x, "dtype")) or isinstance(x, xr.Dataset):
            raise InputTypeError(f"{arg} is a {type(x).__name__}: pass NumPy/dask arrays, xarray "
                                 "DataArrays or Datasets (both of one kind)")
    _same_shape(original, decoded)
    if band_dim is None:
        o, d = original[None], decoded[None]
    else:
        if not isinstance(band_dim, int):
            raise CompareError(f"band_dim={band_dim!r}: for arrays, give the band axis's position")
        _check_axis(band_dim, original.ndim)
        o, d = np.moveaxis(original, band_dim, 0), np.moveaxis(decoded, band_dim, 0)
    return o, d, list(range(o.shape[0])), _nodata_column([nodata] * o.shape[0], o.ndim), None


def _aligned(original: Any, decoded: Any) -> Any:
    """``decoded`` in the order of the original's labels along each dim both index (the same
    data sorted otherwise compared as a mismatch); CompareError where the labels differ (a
    copy of other dates compared as a perfect match)."""
    for dim in original.dims:
        if dim not in original.indexes or dim not in decoded.indexes:
            continue
        want, got = original.indexes[dim], decoded.indexes[dim]
        if want.equals(got):
            continue
        if len(want) == len(got) and want.sort_values().equals(got.sort_values()):
            decoded = decoded.reindex({dim: want})
            continue
        extra = [str(v) for v in got.difference(want)[:3]]
        raise CompareError(
            f"decoded's {dim!r} labels differ from the original's (e.g. {extra}): compare the "
            "same bands, dates and pixels (select them on both, or pass arrays to compare by "
            "position)")
    return decoded


def _check_axis(axis: int, ndim: int) -> None:
    if not -ndim <= axis < ndim:
        raise CompareError(f"band_dim={axis} is not an axis of a {ndim}-d array")


def _same_shape(o: Any, d: Any) -> None:
    if tuple(o.shape) != tuple(d.shape):
        raise CompareError(f"decoded has shape {tuple(d.shape)}, original {tuple(o.shape)}: "
                           "compare the same bands, dates and pixels")


def _nodata_column(nds: list[Any], ndim: int) -> Any:
    if all(v is None or (isinstance(v, float) and math.isnan(v)) for v in nds):
        return None
    col = np.array([np.nan if v is None else float(v) for v in nds], dtype="float64")
    return col.reshape((-1,) + (1,) * (ndim - 1))  # NaN never equals: no exclusion


def _mask(mask: Any, template: Any, shape: tuple[int, ...]) -> Any:
    """``mask`` as a boolean array broadcasting over the band-first ``shape``."""
    import xarray as xr

    if mask is None:
        return None
    if isinstance(mask, xr.DataArray):
        if template is None:
            raise CompareError("mask is a DataArray: pass original as xarray too, or mask as an "
                               "array of original's shape")
        if not set(mask.dims) <= set(template.dims):
            raise CompareError(f"mask has dims {mask.dims} that original {template.dims} lacks")
        mask = mask.broadcast_like(template).transpose(*template.dims).data
    if not hasattr(mask, "shape"):
        mask = np.asarray(mask)
    mshape = tuple(mask.shape)
    if mshape == shape:
        return mask.astype(bool)
    if mshape == shape[1:]:
        return mask.astype(bool)[None]
    raise CompareError(f"mask has shape {mshape}: give original's shape {shape} (bands first) "
                       f"or the pixels' shape {shape[1:]}")


def _red_nir(labels: list[Any], red: Any, nir: Any, positions: bool) -> tuple[int, int] | None:
    """Positions of the red and nir bands: as given, else found by band names, else None."""
    if red is None or nir is None:
        found: dict[str, Any] = {}
        if not positions and all(isinstance(x, str) for x in labels):
            try:
                found = resolve_bands(labels, needed=["R", "N"])[0]
            except BandMappingError:
                found = {}
        red = found.get("R") if red is None else red
        nir = found.get("N") if nir is None else nir
        if red is None or nir is None:
            return None
    out = []
    for arg, lab in (("red", red), ("nir", nir)):
        if lab not in labels:
            raise MissingBandError(f"{arg}={lab!r} is not a band; bands are {labels}")
        out.append(labels.index(lab))
    return out[0], out[1]


def _ndvi_parts(o: Any, d: Any, valid: Any, r: int, n: int) -> tuple[Any, Any]:
    ok = valid[r] & valid[n]
    with np.errstate(divide="ignore", invalid="ignore"):
        vo = (o[n] - o[r]) / (o[n] + o[r])
        vd = (d[n] - d[r]) / (d[n] + d[r])
    ok = ok & np.isfinite(vo)
    err = np.where(ok, np.abs(vd - vo), 0.0)
    err = np.where(ok & ~np.isfinite(vd), np.inf, err)
    return err.sum(), ok.sum()


def _class_parts(o: Any, d: Any, pixel_ok: Any, classify: Callable[[np.ndarray], Any]
                 ) -> tuple[Any, Any]:
    def labels(bands: Any) -> Any:
        out = np.asarray(classify(np.asarray(bands)))
        if out.shape != bands.shape[1:]:
            raise CompareError(f"classify returned labels of shape {out.shape} for bands of "
                               f"shape {bands.shape}: return one label per pixel, shape "
                               f"{bands.shape[1:]}")
        return out

    if isinstance(o, np.ndarray) and isinstance(d, np.ndarray):
        changed = labels(o) != labels(d)
    else:
        import dask.array as da

        o, d = (da.asarray(x).rechunk({0: -1}) for x in (o, d))
        meta = np.empty((0,) * (o.ndim - 1), dtype="int64")  # classify never sees empty blocks
        lo = o.map_blocks(labels, drop_axis=0, meta=meta)
        ld = d.map_blocks(labels, drop_axis=0, meta=meta)
        changed = lo != ld
    changed = np.where(pixel_ok, changed, False)
    return changed.sum(), pixel_ok.sum()
