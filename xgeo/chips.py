"""Chips: an index of pixel windows over a datacube, for machine learning.

A :class:`ChipGrid` holds window positions only (no pixels are copied). Each
:class:`Chip` knows its pixel window, time slice, grid, bounds in the data CRS
and in lon/lat, and the fraction of valid pixels when that was asked for.

Edge windows are never dropped silently: ``boundary="pad"`` extends them past
the edge (the fill value is recorded), ``"shift"`` moves the last window inside,
``"drop"`` drops them by explicit choice.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, Literal

import numpy as np
import xarray as xr

from .bands import BAND_DIM, band_array
from .chipindex import ChipIndexMethods
from .crs import find_spatial_dims, read_crs, read_grid, write_grid
from .errors import ChipError
from .grid import Grid, parse_crs
from .pointchips import chips_around
from .storechunks import storage_chunks
from .validity import TIME_DIM, deferred_fractions, valid_fractions, valid_mask

__all__ = ["Chip", "ChipGrid", "make_chips", "window_bounds", "window_starts", "fill_value_for"]

Boundary = Literal["pad", "shift", "drop"]


def window_starts(length: int, size: int, stride: int, boundary: Boundary) -> np.ndarray:
    """Start offsets of windows of ``size`` every ``stride`` along an axis of ``length``.

    Every pixel is covered unless ``boundary="drop"``.

    Examples
    --------
    >>> window_starts(10, 4, 4, "pad").tolist(), window_starts(10, 4, 4, "shift").tolist()
    ([0, 4, 8], [0, 4, 6])
    >>> window_starts(10, 4, 4, "drop").tolist()
    [0, 4]
    """
    if boundary not in ("pad", "shift", "drop"):  # (checked whether or not it applies)
        raise ChipError(f"boundary must be 'pad', 'shift' or 'drop', got {boundary!r}")
    if size <= 0 or stride <= 0:
        raise ChipError(f"chip size and stride must be positive, got size={size}, stride={stride}")
    if size > length:
        raise ChipError(
            f"chip size {size} is larger than the array ({length} pixels along this axis); "
            "use a smaller size= or a larger area"
        )
    full = np.arange(0, length - size + 1, stride, dtype=np.int64)
    covered = full[-1] + size
    if covered >= length or boundary == "drop":
        return full
    if boundary == "pad":
        extra = np.arange(full[-1] + stride, length, stride, dtype=np.int64)
        return np.concatenate([full, extra])
    if boundary == "shift":
        return np.concatenate([full, [length - size]])
    raise ChipError(f"boundary must be 'pad', 'shift' or 'drop', got {boundary!r}")


def window_bounds(
    grid: Grid, rows: np.ndarray, cols: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """``(left, bottom, right, top)`` of windows of ``size`` at pixel ``(rows, cols)``: (N, 4).

    Asked of the grid: the bounds of one window at the origin, moved by each window's offset
    (:meth:`Grid.xy`); rotated grids included.

    Examples
    --------
    >>> g = Grid.from_bounds((0, 0, 100, 50), crs="EPSG:32633", resolution=10)
    >>> window_bounds(g, np.array([0, 2]), np.array([1, 5]), (2, 3)).tolist()
    [[10.0, 30.0, 40.0, 50.0], [50.0, 10.0, 80.0, 30.0]]
    >>> g.window(2, 5, 2, 3).bounds
    (50.0, 10.0, 80.0, 30.0)
    """
    left, bottom, right, top = grid.window(0, 0, *size).bounds
    x0, y0 = grid.xy(0, 0)
    x, y = grid.xy(rows, cols)
    dx, dy = x - x0, y - y0
    return np.column_stack([left + dx, bottom + dy, right + dx, top + dy])


def fill_value_for(arr: xr.DataArray) -> Any:
    """The value padded chips are filled with: the data's nodata, NaN for floats, else 0."""
    for holder in (arr.encoding, arr.attrs):
        for key in ("_FillValue", "nodata", "missing_value"):
            value = holder.get(key)
            if value is not None and np.ndim(value) == 0:
                if (
                    np.issubdtype(arr.dtype, np.floating)
                    and key == "_FillValue"
                    and holder is arr.encoding
                ):
                    return np.nan  # xarray already decoded it to NaN
                return np.asarray(value).astype(arr.dtype).item()
    return np.nan if np.issubdtype(arr.dtype, np.floating) else 0


