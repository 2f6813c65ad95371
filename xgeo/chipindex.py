"""The chip index as a file: a GeoParquet table of a :class:`~xgeo.chips.ChipGrid`.

:func:`write_chip_index` writes one row per chip: the footprint polygon in the data CRS
(``geometry``), its pixel window (``row``, ``col``, ``height``, ``width``), its bounds in the
data CRS (``left`` ... ``top``) and in lon/lat (``lon_min`` ... ``lat_max``), its time window
when the chips have one (``time_start``/``time_stop``: step indices, ``time``/``time_end``:
the dates of its first and last step), ``split``, ``valid_fraction`` (when known) and, with
``label=``, the number of pixels of each class (``count_<class>``). The Parquet key-value
metadata :data:`METADATA_KEY` records what rebuilds the grid: chip size and stride, the
source grid (transform, CRS, shape), dims, band labels, dates, the fill value and, when the chips
were made from a file or store, its path and the ``variable``/``variables``/``bands`` that
chose the channels. :func:`read_chip_index` reads it back into an equal ChipGrid.

:class:`ChipIndexMethods` puts these (and :mod:`xgeo.chipsplit`'s splits) on ChipGrid.

Examples
--------
>>> import tempfile, xgeo
>>> ds = xgeo.datasets.sentinel2_cube()
>>> chips = ds.geo.chips(16, variable="reflectance").split({"train": .5, "test": .5}, block=32)
>>> path = tempfile.mkdtemp() + "/chips.parquet"
>>> chips.to_parquet(path, label=ds.lulc)
>>> type(chips).from_parquet(path).equals(chips)
True
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .bands import BAND_DIM, band_array
from .chipsplit import SplitBy, select_split, split_chips, split_fractions
from .crs import find_spatial_dims, read_grid
from .errors import ChipError, GridError
from .grid import Grid
from .optional import require
from .validity import TIME_DIM

__all__ = ["METADATA_KEY", "ChipIndexMethods", "label_counts", "read_chip_index",
           "write_chip_index"]

#: The Parquet key-value metadata key holding the grid description (JSON).
METADATA_KEY = b"xgeo:chipindex"
FORMAT_VERSION = 1


def _stride(starts: np.ndarray, size: int) -> int | None:
    steps = np.diff(np.unique(starts))
    return int(steps.min()) if steps.size else size


def _classes(label: xr.DataArray, values: np.ndarray) -> list[tuple[Any, str]]:
    """``(value, name)`` of each class: CF ``flag_values``/``flag_meanings``, else the
    values present (NaN and the nodata value left out)."""
    flags = label.attrs.get("flag_values")
    if flags is not None:
        flags = np.atleast_1d(np.asarray(flags)).tolist()
        meanings = str(label.attrs.get("flag_meanings", "")).split()
        if len(meanings) != len(flags):
            meanings = [str(v) for v in flags]
        return list(zip(flags, meanings, strict=True))
    present = np.unique(values[~np.isnan(values)] if values.dtype.kind == "f" else values)
    nodata = [h.get(k) for h in (label.encoding, label.attrs)
              for k in ("_FillValue", "nodata", "missing_value") if h.get(k) is not None]
    present = [v for v in present.tolist() if v not in nodata]
    return [(v, str(v)) for v in present]


def label_counts(chips: Any, label: xr.DataArray) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Pixels of each class of ``label`` (2-D, on the chips' grid) in each chip's window.

    Padded chips count only the pixels inside the grid. Returns ``({column: counts},
    [{"value", "name", "column"} per class])``.

    Raises
    ------
    ChipError
        ``label`` is not a 2-D DataArray on the chips' grid.

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> counts, classes = label_counts(ds.geo.chips(64, variable="reflectance", time=5), ds.lulc)
    >>> [c["name"] for c in classes], counts["count_2"].tolist()
    (['0', '1', '2', '3', '4', '8'], [3171, 1824, 1542, 1064])
    """
    if not isinstance(label, xr.DataArray):
        raise ChipError(f"label must be a DataArray on the chips' grid, got {type(label).__name__}")
    try:
        y_dim, x_dim = find_spatial_dims(label)
    except GridError as exc:
        raise ChipError(f"label {label.name!r} has no spatial dims: {exc}") from exc
    if set(label.dims) != {y_dim, x_dim}:
        raise ChipError(f"label {label.name!r} must be 2-D (y, x); it has dims {label.dims}: "
                        "select one time step or band first")
    ny, nx = chips.grid.shape
    if (label.sizes[y_dim], label.sizes[x_dim]) != (ny, nx):
        raise ChipError(f"label {label.name!r} is {label.sizes[y_dim]} x {label.sizes[x_dim]} "
                        f"pixels, the chips' grid {ny} x {nx}: rasterise it on the same grid")
    try:
        lgrid = read_grid(label)
    except GridError:
        lgrid = None
    if lgrid is not None and not lgrid.almost_equal(chips.grid):
        raise ChipError(f"label {label.name!r} is on another grid ({lgrid}) than the chips "
                        f"({chips.grid})")
    values = np.asarray(label.transpose(y_dim, x_dim).values)
    h, w = chips.size
    r0, c0 = np.minimum(chips.rows, ny), np.minimum(chips.cols, nx)
    r1, c1 = np.minimum(chips.rows + h, ny), np.minimum(chips.cols + w, nx)
    columns: dict[str, np.ndarray] = {}
    classes = []
    for value, name in _classes(label, values):
        table = np.zeros((ny + 1, nx + 1), dtype=np.int64)
        table[1:, 1:] = (values == value).cumsum(axis=0).cumsum(axis=1)
        column = f"count_{name}"
        columns[column] = table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]
        classes.append({"value": value, "name": name, "column": column})
    return columns, classes


