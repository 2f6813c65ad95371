"""The warp plan: everything about a reprojection that does not depend on the pixel values.

For each output pixel the plan knows where it comes from (the
:class:`~xgeo.reproject.coords.CoordMap`), which kernel resamples it and how wide that
kernel is (scale and margin), so it can say which source region any block of output
pixels needs (:meth:`WarpPlan.source_window`). The eager path (:mod:`xgeo.reproject.core`) and the dask
graph (:mod:`xgeo.reproject.lazy`) both follow one plan, so every chunking gives the same bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import CRSError, ReprojectionError
from ..grid import Grid
from .coords import DEFAULT_TILE, DEFAULT_TOLERANCE, CoordMap, build_coord_map
from .kernels import INTERP_RADIUS, METHODS

__all__ = ["WarpPlan", "make_plan", "check_method", "AREA_METHODS"]

AREA_METHODS = ("average", "mode", "min", "max", "median")
"""Methods that aggregate the source pixels under each output pixel's footprint."""


@dataclass(frozen=True)
class WarpPlan:
    """Everything about a reprojection ``src -> dst`` that does not depend on the pixel values.

    Attributes
    ----------
    src, dst
        The source and output grids.
    method
        The resampling method (a name of :data:`~xgeo.reproject.kernels.METHODS`).
    coords
        Source pixel coordinates of every output point (pixel centres, or corners for
        the area methods).
    scale
        Kernel scale ``(x, y)``: output size over source size, once for the whole grid.
    margin
        Extra source pixels ``(x, y)`` around a footprint that the kernel can touch.

    Examples
    --------
    >>> src = Grid.from_bounds((500000, 5000000, 502000, 5002000), crs=32633, resolution=100)
    >>> plan = make_plan(src, src[5:10, 5:10], "bilinear")
    >>> plan.scale, plan.margin, plan.source_window(0, 5, 0, 5)
    ((0.3333333333333333, 0.3333333333333333), (4, 4), (1, 20, 1, 20))
    """

    src: Grid
    dst: Grid
    method: str
    coords: CoordMap
    scale: tuple[float, float]
    margin: tuple[int, int]

    @property
    def corner(self) -> int:
        """1 when the map holds pixel corners (area methods): one more point per axis."""
        return 1 if self.method in AREA_METHODS else 0

    def source_window(self, r0: int, r1: int, c0: int, c1: int) -> tuple[int, int, int, int] | None:
        """Source pixels ``(row0, row1, col0, col1)`` that output points ``[r0, r1) x [c0, c1)``
        can touch (their footprint widened by :attr:`margin`), or None if they miss the source.

        For an output block of ``(h, w)`` pixels at ``(r, c)`` pass its *points*:
        ``r, r + h + corner, c, c + w + corner``.
        """
        bbox = self.coords.window_bbox(r0, r1, c0, c1)
        if bbox is None:
            return None
        mx, my = self.margin
        src_h, src_w = self.src.shape
        col0 = max(int(math.floor(bbox[0])) - mx, 0)
        row0 = max(int(math.floor(bbox[1])) - my, 0)
        col1 = min(int(math.floor(bbox[2])) + mx + 1, src_w)
        row1 = min(int(math.floor(bbox[3])) + my + 1, src_h)
        if col0 >= col1 or row0 >= row1:
            return None
        return row0, row1, col0, col1


def check_method(resampling: str) -> str:
    """The canonical name of a resampling method (gdalwarp's aliases accepted).

    Raises
    ------
    ReprojectionError
        For an unknown method.

    Examples
    --------
    >>> check_method("near"), check_method("Cubic_Convolution")
    ('nearest', 'cubic')
    """
    method = str(resampling).lower()
    aliases = {"near": "nearest", "med": "median", "avg": "average", "cubic_convolution": "cubic"}
    method = aliases.get(method, method)
    if method not in METHODS:
        raise ReprojectionError(f"unknown resampling {resampling!r}; choose one of {', '.join(METHODS)}")
    return method


def make_plan(
    src: Grid, dst: Grid, resampling: str = "nearest", *, exact: bool = False,
    tolerance: float = DEFAULT_TOLERANCE, scale: tuple[float, float] | None = None,
) -> WarpPlan:
    """Coordinate map, kernel scale and footprint margin for ``src -> dst``.

    ``scale`` (``(x, y)``, output size over source size) replaces the scale measured on
    ``dst``: a caller that plans one block of a larger output at a time (:func:`xgeo.stack`)
    gives the whole output's scale, so the kernel does not depend on the blocking.

    Raises
    ------
    CRSError
        If either grid has no CRS.
    ReprojectionError
        If no output pixel falls on the source.

    Examples
    --------
    >>> src = Grid.from_bounds((500000, 5000000, 502000, 5002000), crs=32633, resolution=100)
    >>> make_plan(src, src[::2, ::2], "average").scale
    (0.5, 0.5)
    """
    method = check_method(resampling)
    if src.crs is None:
        raise CRSError("the source has no CRS; set one first (obj.geo.set_crs('EPSG:...'))")
    if dst.crs is None:
        raise CRSError("the target grid has no CRS; build it with Grid(crs, transform, shape)")
    area = method in AREA_METHODS
    offset = 0.0 if area else 0.5
    cm = build_coord_map(dst, src, offset=offset, exact=exact, tolerance=tolerance, tile=DEFAULT_TILE)
    extra = 1 if area else 0
    bbox = cm.window_bbox(0, dst.height + extra, 0, dst.width + extra)
    h, w = src.shape
    if bbox is None or bbox[2] < 0 or bbox[3] < 0 or bbox[0] >= w or bbox[1] >= h:
        raise ReprojectionError(
            f"the output grid (bounds {tuple(round(v, 6) for v in dst.bounds)} in {dst.crs.name!r}) "
            "does not overlap the source; check bounds= (order: left, bottom, right, top) and its CRS"
        )
    # Kernel scale as GDAL computes it (output size / source window size), but once for
    # the whole grid so that the kernel never depends on the chunking.
    sw = max(1.0, math.ceil(min(bbox[2], w)) - math.floor(max(bbox[0], 0.0)))
    sh = max(1.0, math.ceil(min(bbox[3], h)) - math.floor(max(bbox[1], 0.0)))
    xscale, yscale = (dst.width / sw, dst.height / sh) if scale is None else scale
    if method in ("bilinear", "cubic") and xscale >= 0.95 and yscale >= 0.95:
        xscale = yscale = 1.0
    if method in INTERP_RADIUS:
        rad = INTERP_RADIUS[method]
        mx = rad if xscale >= 1 else math.ceil(rad / xscale)
        my = rad if yscale >= 1 else math.ceil(rad / yscale)
        margin = (mx + 1, my + 1)
    else:
        margin = (1, 1)
    return WarpPlan(src, dst, method, cm, (float(xscale), float(yscale)), margin)
