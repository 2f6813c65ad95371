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
from typing import Any

import numpy as np

__all__ = ["bpppb", "error_stats", "psnr", "max_error", "spectral_angle"]


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
    d = decoded.astype("float64")
    valid = _valid(o, nodata, mask)
    err = np.where(valid, np.abs(d - o), 0.0)
    err = np.where(valid & ~np.isfinite(d), np.inf, err)
    parts = {
        "sq": (err**2).sum(),
        "max": err.max(),
        "n": valid.sum(),
        "lo": np.where(valid, o, np.inf).min(),
        "hi": np.where(valid, o, -np.inf).max(),
    }
    (values,) = dask.compute(parts)
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


def spectral_angle(original: Any, decoded: Any, *, band_axis: int = 0) -> float:
    """Mean angle in degrees between original and decoded band vectors at valid pixels.

    Examples
    --------
    >>> a = np.ones((3, 2, 2))
    >>> spectral_angle(a, a)
    0.0
    """
    import dask

    o = np.moveaxis(original.astype("float64"), band_axis, -1)
    d = np.moveaxis(decoded.astype("float64"), band_axis, -1)
    valid = np.isfinite(o).all(axis=-1) & np.isfinite(d).all(axis=-1)
    dot = np.where(valid, (o * d).sum(axis=-1), 0.0)
    norms = np.where(valid, np.sqrt((o * o).sum(axis=-1) * (d * d).sum(axis=-1)), 1.0)
    cos = np.clip(np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), 1.0), -1.0, 1.0)
    angle = np.where(valid, np.degrees(np.arccos(cos)), 0.0)
    total, count = dask.compute(angle.sum(), valid.sum())
    return float(total) / int(count) if int(count) else math.nan
