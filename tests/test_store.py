"""Interrupted Zarr writes are detected, named and resumed without redoing written chunks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo.grid import Grid
from xgeo.store import IncompleteStoreError, missing_chunks, progress_path

SLOW_WRITER = textwrap.dedent(
    """
    import sys, time, dask, numpy as np, xgeo
    def slow(block):
        time.sleep(float(sys.argv[2]))
        return block
    ds = xgeo.datasets.sentinel2_cube(chunks={}).chunk({"time": 1})[["reflectance"]]
    lazy = ds.reflectance.chunk({"band": 1})
    ds["reflectance"] = lazy.copy(data=lazy.data.map_blocks(slow))
    with dask.config.set(scheduler="synchronous"):
        xgeo.io.to_zarr(ds, sys.argv[1], resume=len(sys.argv) > 3)
    """
)


def _lazy_cube():
    ds = xgeo.datasets.sentinel2_cube(chunks={}).chunk({"time": 1})[["reflectance"]]
    ds["reflectance"] = ds.reflectance.chunk({"band": 1})
    return ds


def test_lazy_write_reads_back_and_is_marked_complete(tmp_path, sample):
    store = tmp_path / "cube.zarr"
    markers = xgeo.io.to_zarr(_lazy_cube(), store)
    assert len(markers) == 5 * 13
    assert missing_chunks(str(store)) is None
    back = xgeo.open_dataset(store)
    np.testing.assert_array_equal(back.reflectance.values, sample.reflectance.values)
    assert back.geo.crs.to_epsg() == 32633


def test_killed_write_is_refused_then_resumed(tmp_path, sample):
    store = tmp_path / "cube.zarr"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(store), "0.05"])
    side = Path(progress_path(str(store)))
    deadline = time.time() + 120
    while time.time() < deadline:
        if side.exists() and len(list(side.glob("reflectance@*"))) >= 10:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    missing = missing_chunks(str(store))
    assert missing is not None and 0 < len(missing["reflectance"]) < 65
    n_missing = len(missing["reflectance"])
    with pytest.raises(IncompleteStoreError, match=r"chunk\(s\) missing.*resume=True"):
        xgeo.open_dataset(store)
    partial = xgeo.open_dataset(store, allow_incomplete=True)
    assert np.isnan(partial.reflectance.values).any()  # unwritten chunks are fill values
    with pytest.warns(UserWarning, match="taking over the stale lock"):  # the killed writer's
        written = xgeo.io.to_zarr(_lazy_cube(), store, resume=True)
    assert len(written) == n_missing  # finished chunks were not redone
    back = xgeo.open_dataset(store)
    np.testing.assert_array_equal(back.reflectance.values, sample.reflectance.values)


def test_resume_needs_the_same_layout(tmp_path):
    store = tmp_path / "cube.zarr"
    subprocess.run([sys.executable, "-c", SLOW_WRITER, str(store), "0"], check=True)
    with pytest.raises(IncompleteStoreError, match="differ"):
        xgeo.io.to_zarr(_lazy_cube().chunk({"time": 5}), store, resume=True)
    plain = tmp_path / "plain.zarr"  # not written by xgeo: no progress folder, no records
    _lazy_cube().load().to_zarr(plain, zarr_format=3)
    with pytest.raises(IncompleteStoreError, match="nothing to resume"):
        xgeo.io.to_zarr(_lazy_cube(), plain, resume=True)
    eager = tmp_path / "eager.zarr"  # xgeo's write of the same data in memory: one block each
    xgeo.io.to_zarr(_lazy_cube().load(), eager)
    with pytest.raises(IncompleteStoreError, match="lazy variables differ"):
        xgeo.io.to_zarr(_lazy_cube(), eager, resume=True)
    # a resume of a write that stopped before it wrote anything is that write
    xgeo.io.to_zarr(_lazy_cube(), tmp_path / "other.zarr", resume=True)
    assert missing_chunks(str(tmp_path / "other.zarr")) is None


def test_a_second_write_over_an_interrupted_one_is_refused(tmp_path):
    store = tmp_path / "cube.zarr"
    Path(progress_path(str(store))).mkdir(parents=True)
    with pytest.raises(IncompleteStoreError, match="interrupted"):
        xgeo.io.to_zarr(_lazy_cube(), store)


def test_killing_a_distributed_worker_mid_write_still_completes(tmp_path, sample):
    distributed = pytest.importorskip("distributed")
    store = tmp_path / "cube.zarr"
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            ds = _lazy_cube()
            ds["reflectance"] = ds.reflectance.copy(data=ds.reflectance.data.map_blocks(_sleepy))
            pids = list(client.run(os.getpid).values())
            side = Path(progress_path(str(store)))
            seen_at_kill = []

            def kill_when_started():
                while len(list(side.glob("reflectance@*"))) < 5:
                    time.sleep(0.02)
                seen_at_kill.append(len(list(side.glob("reflectance@*"))))
                os.kill(pids[0], signal.SIGKILL)

            import threading

            killer = threading.Thread(target=kill_when_started, daemon=True)
            killer.start()
            xgeo.io.to_zarr(ds, store)
            killer.join(timeout=5)
    assert seen_at_kill and seen_at_kill[0] < 65  # the worker died mid-write
    assert missing_chunks(str(store)) is None
    np.testing.assert_array_equal(
        xgeo.open_dataset(store).reflectance.values, sample.reflectance.values
    )


def _sleepy(block):
    time.sleep(0.1)
    return block


def test_in_memory_data_resumes_a_new_store_at_a_path_only(tmp_path, sample):
    import zarr

    with pytest.raises(ValueError, match="finishes an interrupted write of a new store at a path"):
        xgeo.io.to_zarr(sample[["ndvi"]], zarr.storage.MemoryStore(), resume=True)
    xgeo.io.to_zarr(sample[["ndvi"]], tmp_path / "x.zarr")
    with pytest.raises(ValueError, match="does not apply to appends"):
        xgeo.io.to_zarr(sample[["ndvi"]].isel(time=[0]), tmp_path / "x.zarr", resume=True,
                        append_dim="time")
    # resuming a store that is complete with the same data does nothing; a new path writes
    xgeo.io.to_zarr(sample[["ndvi"]], tmp_path / "x.zarr", resume=True)
    xgeo.io.to_zarr(sample[["ndvi"]], tmp_path / "y.zarr", resume=True)
    for name in ("x.zarr", "y.zarr"):
        np.testing.assert_array_equal(xgeo.open_dataset(tmp_path / name).ndvi, sample.ndvi)


def test_object_store_url_goes_through_the_same_code(sample):
    """fsspec URLs (memory:// here; s3://, gs:// alike) write, check and read back."""
    import dask

    url = "memory://xgeo-test/cube.zarr"
    with dask.config.set(scheduler="threads"):
        xgeo.io.to_zarr(_lazy_cube(), url)
    assert missing_chunks(url) is None
    back = xgeo.open_dataset(url)
    np.testing.assert_array_equal(back.reflectance.values, sample.reflectance.values)
    assert back.geo.crs.to_epsg() == 32633
    with pytest.raises(FileNotFoundError):
        xgeo.open_dataset("memory://xgeo-test/nothing.zarr")


def test_local_writes_go_in_block_row_order_to_bound_memory(tmp_path, monkeypatch):
    # dask's static ordering alone hops across the array and keeps shared source chunks alive
    # (a lazy 4 GiB reprojection peaked at 2 GiB); rows are written group after group.
    import threading

    import dask
    import dask.array as dsa

    import xgeo.store

    events: list[tuple[str, int]] = []
    lock = threading.Lock()
    real = xgeo.store._write_block

    def recording(block, after, *, region, **kw):
        row = region["y"].start
        with lock:
            events.append(("start", row))
        out = real(block, after, region=region, **kw)
        with lock:
            events.append(("end", row))
        return out

    monkeypatch.setattr(xgeo.store, "_write_block", recording)
    data = dsa.random.random((8 * 16, 8 * 16), chunks=16).astype("float32")
    grid = Grid.from_bounds((500000, 5000000, 501280, 5001280), crs=32633, resolution=10)
    y, x = grid.coords()
    ds = xgeo.crs.write_grid(xr.Dataset({"v": (("y", "x"), data)}, coords={"y": y, "x": x}), grid)
    with dask.config.set(scheduler="threads", num_workers=2):
        markers = xgeo.io.to_zarr(ds, tmp_path / "rows.zarr")
    assert len(markers) == 64
    groups = xgeo.store._row_groups([((r,), "v") for r in range(8) for _ in range(8)], 8)
    assert [len(g) for g in groups] == [8] * 8
    # every write of block row r ends before any write of row r + 1 starts
    last_end = {r: max(i for i, e in enumerate(events) if e == ("end", r * 16)) for r in range(8)}
    first_start = {r: min(i for i, e in enumerate(events) if e == ("start", r * 16)) for r in range(8)}
    assert all(last_end[r] < first_start[r + 1] for r in range(7))
    np.testing.assert_array_equal(xgeo.open_dataset(tmp_path / "rows.zarr").v.values, data.compute())
