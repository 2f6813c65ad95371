"""xgeo: satellite datacubes cheap to store and fast to learn from.

Importing xgeo registers the ``.geo`` accessor on xarray objects.

Examples
--------
>>> import xgeo
>>> ds = xgeo.datasets.sentinel2_cube()
>>> ds.geo.crs.to_epsg()
32633
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import (
    accessor,
    crs,
    datasets,
    errors,
    forksafe,  # noqa: F401  (registers the fork hook: fresh dask pools in children)
    grid,
    io,
)
from .crs import read_crs, read_grid, set_crs, write_grid
from .grid import Grid, parse_crs
from .io import open_dataset

# Heavier subpackages (numba kernels, torch, matplotlib) load on first use: `xgeo.reproject`.
_LAZY = {
    "bands",
    "chips",
    "clip",
    "composite",
    "compression",
    "indices",
    "info",
    "masks",
    "labels",
    "metrics",
    "pipeline",
    "quicklook",
    "reproject",
    "store",
    "torch",
}

# Functions of lazily loaded subpackages: name -> (module, attribute).
_LAZY_FUNCTIONS = {
    "stack": (".stacking", "stack"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_FUNCTIONS:
        import importlib

        module, attr = _LAZY_FUNCTIONS[name]
        return getattr(importlib.import_module(module, __name__), attr)
    raise AttributeError(f"module 'xgeo' has no attribute {name!r}")


try:
    __version__ = version("xgeo")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "Grid",
    "accessor",
    "crs",
    "datasets",
    "errors",
    "grid",
    "io",
    "open_dataset",
    "parse_crs",
    "read_crs",
    "read_grid",
    "set_crs",
    "write_grid",
    "__version__",
]
