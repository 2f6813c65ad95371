"""`xgeo info` on every real file we ship, and one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import xgeo
from xgeo.cli import main

DATA = Path(__file__).parent / "data"
FILES = sorted(p.name for p in DATA.iterdir() if p.suffix in {".nc", ".tif"})


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
@pytest.mark.parametrize("name", SHARED_FILES)
def test_info_on_every_shared_data_file(name):
    result = CliRunner().invoke(main, ["info", str(SHARED / name)])
    assert result.exit_code == 0, result.output
    assert "crs:" in result.output and "variables:" in result.output
