"""Bad reprojection requests get typed errors naming the argument (issue 15, item 11)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo.crs import read_grid
from xgeo.errors import ReprojectionError
from xgeo.grid import Grid
from xgeo.reproject import core, reproject, reproject_array, reproject_match


@pytest.fixture(scope="module")
def cube():
    return xgeo.datasets.sentinel2_cube()


# ------------------------------------------------------------------ dtypes
def test_complex_data_names_the_variable_and_dtype(cube):
    with pytest.raises(ReprojectionError, match=r"variable 'ndvi' has dtype complex64"):
        reproject(cube.ndvi.astype("complex64"), "EPSG:4326")
    ds = cube[["ndvi", "dem"]].assign(z=cube.dem.astype("complex128"))
    with pytest.raises(ReprojectionError, match=r"variable 'z' has dtype complex128"):
        reproject(ds, "EPSG:4326")
    with pytest.raises(ReprojectionError, match=r"variable 'z' .*complex128"):
        ds.geo.reproject_match(cube)
    with pytest.raises(ReprojectionError, match=r"dtype= has dtype complex64"):
        reproject(cube.dem, "EPSG:4326", dtype="complex64")
    with pytest.raises(ReprojectionError, match=r"the array has dtype complex128"):
        reproject_array(cube.dem.values.astype(complex), read_grid(cube), dst_crs=4326)
    with pytest.raises(ReprojectionError, match=r"datetime64"):
        reproject(cube.dem.astype("datetime64[s]"), "EPSG:4326")


# ------------------------------------------------------------------ chunks
@pytest.mark.parametrize("bad", [(0, 64), (64, 0), 0, -5, (-1, 64), True, (0.5, 64),
                                 (float("inf"), 64), (64,), (64, 64, 64), "64"])
def test_bad_chunks_are_a_reprojection_error(cube, bad):
    with pytest.raises(ReprojectionError, match="chunks"):
        reproject(cube.dem, "EPSG:4326", chunks=bad)
    with pytest.raises(ReprojectionError, match="chunks"):
        reproject_array(cube.dem.data, read_grid(cube), dst_crs=4326, chunks=bad)
    with pytest.raises(ReprojectionError, match="chunks"):
        reproject_match(cube.dem, cube.ndvi, chunks=bad)


def test_integral_float_chunks_still_work(cube):
    out = reproject(cube.dem, "EPSG:4326", chunks=(64.0, np.int64(32)))
    assert out.chunks == reproject(cube.dem, "EPSG:4326", chunks=(64, 32)).chunks


# -------------------------------------------------------------- output size
def test_a_resolution_in_the_wrong_units_is_refused_before_allocating(cube):
    # 1e-9 degrees: a 9e6 x 1.3e7 grid (the 13.5 GiB MemoryError of issue 15)
    with pytest.raises(ReprojectionError, match=r"9110762 x 12999501 .*allow_large=True"):
        reproject(cube, "EPSG:4326", resolution=1e-9)
    with pytest.raises(ReprojectionError, match="million pixels per plane"):
        cube.geo.reproject(None, resolution=1e-2, chunks=4096)  # lazy is no way round it
    with pytest.raises(ReprojectionError, match="million pixels per plane"):
        reproject_array(cube.dem.values, read_grid(cube), resolution=1e-2)
    big = Grid.from_bounds(read_grid(cube).bounds, crs=32633, resolution=1e-2)
    with pytest.raises(ReprojectionError, match="million pixels per plane"):
        reproject_match(cube.dem, big)


def test_eager_output_above_the_memory_limit_is_refused(cube, monkeypatch):
    monkeypatch.setattr(core, "MAX_OUTPUT_BYTES", 2**20)
    ds = cube[["ndvi", "cloud_probability"]]  # 2 x 5 float32 planes: 40 bytes per pixel
    kw = {"dst_crs": "EPSG:32633", "shape": (200, 200)}  # 1.5 MiB together
    with pytest.raises(ReprojectionError, match=r"200 x 200 .*1\.5 MiB in memory at once \(limit 1\.0 MiB\)"):
        reproject(ds, **kw)
    reproject(ds[["ndvi"]], **kw)  # 0.76 MiB: fine
    lazy = reproject(ds, chunks=100, **kw)  # lazy: nothing held at once
    assert lazy.ndvi.chunks is not None
    out = reproject(ds, allow_large=True, **kw)
    xr.testing.assert_identical(out, lazy.compute())
    with pytest.raises(ReprojectionError, match="allow_large"):
        reproject_array(np.zeros((10, *read_grid(cube).shape), "float64"), read_grid(cube),
                        dst_crs=32633, shape=(200, 200))
    with pytest.raises(ReprojectionError, match="allow_large"):
        ds.geo.reproject_match(Grid.from_bounds(read_grid(cube).bounds, crs=32633, shape=(200, 200)))


# ----------------------------------------------------------- exact integers
SRC = Grid.from_bounds((500000, 5000000, 501200, 5000960), crs=32633, resolution=60)  # 16 x 20


@pytest.mark.parametrize("dtype,method", [("int64", "nearest"), ("int64", "mode"), ("uint64", "nearest")])
def test_large_integers_come_through_nearest_and_mode_exactly(dtype, method):
    rng = np.random.default_rng(7)
    ids = np.arange(SRC.height * SRC.width, dtype="int64").reshape(SRC.shape)
    # distinct values near 2**62 (float64 spacing there: 1024); 1 + id keeps clear of fill 0
    a = (np.asarray(2**62, dtype) + rng.permutation(ids.size).astype(dtype).reshape(SRC.shape)
         * np.asarray(3, dtype) + np.asarray(1, dtype))
    out, grid = reproject_array(a, SRC, dst_crs=4326, resampling=method)
    # which source pixel each output pixel takes: the same run on pixel ids (exact in float)
    where, _ = reproject_array(ids + 1, SRC, dst_crs=4326, resampling=method)
    hit = where > 0
    assert hit.sum() > 100
    assert out.dtype == a.dtype
    np.testing.assert_array_equal(out[hit], a.ravel()[where[hit] - 1])
    assert (out[~hit] == 0).all()


def test_large_integer_nodata_is_compared_exactly():
    nodata = 2**62 + 1
    a = np.full(SRC.shape, 2**62, "int64")  # 2**62 == float(2**62 + 1): valid, not nodata
    a[:8] = nodata
    da = xr.DataArray(a, dims=("y", "x"), coords=dict(zip(("y", "x"), SRC.coords(), strict=True)),
                      attrs={"nodata": np.int64(nodata)})
    out = reproject(xgeo.crs.write_grid(da, SRC), "EPSG:4326")
    values = set(np.unique(out.values).tolist())
    assert values <= {2**62, nodata} and 2**62 in values and nodata in values
    assert out.attrs["_FillValue"] == nodata
