"""Files round-trip through xgeo, GDAL (rasterio) and rioxarray with the same CRS and transform."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo.errors import DecodeError

rasterio = pytest.importorskip("rasterio")
rioxarray = pytest.importorskip("rioxarray")


def _same_transform(a, b, tol=1e-6):
    return np.allclose(tuple(a)[:6], tuple(b)[:6], rtol=0, atol=tol)


@pytest.fixture(params=["sample", "nrt", "modis"])
def cube(request, data_dir, sample):
    """Real cubes in three CRS families: UTM (EPSG), LAEA (IGNF, no EPSG), MODIS sinusoidal."""
    if request.param == "sample":
        return sample[["ndvi", "reflectance"]], "ndvi"
    if request.param == "nrt":
        return xgeo.open_dataset(data_dir / "nrt_romania_32t.nc"), "B4"
    with pytest.warns(UserWarning):
        ds = xgeo.write_grid(xgeo.open_dataset(data_dir / "MODIS_ARRAY.nc"))
    return ds.rename({"__xarray_dataarray_variable__": "modis"}), "modis"


def test_netcdf_written_by_xgeo_reads_in_gdal_and_rioxarray(cube, tmp_path):
    ds, var = cube
    path = tmp_path / "out.nc"
    ds.geo.to_netcdf(path)
    with rasterio.open(f"netcdf:{path}:{var}") as src:
        assert src.crs is not None and ds.geo.crs.equals(src.crs.to_wkt())
        assert _same_transform(src.transform, ds.geo.transform)
        assert src.shape == ds.geo.shape
    da = rioxarray.open_rasterio(f"netcdf:{path}:{var}")
    assert ds.geo.crs.equals(da.rio.crs.to_wkt())
    assert _same_transform(da.rio.transform(), ds.geo.transform)
    back = xgeo.open_dataset(path)
    assert back.geo.crs == ds.geo.crs
    assert back.geo.grid.almost_equal(ds.geo.grid)
    # values and coordinates bit for bit (the grid-mapping variable's dummy value may differ)
    xr.testing.assert_equal(
        back[var].load().drop_vars("spatial_ref"), ds[var].load().drop_vars("spatial_ref")
    )
    assert back[var].attrs == {k: v for k, v in ds[var].attrs.items() if k != "grid_mapping"}


def test_zarr_v2_written_by_xgeo_reads_in_gdal(cube, tmp_path):
    ds, var = cube
    store = tmp_path / "out.zarr"
    ds.geo.to_zarr(store, zarr_format=2)
    with rasterio.open(f'ZARR:"{store}":/{var}') as src:
        assert ds.geo.crs.equals(src.crs.to_wkt())
        assert _same_transform(src.transform, ds.geo.transform)


def test_zarr_v3_written_by_xgeo_reads_in_rioxarray_and_xgeo(cube, tmp_path):
    ds, var = cube
    store = tmp_path / "out.zarr"
    ds.geo.to_zarr(store)
    assert (store / "zarr.json").exists()
    opened = xr.open_zarr(store, decode_coords="all", consolidated=False)
    assert ds.geo.crs.equals(opened[var].rio.crs.to_wkt())
    assert _same_transform(opened[var].rio.transform(), ds.geo.transform)
    back = xgeo.open_dataset(store)
    assert back.geo.crs == ds.geo.crs and back.geo.grid.almost_equal(ds.geo.grid)
    np.testing.assert_array_equal(back[var].values, ds[var].values)


def test_geotiff_written_by_gdal_is_read_by_xgeo(data_dir, tmp_path):
    ds = xgeo.open_dataset(data_dir / "RGB.byte.tif")
    with rasterio.open(data_dir / "RGB.byte.tif") as src:
        assert ds.geo.crs.to_epsg() == src.crs.to_epsg() == 32618
        assert _same_transform(ds.geo.transform, src.transform)
        np.testing.assert_array_equal(ds["RGB_byte"].values, src.read())


def test_netcdf_written_by_rioxarray_is_read_by_xgeo(data_dir, tmp_path):
    da = rioxarray.open_rasterio(data_dir / "rgbn.tif")
    path = tmp_path / "rio.nc"
    da.rename("rgbn").to_netcdf(path)
    ds = xgeo.open_dataset(path)
    assert ds.geo.crs.to_epsg() == 32618
    assert _same_transform(ds.geo.transform, da.rio.transform())


def test_netcdf_written_by_gdal_is_read_by_xgeo(data_dir, tmp_path):
    import rasterio.shutil

    path = tmp_path / "gdal.nc"
    rasterio.shutil.copy(data_dir / "byte.tif", path, driver="netCDF")  # GDAL's CreateCopy
    with rasterio.open(data_dir / "byte.tif") as src:
        transform, crs, bounds, pixels = src.transform, src.crs, src.bounds, src.read(1)
    ds = xgeo.open_dataset(path)
    assert ds.geo.crs.to_epsg() == crs.to_epsg() == 26711
    # GDAL's netCDF driver stores rows bottom-up: the grid says so (y_res > 0), same footprint.
    assert ds.geo.resolution == (60.0, 60.0)
    np.testing.assert_allclose(ds.geo.bounds, tuple(bounds))
    north_up = ds.sortby("y", ascending=False)
    assert _same_transform(north_up.geo.transform, transform)
    np.testing.assert_array_equal(north_up["Band1"].values, pixels)


def test_undecodable_netcdf_gives_decode_error_with_the_way_out(data_dir):
    with pytest.raises(DecodeError, match="UnicodeDecodeError.*engine='scipy'.*engine='rasterio'"):
        xgeo.open_dataset(data_dir / "red_band.nc", engine="netcdf4")


def test_undecodable_netcdf_auto_falls_back_with_warning(data_dir):
    pytest.importorskip("scipy")
    with pytest.warns(UserWarning, match="UnicodeDecodeError"):
        ds = xgeo.open_dataset(data_dir / "nir_band.nc")
    with pytest.warns(UserWarning, match="plain 'crs' text attribute"):
        assert ds.geo.crs.to_epsg() == 32719
        assert ds.geo.shape == (200, 300)  # the grid reads the CRS again


def test_gdal_engine_reads_the_same_file(data_dir):
    ds = xgeo.open_dataset(data_dir / "red_band.nc", engine="rasterio")
    assert ds.geo.shape == (200, 300)
    assert ds.geo.resolution == (10.0, -10.0)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        xgeo.open_dataset(tmp_path / "nope.nc")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello world")
    with pytest.raises(DecodeError, match="cannot tell the format"):
        xgeo.open_dataset(junk)
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(DecodeError):
        xgeo.open_dataset(tmp_path / "empty.zarr")


# xarray warns that time=1 splits the file's one stored chunk: the split is the point here
@pytest.mark.filterwarnings("ignore:The specified chunks separate the stored chunks")
def test_dask_chunks_pass_through(sample, tmp_path):
    ds = xgeo.datasets.sentinel2_cube(chunks={"time": 1})
    assert ds.reflectance.chunks[0] == (1,) * 5
    assert ds.geo.grid == sample.geo.grid


def test_explicit_encodings_keep_the_grid_mapping(sample, tmp_path):
    store = tmp_path / "enc.zarr"
    from zarr.codecs import ZstdCodec

    sample[["ndvi"]].geo.to_zarr(store, encoding={"ndvi": {"compressors": [ZstdCodec(level=5)]}})
    back = xgeo.open_dataset(store)
    assert back.ndvi.encoding["grid_mapping"] == "spatial_ref"
    assert back.ndvi.geo.crs.to_epsg() == 32633
    assert "grid_mapping" in sample.ndvi.encoding  # the caller's object is untouched


def test_codec_errors_surface_as_xgeo_codec_error(sample, tmp_path):
    # NDVI is free-valued float: the lossless video codec refuses it with a clear error.
    with pytest.raises(xgeo.errors.CodecError, match="(?i)lossless"):
        sample[["ndvi"]].geo.to_zarr(tmp_path / "ndvi.zarr", codec="ffv1", codec_options={"lossless": True})


def test_a_text_file_named_tif_is_a_decode_error_naming_it(tmp_path):
    path = tmp_path / "not-a-raster.tif"
    path.write_text("hello")
    with pytest.raises(DecodeError, match="not-a-raster.tif: GDAL cannot read it"):
        xgeo.open_dataset(path)


def test_a_video_codec_with_zarr_format_2_is_refused_before_anything_is_written(tmp_path):
    """It failed inside zarr ("Zarr format 2 arrays do not support 'serializer'") and left a
    progress folder that made the next write an 'interrupted' one."""
    store = tmp_path / "v2.zarr"
    ds = xgeo.datasets.sentinel2_cube()[["ndvi"]]
    with pytest.raises(xgeo.errors.CodecError, match=r"zarr_format=2 cannot hold the video"):
        ds.geo.to_zarr(store, codec="hevc", zarr_format=2)
    assert not store.exists() and not (tmp_path / "v2.zarr.progress").exists()
    ds.geo.to_zarr(store, codec="hevc")  # the default format takes it


@pytest.mark.parametrize("name", ["cogeo.tif", "s2.nc"])
def test_a_file_behind_an_object_store_url_is_named_as_not_a_zarr_store(name):
    """A GeoTIFF or netCDF object was reported "no Zarr store at ..." (a FileNotFoundError)
    although it was there."""
    import fsspec

    url = f"memory://xgeo-inputs/{name}"
    fsspec.filesystem("memory").pipe(url, b"not zarr")
    with pytest.raises(xgeo.errors.DecodeError, match=r"opens Zarr stores; this names a \.(tif|nc) file"):
        xgeo.open_dataset(url)
