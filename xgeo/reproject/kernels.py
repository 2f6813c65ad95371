"""Numba resampling kernels with gdalwarp's meaning.

All kernels work on a source *window* ``src[b, row, col]`` (leading dims flattened
into ``b``) placed at ``(src_row0, src_col0)`` in the full source raster of size
``(src_h, src_w)``, and fill ``out[b, i, j]`` for the output points starting at
global output pixel ``(dst_row0, dst_col0)``. Source coordinates come from the
:class:`~xgeo.reproject.coords.CoordMap` and are always handled as *global*
values (integer offsets are subtracted only to index), so a pixel's result does
not depend on which window or chunk computes it.

Rules (as gdalwarp, per band):

* a point outside the source raster, or whose containing source pixel is
  nodata/NaN, gives nodata;
* interpolating kernels (bilinear, cubic, lanczos) weight only valid source
  pixels inside the raster and renormalise, so nodata never enters as a value;
  when the output is coarser than the source (scale < 1) the kernel is
  stretched by ``1/scale`` (GDAL does this for scale < 0.95 for bilinear/cubic,
  always for lanczos);
* area methods (average, mode, min, max, median) use the source pixels under
  the output pixel's footprint (its top-left and bottom-right corners mapped
  into the source); average weights them by their fractional overlap;
* integer outputs are rounded half up and clamped to the dtype's range;
* the methods that pick a source value (nearest, mode, min, max, median) keep integers
  exact: an integer source is read, compared and stored in its own dtype, so int64/uint64
  values beyond 2**53 come through unchanged (clamped only to a narrower output dtype), and an
  integer nodata is compared exactly. The methods that compute a value (bilinear, cubic,
  lanczos, average) do it in float64: integers beyond 2**53 are rounded to float64 precision
  (a relative error below 1.2e-16) before being stored.

Pure-NumPy references of the same rules live in :mod:`xgeo.reproject.reference`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange

__all__ = ["METHODS", "INTERP_RADIUS", "warp_block", "coords_block"]

METHODS = ("nearest", "bilinear", "cubic", "lanczos", "average", "mode", "min", "max", "median")
INTERP_RADIUS = {"bilinear": 1, "cubic": 2, "lanczos": 3}
_INTERP_ID = {"bilinear": 0, "cubic": 1, "lanczos": 2}
_AREA_ID = {"average": 0, "mode": 1, "min": 2, "max": 3, "median": 4}


# ----------------------------------------------------------------- coordinates
@njit(cache=True)
def _row_coords(r, c0, npts, tile, tr0, tc0, steps, starts, nx, ny, bx, by, colx, coly):
    """Source coordinates of ``npts`` points of global output row ``r`` from column ``c0``.

    Within a tile the lattice is first interpolated along y (per node column), then
    along x. Every value depends only on the point's global position, never on
    where the segment starts; the loops avoid integer divisions per pixel.
    """
    tr = r // tile
    lr = r - tr * tile
    j = 0
    c = c0
    while j < npts:
        tc = c // tile
        lc = c - tc * tile
        s = steps[tr - tr0, tc - tc0]
        n = tile // s + 1
        base = starts[tr - tr0, tc - tc0]
        seg = min(npts - j, tile - lc)
        if s == 1:
            row = base + lr * n + lc
            for k in range(seg):
                bx[j + k] = nx[row + k]
                by[j + k] = ny[row + k]
        else:
            kr = lr // s
            inv = 1.0 / s  # s is a power of two: exact
            fr = (lr - kr * s) * inv
            gr = 1.0 - fr
            row0 = base + kr * n
            row1 = row0 + n
            kc = lc // s
            for q in range(kc, (lc + seg - 1) // s + 2):
                colx[q] = gr * nx[row0 + q] + fr * nx[row1 + q]
                coly[q] = gr * ny[row0 + q] + fr * ny[row1 + q]
            off = lc - kc * s
            for k in range(seg):
                fc = off * inv
                gc = 1.0 - fc
                bx[j + k] = gc * colx[kc] + fc * colx[kc + 1]
                by[j + k] = gc * coly[kc] + fc * coly[kc + 1]
                off += 1
                if off == s:
                    off = 0
                    kc += 1
        j += seg
        c += seg


@njit(cache=True, parallel=True)
def _coords_kernel(r0, c0, outx, outy, tile, tr0, tc0, steps, starts, nx, ny):
    h, w = outx.shape
    for i in prange(h):
        _coords_row(i, r0, c0, outx, outy, tile, tr0, tc0, steps, starts, nx, ny)


@njit(cache=True)
def _coords_row(i, r0, c0, outx, outy, tile, tr0, tc0, steps, starts, nx, ny):
    colx = np.empty(tile + 1)
    coly = np.empty(tile + 1)
    _row_coords(r0 + i, c0, outx.shape[1], tile, tr0, tc0, steps, starts, nx, ny,
                outx[i], outy[i], colx, coly)


def coords_block(cm, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
    """Source ``(col, row)`` of global output points ``[r0, r1) x [c0, c1)`` of a CoordMap."""
    outx = np.empty((r1 - r0, c1 - c0))
    outy = np.empty((r1 - r0, c1 - c0))
    _coords_kernel(r0, c0, outx, outy, cm.tile, cm.tile_row0, cm.tile_col0, cm.steps, cm.starts,
                   cm.nodes_x, cm.nodes_y)
    return outx, outy


# ---------------------------------------------------------------------- helpers
@njit(cache=True, inline="always")
def _invalid(v, has_nodata, nodata):
    return v != v or (has_nodata and v == nodata)


@njit(cache=True, inline="always")
def _store(out, b, i, j, value, is_int, lo, hi, fill):
    # A valid result equal to the output nodata is nudged off it (as gdalwarp does),
    # so it is never mistaken for a missing pixel.
    if is_int:
        v = np.floor(value + 0.5)
        if v < lo:
            v = lo
        elif v > hi:
            v = hi
        if v == fill:
            v = fill + 1.0 if fill < hi else fill - 1.0
        out[b, i, j] = v
    else:
        if value == fill:
            value = np.nextafter(np.float32(fill), np.float32(np.inf))  # distinct in float32 and 64
        out[b, i, j] = value


@njit(cache=True, inline="always")
def _store_sel(out, b, i, j, v, sel, is_int, lo, hi, fill):
    # A source value picked as is (nearest, mode, min, max, median). ``sel = (exact, lo, hi,
    # fill, fill_in_range, one)`` in the source's dtype: for an integer source and output the value
    # is clamped, nudged off the fill and stored without passing through float64.
    if sel[0]:
        if v < sel[1]:
            v = sel[1]
        elif v > sel[2]:
            v = sel[2]
        if sel[4] and v == sel[3]:
            v = sel[3] + sel[5] if sel[3] < sel[2] else sel[3] - sel[5]
        out[b, i, j] = v
    else:
        _store(out, b, i, j, v, is_int, lo, hi, fill)


@njit(cache=True, inline="always")
def _weight(kind, x):
    ax = abs(x)
    if kind == 0:  # bilinear (triangle)
        return 1.0 - ax if ax < 1.0 else 0.0
    if kind == 1:  # cubic convolution, a = -0.5 (Keys / Catmull-Rom, as GDAL)
        if ax <= 1.0:
            return (1.5 * ax - 2.5) * ax * ax + 1.0
        if ax < 2.0:
            return ((-0.5 * ax + 2.5) * ax - 4.0) * ax + 2.0
        return 0.0
    # lanczos, 3 lobes
    if ax == 0.0:
        return 1.0
    if ax >= 3.0:
        return 0.0
    px = math.pi * ax
    return 3.0 * math.sin(px) * math.sin(px / 3.0) / (px * px)


# ---------------------------------------------------------------------- nearest
@njit(cache=True, parallel=True)
def _nearest(src, src_row0, src_col0, src_h, src_w, out, dst_row0, dst_col0,
             tile, tr0, tc0, steps, starts, nx, ny, has_nodata, nodata, fill, is_int, lo, hi, miss,
             sel):
    # One row per parallel iteration; the row body is its own function so numba's
    # parfor pass never sees (and never mis-privatises) its conditional variables.
    for i in prange(out.shape[1]):
        _nearest_row(i, src, src_row0, src_col0, src_h, src_w, out, dst_row0, dst_col0,
                     tile, tr0, tc0, steps, starts, nx, ny, has_nodata, nodata, fill, is_int, lo, hi, miss,
                     sel)


@njit(cache=True)
def _nearest_row(i, src, src_row0, src_col0, src_h, src_w, out, dst_row0, dst_col0,
                 tile, tr0, tc0, steps, starts, nx, ny, has_nodata, nodata, fill, is_int, lo, hi, miss,
                 sel):
    nb, h, w = out.shape
    wh, ww = src.shape[1], src.shape[2]
    bx = np.empty(w)
    by = np.empty(w)
    colx = np.empty(tile + 1)
    coly = np.empty(tile + 1)
    _row_coords(dst_row0 + i, dst_col0, w, tile, tr0, tc0, steps, starts, nx, ny, bx, by, colx, coly)
    for j in range(w):
        x = bx[j]
        y = by[j]
        ok = x >= 0.0 and y >= 0.0
        if ok:
            ix = int(math.floor(x + 1e-10))
            iy = int(math.floor(y + 1e-10))
            ok = ix < src_w and iy < src_h
        if not ok:
            for b in range(nb):
                out[b, i, j] = fill
            continue
        lx = ix - src_col0
        ly = iy - src_row0
        if lx < 0 or ly < 0 or lx >= ww or ly >= wh:
            miss[i] += 1
            continue
        for b in range(nb):
            v = src[b, ly, lx]
            if _invalid(v, has_nodata, nodata):
                out[b, i, j] = fill
            else:
                _store_sel(out, b, i, j, v, sel, is_int, lo, hi, fill)


# ------------------------------------------------------------ interpolating
@njit(cache=True, parallel=True)
def _interp(src, src_row0, src_col0, src_h, src_w, out, dst_row0, dst_col0,
            tile, tr0, tc0, steps, starts, nx, ny, has_nodata, nodata, fill, is_int, lo, hi, miss,
            kind, radius, xscale, yscale):
    for i in prange(out.shape[1]):
        _interp_row(i, src, src_row0, src_col0, src_h, src_w, out, dst_row0, dst_col0,
                    tile, tr0, tc0, steps, starts, nx, ny, has_nodata, nodata, fill, is_int, lo, hi,
                    miss, kind, radius, xscale, yscale)


@njit(cache=True)
def _interp_row(i, src, src_row0, src_col0, src_h, src_w, out, dst_row0, dst_col0,
                tile, tr0, tc0, steps, starts, nx, ny, has_nodata, nodata, fill, is_int, lo, hi, miss,
                kind, radius, xscale, yscale):
    nb, h, w = out.shape
    wh, ww = src.shape[1], src.shape[2]
    rx = radius if xscale >= 1.0 else int(math.ceil(radius / xscale))
    ry = radius if yscale >= 1.0 else int(math.ceil(radius / yscale))
    sx = min(xscale, 1.0)
    sy = min(yscale, 1.0)
    hx = radius / sx  # the kernel's half-width in source pixels (radius: at scale 1)
    hy = radius / sy
    wx = np.empty(2 * rx)
    wy = np.empty(2 * ry)
    px = np.empty(w)
    py = np.empty(w)
    colx = np.empty(tile + 1)
    coly = np.empty(tile + 1)
    _row_coords(dst_row0 + i, dst_col0, w, tile, tr0, tc0, steps, starts, nx, ny, px, py, colx, coly)
    for j in range(w):
        x = px[j]
        y = py[j]
        ok = x >= 0.0 and y >= 0.0
        if ok:
            ix = int(math.floor(x + 1e-10))
            iy = int(math.floor(y + 1e-10))
            ok = ix < src_w and iy < src_h
        if not ok:
            for b in range(nb):
                out[b, i, j] = fill
            continue
        # Kernel centred on the point, in pixel-centre coordinates.
        cx = x - 0.5
        cy = y - 0.5
        bx = int(math.floor(cx))
        by = int(math.floor(cy))
        kx0 = bx - rx + 1
        ky0 = by - ry + 1
        # Needed source rows/cols clipped to the raster; all must be in the window.
        cx0 = max(kx0, 0)
        cx1 = min(kx0 + 2 * rx, src_w)
        cy0 = max(ky0, 0)
        cy1 = min(ky0 + 2 * ry, src_h)
        if (cx0 - src_col0 < 0 or cy0 - src_row0 < 0 or cx1 - src_col0 > ww
                or cy1 - src_row0 > wh):
            miss[i] += 1
            continue
        # Taps with zero weight add exactly nothing: only the open support interval
        # |tap - centre| < half-width is visited (computed, not searched: no branches).
        ux0 = max(cx0, int(math.floor(cx - hx)) + 1)
        ux1 = min(cx1, int(math.ceil(cx + hx)))
        uy0 = max(cy0, int(math.floor(cy - hy)) + 1)
        uy1 = min(cy1, int(math.ceil(cy + hy)))
        for xx in range(ux0, ux1):
            wx[xx - ux0] = _weight(kind, (xx - cx) * sx)
        for yy in range(uy0, uy1):
            wy[yy - uy0] = _weight(kind, (yy - cy) * sy)
        for b in range(nb):
            if _invalid(src[b, iy - src_row0, ix - src_col0], has_nodata, nodata):
                out[b, i, j] = fill
                continue
            acc = 0.0
            ws = 0.0
            for yy in range(uy0, uy1):
                wyv = wy[yy - uy0]
                row = yy - src_row0
                for xx in range(ux0, ux1):
                    v = src[b, row, xx - src_col0]
                    if not _invalid(v, has_nodata, nodata):
                        wgt = wyv * wx[xx - ux0]
                        acc += wgt * v
                        ws += wgt
            if ws < 1e-6:
                out[b, i, j] = fill
            else:
                value = acc if abs(ws - 1.0) <= 1e-6 else acc / ws
                _store(out, b, i, j, value, is_int, lo, hi, fill)


@njit(cache=True, parallel=True)
def _bilinear(src, src_row0, src_col0, src_h, src_w, out, dst_row0, dst_col0,
              tile, tr0, tc0, steps, starts, nx, ny, has_nodata, nodata, fill, is_int, lo, hi, miss):
    for i in prange(out.shape[1]):
        _bilinear_row(i, src, src_row0, src_col0, src_h, src_w, out, dst_row0, dst_col0,
                      tile, tr0, tc0, steps, starts, nx, ny, has_nodata, nodata, fill, is_int, lo, hi,
                      miss)


@njit(cache=True)
def _bilinear_row(i, src, src_row0, src_col0, src_h, src_w, out, dst_row0, dst_col0,
                  tile, tr0, tc0, steps, starts, nx, ny, has_nodata, nodata, fill, is_int, lo, hi, miss):
    # The 2 x 2 case of _interp_row (scale >= 1) written out: same weights and rules.
    nb, h, w = out.shape
    wh, ww = src.shape[1], src.shape[2]
    bx = np.empty(w)
    by = np.empty(w)
    colx = np.empty(tile + 1)
    coly = np.empty(tile + 1)
    _row_coords(dst_row0 + i, dst_col0, w, tile, tr0, tc0, steps, starts, nx, ny, bx, by, colx, coly)
    for j in range(w):
        x = bx[j]
        y = by[j]
        ok = x >= 0.0 and y >= 0.0
        if ok:
            ix = int(math.floor(x + 1e-10))
            iy = int(math.floor(y + 1e-10))
            ok = ix < src_w and iy < src_h
        if not ok:
            for b in range(nb):
                out[b, i, j] = fill
            continue
        cx = x - 0.5
        cy = y - 0.5
        x0 = int(math.floor(cx))
        y0 = int(math.floor(cy))
        dx = cx - x0
        dy = cy - y0
        in_x0 = x0 >= 0
        in_x1 = x0 + 1 < src_w
        in_y0 = y0 >= 0
        in_y1 = y0 + 1 < src_h
        lx = x0 - src_col0
        ly = y0 - src_row0
        if ((in_x0 and lx < 0) or (in_y0 and ly < 0) or (in_x1 and lx + 1 >= ww)
                or (in_y1 and ly + 1 >= wh)):
            miss[i] += 1
            continue
        w00 = (1.0 - dy) * (1.0 - dx)
        w01 = (1.0 - dy) * dx
        w10 = dy * (1.0 - dx)
        w11 = dy * dx
        for b in range(nb):
            centre = src[b, iy - src_row0, ix - src_col0]
            if _invalid(centre, has_nodata, nodata):
                out[b, i, j] = fill
                continue
            acc = 0.0
            ws = 0.0
            if in_y0:
                if in_x0:
                    v = src[b, ly, lx]
                    if not _invalid(v, has_nodata, nodata):
                        acc += w00 * v
                        ws += w00
                if in_x1:
                    v = src[b, ly, lx + 1]
                    if not _invalid(v, has_nodata, nodata):
                        acc += w01 * v
                        ws += w01
            if in_y1:
                if in_x0:
                    v = src[b, ly + 1, lx]
                    if not _invalid(v, has_nodata, nodata):
                        acc += w10 * v
                        ws += w10
                if in_x1:
                    v = src[b, ly + 1, lx + 1]
                    if not _invalid(v, has_nodata, nodata):
                        acc += w11 * v
                        ws += w11
            if ws < 1e-6:
                out[b, i, j] = fill
            else:
                value = acc if abs(ws - 1.0) <= 1e-6 else acc / ws
                _store(out, b, i, j, value, is_int, lo, hi, fill)


# ---------------------------------------------------------------- area methods
@njit(cache=True, inline="always")
def _box_overlap(k, lo, hi):
    ov = min(k + 1.0, hi) - max(float(k), lo)
    return ov if ov > 0.0 else 1.0


@njit(cache=True, parallel=True)
def _area(src, src_row0, src_col0, src_h, src_w, out, dst_row0, dst_col0,
          tile, tr0, tc0, steps, starts, nx, ny, has_nodata, nodata, fill, is_int, lo, hi, miss,
          sel, kind, max_pixels):
    for i in prange(out.shape[1]):
        _area_row(i, src, src_row0, src_col0, src_h, src_w, out, dst_row0, dst_col0,
                  tile, tr0, tc0, steps, starts, nx, ny, has_nodata, nodata, fill, is_int, lo, hi,
                  miss, sel, kind, max_pixels)


@njit(cache=True)
def _area_row(i, src, src_row0, src_col0, src_h, src_w, out, dst_row0, dst_col0,
              tile, tr0, tc0, steps, starts, nx, ny, has_nodata, nodata, fill, is_int, lo, hi, miss,
              sel, kind, max_pixels):
    nb, h, w = out.shape
    wh, ww = src.shape[1], src.shape[2]
    vals = np.empty(max_pixels, src.dtype)  # the source's dtype: integers stay exact
    wts = np.empty(max_pixels)
    # Corner map: output pixel (i, j) spans corners (i, j) (top-left) to (i + 1, j + 1).
    tx = np.empty(w + 1)
    ty = np.empty(w + 1)
    ux = np.empty(w + 1)
    uy = np.empty(w + 1)
    colx = np.empty(tile + 1)
    coly = np.empty(tile + 1)
    _row_coords(dst_row0 + i, dst_col0, w + 1, tile, tr0, tc0, steps, starts, nx, ny, tx, ty, colx, coly)
    _row_coords(dst_row0 + i + 1, dst_col0, w + 1, tile, tr0, tc0, steps, starts, nx, ny, ux, uy,
                colx, coly)
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
            miss[i] += 1
            continue
        if (ix1 - ix0) * (iy1 - iy0) > vals.size:
            vals = np.empty((ix1 - ix0) * (iy1 - iy0), src.dtype)
            wts = np.empty((ix1 - ix0) * (iy1 - iy0))
        for b in range(nb):
            n = 0
            for yy in range(iy0, iy1):
                wyv = _box_overlap(yy, ymin, ymax)
                for xx in range(ix0, ix1):
                    v = src[b, yy - src_row0, xx - src_col0]
                    if not _invalid(v, has_nodata, nodata):
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
                _store(out, b, i, j, acc / ws, is_int, lo, hi, fill)
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
            _store_sel(out, b, i, j, pick, sel, is_int, lo, hi, fill)


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


# ------------------------------------------------------------------- dispatcher
def warp_block(
    src: np.ndarray,
    src_offset: tuple[int, int],
    src_shape: tuple[int, int],
    out: np.ndarray,
    dst_offset: tuple[int, int],
    cm,
    method: str,
    *,
    nodata: float | None,
    fill: float,
    scale: tuple[float, float] = (1.0, 1.0),
) -> None:
    """Fill ``out[b, h, w]`` (in place) from the source window ``src[b, H, W]``.

    ``cm`` must be a centre map for point methods and a corner map for area methods,
    covering the output points. Raises RuntimeError if the window misses a needed pixel
    (a planner bug, never silently wrong pixels).
    """
    if src.dtype.kind == "b":
        src = src.view(np.uint8)
    is_int = np.issubdtype(out.dtype, np.integer)
    lo, hi = _float_range(out.dtype) if is_int else (0.0, 0.0)
    has_nodata = nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata))
    if src.dtype.kind in "iu":
        # integer nodata compared in the source's dtype (exact); one it cannot hold never matches
        has_nodata = has_nodata and _representable(nodata, src.dtype)
        nd = src.dtype.type(nodata if has_nodata else 0)
    else:
        nd = float(nodata) if has_nodata else 0.0
    if is_int and isinstance(fill, int | np.integer):
        fill = out.dtype.type(fill)  # stored exactly, not through float64
    miss = np.zeros(out.shape[1], dtype=np.int64)
    args = (src, src_offset[0], src_offset[1], src_shape[0], src_shape[1], out, dst_offset[0],
            dst_offset[1], cm.tile, cm.tile_row0, cm.tile_col0, cm.steps, cm.starts, cm.nodes_x,
            cm.nodes_y, has_nodata, nd, fill, is_int, lo, hi, miss)
    if method == "nearest":
        _nearest(*args, _selection(src.dtype, out.dtype, fill))
    elif method == "bilinear" and scale[0] >= 1.0 and scale[1] >= 1.0:
        _bilinear(*args)
    elif method in _INTERP_ID:
        _interp(*args, _INTERP_ID[method], INTERP_RADIUS[method], float(scale[0]), float(scale[1]))
    elif method in _AREA_ID:
        _area(*args, _selection(src.dtype, out.dtype, fill), _AREA_ID[method], 64)
    else:
        raise ValueError(f"unknown resampling {method!r}")
    if miss.any():
        raise RuntimeError(
            f"internal error: {int(miss.sum())} output pixels need source pixels outside the "
            "planned window; please report this with the source and target grids"
        )


def _representable(value: float | int, dtype: np.dtype) -> bool:
    info = np.iinfo(dtype) if dtype.kind in "iu" else None
    return info is None or (value == int(value) and info.min <= int(value) <= info.max)


def _float_range(dtype: np.dtype) -> tuple[float, float]:
    """The integer dtype's range as float64 values inside it (float(2**63 - 1) is 2**63)."""
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    if int(hi) > info.max:
        hi = float(np.nextafter(hi, 0.0))
    return lo, hi


def _selection(src_dtype: np.dtype, out_dtype: np.dtype, fill: Any) -> tuple:
    """``sel`` of :func:`_store_sel`: exact integer storing, with the output range and the
    fill in the source's dtype, when source and output are both integers."""
    t = src_dtype.type
    if src_dtype.kind not in "iu" or out_dtype.kind not in "iu":
        return (False, t(0), t(0), t(0), False, t(1))
    si, oi = np.iinfo(src_dtype), np.iinfo(out_dtype)
    lo, hi = max(si.min, oi.min), min(si.max, oi.max)
    f = int(fill) if float(fill) == int(fill) else None
    hit = f is not None and lo <= f <= hi
    return (True, t(lo), t(hi), t(f if hit else 0), hit, t(1))
