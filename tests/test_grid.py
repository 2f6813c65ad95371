"""The Grid value: algebra checked against GDAL/pyproj where an outside oracle exists."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS

from xgeo import Grid, parse_crs
from xgeo.errors import CRSError, GridError

UTM33 = "EPSG:32633"


def test_from_bounds_resolution_and_shape_agree():
    g = Grid.from_bounds((465000, 5079000, 466000, 5080500), crs=UTM33, resolution=10)
    assert g.shape == (150, 100)
    assert g.resolution == (10.0, -10.0)
    assert g.bounds == (465000.0, 5079000.0, 466000.0, 5080500.0)
    same = Grid.from_bounds(g.bounds, crs=UTM33, shape=g.shape)
    assert same == g and hash(same) == hash(g)


def test_from_bounds_rounds_up_to_whole_pixels_from_top_left():
    g = Grid.from_bounds((0, 0, 25, 25), crs=UTM33, resolution=10)
    assert g.shape == (3, 3)
    left, bottom, right, top = g.bounds
    assert (left, top) == (0.0, 25.0) and right == 30.0 and bottom == -5.0


def test_coords_round_trip_through_from_coords(sample):
    x = sample.x.values
    y = sample.y.values
    g = Grid.from_coords(x, y, crs=UTM33)
    yy, xx = g.coords()
    np.testing.assert_allclose(xx, x, rtol=0, atol=1e-6)
    np.testing.assert_allclose(yy, y, rtol=0, atol=1e-6)
    assert g.resolution[1] < 0  # north-up


def test_float32_coordinates_are_regular_enough():
    x = (np.arange(10) * 2004.017 - 60120.5).astype("float32")
    y = (3887793.5 - np.arange(10) * 2004.0).astype("float32")
    g = Grid.from_coords(x, y)
    assert g.shape == (10, 10)


@pytest.mark.parametrize(
    "x, message",
    [
        ([0.0, 1.0, 3.0, 4.0], "irregularly spaced"),
        ([0.0, 2.0, 1.0, 3.0], "not strictly monotonic"),
        ([0.0, 1.0, 1.0, 2.0], "not strictly monotonic"),
        ([5.0], "cannot be derived"),
        ([0.0, np.nan, 2.0], "NaN"),
    ],
)
def test_bad_coordinates_raise_grid_error(x, message):
    with pytest.raises(GridError, match=message):
        Grid.from_coords(x, [1.0, 0.0])


def test_slicing_gives_subgrid_with_matching_pixels():
    g = Grid.from_bounds((0, 0, 100, 50), crs=UTM33, resolution=10)
    sub = g[1:3, 2:5]
    assert sub.shape == (2, 3)
    assert sub.bounds == (20.0, 20.0, 50.0, 40.0)
    y, x = g.coords()
    sy, sx = sub.coords()
    np.testing.assert_array_equal(sy, y[1:3])
    np.testing.assert_array_equal(sx, x[2:5])
    coarse = g[::2, ::5]
    assert coarse.resolution == (50.0, -20.0) and coarse.shape == (3, 2)
    with pytest.raises(GridError, match="selects no pixels"):
        g[10:20, :]


def test_tiles_cover_every_pixel_once():
    g = Grid.from_bounds((0, 0, 1000, 730), crs=UTM33, resolution=10)
    seen = np.zeros(g.shape, dtype=int)
    for rows, cols in g.tiles((32, 40)):
        seen[rows, cols] += 1
        assert rows.stop - rows.start <= 32 and cols.stop - cols.start <= 40
    assert (seen == 1).all()


def test_xy_and_rowcol_are_inverse():
    g = Grid.from_bounds((100, 200, 400, 500), crs=UTM33, resolution=(3, 5))
    rows = np.array([0, 10, 59])
    cols = np.array([0, 50, 99])
    x, y = g.xy(rows, cols)
    r, c = g.rowcol(x, y)
    np.testing.assert_allclose(r, rows + 0.5)
    np.testing.assert_allclose(c, cols + 0.5)


def test_xy_offset_gives_centres_or_corners_and_broadcasts():
    g = Grid(UTM33, Affine(10.0, 2.0, 1000.0, 1.0, -10.0, 5000.0), (4, 6))  # sheared
    rows, cols = np.mgrid[0:4, 0:6]
    x, y = g.xy(rows, cols, offset=0.0)
    corner = [g.transform @ (c, r) for r, c in zip(rows.ravel(), cols.ravel(), strict=True)]
    np.testing.assert_array_equal(np.stack([x.ravel(), y.ravel()], -1), corner)
    cx, cy = g.xy(rows, cols)  # default: centres
    np.testing.assert_allclose(np.stack([cx, cy]), np.stack(g.xy(rows + 0.5, cols + 0.5, offset=0.0)))
    x0, y0 = g.xy(0, np.arange(6))  # a scalar row broadcasts
    assert x0.shape == y0.shape == (6,)


def test_rowcol_inverts_corner_xy_and_gdal_order_matches_gdal_inverse():
    g = Grid.from_bounds((465000, 5079000, 466000, 5080500), crs=UTM33, resolution=(10, 3))
    rows, cols = np.array([0.0, 12.25, 149.5]), np.array([0.0, 7.5, 99.0])
    for gdal in (False, True):
        r, c = g.rowcol(*g.xy(rows, cols, offset=0.0), gdal=gdal)
        np.testing.assert_allclose(r, rows, atol=1e-9)
        np.testing.assert_allclose(c, cols, atol=1e-9)
    a, _, c0, _, e, f0 = tuple(g.transform)[:6]
    x, y = np.array([465123.4]), np.array([5080000.1])
    r, c = g.rowcol(x, y, gdal=True)
    assert c[0] == -c0 / a + x[0] * (1.0 / a) + y[0] * 0.0  # GDAL's inverse and order, bit for bit
    assert r[0] == -f0 / e + x[0] * 0.0 + y[0] * (1.0 / e)
    with np.errstate(all="raise"):  # points that did not project stay non-finite, silently
        r, c = g.rowcol([np.inf, np.nan], [0.0, 0.0])
    assert not np.isfinite(c).any()


def test_resolution_is_a_named_x_y_tuple():
    g = Grid.from_bounds((0, 0, 30, 20), crs=UTM33, resolution=(10, 5))
    assert g.resolution == (10.0, -5.0) and (g.resolution.x, g.resolution.y) == (10.0, -5.0)
    xres, yres = g.resolution
    assert isinstance(g.resolution, tuple) and (xres, yres) == (10.0, -5.0)


def test_bounds_in_matches_gdal():
    warp = pytest.importorskip("rasterio.warp")
    g = Grid.from_bounds((465181.05, 5079244.89, 466180.53, 5080254.63), crs=UTM33, resolution=10)
    ours = g.bounds_in("EPSG:4326")
    gdal = warp.transform_bounds(UTM33, "EPSG:4326", *g.bounds, densify_pts=21)
    np.testing.assert_allclose(ours, gdal, rtol=0, atol=1e-9)


def test_footprint_is_a_closed_ring_in_the_target_crs():
    g = Grid.from_bounds((0, 0, 1000, 1000), crs=UTM33, resolution=10)
    xs, ys = g.footprint("EPSG:4326", densify=5)
    assert xs[0] == xs[-1] and ys[0] == ys[-1]
    assert len(xs) == 4 * 4 + 1
    lon, lat = g.footprint(densify=5)
    assert lon.min() == 0 and lat.max() == 1000


def test_grid_without_crs_needs_one_for_reprojection_queries():
    g = Grid.from_bounds((0, 0, 10, 10), shape=(1, 1))
    assert g.crs is None
    with pytest.raises(CRSError, match="no CRS"):
        g.bounds_in(4326)


def test_crs_equality_and_rotated_transforms():
    a = Grid(32633, Affine(10, 0, 0, 0, -10, 100), (10, 10))
    b = Grid(CRS.from_epsg(32633), (10, 0, 0, 0, -10, 100), (10, 10))
    assert a == b
    assert a != Grid(32634, a.transform, a.shape)
    rotated = Grid(32633, Affine.rotation(30) @ Affine.scale(10, -10), (5, 5))
    assert not rotated.is_axis_aligned
    with pytest.raises(GridError, match="rotated"):
        _ = rotated.resolution


@pytest.mark.parametrize("resolution", [0, -10, (10, 0), float("nan"), "ten"])
def test_bad_resolution_raises(resolution):
    with pytest.raises(GridError, match="resolution"):
        Grid.from_bounds((0, 0, 100, 100), crs=UTM33, resolution=resolution)


@pytest.mark.parametrize("value", ["EPSG:999999", "not a crs", "", None, "+proj=nonsense"])
def test_unparseable_crs_raises_crs_error(value):
    with pytest.raises(CRSError):
        parse_crs(value)


def test_legacy_init_syntax_is_understood():
    assert parse_crs("+init=epsg:32719").to_epsg() == 32719


def test_almost_equal_ignores_float_noise_only():
    g = Grid.from_bounds((0, 0, 1000, 1000), crs=UTM33, resolution=10)
    noisy = Grid(UTM33, Affine(10 + 1e-12, 0, 1e-9, 0, -10, 1000 - 1e-9), g.shape)
    assert noisy != g and noisy.almost_equal(g)
    assert not g.almost_equal(Grid(UTM33, Affine(10, 0, 0.5, 0, -10, 1000), g.shape))
    assert not g.almost_equal(g.to_crs(32634))
