"""Numba kernels that resample at one source point per output pixel: nearest and the
interpolating kernels (bilinear, cubic, lanczos). Rules: :mod:`xgeo.reproject.kernels`."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ._lattice import row_coords
from ._rules import is_invalid, store, store_source

__all__ = ["InterpKernel", "copy_kernel", "nearest_kernel", "interp_kernel", "bilinear_kernel"]


class InterpKernel(NamedTuple):
    """An interpolating kernel: ``kind`` 0 bilinear, 1 cubic, 2 lanczos; its ``radius`` in
    source pixels at scale 1; the output/source ``xscale``, ``yscale`` (below 1 the kernel
    is stretched by ``1/scale``).

    Examples
    --------
    >>> InterpKernel(1, 2, 1.0, 0.5).radius
    2
    """

    kind: int
    radius: int
    xscale: float
    yscale: float


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
def nearest_kernel(src, lat, dst, rules):
    """Nearest neighbour: ``dst.out`` from the source window ``src`` (all NamedTuples)."""
    # One row per parallel iteration; the row body is its own function so numba's
    # parfor pass never sees (and never mis-privatises) its conditional variables.
    for i in prange(dst.out.shape[1]):
        _nearest_row(i, src, lat, dst, rules)


@njit(cache=True)
def _nearest_row(i, src, lat, dst, rules):
    out = dst.out
    data = src.data
    fill = rules.fill
    nb, h, w = out.shape
    wh, ww = data.shape[1], data.shape[2]
    bx = np.empty(w)
    by = np.empty(w)
    colx = np.empty(lat.tile + 1)
    coly = np.empty(lat.tile + 1)
    row_coords(dst.row0 + i, dst.col0, w, lat, bx, by, colx, coly)
    for j in range(w):
        x = bx[j]
        y = by[j]
        ok = x >= 0.0 and y >= 0.0
        if ok:
            ix = int(math.floor(x + 1e-10))
            iy = int(math.floor(y + 1e-10))
            ok = ix < src.width and iy < src.height
        if not ok:
            for b in range(nb):
                out[b, i, j] = fill
            continue
        lx = ix - src.col0
        ly = iy - src.row0
        if lx < 0 or ly < 0 or lx >= ww or ly >= wh:
            dst.miss[i] += 1
            continue
        for b in range(nb):
            store_source(out, b, i, j, data[b, ly, lx], rules)


@njit(cache=True)
def copy_kernel(data, out, rules):
    """Nearest on the same pixels: ``out[b, i, j]`` from ``data[b, i, j]`` (same shape), with
    the nearest kernel's rules (nodata/NaN to the fill, clamping, the nudge off the fill)."""
    nb, h, w = out.shape
    for b in range(nb):
        for i in range(h):
            for j in range(w):
                store_source(out, b, i, j, data[b, i, j], rules)


# ------------------------------------------------------------ interpolating
@njit(cache=True, parallel=True)
def interp_kernel(src, lat, dst, rules, kernel):
    """Bilinear, cubic or lanczos (``kernel``, an :class:`InterpKernel`) at any scale."""
    for i in prange(dst.out.shape[1]):
        _interp_row(i, src, lat, dst, rules, kernel)


@njit(cache=True)
def _interp_row(i, src, lat, dst, rules, kernel):
    out = dst.out
    data = src.data
    fill = rules.fill
    src_row0 = src.row0
    src_col0 = src.col0
    src_h = src.height
    src_w = src.width
    kind = kernel.kind
    radius = kernel.radius
    xscale = kernel.xscale
    yscale = kernel.yscale
    nb, h, w = out.shape
    wh, ww = data.shape[1], data.shape[2]
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
    colx = np.empty(lat.tile + 1)
    coly = np.empty(lat.tile + 1)
    row_coords(dst.row0 + i, dst.col0, w, lat, px, py, colx, coly)
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
            dst.miss[i] += 1
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
            if is_invalid(data[b, iy - src_row0, ix - src_col0], rules):
                out[b, i, j] = fill
                continue
            acc = 0.0
            ws = 0.0
            for yy in range(uy0, uy1):
                wyv = wy[yy - uy0]
                row = yy - src_row0
                for xx in range(ux0, ux1):
                    v = data[b, row, xx - src_col0]
                    if not is_invalid(v, rules):
                        wgt = wyv * wx[xx - ux0]
                        acc += wgt * v
                        ws += wgt
            if ws < 1e-6:
                out[b, i, j] = fill
            else:
                value = acc if abs(ws - 1.0) <= 1e-6 else acc / ws
                store(out, b, i, j, value, rules)


@njit(cache=True, parallel=True)
def bilinear_kernel(src, lat, dst, rules):
    """Bilinear when the output is not coarser than the source (both scales >= 1)."""
    for i in prange(dst.out.shape[1]):
        _bilinear_row(i, src, lat, dst, rules)


@njit(cache=True)
def _bilinear_row(i, src, lat, dst, rules):
    # The 2 x 2 case of _interp_row (scale >= 1) written out: same weights and rules.
    out = dst.out
    data = src.data
    fill = rules.fill
    src_h = src.height
    src_w = src.width
    nb, h, w = out.shape
    wh, ww = data.shape[1], data.shape[2]
    bx = np.empty(w)
    by = np.empty(w)
    colx = np.empty(lat.tile + 1)
    coly = np.empty(lat.tile + 1)
    row_coords(dst.row0 + i, dst.col0, w, lat, bx, by, colx, coly)
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
        lx = x0 - src.col0
        ly = y0 - src.row0
        if ((in_x0 and lx < 0) or (in_y0 and ly < 0) or (in_x1 and lx + 1 >= ww)
                or (in_y1 and ly + 1 >= wh)):
            dst.miss[i] += 1
            continue
        w00 = (1.0 - dy) * (1.0 - dx)
        w01 = (1.0 - dy) * dx
        w10 = dy * (1.0 - dx)
        w11 = dy * dx
        for b in range(nb):
            centre = data[b, iy - src.row0, ix - src.col0]
            if is_invalid(centre, rules):
                out[b, i, j] = fill
                continue
            acc = 0.0
            ws = 0.0
            if in_y0:
                if in_x0:
                    v = data[b, ly, lx]
                    if not is_invalid(v, rules):
                        acc += w00 * v
                        ws += w00
                if in_x1:
                    v = data[b, ly, lx + 1]
                    if not is_invalid(v, rules):
                        acc += w01 * v
                        ws += w01
            if in_y1:
                if in_x0:
                    v = data[b, ly + 1, lx]
                    if not is_invalid(v, rules):
                        acc += w10 * v
                        ws += w10
                if in_x1:
                    v = data[b, ly + 1, lx + 1]
                    if not is_invalid(v, rules):
                        acc += w11 * v
                        ws += w11
            if ws < 1e-6:
                out[b, i, j] = fill
            else:
                value = acc if abs(ws - 1.0) <= 1e-6 else acc / ws
                store(out, b, i, j, value, rules)
