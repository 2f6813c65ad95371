"""CRS-aware reprojection: gdalwarp's accuracy and output grids, numba speed, dask laziness.

* :func:`reproject` / :func:`reproject_match` — xarray DataArray/Dataset, any dims order.
* :func:`reproject_array` — NumPy or dask arrays ``(..., y, x)`` with a :class:`~xgeo.grid.Grid`.
* :func:`output_grid` / :func:`suggested_grid` — gdalwarp's output-grid policy.

Modules, lowest first: ``output_grid`` (gdalwarp's grid policy), ``coords`` (approximate
coordinate transformer), ``kernels`` (numba resampling; the kernels themselves in
``_lattice``, ``_rules``, ``_point_kernels``, ``_area_kernels``), ``reference`` (pure-NumPy
reference kernels for tests), ``plan`` (:class:`~xgeo.reproject.plan.WarpPlan`: which
source region and kernel each output pixel needs), ``_blocks`` (the dask task: block
assembler + warp), ``lazy`` (the dask graph), ``core`` (the eager NumPy path,
:func:`reproject_array`), ``api`` (xarray level).
"""

from .api import reproject, reproject_match
from .core import reproject_array
from .kernels import METHODS
from .output_grid import output_grid, suggested_grid

__all__ = ["reproject", "reproject_match", "reproject_array", "output_grid", "suggested_grid", "METHODS"]
