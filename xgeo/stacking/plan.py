"""The stack plan: the output grid, the time steps and which assets each output block needs.

Nothing here reads a pixel. The grid is ``grid=`` or derived as gdalwarp derives it
(:func:`xgeo.reproject.output_grid` with ``-te``/``-tr``): in ``crs`` (default the most common
CRS of the assets, ties to the first), at ``resolution`` (default the finest band's pixel size
in that CRS: a band's native size where it has scenes in that CRS, else gdalwarp's suggested size) over ``bounds`` (default the union of the assets' footprints). Time steps group
the scenes (:func:`group_key`); within a step the assets are ordered by time, then by the
order the sources were given: the first valid pixel in that order wins the mosaic.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from pyproj import CRS, Transformer

from ..errors import NoOverlapError, StackError, StackWarning
from ..grid import Grid, parse_crs
from ..reproject.core import resolve_nodata
from ..reproject.output_grid import output_grid, suggested_grid
from .sources import Asset, Same, intern_crs

__all__ = ["StackPlan", "make_stack_plan", "group_key", "GROUPS"]

GROUPS = ("solar_day", "time", None)
"""Accepted ``group=`` values: local solar day, identical timestamps, or one step per scene."""


@functools.lru_cache(maxsize=256)
def _transformer_key(src: Same, dst: Same) -> Transformer:
    return Transformer.from_crs(src.obj, dst.obj, always_xy=True)


def _transformer(src: CRS, dst: CRS) -> Transformer:
    return _transformer_key(Same(src), Same(dst))


@functools.lru_cache(maxsize=1024)
def _same_crs_key(a: Same, b: Same) -> bool:
    return a.obj is b.obj or a.obj == b.obj


def same_crs(a: CRS, b: CRS) -> bool:
    """``a == b``, remembered for the pair of objects (CRS comparison is slow)."""
    return a is b or _same_crs_key(Same(a), Same(b))


@functools.lru_cache(maxsize=4096)
def _bounds_key(src: Same, transform: Any, shape: tuple[int, int], dst: Same) -> tuple[float, ...]:
    grid = Grid(src.obj, transform, shape)
    if same_crs(src.obj, dst.obj):
        return grid.bounds
    left, bottom, right, top = _transformer(src.obj, dst.obj).transform_bounds(*grid.bounds, densify_pts=21)
    if not all(map(math.isfinite, (left, bottom, right, top))):
        return (math.nan,) * 4
    if left > right and dst.obj.is_geographic:
        right += 360.0  # across the antimeridian: longitudes continue past 180
    return left, bottom, right, top


def _bounds_in(grid: Grid, crs: CRS) -> tuple[float, float, float, float]:
    """``grid``'s footprint bounds in ``crs`` (exact in its own CRS, else densified)."""
    return _bounds_key(Same(grid.crs), grid.transform, grid.shape, Same(crs))


@functools.lru_cache(maxsize=4096)
def _resolution_key(src: Same, transform: Any, shape: tuple[int, int], dst: Same) -> tuple[float, float]:
    grid = Grid(src.obj, transform, shape)
    if same_crs(src.obj, dst.obj):
        return abs(grid.transform.a), abs(grid.transform.e)
    res = suggested_grid(grid, dst.obj).resolution
    return abs(res.x), abs(res.y)


def _resolution_in(grid: Grid, crs: CRS) -> tuple[float, float]:
    """``grid``'s pixel size in ``crs``: its own, else gdalwarp's suggested size there."""
    return _resolution_key(Same(grid.crs), grid.transform, grid.shape, Same(crs))


def _longitude(grid: Grid) -> float:
    x, y = grid.xy(grid.height / 2 - 0.5, grid.width / 2 - 0.5)
    lon, _ = _transformer(grid.crs, intern_crs("EPSG:4326")).transform(float(x), float(y))
    return float(lon)


def group_key(asset: Asset, group: str | None, lon: float) -> Any:
    """The time step of ``asset``: its local solar date (odc-stac's ``solar_day``: UTC time plus
    ``int(lon / 15)`` hours), its timestamp (``"time"``), or its scene (None).

    Examples
    --------
    >>> from xgeo.stacking.sources import Asset
    >>> a = Asset("x.tif", "B1", 1, datetime(2020, 5, 18, 23, 0), 0)
    >>> group_key(a, "solar_day", 30.0), group_key(a, "solar_day", -60.0)
    (datetime.date(2020, 5, 19), datetime.date(2020, 5, 18))
    """
    if group == "solar_day":
        return (asset.time + timedelta(hours=int(lon / 15))).date()
    if group == "time":
        return asset.time
    return (asset.scene, asset.time)


