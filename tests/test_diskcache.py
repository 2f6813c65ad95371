"""The on-disk decoded-chunk cache: correct, decoded once, never stale, never corrupt, bounded,
and safe with DataLoader workers under fork and spawn."""

from __future__ import annotations

import errno
import os
import shutil
import sys
import warnings

import numpy as np
import pytest

import xgeo
import xgeo._diskcache as diskcache
from xgeo._chunkobjects import object_stamp as stamp
from xgeo._diskcache import SUFFIX, DiskChunkCache, default_bound
from xgeo.errors import ChunkCacheWarning

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from xgeo.torch import ChipDataset, ChunkAwareSampler, collate, to_dataloader  # noqa: E402

VARS = ["B4", "B8"]
N_CHUNKS = 8  # 2 variables x 2 x 2 tiles of 50 x 50, one chunk of 8 dates


@pytest.fixture(scope="module")
def video(tmp_path_factory, data_dir):
    """Real nrt uint16 bands, 8 dates x 100 x 100, as a HEVC store of 8 chunks."""
    path = tmp_path_factory.mktemp("zarr") / "nrt_video.zarr"
    ds = xgeo.open_dataset(data_dir / "nrt_romania_32t.nc")[VARS]
    ds = ds.isel(time=slice(0, 8)).load()
    ds.geo.to_zarr(path, codec="hevc", codec_options={"crf": 20, "chunks": {"time": 8, "y": 50, "x": 50}})
    return path


def _dataset(store, **kw):
    return ChipDataset(store, size=25, variables=VARS, time=8, dtype=None, **kw)


def _images(dset):
    images = np.stack([dset[i]["image"].numpy() for i in range(len(dset))])
    disk = getattr(dset._get_reader(), "disk", None)
    if disk is not None:  # the writes queued for the writer thread are on disk after this
        disk.flush()
    return images


def _files(cache_dir):
    return sorted((cache_dir / f"xgeo-chunks-v{diskcache.FORMAT}").glob("*" + SUFFIX))


@pytest.fixture(scope="module")
def expected(video):
    return _images(_dataset(video))


def test_reads_equal_the_store_and_later_epochs_and_runs_decode_nothing(video, expected, tmp_path,
                                                                        decodes):
    first = _dataset(video, cache_dir=tmp_path)
    np.testing.assert_array_equal(_images(first), expected)
    assert len(decodes) == N_CHUNKS and len(_files(tmp_path)) == N_CHUNKS
    disk = first._get_reader().disk
    assert (disk.misses, disk.writes, disk.hits) == (N_CHUNKS, N_CHUNKS, 0)
    again = _dataset(video, cache_dir=tmp_path)  # a new process's view: empty memory cache
    np.testing.assert_array_equal(_images(again), expected)
    assert len(decodes) == N_CHUNKS, "a second run decoded chunks the cache holds"
    disk = again._get_reader().disk
    assert (disk.hits, disk.misses, disk.writes) == (N_CHUNKS, 0, 0)
    # to_dataloader passes cache_dir through
    loader = to_dataloader(str(video), 25, batch_size=4, cache_dir=tmp_path, dataset_kwargs={
        "variables": VARS, "time": 8, "dtype": None})
    assert loader.dataset.cache_dir == str(tmp_path)
    assert sum(len(b["index"]) for b in loader) == len(expected)
    assert len(decodes) == N_CHUNKS


def test_a_rewritten_store_chunk_is_never_served_stale(video, tmp_path_factory, tmp_path, decodes):
    store = tmp_path_factory.mktemp("stale") / "v.zarr"
    shutil.copytree(video, store)
    _images(_dataset(store, cache_dir=tmp_path))
    # chunk (0, 0, 0) of B4 now holds what (0, 1, 1) held
    shutil.copyfile(store / "B4" / "c" / "0" / "1" / "1", store / "B4" / "c" / "0" / "0" / "0")
    truth = _images(_dataset(store))
    before = len(decodes)
    got = _images(_dataset(store, cache_dir=tmp_path))
    np.testing.assert_array_equal(got, truth)
    assert len(decodes) - before == 1, "only the rewritten chunk is decoded again"


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_truncated_or_corrupt_cache_file_is_rebuilt_never_returned(video, expected, tmp_path,
                                                                     decodes, damage):
    _images(_dataset(video, cache_dir=tmp_path))
    victim = _files(tmp_path)[3]
    data = bytearray(victim.read_bytes())
    if damage == "truncate":
        data = data[: len(data) - 100]
    else:
        data[-7] ^= 0x10  # one bit of the pixels
    victim.write_bytes(bytes(data))
    before = len(decodes)
    dset = _dataset(video, cache_dir=tmp_path)
    with pytest.warns(ChunkCacheWarning, match="truncated or corrupt"):
        np.testing.assert_array_equal(_images(dset), expected)
    assert len(decodes) - before == 1 and dset._get_reader().disk.rebuilt == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChunkCacheWarning)  # rebuilt: read back cleanly
        np.testing.assert_array_equal(_images(_dataset(video, cache_dir=tmp_path)), expected)
    assert len(decodes) - before == 1


