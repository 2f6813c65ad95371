"""Chips centred on labelled points, as InstaGeo builds them (:meth:`xgeo.chips.ChipGrid.around`).

One chip per point: the pixel containing the point is the chip's centre pixel (row
``size[0] // 2``, column ``size[1] // 2`` of the chip; for an even size the lower-right of
the four central pixels). Points in any CRS are transformed to the cube's (the vector inputs
and rules of :mod:`xgeo.labels`). The chip table (:meth:`~xgeo.chips.ChipGrid.to_dataframe`)
records, per chip, ``point`` (the point's index in the input), ``label`` (its class),
``label_code`` (the class code, numbered as :func:`xgeo.labels.rasterize` numbers them) and,
with ``time=``, ``label_time`` (the point's date; the chip is on the cube's nearest date).

Points that get no chip are never dropped silently: outside the cube, whose chip would leave
it, without geometry, class or date. A :class:`~xgeo.errors.LabelWarning` lists them with the
reason, and the result's ``outside`` table holds them (the input rows plus a ``reason``
column). When no point gets a chip, :class:`~xgeo.errors.LabelError` is raised.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from .crs import read_grid
from .errors import ChipError, LabelError, LabelWarning
from .labels import check_column, class_table, listed, read_vectors, to_grid_crs

__all__ = ["PointWindows", "chips_around", "point_windows"]


@dataclass(frozen=True)
class PointWindows:
    """Chip windows centred on labelled points.

    ``rows``/``cols`` are the windows' upper-left pixels, ``t0``/``t1`` their time slices
    (None without a time dim), ``per_step`` whether each chip is one time step, ``columns``
    the chip-table columns, ``outside`` the points without a chip, with a ``reason`` column.
    """

    rows: np.ndarray
    cols: np.ndarray
    t0: np.ndarray | None
    t1: np.ndarray | None
    per_step: bool
    columns: dict[str, np.ndarray]
    outside: Any


def point_windows(
    source: xr.DataArray,
    points: Any,
    size: tuple[int, int],
    *,
    time: Hashable | None = None,
    column: Hashable | None = "name",
    crs: Any = None,
    classes: Sequence[Any] | Mapping[Any, int] | None = None,
) -> PointWindows:
    """One chip window of ``size`` centred on each point (see the module docstring).

    Parameters
    ----------
    source
        The cube, ``([time,] band, y, x)`` (a chip grid's ``source``).
    points
        Point labels, as :func:`xgeo.labels.read_vectors` takes them.
    size
        ``(height, width)`` of a chip in pixels.
    time
        A column of dates (datetimes, or ISO 8601 text; time zones are taken to UTC): each
        point's chip is on the cube's nearest date. None: one chip
        per point and time step (as :func:`xgeo.chips.make_chips` does), or one per point
        without a time dim.
    column
        The class column; None for none.
    crs, classes
        As for :func:`xgeo.labels.rasterize`.

    Returns
    -------
    PointWindows
        Windows, chip-table columns and the points without a chip.

    Raises
    ------
    LabelError
        A column that does not exist, geometries that are not points, no point with a chip,
        dates that cannot be read.
    ChipError
        ``time=`` on a cube without a time dim.

    Warns
    -----
    LabelWarning
        Points without a chip, listed with the reason.

    Examples
    --------
    >>> import shapely, xgeo
    >>> cube = xgeo.datasets.sentinel2_cube()["reflectance"]
    >>> x, y = float(cube.x[50]), float(cube.y[40])
    >>> w = point_windows(cube, [shapely.Point(x, y)], (8, 8), column=None, crs=cube.geo.crs)
    >>> int(w.rows[0]), int(w.cols[0]), len(w.rows)  # one chip per time step
    (36, 46, 5)
    """
    import pandas as pd
    import shapely

    grid = read_grid(source)
    h, w = size
    ny, nx = grid.shape
    frame, where = read_vectors(points, crs=crs)
    check_column(frame, column, where)
    check_column(frame, time, where, "time column")
    has_time = "time" in source.dims
    if time is not None and not has_time:
        raise ChipError(f"time={time!r} picks the nearest date of the cube, which has no time "
                        f"dim (dims {source.dims}); drop time=")
    kinds = set(frame.geometry.dropna().geom_type) - {"Point"}
    if kinds:
        raise LabelError(f"{where}: chips are centred on points, not on {sorted(kinds)}; "
                         "take their centroids or representative points first")
    reason = np.full(len(frame), "", dtype=object)
    reason[np.asarray(frame.geometry.isna() | frame.geometry.is_empty)] = "no geometry"
    if column is not None:
        reason[(reason == "") & np.asarray(frame[column].isna())] = "no class"
    ok = reason == ""
    rows = np.zeros(len(frame), np.int64)
    cols = np.zeros(len(frame), np.int64)
    if ok.any():
        geoms = to_grid_crs(frame.geometry.to_numpy()[ok], frame.crs, grid, where)
        r, c = grid.rowcol(shapely.get_x(geoms), shapely.get_y(geoms))
        inside = (r >= 0) & (r < ny) & (c >= 0) & (c < nx)  # NaN compares False
        r0 = np.floor(np.where(inside, r, 0)).astype(np.int64) - h // 2
        c0 = np.floor(np.where(inside, c, 0)).astype(np.int64) - w // 2
        leaves = inside & ((r0 < 0) | (r0 + h > ny) | (c0 < 0) | (c0 + w > nx))
        at = np.flatnonzero(ok)
        reason[at[~inside]] = "outside the cube"
        reason[at[leaves]] = "chip leaves the cube"
        rows[ok], cols[ok] = r0, c0
    dates = None
    if time is not None:
        try:
            stamps = frame[time]
            if not pd.api.types.is_datetime64_any_dtype(stamps):
                stamps = pd.to_datetime(stamps, format="ISO8601")
            if getattr(stamps.dt, "tz", None) is not None:
                stamps = stamps.dt.tz_convert(None)  # UTC, as the cube's times are
            dates = stamps.to_numpy()
        except (ValueError, TypeError) as exc:
            raise LabelError(f"{where}: the time column {time!r} does not hold dates: "
                             f"{exc}") from exc
        reason[(reason == "") & np.isnat(dates)] = "no date"
    keep = reason == ""
    if not keep.any():
        raise LabelError(f"none of the {len(frame)} points of {where} gets a chip of {size} "
                         f"on this {grid.shape} cube: {listed(frame.index, reason)}")
    if not keep.all():
        warnings.warn(f"{where}: {int((~keep).sum())} point(s) get no chip of {size}: "
                      f"{listed(frame.index[~keep], reason[~keep])}", LabelWarning,
                      stacklevel=3)
    columns: dict[str, np.ndarray] = {"point": frame.index.to_numpy()[keep]}
    if column is not None:
        # numbered over every feature, as rasterize numbers them, not over those that got
        # a chip (which would shift the codes with the scene)
        labels = frame[column].to_numpy()
        columns["label"] = labels[keep]
        columns["label_code"] = class_table(labels, classes, None, where)[1][keep]
    rows, cols = rows[keep], cols[keep]
    t0 = t1 = None
    if dates is not None:
        times = source["time"].values
        picked = dates[keep].astype(times.dtype)
        t0 = np.abs(times[None, :] - picked[:, None]).argmin(axis=1).astype(np.int64)
        t1 = t0 + 1
        columns["label_time"] = picked
    elif has_time:  # one chip per point and time step, laid out as make_chips lays them
        nt, n = source.sizes["time"], rows.size
        t0 = np.repeat(np.arange(nt, dtype=np.int64), n)
        t1 = t0 + 1
        rows, cols = np.tile(rows, nt), np.tile(cols, nt)
        columns = {k: np.tile(v, nt) for k, v in columns.items()}
    outside = frame[~keep].assign(reason=reason[~keep])
    return PointWindows(rows, cols, t0, t1, has_time, columns, outside)


def chips_around(
    cls: type,
    obj: xr.DataArray | xr.Dataset,
    points: Any,
    size: int | Sequence[int],
    *,
    time: Hashable | None = None,
    column: Hashable | None = "name",
    crs: Any = None,
    classes: Sequence[Any] | Mapping[Any, int] | None = None,
    **bands: Any,
) -> Any:
    """One chip centred on each labelled point: ``ChipGrid.around(obj, points, size, ...)``.

    Parameters
    ----------
    obj
        The cube (DataArray or Dataset).
    points
        Point labels: a GeoDataFrame, a vector file, or shapely points with ``crs=``.
    size
        Chip size in pixels, an int or ``(y, x)``.
    time, column, crs, classes
        As for :func:`point_windows`.
    **bands
        ``variable``, ``variables``, ``bands``, ``dims``: as for
        :func:`xgeo.chips.make_chips`.

    Returns
    -------
    ChipGrid
        One chip per point (per point and time step when the cube has time and ``time=`` is
        None); the chip table records ``point``, ``label``, ``label_code`` (and
        ``label_time``); ``outside`` holds the points without a chip.

    Raises
    ------
    LabelError, ChipError
        As :func:`point_windows`; a chip larger than the cube.

    Examples
    --------
    >>> import shapely, xgeo
    >>> from xgeo.chips import ChipGrid
    >>> cube = xgeo.datasets.sentinel2_cube()
    >>> pts = [shapely.Point(float(cube.x[50]), float(cube.y[40]))]
    >>> chips = ChipGrid.around(cube, pts, 8, column=None, crs=cube.geo.crs,
    ...                         variable="reflectance")
    >>> len(chips), chips[0].window, len(chips.outside)
    (5, (slice(36, 44, None), slice(46, 54, None)), 0)
    """
    base = obj.geo.chips(size, **bands)  # the channels, fill and layout make_chips chooses
    found = point_windows(base.source, points, base.size, time=time, column=column, crs=crs,
                          classes=classes)
    chips = cls(base.source, size=base.size, rows=found.rows, cols=found.cols, t0=found.t0,
                t1=found.t1, valid=None, boundary="drop", fill_value=base.fill_value,
                per_step=found.per_step, origin=obj, band_kwargs=base.band_kwargs,
                columns=found.columns)
    chips.outside = found.outside
    return chips
