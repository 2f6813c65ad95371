"""Reprojection behaviour: kernels vs the NumPy reference, laziness and chunk invariance,
xarray handling (N-D, dim order, nodata, metadata), output-grid policy and bad input."""

from __future__ import annotations

import math
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo.crs import read_grid
from xgeo.errors import CRSError, ReprojectionError
from xgeo.grid import Grid
from xgeo.reproject import METHODS, output_grid, reproject, reproject_array, reproject_match
from xgeo.reproject.lazy import default_chunks
from xgeo.reproject.plan import make_plan
from xgeo.reproject.reference import warp_reference

DATA = Path(__file__).parent / "data"
SRC = Grid.from_bounds((500000, 5000000, 503000, 5002400), crs=32633, resolution=60)  # 40 x 50


def smooth(shape, dtype="float32"):
    """A smooth field of range ~50..150; leading dims get shifted copies."""
    yy, xx = np.mgrid[0:shape[-2], 0:shape[-1]]
    field = np.sin(xx / 7.0) * np.cos(yy / 5.0) * 50 + 100
    lead = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    stack = np.stack([field + k for k in range(lead)]).reshape(tuple(shape[:-2]) + field.shape)
    return stack.astype(dtype)


def with_holes(a, value):
    a = a.copy()
    a[..., 5:9, 10:16] = value
    a[..., 20, :] = value
    a[..., :, 33] = value
    return a


def as_dataarray(a, grid, dims=("y", "x"), **extra_coords):
    y, x = grid.coords()
    coords = {"y": y, "x": x, **extra_coords}
    return xgeo.crs.write_grid(xr.DataArray(a, dims=dims, coords=coords), grid)


# ------------------------------------------------------- kernels vs reference
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dst_crs,res", [("EPSG:4326", None), ("EPSG:4326", 0.0016)])
def test_kernels_equal_numpy_reference(method, dst_crs, res):
    # res=0.0016 deg is ~2x coarser than the source: exercises the stretched kernels.
    dgrid = output_grid(SRC, dst_crs, resolution=res)
    for dtype, hole in (("float32", np.nan), ("uint8", 0)):
        src = with_holes(smooth(SRC.shape, dtype), hole)
        nodata = None if dtype == "float32" else 0
        fill = math.nan if dtype == "float32" else 0
        plan = make_plan(SRC, dgrid, method, exact=True)
        ours, _ = reproject_array(src, SRC, dgrid, resampling=method, src_nodata=nodata, exact=True)
        ref = warp_reference(src, SRC, dgrid, method, nodata=nodata, fill=fill, scale=plan.scale)
        if dtype == "float32":
            np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
            np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-4, equal_nan=True)
        else:
            assert (ours != ref).mean() < 0.002  # rounding at .5 after float reordering only
            assert np.abs(ours.astype(int) - ref).max() <= 1


def test_nodata_never_leaks_into_interpolation():
    src = with_holes(smooth(SRC.shape), -9999.0)
    dgrid = output_grid(SRC, "EPSG:4326")
    for method in ("bilinear", "cubic", "lanczos", "average"):
        out, _ = reproject_array(src, SRC, dgrid, resampling=method, src_nodata=-9999.0, nodata=-9999.0)
        valid = out[out != -9999.0]
        assert valid.size > 0.5 * out.size
        assert valid.min() > 100 - 50 * 1.3  # data range 50..150 (+ cubic/lanczos overshoot)


def test_outside_footprint_is_nodata():
    src = smooth(SRC.shape)
    big = Grid.from_bounds((14.9, 45.0, 15.2, 45.2), crs=4326, resolution=0.002)
    out, _ = reproject_array(src, SRC, big, resampling="bilinear")
    assert np.isnan(out[0, 0]) and np.isnan(out[-1, -1]) and np.isfinite(out).any()
    ints, _ = reproject_array(src.astype("int16"), SRC, big, nodata=-1)
    assert ints[0, 0] == -1 and (ints[np.isfinite(out)] != -1).mean() > 0.99


