"""The on-disk cache of decoded chunks: a video chunk is decoded once, then read back from disk.

:class:`DiskChunkCache` keeps decoded Zarr chunks as files in a directory, so that later
epochs, other DataLoader workers and later runs read a chunk instead of decoding it again.
:meth:`DiskChunkCache.wrap` puts it in front of a chunk reader of
:func:`xgeo._chunkread.direct_chunk_reader` (what :class:`~xgeo._chunkread.ZarrReader` does
when given ``cache_dir``); the per-process memory LRU stays in front of both.

Format, by measurement. Reading back (2026-11, one 12 x 512 x 512 uint16 chunk of the loader
benchmark's S2 mosaic, 6.0 MiB decoded, files in the page cache, one core; the HEVC chunk at
crf 10 is 0.40 MB and decodes in 73 ms, the zstd store's 12 band chunks are 2.68 MB and decode
in 4.3 ms)::

    format                      disk bytes   read + check
    raw, mmap + CRC32           6.29 MB      1.50 ms   (CRC32 alone 1.46 ms)
    raw, read() + CRC32         6.29 MB      1.94 ms   (format 1)
    LZ4                         3.70 MB      0.89 ms + 1.46 ms CRC32 (LZ4 has no checksum)
    Blosc lz4 + shuffle         2.86 MB      1.84 ms + CRC32
    Zstd level 1 (+checksum)    3.03 MB      4.26 ms
    Blosc zstd 1 + shuffle      2.51 MB      5.40 ms + CRC32

and writing, in place: the first epoch of the loader benchmark's 12 x 4096 x 4096 video store
(64 such chunks, workers 0, chips/s, median of 4 runs interleaved on the 2-core VM, ext4 on
a virtio disk, 2026-12)::

    first epoch                                   chips/s   of uncached   disk bytes
    no disk cache                                 78.8      1.00
    disk cache, files not written (its lookups)   73.5      0.93
    disk cache, raw files                         65.7      0.83          6.29 MB a chunk
    disk cache, Blosc lz4 + bitshuffle files      68.6      0.87          2.96 MB  <- chosen

The HEVC decoder already keeps both cores busy, so the writer thread's CPU time (4-7 ms a
chunk either way: compressing, or the kernel putting twice the pages in the page cache) comes
out of the first epoch. Writing past the page cache (``O_DIRECT``) was measured and not taken:
a 3 MiB file costs 0.2 ms of the writer's CPU instead of 6-7 ms, but in the loader benchmark
(float32 out, 5 repetitions, the same session) the first epoch moved within its noise (cache
/ video epoch 1: 0.887 / 0.886 against 0.868 / 0.881 on the 4096 cube, workers 0 / 2) while
the second epoch read every file from the disk (workers 2: 0.86x the zstd store instead of
1.14x). What did pay is the writer's priority: it runs at nice 19 (:func:`lowest_priority`),
so it takes the cores' idle moments instead of turns with the decoder (first epoch, uint16
out, chips/s as a fraction of the uncached video store's, median of 4 repetitions
interleaved, three runs of 2026-12-07, workers 0 / 2)::

    writer thread                      run 1            run 2            run 3
    normal priority                    0.860 / 0.875    0.879 / 0.899    0.926 / 0.911
    nice 19                                             0.934 / 0.914    0.939 / 0.944  <- chosen
    SCHED_IDLE                                                           0.942 / 0.934
    nice 19, 8 chunks queued, not 4                                      0.896 / 0.926
    files not written (lookups only)   0.969 / 0.993

with the second epoch unchanged (every chunk was written). A cache on tmpfs at normal
priority reached 0.89 (0.85 on disk in the same run): most of the cost is the CPU of
compressing and filling the page cache, not the disk. Blosc's LZ4 on bit-shuffled values
halves the disk bytes, is no slower to write and costs about 1 ms more per read (3.5 ms
against 2.4 ms with the CRC32), still 20x faster than the HEVC decode. The choice is measured per chunk: one that Blosc does not shrink
to :data:`RAW_ABOVE` of its bytes (noise, float mantissas) is kept raw. The CRC32 covers the
stored bytes, so a corrupt file is found before it is decompressed.
The file is read, not memory-mapped: in Python < 3.13 every live mapping holds a duplicated
file descriptor (a 256 MiB LRU of small chunks would pass ``ulimit -n``), and a cache file
truncated under a mapping kills the process with SIGBUS. Only chunks of the xgeo video
serializer are cached: a zstd chunk decodes at ~1.5 GB/s, within 3x of reading it raw, at no
disk cost.

A file is ``MAGIC``, a little-endian ``(header length, stored bytes, CRC32 of the stored bytes)``,
a JSON header (dtype, shape, the key, ``"stored"``: ``"raw"`` or ``"blosc"``) and the stored
bytes at a 64-byte boundary. Its name is a hash of the
key: the store's absolute path or URL, the array, the chunk key, the stored chunk object's
stamp (:func:`xgeo._chunkobjects.object_stamp`: size, mtime_ns and inode locally;
ETag/size/LastModified on object stores) and :data:`FORMAT`, so a rewritten chunk is never served stale. Writes go to a
temporary file in the same directory, then ``os.replace``: a reader sees a whole file or
none. A short, corrupt or foreign file is reported (:class:`~xgeo.errors.ChunkCacheWarning`)
and rebuilt from the store, never returned. The directory is bounded: least recently used
files (mtime, touched on every read) are removed, under an ``fcntl`` lock, when a process's
view of the total passes the bound; unlinking a file another worker is reading is harmless on
POSIX. A read-only or full directory gives one warning and reads from the store.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import struct
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import numpy as np

from ._chunkobjects import video_serializer_config
from .errors import ChunkCacheWarning

__all__ = ["FORMAT", "MEMORY_BYTES", "RAW_ABOVE", "DiskChunkCache", "default_bound",
           "lowest_priority", "pack"]

#: the cache file's format version, part of every key and of the folder name (1: raw only;
#: 2: Blosc-compressed or raw, the stored bytes checked)
FORMAT = 2
MAGIC = b"XGEOCHK\x02"
_HEAD = struct.Struct("<8sIQI")  # magic, JSON header length, stored bytes, their CRC32
#: a chunk is stored raw when Blosc leaves more than this fraction of its bytes
RAW_ABOVE = 0.8
#: how compressed files are stored: LZ4 (level 1) on bit-shuffled values, by measurement
BLOSC = {"id": "blosc", "cname": "lz4", "clevel": 1, "shuffle": 2, "blocksize": 0}
_BLOSC_MAX = 2**31 - 1 - 16  # c-blosc's BLOSC_MAX_BUFFERSIZE
_ALIGN = 64
SUFFIX = ".xchunk"
#: The per-process memory cache of decoded chunks: ChipDataset's budget without a disk
#: cache, and the layer in front of one (decoded chunks read back from disk).
MEMORY_BYTES = 256 * 2**20
_STALE_TMP_S = 600.0  # a temporary file older than this is a dead writer's: removed
_IN_FLIGHT = 4  # decoded chunks a process may have queued for its writer thread


def default_bound(directory: str | os.PathLike) -> int:
    """The disk bound when none is given: min(16 GiB, half of (free space + this cache)).

    The cache's own files count as free, so a later run over a filled cache gets the same
    bound. A directory that does not exist yet is measured at its nearest existing parent.

    Examples
    --------
    >>> import tempfile
    >>> 0 < default_bound(tempfile.gettempdir()) <= 16 * 2**30
    True
    """
    place = Path(directory).absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    free = shutil.disk_usage(place).free
    mine = sum(n for _, n, _ in _scan(Path(directory) / _folder_name()))
    return int(min(16 * 2**30, (free + mine) // 2))


def _folder_name() -> str:
    return f"xgeo-chunks-v{FORMAT}"


def _scan(folder: Path) -> list[tuple[float, int, Path]]:
    """(mtime, bytes, path) of the cache files and temporary files in ``folder``."""
    out = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    for e in entries:
        if e.name.endswith(SUFFIX) or e.name.startswith(".tmp-"):
            try:
                st = e.stat()
            except OSError:
                continue
            out.append((st.st_mtime_ns / 1e9, st.st_size, Path(e.path)))
    return out


class DiskChunkCache:
    """Decoded chunks kept as checked raw files in ``directory``, bounded to ``max_bytes``.

    Shared by processes (DataLoader workers, later runs) and safe with threads.

    Parameters
    ----------
    directory
        Where the cache lives: files go in its ``xgeo-chunks-v2`` folder (made if missing).
    max_bytes
        The bound of that folder; None: :func:`default_bound`.
    background
        Write new files from a thread of the process (a queue of at most a few chunks), so
        that the reads that fill the cache do not wait for the disk; :meth:`flush` waits for
        them. Queued writes finish when the process exits normally (DataLoader workers too).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> cache = DiskChunkCache(tempfile.mkdtemp(), max_bytes=2**20)
    >>> a = cache.get(("store", "v", (0, 0), 1), lambda: np.arange(4, dtype="uint16"))
    >>> b = cache.get(("store", "v", (0, 0), 1), lambda: None)  # read from disk
    >>> b.tolist(), (cache.hits, cache.misses, cache.writes)
    ([0, 1, 2, 3], (1, 1, 1))
    """

    def __init__(self, directory: str | os.PathLike, max_bytes: int | None = None,
                 background: bool = False) -> None:
        self.directory = Path(directory).absolute()
        # write decoded chunks from a thread of this process, so a first epoch does not wait
        # for the disk (at most _IN_FLIGHT chunks queued; beyond that the caller writes)
        self.background = background
        self._writer: Any = None
        self._writer_pid = -1
        self._slots = threading.BoundedSemaphore(_IN_FLIGHT)
        self.folder = self.directory / _folder_name()
        self.max_bytes = default_bound(self.directory) if max_bytes is None else int(max_bytes)
        self.hits = self.misses = self.writes = self.rebuilt = 0
        self._lock = threading.Lock()
        self._writable = True
        self._warned: set[str] = set()
        self._seen = 0  # bytes in the folder at the last scan, plus this process's writes since
        self._budget = -1  # bytes this process may write before it looks at the folder again

    # ------------------------------------------------------------------ public
    def get(self, key: Hashable, load: Callable[[], np.ndarray]) -> np.ndarray:
        """The chunk of ``key`` from disk, or ``load()`` written to disk first."""
        path, text = self.file_of(key)
        block = self._read(path, text)
        if block is not None:
            self.hits += 1
            return block
        # one process fills a file: the others (workers wanting the same chunk) wait for it
        # rather than fetching and decoding the chunk again
        lock = _Flock(path.with_name(path.name + ".lock"), unlink=True)
        if self._writable:
            try:  # the lock file lives in the folder, which the first write would make
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # found and reported by the write
            missing = not path.exists()  # (a corrupt file is rebuilt, not read again)
            lock.acquire()
            block = self._read(path, text) if missing else None  # filled while it waited?
            if block is not None:
                lock.release()
                self.hits += 1
                return block
        self.misses += 1
        try:
            block = load()
            if self._writable and 0 < block.nbytes <= self.max_bytes:
                # the first write of a process is made here: a read-only or full directory
                # is found (and warned about) in the reading thread, not in the writer
                if self.background and self.writes and self._queue(path, text, block, lock):
                    return block  # the writer thread releases the lock
                self._write(path, text, block)
        finally:
            if not lock.queued:
                lock.release()
        return block

    def flush(self) -> None:
        """Wait for this process's queued writes (``background=True``) to finish."""
        writer = self._writer if self._writer_pid == os.getpid() else None
        if writer is not None:
            writer.shutdown(wait=True)
            self._writer = None

    def _queue(self, path: Path, text: str, block: np.ndarray, lock: _Flock) -> bool:
        """Hand the write to this process's writer thread; False when it is busy."""
        if self._writer_pid != os.getpid():  # a forked child: its own thread and slots
            self._writer, self._writer_pid = None, os.getpid()
            self._slots = threading.BoundedSemaphore(_IN_FLIGHT)
        if not self._slots.acquire(blocking=False):
            return False
        if self._writer is None:
            from concurrent.futures import ThreadPoolExecutor

            self._writer = ThreadPoolExecutor(1, thread_name_prefix="xgeo-chunk-cache",
                                              initializer=lowest_priority)

        def job() -> None:
            try:
                self._write(path, text, block)
            finally:
                lock.release()
                self._slots.release()

        lock.queued = True  # released by the job, once the file is written
        try:
            self._writer.submit(job)
        except RuntimeError:  # the interpreter is shutting down: the caller writes
            lock.queued = False
            self._slots.release()
            return False
        return True

    def file_of(self, key: Hashable) -> tuple[Path, str]:
        """The cache file of ``key`` and the key's text (kept in the file's header)."""
        text = json.dumps([FORMAT, key], default=str)
        return self.folder / (hashlib.sha256(text.encode()).hexdigest()[:40] + SUFFIX), text

    def wrap(self, arr: Any, reader: Callable[..., np.ndarray] | None, objects: Any = None
             ) -> Callable[..., np.ndarray] | None:
        """``reader`` (a chunk reader of ``arr``, key -> chunk) behind this cache, when the
        chunks of ``arr`` are expensive to decode (the xgeo video serializer) and ``objects``
        (its :class:`~xgeo._chunkobjects.ChunkObjects`) says where they live; else ``reader``."""
        if reader is None or objects is None or video_serializer_config(arr) is None:
            return reader

        # Behind a URL a stamp is a request (a HEAD): asked once per chunk in this process,
        # so later epochs read the disk without a round trip; a store rewritten while a
        # process runs is seen by the next process. Local stamps (a stat) are taken each time.
        remote = getattr(objects, "fs", None) is not None
        stamps: dict[tuple[int, ...], Any] = {}

        def read_chunk(key: tuple[int, ...]) -> np.ndarray:
            ident = stamps.get(key) if remote else None
            if ident is None:
                ident = objects.stamp(key)
                if remote and ident is not None:
                    stamps[key] = ident
            if ident is None:  # never written: the fill value, cheap
                return reader(key)
            return self.get((objects.url(key), ident), lambda: reader(key))

        return read_chunk

    # ------------------------------------------------------------------ reading
    def _read(self, path: Path, text: str) -> np.ndarray | None:
        try:
            with open(path, "rb") as f:
                raw = bytearray(os.fstat(f.fileno()).st_size)  # writable, as a decoded chunk
                got = f.readinto(raw)
            if got != len(raw):  # shrank while read: _parse finds it short
                raw = raw[:got]
        except FileNotFoundError:
            return None
        except OSError as err:
            self._warn_once("read", f"chunk cache file {path} cannot be read ({err}); "
                            "reading from the store")
            return None
        block = _parse(raw, text)
        if block is None:
            self.rebuilt += 1
            warnings.warn(f"chunk cache file {path} is truncated or corrupt; it is rebuilt from "
                          "the store", ChunkCacheWarning, stacklevel=4)
            return None
        try:  # least recently used = oldest mtime
            os.utime(path)
        except OSError:
            pass
        return block

    # ------------------------------------------------------------------ writing
    def _write(self, path: Path, text: str, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block)
        stored, data = pack(block)
        header = json.dumps({"dtype": block.dtype.str, "shape": list(block.shape),
                             "key": text, "stored": stored}).encode()
        head = _HEAD.pack(MAGIC, len(header), data.nbytes, zlib.crc32(data))
        pad = b"\0" * (-(len(head) + len(header)) % _ALIGN)
        tmp = path.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{path.name}")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(head + header + pad)
                f.write(data)
            os.replace(tmp, path)
        except OSError as err:
            try:
                tmp.unlink()
            except OSError:
                pass
            self._writable = False
            why = "is full" if err.errno in (errno.ENOSPC, errno.EDQUOT) else "cannot be written"
            self._warn_once("write", f"chunk cache directory {self.directory} {why} ({err}); "
                            "chunks are read from the store, without caching, in this process")
            return
        size = len(head) + len(header) + len(pad) + data.nbytes
        with self._lock:
            self.writes += 1
            self._seen += size
            self._budget -= size
            scan = self._budget < 0
        if scan:
            self._evict()

    def _evict(self) -> None:
        """Remove least recently used files until the folder is under the bound; then allow
        this process 1/8 of the headroom before it looks again (up to 8 writers stay under)."""
        with _Flock(self.folder / ".lock"):
            files = _scan(self.folder)
            total = sum(n for _, n, _ in files)
            if total > self.max_bytes:
                now = time.time()
                low = int(self.max_bytes * 0.8)
                for mtime, n, path in sorted(files, key=lambda f: f[0]):
                    if total <= low:
                        break
                    if path.name.startswith(".tmp-") and now - mtime < _STALE_TMP_S:
                        continue  # another writer's file in progress
                    try:
                        path.unlink()
                    except FileNotFoundError:
                        pass
                    except OSError:
                        continue
                    total -= n
        with self._lock:
            self._seen = total
            self._budget = max(0, self.max_bytes - total) // 8

    def _warn_once(self, what: str, message: str) -> None:
        with self._lock:
            if what in self._warned:
                return
            self._warned.add(what)
        warnings.warn(message, ChunkCacheWarning, stacklevel=5)


