"""Compiled per-pixel reductions of one time group, and their pure-NumPy references.

Every kernel takes the observations of one group as a 2-D array ``(time, pixels)`` (any
real dtype; a channel axis is folded into ``pixels``), a boolean user mask ``(time, m)``
(True = invalid; pixel ``p`` reads mask column ``p % m``, so a ``(time, y*x)`` cloud mask
serves every band of a ``(time, band*y*x)`` block; a ``(0, 1)`` array means "no mask") and
the raw nodata value (NaN when there is none). An observation is valid when it is not
masked, not NaN and not equal to the nodata value. Arithmetic is in float64.

The references (``*_reference``) compute the same results with NumPy's NaN-aware
functions; the tests check the kernels against them on real cubes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "NO_MASK", "PARALLEL_MIN", "best_ndvi", "best_ndvi_reference", "invalid_reference", "mean", "mean_reference",
    "median", "median_reference",
]

#: The mask argument meaning "no user mask".
NO_MASK = np.zeros((0, 1), dtype=np.bool_)

_SMALL = 48  # up to this many values a pixel is sorted by insertion, else by np.sort

#: Arrays of at least this many values are reduced on numba's threads (smaller ones in the
#: calling thread: a parallel region's start-up costs more than it saves on them).
PARALLEL_MIN = 1 << 20


@njit(cache=True, nogil=True, inline="always")
def _valid(value: float, fill: float) -> bool:
    return value == value and value != fill


@njit(cache=True, nogil=True)
def _median_range(values, mask, fill, out, count, start, stop):  # pragma: no cover - compiled
    n_time = values.shape[0]
    n_mask = mask.shape[1]
    masked = mask.shape[0] > 0
    buf = np.empty(n_time, np.float64)
    for p in range(start, stop):
        n = 0
        for t in range(n_time):
            if masked and mask[t, p % n_mask]:
                continue
            v = np.float64(values[t, p])
            if not _valid(v, fill):
                continue
            buf[n] = v
            n += 1
        count[p] = n
        if n == 0:
            out[p] = np.nan
            continue
        if n <= _SMALL:
            for i in range(1, n):
                v = buf[i]
                j = i
                while j > 0 and buf[j - 1] > v:
                    buf[j] = buf[j - 1]
                    j -= 1
                buf[j] = v
        else:
            buf[:n].sort()
        h = n // 2
        out[p] = buf[h] if n % 2 else 0.5 * (buf[h - 1] + buf[h])


@njit(cache=True, nogil=True)
def _mean_range(values, mask, fill, out, count, start, stop):  # pragma: no cover - compiled
    n_time = values.shape[0]
    n_mask = mask.shape[1]
    masked = mask.shape[0] > 0
    for p in range(start, stop):
        n = 0
        total = 0.0
        for t in range(n_time):
            if masked and mask[t, p % n_mask]:
                continue
            v = np.float64(values[t, p])
            if not _valid(v, fill):
                continue
            total += v
            n += 1
        count[p] = n
        out[p] = total / n if n else np.nan


@njit(cache=True, nogil=True)
def _best_range(red, nir, mask, fill_red, fill_nir, best, count, start, stop
                ):  # pragma: no cover - compiled
    n_time = red.shape[0]
    n_mask = mask.shape[1]
    masked = mask.shape[0] > 0
    for p in range(start, stop):
        n = 0
        top = -np.inf
        where = -1
        for t in range(n_time):
            if masked and mask[t, p % n_mask]:
                continue
            r = np.float64(red[t, p])
            q = np.float64(nir[t, p])
            if not (_valid(r, fill_red) and _valid(q, fill_nir)):
                continue
            s = q + r
            if s == 0.0:
                continue
            v = (q - r) / s
            if v != v:
                continue
            n += 1
            if v > top or where < 0:
                top = v
                where = t
        best[p] = where
        count[p] = n


@njit(cache=True, nogil=True, parallel=True)
def _median_parallel(values, mask, fill, out, count):  # pragma: no cover - compiled
    n_pix = values.shape[1]
    pieces = max(1, min(n_pix, 256))
    for k in prange(pieces):
        _median_range(values, mask, fill, out, count, k * n_pix // pieces,
                      (k + 1) * n_pix // pieces)


@njit(cache=True, nogil=True, parallel=True)
def _mean_parallel(values, mask, fill, out, count):  # pragma: no cover - compiled
    n_pix = values.shape[1]
    pieces = max(1, min(n_pix, 256))
    for k in prange(pieces):
        _mean_range(values, mask, fill, out, count, k * n_pix // pieces,
                    (k + 1) * n_pix // pieces)


@njit(cache=True, nogil=True, parallel=True)
def _best_parallel(red, nir, mask, fill_red, fill_nir, best, count):  # pragma: no cover
    n_pix = red.shape[1]
    pieces = max(1, min(n_pix, 256))
    for k in prange(pieces):
        _best_range(red, nir, mask, fill_red, fill_nir, best, count, k * n_pix // pieces,
                    (k + 1) * n_pix // pieces)


def _use_threads(values: np.ndarray, parallel: bool | None) -> bool:
    return values.size >= PARALLEL_MIN if parallel is None else parallel


def median(values: np.ndarray, mask: np.ndarray, fill: float, out: np.ndarray,
           count: np.ndarray, parallel: bool | None = None) -> None:
    """NaN-aware median of each column of ``values`` into ``out`` (float64, the mean of the
    two middle values for an even count, NaN for none); valid counts into ``count``.

    ``parallel``: spread the pixels over numba's threads (default: for :data:`PARALLEL_MIN`
    values or more; inside dask tasks, which already run in parallel, pass False).

    Examples
    --------
    >>> v = np.array([[1.0, 5.0], [np.nan, 7.0], [3.0, 0.0]], np.float32)
    >>> out, cnt = np.empty(2), np.empty(2, np.int64)
    >>> median(v, NO_MASK, 0.0, out, cnt)  # 0 is nodata here
    >>> out.tolist(), cnt.tolist()
    ([2.0, 6.0], [2, 2])
    """
    if _use_threads(values, parallel):
        _median_parallel(values, mask, fill, out, count)
    else:
        _median_range(values, mask, fill, out, count, 0, values.shape[1])


def mean(values: np.ndarray, mask: np.ndarray, fill: float, out: np.ndarray,
         count: np.ndarray, parallel: bool | None = None) -> None:
    """NaN-aware mean of each column of ``values`` into ``out``; valid counts into ``count``
    (``parallel`` as in :func:`median`).

    Examples
    --------
    >>> v = np.array([[1.0, 5.0], [np.nan, 7.0]])
    >>> out, cnt = np.empty(2), np.empty(2, np.int64)
    >>> mean(v, np.array([[False, True], [False, False]]), np.nan, out, cnt)
    >>> out.tolist(), cnt.tolist()
    ([1.0, 7.0], [1, 1])
    """
    if _use_threads(values, parallel):
        _mean_parallel(values, mask, fill, out, count)
    else:
        _mean_range(values, mask, fill, out, count, 0, values.shape[1])


def best_ndvi(red: np.ndarray, nir: np.ndarray, mask: np.ndarray, fill_red: float,
              fill_nir: float, best: np.ndarray, count: np.ndarray,
              parallel: bool | None = None) -> None:
    """Per column, the row of the largest NDVI ``(nir - red) / (nir + red)`` (first of ties,
    -1 if none is valid) into ``best``; the number of valid NDVI values into ``count``
    (``parallel`` as in :func:`median`).

    Examples
    --------
    >>> red = np.array([[0.1, 0.2], [0.05, 0.2]])
    >>> nir = np.array([[0.3, 0.2], [0.3, np.nan]])
    >>> best, cnt = np.empty(2, np.int64), np.empty(2, np.int64)
    >>> best_ndvi(red, nir, NO_MASK, np.nan, np.nan, best, cnt)
    >>> best.tolist(), cnt.tolist()
    ([1, 0], [2, 1])
    """
    if _use_threads(red, parallel):
        _best_parallel(red, nir, mask, fill_red, fill_nir, best, count)
    else:
        _best_range(red, nir, mask, fill_red, fill_nir, best, count, 0, red.shape[1])


# -- references ------------------------------------------------------------------------------


def invalid_reference(values: np.ndarray, mask: np.ndarray, fill: float) -> np.ndarray:
    """Boolean ``(time, pixels)``: True where an observation is masked, NaN or nodata."""
    v = values.astype(np.float64)
    bad = np.isnan(v) | (v == fill)
    if mask.shape[0]:
        reps = values.shape[1] // mask.shape[1]
        bad |= np.tile(mask.astype(bool), (1, reps))
    return bad


def median_reference(values: np.ndarray, mask: np.ndarray, fill: float) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    """``(median, count)`` per column with :func:`numpy.nanmedian` (float64)."""
    bad = invalid_reference(values, mask, fill)
    v = np.where(bad, np.nan, values.astype(np.float64))
    count = (~bad).sum(axis=0)
    out = np.full(values.shape[1], np.nan)
    some = count > 0
    out[some] = np.nanmedian(v[:, some], axis=0)
    return out, count


def mean_reference(values: np.ndarray, mask: np.ndarray, fill: float) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """``(mean, count)`` per column with :func:`numpy.nanmean` (float64)."""
    bad = invalid_reference(values, mask, fill)
    v = np.where(bad, np.nan, values.astype(np.float64))
    count = (~bad).sum(axis=0)
    out = np.full(values.shape[1], np.nan)
    some = count > 0
    out[some] = np.nanmean(v[:, some], axis=0)
    return out, count


def best_ndvi_reference(red: np.ndarray, nir: np.ndarray, mask: np.ndarray, fill_red: float,
                        fill_nir: float) -> tuple[np.ndarray, np.ndarray]:
    """``(best row or -1, count)`` per column with :func:`numpy.nanargmax` of the NDVI."""
    r = red.astype(np.float64)
    q = nir.astype(np.float64)
    bad = invalid_reference(red, mask, fill_red) | invalid_reference(nir, NO_MASK, fill_nir)
    bad |= (q + r) == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = np.where(bad, np.nan, (q - r) / (q + r))
    count = (~np.isnan(ndvi)).sum(axis=0)
    best = np.full(red.shape[1], -1, dtype=np.int64)
    some = count > 0
    best[some] = np.nanargmax(ndvi[:, some], axis=0)
    return best, count
