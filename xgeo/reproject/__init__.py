"""CRS-aware reprojection: gdalwarp's accuracy and output grids, numba speed, dask laziness.

* :func:`reproject` / :func:`reproject_match` — xarray DataArray/Dataset, any dims order.
* :func:`reproject_array` — NumPy or dask arrays ``(..., y, x)`` with a :class:`~xgeo.grid.Grid`.
* :func:`output_grid` / :func:`suggested_grid` — gdalwarp's output-grid policy.

Modules: ``coords`` (approximate coordinate transformer), ``kernels`` (numba
resampling), ``reference`` (pure-NumPy reference kernels for tests), ``plan`` (dask
chunk planner), ``output_grid``, ``core`` (array level), ``api`` (xarray level).
"""

from .api import reproject, reproject_match
from .core import reproject_array
from .kernels import METHODS
from .output_grid import output_grid, suggested_grid

__all__ = ["reproject", "reproject_match", "reproject_array", "output_grid", "suggested_grid", "METHODS"]
