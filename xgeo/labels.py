"""Vector labels on the cube's grid: class maps rasterized from polygons, chips around points.

:func:`rasterize` burns vector labels (a GeoDataFrame, a file, or shapely geometries) into a
categorical DataArray on a grid, with the CF class table xgeo reads back as categorical
(:mod:`xgeo.categorical`): ``flag_values`` / ``flag_meanings`` and a ``_FillValue`` that is
no class. :mod:`xgeo.pointchips` finds the chip centred on each labelled point
(:meth:`xgeo.chips.ChipGrid.around`).

The rules, in one place:

* **Inputs.** A :class:`geopandas.GeoDataFrame` (or GeoSeries), a path to a vector file
  (GeoPackage, GeoJSON, shapefile, FlatGeobuf: anything pyogrio reads; ``.parquet`` /
  ``.geoparquet``: GeoParquet), or shapely geometries with ``crs=``. Needs the ``vector``
  extra (geopandas, pyogrio) and rasterio (the ``geotiff`` extra):
  ``pip install 'xgeo[vector,geotiff]'``.
* **CRS.** Labels in any CRS are transformed to the grid's with pyproj, each edge first cut
  into pieces of about one grid pixel, so a straight edge in one CRS stays the curve it is in
  the other. A label file with no CRS needs ``crs=``; one whose CRS pyproj cannot transform
  to the grid's is a :class:`~xgeo.errors.CRSError` naming the file.
* **Classes.** A text column gives classes numbered ``1, 2, ...`` in sorted order of the
  names; ``classes=["water", "crop", ...]`` numbers them in that order instead, and
  ``classes={"water": 3, ...}`` gives the codes. An integer column keeps its values (the
  class names are the values as text, or the keys of ``classes={name: value}``). A class
  name becomes a ``flag_meanings`` word with every run of characters other than letters,
  digits and ``_`` replaced by ``_``.
* **Fill.** Pixels no label covers hold the fill value, which is no class: 0 unless 0 is a
  class, else the dtype's largest value (smallest for negative classes); ``fill=`` sets it.
  The dtype is the smallest of uint8, uint16, uint32, int16, int32 that holds the classes
  and the fill.
* **Pixels.** GDAL's rasterizer (``rasterio.features.rasterize``) decides: a pixel is
  labelled when its centre is inside the polygon (``all_touched=False``), or when the polygon
  touches it at all (``all_touched=True``); lines and points burn the pixels they cross.
* **Overlaps.** ``overlap="last"`` (default): features are burnt in the order of the file or
  frame, so a later feature overwrites an earlier one; ``overlap="smallest"``: the smaller
  polygon wins (features burnt from the largest area to the smallest, areas measured in the
  labels' own CRS).
* **Left out, never silently.** Features without geometry or without a class are left out
  with a :class:`~xgeo.errors.LabelWarning` listing them; so are geometries entirely off the
  grid. When *no* geometry touches the grid, :func:`rasterize` raises
  :class:`~xgeo.errors.LabelError` (a label raster of fill only is a mistake, not a result).
  Points whose chip would leave the cube are listed likewise (see :func:`xgeo.pointchips.point_windows`).

Examples
--------
>>> import shapely, xgeo
>>> grid = xgeo.Grid.from_bounds((0, 0, 40, 40), crs="EPSG:32633", resolution=10)
>>> fields = [shapely.box(0, 0, 20, 40), shapely.box(20, 20, 40, 40)]
>>> labels = rasterize(fields, grid, column=None, crs="EPSG:32633")
>>> labels.values.tolist()
[[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]]
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from pyproj import CRS, Transformer

from .crs import find_spatial_dims, read_grid, write_grid
from .errors import CRSError, DecodeError, InputTypeError, LabelError, LabelWarning
from .grid import Grid, parse_crs
from .labelburn import burn, burn_blocks, burn_lazily
from .optional import require

__all__ = ["ClassTable", "SINGLE_CLASS", "SOURCE_ATTR", "check_column", "class_table", "listed",
           "rasterize", "read_vectors", "to_grid_crs"]

_FEATURE = "vector labels (xgeo.labels)"
_PARQUET = (".parquet", ".geoparquet")
_DTYPES = ("uint8", "uint16", "uint32", "int16", "int32")  # what GDAL's rasterizer writes
_LISTED = 20  # features named at most in one warning or error
#: ``column=None``: every geometry is one class of this name.
SINGLE_CLASS = "labelled"
#: ``frame.attrs`` key of the file a frame was read from (:func:`read_vectors`).
SOURCE_ATTR = "xgeo_source"


# ------------------------------------------------------------------------ vector input
def read_vectors(vectors: Any, *, crs: Any = None) -> tuple[Any, str]:
    """The labels as a GeoDataFrame with a CRS, and the words naming them in messages.

    Parameters
    ----------
    vectors
        A GeoDataFrame or GeoSeries, a path to a vector file (``.parquet``/``.geoparquet``
        read as GeoParquet, anything else by pyogrio), or shapely geometries.
    crs
        The CRS of shapely geometries, or of a file or frame that has none. A file or frame
        with a CRS of its own must agree with it.

    A frame read from a file carries the path in ``frame.attrs[SOURCE_ATTR]``, so reading it
    again (a frame passed on) still names the file in messages.

    Raises
    ------
    FileNotFoundError
        If the path does not exist.
    DecodeError
        If the file cannot be read as vector data.
    LabelError
        If there is no feature.
    CRSError
        If the labels have no CRS and ``crs=`` is not given, or ``crs=`` contradicts theirs.
    InputTypeError
        If ``vectors`` is none of the above.

    Examples
    --------
    >>> import shapely
    >>> frame, where = read_vectors([shapely.Point(1, 2)], crs=4326)
    >>> len(frame), frame.crs.to_epsg(), where
    (1, 4326, 'the shapely geometries')
    """
    gpd = require("geopandas", _FEATURE)
    import shapely

    if isinstance(vectors, str | os.PathLike):
        path = Path(vectors)
        where = f"label file {path}"
        if not path.exists():
            raise FileNotFoundError(f"{where} does not exist")
        try:
            if path.suffix.lower() in _PARQUET:
                frame = gpd.read_parquet(path)
            else:
                frame = gpd.read_file(path)
        except Exception as exc:  # pyogrio/pyarrow raise their own types
            raise DecodeError(f"cannot read {where} as vector data: "
                              f"{type(exc).__name__}: {exc}") from exc
        frame.attrs[SOURCE_ATTR] = str(path)
    elif isinstance(vectors, gpd.GeoDataFrame):
        source = vectors.attrs.get(SOURCE_ATTR)
        frame = vectors
        where = "the GeoDataFrame" if source is None else f"label file {source}"
    elif isinstance(vectors, gpd.GeoSeries):
        frame, where = gpd.GeoDataFrame(geometry=vectors), "the GeoSeries"
    else:
        where = "the shapely geometries"
        items = [vectors] if isinstance(vectors, shapely.Geometry) else vectors
        try:
            items = list(items)
        except TypeError:
            items = [items]
        if not all(g is None or isinstance(g, shapely.Geometry) for g in items):
            raise InputTypeError(
                f"cannot read labels from a {type(vectors).__name__}: pass a GeoDataFrame, a "
                "path to a vector file, or shapely geometries (with crs=)")
        frame = gpd.GeoDataFrame(geometry=gpd.GeoSeries(items))
    if len(frame) == 0:
        raise LabelError(f"{where} holds no feature: there is nothing to label")
    own = frame.crs
    if crs is not None:
        given = parse_crs(crs)
        if own is not None and not CRS(own).equals(given):
            raise CRSError(f"{where} is in {CRS(own).name!r} but crs={given.name!r} was passed; "
                           "drop crs= (the labels' own CRS is used) or reproject them")
        frame = frame.set_crs(given, allow_override=True)
    elif own is None:
        raise CRSError(f"{where} has no CRS, so it cannot be placed on the grid: pass crs= "
                       "(e.g. crs='EPSG:32621'), or give the file one (a shapefile needs "
                       "its .prj)")
    return frame, where


def to_grid_crs(geoms: np.ndarray, src: Any, grid: Grid, where: str = "the labels") -> np.ndarray:
    """Shapely geometries in ``src`` transformed to the CRS of ``grid``.

    Each edge is first cut into pieces of about one grid pixel (measured in ``src``), and
    geometries are clipped to a box a few pixels around the grid's footprint first, so a
    large polygon costs no more than the part of it near the grid.

    Raises
    ------
    CRSError
        If pyproj cannot transform ``src`` to the grid's CRS, or the geometries do not
        project (points off the projection's domain).

    Examples
    --------
    >>> import numpy as np, shapely
    >>> grid = Grid.from_bounds((500000, 0, 500100, 100), crs=32631, resolution=10)
    >>> out = to_grid_crs(np.array([shapely.Point(3.0, 0.0005)]), 4326, grid)
    >>> [round(v) for v in shapely.get_coordinates(out)[0]]
    [500000, 55]
    """
    import shapely

    source = parse_crs(src)
    if grid.crs is None:
        raise CRSError("the grid has no CRS, so labels cannot be placed on it; set one first "
                       "(obj.geo.set_crs(...))")
    if source.equals(grid.crs):
        return geoms
    try:
        tr = Transformer.from_crs(source, grid.crs, always_xy=True)
        left, bottom, right, top = grid.bounds_in(source)
    except Exception as exc:
        raise CRSError(f"the CRS of {where} ({source.name!r}) cannot be transformed to the "
                       f"grid's ({grid.crs.name!r}): {exc}") from exc
    step = max(right - left, top - bottom) / max(grid.shape) or 1.0
    if left <= right:  # not across the antimeridian: only the part near the grid matters
        geoms = shapely.clip_by_rect(geoms, left - 4 * step, bottom - 4 * step,
                                     right + 4 * step, top + 4 * step)
    geoms = shapely.segmentize(geoms, step)
    out = shapely.transform(geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    if not np.isfinite(shapely.get_coordinates(out)).all():
        raise CRSError(f"{where} do(es) not project from {source.name!r} into the grid's CRS "
                       f"{grid.crs.name!r} (points off the projection's domain)")
    return out


# ------------------------------------------------------------------------------ classes
@dataclass(frozen=True)
class ClassTable:
    """The classes of a label raster: codes, names, fill value and dtype.

    ``attrs`` are the CF attributes a label raster carries (``flag_values``,
    ``flag_meanings``, ``_FillValue``).
    """

    values: tuple[int, ...]
    names: tuple[str, ...]
    fill: int
    dtype: np.dtype

    @property
    def meanings(self) -> str:
        """``flag_meanings``: the names as CF words, blank-separated, in ``values`` order."""
        return " ".join(_word(n) for n in self.names)

    @property
    def attrs(self) -> dict[str, Any]:
        """The CF class attributes (``_FillValue`` in the raw layout of :mod:`xgeo.nodata`)."""
        return {"flag_values": np.asarray(self.values, dtype=self.dtype),
                "flag_meanings": self.meanings, "_FillValue": self.dtype.type(self.fill)}


def _word(name: str) -> str:
    return re.sub(r"\W+", "_", str(name).strip()) or "_"


def _integers(values: Any) -> bool:
    """True for an integer column (floats count when every value is whole: a null turns
    an integer column into floats)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return True
    if arr.dtype.kind == "f" and arr.size:
        return bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
    return False


def class_table(values: Sequence[Any], classes: Sequence[Any] | Mapping[Any, int] | None = None,
                fill: int | None = None, where: str = "the labels") -> tuple[ClassTable, np.ndarray]:
    """The class table of a label column, and each feature's code.

    Parameters
    ----------
    values
        The column's values, one per feature, none missing.
    classes
        None: text is numbered ``1..n`` in sorted order, integers keep their values. A list
        of names: numbered ``1..n`` in that order. ``{name: code}``: the codes (an integer
        column is matched on the codes, which the mapping names; text on the names).
    fill
        The fill value; by default 0, or the dtype's extreme value when 0 is a class.
    where
        Names the labels in messages.

    Raises
    ------
    LabelError
        A value that ``classes`` does not list, codes that are not distinct integers, a
        ``fill`` that is a class or does not fit.

    Examples
    --------
    >>> table, codes = class_table(["water", "crop", "water"])
    >>> table.values, table.meanings, table.fill, str(table.dtype), codes.tolist()
    ((1, 2), 'crop water', 0, 'uint8', [2, 1, 2])
    >>> class_table([0, 3, 3])[0].fill
    255
    """
    vals = np.asarray(values, dtype=object if not _integers(values) else np.int64)
    if _integers(values):
        codes = vals.astype(np.int64)
        present = sorted(set(codes.tolist()))
        if classes is None:
            names = {v: str(v) for v in present}
        elif isinstance(classes, Mapping):
            names = {_code(c, where): str(n) for n, c in classes.items()}
            unknown = [v for v in present if v not in names]
            if unknown:
                raise LabelError(f"{where}: classes= names the codes {sorted(names)}, not "
                                 f"{unknown[:_LISTED]} found in the column")
        else:
            raise LabelError(f"{where}: an integer column keeps its values; give classes= as "
                             "{name: value} to name them (a list numbers text classes)")
    else:
        text = [str(v) for v in vals]
        if classes is None:
            order = {n: i + 1 for i, n in enumerate(sorted(set(text)))}
        elif isinstance(classes, Mapping):
            order = {str(n): _code(c, where) for n, c in classes.items()}
        else:
            order = {str(n): i + 1 for i, n in enumerate(classes)}
        unknown = sorted(set(text) - set(order))
        if unknown:
            raise LabelError(f"{where}: the classes {unknown[:_LISTED]} are not in classes= "
                             f"({list(order)[:_LISTED]})")
        codes = np.array([order[t] for t in text], dtype=np.int64)
        names = {c: n for n, c in order.items()}
        if len(names) != len(order):
            raise LabelError(f"{where}: classes= gives two names the same code: {order}")
    flags = sorted(names)
    dtype, fill = _dtype_and_fill(flags, fill, where)
    table = ClassTable(tuple(flags), tuple(names[v] for v in flags), fill, dtype)
    return table, codes


def _code(value: Any, where: str) -> int:
    if isinstance(value, bool | np.bool_) or not float(value).is_integer():
        raise LabelError(f"{where}: class codes are integers, got {value!r}")
    return int(value)


def _dtype_and_fill(flags: list[int], fill: int | None, where: str) -> tuple[np.dtype, int]:
    lo, hi = min(flags), max(flags)
    if fill is not None:
        value = _code(fill, where)
        if value in flags:
            raise LabelError(f"{where}: fill={fill!r} is a class; the fill value must be none")
        for name in _DTYPES:
            info = np.iinfo(name)
            if info.min <= min(lo, value) and max(hi, value) <= info.max:
                return np.dtype(name), value
        raise LabelError(f"{where}: fill={fill!r} and the classes do not fit in one integer dtype")
    for name in _DTYPES:
        info = np.iinfo(name)
        if not (info.min <= lo and hi <= info.max):
            continue
        for candidate in (0, int(info.max) if info.min == 0 else int(info.min)):
            if candidate not in flags:
                return np.dtype(name), candidate
    raise LabelError(f"{where}: the class codes {lo}..{hi} leave no integer fill value free; "
                     "give fill=")


# ----------------------------------------------------------------------------- shared
def _grid_of(grid: Any) -> tuple[Grid, tuple[Hashable, Hashable]]:
    if isinstance(grid, Grid):
        return grid, ("y", "x")
    if isinstance(grid, xr.DataArray | xr.Dataset):
        return read_grid(grid), find_spatial_dims(grid)
    raise InputTypeError(f"grid must be an xgeo Grid or an xarray object, got "
                         f"{type(grid).__name__}")


def check_column(frame: Any, column: Hashable | None, where: str, what: str = "column") -> None:
    """Raise :class:`~xgeo.errors.LabelError` listing the columns when ``column`` is not one."""
    if column is not None and column not in frame.columns:
        have = [str(c) for c in frame.columns if c != frame.geometry.name]
        raise LabelError(f"{where} has no {what} {column!r}; its columns: {have}")


def listed(indices: Sequence[Any], reasons: Sequence[str] | None = None) -> str:
    """Feature indices (with their reasons) for a message: the first 20, then a count."""
    items = [str(i) if reasons is None else f"{i} ({r})" for i, r in
             zip(indices, reasons if reasons is not None else indices, strict=True)]
    more = f" and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return ", ".join(items[:_LISTED]) + more


def _missing(frame: Any, column: Hashable | None) -> np.ndarray:
    """True for features without geometry (None or empty) or without a class value."""
    geom = frame.geometry
    out = np.asarray(geom.isna() | geom.is_empty)
    if column is not None:
        out |= np.asarray(frame[column].isna())
    return out


# -------------------------------------------------------------------------- rasterize
def rasterize(
    vectors: Any,
    grid: Grid | xr.DataArray | xr.Dataset,
    column: Hashable | None = "name",
    all_touched: bool = False,
    *,
    classes: Sequence[Any] | Mapping[Any, int] | None = None,
    fill: int | None = None,
    crs: Any = None,
    overlap: Literal["last", "smallest"] = "last",
    name: Hashable = "labels",
    chunks: int | tuple[int, int] | Mapping[Hashable, int] | None = None,
) -> xr.DataArray:
    """Burn vector labels into a categorical DataArray on ``grid`` (see the module rules).

    Parameters
    ----------
    vectors
        A GeoDataFrame/GeoSeries, a path to a vector file, or shapely geometries (with
        ``crs=``); in any CRS.
    grid
        An xgeo :class:`~xgeo.grid.Grid`, or an xarray object whose grid (and spatial dim
        names) is used.
    column
        The column holding the classes (text or integers); None: every geometry is one class
        named :data:`SINGLE_CLASS`, code 1.
    all_touched
        Label every pixel a polygon touches, not only those whose centre it contains.
    classes
        How classes are numbered: None (sorted text ``1..n``; integers kept), a list of
        names (``1..n`` in that order) or ``{name: code}``.
    fill
        The value of unlabelled pixels (default 0, or the dtype's extreme when 0 is a class).
    crs
        The CRS of shapely geometries, or of labels that have none.
    overlap
        ``"last"``: a later feature overwrites an earlier one; ``"smallest"``: the smaller
        polygon wins.
    name
        The name of the DataArray.
    chunks
        Burn lazily, one dask task per block of this size (an int, ``(y, x)`` or
        ``{dim: size}``): each task holds only the geometries that reach its block, so a
        label raster larger than memory can be written block by block. None: follow the
        ``(y, x)`` chunks of ``grid`` when it is a dask-backed xarray object, else burn in
        memory. The pixels are the same either way.

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` integer classes with ``flag_values``, ``flag_meanings``, ``_FillValue``
        and ``label_column`` attributes and the grid mapping written by
        :func:`xgeo.crs.write_grid`; NumPy-backed (one byte or two per pixel) or dask-backed
        (see ``chunks``).

    Raises
    ------
    LabelError
        An empty file, a ``column`` that does not exist (the message lists the columns),
        classes that do not fit, no geometry on the grid.
    CRSError
        Labels without a CRS (and no ``crs=``), or in a CRS that cannot be transformed to
        the grid's.

    Warns
    -----
    LabelWarning
        Features left out: without geometry or class, or entirely off the grid.

    Examples
    --------
    >>> import shapely, xgeo
    >>> cube = xgeo.datasets.sentinel2_cube()
    >>> (x0, x1), (y0, y1) = cube.geo.grid.xy([10, 30], [10, 40], offset=0.0)  # pixel corners
    >>> field = shapely.box(x0, y1, x1, y0)  # rows 10..29, columns 10..39
    >>> labels = rasterize([field], cube, column=None, crs=cube.geo.crs)
    >>> int((labels == 1).sum()), labels.attrs["flag_meanings"]
    (600, 'labelled')
    """
    import shapely

    require("rasterio", "rasterizing " + _FEATURE)
    target, (y_dim, x_dim) = _grid_of(grid)
    blocks = burn_blocks(grid, chunks, target, (y_dim, x_dim))
    if overlap not in ("last", "smallest"):
        raise LabelError(f"overlap must be 'last' or 'smallest', got {overlap!r}")
    frame, where = read_vectors(vectors, crs=crs)
    check_column(frame, column, where)
    missing = _missing(frame, column)
    if missing.all():
        raise LabelError(f"no feature of {where} has both a geometry and a class"
                         + (f" in column {column!r}" if column is not None else ""))
    if missing.any():
        warnings.warn(f"{where}: {int(missing.sum())} feature(s) without geometry or class "
                      f"left out: {listed(frame.index[missing])}", LabelWarning, stacklevel=2)
    kept = frame[~missing]
    values = [SINGLE_CLASS] * len(kept) if column is None else kept[column].to_numpy()
    table, codes = class_table(values, classes if column is not None else None, fill, where)
    geoms = to_grid_crs(kept.geometry.to_numpy(), kept.crs, target, where)
    outline = shapely.Polygon(np.column_stack(target.footprint()))
    on = shapely.intersects(geoms, outline) & ~shapely.is_empty(geoms)
    if not on.any():
        raise LabelError(f"none of the {len(kept)} geometries of {where} lies on the grid "
                         f"(bounds {tuple(round(b, 3) for b in target.bounds)} in "
                         f"{target.crs.name!r}): wrong file, or wrong CRS?")
    if not on.all():
        warnings.warn(f"{where}: {int((~on).sum())} geometries lie entirely off the grid and "
                      f"label nothing: {listed(kept.index[~on])}", LabelWarning, stacklevel=2)
    area = shapely.area(kept.geometry.to_numpy()[on])  # of the whole polygon, in its own CRS
    geoms, codes = geoms[on], codes[on]
    if overlap == "smallest":
        order = np.argsort(-area, kind="stable")
        geoms, codes = geoms[order], codes[order]
    if blocks is None:
        burnt = burn(geoms, codes, target, table.fill, all_touched, table.dtype)
    else:
        burnt = burn_lazily(geoms, codes, target, blocks, table.fill, all_touched,
                            table.dtype)
    attrs = {**table.attrs, "long_name": f"classes from {where}",
             "label_column": "" if column is None else str(column)}
    out = xr.DataArray(burnt, dims=(y_dim, x_dim), name=name, attrs=attrs)
    return write_grid(out, target)

