"""What every resampling kernel shares: where it reads, where it writes, and the value
rules (nodata, fill, integer rounding and clamping) as NamedTuples numba takes in nopython
mode, with the inlined helpers that apply them."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numba import njit

__all__ = ["SourceWindow", "OutputBlock", "ValueRules", "value_rules", "is_invalid", "store",
           "store_pick", "store_source"]


class SourceWindow(NamedTuple):
    """The source pixels a kernel may read: ``data[b, row, col]``, a window placed at
    ``(row0, col0)`` in the full source raster of ``(height, width)`` pixels.

    Examples
    --------
    >>> import numpy as np
    >>> SourceWindow(np.zeros((1, 2, 2)), 10, 20, 100, 100).row0
    10
    """

    data: np.ndarray
    row0: int
    col0: int
    height: int
    width: int


class OutputBlock(NamedTuple):
    """The output points a kernel fills: ``out[b, i, j]`` is global output pixel
    ``(row0 + i, col0 + j)``; ``miss[i]`` counts row ``i``'s points whose source pixels
    fell outside the window (a planner bug, reported by the caller).

    Examples
    --------
    >>> import numpy as np
    >>> OutputBlock(np.zeros((1, 2, 3)), 0, 0, np.zeros(2, "int64")).out.shape
    (1, 2, 3)
    """

    out: np.ndarray
    row0: int
    col0: int
    miss: np.ndarray


class ValueRules(NamedTuple):
    """How values are read and stored (see :func:`value_rules`).

    ``nodata`` (used when ``has_nodata``) is in the source's dtype class; ``is_int`` with
    ``lo``/``hi`` (float64 inside the range) round and clamp computed values for an integer
    output. With ``pick_exact`` (an integer source and output), picked source values are
    clamped to ``pick_lo``/``pick_hi``, nudged by ``pick_one`` off ``pick_fill`` (when
    ``pick_fill_hit``: the fill is in range) and stored in the source's dtype, never
    through float64. (Flat fields: numba's parallel loops take no nested tuples.)
    """

    has_nodata: bool
    nodata: Any
    fill: Any
    is_int: bool
    lo: float
    hi: float
    pick_exact: bool
    pick_lo: Any
    pick_hi: Any
    pick_fill: Any
    pick_fill_hit: bool
    pick_one: Any


def value_rules(src_dtype: np.dtype, out_dtype: np.dtype, nodata: float | int | None,
                fill: float | int) -> ValueRules:
    """The :class:`ValueRules` of a source/output dtype pair.

    Examples
    --------
    >>> import numpy as np
    >>> r = value_rules(np.dtype("int16"), np.dtype("uint8"), -1, 255)
    >>> bool(r.has_nodata), bool(r.is_int), r.hi, bool(r.pick_exact)
    (True, True, 255.0, True)
    """
    is_int = np.issubdtype(out_dtype, np.integer)
    lo, hi = _float_range(out_dtype) if is_int else (0.0, 0.0)
    has_nodata = nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata))
    if src_dtype.kind in "iu":
        # integer nodata compared in the source's dtype (exact); one it cannot hold never matches
        has_nodata = has_nodata and _representable(nodata, src_dtype)
        nd = src_dtype.type(nodata if has_nodata else 0)
    else:
        nd = float(nodata) if has_nodata else 0.0
    if is_int and isinstance(fill, int | np.integer):
        fill = out_dtype.type(fill)  # stored exactly, not through float64
    return ValueRules(has_nodata, nd, fill, is_int, lo, hi, *_pick(src_dtype, out_dtype, fill))


def _representable(value: float | int, dtype: np.dtype) -> bool:
    info = np.iinfo(dtype) if dtype.kind in "iu" else None
    return info is None or (value == int(value) and info.min <= int(value) <= info.max)


def _float_range(dtype: np.dtype) -> tuple[float, float]:
    """The integer dtype's range as float64 values inside it (float(2**63 - 1) is 2**63)."""
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    if int(hi) > info.max:
        hi = float(np.nextafter(hi, 0.0))
    return lo, hi


def _pick(src_dtype: np.dtype, out_dtype: np.dtype, fill: Any) -> tuple:
    """The ``pick_*`` fields of :class:`ValueRules`: exact integer storing, with the output range and the fill in
    the source's dtype, when source and output are both integers."""
    t = src_dtype.type
    if src_dtype.kind not in "iu" or out_dtype.kind not in "iu":
        return (False, t(0), t(0), t(0), False, t(1))
    si, oi = np.iinfo(src_dtype), np.iinfo(out_dtype)
    lo, hi = max(si.min, oi.min), min(si.max, oi.max)
    f = int(fill) if float(fill) == int(fill) else None
    hit = f is not None and lo <= f <= hi
    return (True, t(lo), t(hi), t(f if hit else 0), hit, t(1))


@njit(cache=True, inline="always")
def is_invalid(v, rules):
    """True for NaN or the source nodata."""
    return v != v or (rules.has_nodata and v == rules.nodata)


@njit(cache=True, inline="always")
def store(out, b, i, j, value, rules):
    """Store a computed (float64) value: integers rounded half up and clamped."""
    # A valid result equal to the output nodata is nudged off it (as gdalwarp does),
    # so it is never mistaken for a missing pixel.
    fill = rules.fill
    if rules.is_int:
        v = np.floor(value + 0.5)
        if v < rules.lo:
            v = rules.lo
        elif v > rules.hi:
            v = rules.hi
        if v == fill:
            v = fill + 1.0 if fill < rules.hi else fill - 1.0
        out[b, i, j] = v
    else:
        if value == fill:
            value = np.nextafter(np.float32(fill), np.float32(np.inf))  # distinct in float32 and 64
        out[b, i, j] = value


@njit(cache=True, inline="always")
def store_source(out, b, i, j, v, rules):
    """Store the source value ``v`` picked for an output pixel (nearest, or a copy of the
    same pixels): the fill where it is nodata or NaN, else as :func:`store_pick` stores it."""
    if is_invalid(v, rules):
        out[b, i, j] = rules.fill
    else:
        store_pick(out, b, i, j, v, rules)


@njit(cache=True, inline="always")
def store_pick(out, b, i, j, v, rules):
    """Store a source value picked as is (nearest, mode, min, max, median)."""
    # For an integer source and output the value is clamped, nudged off the fill and
    # stored in the source's dtype, without passing through float64.
    if rules.pick_exact:
        if v < rules.pick_lo:
            v = rules.pick_lo
        elif v > rules.pick_hi:
            v = rules.pick_hi
        if rules.pick_fill_hit and v == rules.pick_fill:
            v = (rules.pick_fill + rules.pick_one if rules.pick_fill < rules.pick_hi
                 else rules.pick_fill - rules.pick_one)
        out[b, i, j] = v
    else:
        store(out, b, i, j, v, rules)
