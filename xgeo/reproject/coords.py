"""Where each output pixel comes from: an approximate, chunk-invariant coordinate map.

Exact pyproj transforms are evaluated on a coarse lattice of *nodes* and the
source pixel coordinates of every output pixel are interpolated bilinearly from
them (GDAL's approximate transformer does the same along scanlines). The output
grid is cut into fixed square *transform tiles* of ``tile`` pixels, aligned on the
global output grid. For each tile the node spacing is halved until bilinear
interpolation from the coarser lattice reproduces the finer one to within
``tolerance`` source pixels (default 0.125, GDAL's default); the finer lattice is
then kept. Tiles where a point does not project (off the Earth disc, beyond a
projection's domain) refine down to one node per pixel, i.e. exact transforms.

Because tiles are aligned on the *global* grid and every formula uses global
pixel indices, a pixel's source coordinates are the same bits whether the output
is computed in one piece or chunk by chunk: this is what makes dask results
identical to NumPy results whatever the chunking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyproj import CRS, Transformer

from ..errors import ReprojectionError
from ..grid import Grid
from ._lattice import NodeLattice, coords_block

__all__ = ["CoordMap", "build_coord_map", "DEFAULT_TOLERANCE", "DEFAULT_TILE"]

DEFAULT_TOLERANCE = 0.125
DEFAULT_TILE = 256


@dataclass(frozen=True)
class CoordMap:
    """Source pixel coordinates for a block of output points, stored as node lattices.

    Points are output pixel centres (``offset=0.5``) or pixel corners
    (``offset=0.0``, used by the area methods). The map covers the tiles of the global
    tiling that its ``lattice`` (a :class:`~xgeo.reproject._lattice.NodeLattice`, as the
    numba kernels take it) holds. Source coordinates are corner-based pixel positions
    (pixel ``k`` spans ``[k, k+1)``); NaN marks points that do not transform.
    """

    lattice: NodeLattice
    offset: float
    src_bbox: np.ndarray  # (ntr, ntc, 4): min col, min row, max col, max row of each tile's nodes (NaN-free)

    def subset(self, r0: int, r1: int, c0: int, c1: int) -> CoordMap:
        """The map restricted to global output points ``[r0, r1) x [c0, c1)``."""
        lat = self.lattice
        t = lat.tile
        tr0, tr1 = r0 // t - lat.tile_row0, (r1 - 1) // t + 1 - lat.tile_row0
        tc0, tc1 = c0 // t - lat.tile_col0, (c1 - 1) // t + 1 - lat.tile_col0
        steps = lat.steps[tr0:tr1, tc0:tc1]
        starts = lat.starts[tr0:tr1, tc0:tc1]
        sizes = (t // steps + 1) ** 2
        new_starts = np.zeros_like(starts)
        flat = new_starts.reshape(-1)
        flat[1:] = np.cumsum(sizes.reshape(-1))[:-1]
        idx = np.concatenate(
            [np.arange(s, s + n) for s, n in zip(starts.reshape(-1), sizes.reshape(-1), strict=True)]
        )
        sub = NodeLattice(t, lat.tile_row0 + tr0, lat.tile_col0 + tc0, steps.copy(), new_starts,
                          lat.nodes_x[idx], lat.nodes_y[idx])
        return CoordMap(sub, self.offset, self.src_bbox[tr0:tr1, tc0:tc1].copy())

    def window_bbox(self, r0: int, r1: int, c0: int, c1: int) -> tuple[float, float, float, float] | None:
        """Bounding box ``(col0, row0, col1, row1)`` of the source coordinates of points
        ``[r0, r1) x [c0, c1)``, or None if no point there transforms.

        Interpolated coordinates never leave the hull of the lattice cells they fall
        in, so the box of those nodes bounds them (up to rounding)."""
        lat = self.lattice
        t = lat.tile
        boxes = []
        for tr in range(r0 // t, (r1 - 1) // t + 1):
            lr0, lr1 = max(r0 - tr * t, 0), min(r1 - tr * t, t)
            for tc in range(c0 // t, (c1 - 1) // t + 1):
                lc0, lc1 = max(c0 - tc * t, 0), min(c1 - tc * t, t)
                i, j = tr - lat.tile_row0, tc - lat.tile_col0
                if lr0 == 0 and lr1 == t and lc0 == 0 and lc1 == t:
                    boxes.append(self.src_bbox[i, j])
                    continue
                s = int(lat.steps[i, j])
                n = t // s + 1
                nodes = slice(int(lat.starts[i, j]), int(lat.starts[i, j]) + n * n)
                rows = slice(lr0 // s, (lr1 - 1) // s + 2)
                cols = slice(lc0 // s, (lc1 - 1) // s + 2)
                xs = lat.nodes_x[nodes].reshape(n, n)[rows, cols]
                ys = lat.nodes_y[nodes].reshape(n, n)[rows, cols]
                good = np.isfinite(xs)
                if good.any():
                    boxes.append((xs[good].min(), ys[good].min(), xs[good].max(), ys[good].max()))
        box = np.array(boxes, dtype="float64").reshape(-1, 4)
        box = box[np.isfinite(box[:, 0])]
        if box.size == 0:
            return None
        return (float(box[:, 0].min()), float(box[:, 1].min()), float(box[:, 2].max()), float(box[:, 3].max()))

    def evaluate(self, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        """Source ``(col, row)`` arrays for points ``[r0, r1) x [c0, c1)`` (NumPy, for tests)."""
        return coords_block(self.lattice, r0, r1, c0, c1)


def make_transformer(dst_crs: CRS, src_crs: CRS) -> Transformer:
    """pyproj transformer from output CRS to source CRS (x/y order, best available operation)."""
    return Transformer.from_crs(dst_crs, src_crs, always_xy=True)


def _src_pixels(
    dst: Grid, src: Grid, transformer: Transformer, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact source pixel coordinates of output points at (fractional, corner-based)
    ``rows, cols``."""
    x, y = dst.xy(rows, cols, offset=0.0)
    with np.errstate(invalid="ignore"):
        sx, sy = transformer.transform(x, y, errcheck=False)
    sx = np.asarray(sx, dtype="float64")
    sy = np.asarray(sy, dtype="float64")
    if src.crs is not None and src.crs.is_geographic:
        sx = _wrap_longitude(sx, src)
    row, col = src.rowcol(sx, sy)  # inf from failed points: flagged NaN below
    bad = ~(np.isfinite(col) & np.isfinite(row))
    col[bad] = np.nan
    row[bad] = np.nan
    return col, row