# ------------------------------------------------------ laziness, chunking
@pytest.mark.parametrize("method", ["nearest", "bilinear", "cubic", "average", "mode"])
def test_chunk_invariance_bit_for_bit(method):
    src = with_holes(smooth((3, 240, 300)), np.nan)
    grid = Grid.from_bounds((500000, 5000000, 500000 + 300 * 20, 5000000 + 240 * 20), crs=32633, resolution=20)
    for res in (None, 0.0005):  # default grid, and a 2x coarser one (stretched kernel)
        dgrid = output_grid(grid, "EPSG:4326", resolution=res)
        ref, _ = reproject_array(src, grid, dgrid, resampling=method)
        chunkings = [((1, 240, 300), 64), ((3, 50, 70), (100, 37)), ((2, 97, 300), "auto")]
        for src_chunks, out_chunks in chunkings:
            lazy, _ = reproject_array(da.from_array(src, chunks=src_chunks), grid, dgrid,
                                      resampling=method, chunks=out_chunks)
            assert isinstance(lazy, da.Array)
            np.testing.assert_array_equal(lazy.compute(), ref)


def test_output_chunks_read_only_their_footprint_and_fill_tasks_read_nothing():
    grid = Grid.from_bounds((500000, 5000000, 500000 + 400 * 20, 5000000 + 400 * 20), crs=32633, resolution=20)
    src = da.from_array(smooth((400, 400)), chunks=50)  # 8 x 8 source blocks
    # An output much larger than the source: most output chunks miss it.
    dgrid = Grid.from_bounds((14.9, 45.05, 15.2, 45.2), crs=4326, resolution=0.0002)
    out, _ = reproject_array(src, grid, dgrid, resampling="bilinear", chunks=128)
    graph = dict(out.__dask_graph__())
    src_keys = {k for k in graph if isinstance(k, tuple) and k[0] == src.name}
    out_keys = [k for k in graph if isinstance(k, tuple) and k[0] == out.name]
    deps = {k: {d for d in dask.core.get_dependencies(graph, k) if d in src_keys} for k in out_keys}
    fills = [k for k, d in deps.items() if not d]
    reading = [d for d in deps.values() if d]
    assert len(fills) > len(out_keys) / 2  # most chunks are fills that read no source block
    assert max(len(d) for d in reading) < len(src_keys) / 4  # each reader touches few blocks
    dense, _ = reproject_array(smooth((400, 400)), grid, dgrid, resampling="bilinear")
    np.testing.assert_array_equal(out.compute(), dense)


def test_default_output_chunks_come_from_a_memory_budget():
    grid = Grid.from_bounds((500000, 5000000, 500000 + 2048 * 10, 5000000 + 2048 * 10), crs=32633, resolution=10)
    src = da.zeros((2048, 2048), chunks=64, dtype="float32")  # tiny input chunks: 1024 blocks
    out, dgrid = reproject_array(src, grid, dst_crs="EPSG:4326")
    side = default_chunks(1, 4)
    assert out.chunks[0][0] == min(side, dgrid.height) and out.chunks[1][0] == min(side, dgrid.width)
    assert out.npartitions < 16


def test_numpy_input_with_chunks_is_lazy():
    out, _ = reproject_array(smooth(SRC.shape), SRC, dst_crs=4326, chunks=16)
    assert isinstance(out, da.Array) and out.chunks[0][0] == 16


# ---------------------------------------------------------------- xarray API
def test_dataarray_nd_any_dim_order_keeps_coords_and_writes_grid():
    times = np.array(["2020-01-01", "2020-02-01"], dtype="datetime64[ns]")
    cube = np.stack([smooth(SRC.shape), smooth(SRC.shape) * 2])
    daa = as_dataarray(cube, SRC, dims=("time", "y", "x"), time=times).transpose("y", "time", "x")
    out = reproject(daa, "EPSG:4326", resampling="bilinear")
    assert out.dims == ("y", "time", "x")
    np.testing.assert_array_equal(out.time.values, times)
    grid = read_grid(out)
    expected = output_grid(SRC, "EPSG:4326")
    assert grid.crs.to_epsg() == 4326 and grid.shape == expected.shape
    np.testing.assert_allclose(tuple(grid.transform)[:6], tuple(expected.transform)[:6], rtol=1e-12)
    assert "crs_wkt" in out.spatial_ref.attrs and "GeoTransform" in out.spatial_ref.attrs
    assert out.x.attrs["standard_name"] == "longitude" and out.y.attrs["units"] == "degrees_north"
    first = reproject(daa.isel(time=0), "EPSG:4326", resampling="bilinear")
    np.testing.assert_array_equal(out.isel(time=0).values, first.values)


