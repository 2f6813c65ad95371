"""Many cubes, one dataset: :class:`CubesDataset` over a list or a directory of minicubes.

DeepExtremeCubes and EarthNet ship thousands of small cubes, each on its own grid and CRS.
:class:`CubesDataset` indexes their chips as ``(cube, chip)`` pairs from each cube's metadata
alone (:func:`xgeo.cubemeta.cube_meta`: no pixel read, no xarray Dataset per cube), and opens
a cube's :class:`~xgeo.torch.ChipDataset` only when one of its chips is read, keeping the
``max_open`` most recently used ones open per process. :class:`~xgeo.torch.CubeMixSampler`
(:mod:`xgeo.torch.cubesampler`) mixes the cubes.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from .._diskcache import MEMORY_BYTES, default_bound
from ..bands import BAND_DIM
from ..chips import TIME_DIM, window_starts
from ..cubemeta import Cube, CubeMeta, cube_meta, cube_name, list_cubes
from ..errors import (
    BandMappingError,
    ChipError,
    CubeMismatchError,
    GridError,
    MissingBandError,
    SkippedCubesWarning,
)
from ..io import detect_format
from ..loader_source import zarr_store_of
from .dataset import ChipDataset, SampleTransform

__all__ = ["CubesDataset"]

#: make_chips arguments whose chips cannot be counted from metadata (they read pixels or
#: draw windows): with any of them, every cube's chip index is made at construction.
EAGER_KEYS = ("min_valid", "mask", "roi", "n", "sampling", "align_to_chunks", "dims")


class CubesDataset(Dataset):
    """Map-style dataset of the chips of many cubes, each sample on its own cube's grid and CRS.

    Parameters
    ----------
    sources
        The cubes: a directory (its ``*.zarr`` stores and ``*.nc`` files, sorted by name), a
        glob pattern, or a list of paths (Zarr, netCDF) and Datasets/DataArrays.
    size, stride, **chip_kwargs
        As :meth:`ChipDataset.from_source` takes them, the same for every cube (``variable=``,
        ``bands=``, ``time=``, ``boundary=``, ...).
    label
        The name of a variable of every cube, returned as ``sample["label"]``.
    transforms
        Callable applied to each sample dict, after ``cube`` is added.
    dtype, return_mask, cache_dir, decode_threads, storage_options
        As :class:`ChipDataset` takes them, for every cube (``cache_dir`` serves the Zarr
        cubes; netCDF ones are read without it).
    cache_bytes
        With ``cache_dir``: the bound of the shared disk cache (as ChipDataset's). Without:
        the in-memory chunk cache of each open cube; default 256 MiB / ``max_open``, so the
        open cubes of a process hold at most 256 MiB of decoded chunks together.
    max_open
        Cubes kept open per process (least recently used closed first).

    Attributes
    ----------
    names
        Each cube's name (its file name, or ``"cube <k>"`` for an xarray object).
    counts, starts
        Chips per cube and the dataset index of each cube's first chip (int64 arrays).
    skipped
        ``{name: reason}`` of the cubes left out because they hold no chip.

    Notes
    -----
    Sample ``i`` of the dataset is chip ``j`` of cube ``k`` (:meth:`locate`): exactly
    ``ChipDataset(cube_k, size, stride, ...)[j]`` (``index`` is ``j``; ``bounds`` and ``crs``
    are cube ``k``'s) plus ``sample["cube"] = k``. Construction reads each cube's metadata
    (a few ms a cube) and builds one cube's ChipDataset, the template the others are checked
    against: every cube must hold the template's channel variables with the same dims, band
    labels and (with ``dtype=None``) stored dtype, else :class:`~xgeo.errors.CubeMismatchError`.
    A cube smaller than one chip (or, with a filter, with no chip left) is left out with one
    :class:`~xgeo.errors.SkippedCubesWarning` listing them all (``skipped``); none left is a
    ChipError. With ``min_valid``, ``mask``, ``roi``, ``n``, ``sampling`` or
    ``align_to_chunks`` (:data:`EAGER_KEYS`) the chips cannot be counted from metadata, so
    every cube's chip index is made at construction (~10 ms a cube, plus the pixels a
    ``min_valid`` filter reads).

    Raises
    ------
    CubeMismatchError
        Cubes whose channels differ (the message names the cube and the difference).
    ChipError
        No cube, no cube with a chip, a label given as a DataArray, a bad ``max_open``.
    DecodeError
        A cube whose metadata cannot be read (named).

    Examples
    --------
    >>> import xgeo
    >>> cube = xgeo.datasets.sentinel2_cube()
    >>> cubes = CubesDataset([cube.isel(x=slice(0, 64)), cube.isel(y=slice(0, 40))], 32,
    ...                      variable="reflectance")
    >>> cubes.counts.tolist(), len(cubes)
    ([40, 40], 80)
    >>> sample = cubes[45]
    >>> cubes.locate(45), sample["cube"], sample["index"], tuple(sample["image"].shape)
    ((1, 5), 1, 5, (13, 32, 32))
    """

    def __init__(
        self,
        sources: Cube | Sequence[Cube],
        size: int | tuple[int, int] = 256,
        stride: int | tuple[int, int] | None = None,
        *,
        label: str | None = None,
        transforms: SampleTransform | None = None,
        dtype: torch.dtype | None = torch.float32,
        return_mask: bool = False,
        cache_dir: str | os.PathLike | None = None,
        cache_bytes: int | None = None,
        decode_threads: int | None = None,
        storage_options: dict[str, Any] | None = None,
        max_open: int = 16,
        **chip_kwargs: Any,
    ) -> None:
        if label is not None and not isinstance(label, str):
            raise ChipError("a CubesDataset label is the name of a variable of every cube; a "
                            f"{type(label).__name__} lies on one grid only")
        if not isinstance(max_open, int) or max_open < 1:
            raise ChipError(f"max_open must be an int >= 1, not {max_open!r}")
        self.cubes = list_cubes(sources)
        self.names = [cube_name(c, k) for k, c in enumerate(self.cubes)]
        self.transforms = transforms
        self.max_open = max_open
        self.size, self.stride = size, stride
        self.cache_dir = None if cache_dir is None else os.path.abspath(os.fspath(cache_dir))
        if cache_bytes is None:  # fixed once, the same in every worker
            cache_bytes = (default_bound(self.cache_dir) if self.cache_dir is not None
                           else MEMORY_BYTES // max_open)
        self.chip_kwargs = dict(chip_kwargs)
        self.cube_kwargs = dict(
            label=label, dtype=dtype, return_mask=return_mask, cache_bytes=cache_bytes,
            decode_threads=decode_threads, storage_options=storage_options, **chip_kwargs)
        self._open: OrderedDict[int, ChipDataset] = OrderedDict()
        self._open_pid = os.getpid()
        eager = any(chip_kwargs.get(k) not in (None, False, 0, 0.0, "grid") for k in EAGER_KEYS)
        self._zarr = [self._is_zarr(c) for c in self.cubes] if self.cache_dir else None
        counts = self._count_eager() if eager else self._count_from(
            [cube_meta(c, k) for k, c in enumerate(self.cubes)])
        self.skipped = {self.names[k]: why for k, why in counts.items() if isinstance(why, str)}
        if len(self.skipped) == len(self.cubes):
            raise ChipError(f"no cube holds a chip: {_listing(self.skipped)}")
        if self.skipped:
            warnings.warn(f"{len(self.skipped)} of {len(self.cubes)} cubes hold no chip and are "
                          f"left out: {_listing(self.skipped)}", SkippedCubesWarning, stacklevel=2)
        self.counts = np.array([0 if isinstance(counts[k], str) else counts[k]
                                for k in range(len(self.cubes))], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)

    # ---------------------------------------------------------------- construction
    @staticmethod
    def _is_zarr(cube: Cube) -> bool:
        if isinstance(cube, xr.Dataset | xr.DataArray):
            return zarr_store_of(cube) is not None
        return "://" in str(cube) or detect_format(cube) == "zarr"

    def _build(self, k: int) -> ChipDataset:
        """Cube ``k``'s ChipDataset (its transforms are applied here, after ``cube``)."""
        cache_dir = self.cache_dir if self._zarr is not None and self._zarr[k] else None
        try:
            return ChipDataset(self.cubes[k], self.size, self.stride, cache_dir=cache_dir,
                               **self.cube_kwargs)
        except (MissingBandError, GridError, BandMappingError) as exc:
            if isinstance(exc, ChipError):
                raise
            raise CubeMismatchError(f"cube {self.names[k]}: {exc}") from exc

    def _count_eager(self) -> dict[int, int | str]:
        """Every cube's chip index made now (filters that read pixels or draw windows)."""
        counts: dict[int, int | str] = {}
        for k in range(len(self.cubes)):
            try:
                ds = self._build(k)
            except CubeMismatchError:
                raise
            except ChipError as exc:
                counts[k] = str(exc)
                continue
            if not hasattr(self, "band_labels"):
                self.band_labels = ds.band_labels
            elif ds.band_labels != self.band_labels:
                raise CubeMismatchError(_band_diff(self.names[k], ds.band_labels, self.band_labels))
            counts[k] = len(ds)
            self._keep(k, ds)
        return counts

    def _count_from(self, metas: list[CubeMeta]) -> dict[int, int | str]:
        """Chips per cube from metadata, checked against one cube's ChipDataset (the template)."""
        larger = sorted(range(1, len(metas)), key=lambda k: -_largest(metas[k]))
        tried = [0, *larger[:2]]  # the first cube, or (too small) one of the largest
        first_error: ChipError | None = None
        for t in tried:
            try:
                template = self._build(t)
                break
            except CubeMismatchError:
                raise
            except ChipError as exc:
                first_error = first_error or exc
        else:
            raise ChipError(f"cannot make chips of cube {self.names[0]} nor of the largest cubes "
                            f"{[self.names[t] for t in tried[1:]]}: {first_error}")
        self.band_labels = template.band_labels
        self._keep(t, template)
        expected = metas[t]
        counts: dict[int, int | str] = {}
        problems = []
        for k, meta in enumerate(metas):
            diff = self._difference(meta, expected, template)
            if diff:
                problems.append(diff)
                continue
            counts[k] = self._chips_in(meta.sizes(template.channels[0].variable), template)
        if problems:
            more = f" (and {len(problems) - 5} more cubes)" if len(problems) > 5 else ""
            raise CubeMismatchError(f"{len(problems)} cubes differ from cube {expected.name}: "
                                    + "; ".join(problems[:5]) + more)
        return counts

    def _difference(self, meta: CubeMeta, expected: CubeMeta, template: ChipDataset) -> str:
        """How cube ``meta`` differs from the template's channels ('' when it does not)."""
        label = self.cube_kwargs.get("label")
        if label is not None and label not in meta.variables:  # (found at its first read)
            return (f"cube {meta.name} has no label variable {label!r} (it has "
                    f"{sorted(meta.variables)})")
        for ch in template.channels:
            if ch.variable not in meta.variables:
                return (f"cube {meta.name} has no variable {ch.variable!r} (it has "
                        f"{sorted(meta.variables)})")
            dims, _, dtype = meta.variables[ch.variable]
            if dims != ch.dims:
                return f"cube {meta.name}: {ch.variable!r} has dims {dims}, not {ch.dims}"
            want = expected.variables[ch.variable][2]
            if template.dtype is None and dtype != want:
                return f"cube {meta.name}: {ch.variable!r} is stored as {dtype}, not {want}"
            if BAND_DIM in ch.dims:
                have = list(meta.bands or ())
                if self.chip_kwargs.get("bands") is None and have != list(expected.bands or ()):
                    return _band_diff(meta.name, have, list(expected.bands or ()))
                ours = [expected.bands[i] for i in ch.band_index] if expected.bands else []
                missing = [b for b in ours if b not in have]
                if self.chip_kwargs.get("bands") is not None and missing:
                    return f"cube {meta.name} has no band {missing} (its bands: {have})"
        return ""

    def _chips_in(self, sizes: dict[str, int], template: ChipDataset) -> int | str:
        """Chips of a cube of these dim sizes (as make_chips makes them), or why none."""
        h, w = template.size
        sy, sx = _pair(self.stride if self.stride is not None else (h, w))
        boundary = self.chip_kwargs.get("boundary", "pad")
        ny, nx = sizes[template.y_dim], sizes[template.x_dim]
        try:
            n = window_starts(ny, h, sy, boundary).size * window_starts(nx, w, sx, boundary).size
            if template.t0 is not None:
                nt = sizes[TIME_DIM]
                if template.per_step:
                    n *= nt
                else:
                    t = self.chip_kwargs["time"]
                    n *= window_starts(nt, t, self.chip_kwargs.get("time_stride") or t, "drop").size
        except ChipError as exc:
            return f"{ny}x{nx} pixels" + (f", {sizes.get(TIME_DIM)} steps" if TIME_DIM in sizes
                                          else "") + f": {exc}"
        return n

    # ---------------------------------------------------------------- open cubes
    def _keep(self, k: int, ds: ChipDataset) -> None:
        self._open[k] = ds
        self._open.move_to_end(k)
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)

    def cube(self, k: int) -> ChipDataset:
        """Cube ``k``'s :class:`ChipDataset` (opened on first use in this process, checked
        against the chip count and band labels its metadata gave)."""
        if self._open_pid != os.getpid():  # a forked worker opens its own cubes
            self._open, self._open_pid = OrderedDict(), os.getpid()
        ds = self._open.get(k)
        if ds is None:
            ds = self._build(k)
            if len(ds) != self.counts[k] or ds.band_labels != self.band_labels:
                raise CubeMismatchError(
                    f"cube {self.names[k]} changed since the dataset was made: {len(ds)} chips "
                    f"and bands {ds.band_labels}, where its metadata gave {self.counts[k]} and "
                    f"{self.band_labels}")
        self._keep(k, ds)
        return ds

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_open"] = OrderedDict()  # each process opens its own cubes
        state["_open_pid"] = None
        return state

    # ---------------------------------------------------------------- samples
    def __len__(self) -> int:
        return int(self.counts.sum())

    def locate(self, i: int | Sequence[int] | np.ndarray) -> tuple[Any, Any]:
        """``(cube, chip)`` of dataset index ``i`` (ints, or int64 arrays for several)."""
        idx = np.asarray(i, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            bad = idx[(idx < 0) | (idx >= len(self))].ravel()[0]
            raise IndexError(f"chip {bad} out of range for {len(self)} chips")
        k = np.searchsorted(self.starts, idx, side="right") - 1  # skips empty (skipped) cubes
        j = idx - self.starts[k]
        return (int(k), int(j)) if idx.ndim == 0 else (k, j)

    def _finish(self, sample: dict[str, Any], k: int) -> dict[str, Any]:
        sample["cube"] = k
        return sample if self.transforms is None else self.transforms(sample)

    def __getitem__(self, i: int) -> dict[str, Any]:
        k, j = self.locate(i)
        return self._finish(self.cube(k)[j], k)

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """Batch read: the chips of each cube are read together (its chunks decoded once)."""
        ks, js = self.locate(np.asarray(indices, dtype=np.int64).ravel())
        out: list[Any] = [None] * len(ks)
        for k in dict.fromkeys(ks.tolist()):
            where = np.flatnonzero(ks == k)
            for p, sample in zip(where, self.cube(k).__getitems__(js[where].tolist()), strict=True):
                out[p] = self._finish(sample, k)
        return out


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int | np.integer) else (int(value[0]), int(value[1]))


def _largest(meta: CubeMeta) -> int:
    return max((int(np.prod(shape)) for _, shape, _ in meta.variables.values()), default=0)


def _band_diff(name: str, have: list[Any], want: list[Any]) -> str:
    extra = [b for b in have if b not in want]
    missing = [b for b in want if b not in have]
    detail = (f"missing {missing}" if missing else "") + (", " if missing and extra else "") + (
        f"extra {extra}" if extra else "")
    return f"cube {name} has bands {have}, not {want} ({detail or 'another order'})"


def _listing(reasons: dict[str, str], limit: int = 20) -> str:
    items = [f"{name} ({why})" for name, why in list(reasons.items())[:limit]]
    more = f", and {len(reasons) - limit} more" if len(reasons) > limit else ""
    return "; ".join(items) + more