@dataclass(frozen=True)
class StackPlan:
    """Everything about a stack that does not depend on pixel values.

    Attributes
    ----------
    grid
        The output grid.
    times
        One time per step, sorted: the earliest asset time of the step (as odc-stac).
    bands
        Output variable names, in first-seen order.
    steps
        Per time step, the assets in mosaic order (time, then source order).
    dtypes, fills
        Per band, the output dtype (NumPy's promotion of the sources' dtypes) and fill value.
    footprints
        Per asset (by ``id``), its pixel box ``(row0, row1, col0, col1)`` on the output grid.
    scales
        Per asset (by ``id``), the kernel scale ``(x, y)``: output pixels per source pixel.
    implicit
        Bands whose fill is nobody's nodata (an integer band whose sources declare none and no
        ``nodata=``): a valid value equal to it is kept, not nudged off it.
    """

    grid: Grid
    times: list[datetime]
    bands: list[str]
    steps: list[list[Asset]]
    dtypes: dict[str, np.dtype]
    fills: dict[str, float | int]
    footprints: dict[int, tuple[int, int, int, int]]
    scales: dict[int, tuple[float, float]]
    implicit: frozenset[str] = frozenset()

    def assets_for(self, step: int, band: str, r0: int, r1: int, c0: int, c1: int) -> list[Asset]:
        """The assets of ``band`` at time ``step`` whose footprint meets output rows
        ``[r0, r1)`` and columns ``[c0, c1)``, in mosaic order."""
        out = []
        for a in self.steps[step]:
            if a.band != band:
                continue
            fr0, fr1, fc0, fc1 = self.footprints[id(a)]
            if fr0 < r1 and r0 < fr1 and fc0 < c1 and c0 < fc1:
                out.append(a)
        return out


def _default_crs(assets: Sequence[Asset]) -> CRS:
    counts = Counter(Same(a.grid.crs) for a in assets)
    merged: dict[Same, int] = {}  # equal CRSs held by different objects count together
    for key, n in counts.items():
        first = next((k for k in merged if same_crs(k.obj, key.obj)), key)
        merged[first] = merged.get(first, 0) + n
    best = max(merged.values())
    return next(k.obj for k, n in merged.items() if n == best)


def _derive_grid(assets: Sequence[Asset], crs: Any, resolution: Any, bounds: Any) -> Grid:
    target = parse_crs(crs) if crs is not None else _default_crs(assets)
    if resolution is None:
        # Per band: its finest native pixel among scenes already in the target CRS, else its
        # finest pixel once reprojected (gdalwarp's suggested size); then the finest band.
        res = []
        for band in dict.fromkeys(a.band for a in assets):
            members = [a for a in assets if a.band == band]
            native = [a for a in members if same_crs(a.grid.crs, target)]
            res += [_resolution_in(a.grid, target) for a in (native or members)]
        resolution = (min(r[0] for r in res), min(r[1] for r in res))
    if bounds is None:
        boxes = np.array([_bounds_in(a.grid, target) for a in assets])
        ok = np.isfinite(boxes).all(axis=1)
        if not ok.any():
            raise NoOverlapError(f"no scene's footprint can be placed in {target.name!r}; give bounds=")
        boxes = boxes[ok]
        if target.is_geographic:
            boxes = _one_longitude_frame(boxes)
        bounds = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
    return output_grid(assets[0].grid, target, resolution=resolution, bounds=bounds)


def _one_longitude_frame(boxes: np.ndarray) -> np.ndarray:
    """Lon/lat footprint boxes in one frame: the boxes west of 0 moved 360 degrees east when
    that makes their union narrower (scenes on both sides of the antimeridian)."""
    moved = boxes.copy()
    west = moved[:, 2] <= 0.0
    moved[west, 0] += 360.0
    moved[west, 2] += 360.0
    width = np.ptp(np.concatenate([boxes[:, 0], boxes[:, 2]]))
    return moved if np.ptp(np.concatenate([moved[:, 0], moved[:, 2]])) < width else boxes


def _footprint(a: Asset, grid: Grid) -> tuple[int, int, int, int] | None:
    """Output pixel box of ``a``'s footprint, one pixel wider each way, clipped; None if off-grid.
    On a lon/lat grid the footprint's copies 360 degrees east and west count too (a scene
    across the antimeridian on a -180..180 grid, or on one past 180)."""
    left, bottom, right, top = _bounds_in(a.grid, grid.crs)
    if not all(map(math.isfinite, (left, bottom, right, top))):
        return None
    found = []
    for shift in ((0.0, -360.0, 360.0) if grid.crs.is_geographic else (0.0,)):
        xs = np.array([left, right, left, right]) + shift
        rows, cols = grid.rowcol(xs, np.array([top, top, bottom, bottom]))
        r0 = max(int(math.floor(rows.min())) - 1, 0)
        r1 = min(int(math.ceil(rows.max())) + 1, grid.height)
        c0 = max(int(math.floor(cols.min())) - 1, 0)
        c1 = min(int(math.ceil(cols.max())) + 1, grid.width)
        if r0 < r1 and c0 < c1:
            found.append((r0, r1, c0, c1))
    if not found:
        return None
    return (min(f[0] for f in found), max(f[1] for f in found),
            min(f[2] for f in found), max(f[3] for f in found))


