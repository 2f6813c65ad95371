"""The pipeline on dask.distributed: 2 worker processes give the single-process result."""

from __future__ import annotations

import numpy as np
import pytest

import xgeo
from xgeo.indices import compute_indices
from xgeo.reproject import reproject

distributed = pytest.importorskip("distributed")


def _pipeline(store):
    ds = xgeo.datasets.sentinel2_cube(chunks={}).chunk({"time": 1})[["reflectance"]]
    lonlat = reproject(ds, "EPSG:4326", resampling="bilinear", chunks=(64, 64))
    idx = compute_indices(lonlat, ["NDVI", "NDWI"], variable="reflectance")
    xgeo.io.to_zarr(idx, store, codec="hevc", codec_options={"crf": 8})
    return idx


def test_pipeline_on_two_worker_processes_equals_single_process(tmp_path):
    import dask

    single = tmp_path / "single.zarr"
    with dask.config.set(scheduler="synchronous"):
        expected = _pipeline(single).compute()
    multi = tmp_path / "multi.zarr"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            # Fresh workers decode the video store through entry points alone: no xgeo import.
            probe = (
                f"(__import__('zarr').open_group({str(single)!r}, mode='r')['NDVI'][:].shape,"
                " 'xgeo' in __import__('sys').modules, 'xgeo_codecs' in __import__('sys').modules)"
            )
            shape, xgeo_loaded, codecs_loaded = client.submit(eval, probe, pure=False).result()
            assert shape == expected.NDVI.shape and not xgeo_loaded and codecs_loaded
            _pipeline(multi)
            assert len(client.scheduler_info()["workers"]) == 2
    a, b = xgeo.open_dataset(single), xgeo.open_dataset(multi)
    for name in ("NDVI", "NDWI"):
        np.testing.assert_array_equal(a[name].values, b[name].values)
    assert b.geo.crs.to_epsg() == 4326 and b.geo.grid == a.geo.grid
    valid = np.isfinite(expected.NDVI.values)
    err = np.abs(b.NDVI.values[valid] - expected.NDVI.values[valid])
    assert valid.mean() > 0.5 and err.max() < 0.05  # lossy video, but close
