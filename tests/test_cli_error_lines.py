"""CLI errors a newcomer meets in the first hour are one typed line, never a traceback
(issue 16): unreadable GeoTIFF pixels, --variable of a variable that is not there, an output
directory that does not exist, an output extension xgeo does not write."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import xgeo
from xgeo.cli import main

DATA = Path(__file__).parent / "data"
CUBE = xgeo.datasets.sentinel2_cube_path()


def _one_line_error(*args: object) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # no traceback
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xgeo: error: "), result.output
    return lines[0]


@pytest.fixture(scope="module")
def cut_tif(tmp_path_factory) -> Path:
    """A COG cut off after its header: it opens, and its tiles cannot be read."""
    path = tmp_path_factory.mktemp("bad") / "cut.tif"
    path.write_bytes((DATA / "cogeo.tif").read_bytes()[:200_000])
    return path


@pytest.mark.parametrize("command", [
    ["reproject", "{src}", "{tmp}/o.nc", "--crs", "EPSG:4326"],
    ["compress", "{src}", "{tmp}/o.zarr", "--psnr", "40"],
    ["decompress", "{src}", "{tmp}/o.tif"],
])
def test_unreadable_geotiff_pixels(tmp_path, cut_tif, command):
    line = _one_line_error(*(a.format(src=cut_tif, tmp=tmp_path) for a in command))
    assert f"{cut_tif}: GDAL cannot read its pixels" in line and "truncated or corrupt" in line


def test_a_text_file_named_tif(tmp_path):
    text = tmp_path / "notes.tif"
    text.write_text("not a raster\n")
    for args in (["info", text], ["reproject", text, tmp_path / "o.nc", "--crs", "EPSG:4326"]):
        assert "GDAL cannot read it as a raster" in _one_line_error(*args)


@pytest.mark.parametrize("command", [
    ["compress", "{src}", "{tmp}/o.zarr", "--variable", "nosuchvar"],
    ["reproject", "{src}", "{tmp}/o.nc", "--crs", "EPSG:4326", "--variable", "nosuchvar"],
    ["decompress", "{src}", "{tmp}/o.nc", "--variable", "nosuchvar"],
    ["indices", "{src}", "{tmp}/o.nc", "--index", "NDVI", "--variable", "nosuchvar"],
    ["chips", "{src}", "--size", "32", "--out", "{tmp}/c.csv", "--variable", "nosuchvar"],
])
def test_unknown_variable(tmp_path, command):
    line = _one_line_error(*(a.format(src=CUBE, tmp=tmp_path) for a in command))
    assert "nosuchvar" in line and "reflectance" in line and "lulc" in line  # lists the others
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", [
    ["reproject", "{src}", "{out}", "--crs", "EPSG:4326"],
    ["decompress", "{src}", "{out}"],
    ["compress", "{src}", "{zarr}", "--psnr", "40"],
    ["indices", "{src}", "{out}", "--index", "NDVI"],
    ["chips", "{src}", "--size", "32", "--out", "{csv}"],
])
@pytest.mark.parametrize("ext", ["nc", "zarr", "tif"])
def test_missing_output_directory(tmp_path, command, ext):
    nodir = tmp_path / "nodir"
    fields = {"src": CUBE, "out": nodir / f"o.{ext}", "zarr": nodir / "o.zarr",
              "csv": nodir / "c.csv"}
    line = _one_line_error(*(a.format(**fields) for a in command))
    assert f"its directory {nodir} does not exist" in line and "Permission" not in line
    assert not nodir.exists()  # the Zarr writer used to create it


@pytest.mark.parametrize("command, out", [
    (["reproject", "{src}", "{out}", "--crs", "EPSG:4326"], "o.png"),
    (["reproject", "{src}", "{out}", "--crs", "EPSG:4326"], "o"),
    (["decompress", "{src}", "{out}"], "o.txt"),
    (["indices", "{src}", "{out}", "--index", "NDVI"], "o.jpg"),
    (["compress", "{src}", "{out}"], "o.nc"),
])
def test_unknown_output_extension_is_refused_before_any_work(tmp_path, command, out):
    # the input does not exist: the refusal comes before anything is read
    fields = {"src": tmp_path / "missing.nc", "out": tmp_path / out}
    line = _one_line_error(*(a.format(**fields) for a in command))
    assert f"output {tmp_path / out}: xgeo cannot tell which format" in line
    assert ".zarr" in line and not list(tmp_path.iterdir())


def test_tif_output_is_a_geotiff_file_not_a_zarr_directory(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    out = tmp_path / "ndvi.tif"
    result = CliRunner().invoke(main, ["reproject", str(CUBE), str(out), "--crs", "EPSG:4326",
                                       "--variable", "ndvi"])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    with rasterio.open(out) as src:
        assert src.driver == "GTiff" and src.crs.to_epsg() == 4326 and src.count == 5


def test_several_dtypes_to_tif_name_the_variable_option(tmp_path):
    line = _one_line_error("reproject", CUBE, tmp_path / "all.tif", "--crs", "EPSG:4326")
    assert "one dtype" in line and "--variable" in line and "cloud_mask: uint8" in line
    assert not (tmp_path / "all.tif").exists()


def test_decompressing_a_decoded_integer_store_to_netcdf_warns_nothing(tmp_path):
    """Zarr v3 reports the stored dtype as '<u2'; netCDF4 warned "endian-ness of dtype and
    endian kwarg do not match" for every integer variable."""
    import warnings

    store = tmp_path / "mask.zarr"
    xgeo.datasets.sentinel2_cube()[["lulc"]].geo.reproject("EPSG:3857").geo.to_zarr(store)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(main, ["decompress", str(store), str(tmp_path / "m.nc")])
    assert result.exit_code == 0, result.output
    assert not [w for w in caught if "endian" in str(w.message)]