def _failing_writes(monkeypatch, err):
    real = open

    def fake_open(file, mode="r", *args, **kwargs):
        if "w" in mode:
            raise err
        return real(file, mode, *args, **kwargs)

    monkeypatch.setattr(diskcache, "open", fake_open, raising=False)


@pytest.mark.parametrize("err, match", [
    (OSError(errno.EROFS, "Read-only file system"), "cannot be written"),
    (OSError(errno.ENOSPC, "No space left on device"), "is full"),
])
def test_a_read_only_or_full_cache_directory_warns_once_and_reads_the_store(
        video, expected, tmp_path, monkeypatch, err, match):
    _failing_writes(monkeypatch, err)
    dset = _dataset(video, cache_dir=tmp_path)
    with pytest.warns(ChunkCacheWarning, match=match) as rec:
        np.testing.assert_array_equal(_images(dset), expected)
    assert len([w for w in rec if w.category is ChunkCacheWarning]) == 1
    assert _files(tmp_path) == [] and not list(tmp_path.rglob(".tmp-*"))


def test_a_really_read_only_directory_still_serves_its_files(video, expected, tmp_path, decodes):
    _images(_dataset(video, cache_dir=tmp_path))
    folder = _files(tmp_path)[0].parent
    folder.chmod(0o555)
    try:
        before = len(decodes)
        np.testing.assert_array_equal(_images(_dataset(video, cache_dir=tmp_path)), expected)
        assert len(decodes) == before
    finally:
        folder.chmod(0o755)


def test_eviction_keeps_the_directory_under_the_bound_least_recently_used_first(tmp_path):
    import time

    # noise, which Blosc cannot shrink: stored raw, 2000 bytes + a header, ~2.2 kB a file
    block = np.random.default_rng(0).integers(0, 2**16, 1000, dtype="uint16")
    cache = DiskChunkCache(tmp_path, max_bytes=7000)

    def present(k):
        return cache.file_of(("s", "v", (k,), 1))[0].exists()

    for k in range(3):
        cache.get(("s", "v", (k,), 1), lambda k=k: block + k)
        time.sleep(0.02)  # distinct mtimes, whatever the filesystem's clock granularity
    assert [present(k) for k in range(3)] == [True] * 3
    cache.get(("s", "v", (0,), 1), lambda: None)  # read: (0,) is now the most recent
    time.sleep(0.02)
    cache.get(("s", "v", (3,), 1), lambda: block + 3)  # over the bound: the two oldest go
    assert [present(k) for k in range(4)] == [True, False, False, True]
    for k in range(4, 12):
        time.sleep(0.02)
        cache.get(("s", "v", (k,), 1), lambda k=k: block + k)
        assert sum(f.stat().st_size for f in _files(tmp_path)) <= 7000
    assert present(11) and cache.writes == 12
    hits = cache.hits
    assert cache.get(("s", "v", (11,), 1), lambda: None).tolist() == (block + 11).tolist()
    assert cache.hits == hits + 1
    # a chunk larger than the whole bound is not written
    cache.get(("s", "v", (99,), 1), lambda: np.zeros(5000, "uint16"))
    assert not present(99)


