"""`xgeo info` on every real file we ship, and one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

import xgeo
from xgeo.cli import main

DATA = Path(__file__).parent / "data"
FILES = sorted(p.name for p in DATA.iterdir() if p.suffix in {".nc", ".tif"})


# Some files warn by design: a CRS in a plain "crs" attribute, a netCDF read by a fallback engine
@pytest.mark.filterwarnings("ignore:CRS read from a plain 'crs' text attribute")
@pytest.mark.filterwarnings("ignore:.*read with engine=")
@pytest.mark.parametrize("name", FILES)
def test_info_describes_every_test_file(name):
    result = CliRunner().invoke(main, ["info", str(DATA / name)])
    assert result.exit_code == 0, result.output
    out = result.output
    for field in ("dims:", "crs:", "resolution:", "bounds:", "size:", "variables:"):
        assert field in out, f"{field} missing for {name}:\n{out}"


def test_info_of_the_sample_cube_names_everything():
    result = CliRunner().invoke(main, ["info", str(xgeo.datasets.sentinel2_cube_path())])
    assert result.exit_code == 0
    out = result.output
    assert "WGS 84 / UTM zone 33N (EPSG:32633)" in out
    assert "B01, B02, B03" in out and "B8A" in out
    assert "2015-07-11T10:00:08 .. 2015-09-09T10:00:17 (5 steps)" in out
    assert "lon/lat:     14.55" in out
    assert "reflectance" in out and "zlib" in out


def test_info_json_is_machine_readable():
    result = CliRunner().invoke(main, ["info", "--json", str(DATA / "nrt_romania_32t.nc")])
    info = json.loads(result.output)
    assert info["crs"]["epsg"] is None and "LAEA" in info["crs"]["name"]
    assert info["variables"]["B4"]["dtype"] == "uint16"
    assert info["time"]["count"] == 32


def test_info_on_a_zarr_store_shows_chunks_and_codecs(tmp_path, sample):
    store = tmp_path / "cube.zarr"
    sample[["ndvi"]].chunk({"time": 1}).geo.to_zarr(store)
    result = CliRunner().invoke(main, ["info", str(store)])
    assert result.exit_code == 0, result.output
    assert (
        "1x101x100" in result.output
        and "serializer=bytes" in result.output
        and "zstd(level=" in result.output
    )


def test_missing_path_is_one_line_and_nonzero():
    result = CliRunner().invoke(main, ["info", "/no/such/cube.nc"])
    assert result.exit_code == 1
    assert result.output.strip() == "xgeo: error: no such file or Zarr store: /no/such/cube.nc"


def test_debug_flag_shows_the_traceback():
    result = CliRunner().invoke(main, ["--debug", "info", "/no/such/cube.nc"])
    assert result.exit_code != 0 and isinstance(result.exception, FileNotFoundError)


def test_console_script_is_installed():
    exe = shutil.which("xgeo") or str(Path(sys.executable).with_name("xgeo"))
    out = subprocess.run([exe, "info", str(DATA / "byte.tif")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "NAD27 / UTM zone 11N (EPSG:26711)" in out.stdout


SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHARED_FILES = (
    sorted(str(p.relative_to(SHARED)) for p in SHARED.rglob("*") if p.suffix in {".nc", ".tif"})
    if SHARED.is_dir()
    else []
)


@pytest.mark.skipif(not SHARED_FILES, reason="../shared/data is not beside this checkout")
# Some files warn by design: a CRS in a plain "crs" attribute, a netCDF read by a fallback engine
@pytest.mark.filterwarnings("ignore:CRS read from a plain 'crs' text attribute")
@pytest.mark.filterwarnings("ignore:.*read with engine=")
@pytest.mark.parametrize("name", SHARED_FILES)
def test_info_on_every_shared_data_file(name):
    result = CliRunner().invoke(main, ["info", str(SHARED / name)])
    assert result.exit_code == 0, result.output
    assert "crs:" in result.output and "variables:" in result.output


# ------------------------------------------------------------------ pipeline commands
def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_compress_lossless_is_bit_exact_and_reports(tmp_path):
    out = tmp_path / "nrt.zarr"
    result = _run(
        "compress",
        DATA / "nrt_romania_32t.nc",
        out,
        "--lossless",
        "--variable",
        "B4",
        "--variable",
        "B8",
    )
    assert result.exit_code == 0, result.output
    assert "ffv1" in result.output.lower() or "FFV1" in result.output
    assert "inf" in result.output  # PSNR of a lossless store
    original = xgeo.open_dataset(DATA / "nrt_romania_32t.nc")
    back = xgeo.open_dataset(out)
    import numpy as np

    np.testing.assert_array_equal(back.B4.values, original.B4.values)


def test_compress_lossy_then_decompress_to_netcdf(tmp_path):
    store = tmp_path / "s2.zarr"
    result = _run(
        "compress", xgeo.datasets.sentinel2_cube_path(), store, "--crf", "12", "--variable", "ndvi"
    )
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("ndvi"))
    assert "libx265" in line
    nc = tmp_path / "back.nc"
    assert _run("decompress", store, nc).exit_code == 0
    back = xgeo.open_dataset(nc)
    assert back.geo.crs.to_epsg() == 32633 and back.ndvi.shape == (5, 101, 100)


def test_reproject_indices_and_chips_commands(tmp_path):
    src = xgeo.datasets.sentinel2_cube_path()
    r = _run(
        "reproject", src, tmp_path / "ll.zarr", "--crs", "EPSG:4326", "--resampling", "bilinear"
    )
    assert r.exit_code == 0, r.output
    assert xgeo.open_dataset(tmp_path / "ll.zarr").geo.crs.to_epsg() == 4326
    r = _run("indices", src, tmp_path / "idx.nc", "--index", "NDVI", "--index", "EVI")
    assert r.exit_code == 0, r.output
    idx = xgeo.open_dataset(tmp_path / "idx.nc")
    assert set(idx.data_vars) == {"NDVI", "EVI"} and idx.geo.crs.to_epsg() == 32633
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = _run("chips", src, "--size", "64", "--variable", "reflectance",
                 "--out", tmp_path / "chips.csv")
    assert r.exit_code == 0, r.output
    # geopandas warned about WKT text in a GeoDataFrame ("xgeo: warning: Geometry column...")
    assert not [w for w in caught if "Geometry column" in str(w.message)]
    import pandas as pd

    frame = pd.read_csv(tmp_path / "chips.csv")
    assert len(frame) == 20 and {"row", "col", "left", "lon_min"} <= set(frame.columns)
    assert frame["geometry"].str.startswith("POLYGON").all()
    r = _run("chips", src, "--size", "64", "--variable", "reflectance",
             "--out", tmp_path / "chips.parquet")
    assert r.exit_code == 0, r.output
    from xgeo.chips import ChipGrid  # the .parquet output is the GeoParquet chip index

    back = ChipGrid.from_parquet(tmp_path / "chips.parquet")
    assert len(back) == 20 and back.to_dataframe()["row"].tolist() == frame["row"].tolist()


@pytest.mark.parametrize(
    "args, message",
    [
        (["compress", "/no/such.nc", "out.zarr"], "no such file"),
        (["compress", DATA / "byte.tif", "x.zarr", "--crf", "10", "--psnr", "40"], "choose one of"),
        (["reproject", DATA / "byte.tif", "x.nc", "--crs", "EPSG:999999"], "cannot parse CRS"),
        (["indices", xgeo.datasets.sentinel2_cube_path(), "x.nc", "--index", "NDVIX"], "NDVI"),
        (["chips", DATA / "byte.tif", "--size", "64", "--out", "c.csv"], "larger than the array"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_unknown_codec_is_rejected():
    result = _run("compress", DATA / "byte.tif", "x.zarr", "--codec", "mpeg2")
    assert result.exit_code == 2 and "mpeg2" in result.output


def test_every_command_has_help():
    for command in ("info", "compress", "decompress", "reproject", "indices", "chips", "demo"):
        result = _run(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_demo_runs_the_whole_pipeline(tmp_path):
    pytest.importorskip("matplotlib")
    result = _run("demo", "--out", tmp_path / "demo")
    assert result.exit_code == 0, result.output
    for word in ("reflectance", "PSNR", "indices", "chips/s", "EPSG:4326"):
        assert word in result.output
    pngs = sorted(p.name for p in (tmp_path / "demo").glob("*.png"))
    assert pngs == [
        "difference_B04.png",
        "ndvi.png",
        "true_colour_after.png",
        "true_colour_before.png",
    ]
