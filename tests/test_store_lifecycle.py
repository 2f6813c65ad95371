"""A store's life on disk: complete means the store alone (records inside, consolidated
metadata, no progress folder); interrupted means a progress folder, and every message says
how to finish it with the option that exists where the user is (--resume / resume=True)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import xgeo
import xgeo.store
from xgeo.cli import main
from xgeo.completion import RECORDS_FILE
from xgeo.compression import compression_report
from xgeo.errors import CodecError, OutputExistsError
from xgeo.lock import lock_path
from xgeo.store import IncompleteStoreError, progress_path
from xgeo.verify import verify_store

SRC = xgeo.datasets.sentinel2_cube_path()


class _Killed(Exception):
    pass


def _killing_at(monkeypatch, step: str, occurrence: int) -> None:
    seen = {"n": 0}

    def checkpoint(name: str) -> None:
        if name == step:
            seen["n"] += 1
            if seen["n"] == occurrence:
                raise _Killed(name)

    monkeypatch.setattr(xgeo.store, "_checkpoint", checkpoint)


def _run(*args):
    with dask.config.set(scheduler="synchronous"):
        return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xgeo: error: "), result.output
    return lines[0]


def _lazy_cube() -> xr.Dataset:
    ds = xgeo.datasets.sentinel2_cube()[["reflectance", "dem"]].isel(band=slice(0, 4)).load()
    ds["reflectance"] = ds.reflectance.chunk({"time": 5, "band": 1, "y": 101, "x": 100})
    return ds


def _same_files(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in files)


# -- a complete store is the store alone ---------------------------------------------------

def test_a_complete_store_leaves_no_progress_folder_and_verifies_from_itself(tmp_path):
    store = tmp_path / "cube.zarr"
    xgeo.io.to_zarr(_lazy_cube(), store)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cube.zarr"]  # no .progress, .lock
    assert (store / "reflectance" / RECORDS_FILE).is_file()
    moved = tmp_path / "elsewhere" / "moved.zarr"  # the records travel with the store
    shutil.copytree(store, moved)
    report = verify_store(str(moved))
    assert report.ok and not report.notes and report.checked >= 4 + 1, report
    xr.testing.assert_identical(xgeo.open_dataset(moved, verify=True).load(),
                                xgeo.open_dataset(store).load())
    (moved / "reflectance" / "c" / "0" / "2" / "0" / "0").unlink()
    assert any(p.startswith("missing: reflectance/c/0/2/0/0") for p in verify_store(str(moved))
               .problems)


def test_a_rerun_onto_a_complete_store_says_it_exists_and_names_the_overwrite_option(tmp_path):
    store = tmp_path / "cube.zarr"
    xgeo.io.to_zarr(_lazy_cube(), store)
    with pytest.raises(OutputExistsError) as err:
        xgeo.io.to_zarr(_lazy_cube(), store)
    assert "mode='w'" in str(err.value) and "interrupted" not in str(err.value)
    with pytest.raises(OutputExistsError, match="mode='w'"):  # the in-memory writer too
        xgeo.io.to_zarr(_lazy_cube().load(), store)
    out = tmp_path / "c.zarr"
    args = ("compress", SRC, out, "--variable", "ndvi", "--crf", "30")
    assert _run(*args).exit_code == 0
    assert not Path(progress_path(str(out))).exists()
    line = _one_line_error(_run(*args))
    assert "already exists; pass --overwrite" in line and "interrupted" not in line


def test_a_resume_of_a_complete_store_checks_the_data_and_writes_nothing(tmp_path):
    store = tmp_path / "cube.zarr"
    xgeo.io.to_zarr(_lazy_cube(), store)
    before = tmp_path / "before.zarr"
    shutil.copytree(store, before)
    assert xgeo.io.to_zarr(_lazy_cube(), store, resume=True) == []
    assert _same_files(store, before) and not Path(progress_path(str(store))).exists()
    other = _lazy_cube()
    other["reflectance"] = other.reflectance + np.float32(1)
    with pytest.raises(IncompleteStoreError, match="other values"):
        xgeo.io.to_zarr(other, store, resume=True)
    assert _same_files(store, before)


def test_a_resume_with_other_codec_options_is_refused(tmp_path, monkeypatch):
    from zarr.codecs import ZstdCodec

    def coded(level: int) -> dict:
        return {"encoding": {"reflectance": {"compressors": [ZstdCodec(level=level)]}}}

    store = tmp_path / "cube.zarr"
    _killing_at(monkeypatch, "chunk-marker", 1)
    with pytest.raises(_Killed), dask.config.set(scheduler="synchronous"):
        xgeo.io.to_zarr(_lazy_cube(), store, **coded(1))
    monkeypatch.undo()
    with pytest.raises(IncompleteStoreError, match="'reflectance' would be coded otherwise"):
        xgeo.io.to_zarr(_lazy_cube(), store, resume=True, **coded(9))
    xgeo.io.to_zarr(_lazy_cube(), store, resume=True, **coded(1))
    assert verify_store(str(store)).ok


def test_stored_bytes_leave_the_records_out(tmp_path):
    store = tmp_path / "cube.zarr"
    xgeo.io.to_zarr(_lazy_cube(), store)
    chunks = sum(p.stat().st_size for p in (store / "reflectance" / "c").rglob("*")
                 if p.is_file())
    assert compression_report(str(store))["reflectance"]["stored_bytes"] == chunks


def test_an_eager_overwrite_of_a_complete_store_is_never_read_half_done(tmp_path, monkeypatch):
    store = tmp_path / "cube.zarr"
    xgeo.io.to_zarr(_lazy_cube(), store)

    def killed(*args, **kwargs):
        raise _Killed("mid-write")

    monkeypatch.setattr(xr.Dataset, "to_zarr", killed)
    with pytest.raises(_Killed):
        xgeo.io.to_zarr(_lazy_cube().load(), store, mode="w")
    monkeypatch.undo()
    with pytest.raises(IncompleteStoreError):
        xgeo.open_dataset(store)
    xgeo.io.to_zarr(_lazy_cube().load(), store, mode="w")
    assert not Path(progress_path(str(store))).exists()
    # in-memory data go through the same writer now: its records describe the new chunks
    assert list(store.glob(f"*/{RECORDS_FILE}"))
    report = verify_store(str(store))
    assert report.ok and report.checked > 0, report.problems


# -- no warnings for readers and writers ---------------------------------------------------

@pytest.mark.parametrize("lazy", [False, True], ids=["in-memory", "lazy"])
@pytest.mark.parametrize("codec", [None, "hevc"])
def test_plain_xarray_opens_our_stores_without_a_warning(tmp_path, lazy, codec):
    ds = xgeo.datasets.sentinel2_cube()[["ndvi", "dem", "lulc"]]
    ds = ds.chunk() if lazy else ds
    store = tmp_path / "cube.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xgeo.io.to_zarr(ds, store, codec=codec)
        back = xr.open_zarr(store)
        xr.open_zarr(store, consolidated=False)  # nothing in the store zarr cannot place
        xgeo.open_dataset(store)
    assert set(back.data_vars) == {"ndvi", "dem", "lulc"}


def test_a_store_written_by_the_cli_opens_without_a_warning(tmp_path):
    out = tmp_path / "c.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = _run("compress", SRC, out, "--variable", "ndvi", "--crf", "20")
        assert result.exit_code == 0, result.output
        xr.open_zarr(out)
        xgeo.open_dataset(out)
    assert "warning" not in result.output


def test_consolidated_metadata_follows_a_resume_and_an_append(tmp_path, monkeypatch):
    store = tmp_path / "cube.zarr"
    _killing_at(monkeypatch, "chunk-marker", 2)
    with pytest.raises(_Killed):
        with dask.config.set(scheduler="synchronous"):
            xgeo.io.to_zarr(_lazy_cube(), store)
    monkeypatch.undo()
    xgeo.io.to_zarr(_lazy_cube(), store, resume=True)
    extra = _lazy_cube()[["reflectance"]].rename(reflectance="again")
    xgeo.io.to_zarr(extra, store, mode="a")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        consolidated = xr.open_zarr(store).load()
    xr.testing.assert_identical(consolidated, xr.open_zarr(store, consolidated=False).load())
    assert {"reflectance", "dem", "again"} <= set(consolidated.data_vars)
    assert verify_store(str(store)).ok


# -- interrupted: every message names the option that exists where the user is -------------

def test_python_messages_name_python_arguments(tmp_path, monkeypatch):
    store = tmp_path / "cube.zarr"
    _killing_at(monkeypatch, "chunk-marker", 2)
    with pytest.raises(_Killed):
        with dask.config.set(scheduler="synchronous"):
            xgeo.io.to_zarr(_lazy_cube(), store)
    monkeypatch.undo()
    for call in (lambda: xgeo.open_dataset(store), lambda: xgeo.io.to_zarr(_lazy_cube(), store)):
        with pytest.raises(IncompleteStoreError) as err:
            call()
        assert "resume=True" in str(err.value) and "mode='w'" in str(err.value)
        assert "--" not in str(err.value)


def _interrupted_cli(monkeypatch, *args) -> None:
    _killing_at(monkeypatch, "chunk-marker", 2)
    result = _run(*args)
    monkeypatch.undo()
    assert isinstance(result.exception, _Killed), result.output


def test_an_interrupted_cli_compress_is_finished_by_resume(tmp_path, monkeypatch):
    out, clean = tmp_path / "c.zarr", tmp_path / "clean.zarr"
    args = ("compress", SRC, "{out}", "--variable", "reflectance", "--lossless", "--chunks",
            "time=1")

    def cmd(path):
        return [path if a == "{out}" else a for a in args]

    _interrupted_cli(monkeypatch, *cmd(out))
    line = _one_line_error(_run(*cmd(out)))
    assert "interrupted" in line and "--resume" in line and "--overwrite" in line
    for command in (["info", out], ["verify", out]):
        output = _run(*command).output
        assert "--resume" in output and "resume=True" not in output
        assert "allow_incomplete" not in output
    result = _run(*cmd(out), "--resume")
    assert result.exit_code == 0, result.output
    assert "libffv1" in result.output or "ffv1" in result.output
    assert _run(*cmd(clean)).exit_code == 0
    back = xgeo.open_dataset(out).load()
    xr.testing.assert_identical(back, xgeo.open_dataset(clean).load())
    np.testing.assert_array_equal(back.reflectance.values,
                                  xgeo.open_dataset(SRC).reflectance.values)
    assert not Path(progress_path(str(out))).exists() and not Path(lock_path(str(out))).exists()
    assert verify_store(str(out)).ok


@pytest.mark.parametrize("command", [
    ["decompress", "{src}", "{out}"],
    ["reproject", SRC, "{out}", "--crs", "EPSG:4326"],
    ["indices", SRC, "{out}", "--index", "NDVI", "--index", "NDWI"],
])
def test_every_lazy_zarr_writer_of_the_cli_resumes(tmp_path, monkeypatch, command):
    src = tmp_path / "src.zarr"
    xgeo.io.to_zarr(xgeo.datasets.sentinel2_cube()[["ndvi", "dem"]].chunk({"time": 1}), src)

    def cmd(out):
        return [{"{src}": src, "{out}": out}.get(a, a) for a in command]

    out, clean = tmp_path / "out.zarr", tmp_path / "clean.zarr"
    _interrupted_cli(monkeypatch, *cmd(out))
    assert "--resume" in _one_line_error(_run(*cmd(out)))
    result = _run(*cmd(out), "--resume")
    assert result.exit_code == 0, result.output
    assert _run(*cmd(clean)).exit_code == 0
    xr.testing.assert_identical(xgeo.open_dataset(out).load(), xgeo.open_dataset(clean).load())
    assert not Path(progress_path(str(out))).exists()


def test_resume_is_refused_where_it_cannot_apply(tmp_path):
    result = _run("compress", SRC, tmp_path / "c.zarr", "--resume", "--overwrite")
    assert result.exit_code == 2 and "--overwrite starts it over: choose one" in result.output
    result = _run("reproject", SRC, tmp_path / "ll.nc", "--crs", "EPSG:4326", "--resume")
    assert result.exit_code == 2 and "ll.nc is not a .zarr store" in result.output
    assert not (tmp_path / "c.zarr").exists() and not (tmp_path / "ll.nc").exists()
    # a resume of nothing yet is the write itself
    result = _run("compress", SRC, tmp_path / "n.zarr", "--variable", "ndvi", "--resume")
    assert result.exit_code == 0, result.output


# -- --chunks naming a dim the data does not have -----------------------------------------

def test_chunks_naming_an_unknown_dim_is_one_line_listing_the_dims(tmp_path):
    out = tmp_path / "c.zarr"
    line = _one_line_error(_run("compress", SRC, out, "--chunks", "foo=3,time=2"))
    assert "'foo'" in line and "time=2" not in line
    assert "time, band, y, x" in line
    assert not out.exists() and not Path(progress_path(str(out))).exists()
    result = _run("--debug", "compress", SRC, out, "--chunks", "foo=3")
    assert isinstance(result.exception, CodecError)  # typed
