"""asv: reprojection — kernel time, planning (transformer + graph) time and peak memory."""

from __future__ import annotations

import numpy as np
import xarray as xr

import xgeo
from xgeo.grid import Grid
from xgeo.reproject import output_grid, reproject, reproject_array
from xgeo.reproject.plan import make_plan


def _tiled(n: int, bands: int = 1) -> np.ndarray:
    refl = xgeo.datasets.sentinel2_cube().reflectance.isel(time=0).values[:bands]
    reps = (1, -(-n // refl.shape[1]), -(-n // refl.shape[2]))
    out = np.ascontiguousarray(np.tile(refl, reps)[:, :n, :n], dtype=np.float32)
    return out[0] if bands == 1 else out


def _grid(n: int) -> Grid:
    return Grid.from_bounds((500000, 5000000, 500000 + 10 * n, 5000000 + 10 * n), crs=32633, resolution=10)


class NumpyReproject:
    """In-memory UTM 10 m -> EPSG:4326 at 2 threads, per resampling method."""

    params = ([1024, 4096], ["nearest", "bilinear", "cubic", "average"])
    param_names = ["size", "resampling"]

    def setup(self, n, method):
        import numba

        numba.set_num_threads(2)
        self.src = _tiled(n)
        self.grid = _grid(n)
        self.dst = output_grid(self.grid, "EPSG:4326")
        reproject_array(self.src[:64, :64], _grid(64), dst_crs=4326, resampling=method)  # JIT/cache

    def time_reproject(self, n, method):
        reproject_array(self.src, self.grid, self.dst, resampling=method)

    def peakmem_reproject(self, n, method):
        reproject_array(self.src, self.grid, self.dst, resampling=method)


class Planning:
    """Coordinate lattice + dask graph for a lazy 32768^2 source (no pixels computed)."""

    def setup(self):
        import dask.array as da

        n = 32768
        self.grid = _grid(n)
        y, x = self.grid.coords()
        data = da.zeros((n, n), chunks=2048, dtype="float32")
        self.da = xgeo.crs.write_grid(xr.DataArray(data, dims=("y", "x"), coords={"y": y, "x": x}), self.grid)
        self.dst = output_grid(self.grid, "EPSG:4326")

    def time_coordinate_lattice(self):
        make_plan(self.grid, self.dst, "bilinear")

    def time_lazy_graph(self):
        reproject(self.da, grid=self.dst, resampling="bilinear")

    def time_default_output_grid(self):
        output_grid(self.grid, "EPSG:4326")


class Stack:
    """(12, 2048, 2048) band stack in one call (weights shared across bands)."""

    params = ["nearest", "bilinear"]
    param_names = ["resampling"]

    def setup(self, method):
        import numba

        numba.set_num_threads(2)
        self.src = _tiled(2048, 12)
        self.grid = _grid(2048)
        self.dst = output_grid(self.grid, "EPSG:4326")
        reproject_array(self.src[:, :64, :64], _grid(64), dst_crs=4326, resampling=method)

    def time_stack(self, method):
        reproject_array(self.src, self.grid, self.dst, resampling=method)
