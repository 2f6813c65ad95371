"""asv: cost of reading and writing the grid model (runs on every accessor call)."""

from __future__ import annotations

import numpy as np
import xarray as xr

import xgeo
from xgeo import Grid


class GridFromObject:
    """Reading the grid is done on every ``.geo`` property access: it must stay cheap."""

    def setup(self):
        self.ds = xgeo.datasets.sentinel2_cube()
        n = 10980
        self.big = xr.DataArray(
            np.broadcast_to(np.float32(0), (n, n)),
            dims=("y", "x"),
            coords={"y": 5.0e6 - 10 * (np.arange(n) + 0.5), "x": 4.0e5 + 10 * (np.arange(n) + 0.5)},
        ).geo.set_crs(32633)

    def time_read_grid_sample(self):
        _ = self.ds.geo.grid

    def time_read_grid_10980(self):
        _ = self.big.geo.grid

    def time_write_grid_sample(self):
        xgeo.write_grid(self.ds)


class GridAlgebra:
    params = [256, 1024]
    param_names = ["tile"]

    def setup(self, tile):
        self.grid = Grid.from_bounds((400000, 4890000, 509800, 5000000), crs=32633, resolution=10)

    def time_tiles(self, tile):
        for _ in self.grid.tiles(tile):
            pass

    def time_bounds_in_4326(self, tile):
        self.grid.bounds_in(4326)