def _scale(a: Asset, grid: Grid) -> tuple[float, float]:
    """Output pixels per source pixel along x and y (the kernel scale of make_plan), from the
    footprint's extent in the output CRS."""
    left, bottom, right, top = _bounds_in(a.grid, grid.crs)
    return ((right - left) / abs(grid.transform.a) / a.grid.width,
            (top - bottom) / abs(grid.transform.e) / a.grid.height)


def _band_fill(band: str, assets: list[Asset], dtype: np.dtype, nodata: Any) -> float | int:
    declared = {a.nodata for a in assets}
    src = declared.pop() if len(declared) == 1 else None
    if src is not None and not (isinstance(src, float) and math.isnan(src)) and dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not (info.min <= src <= info.max):
            src = None
    value = resolve_nodata(dtype, dtype, src, nodata)
    if value is None:
        return math.nan
    return int(value) if dtype.kind in "iub" else float(value)


def make_stack_plan(assets: Sequence[Asset], *, grid: Grid | None = None, crs: Any = None,
                    resolution: Any = None, bounds: Any = None, group: str | None = "solar_day",
                    nodata: Any = None) -> StackPlan:
    """Plan the stack of ``assets`` (see the module docstring).

    Raises
    ------
    StackError
        For an unknown ``group`` or a ``grid`` without CRS.
    NoOverlapError
        If no asset overlaps the grid (assets off the grid are skipped with a
        :class:`~xgeo.errors.StackWarning` when others overlap).
    """
    if group not in GROUPS:
        raise StackError(f"group={group!r}: use 'solar_day', 'time' or None (one step per scene)")
    if grid is not None:
        if not isinstance(grid, Grid) or grid.crs is None:
            raise StackError(f"grid= must be an xgeo Grid with a CRS, got {grid!r}")
        if crs is not None or resolution is not None or bounds is not None:
            raise StackError("give grid= or crs=/resolution=/bounds=, not both")
    else:
        grid = _derive_grid(assets, crs, resolution, bounds)
    footprints, scales, kept, off = {}, {}, [], []
    for a in assets:
        box = _footprint(a, grid)
        if box is None:
            off.append(a)
            continue
        footprints[id(a)] = box
        scales[id(a)] = _scale(a, grid)
        kept.append(a)
    if not kept:
        names = sorted({a.href for a in assets})
        raise NoOverlapError(
            f"no scene overlaps the output grid {grid!r} (bounds {tuple(round(v, 3) for v in grid.bounds)}): "
            f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}; check bounds= (left, bottom, right, "
            "top, in the target CRS) and crs=")
    if off:
        names = sorted({a.href for a in off})
        warnings.warn(f"{len(names)} scene file(s) do not overlap the output grid and are skipped: "
                      f"{', '.join(names)}", StackWarning, stacklevel=3)
    lons: dict[int, float] = {}
    steps: dict[Any, list[Asset]] = {}
    for a in kept:
        if group == "solar_day" and a.scene not in lons:
            lons[a.scene] = _longitude(a.grid)
        steps.setdefault(group_key(a, group, lons.get(a.scene, 0.0)), []).append(a)
    ordered = []
    for members in steps.values():
        members.sort(key=lambda a: (a.time, a.scene))
        ordered.append(members)
    ordered.sort(key=lambda m: (m[0].time, m[0].scene))
    bands = list(dict.fromkeys(a.band for a in kept))
    dtypes, fills, implicit = {}, {}, set()
    for band in bands:
        members = [a for a in kept if a.band == band]
        dtype = np.result_type(*[a.dtype for a in members])
        dtypes[band] = dtype
        fills[band] = _band_fill(band, members, dtype, nodata)
        declared = {a.nodata for a in members}
        common = declared.pop() if len(declared) == 1 else None
        if nodata is None and dtype.kind in "iub" and (common is None or fills[band] != common):
            implicit.add(band)  # the fill is nobody's nodata
    return StackPlan(grid, [m[0].time for m in ordered], bands, ordered, dtypes, fills, footprints, scales,
                     frozenset(implicit))
