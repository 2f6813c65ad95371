"""Pure-NumPy reference of the resampling rules, for tests (slow, exact transforms).

Each function takes a 2-D source, its :class:`~xgeo.grid.Grid`, an output grid
and returns the output array, computing every source coordinate with pyproj
(no approximation) and applying the rules documented in
:mod:`xgeo.reproject.kernels` with array operations (area methods loop over
pixels, so keep those inputs small).
"""

from __future__ import annotations

import math

import numpy as np
from pyproj import Transformer

from ..grid import Grid

__all__ = ["source_coords", "warp_reference"]


def source_coords(src: Grid, dst: Grid, offset: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Exact corner-based source pixel coordinates of output points (centres by default)."""
    extra = 1 if offset == 0.0 else 0
    rows, cols = np.mgrid[0:dst.height + extra, 0:dst.width + extra].astype("float64")
    x, y = dst.xy(rows, cols, offset=offset)
    tr = Transformer.from_crs(dst.crs, src.crs, always_xy=True)
    with np.errstate(invalid="ignore"):
        sx, sy = tr.transform(x, y, errcheck=False)
    sx, sy = np.asarray(sx, dtype="float64"), np.asarray(sy, dtype="float64")
    if src.crs.is_geographic:
        left, _, right, _ = src.bounds
        centre = 0.5 * (left + right)
        far = np.abs(sx - centre) > 180.0
        sx = np.where(far, sx - 360.0 * np.round((sx - centre) / 360.0), sx)
    row, col = src.rowcol(sx, sy)
    bad = ~(np.isfinite(col) & np.isfinite(row))
    col[bad] = np.nan
    row[bad] = np.nan
    return col, row


def _weights(kind: str, t: np.ndarray) -> np.ndarray:
    at = np.abs(t)
    if kind == "bilinear":
        return np.where(at < 1, 1 - at, 0.0)
    if kind == "cubic":
        near = (1.5 * at - 2.5) * at * at + 1
        far = ((-0.5 * at + 2.5) * at - 4) * at + 2
        return np.where(at <= 1, near, np.where(at < 2, far, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        px = np.pi * at
        lz = np.where(at == 0, 1.0, 3 * np.sin(px) * np.sin(px / 3) / (px * px))
    return np.where(at < 3, lz, 0.0)


def _finish(values: np.ndarray, valid: np.ndarray, dtype: np.dtype, fill: float) -> np.ndarray:
    out = np.full(values.shape, fill, dtype="float64")
    out[valid] = values[valid]
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        rounded = np.clip(np.floor(out + 0.5), info.min, info.max)
        clash = valid & (rounded == fill)
        rounded[clash] = fill + 1 if fill < info.max else fill - 1
        return rounded.astype(dtype)
    return out.astype(dtype)


def warp_reference(
    src: np.ndarray, src_grid: Grid, dst_grid: Grid, method: str, *,
    nodata: float | None = None, fill: float = math.nan, scale: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Reproject a 2-D array with the documented rules, in plain NumPy."""
    data = src.astype("float64")
    invalid = np.isnan(data) if nodata is None else (np.isnan(data) | (data == nodata))
    h, w = src.shape
    if method in ("average", "mode", "min", "max", "median"):
        return _area(data, invalid, src_grid, dst_grid, method, src.dtype, fill)
    x, y = source_coords(src_grid, dst_grid)
    inside = (x >= 0) & (y >= 0)
    ix = np.floor(np.where(inside, x, 0) + 1e-10).astype(int)
    iy = np.floor(np.where(inside, y, 0) + 1e-10).astype(int)
    inside &= (ix < w) & (iy < h)
    ix, iy = np.clip(ix, 0, w - 1), np.clip(iy, 0, h - 1)
    centre_ok = inside & ~invalid[iy, ix]
    if method == "nearest":
        return _finish(data[iy, ix], centre_ok, src.dtype, fill)
    radius = {"bilinear": 1, "cubic": 2, "lanczos": 3}[method]
    sx, sy = min(scale[0], 1.0), min(scale[1], 1.0)
    rx = radius if scale[0] >= 1 else math.ceil(radius / scale[0])
    ry = radius if scale[1] >= 1 else math.ceil(radius / scale[1])
    cx, cy = np.where(inside, x, 0) - 0.5, np.where(inside, y, 0) - 0.5
    bx, by = np.floor(cx).astype(int), np.floor(cy).astype(int)
    dx, dy = cx - bx, cy - by
    acc = np.zeros(x.shape)
    wsum = np.zeros(x.shape)
    for ky in range(-ry + 1, ry + 1):
        yy = by + ky
        wy = _weights(method, (ky - dy) * sy)
        for kx in range(-rx + 1, rx + 1):
            xx = bx + kx
            ok = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
            xc, yc = np.clip(xx, 0, w - 1), np.clip(yy, 0, h - 1)
            ok &= ~invalid[yc, xc]
            wgt = np.where(ok, wy * _weights(method, (kx - dx) * sx), 0.0)
            acc += np.where(ok, wgt * data[yc, xc], 0.0)
            wsum += wgt
    valid = centre_ok & (wsum >= 1e-6)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(np.abs(wsum - 1) <= 1e-6, acc, acc / wsum)
    return _finish(value, valid, src.dtype, fill)


def _area(data, invalid, src_grid, dst_grid, method, dtype, fill):
    h, w = data.shape
    cx, cy = source_coords(src_grid, dst_grid, offset=0.0)
    out = np.zeros(dst_grid.shape)
    valid = np.zeros(dst_grid.shape, dtype=bool)
    for i in range(dst_grid.height):
        for j in range(dst_grid.width):
            x0, y0, x1, y1 = cx[i, j], cy[i, j], cx[i + 1, j + 1], cy[i + 1, j + 1]
            if not np.isfinite([x0, y0, x1, y1]).all():
                continue
            xmin, xmax, ymin, ymax = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
            if xmax <= 0 or ymax <= 0 or xmin >= w or ymin >= h:
                continue
            c0, c1 = max(math.floor(xmin + 1e-10), 0), min(math.ceil(xmax - 1e-10), w)
            r0, r1 = max(math.floor(ymin + 1e-10), 0), min(math.ceil(ymax - 1e-10), h)
            c1 += c0 == c1 and c1 < w
            r1 += r0 == r1 and r1 < h
            if c0 >= c1 or r0 >= r1:
                continue
            block = data[r0:r1, c0:c1]
            good = ~invalid[r0:r1, c0:c1]
            if not good.any():
                continue
            vals = block[good]  # row-major scan order
            if method == "average":
                ox = np.minimum(np.arange(c0, c1) + 1, xmax) - np.maximum(np.arange(c0, c1), xmin)
                oy = np.minimum(np.arange(r0, r1) + 1, ymax) - np.maximum(np.arange(r0, r1), ymin)
                ox, oy = np.where(ox > 0, ox, 1.0), np.where(oy > 0, oy, 1.0)
                wts = (oy[:, None] * ox[None, :])[good]
                out[i, j] = (vals * wts).sum() / wts.sum()
            elif method == "min":
                out[i, j] = vals.min()
            elif method == "max":
                out[i, j] = vals.max()
            elif method == "median":
                out[i, j] = np.sort(vals)[(vals.size - 1) // 2]
            else:  # mode: the value that first reaches the top count in scan order
                counts: dict[float, int] = {}
                best, best_count = vals[0], 0
                for v in vals:
                    counts[v] = counts.get(v, 0) + 1
                    if counts[v] > best_count:
                        best, best_count = v, counts[v]
                out[i, j] = best
            valid[i, j] = True
    return _finish(out, valid, dtype, fill)