def _source_path(chips: Any) -> str | None:
    for holder in (chips.origin, chips.source):
        path = holder.encoding.get("source")
        if isinstance(path, str | os.PathLike):
            return str(path)
    return None


def _time_labels(arr: xr.DataArray) -> list[str] | None:
    """The time coordinate as strings (ISO dates), or None when there is none."""
    if TIME_DIM not in arr.coords:
        return None
    values = np.asarray(arr[TIME_DIM].values)
    if values.dtype.kind == "M":
        return np.datetime_as_string(values).tolist()
    return [str(v) for v in values.tolist()]


def _fill_json(value: Any) -> Any:
    value = np.asarray(value).item()
    return "NaN" if isinstance(value, float) and np.isnan(value) else value


def _metadata(chips: Any, classes: list[dict] | None) -> dict[str, Any]:
    grid = chips.grid
    src = chips.source
    length = None if chips.t0 is None or not len(chips) else int((chips.t1 - chips.t0).max())
    return {
        "version": FORMAT_VERSION,
        "size": list(chips.size),
        "stride": [_stride(chips.rows, chips.size[0]), _stride(chips.cols, chips.size[1])],
        "boundary": chips.boundary,
        "per_step": bool(chips.per_step),
        "fill_value": _fill_json(chips.fill_value),
        "grid": {"crs": None if grid.crs is None else grid.crs.to_wkt(),
                 "transform": list(grid.transform)[:6], "shape": list(grid.shape)},
        "dims": [str(chips.y_dim), str(chips.x_dim)],
        "bands": np.asarray(src[BAND_DIM].values).tolist() if BAND_DIM in src.coords else None,
        "time_steps": int(src.sizes[TIME_DIM]) if TIME_DIM in src.dims else None,
        "times": _time_labels(src),
        "time_window": length,
        "source": {"path": _source_path(chips), "band_kwargs": chips.band_kwargs},
        "splits": None if chips.splits is None else sorted(set(chips.splits.tolist())),
        "columns": sorted(chips.columns),
        "label": classes,
    }


def write_chip_index(chips: Any, path: str | os.PathLike, *, label: xr.DataArray | None = None
                     ) -> None:
    """Write ``chips`` as GeoParquet at ``path`` (see the module docstring for the columns).

    The file is replaced if it exists (written to a temporary name, then renamed).

    Parameters
    ----------
    chips
        A :class:`~xgeo.chips.ChipGrid`.
    path
        The ``.parquet`` file to write.
    label
        A 2-D categorical DataArray on the chips' grid: per-class pixel counts per chip.

    Raises
    ------
    MissingDependencyError
        geopandas/pyarrow are not installed (``pip install 'xgeo[vector]'``).
    ChipError
        A bad ``label`` (see :func:`label_counts`).

    Examples
    --------
    >>> import tempfile, xgeo
    >>> from xgeo.chips import ChipGrid
    >>> chips = xgeo.datasets.sentinel2_cube().geo.chips(50, variable="reflectance", time=5)
    >>> path = tempfile.mkdtemp() + "/chips.parquet"
    >>> write_chip_index(chips, path)
    >>> len(read_chip_index(ChipGrid, path))  # 3 x 2 chips, the last row padded
    6
    """
    require("geopandas", "writing a chip index (GeoParquet)")
    pq = require("pyarrow.parquet", "writing a chip index (GeoParquet)")
    frame = chips.to_dataframe()
    frame.insert(0, "chip", np.arange(len(chips)))
    if chips.t0 is not None and TIME_DIM in chips.source.coords:
        frame["time_end"] = chips.source[TIME_DIM].values[chips.t1 - 1]
    classes = None
    if label is not None:
        columns, classes = label_counts(chips, label)
        for column, counts in columns.items():
            frame[column] = counts
    meta = json.dumps(_metadata(chips, classes), default=str).encode()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)  # geopandas: GeoParquet "geo" metadata
    table = pq.read_table(io.BytesIO(buffer.getvalue()))
    table = table.replace_schema_metadata({**table.schema.metadata, METADATA_KEY: meta})
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _reopen(path: str) -> xr.Dataset:
    """The recorded source, opened lazily (dask) with xarray: a Zarr store or a netCDF file."""
    engine = "zarr" if Path(path).is_dir() else None
    try:
        return xr.open_dataset(path, engine=engine, chunks={}, decode_coords="all")
    except Exception as exc:  # each backend fails its own way: say which file and what to do
        raise ChipError(f"cannot reopen the chips' source {path} ({type(exc).__name__}: {exc}); "
                        "pass obj= (the object the chips were made from)") from exc


def _source_array(obj: Any, meta: Mapping[str, Any]) -> xr.DataArray:
    kwargs = meta["source"]["band_kwargs"]
    arr = band_array(obj, **{k: v for k, v in kwargs.items() if v is not None})
    y_dim, x_dim = find_spatial_dims(arr)
    want_y, want_x = meta["dims"]
    if (str(y_dim), str(x_dim)) != (want_y, want_x):
        arr = arr.rename({y_dim: want_y, x_dim: want_x})
    order = ([TIME_DIM] if TIME_DIM in arr.dims else []) + [BAND_DIM, want_y, want_x]
    arr = arr.transpose(*order)
    g = meta["grid"]
    expected = Grid(crs=g["crs"], transform=g["transform"], shape=g["shape"])
    bands = np.asarray(arr[BAND_DIM].values).tolist() if BAND_DIM in arr.coords else None
    steps = arr.sizes.get(TIME_DIM)
    if not read_grid(arr).almost_equal(expected) or read_grid(arr).crs != expected.crs \
            or bands != meta["bands"] or steps != meta["time_steps"] \
            or _time_labels(arr) != meta["times"]:
        raise ChipError(
            f"the object is not the one the chip index was made from (grid {read_grid(arr)}, "
            f"bands {bands}, {steps} time steps; the index has {expected}, bands "
            f"{meta['bands']}, {meta['time_steps']} time steps; or other dates): pass obj= "
            "that matches")
    return arr


def read_chip_index(cls: type, path: str | os.PathLike, obj: Any = None) -> Any:
    """The ChipGrid (of class ``cls``) that :func:`write_chip_index` wrote at ``path``.

    Parameters
    ----------
    cls
        The class to build (:class:`~xgeo.chips.ChipGrid`).
    path
        A file written by :func:`write_chip_index`.
    obj
        The object the chips were made from; None reopens the recorded source path (a
        netCDF file or Zarr store, lazily with dask). Its grid, bands and dates must be the
        recorded ones.

    Returns
    -------
    ChipGrid
        Equal (:meth:`ChipIndexMethods.equals`) to the one written.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ChipError
        The file is not a chip index (or not Parquet), there is no recorded source and no ``obj``, or ``obj``
        (or the reopened source) does not match the recorded grid and bands.

    Examples
    --------
    See :func:`write_chip_index`.
    """
    pq = require("pyarrow.parquet", "reading a chip index (GeoParquet)")
    if not Path(path).is_file():
        raise FileNotFoundError(f"no chip index file at {path}")
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise ChipError(f"cannot read chip index {path}: {exc}") from exc
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ChipError(f"{path} is not an xgeo chip index (no {METADATA_KEY.decode()!r} "
                        "metadata): write one with chips.to_parquet(...)")
    meta = json.loads(raw)
    if meta.get("version") != FORMAT_VERSION:
        raise ChipError(f"{path}: chip index version {meta.get('version')} is not supported "
                        f"(this xgeo reads version {FORMAT_VERSION})")
    if obj is None:
        source = meta["source"]["path"]
        if source is None:
            raise ChipError(f"{path} records no source file (the chips were made from an "
                            "object in memory): pass obj=")
        obj = _reopen(source)
    arr = _source_array(obj, meta)
    names = table.column_names
    col = {k: table.column(k).to_numpy() for k in ("row", "col", "time_start", "time_stop",
                                                     "valid_fraction") if k in names}
    timed = TIME_DIM in arr.dims
    fill = meta["fill_value"]
    return cls(
        arr, size=tuple(meta["size"]), rows=col["row"], cols=col["col"],
        t0=col["time_start"].astype(np.int64) if timed else None,
        t1=col["time_stop"].astype(np.int64) if timed else None,
        valid=col.get("valid_fraction"), boundary=meta["boundary"],
        fill_value=np.nan if fill == "NaN" else fill, per_step=meta["per_step"], origin=obj,
        band_kwargs=meta["source"]["band_kwargs"],
        columns={k: _column(table, k) for k in meta.get("columns", ["split"]) if k in names},
    )


