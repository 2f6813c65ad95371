"""Bundled sample data.

``sentinel2_cube()`` is a real Sentinel-2 L1C cube (eo-learn TestEOPatch, MIT;
see ``xgeo/data/ATTRIBUTION.md``): 5 dates x 13 bands x 101 x 100 pixels at
~10 m over Slovenia, EPSG:32633, with NDVI, cloud masks, DEM and land cover.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import xarray as xr

__all__ = ["sentinel2_cube", "sentinel2_cube_path"]


def sentinel2_cube_path() -> Path:
    """Path of the bundled netCDF file (inside the installed package)."""
    return Path(str(resources.files("xgeo") / "data" / "s2_eopatch.nc"))


def sentinel2_cube(chunks: Any = None) -> xr.Dataset:
    """The bundled real Sentinel-2 cube as a Dataset (``reflectance(time, band, y, x)`` ...).

    Parameters
    ----------
    chunks
        None to load lazily without dask; a dict (or ``{}``) for dask arrays.

    Examples
    --------
    >>> ds = sentinel2_cube()
    >>> ds.reflectance.dims, ds.band.values[:3].tolist()
    (('time', 'band', 'y', 'x'), ['B01', 'B02', 'B03'])
    """
    from .io import open_dataset

    return open_dataset(sentinel2_cube_path(), chunks=chunks)
