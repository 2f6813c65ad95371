"""Read errors name the chunk; lost or changed chunks are found by ``verify``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import xgeo
from xgeo.cli import main
from xgeo.completion import RECORDS_FILE
from xgeo.errors import CodecError, DecodeError, StoreIntegrityError, XgeoError
from xgeo.store import progress_path, store_state
from xgeo.verify import verify_store


@pytest.fixture(scope="module")
def video_store(tmp_path_factory) -> Path:
    """The real cube's reflectance, lossless HEVC, 16 chunks, written lazily."""
    store = tmp_path_factory.mktemp("video") / "cube.zarr"
    ds = xgeo.datasets.sentinel2_cube(chunks={}).chunk({"time": 1})[["reflectance", "dem"]]
    xgeo.io.to_zarr(ds, store, codec="hevc",
                    codec_options={"lossless": True, "band_chunk": 4, "tile": 64})
    return store


@pytest.fixture()
def copy(video_store, tmp_path) -> Path:
    import shutil

    out = tmp_path / "cube.zarr"
    shutil.copytree(video_store, out)  # the records are in the store: a copy carries them
    assert not Path(progress_path(str(video_store))).exists()
    return out


def _chunk(store: Path, key: str) -> Path:
    return store / "reflectance" / "c" / Path(*key.split("/"))


def test_a_corrupt_chunk_names_store_variable_and_key(copy):
    path = _chunk(copy, "0/1/1/0")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    for chunks in (None, {}):  # in memory and through dask
        ds = xgeo.open_dataset(copy, chunks=chunks)
        assert ds.reflectance.isel(band=0).values.size  # other chunks read fine
        with pytest.raises(CodecError) as err:
            _ = ds.reflectance.values
        message = str(err.value)
        assert str(copy) in message and "'reflectance'" in message
        assert "c/0/1/1/0" in message and "checksum" in message
        assert isinstance(err.value, XgeoError)


def test_verify_reports_deleted_and_changed_chunks(copy):
    assert verify_store(str(copy)).ok
    _chunk(copy, "0/0/0/0").unlink()  # reads back as fill, silently
    other = _chunk(copy, "0/0/0/1")
    other.write_bytes(_chunk(copy, "0/0/1/0").read_bytes())  # a valid chunk in the wrong place
    assert np.isnan(xgeo.open_dataset(copy).reflectance.values).any()
    result = CliRunner().invoke(main, ["verify", str(copy)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert any(line.startswith("missing: reflectance/c/0/0/0/0") for line in lines)
    assert any(line.startswith("changed: reflectance/c/0/0/0/1") for line in lines)
    assert "2 problem(s)" in lines[-1] and str(copy) in lines[-1]
    with pytest.raises(StoreIntegrityError, match="missing: reflectance/c/0/0/0/0"):
        xgeo.open_dataset(copy, verify=True)


def test_verify_passes_a_whole_store_and_covers_in_memory_arrays(copy):
    result = CliRunner().invoke(main, ["verify", str(copy)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output.splitlines()[-1]
    report = verify_store(str(copy))
    assert report.checked >= 16 + 1  # every reflectance chunk and the in-memory DEM
    (copy / "dem" / "c" / "0" / "0").write_bytes(b"\x00" * 7)
    assert any(p.startswith("changed: dem/c/0/0") for p in verify_store(str(copy)).problems)


def test_stores_without_records_still_open_and_verify_says_what_it_checked(copy, tmp_path):
    # the layout of xgeo before chunk records: chunk-only manifest, empty markers
    _, manifest, done = store_state(str(copy))
    for records in copy.glob(f"*/{RECORDS_FILE}"):
        records.unlink()
    side = Path(progress_path(str(copy)))
    side.mkdir()
    (side / "manifest.json").write_text(json.dumps(manifest["chunks"]))
    for marker in done:
        (side / marker).write_bytes(b"")
    (side / "complete.json").write_text(json.dumps({"blocks_written_last_run": 5}))
    assert xgeo.open_dataset(copy).reflectance.shape == (5, 13, 101, 100)
    report = verify_store(str(copy))
    assert report.ok and any("without chunk records" in n for n in report.notes)
    eager = tmp_path / "eager.zarr"  # written by plain xarray: no progress folder at all
    xgeo.datasets.sentinel2_cube()[["dem"]].to_zarr(eager, zarr_format=3, consolidated=False)
    result = CliRunner().invoke(main, ["verify", str(eager)])
    assert result.exit_code == 0 and "note: no chunk records" in result.output


def test_a_corrupt_zarr_json_is_a_typed_error_naming_the_file(copy):
    (copy / "reflectance" / "zarr.json").write_text('{"shape": [5, 13')
    # the store opens from its consolidated metadata; read without it, the error names the
    # file, and verify finds it either way
    with pytest.raises(DecodeError, match=r"reflectance/zarr.json is corrupt"):
        xgeo.open_dataset(copy, consolidated=False)
    result = CliRunner().invoke(main, ["verify", str(copy)])
    assert result.exit_code == 1
    assert "unreadable metadata: reflectance/zarr.json is corrupt" in result.output
    (copy / "zarr.json").write_bytes(b"\xff{")
    with pytest.raises(DecodeError, match=r"cube.zarr/zarr.json is corrupt"):
        xgeo.open_dataset(copy)
    result = CliRunner().invoke(main, ["info", str(copy)])
    assert result.exit_code == 1 and "zarr.json is corrupt" in result.output
    result = CliRunner().invoke(main, ["verify", str(copy)])
    assert result.exit_code == 1 and "unreadable metadata" in result.output


def test_verify_of_nothing_says_so():
    result = CliRunner().invoke(main, ["verify", "/nonexistent/x.zarr"])
    assert result.exit_code == 1 and "no such Zarr store" in result.output
