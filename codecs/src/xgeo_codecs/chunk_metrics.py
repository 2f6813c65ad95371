"""The statistics a chunk records: which values count, PSNR, MSE, max error, spectral angle.

The minimal in-codec twin of ``xgeo.metrics.error_stats`` and ``spectral_angle`` (the codec
cannot import xgeo; a test checks they agree): PSNR uses the peak ``max - min`` of the
chunk's valid original values, MSE and max error are over valid values only (NaN, +-inf and
``nodata`` excluded). A chunk of two or more planes also records ``spectral_angle``, the mean
angle in degrees between its original and decoded plane vectors (:func:`plane_angle`);
chunks written before it have no such key.
"""

from __future__ import annotations

import math

import numpy as np

from ._values import is_nodata, to_cube

__all__ = ["chunk_stats", "plane_angle", "valid_mask"]


def valid_mask(a: np.ndarray, nodata: float | None) -> np.ndarray:
    """True where a value is data (not NaN, not +-inf, not ``nodata``: those are stored
    exactly in the chunk's masks)."""
    valid = np.ones(a.shape, bool)
    if a.dtype.kind == "f":
        valid &= np.isfinite(a)
    if nodata is not None and not np.isnan(nodata):
        valid &= ~is_nodata(a, nodata)
    return valid


def chunk_stats(orig: np.ndarray, dec: np.ndarray, valid: np.ndarray,
                frame_axis: int | None = None) -> dict[str, float | None]:
    """PSNR (peak = valid max - min), MSE and max abs error over valid values; with
    ``frame_axis``, also ``spectral_angle`` (:func:`plane_angle`).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([0.0, 1.0, 2.0])
    >>> s = chunk_stats(a, a + [0.0, 0.1, 0.0], np.ones(3, bool))
    >>> round(s["max_error"], 3), round(s["psnr"], 2)
    (0.1, 30.79)
    """
    o = orig[valid].astype(np.float64)
    angle = {} if frame_axis is None else {"spectral_angle": plane_angle(orig, dec, valid,
                                                                         frame_axis)}
    if o.size == 0:
        return {"psnr": None, "mse": None, "max_error": None, **angle}
    err = np.abs(dec[valid].astype(np.float64) - o)
    mse = float(np.mean(err * err))
    peak = float(o.max() - o.min())
    psnr = None if mse == 0 else (10 * math.log10(peak * peak / mse) if peak > 0 else None)
    return {"psnr": psnr, "mse": mse, "max_error": float(err.max()), **angle}


def plane_angle(orig: np.ndarray, dec: np.ndarray, valid: np.ndarray, frame_axis: int
                ) -> float | None:
    """Mean spectral angle in degrees between the original and decoded vectors across the
    chunk's planes (the P axis of its (T, P, H, W) cube) at pixels valid in every plane and
    finite when decoded (two zero vectors: 0); None with fewer than two planes or no such
    pixel. The twin of ``xgeo.metrics.spectral_angle``.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.stack([np.ones((2, 2)), np.zeros((2, 2))])[None]  # (T, P, H, W)
    >>> b = np.stack([np.ones((2, 2)), np.ones((2, 2))])[None]
    >>> round(plane_angle(a, b, np.ones(a.shape, bool), 0), 9)
    45.0
    """
    o, v = to_cube(orig, frame_axis)[0], to_cube(valid, frame_axis)[0]
    if o.shape[1] < 2:
        return None
    d = to_cube(dec, frame_axis)[0].astype(np.float64)
    o = o.astype(np.float64)
    ok = v.all(axis=1) & np.isfinite(d).all(axis=1)
    if not ok.any():
        return None
    vo, vd = np.moveaxis(o, 1, -1)[ok], np.moveaxis(d, 1, -1)[ok]
    norms = np.sqrt((vo * vo).sum(-1) * (vd * vd).sum(-1))
    cos = np.ones(norms.shape)
    nz = norms > 0
    cos[nz] = (vo[nz] * vd[nz]).sum(-1) / norms[nz]
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).mean())