def _parse(raw: bytearray, text: str) -> np.ndarray | None:
    """The chunk held by file bytes ``raw`` if they are whole, unaltered and of key ``text``."""
    if len(raw) < _HEAD.size:
        return None
    magic, hlen, nbytes, crc = _HEAD.unpack_from(raw)
    start = _HEAD.size + hlen
    offset = start + (-start % _ALIGN)
    if magic != MAGIC or len(raw) != offset + nbytes:
        return None
    try:
        header = json.loads(raw[_HEAD.size:start])
        dtype, shape = np.dtype(header["dtype"]), tuple(header["shape"])
    except (ValueError, KeyError, TypeError):
        return None
    data = memoryview(raw)[offset:]
    stored = header.get("stored")
    size = int(np.prod(shape)) * dtype.itemsize
    if header.get("key") != text or stored not in ("raw", "blosc") \
            or (stored == "raw" and size != nbytes) or zlib.crc32(data) != crc:
        return None
    if stored == "raw":
        return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    out = np.empty(shape, dtype)
    try:
        _blosc().decode(data, out=out)
    except (RuntimeError, ValueError):  # a CRC-clean file this Blosc cannot read: rebuilt
        return None
    return out


def pack(block: np.ndarray) -> tuple[str, memoryview]:
    """How a C-contiguous chunk is stored, and its bytes: ``"blosc"`` when
    :data:`BLOSC` leaves at most :data:`RAW_ABOVE` of its bytes, else ``"raw"`` (also for a
    chunk of 2 GiB or more, beyond one Blosc frame).

    Examples
    --------
    >>> import numpy as np
    >>> pack(np.zeros((64, 64), "uint16"))[0]
    'blosc'
    >>> pack(np.random.default_rng(0).random((64, 64)))[0]  # float noise: nothing to gain
    'raw'
    """
    raw = memoryview(block).cast("B")
    if raw.nbytes > _BLOSC_MAX:  # one Blosc frame holds under 2 GiB
        return "raw", raw
    small = _blosc().encode(block)
    if len(small) <= RAW_ABOVE * raw.nbytes:
        return "blosc", memoryview(small)
    return "raw", raw


