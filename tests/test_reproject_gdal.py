"""Reprojection accuracy against GDAL (rasterio) as the oracle, on the same output grid.

GDAL's default approximate transformer is itself off by up to 0.125 source pixel
(measured ~0.1 px on RGB.byte.tif -> 4326), so pixel-exact criteria compare
``exact=True`` with GDAL run with a negligible error threshold (a WarpedVRT with
``tolerance=1e-9``); the default, approximate mode is checked separately against
both our exact mode and GDAL's default.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from rasterio.enums import Resampling  # noqa: E402
from rasterio.vrt import WarpedVRT  # noqa: E402
from rasterio.warp import calculate_default_transform  # noqa: E402
from rasterio.warp import reproject as rio_reproject  # noqa: E402

import xgeo  # noqa: E402
from xgeo.grid import Grid  # noqa: E402
from xgeo.reproject import output_grid, reproject, reproject_array  # noqa: E402
from xgeo.reproject.plan import make_plan  # noqa: E402

DATA = Path(__file__).parent / "data"
_GDAL_NAMES = {"median": "med"}


def gdal_warp(arr, src: Grid, dst: Grid, method: str, nodata=None, *, exact: bool = True):
    """One band through GDAL's warper onto ``dst``; floats use NaN for nodata."""
    if arr.dtype.kind == "f" and nodata is None:
        nodata = np.nan
    fd, path = tempfile.mkstemp(suffix=".tif")
    os.close(fd)
    try:
        with rasterio.open(path, "w", driver="GTiff", width=src.width, height=src.height, count=1,
                           dtype=arr.dtype, crs=src.crs.to_wkt(), transform=src.transform,
                           nodata=nodata) as ds:
            ds.write(arr, 1)
        with rasterio.open(path) as ds:
            kw = dict(crs=dst.crs.to_wkt(), transform=dst.transform, width=dst.width,
                      height=dst.height, resampling=getattr(Resampling, _GDAL_NAMES.get(method, method)))
            if exact:
                kw["tolerance"] = 1e-9
            if nodata is not None:
                kw["nodata"] = nodata
            with WarpedVRT(ds, **kw) as vrt:
                return vrt.read(1)
    finally:
        os.remove(path)


def valid_mask(a, nodata):
    return np.isfinite(a) if nodata is None else (a != nodata)


def compare(ours, ref, nodata):
    vo, vr = valid_mask(ours, nodata), valid_mask(ref, nodata)
    both = vo & vr
    return {
        "mask": float((vo == vr).mean()),
        "identical": float((ours == ref)[both].mean()),
        "mad": float(np.abs(ours.astype("float64") - ref)[both].mean()),
        "valid": int(both.sum()),
    }


@pytest.fixture(scope="module")
def rgb():
    ds = xgeo.open_dataset(DATA / "RGB.byte.tif")
    return ds.RGB_byte.values, ds.geo.grid


@pytest.fixture(scope="module")
def modis():
    ds = xgeo.open_dataset(DATA / "MODIS_ARRAY.nc")
    with pytest.warns(UserWarning, match="plain 'crs' text attribute"):
        grid = ds.geo.grid
    return ds["__xarray_dataarray_variable__"].values, grid


@pytest.fixture(scope="module")
def goes():
    ds = xgeo.open_dataset(DATA / "goes.tif")
    return ds[next(iter(ds.data_vars))].values[0], ds.geo.grid


@pytest.fixture(scope="module")
def nrt():
    ds = xgeo.open_dataset(DATA / "nrt_romania_32t.nc")
    return ds.B4.values[3], ds.geo.grid


# ----------------------------------------------------------------- output grid
@pytest.mark.parametrize(
    "name,dst",
    [("rgb", "EPSG:4326"), ("rgb", "EPSG:3857"), ("rgb", "EPSG:3413"), ("modis", "EPSG:4326"),
     ("goes", "EPSG:4326"), ("nrt", "EPSG:32635")],
)
def test_default_grid_is_gdals(name, dst, request):
    _, grid = request.getfixturevalue(name)
    ours = output_grid(grid, dst)
    transform, width, height = calculate_default_transform(
        grid.crs.to_wkt(), dst, grid.width, grid.height, *grid.bounds
    )
    assert ours.shape == (height, width)
    # The nrt CRS goes through a WKT round trip in GDAL: sub-millimetre differences.
    np.testing.assert_allclose(tuple(ours.transform)[:6], tuple(transform)[:6], rtol=1e-9, atol=1e-3)


