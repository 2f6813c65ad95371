"""Per-band statistics of a cube, computed once, for :class:`~xgeo.torch.Normalize`."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..bands import BAND_DIM, band_array

__all__ = ["band_stats"]


def band_stats(obj: xr.Dataset | xr.DataArray, **band_kwargs: Any) -> dict[str, Any]:
    """Per-band mean, std, min and max over all pixels (NaN ignored), computed once.

    Works lazily on dask-backed data (one pass). Use with :class:`Normalize`.

    Examples
    --------
    >>> import xgeo
    >>> from xgeo.torch import band_stats
    >>> stats = band_stats(xgeo.datasets.sentinel2_cube(), variable="reflectance")
    >>> stats["bands"][:2], stats["mean"].shape
    (['B01', 'B02'], (13,))
    """
    arr = band_array(obj, **band_kwargs)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype("float64")
    dims = [d for d in arr.dims if d != BAND_DIM]
    reduced = xr.Dataset(
        {
            "mean": arr.mean(dims, skipna=True),
            "std": arr.std(dims, skipna=True),
            "min": arr.min(dims, skipna=True),
            "max": arr.max(dims, skipna=True),
        }
    ).compute()
    out: dict[str, Any] = {
        k: reduced[k].values.astype("float64") for k in ("mean", "std", "min", "max")
    }
    out["bands"] = [b.item() if hasattr(b, "item") else b for b in arr[BAND_DIM].values]
    return out
