"""The output grid of a reprojection, chosen as gdalwarp chooses it.

Policy
------
* Only a target CRS: gdalwarp's suggested grid — the source outline (21 points
  per edge, or a 21 x 21 lattice when an edge point does not project) is
  transformed, its bounding box is the extent, and square pixels are sized so the
  source's diagonal keeps its pixel count. One deliberate difference: when a
  geographic target's footprint straddles the antimeridian, longitudes continue
  past 180 (e.g. 178 to 185) instead of gdalwarp's grid spanning the whole globe.
* ``resolution`` (and optionally ``bounds``): gdalwarp ``-tr [-te]``: the extent is
  the given bounds (else the suggested extent); pixel counts are
  ``int((max - min) / res + 0.5)`` from the top-left corner.
  ``target_aligned_pixels=True`` (gdalwarp ``-tap``) first snaps the extent
  outwards to multiples of the resolution.
* ``shape`` (and optionally ``bounds``): gdalwarp ``-ts [-te]``: the extent is split
  into exactly that many pixels.
* Only ``bounds``: gdalwarp ``-te``: the suggested pixel size, adjusted so a whole
  number of pixels fills the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from affine import Affine
from pyproj import Transformer

from ..errors import CRSError, ReprojectionError
from ..grid import Grid, parse_crs

__all__ = ["suggested_grid", "output_grid"]

_STEPS = 20


def _edge_points(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.arange(_STEPS + 1) / _STEPS
    r[-1] = 1.0
    cols = np.concatenate([r * w, r * w, np.zeros_like(r), np.full_like(r, w)])
    rows = np.concatenate([np.zeros_like(r), np.full_like(r, h), r * h, r * h])
    return cols, rows


def _lattice_points(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.arange(_STEPS + 1) / _STEPS
    r[-1] = 1.0
    rows, cols = np.meshgrid(r * h, r * w, indexing="ij")
    return cols.reshape(-1), rows.reshape(-1)


def suggested_grid(src: Grid, dst_crs: Any) -> Grid:
    """gdalwarp's default output grid for ``src`` reprojected to ``dst_crs``.

    Examples
    --------
    >>> src = Grid.from_bounds((500000, 5000000, 510000, 5010000), crs=32633, resolution=100)
    >>> g = suggested_grid(src, "EPSG:4326")
    >>> g.crs.to_epsg(), g.shape
    (4326, (82, 116))
    """
    if src.crs is None:
        raise CRSError("the source has no CRS; set one first (obj.geo.set_crs(...))")
    dst_crs = parse_crs(dst_crs)
    tr = Transformer.from_crs(src.crs, dst_crs, always_xy=True)
    w, h = src.width, src.height

    def project(cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = src.xy(rows, cols, offset=0.0)
        with np.errstate(invalid="ignore"):
            ox, oy = tr.transform(x, y, errcheck=False)
        ox = np.asarray(ox, dtype="float64")
        oy = np.asarray(oy, dtype="float64")
        bad = ~(np.isfinite(ox) & np.isfinite(oy))
        ox[bad] = np.nan
        oy[bad] = np.nan
        return ox, oy

    cols, rows = _edge_points(w, h)
    ox, oy = project(cols, rows)
    lattice = not np.isfinite(ox).all()
    # The interior counts too: where the target's seam or widest part lies inside the
    # source (a world raster to Robinson centred on 150 E: the outline alone gave 72 % of
    # the width), the 21 x 21 lattice and the wraps found along its rows widen the extent;
    # for a footprint whose outline is its extreme they change nothing
    lcols, lrows = _lattice_points(w, h)
    lx, ly = project(lcols, lrows)
    if lattice:
        cols, rows, ox, oy = lcols, lrows, lx, ly
    ok = np.isfinite(ox)
    if ok.sum() < 10:
        raise ReprojectionError(
            f"too few points of the source outline project into {dst_crs.name!r} "
            f"({int(ok.sum())} of {ox.size}); give bounds= and resolution= explicitly"
        )
    inside = np.isfinite(lx)
    xs = list(ox[ok]) + list(lx[inside])
    ys = list(oy[ok]) + list(ly[inside])
    # Where consecutive samples along a row fail or change the sign of x (a wrap),
    # bisect to pin the extent down, as gdalwarp does.
    n = _STEPS + 1
    for k in range(n):
        for m in range(1, n):
            i = k * n + m
            _bisect(project, lcols[i - 1], lcols[i], lrows[i], lx[i - 1], lx[i], xs, ys)
    poles = _poles_inside(src, dst_crs) if dst_crs.is_geographic else ()
    ys.extend(poles)  # a pole inside the source: the grid reaches it (gdalwarp does the same)
    xs_arr = np.asarray(xs)
    if dst_crs.is_geographic and np.ptp(xs_arr) > 180.0:
        # The footprint straddles the antimeridian: gdalwarp would span the whole globe;
        # use longitudes past 180 instead so the grid hugs the footprint.
        wrapped = np.where(xs_arr < 0.0, xs_arr + 360.0, xs_arr)
        if np.ptp(wrapped) < 180.0:
            xs_arr = wrapped
            ox = np.where(ox < 0.0, ox + 360.0, ox)
    min_x, max_x, min_y, max_y = float(xs_arr.min()), float(xs_arr.max()), min(ys), max(ys)
    dx = dy = 0.0
    if ok[0] and ok[-1]:
        dx, dy = ox[-1] - ox[0], oy[-1] - oy[0]
    if dx == 0.0 or dy == 0.0:
        dx, dy = max_x - min_x, max_y - min_y
    size = math.hypot(dx, dy) / math.hypot(w, h)
    nx = int((max_x - min_x) / size + 0.5)
    ny = int((max_y - min_y) / size + 0.5)
    if nx < 1 or ny < 1:
        raise ReprojectionError(f"the source footprint in {dst_crs.name!r} is degenerate")
    return Grid(dst_crs, Affine(size, 0.0, min_x, 0.0, -size, max_y), (ny, nx))


def _poles_inside(src: Grid, dst_crs: Any) -> list[float]:
    """The latitudes (90, -90) of the geographic ``dst_crs``'s poles that lie inside the
    source grid (its outline alone never reaches them: a polar stereographic raster
    around the North Pole kept 51 of 10,000 pixels)."""
    tr = Transformer.from_crs(dst_crs, src.crs, always_xy=True)
    found = []
    for lat in (90.0, -90.0):
        with np.errstate(invalid="ignore"):
            x, y = tr.transform(0.0, lat, errcheck=False)
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        col, row = ~src.transform @ (x, y)
        if 0.0 <= col <= src.width and 0.0 <= row <= src.height:
            found.append(lat)
    return found


def _bisect(project, c0, c1, row, x0, x1, xs, ys) -> None:
    ok0, ok1 = x0 == x0, x1 == x1
    if not (ok0 or ok1):
        return
    for _ in range(16):
        if ok0 and ok1 and not x0 * x1 < 0.0:
            return
        mid = 0.5 * (c0 + c1)
        px, py = project(np.array([mid]), np.array([row]))
        x = float(px[0])
        if x != x:
            if not ok0:
                c0 = mid
            elif not ok1:
                c1 = mid
            else:
                return
            continue
        xs.append(x)
        ys.append(float(py[0]))
        if not ok0 or x0 * x < 0.0:
            ok1, c1, x1 = True, mid, x
        else:
            ok0, c0, x0 = True, mid, x


def output_grid(
    src: Grid,
    dst_crs: Any = None,
    *,
    resolution: float | Sequence[float] | None = None,
    shape: Sequence[int] | None = None,
    bounds: Sequence[float] | None = None,
    target_aligned_pixels: bool = False,
) -> Grid:
    """The output grid for a reprojection of ``src`` (see the module's policy).

    ``dst_crs`` defaults to the source CRS (a pure resampling).

    Examples
    --------
    >>> src = Grid.from_bounds((500000, 5000000, 510000, 5010000), crs=32633, resolution=100)
    >>> output_grid(src, 32633, resolution=30, target_aligned_pixels=True).bounds
    (499980.0, 4999980.0, 510000.0, 5010000.0)
    """
    if src.crs is None:
        raise CRSError("the source has no CRS; set one first (obj.geo.set_crs(...))")
    dst_crs = src.crs if dst_crs is None else parse_crs(dst_crs)
    if resolution is not None and shape is not None:
        raise ReprojectionError("give resolution= or shape=, not both")
    if target_aligned_pixels and resolution is None:
        raise ReprojectionError("target_aligned_pixels=True needs resolution= (as gdalwarp -tap needs -tr)")
    if resolution is None and shape is None and bounds is None:
        return suggested_grid(src, dst_crs)
    if bounds is not None:
        min_x, min_y, max_x, max_y = _check_bounds(bounds)
    else:
        g = suggested_grid(src, dst_crs)
        min_x, min_y, max_x, max_y = g.bounds
    if resolution is not None:
        xres, yres = _check_resolution(resolution)
        if target_aligned_pixels:
            min_x = math.floor(min_x / xres) * xres
            max_x = math.ceil(max_x / xres) * xres
            min_y = math.floor(min_y / yres) * yres
            max_y = math.ceil(max_y / yres) * yres
        nx = int((max_x - min_x + xres / 2.0) / xres)
        ny = int((max_y - min_y + yres / 2.0) / yres)
    elif shape is not None:
        try:
            ny, nx = (int(v) for v in shape)
        except (TypeError, ValueError) as exc:
            raise ReprojectionError(f"shape must be (height, width), got {shape!r}") from exc
        if nx < 1 or ny < 1:
            raise ReprojectionError(f"shape must be positive, got {tuple(shape)}")
        xres, yres = (max_x - min_x) / nx, (max_y - min_y) / ny
    else:
        size = suggested_grid(src, dst_crs).resolution.x
        nx = max(1, int((max_x - min_x + size / 2.0) / size))
        ny = max(1, int((max_y - min_y + size / 2.0) / size))
        xres, yres = (max_x - min_x) / nx, (max_y - min_y) / ny
    if nx < 1 or ny < 1:
        raise ReprojectionError(
            f"resolution {resolution!r} is larger than the output extent {(min_x, min_y, max_x, max_y)}"
        )
    return Grid(dst_crs, Affine(xres, 0.0, min_x, 0.0, -yres, max_y), (ny, nx))


def _check_resolution(resolution: Any) -> tuple[float, float]:
    pair = (resolution, resolution) if np.ndim(resolution) == 0 else tuple(resolution)
    try:
        xres, yres = (float(v) for v in pair)
    except (TypeError, ValueError) as exc:
        raise ReprojectionError(f"resolution must be a number or an (x, y) pair, got {resolution!r}") from exc
    if not (xres > 0 and yres > 0 and math.isfinite(xres) and math.isfinite(yres)):
        raise ReprojectionError(
            f"resolution must be positive and finite, got {resolution!r}: give pixel sizes "
            "without sign (north-up output is implied), e.g. resolution=10 or (10, 10)"
        )
    return xres, yres


def _check_bounds(bounds: Any) -> tuple[float, float, float, float]:
    try:
        left, bottom, right, top = (float(v) for v in bounds)
    except (TypeError, ValueError) as exc:
        raise ReprojectionError(f"bounds must be (left, bottom, right, top), got {bounds!r}") from exc
    if not (right > left and top > bottom) or not all(map(math.isfinite, (left, bottom, right, top))):
        raise ReprojectionError(
            f"bounds {tuple(bounds)} are empty or inverted: need left < right and bottom < top "
            "(for an output crossing the antimeridian in degrees, let right exceed 180)"
        )
    return left, bottom, right, top