# ------------------------------------------------------------ pixel accuracy
@pytest.mark.parametrize("dst", ["EPSG:4326", "EPSG:3857"])
@pytest.mark.parametrize("method", ["nearest", "bilinear", "cubic", "average", "mode", "min", "max", "median"])
def test_rgb_matches_gdal(rgb, dst, method):
    arr, grid = rgb
    dgrid = output_grid(grid, dst)
    band = arr[0]
    ours, _ = reproject_array(band, grid, dgrid, resampling=method, src_nodata=0, exact=True)
    ref = gdal_warp(band, grid, dgrid, method, nodata=0)
    stats = compare(ours, ref, 0)
    assert stats["mask"] >= 0.995, stats
    if method == "cubic":
        # GDAL's cubic differs next to nodata only (its masked path); far from it we agree.
        assert stats["identical"] >= 0.99 and stats["mad"] <= 0.005 * 255, stats
    else:
        assert stats["identical"] >= 0.999, stats


@pytest.mark.parametrize("method", ["nearest", "bilinear", "cubic"])
def test_modis_sinusoidal_to_lonlat(modis, method):
    arr, grid = modis
    dgrid = output_grid(grid, "EPSG:4326")
    ours, _ = reproject_array(arr, grid, dgrid, resampling=method, exact=True)
    ref = gdal_warp(arr, grid, dgrid, method)
    stats = compare(ours, ref, None)
    assert stats["mask"] >= 0.995, stats
    if method == "nearest":
        assert stats["identical"] >= 0.999, stats
    else:
        assert stats["mad"] <= 0.005 * np.nanmax(arr) - 0.005 * np.nanmin(arr), stats


@pytest.mark.parametrize("method", ["nearest", "bilinear", "cubic"])
def test_nrt_laea_without_epsg_to_utm(nrt, method):
    arr, grid = nrt
    dgrid = output_grid(grid, "EPSG:32635")
    ours, _ = reproject_array(arr, grid, dgrid, resampling=method, exact=True)
    ref = gdal_warp(arr, grid, dgrid, method)
    stats = compare(ours, ref, None)
    assert stats["mask"] >= 0.995, stats
    assert stats["identical"] >= (0.999 if method == "nearest" else 0.0), stats
    assert stats["mad"] <= 0.005 * (np.nanmax(arr) - np.nanmin(arr)), stats


@pytest.mark.parametrize("method", ["nearest", "bilinear"])
def test_goes_off_disc_pixels(goes, method):
    arr, grid = goes
    dgrid = output_grid(grid, "EPSG:4326")
    ours, _ = reproject_array(arr, grid, dgrid, resampling=method, src_nodata=0, exact=True)
    ref = gdal_warp(arr, grid, dgrid, method, nodata=0)
    stats = compare(ours, ref, 0)
    assert stats["mask"] >= 0.995, stats
    if method == "nearest":
        assert stats["identical"] >= 0.999, stats
    assert stats["mad"] <= 0.005 * 255, stats
    # Points off the Earth disc do not transform: the corners of the lon/lat box are empty.
    plan = make_plan(grid, dgrid, method)
    col, row = plan.coords.evaluate(0, 5, 0, 5)
    assert np.isnan(col).all() and (ours[:5, :5] == 0).all()


def test_default_mode_vs_exact_and_gdal_default(rgb):
    arr, grid = rgb
    band = arr[0]
    dgrid = output_grid(grid, "EPSG:4326")
    approx, _ = reproject_array(band, grid, dgrid, src_nodata=0)
    exact, _ = reproject_array(band, grid, dgrid, src_nodata=0, exact=True)
    gdal_exact = gdal_warp(band, grid, dgrid, "nearest", nodata=0)
    gdal_default = np.zeros_like(band, shape=dgrid.shape)
    rio_reproject(band, gdal_default, src_transform=grid.transform, src_crs=grid.crs.to_wkt(),
                  dst_transform=dgrid.transform, dst_crs="EPSG:4326", src_nodata=0, dst_nodata=0)
    ours_vs_exact = compare(approx, exact, 0)["identical"]
    ours_vs_gdal = compare(approx, gdal_exact, 0)["identical"]
    gdal_default_vs_exact = compare(gdal_default, gdal_exact, 0)["identical"]
    # Our lattice is finer than GDAL's scanline approximation at the same 0.125-px bound.
    assert ours_vs_exact >= 0.99
    assert ours_vs_gdal > gdal_default_vs_exact