@pytest.mark.parametrize("kind, stored", [("smooth", "blosc"), ("noise", "raw")])
def test_each_chunk_is_stored_the_way_that_measures_smaller_and_reads_back_exactly(
        tmp_path, kind, stored):
    """Blosc when it leaves at most RAW_ABOVE of the bytes, else raw: built to favour each."""
    rng = np.random.default_rng(1)
    if kind == "smooth":  # a ramp plus 2 bits of noise: shuffled bits compress
        block = (np.add.outer(np.arange(64), np.arange(64)) * 40
                 + rng.integers(0, 4, (64, 64))).astype("uint16")
    else:
        block = rng.random((64, 64)).astype("float32")
    assert diskcache.pack(block)[0] == stored
    cache = DiskChunkCache(tmp_path, max_bytes=1 << 24)
    cache.get(("s", "v", (0,), 1), lambda: block)
    (path,) = _files(tmp_path)
    ratio = path.stat().st_size / block.nbytes
    assert ratio <= diskcache.RAW_ABOVE if stored == "blosc" else ratio > 1
    back = DiskChunkCache(tmp_path, max_bytes=1 << 24).get(("s", "v", (0,), 1), lambda: None)
    assert back.dtype == block.dtype and back.flags.writeable
    np.testing.assert_array_equal(back, block)
    # a flipped bit in the stored bytes, compressed or not, is caught by the CRC32
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x04
    path.write_bytes(bytes(data))
    fresh = DiskChunkCache(tmp_path, max_bytes=1 << 24)
    with pytest.warns(ChunkCacheWarning, match="truncated or corrupt"):
        again = fresh.get(("s", "v", (0,), 1), lambda: block.copy())
    np.testing.assert_array_equal(again, block)
    assert fresh.rebuilt == 1


def test_a_chunk_beyond_one_blosc_frame_is_stored_raw(monkeypatch):
    block = np.zeros((64, 64), "uint16")  # compresses to almost nothing
    assert diskcache.pack(block)[0] == "blosc"
    monkeypatch.setattr(diskcache, "_BLOSC_MAX", block.nbytes - 1)  # as if it were 2 GiB
    stored, data = diskcache.pack(block)
    assert stored == "raw" and data.nbytes == block.nbytes


def test_a_previous_format_s_files_are_not_read(tmp_path):
    """Format 1 files (raw, in the xgeo-chunks-v1 folder) are left alone, never parsed."""
    block = np.arange(100, dtype="uint16")
    cache = DiskChunkCache(tmp_path, max_bytes=1 << 20)
    path, text = cache.file_of(("s", "v", (0,), 1))
    old = tmp_path / "xgeo-chunks-v1" / path.name
    old.parent.mkdir()
    old.write_bytes(b"XGEOCHK\x01" + bytes(200))
    assert cache.get(("s", "v", (0,), 1), lambda: block).tolist() == block.tolist()
    assert cache.misses == 1 and path.parent.name == f"xgeo-chunks-v{diskcache.FORMAT}"


