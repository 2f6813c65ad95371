"""Reading chip windows out of Zarr chunks, torch-free: the window readers, the decoded-chunk
cache and the CF-decoding kernel.

:class:`ZarrReader` reads windows of a Zarr store's arrays chunk by chunk: chunk objects
(:class:`ChunkObjects`: files of a local store, or objects behind an fsspec URL such as
``s3://``, one GET each) are decoded directly (``bytes`` + zstd/blosc/gzip, or the xgeo video
serializer) into a :class:`ChunkCache` of decoded chunks, so a chunk shared by several
windows is read and decoded once;
:class:`ArrayReader` reads windows of xarray Variables (NumPy-, dask- or file-backed) through
the same interface. :func:`cf_decode` turns a window of stored values into float values as
xarray's CF decoding would (fill value to NaN, then ``scale_factor`` and ``add_offset``), in
one pass (:func:`cf_decode_f32`, a numba kernel) for float32 output.

This module imports neither torch nor xarray's dask machinery at import time; it is what
:mod:`xgeo.torch` builds its :class:`~xgeo.torch.ChipDataset` on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import xarray as xr
from numba import njit
from xgeo_codecs.errors import CodecError as CodecsCodecError

from ._chunkobjects import ChunkObjects, chunk_objects, fetch_ahead, video_serializer_config
from ._diskcache import DiskChunkCache
from ._objectstore import is_url, store_access, url_to_fs
from .errors import CodecError, chunk_codec_error
from .nodata import as_unsigned

__all__ = [
    "ArrayReader",
    "Channel",
    "ChunkCache",
    "ChunkObjects",
    "ZarrReader",
    "cf_decode",
    "cf_decode_f32",
    "cf_decoding",
    "chunk_objects",
    "direct_chunk_reader",
    "flat_window",
    "load_cf_kernel",
]


@njit(cache=True, nogil=True)
def cf_decode_f32(src, s_off, s_str, out, o_off, o_str, shape, fill, has_fill, scale, offset,
                   scaled):
    # Same float32 arithmetic as NumPy's ``block.astype(float32) * scale + offset``, from a
    # 4-D window of one flat array into a 4-D window of another (element offsets and strides;
    # innermost axis contiguous on both sides): a window of a cached chunk goes straight into
    # its slot of the batch, no contiguous copies. The case is chosen outside the loops and
    # the inner loop runs over contiguous memory with a select, so it vectorises.
    s = np.float32(scale)
    o = np.float32(offset)
    nan = np.float32(np.nan)
    for a in range(shape[0]):
        for b in range(shape[1]):
            for c in range(shape[2]):
                i0 = s_off + a * s_str[0] + b * s_str[1] + c * s_str[2]
                j0 = o_off + a * o_str[0] + b * o_str[1] + c * o_str[2]
                x = src[i0:i0 + shape[3]]
                y = out[j0:j0 + shape[3]]
                if has_fill and scaled:
                    for k in range(shape[3]):
                        y[k] = nan if x[k] == fill else np.float32(x[k]) * s + o
                elif has_fill:
                    for k in range(shape[3]):
                        y[k] = nan if x[k] == fill else np.float32(x[k])
                elif scaled:
                    for k in range(shape[3]):
                        y[k] = np.float32(x[k]) * s + o
                else:
                    for k in range(shape[3]):
                        y[k] = np.float32(x[k])


def flat_window(a: np.ndarray) -> tuple[np.ndarray, int, np.ndarray] | None:
    """``a`` as (flat contiguous base, element offset, 4-D element strides), or None when it is
    not a window of a contiguous array with a contiguous last axis."""
    a = a[(None,) * (4 - a.ndim)] if a.ndim < 4 else a
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    item = a.itemsize
    if not root.flags.c_contiguous or (a.shape[3] > 1 and a.strides[3] != item):
        return None
    if any(st % item for st in a.strides):
        return None
    start = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    strides = np.array([st // item for st in a.strides[:3]], dtype=np.int64)
    flat = root.reshape(-1)
    if flat.dtype != a.dtype:  # a view of other type (signed bits read unsigned): its type
        if flat.dtype.itemsize * flat.size % item or start % item:
            return None
        flat = flat.view(a.dtype)
    return flat, start // item, strides


@dataclass(frozen=True)
class Channel:
    """Where one group of channels lives in the store: a variable, its dims and CF decoding."""

    variable: str
    dims: tuple[str, ...]
    band_index: tuple[int, ...] | None  # positions along the variable's band dim, or None
    fill: Any
    scale: float
    offset: float
    unsigned: bool = False  # signed storage of unsigned values (netCDF-3's _Unsigned)

    @property
    def count(self) -> int:
        return 1 if self.band_index is None else len(self.band_index)

    @property
    def has_fill(self) -> bool:
        """Whether a stored value (not NaN) marks missing pixels."""
        return _is_value(self.fill)

    def stored_fill(self, fallback: Any, dtype: np.dtype) -> Any:
        """The value that marks missing pixels in the stored (undecoded) ``dtype``."""
        for value in (self.fill, fallback):
            if _is_value(value):
                return value
        return np.nan if np.dtype(dtype).kind == "f" else 0


def _is_value(fill: Any) -> bool:
    return fill is not None and not (isinstance(fill, float) and np.isnan(fill))


_MAX_PLANS = 1 << 16  # memoised chip windows per reader (a few hundred bytes each)


class ChunkCache:
    """Least-recently-used decoded chunks, bounded in bytes (one per process).

    Examples
    --------
    >>> import numpy as np
    >>> cache = ChunkCache(max_bytes=16)
    >>> cache.get("a", lambda: np.zeros(2)).tolist(), cache.get("a", lambda: None).tolist()
    ([0.0, 0.0], [0.0, 0.0])
    >>> cache.hits, cache.misses, cache.nbytes
    (1, 1, 16)
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, load: Callable[[], np.ndarray]) -> np.ndarray:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
            self.hits += 1
            return value
        self.misses += 1
        value = load()
        if value.nbytes <= self.max_bytes:
            self.items[key] = value
            self.nbytes += value.nbytes
            while self.nbytes > self.max_bytes:
                _, old = self.items.popitem(last=False)
                self.nbytes -= old.nbytes
        return value