def test_approximation_error_below_tolerance(modis):
    _, grid = modis
    dgrid = output_grid(grid, "EPSG:4326")
    approx = make_plan(grid, dgrid, "nearest").coords
    exact = make_plan(grid, dgrid, "nearest", exact=True).coords
    ax, ay = approx.evaluate(0, dgrid.height, 0, dgrid.width)
    ex, ey = exact.evaluate(0, dgrid.height, 0, dgrid.width)
    assert np.nanmax(np.abs(ax - ex)) < 0.125 and np.nanmax(np.abs(ay - ey)) < 0.125


# -------------------------------------------------------- synthetic and special
def smooth_field(shape, dtype="float32"):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return (np.sin(xx / 23.0) * np.cos(yy / 31.0) * 100 + 200).astype(dtype)


def test_antimeridian_output_matches_gdal():
    src = Grid.from_bounds((600000, 6600000, 900000, 6900000), crs=32660, resolution=1000)
    dgrid = output_grid(src, "EPSG:4326")
    left, _, right, _ = dgrid.bounds
    assert left < 180 < right and right - left < 10  # hugs the footprint across 180
    field = smooth_field(src.shape)
    for method in ("nearest", "bilinear"):
        ours, _ = reproject_array(field, src, dgrid, resampling=method, exact=True)
        stats = compare(ours, gdal_warp(field, src, dgrid, method), None)
        assert stats["mask"] >= 0.995 and stats["identical"] >= 0.999, stats


@pytest.mark.parametrize("dst,lat", [("EPSG:3413", (55, 90)), ("EPSG:3031", (-90, -55))])
def test_polar_stereographic_output(dst, lat):
    src = Grid.from_bounds((-180, lat[0], 180, lat[1]), crs=4326, resolution=0.5)
    rows, cols = np.mgrid[0:src.height, 0:src.width]
    lon = -180 + (cols + 0.5) * 0.5
    latv = lat[1] - (rows + 0.5) * 0.5
    field = (np.cos(np.radians(latv)) * np.cos(np.radians(lon)) * 100 + 300).astype("float32")
    dgrid = output_grid(src, dst)
    transform, width, height = calculate_default_transform("EPSG:4326", dst, src.width, src.height, *src.bounds)
    assert dgrid.shape == (height, width)
    for method in ("nearest", "bilinear", "cubic"):
        ours, _ = reproject_array(field, src, dgrid, resampling=method, exact=True)
        stats = compare(ours, gdal_warp(field, src, dgrid, method), None)
        assert stats["mask"] >= 0.995, stats
        assert stats["mad"] <= 0.005 * 200, stats
        if method != "cubic":
            assert stats["identical"] >= 0.999, stats


def gaussian_blob(grid: Grid, centre, sigma):
    y, x = grid.coords()
    return np.exp(-((x[None, :] - centre[0]) ** 2 + (y[:, None] - centre[1]) ** 2) / (2 * sigma**2)).astype("float32")


def centroid(a):
    a = np.nan_to_num(a.astype("float64"))
    rows, cols = np.mgrid[0:a.shape[0], 0:a.shape[1]]
    return (rows * a).sum() / a.sum(), (cols * a).sum() / a.sum()


@pytest.mark.parametrize("method", ["bilinear", "cubic"])
def test_no_systematic_shift_gaussian_blob(method):
    src = Grid.from_bounds((400000, 5000000, 420000, 5020000), crs=32633, resolution=100)
    blob = gaussian_blob(src, (410300, 5009700), 1500)
    dgrid = output_grid(src, "EPSG:4326")
    ours, _ = reproject_array(blob, src, dgrid, resampling=method)
    ref = gdal_warp(blob, src, dgrid, method)
    dr, dc = np.subtract(centroid(ours), centroid(ref))
    assert abs(dr) <= 0.05 and abs(dc) <= 0.05
    stats = compare(ours, ref, None)
    assert stats["mad"] <= 0.005 and stats["mask"] >= 0.995


def test_dataset_reproject_through_xarray_matches_gdal(rgb):
    ds = xgeo.open_dataset(DATA / "RGB.byte.tif")
    out = reproject(ds, "EPSG:3857", resampling="bilinear", exact=True)
    arr, grid = rgb
    dgrid = out.geo.grid
    for b in range(3):
        ref = gdal_warp(arr[b], grid, dgrid, "bilinear", nodata=0)
        stats = compare(out.RGB_byte.values[b], ref, 0)
        assert stats["mask"] >= 0.995 and stats["identical"] >= 0.999, stats
