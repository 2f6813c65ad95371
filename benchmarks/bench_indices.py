"""asv: spectral indices (fused numba kernels) — time and peak memory over releases."""

from __future__ import annotations

import numpy as np
import xarray as xr

import xgeo
from xgeo.indices import compute_indices, evaluate

TEN = ["NDVI", "EVI", "SAVI", "NDWI", "MNDWI", "NDBI", "NBR", "GNDVI", "NDMI", "ARVI"]
S2 = {"B": "B02", "G": "B03", "R": "B04", "N": "B08", "S1": "B11", "S2": "B12"}


def _bands(n: int) -> dict[str, np.ndarray]:
    refl = xgeo.datasets.sentinel2_cube().reflectance.isel(time=0)
    out = {}
    for s, b in S2.items():
        tile = refl.sel(band=b).values
        reps = (-(-n // tile.shape[0]), -(-n // tile.shape[1]))
        out[s] = np.ascontiguousarray(np.tile(tile, reps)[:n, :n], dtype=np.float32)
    return out


class NumpyIndices:
    params = [1024, 4096]
    param_names = ["size"]

    def setup(self, n):
        import numba

        numba.set_num_threads(2)
        self.b = _bands(n)
        evaluate(self.b, TEN)  # compile (or load from the disk cache) outside the timing
        evaluate(self.b, "NDVI")

    def time_ndvi(self, n):
        evaluate(self.b, "NDVI")

    def time_ten_fused(self, n):
        evaluate(self.b, TEN)

    def peakmem_ten_fused(self, n):
        evaluate(self.b, TEN)


class XarrayIndices:
    def setup(self):
        self.ds = xgeo.datasets.sentinel2_cube().load()
        self.lazy = self.ds.chunk({"time": 1})
        compute_indices(self.ds, TEN)
        compute_indices(self.lazy, TEN).compute()

    def time_sample_ten(self):
        compute_indices(self.ds, TEN)

    def time_sample_ten_dask(self):
        compute_indices(self.lazy, TEN).compute()

    def time_graph_build_dask(self):
        compute_indices(self.lazy, TEN)


class Catalog:
    def time_available_indices(self):
        from xgeo.indices import available_indices

        available_indices(xr.Dataset({b: (("y", "x"), np.zeros((2, 2), np.float32))
                                      for b in ("B02", "B03", "B04", "B08", "B8A", "B11", "B12")}))