@dataclass(frozen=True)
class Chip:
    """One window of a :class:`ChipGrid`."""

    index: int
    row: int
    col: int
    height: int
    width: int
    time: slice | None
    grid: Grid
    valid_fraction: float | None
    padded: bool

    @property
    def window(self) -> tuple[slice, slice]:
        """``(row_slice, col_slice)`` in the source's pixel space (may pass its edge when padded)."""
        return slice(self.row, self.row + self.height), slice(self.col, self.col + self.width)

    @property
    def crs(self):
        return self.grid.crs

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in the data CRS."""
        return self.grid.bounds

    @property
    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """Bounds in longitude/latitude."""
        return self.grid.geographic_bounds()


class ChipGrid(ChipIndexMethods, Sequence[Chip]):
    """Windows over a datacube: positions, time slices, validity. No pixels are held.

    Build one with :func:`make_chips` (or ``obj.geo.chips(...)``). ``origin`` is the object the
    chips were made from and ``band_kwargs`` the ``variable``/``variables``/``bands`` that chose
    its channels (``source`` itself and none when not given): a
    :class:`~xgeo.torch.ChipDataset` reads the pixels from there.
    """

    def __init__(
        self,
        source: xr.DataArray,
        *,
        size: tuple[int, int],
        rows: np.ndarray,
        cols: np.ndarray,
        t0: np.ndarray | None,
        t1: np.ndarray | None,
        valid: np.ndarray | Callable[[], np.ndarray] | None,
        boundary: Boundary,
        fill_value: Any,
        per_step: bool = False,
        origin: xr.Dataset | xr.DataArray | None = None,
        band_kwargs: dict[str, Any] | None = None,
        columns: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.source = source
        self.origin = source if origin is None else origin
        self.band_kwargs = dict(band_kwargs or {})
        self.size = size
        self.rows = np.asarray(rows, dtype=np.int64)
        self.cols = np.asarray(cols, dtype=np.int64)
        self.t0 = t0
        self.t1 = t1
        # an array, or a function computing it on first use (a mask without min_valid
        # filters nothing, so its pixels are read only when the fractions are looked at)
        self._valid = valid
        self.boundary = boundary
        self.fill_value = fill_value
        # True when chips were made one per time step (time=None): images are [C, H, W].
        self.per_step = per_step
        self.y_dim, self.x_dim = find_spatial_dims(source)
        self.columns = {k: np.asarray(v) for k, v in (columns or {}).items()}  # split, labels..

    @property
    def valid(self) -> np.ndarray | None:
        """Valid fraction per chip, or None when neither ``min_valid`` nor ``mask`` was given."""
        if callable(self._valid):
            self._valid = np.asarray(self._valid())
        return self._valid

    # ---------------------------------------------------------------- sequence API
    @cached_property
    def grid(self) -> Grid:
        """The grid of the whole source."""
        return read_grid(self.source)

    def __len__(self) -> int:
        return int(self.rows.size)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | np.integer):
            i = int(key)
            if i < 0:
                i += len(self)
            if not 0 <= i < len(self):
                raise IndexError(f"chip {key} out of range for {len(self)} chips")
            return self._chip(i)
        return self.subset(np.arange(len(self))[key])

    def __iter__(self) -> Iterator[Chip]:
        for i in range(len(self)):
            yield self._chip(i)

    def __repr__(self) -> str:
        longest = int((self.t1 - self.t0).max()) if self.t0 is not None and len(self) else 0
        time = "" if self.t0 is None else f", time windows of {longest}"
        return f"ChipGrid({len(self)} chips of {self.size[0]}x{self.size[1]}{time}, boundary={self.boundary!r})"

    def _chip(self, i: int) -> Chip:
        h, w = self.size
        r, c = int(self.rows[i]), int(self.cols[i])
        ny, nx = self.grid.shape
        time = None if self.t0 is None else slice(int(self.t0[i]), int(self.t1[i]))
        return Chip(
            index=i, row=r, col=c, height=h, width=w, time=time, grid=self.grid.window(r, c, h, w),
            valid_fraction=None if self.valid is None else float(self.valid[i]),
            padded=r + h > ny or c + w > nx,
        )

    def subset(self, indices: Sequence[int] | np.ndarray) -> ChipGrid:
        """A ChipGrid of the chips at ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64)
        valid = partial(_valid_of, self, idx) if callable(self._valid) else _take(self._valid, idx)
        return ChipGrid(
            self.source, size=self.size, rows=self.rows[idx], cols=self.cols[idx],
            t0=_take(self.t0, idx), t1=_take(self.t1, idx), valid=valid, boundary=self.boundary,
            fill_value=self.fill_value, per_step=self.per_step, origin=self.origin,
            band_kwargs=self.band_kwargs, columns={k: v[idx] for k, v in self.columns.items()},
        )

    def sample(self, n: int, *, seed: int | None = 0) -> ChipGrid:
        """``n`` chips drawn without replacement, reproducibly for a given ``seed``."""
        if n > len(self):
            raise ChipError(f"cannot sample {n} chips from {len(self)}")
        rng = np.random.default_rng(seed)
        return self.subset(np.sort(rng.choice(len(self), size=n, replace=False)))

    around = classmethod(chips_around)  # chips centred on labelled points: xgeo.pointchips

    # ---------------------------------------------------------------- pixels
    def extract(self, i: int) -> xr.DataArray:
        """Chip ``i`` as a DataArray ``([time,] band, y, x)`` with coordinates and CRS.

        Padded chips are filled with :attr:`fill_value`; their coordinates continue the grid.
        """
        chip = self[i]
        ny, nx = self.grid.shape
        sel = {
            self.y_dim: slice(chip.row, min(chip.row + chip.height, ny)),
            self.x_dim: slice(chip.col, min(chip.col + chip.width, nx)),
        }
        if chip.time is not None:
            sel[TIME_DIM] = chip.time
        out = self.source.isel(sel)
        pad_y = chip.row + chip.height - min(chip.row + chip.height, ny)
        pad_x = chip.col + chip.width - min(chip.col + chip.width, nx)
        if pad_y or pad_x:
            out = out.pad(
                {self.y_dim: (0, pad_y), self.x_dim: (0, pad_x)}, constant_values=self.fill_value
            )
            out = out.drop_vars([self.y_dim, self.x_dim])
            y, x = chip.grid.coords()
            out = out.assign_coords({self.y_dim: y, self.x_dim: x})
        if chip.time is not None and self.per_step:
            out = out.squeeze(TIME_DIM)
        return write_grid(out, chip.grid)

    def read(self, i: int) -> np.ndarray:
        """Chip ``i``'s pixels as a NumPy array ``([time,] band, y, x)`` (padded if needed)."""
        return np.asarray(self.extract(i).values)

    def stack(self) -> xr.DataArray:
        """All chips as one lazy DataArray ``(chip, [time,] band, y, x)`` backed by dask."""
        import dask.array as da

        src = self.source
        data = src.data if hasattr(src.data, "dask") else da.from_array(src.data, chunks="auto")
        ny, nx = self.grid.shape
        h, w = self.size
        axis_y, axis_x = src.get_axis_num(self.y_dim), src.get_axis_num(self.x_dim)
        has_time = self.t0 is not None
        axis_t = src.get_axis_num(TIME_DIM) if has_time else None
        pieces = []
        for i in range(len(self)):
            r, c = int(self.rows[i]), int(self.cols[i])
            index: list[Any] = [slice(None)] * data.ndim
            index[axis_y] = slice(r, min(r + h, ny))
            index[axis_x] = slice(c, min(c + w, nx))
            if has_time:
                index[axis_t] = slice(int(self.t0[i]), int(self.t1[i]))
            piece = data[tuple(index)]
            pad = [(0, 0)] * data.ndim
            pad[axis_y] = (0, r + h - min(r + h, ny))
            pad[axis_x] = (0, c + w - min(c + w, nx))
            if any(p != (0, 0) for p in pad):
                piece = da.pad(piece, pad, mode="constant", constant_values=self.fill_value)
            if has_time and self.per_step:
                piece = piece[(slice(None),) * axis_t + (0,)]
            pieces.append(piece)
        stacked = da.stack(pieces, axis=0)
        dims = [d for d in src.dims if not (has_time and self.per_step and d == TIME_DIM)]
        dims = ["chip", *dims]
        coords: dict[Hashable, Any] = {
            "chip": np.arange(len(self)),
            "chip_row": ("chip", self.rows),
            "chip_col": ("chip", self.cols),
        }
        if BAND_DIM in src.coords:
            coords[BAND_DIM] = src[BAND_DIM].values
        if has_time and self.per_step and TIME_DIM in src.coords:
            coords["chip_time"] = ("chip", src[TIME_DIM].values[self.t0])
        out = xr.DataArray(stacked, dims=dims, coords=coords, name=src.name)
        out.attrs["crs_wkt"] = self.grid.crs.to_wkt() if self.grid.crs is not None else ""
        out.attrs["fill_value"] = self.fill_value
        return out

    # ---------------------------------------------------------------- tables
    def to_dataframe(self) -> Any:
        """One row per chip: window, time slice, valid fraction, bounds and lon/lat bounds.

        A GeoDataFrame with box geometries in the data CRS when geopandas is installed,
        else a pandas DataFrame.
        """
        import pandas as pd

        h, w = self.size
        bounds = window_bounds(self.grid, self.rows, self.cols, self.size)
        frame = pd.DataFrame({"row": self.rows, "col": self.cols, "height": h, "width": w})
        frame[["left", "bottom", "right", "top"]] = bounds
        if self.t0 is not None:
            frame["time_start"] = self.t0
            frame["time_stop"] = self.t1
            if TIME_DIM in self.source.coords:
                frame["time"] = self.source[TIME_DIM].values[self.t0]
        if self.valid is not None:
            frame["valid_fraction"] = self.valid
        frame = frame.assign(**self.columns)
        if self.grid.crs is not None:
            from pyproj import Transformer

            tr = Transformer.from_crs(self.grid.crs, "EPSG:4326", always_xy=True)
            lonlat = [
                tr.transform_bounds(*b, densify_pts=5)
                for b in frame[["left", "bottom", "right", "top"]].itertuples(index=False)
            ]
            frame[["lon_min", "lat_min", "lon_max", "lat_max"]] = np.asarray(
                lonlat, dtype="float64"
            )
        try:
            import geopandas as gpd
            import shapely
        except ImportError:
            return frame
        boxes = shapely.box(frame["left"], frame["bottom"], frame["right"], frame["top"])
        return gpd.GeoDataFrame(frame, geometry=boxes, crs=self.grid.crs)