def test_dataset_every_spatial_variable_and_sample_cube_lazily():
    ds = xgeo.datasets.sentinel2_cube()
    out = reproject(ds.chunk({"time": 1}), "EPSG:3857", resampling="bilinear")
    spatial = [n for n, v in ds.data_vars.items() if "x" in v.dims and "y" in v.dims]
    assert set(spatial) <= set(out.data_vars)
    assert out.reflectance.dims == ds.reflectance.dims
    assert isinstance(out.reflectance.data, da.Array)
    eager = reproject(ds, "EPSG:3857", resampling="bilinear")
    np.testing.assert_array_equal(out.reflectance.values, eager.reflectance.values)
    assert out.geo.crs.to_epsg() == 3857


def test_integer_fill_value_respected_and_written():
    pytest.importorskip("rioxarray")
    ds = xgeo.open_dataset(DATA / "RGB.byte.tif")
    out = reproject(ds.RGB_byte, "EPSG:4326", resampling="bilinear")
    # issue 16: the raw layout, nodata in attrs, where rioxarray reads it (not NaN -> uint8)
    assert out.dtype == np.uint8 and out.attrs["_FillValue"] == 0
    assert "_FillValue" not in out.encoding and out.rio.nodata == 0
    assert (out.values == 0).mean() > 0.2  # outside the footprint and original nodata


def test_reproject_match_and_explicit_grid():
    a = as_dataarray(smooth(SRC.shape), SRC)
    target = reproject(a, "EPSG:3857", resolution=90)
    other = as_dataarray(smooth(SRC.shape) * 3, SRC)
    matched = reproject_match(other, target)
    assert matched.geo.grid.shape == target.geo.grid.shape
    np.testing.assert_allclose(tuple(matched.geo.transform)[:6], tuple(target.geo.transform)[:6], rtol=1e-12)
    explicit = reproject(other, grid=target.geo.grid)
    np.testing.assert_array_equal(matched.values, explicit.values)
    via_accessor = other.geo.reproject_match(target)
    np.testing.assert_array_equal(via_accessor.values, matched.values)
    np.testing.assert_array_equal(other.geo.reproject("EPSG:3857", resolution=90).values, matched.values)


def test_round_trip_bilinear_rmse_is_small():
    field = smooth(SRC.shape, "float64")
    a = as_dataarray(field, SRC)
    there = reproject(a, "EPSG:4326", resampling="bilinear")
    back = reproject_match(there, a, resampling="bilinear")
    inner = (slice(3, -3), slice(3, -3))
    err = back.values[inner] - field[inner]
    rmse = float(np.sqrt(np.nanmean(err**2)))
    # Measured 0.42 (0.42 % of the 100-unit range; cubic gives 0.03): two bilinear passes smooth.
    assert rmse < 0.006 * np.ptp(field)
    assert np.isfinite(back.values[inner]).mean() > 0.99


# ------------------------------------------------------------ output grid
def test_resolution_and_bounds_follow_gdalwarp_tr_te():
    g = output_grid(SRC, "EPSG:3857", resolution=(100, 50), bounds=(1670000, 5620000, 1675010, 5622000))
    assert g.transform.a == 100 and g.transform.e == -50
    assert g.bounds[0] == 1670000 and g.bounds[3] == 5622000
    assert g.shape == (40, 50)  # int((5010 + 50) / 100) = 50 columns
    tap = output_grid(SRC, "EPSG:3857", resolution=1000, target_aligned_pixels=True)
    assert all(v % 1000 == 0 for v in tap.bounds)
    shaped = output_grid(SRC, "EPSG:3857", shape=(10, 20))
    assert shaped.shape == (10, 20)
    assert np.allclose(shaped.bounds, output_grid(SRC, "EPSG:3857").bounds)


