"""The CLI never deletes or overwrites what it did not create; --overwrite replaces only OUT."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import xgeo
from xgeo.cli import main
from xgeo.errors import OutputExistsError
from xgeo.pipeline import demo_outputs, run_demo

SRC = xgeo.datasets.sentinel2_cube_path()


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _refused(result, path):
    assert result.exit_code == 1, result.output
    assert f"{path} already exists; pass --overwrite" in result.output
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "ndvi.zarr"
    xgeo.datasets.sentinel2_cube()[["ndvi"]].geo.to_zarr(path)
    return path


def test_decompress_onto_an_existing_netcdf_refuses_then_overwrites(tmp_path, store):
    out = tmp_path / "back.nc"
    out.write_text("the user's file")
    _refused(_run("decompress", store, out), out)
    assert out.read_text() == "the user's file"
    result = _run("decompress", store, out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert xgeo.open_dataset(out).ndvi.shape == (5, 101, 100)


def test_compress_onto_an_existing_store_refuses_then_overwrites(tmp_path, store):
    out = tmp_path / "c.zarr"
    xgeo.datasets.sentinel2_cube()[["dem"]].rename(dem="old").geo.to_zarr(out)
    args = ("compress", SRC, out, "--crf", "20", "--variable", "ndvi")
    _refused(_run(*args), out)
    assert set(xgeo.open_dataset(out).data_vars) == {"old"}
    result = _run(*args, "--overwrite")
    assert result.exit_code == 0, result.output
    assert "old" not in xgeo.open_dataset(out).data_vars and "libx265" in result.output


def test_a_compress_refused_on_its_options_leaves_no_half_made_store(tmp_path):
    """It left OUT and OUT.progress, so the next run, with options that work, was refused
    as an interrupted write (--resume would only repeat the refused options)."""
    out = tmp_path / "c.zarr"
    result = _run("compress", SRC, out, "--lossless", "--variable", "ndvi")
    assert result.exit_code == 1 and "exact grid" in result.output, result.output
    assert not out.exists() and not (tmp_path / "c.zarr.progress").exists()
    result = _run("compress", SRC, out, "--crf", "20", "--variable", "ndvi")
    assert result.exit_code == 0, result.output
    # the refusal names the variable it is about (it said "this chunk is not")
    result = _run("compress", SRC, tmp_path / "all.zarr", "--lossless")
    assert result.exit_code == 1 and "variable 'ndvi'" in result.output, result.output
    # an output that existed before the failing run is left alone
    result = _run("compress", SRC, out, "--lossless", "--variable", "ndvi", "--overwrite")
    assert result.exit_code == 1


@pytest.mark.parametrize(
    "command, name",
    [
        (["reproject", SRC, "{out}", "--crs", "EPSG:4326"], "ll.nc"),
        (["indices", SRC, "{out}", "--index", "NDVI"], "idx.nc"),
        (["chips", SRC, "--size", "64", "--variable", "reflectance", "--out", "{out}"], "c.csv"),
    ],
)
def test_reproject_indices_chips_refuse_an_existing_output(tmp_path, command, name):
    out = tmp_path / name
    out.write_text("the user's file")
    args = [str(out) if a == "{out}" else a for a in command]
    _refused(_run(*args), out)
    assert out.read_text() == "the user's file"
    result = _run(*args, "--overwrite")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() != b"the user's file"


def test_an_output_directory_that_is_not_a_store_is_never_deleted(tmp_path):
    out = tmp_path / "mine.zarr"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = _run("indices", SRC, out, "--index", "NDVI", "--overwrite")
    assert result.exit_code == 1 and "not a Zarr store" in result.output
    assert (out / "notes.txt").read_text() == "keep me"


def test_the_output_cannot_be_the_input(tmp_path, store):
    result = _run("decompress", store, store, "--overwrite")
    assert result.exit_code == 1 and "is the input" in result.output
    assert xgeo.open_dataset(store).ndvi.shape == (5, 101, 100)


def test_zero_chunk_sizes_name_the_flag(tmp_path):
    result = _run("compress", SRC, tmp_path / "c.zarr", "--chunks", "time=0,y=50")
    assert result.exit_code == 2 and "--chunks" in result.output and "time=0" in result.output
    assert not (tmp_path / "c.zarr").exists()


def test_demo_keeps_user_files_and_replaces_only_its_own(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    (out / "cube.zarr").mkdir(parents=True)
    (out / "cube.zarr" / "mine.txt").write_text("keep me")  # a folder the demo did not make
    (out / "notes.txt").write_text("keep me too")
    for flags in ([], ["--overwrite"]):
        result = _run("demo", "--out", out, *flags)
        assert result.exit_code == 1
        assert (out / "cube.zarr" / "mine.txt").read_text() == "keep me"
    assert "cube.zarr already exists; pass --overwrite" in _run("demo", "--out", out).output
    (out / "cube.zarr" / "mine.txt").unlink()
    (out / "cube.zarr").rmdir()
    (out / "ndvi.png").write_bytes(b"an old picture")
    _refused(_run("demo", "--out", out), out / "ndvi.png")  # refused before any work
    assert not (out / "cube.zarr").exists()
    with pytest.raises(OutputExistsError, match="pass overwrite=True"):
        run_demo(out)  # the Python function refuses the same way
    result = _run("demo", "--out", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert all(p.exists() for p in demo_outputs(out))
    assert (out / "ndvi.png").read_bytes() != b"an old picture"
    assert (out / "notes.txt").read_text() == "keep me too"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["notes.txt", *(p.name for p in demo_outputs(out))]
    )


def test_a_failing_command_leaves_the_old_output_even_with_overwrite(tmp_path):
    out = tmp_path / "ll.nc"
    out.write_text("the user's file")
    result = _run("reproject", SRC, out, "--crs", "EPSG:999999", "--overwrite")
    assert result.exit_code == 1 and "cannot parse CRS" in result.output
    assert out.read_text() == "the user's file"


# ------------------------------------------------------------------ packed netCDF-3 data
GOES = __import__("pathlib").Path(__file__).parent / "data" / "unicode.nc"


@pytest.mark.parametrize("command, suffix", [
    ("decompress", ".nc"), ("decompress", ".zarr"), ("decompress", ".tif"),
    ("reproject", ".nc"), ("reproject", ".zarr"), ("reproject", ".tif"),
])
def test_cli_outputs_of_unsigned_packed_data_decode_to_the_source_values(tmp_path, command,
                                                                         suffix):
    """GOES ABI LST is uint16 in int16 storage (_Unsigned): the outputs dropped the marker
    and decoded 108-272 K where the source holds 270-277 K; decompress to .nc lost the CRS."""
    import numpy as np
    import rasterio

    src = xgeo.open_dataset(GOES).LST
    out = tmp_path / f"o{suffix}"
    extra = ["--crs", "EPSG:4326", "--resampling", "nearest"] if command == "reproject" else []
    result = _run(command, GOES, out, *extra)
    assert result.exit_code == 0, result.output
    if suffix == ".tif":
        with rasterio.open(out) as f:
            got = f.read(1, masked=True).astype("float64") * f.scales[0] + f.offsets[0]
            got = got.filled(np.nan)
    else:
        back = xgeo.open_dataset(out)
        got = back.LST.values
        assert back.geo.crs is not None
    lo, hi = float(src.min()), float(src.max())
    assert np.nanmin(got) >= lo - 0.01 and np.nanmax(got) <= hi + 0.01
    if command == "decompress" and suffix != ".tif":
        np.testing.assert_allclose(got, src.values, rtol=0, atol=1e-3)
        assert back.geo.crs == src.geo.crs