def test_eviction_through_the_dataset_bound(video, expected, tmp_path):
    one = _files_bytes_of_one_chunk(video, tmp_path / "probe")
    dset = _dataset(video, cache_dir=tmp_path / "small", cache_bytes=3 * one + one // 2)
    np.testing.assert_array_equal(_images(dset), expected)
    assert sum(f.stat().st_size for f in _files(tmp_path / "small")) <= dset.cache_bytes


def _files_bytes_of_one_chunk(video, where):
    _images(_dataset(video, cache_dir=where))
    return max(f.stat().st_size for f in _files(where))


def test_only_video_chunks_are_cached_and_other_sources_warn(tmp_path, data_dir):
    ds = xgeo.open_dataset(data_dir / "nrt_romania_32t.nc", mask_and_scale=False)[VARS]
    zstd = tmp_path / "z.zarr"
    ds.isel(time=slice(0, 8)).chunk({"time": 8, "y": 50, "x": 50}).geo.to_zarr(zstd)
    _images(_dataset(zstd, cache_dir=tmp_path / "c"))
    assert _files(tmp_path / "c") == []
    with pytest.warns(ChunkCacheWarning, match="Zarr stores only"):
        dset = _dataset(ds.isel(time=slice(0, 8)).load(), cache_dir=tmp_path / "c")
    assert dset.cache_dir is None


def test_default_bound_and_negative_bytes(video, tmp_path):
    dset = _dataset(video, cache_dir=tmp_path)
    assert dset.cache_bytes == default_bound(tmp_path) <= 16 * 2**30
    assert _dataset(video).cache_bytes == 256 * 2**20
    from xgeo.errors import ChipError

    with pytest.raises(ChipError, match="cache_bytes"):
        _dataset(video, cache_bytes=-1)


def test_the_stamp_changes_when_an_object_is_rewritten(tmp_path):
    fsspec = pytest.importorskip("fsspec")

    mem = fsspec.filesystem("memory")
    mem.pipe("/xgeo-stamp/c/0", b"abcd")
    before = stamp(mem, "/xgeo-stamp/c/0")
    mem.pipe("/xgeo-stamp/c/0", b"abcde")
    assert stamp(mem, "/xgeo-stamp/c/0") != before
    assert stamp(mem, "/xgeo-stamp/c/9") is None
    local = fsspec.filesystem("file")
    path = tmp_path / "chunk"
    path.write_bytes(b"abcd")
    a, b = stamp(local, str(path)), stamp(None, str(path))
    path.write_bytes(b"wxyz")  # same size: mtime (and ino where kept) tell
    os.utime(path, ns=(1, 12345))
    assert stamp(local, str(path)) != a and stamp(None, str(path)) != b
    assert stamp(None, str(tmp_path / "none")) is None


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
@pytest.mark.parametrize("workers, context", [(0, None), (2, "fork"), (4, "fork"), (4, "spawn")])
def test_dataloader_workers_give_the_batches_of_the_uncached_store(video, tmp_path, workers,
                                                                   context):
    def batches(**kw):
        dset = _dataset(video, **kw)
        loader = DataLoader(dset, batch_size=4, sampler=ChunkAwareSampler(dset, seed=1),
                            collate_fn=collate, num_workers=workers,
                            multiprocessing_context=context, persistent_workers=workers > 0)
        out = [[(b["index"].tolist(), b["image"].numpy().copy()) for b in loader]
               for _ in range(2)]  # two epochs
        if workers == 0 and dset.cache_dir:  # this process's writer thread: its files are
            dset._get_reader().disk.flush()  # there after this (workers' when they exit)
        return out

    plain = batches()
    cached = batches(cache_dir=tmp_path)
    for epoch_plain, epoch_cached in zip(plain, cached, strict=True):
        for (i, a), (j, b) in zip(epoch_plain, epoch_cached, strict=True):
            assert i == j
            np.testing.assert_array_equal(a, b)
    assert len(_files(tmp_path)) == N_CHUNKS
    assert not list(tmp_path.rglob(".tmp-*"))


def test_background_writes_leave_the_reader_and_land_whole(tmp_path, monkeypatch):
    """After the first (synchronous) write, files are written by a writer thread: the read
    returns before the file exists, and flush() waits for it; a file is whole or absent."""
    import threading

    cache = DiskChunkCache(tmp_path, max_bytes=1 << 24, background=True)
    writers = []
    real = cache._write

    def slow_write(path, text, block):
        writers.append(threading.current_thread().name)
        gate.wait(5)
        real(path, text, block)

    gate = threading.Event()
    gate.set()
    first = cache.get(("s", "v", (0,), 1), lambda: np.arange(8, dtype="uint16"))
    monkeypatch.setattr(cache, "_write", slow_write)
    gate.clear()
    second = cache.get(("s", "v", (1,), 1), lambda: np.arange(8, 16, dtype="uint16"))
    assert second.tolist() == list(range(8, 16)) and len(_files(tmp_path)) == 1
    gate.set()
    cache.flush()
    assert len(_files(tmp_path)) == 2 and writers[0].startswith("xgeo-chunk-cache")
    assert cache.get(("s", "v", (1,), 1), lambda: None).tolist() == list(range(8, 16))
    assert first.tolist() == list(range(8))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_the_writer_thread_runs_at_the_lowest_priority_and_the_reader_keeps_its_own(
        tmp_path, monkeypatch):
    """The writer takes idle cores (nice 19), not turns with the decoders; nothing else in the
    process changes priority."""
    import threading

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = niceness()
    cache = DiskChunkCache(tmp_path, max_bytes=1 << 24, background=True)
    seen = []
    real = cache._write

    def write(path, text, block):
        seen.append((threading.current_thread().name, niceness()))
        real(path, text, block)

    monkeypatch.setattr(cache, "_write", write)
    for k in range(3):
        cache.get(("s", "v", (k,), 1), lambda k=k: np.full(8, k, dtype="uint16"))
    cache.flush()
    assert seen[0] == (threading.current_thread().name, mine)  # the first write: the reader's
    assert [n for _, n in seen[1:]] == [19, 19]
    assert all(name.startswith("xgeo-chunk-cache") for name, _ in seen[1:])
    assert niceness() == mine and os.getpriority(os.PRIO_PROCESS, 0) == mine
    assert [cache.get(("s", "v", (k,), 1), lambda: None)[0] for k in range(3)] == [0, 1, 2]