def _wrap_longitude(lon: np.ndarray, src: Grid) -> np.ndarray:
    """Put longitudes in the 360-degree window centred on the source grid (antimeridian sources)."""
    left, _, right, _ = src.bounds
    if right - left > 360.0 + 1e-9:
        return lon
    centre = 0.5 * (left + right)
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(lon - centre) > 180.0, lon - 360.0 * np.round((lon - centre) / 360.0), lon)


def build_coord_map(
    dst: Grid,
    src: Grid,
    *,
    offset: float = 0.5,
    tolerance: float = DEFAULT_TOLERANCE,
    exact: bool = False,
    tile: int = DEFAULT_TILE,
    transformer: Transformer | None = None,
) -> CoordMap:
    """Build the :class:`CoordMap` of the whole output grid ``dst`` into ``src`` pixels.

    Parameters
    ----------
    offset
        0.5 for pixel centres, 0.0 for pixel corners (then the map covers
        ``(height + 1, width + 1)`` points).
    tolerance
        Largest interpolation error accepted, in source pixels.
    exact
        Transform every point exactly (one node per pixel).

    Examples
    --------
    >>> from xgeo.grid import Grid
    >>> src = Grid.from_bounds((500000, 5000000, 510000, 5010000), crs=32633, resolution=100)
    >>> dst = Grid.from_bounds((14.99, 45.13, 15.13, 45.23), crs=4326, resolution=0.001)
    >>> cm = build_coord_map(dst, src)
    >>> col, row = cm.evaluate(0, 2, 0, 2)
    >>> col.shape
    (2, 2)
    """
    if tile & (tile - 1):
        raise ReprojectionError(f"tile={tile}: the coordinate tile must be a power of two")
    transformer = transformer or make_transformer(dst.crs, src.crs)
    extra = 1 if offset == 0.0 else 0
    height, width = dst.height + extra, dst.width + extra
    ntr, ntc = math.ceil(height / tile), math.ceil(width / tile)
    tiles_r, tiles_c = np.divmod(np.arange(ntr * ntc), ntc)
    steps = np.zeros(ntr * ntc, dtype="int64")
    lattices: list[tuple[np.ndarray, np.ndarray] | None] = [None] * (ntr * ntc)

    def lattice(idx: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
        n = tile // step + 1
        k = np.arange(n, dtype="float64") * step
        rows = (tiles_r[idx] * tile)[:, None, None] + k[None, :, None] + offset
        cols = (tiles_c[idx] * tile)[:, None, None] + k[None, None, :] + offset
        rows, cols = np.broadcast_arrays(rows, cols)
        return _src_pixels(dst, src, transformer, rows.reshape(-1), cols.reshape(-1))

    pending = np.arange(ntr * ntc)
    step = 1 if exact else tile
    while pending.size:
        fine = max(step // 2, 1)
        n = tile // fine + 1
        col, row = lattice(pending, fine)
        col = col.reshape(-1, n, n)
        row = row.reshape(-1, n, n)
        if step == 1 or fine == 1:
            ok = np.ones(pending.size, dtype=bool)
        else:
            err = np.maximum(_midpoint_error(col), _midpoint_error(row))
            ok = np.isfinite(err) & (err < tolerance)
        for i in np.flatnonzero(ok):
            lattices[pending[i]] = (col[i].reshape(-1), row[i].reshape(-1))
            steps[pending[i]] = fine
        pending = pending[~ok]
        step = fine
    sizes = (tile // steps + 1) ** 2
    starts = np.zeros_like(steps)
    starts[1:] = np.cumsum(sizes)[:-1]
    nodes_x = np.concatenate([lat[0] for lat in lattices])  # type: ignore[index]
    nodes_y = np.concatenate([lat[1] for lat in lattices])  # type: ignore[index]
    bbox = np.full((ntr * ntc, 4), np.nan)
    for i, (cx, ry) in enumerate(lattices):  # type: ignore[misc]
        good = np.isfinite(cx)
        if good.any():
            bbox[i] = (cx[good].min(), ry[good].min(), cx[good].max(), ry[good].max())
    lattice = NodeLattice(tile, 0, 0, steps.reshape(ntr, ntc), starts.reshape(ntr, ntc),
                          nodes_x, nodes_y)
    return CoordMap(lattice, float(offset), bbox.reshape(ntr, ntc, 4))


def _midpoint_error(fine: np.ndarray) -> np.ndarray:
    """Per tile, the largest difference between the fine lattice and bilinear
    interpolation of its every-other-node sub-lattice (NaN if any node failed)."""
    coarse = fine[:, ::2, ::2]
    interp = np.empty_like(fine)
    interp[:, ::2, ::2] = coarse
    interp[:, ::2, 1::2] = 0.5 * (coarse[:, :, :-1] + coarse[:, :, 1:])
    interp[:, 1::2, :] = 0.5 * (interp[:, :-1:2, :] + interp[:, 2::2, :])
    with np.errstate(invalid="ignore"):
        diff = np.abs(interp - fine)
    worst = diff.reshape(diff.shape[0], -1).max(axis=1)
    worst[~np.isfinite(fine).reshape(fine.shape[0], -1).all(axis=1)] = np.nan
    return worst
