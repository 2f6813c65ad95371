"""Numba kernels that aggregate the source pixels under each output pixel's footprint:
average, mode, min, max, median. Rules: :mod:`xgeo.reproject.kernels`."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._lattice import row_coords
from ._rules import is_invalid, store, store_pick

__all__ = ["AREA_KINDS", "area_kernel"]

AREA_KINDS = {"average": 0, "mode": 1, "min": 2, "max": 3, "median": 4}
"""The ``kind`` argument of :func:`area_kernel` for each area method."""


@njit(cache=True, inline="always")
def _box_overlap(k, lo, hi):
    ov = min(k + 1.0, hi) - max(float(k), lo)
    return ov if ov > 0.0 else 1.0


@njit(cache=True, parallel=True)
def area_kernel(src, lat, dst, rules, kind, max_pixels):
    """Area method ``kind`` (see :data:`AREA_KINDS`) from a *corner* lattice ``lat``;
    ``max_pixels`` sizes the first per-row buffer (it grows when a footprint needs more)."""
    for i in prange(dst.out.shape[1]):
        _area_row(i, src, lat, dst, rules, kind, max_pixels)


@njit(cache=True)
def _area_row(i, src, lat, dst, rules, kind, max_pixels):
    out = dst.out
    data = src.data
    fill = rules.fill
    src_row0 = src.row0
    src_col0 = src.col0
    src_h = src.height
    src_w = src.width
    nb, h, w = out.shape
    wh, ww = data.shape[1], data.shape[2]
    vals = np.empty(max_pixels, data.dtype)  # the source's dtype: integers stay exact
    wts = np.empty(max_pixels)
    # Corner map: output pixel (i, j) spans corners (i, j) (top-left) to (i + 1, j + 1).
    tx = np.empty(w + 1)
    ty = np.empty(w + 1)
    ux = np.empty(w + 1)
    uy = np.empty(w + 1)
    colx = np.empty(lat.tile + 1)
    coly = np.empty(lat.tile + 1)
    row_coords(dst.row0 + i, dst.col0, w + 1, lat, tx, ty, colx, coly)
    row_coords(dst.row0 + i + 1, dst.col0, w + 1, lat, ux, uy, colx, coly)
    for j in range(w):
        x0 = tx[j]
        y0 = ty[j]
        x1 = ux[j + 1]
        y1 = uy[j + 1]
        if not (x0 == x0 and x1 == x1 and y0 == y0 and y1 == y1):
            for b in range(nb):
                out[b, i, j] = fill
            continue
        xmin, xmax = min(x0, x1), max(x0, x1)
        ymin, ymax = min(y0, y1), max(y0, y1)
        if xmax <= 0.0 or ymax <= 0.0 or xmin >= src_w or ymin >= src_h:
            for b in range(nb):
                out[b, i, j] = fill
            continue
        ix0 = int(max(math.floor(xmin + 1e-10), 0.0))
        ix1 = int(min(math.ceil(xmax - 1e-10), float(src_w)))
        iy0 = int(max(math.floor(ymin + 1e-10), 0.0))
        iy1 = int(min(math.ceil(ymax - 1e-10), float(src_h)))
        if ix0 == ix1 and ix1 < src_w:
            ix1 += 1
        if iy0 == iy1 and iy1 < src_h:
            iy1 += 1
        if ix0 >= ix1 or iy0 >= iy1:
            for b in range(nb):
                out[b, i, j] = fill
            continue
        if (ix0 - src_col0 < 0 or iy0 - src_row0 < 0 or ix1 - src_col0 > ww
                or iy1 - src_row0 > wh):
            dst.miss[i] += 1
            continue
        if (ix1 - ix0) * (iy1 - iy0) > vals.size:
            vals = np.empty((ix1 - ix0) * (iy1 - iy0), data.dtype)
            wts = np.empty((ix1 - ix0) * (iy1 - iy0))
        for b in range(nb):
            n = 0
            for yy in range(iy0, iy1):
                wyv = _box_overlap(yy, ymin, ymax)
                for xx in range(ix0, ix1):
                    v = data[b, yy - src_row0, xx - src_col0]
                    if not is_invalid(v, rules):
                        vals[n] = v
                        wts[n] = wyv * _box_overlap(xx, xmin, xmax)
                        n += 1
            if n == 0:
                out[b, i, j] = fill
                continue
            if kind == 0:  # average (in float64); the others pick a value (in its own dtype)
                acc = 0.0
                ws = 0.0
                for k in range(n):
                    acc += vals[k] * wts[k]
                    ws += wts[k]
                store(out, b, i, j, acc / ws, rules)
                continue
            if kind == 2:  # min
                pick = vals[0]
                for k in range(1, n):
                    if vals[k] < pick:
                        pick = vals[k]
            elif kind == 3:  # max
                pick = vals[0]
                for k in range(1, n):
                    if vals[k] > pick:
                        pick = vals[k]
            elif kind == 4:  # median: the lower middle of the sorted valid values
                s = np.sort(vals[:n])
                pick = s[(n - 1) // 2]
            else:  # mode
                pick = _mode(vals, n)
            store_pick(out, b, i, j, pick, rules)


@njit(cache=True)
def _mode(vals, n):
    # gdalwarp counts in row-major scan order and keeps the first value whose count
    # exceeds the best so far: among tied values, the one reaching the top count first.
    order = np.argsort(vals[:n], kind="mergesort")  # stable: equal values keep scan order
    best_count = 0
    best_pos = n
    best = vals[0]
    k = 0
    while k < n:
        m = k
        while m < n and vals[order[m]] == vals[order[k]]:
            m += 1
        count = m - k
        reached = order[m - 1]  # scan position where this value reaches its full count
        if count > best_count or (count == best_count and reached < best_pos):
            best_count = count
            best_pos = reached
            best = vals[order[k]]
        k = m
    return best
