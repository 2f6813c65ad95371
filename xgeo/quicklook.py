"""Quicklooks: a true-colour composite or a single-band map with a robust contrast stretch.

Needs matplotlib (``pip install 'xgeo[plot]'``). NaN and nodata pixels are shown
transparent, never as a colour that looks like data.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .bands import BAND_DIM, band_array
from .crs import find_spatial_dims, read_grid

__all__ = ["quicklook", "stretch"]


def stretch(values: np.ndarray, percentiles: tuple[float, float] = (2.0, 98.0)) -> np.ndarray:
    """Scale to 0..1 between two percentiles of the finite values (per call), clipping outside.

    Examples
    --------
    >>> stretch(np.array([0.0, 5.0, 10.0, np.nan]), (0, 100)).tolist()[:3]
    [0.0, 0.5, 1.0]
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.full(values.shape, np.nan)
    lo, hi = np.percentile(finite, percentiles)
    if hi <= lo:
        hi = lo + 1.0
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0)


def quicklook(
    obj: xr.Dataset | xr.DataArray,
    bands: Sequence[Hashable] | None = ("B04", "B03", "B02"),
    *,
    time: int | None = 0,
    variable: Hashable | None = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
    cmap: str = "viridis",
    title: str | None = None,
    path: str | os.PathLike | None = None,
    ax: Any = None,
) -> Any:
    """Plot a composite of three bands (or one band with a colour bar) on its CRS axes.

    Parameters
    ----------
    obj
        A Dataset or DataArray in any band layout (see :func:`xgeo.bands.band_array`);
        a DataArray without a ``band`` dim (e.g. NDVI) is drawn as one band.
    bands
        Three band labels for red, green, blue; or None/one label for a single-band map.
    time
        Index along ``time`` when present.
    percentiles
        Robust contrast stretch, per band.
    path
        Write a PNG there (the figure is still returned).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    MissingDependencyError
        If matplotlib is not installed (the message says ``pip install 'xgeo[plot]'``).

    Examples
    --------
    >>> import xgeo, tempfile, os
    >>> fig = quicklook(xgeo.datasets.sentinel2_cube(), path=os.path.join(tempfile.mkdtemp(), "rgb.png"))
    >>> fig.axes[0].get_title()
    'B04 / B03 / B02'
    """
    from .optional import require

    matplotlib = require("matplotlib", "quicklook (.geo.quicklook)")
    if path is not None and ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    single = isinstance(obj, xr.DataArray) and BAND_DIM not in obj.dims
    arr = (
        obj
        if single
        else band_array(obj, variable=variable, bands=None if bands is None else list(bands))
    )
    if "time" in arr.dims:
        arr = arr.isel(time=time if time is not None else 0)
    y_dim, x_dim = find_spatial_dims(arr)
    left, bottom, right, top = read_grid(arr).bounds
    own = ax is None
    if own:
        fig, ax = plt.subplots(
            figsize=(6, 6 * arr.sizes[y_dim] / max(arr.sizes[x_dim], 1)), dpi=110
        )
    else:
        fig = ax.figure
    extent = (left, right, bottom, top)
    if not single and arr.sizes[BAND_DIM] == 3:
        rgb = np.stack(
            [
                stretch(
                    np.asarray(
                        arr.isel({BAND_DIM: i}).transpose(y_dim, x_dim).values, dtype="float64"
                    ),
                    percentiles,
                )
                for i in range(3)
            ],
            axis=-1,
        )
        alpha = np.isfinite(rgb).all(axis=-1).astype("float64")
        ax.imshow(np.dstack([np.nan_to_num(rgb), alpha]), extent=extent, interpolation="nearest")
        ax.set_title(title or " / ".join(str(b) for b in arr[BAND_DIM].values))
    else:
        plane = arr if single else arr.isel({BAND_DIM: 0})
        values = np.asarray(plane.transpose(y_dim, x_dim).values, dtype="float64")
        finite = values[np.isfinite(values)]
        lo, hi = np.percentile(finite, percentiles) if finite.size else (0.0, 1.0)
        image = ax.imshow(
            np.ma.masked_invalid(values),
            extent=extent,
            cmap=cmap,
            vmin=lo,
            vmax=hi,
            interpolation="nearest",
        )
        fig.colorbar(image, ax=ax, shrink=0.8, label=str(plane.name or ""))
        ax.set_title(title or str(plane.name or (arr[BAND_DIM].values[0] if not single else "")))
    crs = read_grid(arr).crs
    unit = "°" if crs is not None and crs.is_geographic else "m"
    ax.set_xlabel(f"{x_dim} [{unit}]")
    ax.set_ylabel(f"{y_dim} [{unit}]")
    ax.ticklabel_format(useOffset=False, style="plain")
    if own:
        fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig
