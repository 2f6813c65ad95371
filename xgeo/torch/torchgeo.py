"""TorchGeo bridge: an xgeo store or Dataset as a TorchGeo ``GeoDataset``.

:func:`as_geodataset` wraps a source (a Zarr store, video-coded or not, a netCDF file, or a
Dataset/DataArray) in :class:`XgeoGeoDataset`, a :class:`torchgeo.datasets.GeoDataset`
whose ``index`` has one row per time step (the cube's footprint, the step as a closed
interval) and whose ``__getitem__`` takes TorchGeo's ``[xmin:xmax:xres, ymin:ymax:yres,
tmin:tmax]`` queries. TorchGeo's samplers (``GridGeoSampler``, ``RandomGeoSampler``) and
``IntersectionDataset`` (with a ``VectorDataset`` of labels, say) then read xgeo stores; the pixels come through
:class:`~xgeo.torch.ChipDataset`'s reader (the decoded-chunk cache, no dask, no GDAL).

A query is read at the cube's own resolution, by nearest neighbour: the output pixel whose
centre falls in a cube pixel takes its value, which is the cube's pixel window itself when
the query lies on the pixel grid (TorchGeo's samplers place their boxes so, on the
dataset's own index); parts of the query outside the cube are missing (NaN for float
output, the fill value otherwise). A query at another resolution, or a CRS other than the
cube's, is refused with a typed error: reproject the cube first (``ds.geo.reproject``).

TorchGeo is optional and imported when this module is (``xgeo.torch.as_geodataset`` imports
it on first use): without it, :class:`~xgeo.errors.MissingDependencyError` says what to
install.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ChipError, CRSError
from ..optional import missing
from .dataset import ChipDataset, Source

try:
    import pandas as pd
    import shapely
    from geopandas import GeoDataFrame
    from torchgeo.datasets import GeoDataset
except ImportError as exc:  # an install hint, never a bare ModuleNotFoundError
    raise missing("torchgeo", "xgeo.torch.as_geodataset") from exc

__all__ = ["WindowReader", "XgeoGeoDataset", "as_geodataset"]

#: relative tolerance of "the same resolution" (float pixel sizes from bounds / shape)
RES_RTOL = 1e-9


class WindowReader(ChipDataset):
    """A :class:`~xgeo.torch.ChipDataset` that reads any pixel window, not only its chips.

    :meth:`window` points the dataset's one chip (per time step) at the window asked for and reads through the same per-process chunk cache. Not thread-safe (one
    reader per process, as DataLoader workers have).
    """

    def window(self, row: int, col: int, height: int, width: int,
               steps: tuple[int, int] | None) -> np.ndarray:
        """Pixels ``[C, H, W]`` (``[T, C, H, W]`` for several steps) of rows ``row:row+height``
        and columns ``col:col+width`` (may reach outside the grid: missing there) of the time
        steps ``steps[0]:steps[1]`` (None for a cube without time)."""
        ny, nx = self.shape
        r0, r1 = max(row, 0), min(row + height, ny)
        c0, c1 = max(col, 0), min(col + width, nx)
        self.rows, self.cols = np.array([r0]), np.array([c0])
        self.size = (r1 - r0, c1 - c0)
        if steps is not None:
            self.t0, self.t1 = np.array([steps[0]]), np.array([steps[1]])
            self.per_step = steps[1] - steps[0] == 1
        inside = self._read_image(0)
        if inside.shape[-2:] == (height, width):
            return inside
        out = np.empty(inside.shape[:-2] + (height, width), dtype=inside.dtype)
        out[...] = self._missing(inside.dtype)
        out[..., r0 - row : r1 - row, c0 - col : c1 - col] = inside
        return out


class XgeoGeoDataset(GeoDataset):
    """An xgeo source as a TorchGeo :class:`~torchgeo.datasets.GeoDataset` (see
    :func:`as_geodataset`, which makes it).

    Attributes
    ----------
    index
        GeoDataFrame: one row per time step (one row, all time, for a cube without time),
        geometry the cube's footprint in its CRS, index the step as a closed interval.
    reader
        The :class:`WindowReader` behind it.
    is_image
        True: samples hold ``image`` (TorchGeo's inputs); False: ``mask`` (its targets).
    """

    def __init__(self, reader: WindowReader, *, is_image: bool = True,
                 transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        grid = reader.grid
        if grid.crs is None:
            raise CRSError("TorchGeo needs a CRS and the source has none: set it first "
                           "(ds.geo.set_crs)")
        t = grid.transform
        if not grid.is_axis_aligned or t.e >= 0:
            raise ChipError("as_geodataset reads north-up grids (no rotation, rows going "
                            f"south); this grid's transform is {tuple(t)[:6]}")
        self.reader = reader
        self.is_image = is_image
        self.transforms = transforms
        self.paths = reader.path if reader.path is not None else []
        self._res = (float(t.a), float(-t.e))
        times = reader.times if reader.t0 is not None else None
        if times is not None:
            times = pd.DatetimeIndex(times)
            if not times.is_monotonic_increasing:
                raise ChipError("the cube's time axis is not sorted; sort it (ds.sortby('time'))")
            intervals = pd.IntervalIndex.from_arrays(times, times, closed="both", name="datetime")
        else:
            intervals = pd.IntervalIndex.from_tuples([(pd.Timestamp.min, pd.Timestamp.max)],
                                                     closed="both", name="datetime")
        self.times = times
        footprint = shapely.box(*grid.bounds)
        self.index = GeoDataFrame({"filepath": [reader.path or ""] * len(intervals)},
                                  index=intervals, geometry=[footprint] * len(intervals),
                                  crs=grid.crs)
        # asked of the index on every query by TorchGeo (half the time of a sample when
        # computed by geopandas each time); fixed, as crs and res cannot change
        self._crs = self.index.crs
        self._bounds = GeoDataset.bounds.fget(self)

    # TorchGeo reprojects a dataset by setting crs/res (IntersectionDataset does it to its
    # second dataset): refuse anything but no-ops, xgeo does not resample inside a loader
    @property
    def bounds(self) -> tuple[slice, slice, slice]:
        """``(x, y, t)`` slices of the index: its extent, resolution and time span."""
        return self._bounds

    @property
    def crs(self) -> Any:
        """The cube's CRS (a :class:`pyproj.CRS`); setting another raises CRSError."""
        return self._crs

    @crs.setter
    def crs(self, new_crs: Any) -> None:
        from ..crs import parse_crs

        if parse_crs(new_crs) != parse_crs(self._crs):
            raise CRSError(
                f"this xgeo dataset is in {self._crs.to_string()} and is not reprojected on "
                f"the fly to {new_crs}: reproject the cube first (ds.geo.reproject), or put it "
                "first in the IntersectionDataset (TorchGeo moves the second one to the first's CRS)")

    @property
    def res(self) -> tuple[float, float]:
        """The cube's pixel size ``(x, y)``, positive; setting another raises ChipError."""
        return self._res

    @res.setter
    def res(self, new_res: float | tuple[float, float]) -> None:
        xres, yres = (new_res, new_res) if isinstance(new_res, int | float) else new_res
        if not (_close(xres, self._res[0]) and _close(yres, self._res[1])):
            raise ChipError(
                f"this xgeo dataset has pixels of {self._res} and is not resampled on the fly to "
                f"{(xres, yres)}: reproject the cube first (ds.geo.reproject(resolution=...))")

    def __getitem__(self, query: Any) -> dict[str, Any]:
        """The sample of a TorchGeo query ``[xmin:xmax:xres, ymin:ymax:yres, tmin:tmax]``.

        Returns
        -------
        dict
            ``crs``, ``bounds`` (the query), ``image`` (``[C, H, W]``, ``[T, C, H, W]`` when
            the query spans several time steps) or ``mask`` (``[H, W]`` for one channel),
            ``time`` (the step(s), for a cube with time).

        Raises
        ------
        IndexError
            The query misses the cube in space or time (TorchGeo's convention).
        ChipError
            A query at another resolution than the cube's, or an empty one.
        """
        x, y, t = self._disambiguate_slice(query)
        xres, yres = self._res
        if not (_close(x.step, xres) and _close(y.step, yres)):
            raise ChipError(
                f"query resolution {(x.step, y.step)} differs from the cube's {self._res}; "
                "xgeo does not resample here: reproject the cube first (ds.geo.reproject)")
        width, height = round((x.stop - x.start) / xres), round((y.stop - y.start) / yres)
        if width <= 0 or height <= 0:
            raise ChipError(f"empty query {query}: xmax <= xmin or ymax <= ymin")
        tr = self.reader.grid.transform
        # nearest: output pixel k's centre (start + (k + 1/2) res) lies in cube pixel floor(...)
        col = math.floor((x.start - tr.c) / xres + 0.5 + 1e-9)
        row = math.floor((tr.f - y.stop) / yres + 0.5 + 1e-9)
        ny, nx = self.reader.shape
        if row >= ny or col >= nx or row + height <= 0 or col + width <= 0:
            raise IndexError(f"query: {query} not found in index with bounds: {self.bounds}")
        steps = None
        if self.times is not None:
            lo, hi = _timestamp(t.start), _timestamp(t.stop)
            sel = np.flatnonzero((self.times >= lo) & (self.times <= hi))
            if sel.size == 0:
                raise IndexError(f"query: {query} not found in index with bounds: {self.bounds}")
            steps = (int(sel[0]), int(sel[-1]) + 1)
        pixels = self.reader.window(row, col, height, width, steps)
        tensor = torch.from_numpy(np.ascontiguousarray(pixels))
        if self.reader.dtype is not None:
            tensor = tensor.to(self.reader.dtype)
        sample: dict[str, Any] = {"crs": self.crs, "bounds": query}
        if self.is_image:
            sample["image"] = tensor
        else:
            sample["mask"] = tensor.squeeze(-3) if tensor.shape[-3] == 1 else tensor
        if steps is not None:
            stamps = [str(s) for s in self.reader.times[steps[0] : steps[1]]]  # as ChipDataset
            sample["time"] = stamps[0] if len(stamps) == 1 else stamps
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample


def _close(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=RES_RTOL)


def _timestamp(value: Any) -> pd.Timestamp:
    return value if isinstance(value, pd.Timestamp) else pd.Timestamp(value)


def as_geodataset(
    source: Source,
    *,
    variable: Hashable | None = None,
    variables: Sequence[Hashable] | None = None,
    bands: Sequence[Hashable] | None = None,
    is_image: bool = True,
    dtype: torch.dtype | str | None = "auto",
    transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    cache_dir: str | os.PathLike | None = None,
    cache_bytes: int | None = None,
    decode_threads: int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> XgeoGeoDataset:
    """A TorchGeo ``GeoDataset`` reading an xgeo source: TorchGeo samplers and datasets work on it.

    Parameters
    ----------
    source
        A Zarr store path or URL (video-coded or not), a netCDF file, or a Dataset/DataArray,
        as :class:`~xgeo.torch.ChipDataset` takes it.
    variable, variables, bands
        Which bands make the channels (see :func:`xgeo.bands.band_array`).
    is_image
        True: samples hold ``image`` (model inputs); False: ``mask`` (targets, e.g. a land
        cover variable), as TorchGeo's ``RasterDataset.is_image``.
    dtype
        Output dtype; ``"auto"``: ``torch.float32`` for images (CF-decoded: fill value to
        NaN) and ``torch.long`` for masks (TorchGeo's); ``None`` keeps the stored dtype.
    transforms
        Callable applied to each sample dict.
    cache_dir, cache_bytes, decode_threads, storage_options
        The chunk cache and store access, as for :class:`~xgeo.torch.ChipDataset`.

    Returns
    -------
    XgeoGeoDataset
        ``index`` (one row per time step), ``crs``, ``res``, ``bounds``, and
        ``__getitem__(query)`` returning ``crs``, ``bounds``, ``image``/``mask`` and ``time``.

    Raises
    ------
    MissingDependencyError
        torchgeo is not installed (raised when this module is imported).
    CRSError
        The source has no CRS.
    ChipError
        A rotated or south-up grid, an unsorted time axis, channels that cannot be read
        (see :class:`~xgeo.torch.ChipDataset`).

    Examples
    --------
    >>> import xgeo
    >>> from torchgeo.samplers import GridGeoSampler
    >>> gds = as_geodataset(xgeo.datasets.sentinel2_cube(), variable="reflectance")
    >>> len(gds), gds.crs.to_epsg()
    (5, 32633)
    >>> sampler = GridGeoSampler(gds, size=64, stride=32)
    >>> tuple(gds[next(iter(sampler))]["image"].shape)
    (13, 64, 64)
    """
    if isinstance(dtype, str):
        if dtype != "auto":
            raise ChipError(f"dtype must be a torch.dtype, None or 'auto', not {dtype!r}")
        dtype = torch.float32 if is_image else torch.long
    # one 1-pixel chip per time step (the index is metadata only): WindowReader moves and
    # resizes it onto each query
    reader = WindowReader(source, size=1, stride=2**30, variable=variable, variables=variables,
                          bands=bands, dtype=dtype, cache_dir=cache_dir, cache_bytes=cache_bytes,
                          decode_threads=decode_threads, storage_options=storage_options)
    return XgeoGeoDataset(reader, is_image=is_image, transforms=transforms)
