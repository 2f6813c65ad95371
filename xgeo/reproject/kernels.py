"""Numba resampling kernels with gdalwarp's meaning.

All kernels work on a source *window* ``src[b, row, col]`` (leading dims flattened
into ``b``) placed at ``(src_row0, src_col0)`` in the full source raster of size
``(src_h, src_w)``, and fill ``out[b, i, j]`` for the output points starting at
global output pixel ``(dst_row0, dst_col0)``. Source coordinates come from the
:class:`~xgeo.reproject.coords.CoordMap` and are always handled as *global*
values (integer offsets are subtracted only to index), so a pixel's result does
not depend on which window or chunk computes it.

Rules (as gdalwarp, per band):

* a point outside the source raster, or whose containing source pixel is
  nodata/NaN, gives nodata;
* interpolating kernels (bilinear, cubic, lanczos) weight only valid source
  pixels inside the raster and renormalise, so nodata never enters as a value;
  when the output is coarser than the source (scale < 1) the kernel is
  stretched by ``1/scale`` (GDAL does this for scale < 0.95 for bilinear/cubic,
  always for lanczos);
* area methods (average, mode, min, max, median) use the source pixels under
  the output pixel's footprint (its top-left and bottom-right corners mapped
  into the source); average weights them by their fractional overlap;
* integer outputs are rounded half up and clamped to the dtype's range;
* the methods that pick a source value (nearest, mode, min, max, median) keep integers
  exact: an integer source is read, compared and stored in its own dtype, so int64/uint64
  values beyond 2**53 come through unchanged (clamped only to a narrower output dtype), and an
  integer nodata is compared exactly. The methods that compute a value (bilinear, cubic,
  lanczos, average) do it in float64: integers beyond 2**53 are rounded to float64 precision
  (a relative error below 1.2e-16) before being stored.

Pure-NumPy references of the same rules live in :mod:`xgeo.reproject.reference`.

Modules: ``_lattice`` (source coordinates from the coordinate map), ``_rules`` (the
NamedTuples the kernels take and the value rules), ``_point_kernels`` (nearest,
interpolating), ``_area_kernels`` (aggregating); this module dispatches.
"""

from __future__ import annotations

import numpy as np

from ..errors import ReprojectionError
from ._area_kernels import AREA_KINDS, area_kernel
from ._lattice import NodeLattice
from ._point_kernels import (
    InterpKernel,
    bilinear_kernel,
    copy_kernel,
    interp_kernel,
    nearest_kernel,
)
from ._rules import OutputBlock, SourceWindow, value_rules

__all__ = ["METHODS", "INTERP_RADIUS", "copy_block", "warp_block"]

METHODS = ("nearest", "bilinear", "cubic", "lanczos", "average", "mode", "min", "max", "median")
INTERP_RADIUS = {"bilinear": 1, "cubic": 2, "lanczos": 3}
_INTERP_KIND = {"bilinear": 0, "cubic": 1, "lanczos": 2}


def warp_block(
    src: np.ndarray,
    src_offset: tuple[int, int],
    src_shape: tuple[int, int],
    out: np.ndarray,
    dst_offset: tuple[int, int],
    lattice: NodeLattice,
    method: str,
    *,
    nodata: float | None,
    fill: float,
    scale: tuple[float, float] = (1.0, 1.0),
) -> None:
    """Fill ``out[b, h, w]`` (in place) from the source window ``src[b, H, W]``.

    ``src`` sits at ``src_offset = (row, col)`` in a source raster of ``src_shape =
    (height, width)``; ``out`` starts at global output pixel ``dst_offset = (row, col)``.
    ``lattice`` (:attr:`CoordMap.lattice <xgeo.reproject.coords.CoordMap.lattice>`) must
    come from a centre map for point methods and a corner map for area methods, covering
    the output points. ``scale`` is ``(x, y)``.

    Raises
    ------
    RuntimeError
        If the window misses a needed pixel (a planner bug, never silently wrong pixels).

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo.reproject.coords import build_coord_map
    >>> from xgeo.grid import Grid
    >>> g = Grid.from_bounds((0, 0, 4, 4), crs=32633, resolution=1)
    >>> src = np.arange(16, dtype="float32").reshape(1, 4, 4)
    >>> out = np.empty((1, 4, 4), "float32")
    >>> warp_block(src, (0, 0), (4, 4), out, (0, 0), build_coord_map(g, g).lattice, "nearest",
    ...            nodata=None, fill=np.nan)
    >>> bool((out == src).all())
    True
    """
    if src.dtype.kind == "b":
        src = src.view(np.uint8)
    rules = value_rules(src.dtype, out.dtype, nodata, fill)
    window = SourceWindow(src, src_offset[0], src_offset[1], src_shape[0], src_shape[1])
    block = OutputBlock(out, dst_offset[0], dst_offset[1], np.zeros(out.shape[1], dtype=np.int64))
    if method == "nearest":
        nearest_kernel(window, lattice, block, rules)
    elif method == "bilinear" and scale[0] >= 1.0 and scale[1] >= 1.0:
        bilinear_kernel(window, lattice, block, rules)
    elif method in _INTERP_KIND:
        kernel = InterpKernel(_INTERP_KIND[method], INTERP_RADIUS[method], float(scale[0]),
                              float(scale[1]))
        interp_kernel(window, lattice, block, rules, kernel)
    elif method in AREA_KINDS:
        area_kernel(window, lattice, block, rules, AREA_KINDS[method], 64)
    else:
        raise ReprojectionError(f"unknown resampling {method!r}; use one of {sorted(METHODS)}")
    if block.miss.any():
        raise RuntimeError(
            f"internal error: {int(block.miss.sum())} output pixels need source pixels outside the "
            "planned window; please report this with the source and target grids"
        )


def copy_block(src: np.ndarray, out: np.ndarray, *, nodata: float | None, fill: float) -> None:
    """Fill ``out[b, h, w]`` from ``src`` of the same shape: nearest resampling onto the same
    pixels (a pixel-aligned window of the source), with :func:`warp_block`'s value rules
    (nodata and NaN to ``fill``, integers clamped to the output's range, a valid value equal
    to ``fill`` nudged off it as gdalwarp does), without a coordinate map.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.empty((1, 1, 4), "uint8")
    >>> copy_block(np.array([[[0, 7, 300, 255]]], "int16"), out, nodata=0, fill=255)
    >>> out.tolist()
    [[[255, 7, 254, 254]]]
    """
    if src.shape != out.shape:
        raise ReprojectionError(f"copy_block: source {src.shape} and output {out.shape} differ")
    if src.dtype.kind == "b":
        src = src.view(np.uint8)
    copy_kernel(np.ascontiguousarray(src), out, value_rules(src.dtype, out.dtype, nodata, fill))
