"""GeoTIFF in and out (issue 16): GeoTIFF input writes to every format, COG output that GDAL
reads with the same grid, nodata that rioxarray and GDAL read back as what it is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import xgeo
from xgeo.cli import main
from xgeo.errors import DecodeError

rasterio = pytest.importorskip("rasterio")
rioxarray = pytest.importorskip("rioxarray")

DATA = Path(__file__).parent / "data"
WINDOW = {"y": slice(300, 364), "x": slice(300, 364)}  # 64 x 64, part nodata in RGB.byte


def _same_transform(a, b, tol=1e-6):
    return np.allclose(tuple(a)[:6], tuple(b)[:6], rtol=0, atol=tol)


@pytest.mark.parametrize("name", ["RGB.byte.tif", "cogeo.tif", "rgbn.tif"])
@pytest.mark.parametrize("writer", ["to_zarr", "to_netcdf", "to_geotiff"])
def test_geotiff_input_writes_to_every_format(tmp_path, name, writer):
    """Lazy GeoTIFF input reached xarray's Zarr region writes with scale_factor/add_offset in
    .attrs that xarray also put in .encoding: "Key 'add_offset' already exists in attrs"."""
    src = xgeo.open_dataset(DATA / name, chunks={}).isel(WINDOW)
    var = next(iter(src.data_vars))
    out = tmp_path / f"out.{ {'to_zarr': 'zarr', 'to_netcdf': 'nc', 'to_geotiff': 'tif'}[writer]}"
    getattr(xgeo.io, writer)(src, out)
    back = xgeo.open_dataset(out, **({} if writer == "to_geotiff" else {"mask_and_scale": False}))
    got = back[next(iter(back.data_vars))]
    assert got.dtype == np.uint8  # raw values, stored as they were
    np.testing.assert_array_equal(got.values, src[var].values)
    nodata = src[var].attrs.get("_FillValue")  # RGB.byte: 0, the others: none
    assert got.attrs.get("_FillValue") == nodata
    assert back.geo.grid.almost_equal(src.geo.grid)


def test_reader_drops_gdal_no_packing_and_keeps_nodata_where_rioxarray_reads_it():
    da = xgeo.open_dataset(DATA / "RGB.byte.tif")["RGB_byte"]
    assert "scale_factor" not in da.attrs and "add_offset" not in da.attrs
    assert not any(k.startswith("STATISTICS_") for k in da.attrs)  # stale after any operation
    assert da.attrs["_FillValue"] == 0 and da.rio.nodata == 0 and da.rio.encoded_nodata is None


def test_xarray_decoding_of_our_geotiff_derived_store_is_float32_not_float64(tmp_path):
    """With GDAL's scale_factor=1.0 kept, xarray decoded every uint8 band to float64."""
    out = tmp_path / "rgb.zarr"
    xgeo.open_dataset(DATA / "RGB.byte.tif").isel(WINDOW).geo.to_zarr(out)
    assert xgeo.open_dataset(out)["RGB_byte"].dtype == np.float32


def test_unreadable_pixels_are_a_decode_error_naming_the_file(tmp_path):
    """A COG whose header is intact but whose tiles are cut off opens, then failed on read
    with a bare RasterioIOError deep in dask."""
    bad = tmp_path / "cut.tif"
    bad.write_bytes((DATA / "cogeo.tif").read_bytes()[:200_000])
    ds = xgeo.open_dataset(bad, chunks={})
    with pytest.raises(DecodeError, match=r"cut\.tif: GDAL cannot read its pixels"):
        ds["cut"].load()
    with pytest.raises(DecodeError, match="truncated or corrupt"):
        xgeo.open_dataset(bad)["cut"].load()


def to_geotiff(*args, **kwargs):
    from xgeo.geotiff import to_geotiff

    return to_geotiff(*args, **kwargs)