class ZarrReader:
    """Reads windows of Zarr arrays chunk by chunk through a :class:`ChunkCache`.

    For stores whose codecs it knows (``bytes`` + zstd/blosc/gzip, or the xgeo video
    serializer) it reads chunk objects (:class:`ChunkObjects`) and decodes them directly:
    zarr's general indexing machinery costs ~1 ms per call, more than decoding a chunk.
    Anything else goes through ``zarr.Array`` indexing. ``path`` is a local store or an
    fsspec URL (``s3://bucket/cube.zarr``, with ``storage_options``): each process opens
    its own filesystem (a reader is never shared across ``fork``), and :meth:`prefetch`
    fetches the chunks a batch needs in one round of concurrent requests. With
    ``cache_dir``, decoded video chunks are also kept on disk, bounded to ``disk_bytes``
    (:class:`~xgeo._diskcache.DiskChunkCache`).

    Raises
    ------
    StoreNotFoundError, StoreAccessError
        For a URL: no store there (or no bucket), or the store cannot be reached.
    """

    def __init__(self, path: str, cache_bytes: int, threads: int = 1,
                 storage_options: dict[str, Any] | None = None,
                 cache_dir: str | None = None, disk_bytes: int | None = None) -> None:
        import zarr

        self.path = path
        # (filesystem, path in it) of a store behind a URL; None, the path, for a local one
        self.fs, self.root = url_to_fs(path, storage_options) if is_url(path) else (None, path)
        with store_access(path):
            opts = {"storage_options": storage_options} if self.fs is not None else {}
            self.group = zarr.open_group(path, mode="r", **opts)
        # where each variable's chunk objects live (None: read through zarr indexing)
        self.objects: dict[str, ChunkObjects | None] = {}
        self.arrays: dict[str, Any] = {}
        # (chunk shape, array shape) per variable: zarr's properties cost microseconds a call
        self.geometry: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.direct: dict[str, Callable[..., np.ndarray] | None] = {}
        # video arrays: the chunk axis that is time (partial decoding reads some frames)
        self.frame_axis: dict[str, int | None] = {}
        self.cache = ChunkCache(cache_bytes)
        self.disk = (None if cache_dir is None
                     else DiskChunkCache(cache_dir, disk_bytes, background=True))
        # (variable, window) -> its chunks, and its slice inside the chunk when it lies in one:
        # a dataset's chips repeat every epoch, and working this out costs ~10 us a read
        self.plans: dict[tuple[Any, ...], tuple[list[Any], tuple[slice, ...] | None]] = {}
        # Decoders (zstd, libav) release the GIL: missing chunks of one window decode in parallel.
        self.pool = None
        if threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(threads, thread_name_prefix="xgeo-decode")

    def array(self, name: str) -> Any:
        arr = self.arrays.get(name)
        if arr is None:
            arr = self.arrays[name] = self.group[name]
            self.objects[name] = chunk_objects(arr, self.fs, self.root)
            self.direct[name] = direct_chunk_reader(arr, self.objects[name])
            # partial decoding of some frames, unless whole chunks are kept on disk (there a
            # chunk is decoded once for every later read)
            self.frame_axis[name] = (video_frame_axis(arr) if self.direct[name] is not None
                                     and self.disk is None else None)
            if self.disk is not None:
                self.direct[name] = self.disk.wrap(arr, self.direct[name], self.objects[name])
            self.geometry[name] = (tuple(arr.chunks), tuple(arr.shape))
        return arr

    def _chunks_of(
        self, name: str, region: Sequence[slice]
    ) -> list[tuple[tuple[int, ...], tuple[slice, ...]]]:
        chunks, shape = self.geometry[name]
        ranges = [
            range(s.start // c, (s.stop - 1) // c + 1) for s, c in zip(region, chunks, strict=True)
        ]
        return [
            (
                key,
                tuple(
                    slice(k * c, min((k + 1) * c, n))
                    for k, c, n in zip(key, chunks, shape, strict=True)
                ),
            )
            for key in product(*ranges)
        ]

    def _plan(
        self, name: str, region: Sequence[slice]
    ) -> tuple[list[tuple[tuple[int, ...], tuple[slice, ...]]], tuple[slice, ...] | None]:
        memo = (name, *((s.start, s.stop) for s in region))
        plan = self.plans.get(memo)
        if plan is None:
            parts = self._chunks_of(name, region)
            inner = None
            if len(parts) == 1:
                inner = tuple(
                    slice(s.start - cs.start, s.stop - cs.start)
                    for s, cs in zip(region, parts[0][1], strict=True)
                )
            if len(self.plans) >= _MAX_PLANS:
                self.plans.clear()
            plan = self.plans[memo] = (parts, inner)
        return plan

    def _loader(
        self, name: str, key: tuple[int, ...], sel: tuple[slice, ...]
    ) -> Callable[[], np.ndarray]:
        direct = self.direct[name]
        arr = self.arrays[name]
        load = (lambda: direct(key)) if direct is not None else (lambda: arr[sel])
        return lambda: self._named(load, name, key)

    def _part(
        self, name: str, key: tuple[int, ...], chunk_sel: tuple[slice, ...],
        region: Sequence[slice],
    ) -> tuple[Hashable, Callable[[], np.ndarray], tuple[slice, ...]]:
        """What a read of ``region`` loads of chunk ``key``: its cache key, its loader and the
        part of the array it covers. The whole chunk; or, for a video chunk of which the read
        needs at most half the frames, only those frames (partial decoding: a stream is
        decoded up to the last of them, a ``keyint`` chunk only in the groups holding them,
        so a date of a long series costs a fraction of the chunk)."""
        fa = self.frame_axis.get(name)
        direct = self.direct[name]
        if fa is not None and direct is not None:
            s, cs = region[fa], chunk_sel[fa]
            lo, hi = max(s.start, cs.start), min(s.stop, cs.stop)
            if 2 * (hi - lo) <= cs.stop - cs.start:
                frames = slice(lo - cs.start, hi - cs.start)
                part = (*chunk_sel[:fa], slice(lo, hi), *chunk_sel[fa + 1:])
                return ((name, key, lo, hi),
                        lambda: self._named(lambda: direct(key, frames), name, key), part)
        return (name, key), self._loader(name, key, chunk_sel), chunk_sel

    def _named(self, load: Callable[[], np.ndarray], name: str, key: tuple[int, ...]
               ) -> np.ndarray:
        """``load()``, a corrupt chunk raised as xgeo's CodecError naming store, array, chunk."""
        try:
            return load()
        except CodecsCodecError as err:
            if isinstance(err, CodecError):
                raise
            raise chunk_codec_error(err, store=self.path, variable=name, chunk=key) from err

    def prefetch(self, requests: Sequence[tuple[str, Sequence[slice]]]) -> None:
        """Decode, in parallel, the chunks of these (variable, region) reads not in the cache
        (from a URL: first fetched in one round of concurrent requests)."""
        if self.pool is None and self.fs is None:
            return
        missing = {}
        for name, region in requests:
            self.array(name)
            for key, sel in self._plan(name, region)[0]:
                cache_key, load, _ = self._part(name, key, sel, region)
                if cache_key not in self.cache.items:
                    missing[cache_key] = load
        if self.fs is not None and self.disk is None:  # a URL: one round of GETs, then decode
            # (with the disk cache, a chunk on disk is never fetched: each load looks there first)
            fetch_ahead((self.objects[n], k) for n, k, *_ in missing
                        if self.objects[n] is not None and self.direct[n] is not None)
        if self.pool is not None and len(missing) > 1:
            for cache_key, block in zip(
                missing, self.pool.map(lambda load: load(), missing.values()), strict=True
            ):
                self.cache.get(cache_key, lambda block=block: block)

    def dtype(self, name: str) -> np.dtype:
        """The stored dtype of variable ``name``."""
        return np.dtype(self.array(name).dtype)

    def read(self, name: str, region: Sequence[slice], view: bool = False) -> np.ndarray:
        """The window's values; ``view=True`` may return a read-only view of a cached chunk
        (when the window lies in one chunk), for callers that copy it straight away."""
        arr = self.array(name)
        parts, inner = self._plan(name, region)
        if view and inner is not None:
            (key, chunk_sel), = parts
            cache_key, load, part_sel = self._part(name, key, chunk_sel, region)
            if part_sel is not chunk_sel:  # some frames of the chunk: relative to them
                inner = tuple(slice(s.start - ps.start, s.stop - ps.start)
                              for s, ps in zip(region, part_sel, strict=True))
            return self.cache.get(cache_key, load)[inner]
        out = np.empty([s.stop - s.start for s in region], dtype=arr.dtype)
        for key, whole_sel in parts:
            cache_key, load, chunk_sel = self._part(name, key, whole_sel, region)
            block = self.cache.get(cache_key, load)
            src, dst = [], []
            for s, cs in zip(region, chunk_sel, strict=True):
                lo, hi = max(s.start, cs.start), min(s.stop, cs.stop)
                src.append(slice(lo - cs.start, hi - cs.start))
                dst.append(slice(lo - s.start, hi - s.start))
            out[tuple(dst)] = block[tuple(src)]
        return out


def direct_chunk_reader(
    arr: Any, objects: ChunkObjects | None = None
) -> Callable[[tuple[int, ...]], np.ndarray] | None:
    """A function reading one chunk (cropped to the array) from its object, or None if
    unsupported. ``objects``: where the chunk objects live (default: a local store's files,
    :func:`chunk_objects`)."""
    import numcodecs

    if objects is None:
        objects = chunk_objects(arr)
    meta = arr.metadata
    if (
        objects is None
        or getattr(meta, "zarr_format", None) != 3
        or getattr(meta, "storage_transformers", ())
    ):
        return None
    configs = [c.to_dict() for c in meta.codecs]
    serializer, rest = configs[0], configs[1:]
    compressors = {"zstd": numcodecs.Zstd, "blosc": numcodecs.Blosc, "gzip": numcodecs.GZip}
    if any(c["name"] not in compressors for c in rest):
        return None
    byte_decoders = [compressors[c["name"]]().decode for c in rest][::-1]
    chunk_shape = tuple(arr.chunks)
    fa = 0
    if serializer["name"] == "bytes":
        endian = (serializer.get("configuration") or {}).get("endian", "little")
        dtype = np.dtype(arr.dtype).newbyteorder("<" if endian == "little" else ">")

        def to_array(buf: bytes, frames: None = None) -> np.ndarray:
            return np.frombuffer(buf, dtype=dtype).reshape(chunk_shape)
    else:
        from xgeo_codecs import decode as video_decode

        if video_serializer_config(arr) is None:
            return None

        fa = video_frame_axis(arr)

        def to_array(buf: bytes, frames: slice | None = None) -> np.ndarray:
            if frames is None:
                return np.asarray(video_decode(buf)).reshape(chunk_shape)
            shape = list(chunk_shape)
            shape[fa] = len(range(*frames.indices(chunk_shape[fa])))
            return np.asarray(video_decode(buf, frames=frames)).reshape(shape)

    fill = arr.fill_value

    def read_chunk(key: tuple[int, ...], frames: slice | None = None) -> np.ndarray:
        """Chunk ``key``, cropped to the array; ``frames`` (video arrays): only those frames
        of the chunk, along its frame axis (inside the array: not cropped there)."""
        crop = [
            slice(0, min(c, n - k * c)) for k, c, n in zip(key, chunk_shape, arr.shape, strict=True)
        ]
        buf = objects.fetch(key)
        if buf is None:  # never written: Zarr's fill value
            block = np.full(chunk_shape, fill, dtype=arr.dtype)
            return block[tuple(crop)] if frames is None else np.take(
                block[tuple(crop)], range(*frames.indices(chunk_shape[fa])), axis=fa)
        for decode in byte_decoders:
            buf = decode(buf)
        if frames is not None:
            crop[fa] = slice(None)
        return to_array(buf, frames)[tuple(crop)]

    return read_chunk


def video_frame_axis(arr: Any) -> int | None:
    """The chunk axis that is time for a Zarr v3 array stored with the xgeo video serializer
    (its ``frame_axis``, counted from the front), or None for any other array."""
    config = video_serializer_config(arr)
    if config is None or len(arr.shape) < 3:
        return None
    fa = int(config.get("frame_axis", 0))
    return fa + len(arr.shape) if fa < 0 else fa


class ArrayReader:
    """Reads windows of xarray Variables (NumPy-, dask- or lazily file-backed).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> reader = ArrayReader({"v": xr.Variable(("y", "x"), np.arange(12).reshape(3, 4))})
    >>> reader.read("v", (slice(1, 3), slice(0, 2))).tolist()
    [[4, 5], [8, 9]]
    """

    def __init__(self, variables: dict[str, xr.Variable]) -> None:
        self.variables = variables

    def prefetch(self, requests: Sequence[tuple[str, Sequence[slice]]]) -> None:
        """Nothing to decode ahead: in-memory or file-backed reads happen in :meth:`read`."""

    def dtype(self, name: str) -> np.dtype:
        """The dtype of variable ``name`` as read."""
        return np.dtype(self.variables[name].dtype)

    def read(self, name: str, region: Sequence[slice], view: bool = False) -> np.ndarray:
        part = self.variables[name][tuple(region)]
        if hasattr(part.data, "dask"):
            import dask

            # No thread pools inside DataLoader workers (fork + threads can deadlock).
            with dask.config.set(scheduler="synchronous"):
                return np.asarray(part.data.compute())
        # A copy: tensors handed to users must never alias the source array.
        return np.array(part.values, copy=True)


def cf_decoding(var: xr.DataArray | xr.Variable, stored: bool = True
                ) -> tuple[Any, float, float, bool]:
    """``(fill value, scale_factor, add_offset, unsigned)`` that turn what is read of ``var``
    into the values xarray shows: its CF encoding when the stored chunks are read (``stored``,
    a Zarr store's: ``missing_value`` when there is no ``_FillValue``, and ``_Unsigned``
    signed storage read as its unsigned type, the fill likewise), none but a raw layout's
    ``_FillValue`` attribute when the values read are ``var``'s own (in memory, or a file
    xarray decodes: decoding them again scaled a netCDF's reflectance twice).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> var = xr.Variable(("y",), np.zeros(2, "uint16"))
    >>> var.encoding = {"_FillValue": 0, "scale_factor": 1e-4}
    >>> cf_decoding(var), cf_decoding(var, stored=False)
    ((0, 0.0001, 0.0, False), (None, 1.0, 0.0, False))
    """
    if not stored:
        return var.attrs.get("_FillValue"), 1.0, 0.0, False
    merged = {**var.attrs, **var.encoding}  # (xarray keeps _Unsigned in either)
    enc = as_unsigned(merged, merged.get("dtype", var.dtype))
    unsigned = "_Unsigned" in merged and "_Unsigned" not in enc
    fill = enc.get("_FillValue", enc.get("missing_value"))
    if fill is not None and np.ndim(fill):
        fill = np.asarray(fill).reshape(-1)[0]
    return (fill, float(enc.get("scale_factor", 1.0)), float(enc.get("add_offset", 0.0)),
            unsigned)


def cf_decode(
    block: np.ndarray, ch: Channel, out: np.ndarray | None = None, *, float64: bool = False
) -> np.ndarray:
    """CF decoding to float, as xarray would: ``ch``'s fill value to NaN, then scale and offset.

    float32 output (the default) is decoded in one pass by :func:`cf_decode_f32`, straight
    from ``block`` (a window of a cached chunk) into ``out`` (a slot of a batch) when given.

    Examples
    --------
    >>> import numpy as np
    >>> ch = Channel("v", ("y", "x"), None, fill=0, scale=0.5, offset=1.0)
    >>> cf_decode(np.array([[0, 2]], dtype="uint16"), ch).tolist()
    [[nan, 2.0]]
    """
    has_fill = ch.has_fill
    if ch.unsigned and block.dtype.kind == "i":  # the unsigned values the bits hold
        block = block.view(f"u{block.dtype.itemsize}")
    if not float64 and block.dtype == np.float16:  # exact in float32, which the kernel reads
        block = block.astype(np.float32)
    if not float64:  # float32: one pass instead of NumPy's three or four
        res = out if out is not None else np.empty(block.shape, np.float32)
        src, dst = flat_window(block), flat_window(res)
        if src is None:
            src = flat_window(np.ascontiguousarray(block))
        if dst is None:
            res = np.empty(block.shape, np.float32)
            dst = flat_window(res)
        shape = np.array(((1,) * 4 + block.shape)[-4:], dtype=np.int64)
        scaled = ch.scale != 1.0 or ch.offset != 0.0
        cf_decode_f32(*src, *dst, shape, float(ch.fill) if has_fill else 0.0,
                      has_fill, float(ch.scale), float(ch.offset), scaled)
    else:
        res = block.astype(np.float64)  # a copy
        if has_fill:
            res[block == ch.fill] = np.nan
        if ch.scale != 1.0 or ch.offset != 0.0:
            res = res * ch.scale + ch.offset
    if out is not None and res is not out:
        out[...] = res
    return res if out is None else out


def load_cf_kernel(dtypes: Sequence[np.dtype]) -> None:
    """Load :func:`cf_decode_f32` for chunks of these stored dtypes now, rather than in the
    first float32 read: for writable and for read-only chunks (two specialisations each; a
    zstd store's decoded chunks are read-only).

    The first numba kernel a process loads from numba's on-disk cache costs 0.2-0.4 s and
    ~64 MiB of private memory (numba's compiler; 2-core VM, 2026-12). A DataLoader worker
    forked from a process that has loaded it shares both; one forked before loads its own, in
    its first batch (nrt T=16 chips, float32, two forked workers: epoch 1 0.20-0.24 s instead
    of 0.55-0.69 s, 0 instead of 64 MiB grown per worker). Complex dtypes, which the kernel
    does not read, are skipped.

    Examples
    --------
    >>> import numpy as np
    >>> load_cf_kernel([np.dtype("uint16")])
    >>> any("uint16" in str(sig[0]) for sig in cf_decode_f32.signatures)
    True
    """
    ch = Channel("_", ("x",), None, fill=0, scale=1.0, offset=0.0)
    for dt in {np.dtype(d) for d in dtypes}:
        if dt.kind in "biuf":  # (float16 goes through cf_decode's float32 copy)
            block = np.zeros(1, dt)
            cf_decode(block, ch)
            block.flags.writeable = False
            cf_decode(block, ch)
