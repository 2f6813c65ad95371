"""asv: chip throughput of the torch bridge from a Zarr store (no workers)."""

from __future__ import annotations

import tempfile

import xgeo


class ChipLoading:
    params = [None, "float32"]
    param_names = ["dtype"]
    timeout = 300

    def setup_cache(self):
        path = tempfile.mkdtemp() + "/cube.zarr"
        ds = xgeo.datasets.sentinel2_cube()
        cube = (ds.reflectance * 10000).round().astype("uint16").rename("reflectance").to_dataset()
        cube.chunk({"time": 1, "band": 1, "y": 64, "x": 64}).geo.to_zarr(path)
        return path

    def setup(self, path, dtype):
        import torch

        from xgeo.torch import ChipDataset, ChunkAwareSampler

        self.dataset = ChipDataset(
            path, size=32, variable="reflectance", dtype=getattr(torch, dtype) if dtype else None
        )
        self.order = list(ChunkAwareSampler(self.dataset, seed=0))

    def time_epoch(self, path, dtype):
        for i in self.order:
            self.dataset[i]

    def peakmem_epoch(self, path, dtype):
        for i in self.order:
            self.dataset[i]


class ChipIndex:
    def setup(self):
        self.ds = xgeo.datasets.sentinel2_cube()

    def time_make_chips_min_valid(self):
        self.ds.geo.chips(16, variable="reflectance", min_valid=0.5, mask="cloud_mask")

    def time_stack_graph(self):
        self.ds.geo.chips(16, variable="reflectance").stack()