# ----------------------------------------------------------------------------- writing
def test_cog_has_grid_nodata_tiles_compression_and_overviews(tmp_path):
    src = xgeo.open_dataset(DATA / "RGB.byte.tif")
    out = to_geotiff(src, tmp_path / "rgb.tif")
    with rasterio.open(out) as cog, rasterio.open(DATA / "RGB.byte.tif") as orig:
        assert cog.crs == orig.crs and _same_transform(cog.transform, orig.transform)
        assert cog.nodata == 0 and cog.count == 3 and cog.dtypes == orig.dtypes
        assert cog.profile["tiled"] and cog.block_shapes[0] == (512, 512)
        assert cog.profile["compress"] == "deflate"
        assert cog.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert cog.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
        assert cog.overviews(1) == [2]
        np.testing.assert_array_equal(cog.read(), orig.read())
    assert not list(tmp_path.glob(".*"))  # the staging files are gone


def test_plain_tiled_geotiff_when_cog_is_false(tmp_path):
    out = xgeo.open_dataset(DATA / "RGB.byte.tif").geo.to_geotiff(tmp_path / "rgb.tif", cog=False,
                                                                  compress="zstd")
    with rasterio.open(out) as tif:
        assert tif.overviews(1) == [] and tif.profile["compress"] == "zstd"
        assert tif.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG"


def test_time_and_band_are_flattened_into_described_tagged_bands(tmp_path, sample):
    out = to_geotiff(sample, tmp_path / "refl.tif", variable="reflectance")
    with rasterio.open(out) as tif:
        assert tif.count == 5 * 13 and tif.dtypes[0] == "float32" and np.isnan(tif.nodata)
        assert tif.descriptions[14] == "2015-07-31T10:00:09 B02"
        assert tif.tags(15) == {"time": "2015-07-31T10:00:09", "band": "B02"}
        np.testing.assert_array_equal(tif.read(15), sample.reflectance[1, 1].values)
        assert tif.crs.to_epsg() == 32633
        assert _same_transform(tif.transform, sample.geo.transform)


def test_variables_of_one_dtype_are_stacked_and_others_refused(tmp_path, sample):
    from xgeo.errors import GeoTIFFError, MissingVariableError

    out = to_geotiff(sample[["dem", "ndvi"]], tmp_path / "two.tif")
    with rasterio.open(out) as tif:
        assert tif.descriptions[:2] == ("dem", "ndvi 2015-07-11T10:00:08") and tif.count == 6
    with pytest.raises(GeoTIFFError, match=r"one dtype .* cloud_mask: uint8.* --variable"):
        to_geotiff(sample, tmp_path / "all.tif")
    with pytest.raises(MissingVariableError, match="no variable 'nope'"):
        to_geotiff(sample, tmp_path / "x.tif", variable="nope")
    with pytest.raises(GeoTIFFError, match="has no \\(y, x\\) dims"):
        to_geotiff(sample, tmp_path / "x.tif", variable="cloud_coverage")
    assert not (tmp_path / "all.tif").exists() and not (tmp_path / "x.tif").exists()


def test_decoded_integers_are_packed_back_with_their_fill_value(tmp_path):
    """A uint8 read back from netCDF is float32 + NaN with dtype/_FillValue in .encoding: the
    GeoTIFF gets the stored uint8 and the fill value as nodata, as netCDF would."""
    raw = xgeo.open_dataset(DATA / "RGB.byte.tif").isel(WINDOW)
    nc = tmp_path / "rgb.nc"
    raw.geo.to_netcdf(nc)
    decoded = xgeo.open_dataset(nc, chunks={})
    assert decoded.RGB_byte.dtype == np.float32 and decoded.RGB_byte.isnull().any()
    out = to_geotiff(decoded, tmp_path / "rgb.tif")
    with rasterio.open(out) as tif:
        assert tif.dtypes[0] == "uint8" and tif.nodata == 0
        np.testing.assert_array_equal(tif.read(), raw.RGB_byte.values)


def test_packed_raw_integers_round_trip_exactly(tmp_path):
    raw = np.arange(64 * 64, dtype="uint16").reshape(1, 64, 64) * 7
    grid = xgeo.Grid("EPSG:32633", (10, 0, 500000, 0, -10, 5000000), (64, 64))
    da = xr.DataArray(raw, dims=("band", "y", "x"), name="sr",
                      attrs={"scale_factor": 2.75e-05, "add_offset": -0.2, "_FillValue": 0})
    da = xgeo.write_grid(da.assign_coords(band=[1]), grid)
    for out in (tmp_path / "sr.nc", tmp_path / "sr.zarr"):
        (xgeo.io.to_netcdf if out.suffix == ".nc" else xgeo.io.to_zarr)(da.chunk(), out)
        back = xgeo.open_dataset(out, mask_and_scale=False)["sr"]
        np.testing.assert_array_equal(back.values, raw)
        assert back.attrs["scale_factor"] == 2.75e-05 and back.attrs["_FillValue"] == 0
    tif = to_geotiff(da, tmp_path / "sr.tif")
    with rasterio.open(tif) as src:
        np.testing.assert_array_equal(src.read(), raw)
        assert src.scales == (2.75e-05,) and src.offsets == (-0.2,) and src.nodata == 0


