"""One writer at a time per Zarr store: a lock with identity, heartbeat and stale recovery."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xgeo
import xgeo.lock
from xgeo.errors import StoreLockedError, XgeoError
from xgeo.lock import StoreLock, lock_path, read_lock


def _cube(offset: float, gate: threading.Event | None = None) -> xr.Dataset:
    ds = xgeo.datasets.sentinel2_cube()[["reflectance"]].isel(band=slice(0, 3)).load()
    data = (ds.reflectance + np.float32(offset)).chunk({"time": 5, "band": 1}).data

    def held(block):
        if gate is not None:
            gate.wait(60)
        return block

    ds["reflectance"] = ds.reflectance.copy(data=data.map_blocks(held, meta=np.array((), data.dtype)))
    return ds


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_two_concurrent_writers_one_wins_the_store_holds_its_data(tmp_path):
    import dask

    store = tmp_path / "cube.zarr"
    gate = threading.Event()
    result: dict[str, object] = {}

    def first():
        with dask.config.set(scheduler="threads"):
            try:
                xgeo.io.to_zarr(_cube(0.0, gate), store)
                result["first"] = "ok"
            except Exception as exc:  # pragma: no cover - reported below
                result["first"] = exc

    writer = threading.Thread(target=first)
    writer.start()
    while not Path(lock_path(str(store))).exists() and writer.is_alive():
        time.sleep(0.01)
    try:
        with pytest.raises(StoreLockedError) as err:
            xgeo.io.to_zarr(_cube(1.0), store, mode="w")
        with pytest.raises(StoreLockedError):  # a resume started during the write, too
            xgeo.io.to_zarr(_cube(0.0), store, resume=True)
    finally:
        gate.set()
        writer.join(60)
    assert result["first"] == "ok"
    message = str(err.value)
    assert str(store) in message and f"pid {os.getpid()}" in message
    assert socket.gethostname() in message and lock_path(str(store)) in message
    assert isinstance(err.value, XgeoError) and isinstance(err.value, OSError)
    back = xgeo.open_dataset(store)
    np.testing.assert_array_equal(back.reflectance.values, _cube(0.0).reflectance.values)
    assert not Path(lock_path(str(store))).exists()


def test_a_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    store = tmp_path / "cube.zarr"
    Path(lock_path(str(store))).write_text(json.dumps(
        {"host": socket.gethostname(), "pid": _dead_pid(), "started": time.time(),
         "token": "dead", "heartbeat": time.time()}))
    with pytest.warns(UserWarning, match="stale lock.*is gone"):
        xgeo.io.to_zarr(_cube(0.0), store)
    assert xgeo.open_dataset(store).reflectance.shape == (5, 3, 101, 100)
    assert not Path(lock_path(str(store))).exists()


def test_a_lock_without_heartbeat_is_stale_a_live_one_is_not(tmp_path):
    store = str(tmp_path / "cube.zarr")
    path = Path(lock_path(store))
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": 0, "token": "t"}))
    with pytest.raises(StoreLockedError, match="host elsewhere.*delete"):
        StoreLock(store).acquire()
    old = time.time() - xgeo.lock.STALE_AFTER_S - 10
    os.utime(path, (old, old))
    with pytest.warns(UserWarning, match="heartbeat is .* old"):
        lock = StoreLock(store).acquire()
    assert read_lock(store)["token"] == lock.token
    lock.release()
    assert not path.exists()


def test_the_heartbeat_keeps_a_long_write_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(xgeo.lock, "HEARTBEAT_S", 0.05)
    store = str(tmp_path / "cube.zarr")
    with StoreLock(store):
        path = Path(lock_path(store))
        os.utime(path, (1, 1))
        deadline = time.time() + 30
        while path.stat().st_mtime < 10 and time.time() < deadline:
            time.sleep(0.02)
        assert path.stat().st_mtime > 10  # refreshed by the background thread
    assert not path.exists()


def test_the_lock_is_released_when_the_write_fails(tmp_path):
    store = tmp_path / "cube.zarr"
    ds = _cube(0.0)

    def boom(block):
        raise RuntimeError("source unreadable")

    ds["reflectance"] = ds.reflectance.copy(data=ds.reflectance.data.map_blocks(
        boom, meta=np.array((), "float32")))
    with pytest.raises(RuntimeError, match="source unreadable"):
        xgeo.io.to_zarr(ds, store)
    assert not Path(lock_path(str(store))).exists()
    xgeo.io.to_zarr(_cube(0.0), store, resume=True)  # and the write can be finished


def test_in_memory_writes_take_the_lock_too(tmp_path):
    store = str(tmp_path / "cube.zarr")
    with StoreLock(store):
        with pytest.raises(StoreLockedError):
            xgeo.io.to_zarr(_cube(0.0).load(), store)


def test_object_store_locks_are_exclusive():
    url = "memory://xgeo-lock-test/cube.zarr"
    with StoreLock(url):
        assert read_lock(url)["pid"] == os.getpid()
        with pytest.raises(StoreLockedError):
            StoreLock(url).acquire()
    assert read_lock(url) is None


def test_a_writer_that_lost_its_lock_does_not_record_completion(tmp_path, monkeypatch):
    import xgeo.store

    store = tmp_path / "cube.zarr"

    def steal(step):
        if step == "chunks-done":  # another writer took the lock over meanwhile
            Path(lock_path(str(store))).write_text(json.dumps(
                {"host": "elsewhere", "pid": 7, "started": 0, "token": "other"}))

    monkeypatch.setattr(xgeo.store, "_checkpoint", steal)
    with pytest.raises(StoreLockedError, match="lost the lock"):
        xgeo.io.to_zarr(_cube(0.0), store)
    assert xgeo.store.missing_chunks(str(store)) == {}  # written, but not complete
    assert Path(lock_path(str(store))).exists()  # the new holder's lock is left alone


def test_a_store_under_a_live_writer_says_so_instead_of_interrupted(tmp_path, monkeypatch):
    """Opening a store while its writer runs said "interrupted... resume=True", which then met
    the writer's lock."""
    import xgeo.store
    from xgeo.errors import IncompleteStoreError

    store = tmp_path / "live.zarr"
    ds = xgeo.datasets.sentinel2_cube()[["ndvi"]].chunk({"time": 1})

    class Stop(Exception):
        pass

    def stop(step):
        if step == "chunk-data":
            raise Stop(step)

    monkeypatch.setattr(xgeo.store, "_checkpoint", stop)
    with pytest.raises(Stop):
        xgeo.io.to_zarr(ds, store)
    monkeypatch.undo()
    with pytest.raises(IncompleteStoreError, match="interrupted"):  # no writer: interrupted
        xgeo.open_dataset(store)
    with StoreLock(str(store)):  # a writer at work (this process's, alive)
        with pytest.raises(IncompleteStoreError, match=rf"is being written \(pid {os.getpid()}"):
            xgeo.open_dataset(store)


def test_a_killed_writer_not_yet_reaped_holds_no_live_lock(tmp_path):
    """A SIGKILLed writer whose parent had not waited for it (a zombie) still answered
    kill(pid, 0): its store read "being written" for a minute instead of "interrupted"."""
    from xgeo.lock import live_writer

    store = tmp_path / "z.zarr"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from xgeo.lock import StoreLock
        with StoreLock({str(store)!r}):
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        assert live_writer(str(store)) is not None
        os.kill(child.pid, 9)
        for _ in range(100):  # killed, not reaped: a zombie
            with open(f"/proc/{child.pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[-1].split()[0] == "Z":
                    break
            time.sleep(0.05)
        assert live_writer(str(store)) is None
    finally:
        child.kill()
        child.wait()
