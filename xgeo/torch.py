"""Torch DataLoader bridge: chips out of (video-compressed) Zarr stores, as tensors.

:class:`ChipDataset` is a map-style dataset over a :class:`~xgeo.chips.ChipGrid`.
For a Zarr store it reads the arrays directly (no xarray, no dask inside
``__getitem__``) through a small per-process cache of decoded storage chunks, so
a compressed chunk is decoded once per epoch even when several chips fall in it
(pair it with :class:`ChunkAwareSampler`). Every worker process opens its own
store on first use: nothing from PyAV, Zarr or numba is shared across ``fork``,
and the dataset pickles small for ``spawn``.

Requires the optional dependency torch (``pip install torch==2.13.0`` for the CPU wheel).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from numba import njit

from .bands import BAND_DIM, band_array
from .chips import TIME_DIM, ChipGrid, make_chips
from .crs import find_spatial_dims, read_grid
from .errors import ChipError, CodecError
from .grid import Grid
from .io import open_dataset
from .loader_source import resolve_source
from .optional import missing

try:
    import torch
    from torch.utils.data import DataLoader, Dataset, Sampler
except ImportError as exc:  # an install hint, never a bare ModuleNotFoundError
    raise missing("torch", "xgeo.torch (ChipDataset, to_dataloader)") from exc

__all__ = [
    "ChipDataset",
    "ChunkAwareSampler",
    "Indices",
    "Normalize",
    "band_stats",
    "collate",
    "to_dataloader",
]


# ---------------------------------------------------------------- reading pixels
@njit(cache=True, nogil=True)
def _cf_decode_f32(src, s_off, s_str, out, o_off, o_str, shape, fill, has_fill, scale, offset,
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


def _flat_window(a: np.ndarray) -> tuple[np.ndarray, int, np.ndarray] | None:
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
    return root.reshape(-1), start // item, strides


@dataclass(frozen=True)
class _Channel:
    """Where one group of channels lives in the store: a variable, its dims and CF decoding."""

    variable: str
    dims: tuple[str, ...]
    band_index: tuple[int, ...] | None  # positions along the variable's band dim, or None
    fill: Any
    scale: float
    offset: float

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


class _ChunkCache:
    """Least-recently-used decoded chunks, bounded in bytes (one per process)."""

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


class _ZarrReader:
    """Reads windows of Zarr arrays chunk by chunk through a :class:`_ChunkCache`.

    For local stores whose codecs it knows (``bytes`` + zstd/blosc/gzip, or the xgeo
    video serializer) it reads chunk files and decodes them directly: zarr's general
    indexing machinery costs ~1 ms per call, more than decoding a chunk. Anything else
    goes through ``zarr.Array`` indexing.
    """

    def __init__(self, path: str, cache_bytes: int, threads: int = 1) -> None:
        import zarr

        self.path = path
        self.group = zarr.open_group(path, mode="r")
        self.arrays: dict[str, Any] = {}
        # (chunk shape, array shape) per variable: zarr's properties cost microseconds a call
        self.geometry: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.direct: dict[str, Callable[[tuple[int, ...]], np.ndarray] | None] = {}
        self.cache = _ChunkCache(cache_bytes)
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
            self.direct[name] = _direct_chunk_reader(arr)
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

    def _named(self, load: Callable[[], np.ndarray], name: str, key: tuple[int, ...]
               ) -> np.ndarray:
        """``load()``, a corrupt chunk raised as xgeo's CodecError naming store, array, chunk."""
        from xgeo_codecs import CodecError as CoreCodecError

        try:
            return load()
        except CoreCodecError as err:
            raise CodecError(f"{self.path}: array {name!r}, chunk {key}: {err}") from err

    def prefetch(self, requests: Sequence[tuple[str, Sequence[slice]]]) -> None:
        """Decode, in parallel, the chunks of these (variable, region) reads not in the cache."""
        if self.pool is None:
            return
        missing = {}
        for name, region in requests:
            self.array(name)
            for key, sel in self._plan(name, region)[0]:
                if (name, key) not in self.cache.items:
                    missing[(name, key)] = self._loader(name, key, sel)
        if len(missing) > 1:
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
            return self.cache.get((name, key), self._loader(name, key, chunk_sel))[inner]
        out = np.empty([s.stop - s.start for s in region], dtype=arr.dtype)
        for key, chunk_sel in parts:
            block = self.cache.get((name, key), self._loader(name, key, chunk_sel))
            src, dst = [], []
            for s, cs in zip(region, chunk_sel, strict=True):
                lo, hi = max(s.start, cs.start), min(s.stop, cs.stop)
                src.append(slice(lo - cs.start, hi - cs.start))
                dst.append(slice(lo - s.start, hi - s.start))
            out[tuple(dst)] = block[tuple(src)]
        return out