def _column(table: Any, name: str) -> np.ndarray:
    """A chip-table column read back: text as an object array (as the split names are made)."""
    values = table.column(name).to_pylist()
    if any(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=object)
    return np.asarray(values)


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(np.asarray(a), np.asarray(b),
                               equal_nan=np.asarray(a).dtype.kind == "f"))


class ChipIndexMethods:
    """Splits and the index file, as methods of :class:`~xgeo.chips.ChipGrid`.

    ``splits`` is the split name of each chip (an object array), or None before
    :meth:`split`.

    Examples
    --------
    >>> import xgeo
    >>> chips = xgeo.datasets.sentinel2_cube().geo.chips(20, variable="reflectance", time=5)
    >>> parts = chips.split({"train": 0.8, "test": 0.2}, block=40, seed=0)
    >>> len(parts.where(split="test")), parts.split_fractions()["test"]
    (6, 0.2)
    """

    columns: dict[str, np.ndarray]

    @property
    def splits(self) -> np.ndarray | None:
        """The split name of each chip (the chip table's ``split`` column), or None."""
        return self.columns.get("split")

    @splits.setter
    def splits(self, names: np.ndarray | None) -> None:
        if names is None:
            self.columns.pop("split", None)
        else:
            self.columns["split"] = np.asarray(names, dtype=object)

    def split(self, fractions: Mapping[str, float], *, by: SplitBy = "block",
              block: int | Sequence[int] | None = None, seed: int | None = 0,
              gap: int = 0) -> Any:
        """Chips recorded with a split name, without leakage: see
        :func:`xgeo.chipsplit.split_chips`."""
        return split_chips(self, fractions, by=by, block=block, seed=seed, gap=gap)

    def where(self, *, split: str | Sequence[str]) -> Any:
        """The chips of one split (or several): see :func:`xgeo.chipsplit.select_split`."""
        return select_split(self, split)

    def split_fractions(self) -> dict[str, float]:
        """Achieved fraction of chips per split: see :func:`xgeo.chipsplit.split_fractions`."""
        return split_fractions(self)

    def to_parquet(self, path: str | os.PathLike, *, label: xr.DataArray | None = None) -> None:
        """Write the chip index as GeoParquet: see :func:`write_chip_index`."""
        write_chip_index(self, path, label=label)

    @classmethod
    def from_parquet(cls, path: str | os.PathLike, obj: Any = None) -> Any:
        """Read a chip index written by :meth:`to_parquet`: see :func:`read_chip_index`."""
        return read_chip_index(cls, path, obj)

    def equals(self, other: Any) -> bool:
        """True when ``other`` has the same windows, time windows, splits, valid fractions,
        boundary, fill value and source grid, dims and band labels (pixels not compared)."""
        a: Any = self
        if not isinstance(other, ChipIndexMethods):
            return False
        b: Any = other
        bands = [np.asarray(c.source[BAND_DIM].values).tolist() if BAND_DIM in c.source.coords
                 else None for c in (a, b)]
        fills = [_fill_json(c.fill_value) for c in (a, b)]
        return (a.size == b.size and a.boundary == b.boundary and a.per_step == b.per_step
                and fills[0] == fills[1] and bands[0] == bands[1]
                and (a.y_dim, a.x_dim) == (b.y_dim, b.x_dim) and a.grid.shape == b.grid.shape
                and a.grid.crs == b.grid.crs and a.grid.almost_equal(b.grid)
                and all(_same(x, y) for x, y in [(a.rows, b.rows), (a.cols, b.cols),
                                                 (a.t0, b.t0), (a.t1, b.t1), (a.valid, b.valid),
                                                 (a.splits, b.splits)]))

