"""Reading and writing the grid on xarray objects, in every layout users bring."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo.crs import find_spatial_dims, read_crs, read_grid, set_crs, write_grid
from xgeo.errors import CRSError, GridError, GridMappingConflictError


def _plain(dims=("y", "x"), shape=(3, 4)):
    y = 100.0 - 10 * (np.arange(shape[0]) + 0.5)
    x = 10 * (np.arange(shape[1]) + 0.5)
    return xr.DataArray(
        np.arange(np.prod(shape), dtype="float32").reshape(shape),
        dims=dims,
        coords={dims[0]: y, dims[1]: x},
        name="v",
    )


def test_sample_cube_grid(sample):
    g = sample.geo.grid
    assert g.crs.to_epsg() == 32633
    assert g.shape == (101, 100)
    assert sample.reflectance.geo.grid == g
    assert sample.reflectance.isel(time=0, band=3).geo.grid == g
    np.testing.assert_allclose(g.resolution, (9.99479, -9.99745), atol=1e-5)


def test_nrt_laea_cube_has_no_epsg_but_a_crs(data_dir):
    ds = xgeo.open_dataset(data_dir / "nrt_romania_32t.nc")
    crs = ds.geo.crs
    assert crs is not None and crs.to_epsg() is None
    assert "LAEA" in crs.name or "Lambert" in crs.to_wkt()
    assert ds.B4.geo.grid.shape == (100, 100)
    assert ds.geo.resolution == (10.0, -10.0)


# pyproj warns that a PROJ string (to_dict) loses information; only "proj" is read in these two
@pytest.mark.filterwarnings("ignore:You will likely lose important projection information")
def test_modis_sinusoidal_from_proj4_text_attribute_warns(data_dir):
    ds = xgeo.open_dataset(data_dir / "MODIS_ARRAY.nc")
    with pytest.warns(UserWarning, match="plain 'crs' text attribute"):
        crs = ds.geo.crs
    assert crs.to_dict()["proj"] == "sinu"


@pytest.mark.filterwarnings("ignore:You will likely lose important projection information")
def test_geostationary_cf_parameters(data_dir):
    ds = xgeo.open_dataset(data_dir / "unicode.nc")
    crs = ds.LST.geo.crs
    assert crs.to_dict()["proj"] == "geos"


@pytest.mark.parametrize(
    "dims", [("y", "x"), ("lat", "lon"), ("latitude", "longitude"), ("Y", "X")]
)
def test_spatial_dims_by_name(dims):
    assert find_spatial_dims(_plain(dims)) == dims


def test_spatial_dims_by_cf_attributes_win_over_names():
    da = _plain(("row", "col"))
    da["row"].attrs["axis"] = "Y"
    da["col"].attrs["standard_name"] = "projection_x_coordinate"
    assert find_spatial_dims(da) == ("row", "col")


def test_missing_spatial_dims_is_a_clear_error():
    with pytest.raises(GridError, match="no spatial x dimension found among dims"):
        find_spatial_dims(_plain(("y", "col")))


def test_spatial_dim_without_coordinates():
    da = xr.DataArray(np.zeros((2, 2)), dims=("y", "x"))
    with pytest.raises(GridError, match="has no coordinate values"):
        read_grid(da)


def test_set_crs_returns_new_object_and_writes_cf():
    da = _plain()
    out = da.geo.set_crs("EPSG:32633")
    assert da.geo.crs is None  # original untouched
    assert out.geo.crs.to_epsg() == 32633
    ref = out.spatial_ref.attrs
    assert ref["crs_wkt"] == ref["spatial_ref"]
    assert ref["grid_mapping_name"] == "transverse_mercator"
    assert ref["GeoTransform"] == "0.0 10.0 0.0 100.0 0.0 -10.0"
    assert out.encoding["grid_mapping"] == "spatial_ref" and "grid_mapping" not in out.attrs
    assert out.x.attrs["standard_name"] == "projection_x_coordinate"
    assert out.y.attrs["axis"] == "Y"


def test_geographic_crs_gets_lon_lat_attributes():
    out = set_crs(_plain(("lat", "lon")), 4326)
    assert out.lon.attrs["units"] == "degrees_east" and out.lat.attrs["standard_name"] == "latitude"


def test_geotransform_rewritten_after_slicing(sample):
    sub = sample.isel(x=slice(10, 20), y=slice(5, 50))
    stale = sub.spatial_ref.attrs.get("GeoTransform")
    fresh = write_grid(sub)
    gt = [float(v) for v in fresh.spatial_ref.attrs["GeoTransform"].split()]
    assert gt[0] == pytest.approx(sample.x.values[10] - gt[1] / 2)
    assert gt[3] == pytest.approx(sample.y.values[5] - gt[5] / 2)
    assert stale is None or stale != fresh.spatial_ref.attrs["GeoTransform"]
    assert fresh.geo.grid.almost_equal(sample.geo.grid[5:50, 10:20])
    assert not fresh.geo.grid.almost_equal(sample.geo.grid[5:50, 11:21])


def test_write_grid_with_explicit_grid_replaces_coordinates():
    da = _plain()
    grid = xgeo.Grid.from_bounds((0, 0, 40, 30), crs=3857, resolution=10)
    out = write_grid(da, grid)
    assert out.geo.grid == grid
    with pytest.raises(GridError, match="does not match"):
        write_grid(da, grid[0:2, :])


def test_several_grid_mappings_conflict():
    a = set_crs(_plain(), 32633).to_dataset()
    b = set_crs(_plain(), 32634).rename("w").to_dataset().rename_vars(spatial_ref="crs_b")
    b["w"].encoding["grid_mapping"] = "crs_b"
    merged = xr.merge([a, b])
    with pytest.raises(GridMappingConflictError, match="different grid mappings"):
        _ = merged.geo.crs


def test_same_crs_under_two_names_is_not_a_conflict():
    a = set_crs(_plain(), 32633).to_dataset()
    b = set_crs(_plain(), 32633).rename("w").to_dataset().rename_vars(spatial_ref="crs_b")
    b["w"].encoding["grid_mapping"] = "crs_b"
    assert xr.merge([a, b]).geo.crs.to_epsg() == 32633


def test_unparseable_crs_attribute_raises():
    da = _plain()
    da.attrs["crs"] = "this is not a crs"
    with pytest.raises(CRSError, match="cannot parse CRS"):
        read_crs(da)


def test_rioxarray_layout_is_read():
    rioxarray = pytest.importorskip("rioxarray")  # noqa: F841
    da = _plain().rio.write_crs("EPSG:32618")
    assert read_crs(da).to_epsg() == 32618
    assert da.geo.transform == da.rio.transform()


def test_odc_geo_layout_is_read():
    pytest.importorskip("odc.geo")
    from odc.geo.geobox import GeoBox
    from odc.geo.xr import xr_zeros

    gbox = GeoBox.from_bbox((500000, 4000000, 500400, 4000300), crs="EPSG:32633", resolution=10)
    da = xr_zeros(gbox, dtype="uint16")
    assert read_crs(da).to_epsg() == 32633
    assert tuple(da.geo.transform)[:6] == tuple(gbox.transform)[:6]
    assert da.geo.shape == gbox.shape


def test_another_geo_accessor_is_warned_about():
    import subprocess
    import sys

    code = (
        "import warnings, xarray as xr\n"
        "@xr.register_dataarray_accessor('geo')\n"
        "class Other:\n"
        "    def __init__(self, obj): pass\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    import xgeo\n"
        "print([str(x.message) for x in w if 'already registered' in str(x.message)])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "already registered" in out.stdout and "xgeo replaces it" in out.stdout


def test_warning_free_on_clean_cf_data(sample):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sample.geo.crs.to_epsg() == 32633


def test_write_grid_given_a_crs_where_the_grid_goes_says_to_pass_crs():
    da = xr.DataArray(np.zeros((2, 2)), dims=("y", "x"), coords={"y": [1.5, 0.5], "x": [0.5, 1.5]})
    with pytest.raises(GridError, match=r"not str 'EPSG:32633'.*write_grid\(crs='EPSG:32633'\)"):
        da.geo.write_grid("EPSG:32633")


@pytest.mark.parametrize("shape", [(1, 30), (20, 1), (1, 1)])
def test_a_one_pixel_high_or_wide_raster_takes_its_spacing_from_the_geotransform(tmp_path, shape):
    """Its coordinates hold no spacing; the file's transform does (rioxarray keeps it in
    spatial_ref.GeoTransform). xgeo refused it: 'a resolution cannot be derived'."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    path = tmp_path / "thin.tif"
    h, w = shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="uint16",
                       crs="EPSG:32633", transform=from_origin(4e5, 5e6, 10, 20)) as dst:
        dst.write(np.arange(h * w, dtype="uint16").reshape(1, h, w))
    ds = xgeo.open_dataset(path)
    grid = ds.geo.grid
    assert grid.shape == shape and tuple(grid.transform)[:6] == (10.0, 0.0, 4e5, 0.0, -20.0, 5e6)
    assert grid.crs.to_epsg() == 32633
    ds.geo.to_zarr(tmp_path / "thin.zarr", codec="ffv1")
    back = xgeo.open_dataset(tmp_path / "thin.zarr")
    assert back.geo.grid == grid
    np.testing.assert_array_equal(back[next(iter(back.data_vars))].values,
                                  ds[next(iter(ds.data_vars))].values)
    # a transform that does not put pixel centres on the coordinates is not taken
    off = ds.assign_coords(x=ds.x + 3.0)
    with pytest.raises(GridError, match="a resolution cannot be derived"):
        off.geo.grid  # noqa: B018


def test_a_rotated_raster_is_refused_as_rotated(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    path = tmp_path / "rot.tif"
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=1, dtype="uint8",
                       crs="EPSG:32633", transform=Affine(10, 2, 4e5, 2, -10, 5e6)) as dst:
        dst.write(np.zeros((1, 20, 20), "uint8"))
    with pytest.raises(GridError, match=r"rotated or sheared \(GeoTransform 400000 10 2 "
                                        r"5e\+06 2 -10\); .*north-up"):
        xgeo.open_dataset(path).geo.grid  # noqa: B018