def lowest_priority() -> None:
    """Give the calling thread the lowest CPU priority (nice 19), where the OS has per-thread
    priorities (Linux); elsewhere, or where refused, nothing changes.

    The cache's writer thread runs so: it compresses and writes on cores the decoders leave
    idle instead of taking turns with them (measured: module docstring). A writer that falls
    :data:`_IN_FLIGHT` chunks behind hands the next write back to the reading thread.

    Examples
    --------
    >>> import threading
    >>> before = os.getpriority(os.PRIO_PROCESS, 0)  # this thread's
    >>> t = threading.Thread(target=lowest_priority)
    >>> t.start(); t.join()
    >>> os.getpriority(os.PRIO_PROCESS, 0) == before
    True
    """
    if not sys.platform.startswith("linux"):  # elsewhere a thread id is not a process id
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except OSError:
        pass


def _blosc() -> Any:
    import numcodecs

    return numcodecs.get_codec(dict(BLOSC))


class _Flock:
    """An exclusive ``fcntl`` lock on the file ``path`` (made if missing), held from
    :meth:`acquire` to :meth:`release`; none where unavailable or the folder is read-only
    (the races it prevents are harmless, only slower). ``unlink``: the lock file is removed
    on release (while still held: a waiter then finds the work done, a newcomer a new file)."""

    def __init__(self, path: Path, unlink: bool = False) -> None:
        self.path = path
        self.unlink = unlink
        self.fd: int | None = None
        self.queued = False  # handed to the writer thread, which releases it

    def acquire(self) -> _Flock:
        try:
            import fcntl

            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except (ImportError, OSError):
            if self.fd is not None:
                os.close(self.fd)
            self.fd = None
        return self

    def release(self) -> None:
        if self.fd is not None:
            if self.unlink:
                try:
                    os.unlink(self.path)
                except OSError:
                    pass
            os.close(self.fd)  # closing releases the flock
            self.fd = None

    def __enter__(self) -> _Flock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
