"""The grid: an immutable value holding a CRS, an affine transform and a shape.

Everything spatial in xgeo is algebra on this value (odc-geo's GeoBox is the
model): bounds, resolution, pixel-centre coordinates, sub-grids from windows,
footprints in other CRSs and tilings into chunk or chip windows. It knows
nothing of xarray, so kernels and codecs can use it directly.

Conventions
-----------
* ``shape`` is ``(height, width)`` = (rows, columns) = (y, x).
* ``transform`` maps (column, row) pixel *corner* coordinates to CRS (x, y),
  as in GDAL and rasterio: pixel (0, 0)'s upper-left corner is
  ``transform @ (0, 0)``, its centre ``transform @ (0.5, 0.5)``.
* ``resolution`` is a :class:`Resolution` ``(x, y)`` (a tuple), signed; north-up grids
  have ``y < 0``.
* Pixel <-> CRS: :meth:`Grid.xy` (pixel centres, or any offset inside the pixel) and
  :meth:`Grid.rowcol` (fractional, corner-based); every other module goes through them.
* ``bounds`` is ``(left, bottom, right, top)`` in the grid's CRS.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from affine import Affine
from pyproj import CRS, Transformer

from .errors import CRSError, GridError

__all__ = ["Grid", "parse_crs", "Window", "Resolution"]

_INIT_RE = re.compile(r"^\+init=([a-zA-Z]+):(\d+)$")

Window = tuple[slice, slice]
"""A pixel window as ``(row_slice, col_slice)`` with explicit, non-negative start/stop."""


class Resolution(NamedTuple):
    """Signed pixel size: ``x`` along columns, ``y`` along rows (negative for north-up).

    A tuple, so ``xres, yres = grid.resolution`` and ``== (10.0, -10.0)`` keep working.

    Examples
    --------
    >>> r = Resolution(10.0, -10.0)
    >>> r.x, r.y, r == (10.0, -10.0)
    (10.0, -10.0, True)
    """

    x: float
    y: float


def parse_crs(value: Any) -> CRS:
    """Turn anything pyproj understands (EPSG code, WKT, PROJ string, CF dict) into a CRS.

    Raises
    ------
    CRSError
        If the value cannot be parsed; the message quotes the input.

    Examples
    --------
    >>> parse_crs(32633).to_epsg()
    32633
    >>> parse_crs("EPSG:4326").is_geographic
    True
    """
    if isinstance(value, CRS):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        raise CRSError("no CRS given: pass an EPSG code, WKT, PROJ string or pyproj.CRS")
    if isinstance(value, str):
        # Legacy PROJ "+init=epsg:XXXX" (xarray-spatial, old rasterio) means the same as "EPSG:XXXX".
        match = _INIT_RE.match(value.strip())
        if match:
            value = f"{match.group(1).upper()}:{match.group(2)}"
    try:
        if isinstance(value, dict):
            return CRS.from_cf(value) if "grid_mapping_name" in value else CRS.from_dict(value)
        return CRS.from_user_input(value)
    except Exception as exc:  # pyproj raises CRSError, TypeError, ValueError...
        text = repr(value)
        if len(text) > 120:
            text = text[:117] + "..."
        raise CRSError(
            f"cannot parse CRS {text}: {exc}. Use e.g. 'EPSG:32633', a WKT string or a pyproj.CRS."
        ) from exc


def _regular_step(coord: np.ndarray, name: str) -> tuple[float, float]:
    """Return (first, step) of a regularly spaced 1-D coordinate, or raise GridError."""
    values = np.asarray(coord, dtype="float64")
    if values.ndim != 1:
        raise GridError(f"coordinate {name!r} must be 1-D to define a grid, got {values.ndim}-D")
    if values.size < 2:
        raise GridError(
            f"coordinate {name!r} has {values.size} value(s): a resolution cannot be derived; "
            "give the grid explicitly (Grid.from_bounds) or add another pixel"
        )
    if not np.all(np.isfinite(values)):
        raise GridError(f"coordinate {name!r} contains NaN or infinite values")
    # The end-to-end step is more precise than the first difference for float32 coords.
    step = (values[-1] - values[0]) / (values.size - 1)
    diffs = np.diff(values)
    if step == 0 or np.any(np.sign(diffs) != np.sign(step)):
        raise GridError(
            f"coordinate {name!r} is not strictly monotonic; sort it first (e.g. ds.sortby({name!r}))"
        )
    # Tolerate float32 storage noise, not real irregularity.
    dtype = np.asarray(coord).dtype
    eps = float(np.finfo(dtype if np.issubdtype(dtype, np.floating) else np.float64).eps)
    tol = max(abs(step) * 1e-3, float(np.abs(values).max()) * 4 * eps)
    worst = float(np.abs(diffs - step).max())
    if worst > tol:
        raise GridError(
            f"coordinate {name!r} is irregularly spaced (step {step:g}, deviation up to {worst:g}); "
            "xgeo grids need regular spacing: reproject or interpolate onto a regular grid first"
        )
    return float(values[0]), float(step)


@dataclass(frozen=True, eq=True)
class Grid:
    """An immutable georeferenced pixel grid.

    Parameters
    ----------
    crs
        Anything :func:`parse_crs` accepts, or None for a grid without CRS
        (operations that need one raise :class:`~xgeo.errors.CRSError`).
    transform
        :class:`affine.Affine` from pixel corner (col, row) to CRS (x, y), or
        its 6 coefficients ``(a, b, c, d, e, f)``.
    shape
        ``(height, width)``.

    Examples
    --------
    >>> g = Grid.from_bounds((0, 0, 100, 50), crs="EPSG:32633", resolution=10)
    >>> g.shape, g.resolution, g.bounds
    ((5, 10), Resolution(x=10.0, y=-10.0), (0.0, 0.0, 100.0, 50.0))
    >>> g[1:3, 2:5].bounds
    (20.0, 20.0, 50.0, 40.0)
    """

    crs: CRS | None
    transform: Affine
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        crs = None if self.crs is None else parse_crs(self.crs)
        transform = self.transform
        if not isinstance(transform, Affine):
            coeffs = tuple(float(v) for v in transform)
            transform = Affine(*coeffs[:6])
        if transform.determinant == 0:
            raise GridError(f"degenerate transform (zero pixel area): {tuple(transform)[:6]}")
        shape = tuple(int(n) for n in self.shape)
        if len(shape) != 2 or min(shape) < 0:
            raise GridError(
                f"grid shape must be (height, width) with non-negative sizes, got {self.shape}"
            )
        object.__setattr__(self, "crs", crs)
        object.__setattr__(self, "transform", transform)
        object.__setattr__(self, "shape", shape)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_bounds(
        cls,
        bounds: Sequence[float],
        *,
        crs: Any = None,
        resolution: float | Sequence[float] | None = None,
        shape: Sequence[int] | None = None,
    ) -> Grid:
        """A north-up grid covering ``bounds = (left, bottom, right, top)``.

        Give either ``resolution`` (a positive pixel size, or ``(x, y)`` sizes; the
        bounds are extended to a whole number of pixels from the top-left corner) or
        ``shape = (height, width)``.

        Examples
        --------
        >>> Grid.from_bounds((0, 0, 30, 20), crs=4326, shape=(2, 3)).resolution
        Resolution(x=10.0, y=-10.0)
        """
        left, bottom, right, top = (float(v) for v in bounds)
        if not (right > left and top > bottom):
            raise GridError(
                f"empty or inverted bounds {tuple(bounds)}: need left < right, bottom < top"
            )
        if (resolution is None) == (shape is None):
            raise GridError("give exactly one of resolution= or shape=")
        if shape is not None:
            height, width = (int(n) for n in shape)
            if height <= 0 or width <= 0:
                raise GridError(f"shape must be positive, got {tuple(shape)}")
            xres, yres = (right - left) / width, (top - bottom) / height
        else:
            xres, yres = _positive_resolution(resolution)
            width = max(1, math.ceil((right - left) / xres - 1e-9))
            height = max(1, math.ceil((top - bottom) / yres - 1e-9))
        return cls(crs, Affine(xres, 0.0, left, 0.0, -yres, top), (height, width))

    @classmethod
    def from_coords(cls, x: Sequence[float], y: Sequence[float], crs: Any = None) -> Grid:
        """The grid whose pixel centres are the 1-D coordinates ``x`` and ``y``.

        Raises :class:`~xgeo.errors.GridError` if either is irregular or non-monotonic.

        Examples
        --------
        >>> g = Grid.from_coords([5.0, 15.0, 25.0], [35.0, 25.0], crs="EPSG:3857")
        >>> g.bounds
        (0.0, 20.0, 30.0, 40.0)
        """
        x = np.asarray(x)
        y = np.asarray(y)
        x0, dx = _regular_step(x, "x")
        y0, dy = _regular_step(y, "y")
        transform = Affine(dx, 0.0, x0 - dx / 2, 0.0, dy, y0 - dy / 2)
        return cls(crs, transform, (y.size, x.size))

    # ------------------------------------------------------------------- properties
    @property
    def height(self) -> int:
        """Rows: ``shape[0]``."""
        return self.shape[0]

    @property
    def width(self) -> int:
        """Columns: ``shape[1]``."""
        return self.shape[1]

    @property
    def is_axis_aligned(self) -> bool:
        """True when the transform has no rotation or shear (x depends on column only)."""
        return self.transform.b == 0 and self.transform.d == 0

    @property
    def resolution(self) -> Resolution:
        """Signed pixel size :class:`Resolution` ``(x, y)``; ``y < 0`` for north-up grids.

        Raises :class:`~xgeo.errors.GridError` for a rotated grid.
        """
        self._require_axis_aligned("resolution")
        return Resolution(self.transform.a, self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the outer pixel edges, in the grid's CRS."""
        xs, ys = self._corners()
        return (float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys)))

    @property
    def geotransform(self) -> tuple[float, float, float, float, float, float]:
        """GDAL's six-number GeoTransform ``(c, a, b, f, d, e)``."""
        return self.transform.to_gdal()

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates ``(y, x)`` as 1-D float64 arrays.

        Examples
        --------
        >>> y, x = Grid.from_bounds((0, 0, 20, 10), crs=4326, resolution=10).coords()
        >>> y.tolist(), x.tolist()
        ([5.0], [5.0, 15.0])
        """
        self._require_axis_aligned("1-D coordinates")
        x, _ = self.xy(0.0, np.arange(self.width, dtype="float64"))
        _, y = self.xy(np.arange(self.height, dtype="float64"), 0.0)
        return y, x

    def xy(self, row: Any, col: Any, *, offset: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """CRS coordinates ``(x, y)`` of pixel positions ``(row, col)`` (scalars or arrays,
        broadcast together).

        ``offset`` is added to both before the affine: 0.5 (default) gives pixel centres,
        0.0 the upper-left corners, i.e. fractional corner-based positions are mapped as
        they are (pixel ``k`` spans ``[k, k + 1)``). :meth:`rowcol` is the inverse of
        ``offset=0.0``.

        Examples
        --------
        >>> g = Grid.from_bounds((0, 0, 100, 50), crs=32633, resolution=10)
        >>> [v.tolist() for v in g.xy(0, [0, 9])]
        [[5.0, 95.0], [45.0, 45.0]]
        >>> [v.tolist() for v in g.xy(5, 10, offset=0.0)]
        [100.0, 0.0]
        """
        col = np.asarray(col, dtype="float64")
        row = np.asarray(row, dtype="float64")
        if offset:
            col = col + offset
            row = row + offset
        t = self.transform
        return t.a * col + t.b * row + t.c, t.d * col + t.e * row + t.f

    def rowcol(self, x: Any, y: Any, *, gdal: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Fractional pixel positions ``(row, col)`` (corner-based: pixel ``k`` spans
        ``[k, k + 1)``) of CRS points ``(x, y)``; floor them for pixel indices.

        Non-finite inputs give non-finite outputs (no warning). ``gdal=True`` inverts the
        transform and sums in GDAL's order (``GDALInvGeoTransform``, then ``c + x a + y b``),
        so positions match rasterio's rasterizer bit for bit; the default uses
        :mod:`affine`'s inverse.

        Examples
        --------
        >>> g = Grid.from_bounds((0, 0, 100, 50), crs=32633, resolution=10)
        >>> [v.tolist() for v in g.rowcol([5.0, 95.0], [45.0, 0.0])]
        [[0.5, 5.0], [0.5, 9.5]]
        """
        x = np.asarray(x, dtype="float64")
        y = np.asarray(y, dtype="float64")
        with np.errstate(invalid="ignore", over="ignore"):
            if gdal:
                inv = self._gdal_inverse()
                return inv.f + x * inv.d + y * inv.e, inv.c + x * inv.a + y * inv.b
            inv = ~self.transform
            col = inv.a * x + inv.b * y + inv.c
            row = inv.d * x + inv.e * y + inv.f
        return row, col

    def _gdal_inverse(self) -> Affine:
        a, b, c, d, e, f = tuple(self.transform)[:6]
        if b == 0 and d == 0:
            return Affine(1.0 / a, 0.0, -c / a, 0.0, 1.0 / e, -f / e)
        return ~self.transform

    # ------------------------------------------------------------------ sub-grids
    def __getitem__(self, window: tuple[slice, slice]) -> Grid:
        """The sub-grid of a ``(row_slice, col_slice)`` window; steps > 1 coarsen the grid.

        Windows are clipped to the grid like NumPy slicing; an empty result raises GridError.
        """
        if not (isinstance(window, tuple) and len(window) == 2):
            raise GridError("index a Grid with two slices: grid[row_slice, col_slice]")
        rows, cols = window
        if isinstance(rows, int | np.integer):
            rows = slice(int(rows), int(rows) + 1)
        if isinstance(cols, int | np.integer):
            cols = slice(int(cols), int(cols) + 1)
        r0, r1, rs = rows.indices(self.height)
        c0, c1, cs = cols.indices(self.width)
        if rs <= 0 or cs <= 0:
            raise GridError("grid windows need positive steps")
        height = len(range(r0, r1, rs))
        width = len(range(c0, c1, cs))
        if height == 0 or width == 0:
            raise GridError(f"window {window} selects no pixels of a {self.shape} grid")
        transform = self.transform @ Affine.translation(c0, r0) @ Affine.scale(cs, rs)
        return Grid(self.crs, transform, (height, width))

    def window(self, row_off: int, col_off: int, height: int, width: int) -> Grid:
        """The sub-grid starting at pixel ``(row_off, col_off)``; may extend past the edges."""
        transform = self.transform @ Affine.translation(col_off, row_off)
        return Grid(self.crs, transform, (height, width))

    def tiles(self, tile_shape: int | Sequence[int]) -> Iterator[Window]:
        """Windows ``(row_slice, col_slice)`` tiling the grid row-major; edge tiles are truncated.

        Examples
        --------
        >>> g = Grid.from_bounds((0, 0, 5, 3), crs=4326, resolution=1)
        >>> [(r.start, r.stop, c.start, c.stop) for r, c in g.tiles(2)]
        [(0, 2, 0, 2), (0, 2, 2, 4), (0, 2, 4, 5), (2, 3, 0, 2), (2, 3, 2, 4), (2, 3, 4, 5)]
        """
        th, tw = (tile_shape, tile_shape) if isinstance(tile_shape, int) else tuple(tile_shape)
        if th <= 0 or tw <= 0:
            raise GridError(f"tile shape must be positive, got {tile_shape}")
        for r in range(0, self.height, th):
            for c in range(0, self.width, tw):
                yield slice(r, min(r + th, self.height)), slice(c, min(c + tw, self.width))

    def almost_equal(self, other: Grid, tolerance: float = 1e-6) -> bool:
        """Same CRS and shape, and transforms equal to ``tolerance`` pixels.

        ``==`` is exact; grids derived from float coordinates (e.g. after slicing a
        DataArray) differ from the sliced Grid in the last bits, which this ignores.
        """
        if self.crs != other.crs or self.shape != other.shape:
            return False
        a, b = self.transform, other.transform
        size = max(abs(a.a), abs(a.b), abs(a.d), abs(a.e))
        scale_ok = all(
            abs(p - q) <= tolerance * size / max(self.shape + (1,))
            for p, q in ((a.a, b.a), (a.b, b.b), (a.d, b.d), (a.e, b.e))
        )
        return (
            scale_ok and abs(a.c - b.c) <= tolerance * size and abs(a.f - b.f) <= tolerance * size
        )

    # -------------------------------------------------------------- other CRSs
    def footprint(self, crs: Any = None, *, densify: int = 21) -> tuple[np.ndarray, np.ndarray]:
        """The grid's outline as a closed ring ``(xs, ys)``, optionally in another CRS.

        Each edge is densified with ``densify`` points so curved edges survive the
        projection. Points that do not project (off the Earth disc) are NaN.
        """
        n = max(int(densify), 2)
        t = np.linspace(0.0, 1.0, n)[:-1]
        h, w = self.height, self.width
        cols = np.concatenate([t * w, np.full(t.size, w), w - t * w, np.zeros(t.size), [0.0]])
        rows = np.concatenate([np.zeros(t.size), t * h, np.full(t.size, h), h - t * h, [0.0]])
        xs, ys = self.xy(rows, cols, offset=0.0)
        if crs is None:
            return xs, ys
        return self._transformer_to(crs).transform(xs, ys)

    def bounds_in(self, crs: Any, *, densify: int = 21) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the grid's footprint in another CRS.

        For a geographic target the result may have ``left > right`` when the
        footprint crosses the antimeridian (as pyproj's ``transform_bounds``).
        """
        try:
            out = self._transformer_to(crs).transform_bounds(*self.bounds, densify_pts=densify)
        except Exception as exc:
            raise CRSError(
                f"cannot transform the grid's bounds to {parse_crs(crs).name!r}: {exc}"
            ) from exc
        if not all(np.isfinite(out)):
            raise CRSError(f"the grid's footprint does not project into {parse_crs(crs).name!r}")
        return tuple(float(v) for v in out)

    def geographic_bounds(self) -> tuple[float, float, float, float]:
        """Bounds in longitude/latitude (EPSG:4326, lon first)."""
        return self.bounds_in("EPSG:4326")

    def to_crs(self, crs: Any) -> Grid:
        """The same grid with another CRS label (no pixels move; use reprojection for that)."""
        return Grid(parse_crs(crs), self.transform, self.shape)

    # ------------------------------------------------------------------- helpers
    def _transformer_to(self, crs: Any) -> Transformer:
        if self.crs is None:
            raise CRSError(
                "this grid has no CRS; set one first (e.g. obj.geo.set_crs('EPSG:32633'))"
            )
        return Transformer.from_crs(self.crs, parse_crs(crs), always_xy=True)

    def _corners(self) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.height, self.width
        return self.xy([0, 0, h, h], [0, w, w, 0], offset=0.0)

    def _require_axis_aligned(self, what: str) -> None:
        if not self.is_axis_aligned:
            raise GridError(f"{what} is only defined for axis-aligned grids; this one is rotated")

    def __repr__(self) -> str:
        crs = (
            "None"
            if self.crs is None
            else (f"EPSG:{self.crs.to_epsg()}" if self.crs.to_epsg() else repr(self.crs.name))
        )
        return f"Grid(crs={crs}, shape={self.shape}, transform={tuple(self.transform)[:6]})"


def _positive_resolution(resolution: float | Sequence[float]) -> tuple[float, float]:
    pair = (resolution, resolution) if np.ndim(resolution) == 0 else tuple(resolution)  # type: ignore[arg-type]
    try:
        xres, yres = (float(v) for v in pair)
    except (TypeError, ValueError) as exc:
        raise GridError(
            f"resolution must be a number or an (x, y) pair, got {resolution!r}"
        ) from exc
    if not (xres > 0 and yres > 0 and math.isfinite(xres) and math.isfinite(yres)):
        raise GridError(
            f"resolution must be positive and finite (pixel sizes, no sign), got {resolution!r}"
        )
    return xres, yres
