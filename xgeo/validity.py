"""Valid-pixel fractions of chip windows, from a coarse count grid (lazy on dask data).

:func:`xgeo.chips.make_chips` keeps chips whose fraction of valid pixels (every band
present, not nodata, not flagged by a user mask) reaches ``min_valid``. Pixels are reduced
once into coarse cells, chunk by chunk when the data are dask arrays, and each window's
count is read off a summed-area table.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import numpy as np
import xarray as xr

from .bands import BAND_DIM
from .crs import find_spatial_dims

__all__ = ["deferred_fractions", "disagreeing_dim", "valid_fractions", "valid_mask"]

TIME_DIM = "time"  # the dim chips take time windows along


def disagreeing_dim(mask: xr.DataArray, var: xr.DataArray | xr.Dataset) -> Hashable | None:
    """The first dim of ``mask`` along which it does not lie on ``var`` (another size, or other
    coordinate values), or None when it does. Callers raise their own typed error.

    Examples
    --------
    >>> a = xr.DataArray(np.zeros((2, 3)), dims=("y", "x"), coords={"x": [0, 1, 2]})
    >>> disagreeing_dim(a, a), disagreeing_dim(a.assign_coords(x=[0, 1, 3]), a)
    (None, 'x')
    """
    for d in mask.dims:
        if mask.sizes[d] != var.sizes[d] or (d in mask.coords and d in var.coords and not
                                             np.array_equal(mask[d].values, var[d].values)):
            return d
    return None


def valid_mask(arr: xr.DataArray, mask: xr.DataArray | None, fill: Any) -> xr.DataArray:
    """True where every band of a pixel holds data and the user mask does not flag it."""
    if np.issubdtype(arr.dtype, np.floating):
        valid = arr.notnull()
        if fill is not None and not (isinstance(fill, float) and math.isnan(fill)):
            valid = valid & (arr != fill)
    else:
        valid = arr != fill if fill is not None else xr.ones_like(arr, dtype=bool)
    if BAND_DIM in valid.dims:
        valid = valid.all(BAND_DIM)
    if mask is not None:
        valid = valid & ~mask.astype(bool)
    return valid


def valid_fractions(
    valid: xr.DataArray,
    rows: np.ndarray,
    cols: np.ndarray,
    t0: np.ndarray | None,
    t1: np.ndarray | None,
    size: tuple[int, int],
    y_dim: Hashable,
    x_dim: Hashable,
) -> np.ndarray:
    """Valid fraction per window from a coarse count grid and its summed-area table.

    Pixels are reduced once into cells of ``g`` x ``g`` (``g`` divides every window
    edge), so the full-resolution mask is never held twice; padded areas count as invalid.
    """
    h, w = size
    gy = math.gcd(h, *map(int, np.unique(rows)))
    gx = math.gcd(w, *map(int, np.unique(cols)))
    counts = valid.coarsen({y_dim: gy, x_dim: gx}, boundary="pad").sum()
    order = ([TIME_DIM] if TIME_DIM in counts.dims else []) + [y_dim, x_dim]
    extra = [d for d in counts.dims if d not in order]
    if extra:
        counts = counts.sum(extra)
    c = np.asarray(counts.transpose(*order).values, dtype=np.int64)
    if c.ndim == 2:
        c = c[None]
    sat = np.zeros((c.shape[0] + 1, c.shape[1] + 1, c.shape[2] + 1), dtype=np.int64)
    sat[1:, 1:, 1:] = c.cumsum(0).cumsum(1).cumsum(2)
    r0 = np.minimum(rows // gy, c.shape[1])
    r1 = np.minimum((rows + h) // gy, c.shape[1])
    c0 = np.minimum(cols // gx, c.shape[2])
    c1 = np.minimum((cols + w) // gx, c.shape[2])
    if t0 is None:
        a, b = np.zeros_like(rows), np.full_like(rows, c.shape[0])
    else:
        a, b = t0, t1
    total = (
        sat[b, r1, c1]
        - sat[a, r1, c1]
        - sat[b, r0, c1]
        - sat[b, r1, c0]
        + sat[a, r0, c1]
        + sat[a, r1, c0]
        + sat[b, r0, c0]
        - sat[a, r0, c0]
    )
    return total / ((b - a) * h * w)


def deferred_fractions(
    arr: xr.DataArray, mask: xr.DataArray, fill: Any, rows: np.ndarray, cols: np.ndarray,
    t0: np.ndarray | None, t1: np.ndarray | None, size: tuple[int, int],
) -> np.ndarray:
    """:func:`valid_fractions` of ``arr`` under ``mask``, for a ChipGrid to compute on first use."""
    y_dim, x_dim = find_spatial_dims(arr)
    return valid_fractions(valid_mask(arr, mask, fill), rows, cols, t0, t1, size, y_dim, x_dim)