# ----------------------------------------------------------------------------- nodata
def test_integer_nodata_moves_to_encoding_for_writing_and_nan_fill_is_dropped():
    from xgeo.nodata import for_writing

    da = xr.DataArray(np.zeros((2, 2), "uint8"), dims=("y", "x"), name="m",
                      attrs={"_FillValue": 255, "scale_factor": 1.0, "add_offset": 0.0})
    bad = xr.DataArray(np.zeros((2, 2), "uint8"), dims=("y", "x"), name="b",
                       attrs={"_FillValue": np.nan})
    ready = for_writing(xr.merge([da, bad]))
    assert ready.m.attrs == {} and ready.m.encoding["_FillValue"] == np.uint8(255)
    assert "_FillValue" not in ready.b.attrs and "_FillValue" not in ready.b.encoding


@pytest.mark.parametrize("suffix", ["nc", "zarr", "tif"])
def test_uint8_output_nodata_reads_back_in_rioxarray_and_gdal(tmp_path, sample, suffix):
    """.rio.nodata raised "cannot convert float NaN to integer" on xgeo's uint8 results."""
    mask = sample.cloud_mask.geo.reproject("EPSG:3857")
    # a categorical mask declares no nodata: it is filled with 255, none of its classes
    # (xgeo.categorical), and says so where rioxarray looks
    assert mask.rio.nodata == 255 and mask.rio.encoded_nodata is None  # in memory
    out = tmp_path / f"mask.{suffix}"
    to_geotiff(mask, out) if suffix == "tif" else (
        xgeo.io.to_netcdf(mask, out) if suffix == "nc" else xgeo.io.to_zarr(mask, out))
    if suffix == "zarr":
        raw = xr.open_zarr(out, mask_and_scale=False, decode_coords="all", consolidated=False)["cloud_mask"]
        decoded = xr.open_zarr(out, decode_coords="all", consolidated=False)["cloud_mask"]
    else:
        gdal_name = str(out) if suffix == "tif" else f"netcdf:{out}:cloud_mask"
        with rasterio.open(gdal_name) as src:
            assert src.nodata == 255 and src.dtypes[0] == "uint8"
        raw = rioxarray.open_rasterio(gdal_name, mask_and_scale=False)
        decoded = rioxarray.open_rasterio(gdal_name, mask_and_scale=True)
    assert raw.dtype == np.uint8 and raw.rio.nodata == 255
    assert np.isnan(decoded.rio.nodata) and decoded.rio.encoded_nodata == 255


# ----------------------------------------------------------------------------- info
def test_info_shows_nodata_per_variable(tmp_path):
    text = CliRunner().invoke(main, ["info", str(DATA / "RGB.byte.tif")])
    assert text.exit_code == 0 and "nodata 0" in text.output
    info = json.loads(CliRunner().invoke(main, ["info", "--json",
                                                str(xgeo.datasets.sentinel2_cube_path())]).output)
    assert info["variables"]["ndvi"]["nodata"] == "NaN"
    assert info["variables"]["lulc"]["nodata"] is None


# ----------------------------------------------------------------------------- output paths
def test_output_format_by_extension():
    from xgeo.errors import OutputFormatError
    from xgeo.outputs import output_format

    assert [output_format(p) for p in ("a.nc", "a.NC4", "a.zarr", "a.tif", "a.cog.TIFF")] == [
        "netcdf", "netcdf", "zarr", "geotiff", "geotiff"]
    with pytest.raises(OutputFormatError, match=r"output a\.png: .*'\.png'.*\.tif, \.tiff"):
        output_format("a.png")
    with pytest.raises(OutputFormatError, match="writes only zarr"):
        output_format("a.nc", accepted=["zarr"])