# ---------------------------------------------------------------- bad input
def test_bad_input_raises_typed_errors():
    a = as_dataarray(smooth(SRC.shape), SRC)
    with pytest.raises(CRSError, match="cannot parse CRS"):
        reproject(a, "EPSG:99999999")
    no_crs = xr.DataArray(smooth(SRC.shape), dims=("y", "x"), coords={"y": SRC.coords()[0], "x": SRC.coords()[1]})
    with pytest.raises(CRSError, match="no CRS"):
        reproject(no_crs, "EPSG:4326")
    with pytest.raises(ReprojectionError, match="does not overlap"):
        reproject(a, "EPSG:4326", bounds=(100, 10, 101, 11), resolution=0.01)
    for bad in (0, -10, (10, -10), float("nan")):
        with pytest.raises(ReprojectionError, match="positive"):
            reproject(a, "EPSG:3857", resolution=bad)
    with pytest.raises(ReprojectionError, match="unknown resampling"):
        reproject(a, "EPSG:3857", resampling="bicubic_spline_magic")
    with pytest.raises(ReprojectionError, match="empty or inverted"):
        reproject(a, "EPSG:4326", bounds=(16, 45, 15, 46))
    with pytest.raises(ReprojectionError, match="needs resolution"):
        reproject(a, "EPSG:4326", target_aligned_pixels=True)
    with pytest.raises(ReprojectionError, match="does not fit"):
        reproject(a.astype("uint8"), "EPSG:4326", nodata=-5)


@pytest.mark.parametrize("src_dtype,out_dtype,nodata,fill", [
    ("uint16", "uint16", 0, 0),  # a valid 0 cannot happen (nodata); fill kept apart
    ("int16", "uint8", -1, 255),  # clamped to the narrower output, 255 nudged to 254
    ("uint16", "int64", None, np.iinfo(np.int64).min),  # the stack's implicit-fill work type
    ("float32", "float32", None, np.nan),  # NaN stays missing
    ("float32", "float32", -9999.0, 0.0),  # a valid 0.0 is nudged off the fill
    ("float64", "int16", np.nan, -32768),  # float to int: rounded half up, clamped
    ("bool", "uint8", None, 0),
])
def test_copy_block_equals_nearest_warp_on_the_same_pixels(src_dtype, out_dtype, nodata, fill):
    """The aligned copy (xgeo.stack's fast path) follows the nearest kernel's rules exactly."""
    from xgeo.reproject.coords import build_coord_map
    from xgeo.reproject.kernels import copy_block, warp_block

    rng = np.random.default_rng(0)
    if src_dtype == "bool":
        src = rng.random((2, 9, 11)) < 0.5
    elif np.dtype(src_dtype).kind == "f":
        src = (rng.normal(size=(2, 9, 11)) * 40000).astype(src_dtype)
        src.flat[::7] = np.nan
        src.flat[1::9] = 0.0
        src.flat[2::13] = -9999.0
    else:
        info = np.iinfo(src_dtype)
        src = rng.integers(info.min, int(info.max) + 1, (2, 9, 11)).astype(src_dtype)
        src.flat[::5] = 0 if info.min == 0 else -1
        src.flat[1::6] = 255
    g = xgeo.Grid.from_bounds((0, 0, 11, 9), crs=32633, resolution=1)
    want = np.empty(src.shape, out_dtype)
    warp_block(np.ascontiguousarray(src), (0, 0), (9, 11), want, (0, 0),
               build_coord_map(g, g).lattice, "nearest", nodata=nodata, fill=fill)
    got = np.empty(src.shape, out_dtype)
    copy_block(src, got, nodata=nodata, fill=fill)
    np.testing.assert_array_equal(got, want)