def _direct_chunk_reader(arr: Any) -> Callable[[tuple[int, ...]], np.ndarray] | None:
    """A function reading one chunk (cropped to the array) from its file, or None if unsupported."""
    import numcodecs

    root = getattr(arr.store, "root", None)
    meta = arr.metadata
    if (
        root is None
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
    if serializer["name"] == "bytes":
        endian = (serializer.get("configuration") or {}).get("endian", "little")
        dtype = np.dtype(arr.dtype).newbyteorder("<" if endian == "little" else ">")

        def to_array(buf: bytes) -> np.ndarray:
            return np.frombuffer(buf, dtype=dtype).reshape(chunk_shape)
    else:
        try:
            from xgeo_codecs import CODEC_ID
            from xgeo_codecs import decode as video_decode
        except ImportError:
            return None
        if serializer["name"] != CODEC_ID:
            return None

        def to_array(buf: bytes) -> np.ndarray:
            return np.asarray(video_decode(buf)).reshape(chunk_shape)

    folder = Path(root) / arr.path
    encode_key = meta.chunk_key_encoding.encode_chunk_key
    fill = arr.fill_value

    def read_chunk(key: tuple[int, ...]) -> np.ndarray:
        crop = tuple(
            slice(0, min(c, n - k * c)) for k, c, n in zip(key, chunk_shape, arr.shape, strict=True)
        )
        try:
            buf = (folder / encode_key(key)).read_bytes()
        except FileNotFoundError:  # never written: Zarr's fill value
            return np.full(chunk_shape, fill, dtype=arr.dtype)[crop]
        for decode in byte_decoders:
            buf = decode(buf)
        return to_array(buf)[crop]

    return read_chunk


class _ArrayReader:
    """Reads windows of xarray Variables (NumPy-, dask- or lazily file-backed)."""

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


def _decoding(var: xr.DataArray) -> tuple[Any, float, float]:
    enc = var.encoding
    fill = enc.get("_FillValue", var.attrs.get("_FillValue"))
    return fill, float(enc.get("scale_factor", 1.0)), float(enc.get("add_offset", 0.0))


# ---------------------------------------------------------------- the dataset
class ChipDataset(Dataset):
    """Map-style dataset of chips from a Zarr/netCDF path or an xarray object.

    Parameters
    ----------
    source
        Path of a Zarr store or netCDF file, or a Dataset/DataArray. A Dataset opened from
        a local Zarr store and unmodified is read as that store (``kind == "zarr"``, see
        :mod:`xgeo.loader_source`).
    size, stride
        Chip size/stride in pixels (ignored when ``chips`` is given).
    chips
        A :class:`~xgeo.chips.ChipGrid` made beforehand (e.g. with ``min_valid`` or ``roi``).
    variables
        Variables to use as channels (per-band Datasets); ``variable=`` names a single
        band-dimensioned variable; ``bands=`` selects band labels.
    label
        A raster aligned to the same grid (a DataArray, or the name of a variable of
        ``source``), returned as ``sample["label"]``; reprojected once (nearest) onto the
        source grid if its CRS or grid differs.
    transform
        Callable applied to each sample dict (e.g. :class:`Indices`, :class:`Normalize`).
    dtype
        Image dtype; ``None`` keeps the stored dtype (compact: cast later, e.g. on the GPU).
        Floating output applies CF decoding (fill value to NaN, scale_factor/add_offset).
    return_mask
        Add ``sample["mask"]``: True where every channel holds data.
    cache_bytes
        Per-process budget of the decoded-chunk cache (Zarr sources).
    decode_threads
        Threads decoding a window's or a batch's chunks in parallel; default all cores (up to 4)
        in the main process and 1 inside DataLoader workers (the workers are the parallelism).
    **chip_kwargs
        Passed to :func:`~xgeo.chips.make_chips` (``time``, ``boundary``, ``min_valid``, ...).
        The chip index comes from metadata: a path source has no pixel decoded at
        construction unless ``min_valid`` asks for valid fractions (then chunk by chunk).

    Examples
    --------
    >>> import xgeo
    >>> from xgeo.torch import ChipDataset
    >>> ds = ChipDataset(xgeo.datasets.sentinel2_cube(), size=64, variable="reflectance")
    >>> sample = ds[0]
    >>> tuple(sample["image"].shape), sample["crs"][:6]
    ((13, 64, 64), 'PROJCR')
    """

    def __init__(
        self,
        source: str | os.PathLike | xr.Dataset | xr.DataArray,
        size: int | tuple[int, int] = 256,
        stride: int | tuple[int, int] | None = None,
        chips: ChipGrid | None = None,
        variables: Sequence[str] | None = None,
        label: xr.DataArray | str | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        dtype: torch.dtype | None = torch.float32,
        *,
        variable: str | None = None,
        bands: Sequence[Hashable] | None = None,
        return_mask: bool = False,
        cache_bytes: int = 256 * 2**20,
        decode_threads: int | None = None,
        **chip_kwargs: Any,
    ) -> None:
        # a Dataset opened from a Zarr store and not changed since is read as that store
        self.kind, self.path, obj = resolve_source(source)
        if chips is None:
            chips = make_chips(
                obj,
                size,
                stride,
                variable=variable,
                variables=variables,
                bands=bands,
                **chip_kwargs,
            )
        self.transform = transform
        self.dtype = dtype
        self.return_mask = return_mask
        self.cache_bytes = cache_bytes
        self.decode_threads = decode_threads
        self._plan_from(obj, chips, variable=variable, variables=variables, bands=bands)
        self.label = None if label is None else self._aligned_label(obj, label, chips.grid)
        self._reader: Any = None
        self._reader_pid: int | None = None
        self._memory_vars: dict[str, xr.Variable] | None = None
        if self.kind == "memory":
            self._memory_vars = {
                name: (obj[name] if isinstance(obj, xr.Dataset) else obj).variable
                for name in self._var_names
            }

    def _plan_from(self, obj: Any, chips: ChipGrid, **band_kwargs: Any) -> None:
        """Record everything __getitem__ needs as small picklable values."""
        arr = chips.source
        self.rows, self.cols, self.t0, self.t1 = chips.rows, chips.cols, chips.t0, chips.t1
        self.size, self.per_step, self.fill_value = chips.size, chips.per_step, chips.fill_value
        self.band_labels = [b.item() if hasattr(b, "item") else b for b in arr[BAND_DIM].values]
        grid = chips.grid
        self.transform_coeffs = tuple(grid.transform)[:6]
        self.shape = grid.shape
        self.crs_wkt = grid.crs.to_wkt() if grid.crs is not None else ""
        self.times = arr[TIME_DIM].values if TIME_DIM in arr.coords else None
        self.y_dim, self.x_dim = (str(d) for d in find_spatial_dims(arr))
        self.channels = self._channels(obj, arr, **band_kwargs)
        self._var_names = sorted({c.variable for c in self.channels})
        for name in self._var_names:
            dt = (obj[name] if isinstance(obj, xr.Dataset) else obj).dtype
            if dt.kind not in "biuf" and not (dt.kind == "c" and (
                    self.dtype is None or self.dtype.is_complex)):
                raise ChipError(
                    f"variable {name!r} has dtype {dt}, which cannot make {self.dtype} chips; "
                    "select real-valued variables (or dtype=None to keep complex values)")
        self.storage_chunks = self._storage_chunks(obj)

    def _channels(self, obj: Any, arr: xr.DataArray, **band_kwargs: Any) -> list[_Channel]:
        if isinstance(obj, xr.DataArray):
            obj = obj.to_dataset(name=obj.name or "data")
        channels = []
        labels = self.band_labels
        banded = [n for n, v in obj.data_vars.items() if BAND_DIM in v.dims]
        source_var = band_kwargs.get("variable") or (
            banded[0] if len(banded) == 1 and not band_kwargs.get("variables") else None
        )
        if source_var is not None and BAND_DIM in obj[source_var].dims:
            var = obj[source_var]
            all_labels = [b.item() if hasattr(b, "item") else b for b in var[BAND_DIM].values]
            index = tuple(all_labels.index(b) for b in labels)
            channels.append(
                _Channel(str(source_var), tuple(map(str, var.dims)), index, *_decoding(var))
            )
        else:
            for name in labels:
                var = obj[name]
                channels.append(
                    _Channel(str(name), tuple(map(str, var.dims)), None, *_decoding(var))
                )
        return channels

    def _storage_chunks(self, obj: Any) -> dict[str, int]:
        """Storage chunk length per dim of the first channel variable (for chunk-aware order)."""
        if isinstance(obj, xr.DataArray):
            obj = obj.to_dataset(name=obj.name or "data")
        var = obj[self.channels[0].variable]
        sizes: dict[str, int] = {}
        for axis, dim in enumerate(var.dims):
            if var.chunks:
                sizes[str(dim)] = int(var.chunks[axis][0])
            elif var.encoding.get("chunks"):
                sizes[str(dim)] = int(var.encoding["chunks"][axis])
            elif var.encoding.get("preferred_chunks", {}).get(dim):
                sizes[str(dim)] = int(var.encoding["preferred_chunks"][dim])
        return sizes

    def _aligned_label(self, obj: Any, label: xr.DataArray | str, target: Grid) -> np.ndarray:
        if isinstance(label, str):
            if not isinstance(obj, xr.Dataset) or label not in obj.data_vars:
                raise ChipError(f"label {label!r} is not a variable of the source")
            label = obj[label]
        grid = read_grid(label)
        if not grid.almost_equal(target):
            if grid.crs is None or target.crs is None:
                raise ChipError(
                    "the label's grid differs from the source's and one of them has no CRS, so it "
                    "cannot be aligned; set both CRSs (.geo.set_crs) or give a label on the same grid"
                )
            from .reproject import reproject

            label = reproject(label, grid=target, resampling="nearest")
        y, x = find_spatial_dims(label)
        other = [d for d in label.dims if d not in (y, x)]
        if TIME_DIM in other and self.times is not None:
            other = [TIME_DIM] + [d for d in other if d != TIME_DIM]
        return np.asarray(label.transpose(*other, y, x).values)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_reader"] = None  # each process opens its own store
        state["_reader_pid"] = None
        return state

    def _decode_threads(self) -> int:
        """Threads decoding chunks in this process: all cores in the main process, one per worker."""
        if self.decode_threads is not None:
            return self.decode_threads
        from torch.utils.data import get_worker_info

        return 1 if get_worker_info() is not None else min(4, os.cpu_count() or 1)

    def _get_reader(self) -> Any:
        pid = os.getpid()
        if self._reader is None or self._reader_pid != pid:
            if self.kind == "zarr":
                self._reader = _ZarrReader(self.path, self.cache_bytes, self._decode_threads())
            elif self.kind == "file":
                ds = open_dataset(self.path)
                self._reader = _ArrayReader({n: ds[n].variable for n in self._var_names})
            else:
                self._reader = _ArrayReader(self._memory_vars)
            self._reader_pid = pid
        return self._reader

    # ------------------------------------------------------------------ samples
    def __len__(self) -> int:
        return int(self.rows.size)

    def _regions(self, i: int) -> list[tuple[_Channel, list[slice]]]:
        """The window of chip ``i`` in each channel variable's own dim order (inside the array)."""
        h, w = self.size
        r, c = int(self.rows[i]), int(self.cols[i])
        ny, nx = self.shape
        rows = slice(r, min(r + h, ny))
        cols = slice(c, min(c + w, nx))
        t = None if self.t0 is None else slice(int(self.t0[i]), int(self.t1[i]))
        out = []
        for ch in self.channels:
            region = []
            for dim in ch.dims:
                if dim == self.y_dim:
                    region.append(rows)
                elif dim == self.x_dim:
                    region.append(cols)
                elif dim == TIME_DIM and t is not None:
                    region.append(t)
                elif dim == BAND_DIM:
                    region.append(slice(min(ch.band_index), max(ch.band_index) + 1))
                else:
                    raise ChipError(f"variable {ch.variable!r} has an unsupported dim {dim!r}")
            out.append((ch, region))
        return out

    def _read_image(self, i: int, out: np.ndarray | None = None, prefetch: bool = True
                    ) -> np.ndarray:
        """The chip's pixels ([T,] C, H, W), written into ``out`` (that shape, the output
        dtype) when given: batch reads decode straight into the batch, with no per-chip array.
        ``prefetch=False`` when the caller already decoded the chip's chunks (a batch).
        Float output is CF-decoded from the cached chunk straight into ``out`` (one pass; a
        raw batch decoded per channel group afterwards measured no faster, 2026-11)."""
        h, w = self.size
        floating = self.dtype is not None and self.dtype.is_floating_point
        reader = self._get_reader()
        regions = self._regions(i)
        if prefetch:
            reader.prefetch([(ch.variable, region) for ch, region in regions])
        dest = None
        if out is not None:  # per-step time chips read one step: give out that axis back
            dest = out[None] if self.t0 is not None and self.per_step else out
        parts = []
        c = 0
        for (ch, region), (perm, picks) in zip(regions, self._layouts(), strict=True):
            # into ``out``: a view of the cached chunk is enough, it is copied right below
            block = reader.read(ch.variable, region, view=dest is not None).transpose(perm)
            if picks is not None:
                block = block[..., picks, :, :]
            elif BAND_DIM not in ch.dims:
                block = block[..., None, :, :]
            if dest is None:
                parts.append(self._decode(block, ch) if floating else block)
                continue
            nb, (bh, bw) = block.shape[-3], block.shape[-2:]
            target = dest[..., c : c + nb, :bh, :bw]
            if floating:
                self._decode(block, ch, out=target)
            else:
                target[...] = block
            if (bh, bw) != (h, w):
                pad = self._missing(dest.dtype)[c : c + nb]
                dest[..., c : c + nb, bh:, :] = pad
                dest[..., c : c + nb, :bh, bw:] = pad
            c += nb
        if out is not None:
            return out
        image = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-3)
        if self.t0 is not None and self.per_step:
            image = image[0]
        if image.shape[-2:] != (h, w):
            padded = np.empty(image.shape[:-2] + (h, w), dtype=image.dtype)
            padded[...] = self._missing(image.dtype)
            padded[..., : image.shape[-2], : image.shape[-1]] = image
            image = padded
        return image

    def _layouts(self) -> list[tuple[list[int], list[int] | None]]:
        """Per channel: the transpose to ([T,] band, y, x) and the band picks (None when the
        bands are a plain slice, read without a copy). Computed once per process."""
        layouts = self.__dict__.get("_layout_cache")
        if layouts is None:
            layouts = []
            for ch in self.channels:
                order = [d for d in (TIME_DIM, BAND_DIM, self.y_dim, self.x_dim) if d in ch.dims]
                picks = None
                if BAND_DIM in ch.dims:
                    lo = min(ch.band_index)
                    picks = [b - lo for b in ch.band_index]
                    picks = None if picks == list(range(len(picks))) else picks
                layouts.append(([ch.dims.index(d) for d in order], picks))
            self.__dict__["_layout_cache"] = layouts
        return layouts

    def _missing(self, dtype: np.dtype) -> np.ndarray:
        """Per-channel missing value of an output image of ``dtype``, shaped (C, 1, 1)."""
        if self.dtype is not None and self.dtype.is_floating_point:
            return np.full((sum(ch.count for ch in self.channels), 1, 1), np.nan)
        fills = [ch.stored_fill(self.fill_value, dtype) for ch in self.channels for _ in range(ch.count)]
        return np.asarray(fills)[:, None, None]

    def _decode(self, block: np.ndarray, ch: _Channel, out: np.ndarray | None = None) -> np.ndarray:
        """CF decoding to float, as xarray would: fill value to NaN, then scale and offset."""
        has_fill = ch.has_fill
        if self.dtype != torch.float64:  # float32: one pass instead of NumPy's three or four
            res = out if out is not None else np.empty(block.shape, np.float32)
            src, dst = _flat_window(block), _flat_window(res)
            if src is None:
                src = _flat_window(np.ascontiguousarray(block))
            if dst is None:
                res = np.empty(block.shape, np.float32)
                dst = _flat_window(res)
            shape = np.array(((1,) * 4 + block.shape)[-4:], dtype=np.int64)
            scaled = ch.scale != 1.0 or ch.offset != 0.0
            _cf_decode_f32(*src, *dst, shape, float(ch.fill) if has_fill else 0.0,
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

    def _bounds(self, i: int) -> tuple[float, float, float, float]:
        a, b, c, d, e, f = self.transform_coeffs
        h, w = self.size
        r, col = float(self.rows[i]), float(self.cols[i])
        xs = (c + a * col, c + a * (col + w))
        ys = (f + e * r, f + e * (r + h))
        return (min(xs), min(ys), max(xs), max(ys))

    def _check_index(self, i: int) -> None:
        if not 0 <= i < len(self):
            raise IndexError(f"chip {i} out of range for {len(self)} chips")

    def __getitem__(self, i: int) -> dict[str, Any]:
        self._check_index(i)
        image = self._read_image(i)
        tensor = torch.from_numpy(np.ascontiguousarray(image))
        return self._sample(i, tensor if self.dtype is None else tensor.to(self.dtype), image)

    def _sample(self, i: int, tensor: torch.Tensor, image: np.ndarray) -> dict[str, Any]:
        sample: dict[str, Any] = {"index": i, "bounds": self._bounds(i), "crs": self.crs_wkt}
        sample["image"] = tensor
        sample["time"] = None
        if self.times is not None and self.t0 is not None:
            times = self.times[int(self.t0[i]) : int(self.t1[i])]
            sample["time"] = str(times[0]) if self.per_step else [str(t) for t in times]
        if self.return_mask:
            finite = np.isfinite(image) if image.dtype.kind == "f" else image != self._missing(image.dtype)
            sample["mask"] = torch.from_numpy(finite.all(axis=-3))
        if self.label is not None:
            sample["label"] = torch.from_numpy(np.ascontiguousarray(self._window(self.label, i)))
        sample["bands"] = self.band_labels
        if self.transform is not None:
            sample = self.transform(sample)
        return sample

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """Batch read (DataLoader calls this once per batch): the batch's chunks decode in
        parallel and every chip is written straight into one batch array, whose per-chip views
        :func:`collate` hands on without stacking (a copy saved)."""
        indices = [int(i) for i in indices]
        for i in indices:
            self._check_index(i)
        if not indices:
            return []
        reader = self._get_reader()
        reader.prefetch([(ch.variable, region) for i in indices for ch, region in self._regions(i)])
        first = np.ascontiguousarray(self._read_image(indices[0], prefetch=False))
        # the tensor _batch_tensor made (shared memory in a worker), not a NumPy wrapper of it
        batch = _batch_tensor(torch.from_numpy(first), len(indices))
        images = batch.numpy()
        images[0] = first
        for k, i in enumerate(indices[1:], start=1):
            self._read_image(i, out=images[k], prefetch=False)
        if self.dtype is not None and batch.dtype != self.dtype:
            batch = batch.to(self.dtype)  # one cast per batch
        return [self._sample(i, batch[k], images[k]) for k, i in enumerate(indices)]

    def _window(self, raster: np.ndarray, i: int) -> np.ndarray:
        h, w = self.size
        r, c = int(self.rows[i]), int(self.cols[i])
        part = raster[..., r : r + h, c : c + w]
        if raster.ndim == 3 and self.t0 is not None:
            part = (
                part[int(self.t0[i])] if self.per_step else part[int(self.t0[i]) : int(self.t1[i])]
            )
        if part.shape[-2:] != (h, w):
            out = np.zeros(part.shape[:-2] + (h, w), dtype=part.dtype)
            out[..., : part.shape[-2], : part.shape[-1]] = part
            part = out
        return part

    def chunk_keys(self) -> np.ndarray:
        """The storage chunk (time, y, x) each chip starts in, as int64 rows."""
        cy = self.storage_chunks.get(self.y_dim, self.shape[0])
        cx = self.storage_chunks.get(self.x_dim, self.shape[1])
        ct = self.storage_chunks.get(TIME_DIM, 1)
        t = np.zeros_like(self.rows) if self.t0 is None else self.t0 // ct
        return np.stack([t, self.rows // cy, self.cols // cx], axis=1)


# ---------------------------------------------------------------- batching
def _batch_tensor(first: torch.Tensor, n: int) -> torch.Tensor:
    """An uninitialised (n, *first.shape) tensor; in a DataLoader worker it lives in shared
    memory, as torch's default_collate does, so sending it to the main process copies nothing."""
    from torch.utils.data import get_worker_info

    if get_worker_info() is None:  # NumPy's allocator asks for huge pages
        return torch.from_numpy(np.empty((n, *first.shape), dtype=first.numpy().dtype))
    storage = first._typed_storage()._new_shared(n * first.numel(), device=first.device)
    return first.new(storage).resize_(n, *first.shape)


def _batch_of_views(values: Sequence[torch.Tensor]) -> torch.Tensor | None:
    """The batch tensor when ``values`` are its rows in order (as :meth:`ChipDataset.__getitems__`
    makes them and no transform replaced them), else None."""
    base = values[0]._base
    if base is None or base.ndim == 0 or base.shape[0] != len(values) or not base.is_contiguous():
        return None
    for k, v in enumerate(values):
        if v._base is not base or v.data_ptr() != base[k].data_ptr() or v.shape != base.shape[1:]:
            return None
    return base


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack images/masks/labels into batch tensors; keep metadata as lists.

    ``bounds`` becomes a float64 tensor (B, 4); ``crs``, ``time`` and ``bands`` stay lists.
    """
    batch: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if isinstance(values[0], torch.Tensor):
            batch[key] = _batch_of_views(values)
            if batch[key] is None:
                batch[key] = torch.stack(values)
        elif key == "bounds":
            batch[key] = torch.tensor(values, dtype=torch.float64)
        elif key == "index":
            batch[key] = torch.tensor(values, dtype=torch.int64)
        elif key == "bands":
            batch[key] = values[0]
        else:
            batch[key] = values
    return batch


class ChunkAwareSampler(Sampler[int]):
    """Shuffle storage chunks, then chips within each chunk.

    Consecutive indices share a chunk, so a batch (and the worker that reads it) decodes
    each compressed chunk once. The trade-off against full shuffling: a batch holds chips
    from few chunks (spatially and temporally close), so batches are less diverse; use
    ``batch_size`` well below the chips per chunk only if that correlation is acceptable,
    or fall back to ``shuffle=True`` in the DataLoader.

    Examples
    --------
    >>> import xgeo
    >>> from xgeo.torch import ChipDataset, ChunkAwareSampler
    >>> ds = ChipDataset(xgeo.datasets.sentinel2_cube(), size=32, variable="reflectance")
    >>> sorted(ChunkAwareSampler(ds, seed=0)) == list(range(len(ds)))
    True
    """

    def __init__(
        self, dataset: ChipDataset, *, shuffle: bool = True, seed: int | None = None
    ) -> None:
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Vary the order between epochs (reproducibly for a given seed)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        keys = self.dataset.chunk_keys()
        _, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.ravel()
        order = np.arange(len(group))
        if not self.shuffle:
            yield from order[np.argsort(group, kind="stable")].tolist()
            return
        rng = np.random.default_rng(None if self.seed is None else self.seed + self.epoch)
        groups = rng.permutation(group.max() + 1)
        for g in groups:
            members = order[group == g]
            yield from rng.permutation(members).tolist()


# ---------------------------------------------------------------- transforms
def band_stats(obj: xr.Dataset | xr.DataArray, **band_kwargs: Any) -> dict[str, Any]:
    """Per-band mean, std, min and max over all pixels (NaN ignored), computed once.

    Works lazily on dask-backed data (one pass). Use with :class:`Normalize`.

    Examples
    --------
    >>> import xgeo
    >>> stats = band_stats(xgeo.datasets.sentinel2_cube(), variable="reflectance")
    >>> stats["bands"][:2], stats["mean"].shape
    (['B01', 'B02'], (13,))
    """
    arr = band_array(obj, **band_kwargs)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype("float64")
    dims = [d for d in arr.dims if d != BAND_DIM]
    reduced = xr.Dataset(
        {
            "mean": arr.mean(dims, skipna=True),
            "std": arr.std(dims, skipna=True),
            "min": arr.min(dims, skipna=True),
            "max": arr.max(dims, skipna=True),
        }
    ).compute()
    out: dict[str, Any] = {
        k: reduced[k].values.astype("float64") for k in ("mean", "std", "min", "max")
    }
    out["bands"] = [b.item() if hasattr(b, "item") else b for b in arr[BAND_DIM].values]
    return out


class Normalize:
    """Sample transform: ``(image - mean) / std`` per channel, from :func:`band_stats`."""

    def __init__(self, stats: dict[str, Any]) -> None:
        self.mean = torch.as_tensor(stats["mean"], dtype=torch.float32)
        self.std = torch.as_tensor(
            np.where(stats["std"] > 0, stats["std"], 1.0), dtype=torch.float32
        )
        self.bands = list(stats["bands"])

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        if list(sample["bands"]) != self.bands[: len(sample["bands"])]:
            raise ChipError(f"stats are for bands {self.bands}, the sample has {sample['bands']}")
        image = sample["image"].to(torch.float32)
        n = image.shape[-3]
        shape = (n, 1, 1)
        sample["image"] = (image - self.mean[:n].reshape(shape)) / self.std[:n].reshape(shape)
        return sample


class Indices:
    """Sample transform appending spectral-index channels, computed by one fused numba kernel.

    Parameters
    ----------
    names
        Index names from the catalog (``["NDVI", "NDWI"]``).
    sensor, bands, constants
        As in :func:`xgeo.indices.compute_indices`: how channel labels map to catalog symbols.

    Examples
    --------
    >>> import xgeo
    >>> from xgeo.torch import ChipDataset, Indices
    >>> ds = ChipDataset(xgeo.datasets.sentinel2_cube(), size=32, variable="reflectance",
    ...                  transform=Indices(["NDVI"]))
    >>> ds[0]["image"].shape[0], ds[0]["bands"][-1]
    (14, 'NDVI')
    """

    def __init__(
        self,
        names: Sequence[str],
        *,
        sensor: str | None = None,
        bands: dict[str, Hashable] | None = None,
        constants: dict[str, Any] | None = None,
    ) -> None:
        from .indices.core import index_bands

        self.names = list(names)
        self.sensor = sensor
        self.bands = bands
        self.constants = constants
        self.needed = sorted({s for n in self.names for s in index_bands(n)})
        self._mapping: dict[tuple, dict[str, int]] = {}

    def _symbols(self, labels: list[Hashable]) -> dict[str, int]:
        key = tuple(labels)
        mapping = self._mapping.get(key)
        if mapping is None:
            from .errors import MissingBandError
            from .indices.sensors import resolve_bands

            found, _ = resolve_bands(
                list(labels), sensor=self.sensor, bands=self.bands, needed=self.needed
            )
            missing = [s for s in self.needed if s not in found]
            if missing:
                raise MissingBandError(
                    f"indices {self.names} need bands {missing}; channels are {list(labels)}"
                )
            mapping = self._mapping[key] = {s: list(labels).index(found[s]) for s in self.needed}
        return mapping

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        from .indices import evaluate

        image = sample["image"]
        mapping = self._symbols(sample["bands"])
        values = (
            image.numpy() if image.dtype.is_floating_point else image.numpy().astype(np.float32)
        )
        inputs = {s: np.ascontiguousarray(values[..., k, :, :]) for s, k in mapping.items()}
        results = evaluate(inputs, self.names, constants=self.constants)
        extra = torch.from_numpy(np.stack([results[n] for n in self.names], axis=-3))
        sample["image"] = torch.cat([image.to(extra.dtype), extra], dim=-3)
        sample["bands"] = list(sample["bands"]) + self.names
        return sample


def to_dataloader(
    source: Any,
    size: int | tuple[int, int] = 256,
    batch_size: int = 16,
    *,
    shuffle: bool = True,
    seed: int | None = None,
    dataset_kwargs: dict[str, Any] | None = None,
    **loader_kwargs: Any,
) -> DataLoader:
    """A DataLoader of chip batches with chunk-aware shuffling and :func:`collate`.

    Examples
    --------
    >>> import xgeo
    >>> loader = to_dataloader(xgeo.datasets.sentinel2_cube(), size=32, batch_size=4,
    ...                        dataset_kwargs={"variable": "reflectance"})
    >>> tuple(next(iter(loader))["image"].shape)
    (4, 13, 32, 32)
    """
    dataset = ChipDataset(source, size, **(dataset_kwargs or {}))
    sampler = ChunkAwareSampler(dataset, shuffle=shuffle, seed=seed)
    loader_kwargs.setdefault("collate_fn", collate)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, **loader_kwargs)
