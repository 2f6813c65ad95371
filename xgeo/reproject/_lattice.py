"""Numba evaluation of a :class:`~xgeo.reproject.coords.CoordMap`: source coordinates of
output points, interpolated from the map's node lattices.

The kernels receive the map as one :class:`NodeLattice` (a NamedTuple numba passes in
nopython mode) and call :func:`row_coords` for each output row they fill.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

__all__ = ["NodeLattice", "row_coords", "coords_block"]


class NodeLattice(NamedTuple):
    """The node lattices of a CoordMap, as the kernels read them.

    ``steps[i, j]`` is the node spacing of transform tile ``(tile_row0 + i, tile_col0 + j)``
    and ``starts[i, j]`` where its ``(n, n)`` lattice (``n = tile // step + 1``) begins in
    the flat ``nodes_x``/``nodes_y`` arrays.

    Examples
    --------
    >>> import numpy as np
    >>> one = np.zeros((1, 1), "int64")
    >>> lat = NodeLattice(1, 0, 0, one + 1, one, np.array([0.5, 1.5, 0.5, 1.5]),
    ...                   np.array([0.5, 0.5, 1.5, 1.5]))
    >>> lat.tile, lat.nodes_x.size
    (1, 4)
    """

    tile: int
    tile_row0: int
    tile_col0: int
    steps: np.ndarray  # (ntr, ntc) int64
    starts: np.ndarray  # (ntr, ntc) int64
    nodes_x: np.ndarray  # flat float64
    nodes_y: np.ndarray  # flat float64


@njit(cache=True)
def row_coords(r, c0, npts, lat, bx, by, colx, coly):
    """Source coordinates of ``npts`` points of global output row ``r`` from column ``c0``.

    Within a tile the lattice is first interpolated along y (per node column), then
    along x. Every value depends only on the point's global position, never on
    where the segment starts; the loops avoid integer divisions per pixel.
    """
    tile = lat.tile
    steps = lat.steps
    starts = lat.starts
    nx = lat.nodes_x
    ny = lat.nodes_y
    tr = r // tile
    lr = r - tr * tile
    j = 0
    c = c0
    while j < npts:
        tc = c // tile
        lc = c - tc * tile
        s = steps[tr - lat.tile_row0, tc - lat.tile_col0]
        n = tile // s + 1
        base = starts[tr - lat.tile_row0, tc - lat.tile_col0]
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
def _coords_kernel(r0, c0, outx, outy, lat):
    h, w = outx.shape
    for i in prange(h):
        _coords_row(i, r0, c0, outx, outy, lat)


@njit(cache=True)
def _coords_row(i, r0, c0, outx, outy, lat):
    colx = np.empty(lat.tile + 1)
    coly = np.empty(lat.tile + 1)
    row_coords(r0 + i, c0, outx.shape[1], lat, outx[i], outy[i], colx, coly)


def coords_block(lat: NodeLattice, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
    """Source ``(col, row)`` of global output points ``[r0, r1) x [c0, c1)`` of a lattice.

    Examples
    --------
    >>> import numpy as np
    >>> one = np.zeros((1, 1), "int64")
    >>> lat = NodeLattice(1, 0, 0, one + 1, one, np.array([0.5, 1.5, 0.5, 1.5]),
    ...                   np.array([0.5, 0.5, 1.5, 1.5]))
    >>> col, row = coords_block(lat, 0, 1, 0, 1)
    >>> float(col[0, 0]), float(row[0, 0])
    (0.5, 0.5)
    """
    outx = np.empty((r1 - r0, c1 - c0))
    outy = np.empty((r1 - r0, c1 - c0))
    _coords_kernel(r0, c0, outx, outy, lat)
    return outx, outy