def _take(values: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[idx]


def _valid_of(grid: ChipGrid, idx: np.ndarray) -> np.ndarray:
    """The valid fractions of ``grid``'s chips at ``idx`` (computed once, by ``grid``)."""
    return grid.valid[idx]


# ------------------------------------------------------------------ construction
def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or int(v) != v or v <= 0 for v in pair):
        raise ChipError(f"{name} must be a positive int or a (y, x) pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value <= 0:
        raise ChipError(f"{name} must be a positive int (time steps), got {value!r}")
    return int(value)


def _aligned_starts(chunks: tuple[int, ...], size: int, stride: int) -> np.ndarray:
    starts: list[np.ndarray] = []
    offset = 0
    for length in chunks:
        if length >= size:
            starts.append(offset + window_starts(length, size, stride, "shift"))
        offset += length
    if not starts:
        raise ChipError(f"every storage chunk is smaller than the chip size {size}; rechunk or "
                        "use smaller chips")
    return np.concatenate(starts)


def _check_one_crs(obj: xr.Dataset, names: Sequence[Hashable]) -> None:
    """Raise GridMappingConflictError (as to_zarr and reproject do) when the variables that
    make the chips, mask included, point at grid mappings with different CRSs."""
    names = list(dict.fromkeys(n for n in names if n in obj.data_vars))
    if len(names) > 1:
        read_crs(obj[names])


def _roi_mask(grid: Grid, rows, cols, size, roi: Any, roi_crs: Any) -> np.ndarray:
    """True for windows whose footprint intersects ``roi`` (bounds tuple or shapely geometry)."""
    import shapely
    from pyproj import Transformer

    geom = shapely.box(*roi) if isinstance(roi, tuple | list) and len(roi) == 4 else roi
    if not isinstance(geom, shapely.Geometry):
        raise ChipError(
            f"roi must be (left, bottom, right, top) or a shapely geometry, got {type(roi).__name__}"
        )
    if roi_crs is not None and grid.crs is not None and not parse_crs(roi_crs).equals(grid.crs):
        # Densify before projecting so straight edges in one CRS stay faithful in the other.
        minx, miny, maxx, maxy = geom.bounds
        step = max(maxx - minx, maxy - miny) / 64 or 1.0
        geom = shapely.segmentize(geom, step)
        tr = Transformer.from_crs(parse_crs(roi_crs), grid.crs, always_xy=True)
        geom = shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    boxes = shapely.box(*window_bounds(grid, rows, cols, size).T)
    return shapely.intersects(boxes, geom)


def make_chips(
    obj: xr.DataArray | xr.Dataset,
    size: int | Sequence[int] = 256,
    stride: int | Sequence[int] | None = None,
    *,
    dims: Sequence[Hashable] | None = None,
    time: int | None = None,
    time_stride: int | None = None,
    variable: Hashable | None = None,
    variables: Sequence[Hashable] | None = None,
    bands: Sequence[Hashable] | None = None,
    min_valid: float = 0.0,
    mask: xr.DataArray | Hashable | None = None,
    boundary: Boundary = "pad",
    roi: Any = None,
    roi_crs: Any = None,
    sampling: Literal["grid", "random"] = "grid",
    n: int | None = None,
    seed: int | None = 0,
    align_to_chunks: bool = False,
) -> ChipGrid:
    """Index the chips of a datacube (no pixels are read unless ``min_valid`` needs them).

    Parameters
    ----------
    size, stride
        Chip size and step in pixels, an int or ``(y, x)``; ``stride`` defaults to ``size``.
    dims
        ``(y_dim, x_dim)``; found automatically by default.
    time
        None: one chip per time step (images ``[C, H, W]``); an int ``T``: windows of ``T``
        steps every ``time_stride`` (default ``T``), images ``[T, C, H, W]``. Only whole
        windows are made, whatever ``boundary`` says (it is about space): dates after the
        last whole window are in none (5 dates, ``time=3``: dates 3 and 4); choose
        ``time_stride`` so the windows reach the last date.
    variable, variables, bands
        Which bands make the channels (see :func:`xgeo.bands.band_array`).
    min_valid
        Keep chips whose fraction of valid pixels (all bands present, not nodata, not
        flagged by ``mask``) is at least this. Computed from a coarse count grid.
    mask
        A boolean DataArray (or the name of a variable) that is True where pixels are
        invalid, such as a cloud mask.
    boundary
        ``"pad"`` (default; filled with :attr:`ChipGrid.fill_value`), ``"shift"`` or ``"drop"``.
    roi, roi_crs
        Keep chips intersecting ``roi``: ``(left, bottom, right, top)`` or a shapely geometry,
        in ``roi_crs`` (default: the data CRS).
    sampling, n, seed
        ``"grid"`` (regular windows; ``n`` draws a seeded subset) or ``"random"`` (``n``
        windows at random pixel offsets inside the array, reproducible for a ``seed``).
    align_to_chunks
        Lay windows out inside each storage chunk so no chip straddles a chunk boundary.

    Raises
    ------
    ChipError
        Chip larger than the array, empty ROI, no chip left after filtering, bad sizes.

    Examples
    --------
    >>> import xgeo
    >>> chips = make_chips(xgeo.datasets.sentinel2_cube(), size=64)
    >>> len(chips), chips[0].window, chips.extract(3).dims
    (20, (slice(0, 64, None), slice(0, 64, None)), ('band', 'y', 'x'))
    """
    source = obj
    mask_name = None
    named = mask is not None and not isinstance(mask, xr.DataArray)
    if isinstance(obj, xr.Dataset) and named and mask in obj.data_vars:
        mask_name = mask
        mask = obj[mask_name]
        if variables is None and variable is None and bands is None:
            obj = obj.drop_vars(mask_name)
    arr = band_array(obj, variable=variable, variables=variables, bands=bands)
    if isinstance(source, xr.Dataset):  # per-band variables are the band labels
        used = [variable] if variable is not None else list(variables or arr[BAND_DIM].values)
        _check_one_crs(source, [*used, mask_name])
    if dims is not None:
        y_dim, x_dim = dims
        arr = arr.rename({y_dim: "y", x_dim: "x"}) if (y_dim, x_dim) != ("y", "x") else arr
    y_dim, x_dim = find_spatial_dims(arr)
    lead = [d for d in arr.dims if d not in (TIME_DIM, BAND_DIM, y_dim, x_dim)]
    if lead:
        raise ChipError(f"unsupported extra dims {lead}: select them away (e.g. "
                        f".isel({lead[0]}=0)) first")
    order = ([TIME_DIM] if TIME_DIM in arr.dims else []) + [BAND_DIM, y_dim, x_dim]
    arr = arr.transpose(*order)
    h, w = _pair(size, "size")
    sy, sx = _pair(stride if stride is not None else (h, w), "stride")
    ny, nx = arr.sizes[y_dim], arr.sizes[x_dim]

    if n is not None and (isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1):
        raise ChipError(f"n must be a number of chips >= 1, got {n!r}")
    if sampling == "random":
        if n is None:
            raise ChipError("sampling='random' needs n= (the number of chips)")
        if h > ny or w > nx:
            raise ChipError(f"chip size {(h, w)} is larger than the array {(ny, nx)}")
        rng = np.random.default_rng(seed)
        rows = rng.integers(0, ny - h + 1, size=n)
        cols = rng.integers(0, nx - w + 1, size=n)
    elif sampling == "grid":
        if align_to_chunks:
            ry = storage_chunks(arr, y_dim) or (ny,)
            rx = storage_chunks(arr, x_dim) or (nx,)
            r_starts, c_starts = _aligned_starts(ry, h, sy), _aligned_starts(rx, w, sx)
        else:
            r_starts = window_starts(ny, h, sy, boundary)
            c_starts = window_starts(nx, w, sx, boundary)
        rows, cols = (a.ravel() for a in np.meshgrid(r_starts, c_starts, indexing="ij"))
    else:
        raise ChipError(f"sampling must be 'grid' or 'random', got {sampling!r}")

    per_step = False
    t0 = t1 = None
    if TIME_DIM in arr.dims:
        nt = arr.sizes[TIME_DIM]
        if time is None:
            per_step = True
            t_starts, t_len = np.arange(nt, dtype=np.int64), 1
        else:
            t_len = _positive(time, "time")
            t_step = t_len if time_stride is None else _positive(time_stride, "time_stride")
            t_starts = window_starts(nt, t_len, t_step, "drop")
        n_space = rows.size
        t0 = np.repeat(t_starts, n_space)
        t1 = t0 + t_len
        rows, cols = np.tile(rows, t_starts.size), np.tile(cols, t_starts.size)
    elif time is not None:
        raise ChipError(f"time={time} needs a {TIME_DIM!r} dim; dims are {arr.dims}")

    grid = read_grid(arr)
    keep = np.ones(rows.size, dtype=bool)
    if roi is not None:
        keep &= _roi_mask(grid, rows, cols, (h, w), roi, roi_crs)
        if not keep.any():
            raise ChipError(f"the ROI {roi!r} does not intersect any chip of this {grid.shape} grid")
    fill = fill_value_for(arr)
    valid: Any = None
    if mask is not None and not isinstance(mask, xr.DataArray):
        raise ChipError(f"mask {mask!r} is not a variable of the Dataset")
    if min_valid > 0:  # the one case that reads pixels here (lazily, chunk by chunk if dask)
        vmask = valid_mask(arr, mask, fill)
        valid = valid_fractions(vmask, rows, cols, t0, t1, (h, w), y_dim, x_dim)
        keep &= valid >= min_valid
        if not keep.any():
            raise ChipError(f"no chip has a valid fraction >= {min_valid} (best: {valid.max():.3f})")
        valid = valid[keep]
    elif mask is not None:  # nothing to filter: fractions computed when first looked at
        valid = partial(deferred_fractions, arr, mask, fill, rows[keep], cols[keep],
                        _take(t0, keep), _take(t1, keep), (h, w))
    chips = ChipGrid(
        arr, size=(h, w), rows=rows[keep], cols=cols[keep], t0=_take(t0, keep),
        t1=_take(t1, keep), valid=valid, boundary=boundary, fill_value=fill, per_step=per_step,
        origin=obj, band_kwargs={"variable": variable, "variables": variables, "bands": bands},
    )
    if sampling == "grid" and n is not None:
        chips = chips.sample(n, seed=seed)
    return chips
