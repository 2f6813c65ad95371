"""The map-style dataset of chips: :class:`ChipDataset` over a :class:`~xgeo.chips.ChipGrid`.

For a Zarr store it reads the arrays directly (no xarray, no dask inside ``__getitem__``)
through a small per-process cache of decoded storage chunks (:mod:`xgeo._chunkread`), so a
compressed chunk is decoded once per epoch even when several chips fall in it (pair it with
:class:`~xgeo.torch.ChunkAwareSampler`). Every worker process opens its own store on first
use: nothing from PyAV, Zarr or numba is shared across ``fork``, and the dataset pickles
small for ``spawn``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from .._chunkread import ArrayReader, Channel, ZarrReader, cf_decode, load_cf_kernel
from .._diskcache import MEMORY_BYTES, default_bound
from ..bands import BAND_DIM
from ..chipplan import aligned_mask, aligned_raster, band_labels, channels_of, chunk_lengths
from ..chips import TIME_DIM, ChipGrid, make_chips, window_bounds
from ..crs import find_spatial_dims
from ..cubemeta import is_many_cubes
from ..errors import ChipError, ChunkCacheWarning
from ..io import open_dataset
from ..loader_source import resolve_source
from ..nodata import declared_nodata
from .device import check_process, host_batch, on_device, resolve_device

__all__ = ["ChipDataset"]

Source = str | os.PathLike | xr.Dataset | xr.DataArray
SampleTransform = Callable[[dict[str, Any]], dict[str, Any]]


class ChipDataset(Dataset):
    """Map-style dataset of the chips of a :class:`~xgeo.chips.ChipGrid`, as tensors.

    Parameters
    ----------
    chips
        The chips: a :class:`~xgeo.chips.ChipGrid` made beforehand (:func:`~xgeo.chips.make_chips`
        or ``obj.geo.chips(...)``, with ``min_valid``, ``roi``, ``time``, ...), read from the
        object it was made from; a Dataset opened from a local Zarr store and unmodified is
        read as that store (``kind == "zarr"``, see :mod:`xgeo.loader_source`). A source (a
        path of a Zarr store or netCDF file, or a Dataset/DataArray) is also accepted, with
        ``size``, ``stride`` and ``**chip_kwargs``: the same as :meth:`from_source`.
    size, stride, **chip_kwargs
        Only with a source: passed to :func:`~xgeo.chips.make_chips` (``variable=``,
        ``variables=``, ``bands=`` choose the channels; ``time``, ``boundary``, ``min_valid``,
        ...). ``size`` defaults to 256.
    label
        A raster aligned to the same grid (a DataArray, or the name of a variable of the
        source), returned as ``sample["label"]``; reprojected once (nearest) onto the source
        grid if its CRS or grid differs.
    transforms
        Callable applied to each sample dict (e.g. :class:`~xgeo.torch.Indices`,
        :class:`~xgeo.torch.Normalize`); TorchGeo's name (``transform`` is the affine).
    dtype
        Image dtype; ``None`` keeps the stored dtype (compact: cast later, e.g. on the GPU).
        Floating output applies CF decoding (fill value to NaN, scale_factor/add_offset).
    return_mask
        Add ``sample["mask"]``: True where every channel holds data. A mask in the polarity
        of ``mask=`` (True = masked: a boolean DataArray such as :func:`xgeo.masks.scl`
        makes, or a variable name, see :func:`xgeo.masks.as_mask`) also clears the pixels
        it flags; ``True`` with a ``mask=`` chip keyword uses that mask. Aligned like
        ``label``.
    cache_dir
        A directory for an on-disk cache of decoded chunks (Zarr stores of the video codec):
        each chunk is decoded once, by whichever process needs it first, and read back from
        there by later epochs, the other workers and later runs. See the user guide's
        "Decoded-chunk cache on disk" for when it pays. Made if missing; a directory that is
        read-only or full, or a corrupt cache file, gives a
        :class:`~xgeo.errors.ChunkCacheWarning` and a read from the store.
    cache_bytes
        The budget of the decoded-chunk cache. Without ``cache_dir``: per process, in memory
        (None: 256 MiB). With ``cache_dir``: the bound of the directory's cache, shared by the
        workers and runs (None: min(16 GiB, half of the free space plus the cache's own
        files), fixed when the dataset is made); each process then keeps 256 MiB of the chunks
        it reads back in memory.
    decode_threads
        Threads decoding a window's or a batch's chunks in parallel; default all cores (up to 4)
        in the main process and 1 inside DataLoader workers (the workers are the parallelism).
    storage_options
        fsspec options of a store behind a URL (``"s3://bucket/cube.zarr"``): ``endpoint_url``,
        ``key``, ``secret``, ``anon``... Each process (DataLoader workers included, fork or
        spawn) opens its own filesystem; the chunks a batch needs are fetched in one round of
        concurrent requests, each chunk object once while its decoded chunk stays cached.
    device
        Make batches on this torch device (``"cuda"``; ``"cpu"``: the same torch path on the
        CPU), equal to the CPU path's: see :mod:`xgeo.torch.device`. CUDA batches are made in
        the main process (``num_workers=0``). A device that cannot be used raises
        :class:`~xgeo.errors.DeviceError` naming what is missing.

    Notes
    -----
    A sample is a dict: ``index``, ``bounds`` (in the data CRS), ``crs`` (WKT), ``image``
    (``[C, H, W]``, or ``[T, C, H, W]`` for time windows), ``time`` (when the cube has a time
    axis), ``mask`` and ``label`` (when asked for) and ``bands`` (the channel labels). Keys
    that do not apply are left out, so torch's ``default_collate`` batches samples too;
    :func:`~xgeo.torch.collate` is faster. The chip index comes from metadata: a path source
    has no pixel decoded at construction unless ``min_valid`` asks for valid fractions (then
    chunk by chunk).

    Raises
    ------
    ChipError
        Chips that cannot be made (see :func:`~xgeo.chips.make_chips`), a dtype that cannot
        make the chips, a label that cannot be aligned, chip arguments given with a ChipGrid.

    Examples
    --------
    >>> import xgeo
    >>> from xgeo.chips import make_chips
    >>> from xgeo.torch import ChipDataset
    >>> chips = make_chips(xgeo.datasets.sentinel2_cube(), size=64, variable="reflectance")
    >>> sample = ChipDataset(chips)[0]
    >>> tuple(sample["image"].shape), sample["crs"][:6]
    ((13, 64, 64), 'PROJCR')
    >>> len(ChipDataset.from_source(xgeo.datasets.sentinel2_cube(), 64, variable="reflectance"))
    20
    """

    def __init__(
        self,
        chips: ChipGrid | Source,
        size: int | tuple[int, int] | None = None,
        stride: int | tuple[int, int] | None = None,
        *,
        label: xr.DataArray | str | None = None,
        transforms: SampleTransform | None = None,
        dtype: torch.dtype | None = torch.float32,
        return_mask: bool | xr.DataArray | str = False,
        cache_dir: str | os.PathLike | None = None,
        cache_bytes: int | None = None,
        decode_threads: int | None = None,
        storage_options: dict[str, Any] | None = None,
        device: str | torch.device | None = None,
        **chip_kwargs: Any,
    ) -> None:
        if "transform" in chip_kwargs:  # the sample callable's old name
            warnings.warn("ChipDataset(transform=) is now transforms= (transform is the affine)",
                          DeprecationWarning, stacklevel=2)
            transforms = chip_kwargs.pop("transform")
        if isinstance(chips, ChipGrid):
            given = sorted([*chip_kwargs, *(k for k, v in (("size", size), ("stride", stride))
                                            if v is not None)])
            if given:
                raise ChipError(
                    f"{given} describe how to make chips, and a ChipGrid is made already: give "
                    "them to make_chips, or use ChipDataset.from_source(source, size, ...)")
            # an unmodified view of a Zarr store is read as that store
            self.kind, self.path, obj = resolve_source(chips.origin, storage_options)
        else:
            if is_many_cubes(chips):  # a list, a glob or a directory of cubes
                raise ChipError("ChipDataset reads one cube; for a list or a directory of cubes "
                                "use xgeo.torch.CubesDataset (or to_dataloader)")
            self.kind, self.path, obj = resolve_source(chips, storage_options)
            chips = make_chips(obj, 256 if size is None else size, stride, **chip_kwargs)
        self.transforms = transforms
        if dtype is not None and not isinstance(dtype, torch.dtype):
            raise ChipError(f"dtype must be a torch dtype (torch.float32, torch.float16, ...) or "
                            f"None for the stored values, got {dtype!r}")
        self.dtype = dtype
        self.device = resolve_device(device)
        if return_mask is True and chip_kwargs.get("mask") is not None:
            return_mask = chip_kwargs["mask"]
        self.return_mask = return_mask is not False
        if cache_bytes is not None and cache_bytes < 0:
            raise ChipError(f"cache_bytes must be a number of bytes >= 0 or None, not {cache_bytes!r}")
        self.cache_dir = None if cache_dir is None else os.path.abspath(os.fspath(cache_dir))
        if self.cache_dir is not None and self.kind != "zarr":
            warnings.warn(f"cache_dir is used for Zarr stores only; this {self.kind} source is read "
                          "without it", ChunkCacheWarning, stacklevel=2)
            self.cache_dir = None
        if self.cache_dir is not None and cache_bytes is None:
            cache_bytes = default_bound(self.cache_dir)  # once: the same bound in every worker
        self.cache_bytes = MEMORY_BYTES if cache_bytes is None else cache_bytes
        self.decode_threads = decode_threads
        self.storage_options = storage_options
        self._plan_from(obj, chips)
        self.label = (None if label is None
                      else aligned_raster(obj, label, chips.grid, self.times))
        # edge chips pad the label with its own fill, not 0 (a class: "water" under NaN)
        self.label_fill = 0 if label is None else _label_fill(obj, label, self.label.dtype)
        self.user_mask = None if isinstance(return_mask, bool) else aligned_mask(
            obj, return_mask, chips.grid, self.times)
        self._reader: Any = None
        self._reader_pid: int | None = None
        variables = {name: (obj[name] if isinstance(obj, xr.Dataset) else obj).variable
                     for name in self._var_names}
        self._memory_vars: dict[str, xr.Variable] | None = (
            variables if self.kind == "memory" else None)
        if self.dtype == torch.float32 and self.device is None:
            # now, before a DataLoader forks its workers: they share the loaded kernel (for
            # the stored dtype that chunks are read in, and the opened one memory reads have)
            load_cf_kernel([v.dtype for v in variables.values()]
                           + [np.dtype(v.encoding["dtype"]) for v in variables.values()
                              if "dtype" in v.encoding])

    @classmethod
    def from_source(
        cls,
        source: Source,
        size: int | tuple[int, int] = 256,
        stride: int | tuple[int, int] | None = None,
        **kwargs: Any,
    ) -> ChipDataset:
        """The dataset of the chips of ``source``: chips made by :func:`~xgeo.chips.make_chips`.

        Parameters
        ----------
        source
            Path of a Zarr store or netCDF file, or a Dataset/DataArray.
        size, stride
            Chip size and step in pixels, an int or ``(y, x)``.
        **kwargs
            The dataset's keywords (``label``, ``transforms``, ``dtype``, ``return_mask``,
            ``cache_dir``, ``cache_bytes``, ``decode_threads``, ``storage_options``); every other one goes to ``make_chips``
            (``variable``, ``variables``, ``bands``, ``time``, ``min_valid``, ``roi``, ...).

        Returns
        -------
        ChipDataset

        Examples
        --------
        >>> import xgeo
        >>> ds = ChipDataset.from_source(xgeo.datasets.sentinel2_cube(), 32, variable="reflectance")
        >>> len(ds), tuple(ds[0]["image"].shape)
        (80, (13, 32, 32))
        """
        return cls(source, size, stride, **kwargs)

    def _plan_from(self, obj: Any, chips: ChipGrid) -> None:
        """Record everything __getitem__ needs as small picklable values."""
        arr = chips.source
        self.rows, self.cols, self.t0, self.t1 = chips.rows, chips.cols, chips.t0, chips.t1
        self.size, self.per_step, self.fill_value = chips.size, chips.per_step, chips.fill_value
        self.band_labels = band_labels(arr)
        self.grid = chips.grid
        self.shape = self.grid.shape
        # (left, bottom, right, top) of every chip, asked of the grid once: (N, 4) float64
        self.bounds = window_bounds(self.grid, self.rows, self.cols, self.size)
        self.crs_wkt = self.grid.crs.to_wkt() if self.grid.crs is not None else ""
        self.times = arr[TIME_DIM].values if TIME_DIM in arr.coords else None
        self.y_dim, self.x_dim = (str(d) for d in find_spatial_dims(arr))
        self.channels = channels_of(obj, self.band_labels, **chips.band_kwargs,
                                    stored=self.kind == "zarr")
        self._var_names = sorted({c.variable for c in self.channels})
        for name in self._var_names:
            dt = (obj[name] if isinstance(obj, xr.Dataset) else obj).dtype
            if dt.kind not in "biuf" and not (dt.kind == "c" and (
                    self.dtype is None or self.dtype.is_complex)):
                raise ChipError(
                    f"variable {name!r} has dtype {dt}, which cannot make {self.dtype} chips; "
                    "select real-valued variables (or dtype=None to keep complex values)")
        integral = self.dtype is not None and not (self.dtype.is_floating_point
                                                    or self.dtype.is_complex)
        def read_kind(name: str) -> str:  # what the reads give: stored chunks of a store
            var = obj[name] if isinstance(obj, xr.Dataset) else obj
            stored = var.encoding.get("dtype") if self.kind == "zarr" else None
            return np.dtype(stored if stored is not None else var.dtype).kind

        decoded = [c.variable for c in self.channels
                   if c.scale != 1.0 or c.offset != 0.0 or read_kind(c.variable) == "f"]
        if integral and decoded:
            # NaN (missing pixels, edge padding) and fractions would become arbitrary integers
            raise ChipError(
                f"dtype={self.dtype} cannot hold the values of {sorted(set(decoded))} (floats, "
                "NaN for missing pixels and edge padding): use a floating dtype, or dtype=None "
                "for the stored values")
        self.storage_chunks = chunk_lengths(obj, self.channels[0].variable)

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
            if self.kind == "zarr":  # with a disk cache, cache_bytes bounds the disk
                disk = self.cache_dir is not None
                self._reader = ZarrReader(
                    self.path, MEMORY_BYTES if disk else self.cache_bytes, self._decode_threads(),
                    self.storage_options, self.cache_dir, self.cache_bytes if disk else None)
            elif self.kind == "file":
                ds = open_dataset(self.path)
                self._reader = ArrayReader({n: ds[n].variable for n in self._var_names})
            else:
                self._reader = ArrayReader(self._memory_vars)
            self._reader_pid = pid
        return self._reader

    # ------------------------------------------------------------------ samples
    def __len__(self) -> int:
        return int(self.rows.size)

    def _regions(self, i: int) -> list[tuple[Channel, list[slice]]]:
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

    def _read_image(self, i: int, out: np.ndarray | None = None, prefetch: bool = True,
                    decode: bool = True) -> np.ndarray:
        """The chip's pixels ([T,] C, H, W), written into ``out`` (that shape, the output
        dtype) when given: batch reads decode straight into the batch, with no per-chip array.
        ``prefetch=False`` when the caller already decoded the chip's chunks (a batch).
        Float output is CF-decoded from the cached chunk straight into ``out`` (one pass; a
        raw batch decoded per channel group afterwards measured no faster, 2026-11);
        ``decode=False`` keeps the stored values (a device batch is decoded on the device)."""
        h, w = self.size
        floating = decode and self.dtype is not None and self.dtype.is_floating_point
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
                pad = self._missing(dest.dtype, floating)[c : c + nb]
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
            padded[...] = self._missing(image.dtype, floating)
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

    def _missing(self, dtype: np.dtype, decoded: bool = True) -> np.ndarray:
        """Per-channel missing value of an output image of ``dtype``, shaped (C, 1, 1)
        (``decoded=False``: of an image of stored values)."""
        if decoded and self.dtype is not None and self.dtype.is_floating_point:
            return np.full((sum(ch.count for ch in self.channels), 1, 1), np.nan)
        fills = [ch.stored_fill(self.fill_value, dtype) for ch in self.channels for _ in range(ch.count)]
        return np.asarray(fills)[:, None, None]

    def _decode(self, block: np.ndarray, ch: Channel, out: np.ndarray | None = None) -> np.ndarray:
        """CF decoding to float, as xarray would: fill value to NaN, then scale and offset."""
        return cf_decode(block, ch, out, float64=self.dtype == torch.float64)

    def _check_index(self, i: int) -> None:
        if not 0 <= i < len(self):
            raise IndexError(f"chip {i} out of range for {len(self)} chips")

    def __getitem__(self, i: int) -> dict[str, Any]:
        self._check_index(i)
        if self.device is not None:
            return self._device_items([i])[0]
        image = self._read_image(i)
        tensor = torch.from_numpy(np.ascontiguousarray(image))
        return self._sample(i, tensor if self.dtype is None else tensor.to(self.dtype), image)

    def _sample(self, i: int, tensor: torch.Tensor, image: np.ndarray) -> dict[str, Any]:
        mask = None
        if self.return_mask:
            finite = np.isfinite(image) if image.dtype.kind == "f" else image != self._missing(image.dtype)
            valid = finite.all(axis=-3)
            if self.user_mask is not None:
                valid &= ~self._window(self.user_mask, i)
            mask = torch.from_numpy(valid)
        label = None
        if self.label is not None:
            # a copy: an in-place edit of a sample's label never reaches the dataset's raster
            label = torch.from_numpy(np.array(self._window(self.label, i, self.label_fill),
                                              copy=True))
        return self._assemble(i, tensor, mask, label)

    def _assemble(self, i: int, tensor: torch.Tensor, mask: torch.Tensor | None,
                  label: torch.Tensor | None) -> dict[str, Any]:
        """The sample dict of chip ``i`` around its image (and mask, label) tensors."""
        sample: dict[str, Any] = {"index": i, "bounds": tuple(self.bounds[i].tolist()),
                                  "crs": self.crs_wkt}
        sample["image"] = tensor
        if self.times is not None and self.t0 is not None:
            times = self.times[int(self.t0[i]) : int(self.t1[i])]
            sample["time"] = str(times[0]) if self.per_step else [str(t) for t in times]
        if mask is not None:
            sample["mask"] = mask
        if label is not None:
            sample["label"] = label
        sample["bands"] = self.band_labels
        if self.transforms is not None:
            sample = self.transforms(sample)
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
        if self.device is not None:
            return self._device_items(indices)
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

    def _device_items(self, indices: list[int]) -> list[dict[str, Any]]:
        """A batch made on ``self.device`` (:mod:`xgeo.torch.device`): stored values read into
        one host batch, copied once, decoded, cast and masked there."""
        dev = self.device
        check_process(dev)
        reader = self._get_reader()
        reader.prefetch([(ch.variable, region) for i in indices for ch, region in self._regions(i)])
        first = np.ascontiguousarray(self._read_image(indices[0], prefetch=False, decode=False))
        host, images = host_batch((len(indices), *first.shape), first.dtype, dev)
        images[0] = first
        for k, i in enumerate(indices[1:], start=1):
            self._read_image(i, out=images[k], prefetch=False, decode=False)
        missing = None if not self.return_mask else self._missing(first.dtype, False)
        flagged = (np.stack([self._window(self.user_mask, i) for i in indices])
                   if self.return_mask and self.user_mask is not None else None)
        labels = None if self.label is None else np.stack(
            [self._window(self.label, i, self.label_fill) for i in indices])
        batch, valid, labels = on_device(
            host, dev, self.channels, self.dtype, origins=(self.rows[indices], self.cols[indices]),
            size=self.size, shape=self.shape, missing=missing, flagged=flagged, labels=labels)
        return [self._assemble(i, batch[k], valid if valid is None else valid[k],
                               labels if labels is None else labels[k]) for k, i in enumerate(indices)]

    def _window(self, raster: np.ndarray, i: int, fill: Any = 0) -> np.ndarray:
        h, w = self.size
        r, c = int(self.rows[i]), int(self.cols[i])
        part = raster[..., r : r + h, c : c + w]
        if raster.ndim == 3 and self.t0 is not None:
            part = (
                part[int(self.t0[i])] if self.per_step else part[int(self.t0[i]) : int(self.t1[i])]
            )
        if part.shape[-2:] != (h, w):
            out = np.full(part.shape[:-2] + (h, w), fill, dtype=part.dtype)
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


def _label_fill(obj: Any, label: Any, dtype: np.dtype) -> Any:
    """The value that marks "no class" in a label (its ``_FillValue``/``nodata``), for padding
    edge chips; 0 when it declares none (or it does not fit the label's dtype)."""
    raster = obj[label] if isinstance(label, str) else label
    fill = declared_nodata(raster) if isinstance(raster, xr.DataArray) else None
    if fill is None or (dtype.kind in "iub" and (isinstance(fill, float) and np.isnan(fill))):
        return 0
    if dtype.kind in "iu" and not np.iinfo(dtype).min <= fill <= np.iinfo(dtype).max:
        return 0
    return fill


def _batch_tensor(first: torch.Tensor, n: int) -> torch.Tensor:
    """An uninitialised (n, *first.shape) tensor; in a DataLoader worker it lives in shared
    memory, as torch's default_collate does, so sending it to the main process copies nothing."""
    from torch.utils.data import get_worker_info

    if get_worker_info() is None:  # NumPy's allocator asks for huge pages
        return torch.from_numpy(np.empty((n, *first.shape), dtype=first.numpy().dtype))
    storage = first._typed_storage()._new_shared(n * first.numel(), device=first.device)
    return first.new(storage).resize_(n, *first.shape)

