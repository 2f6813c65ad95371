"""Chunk <-> cube <-> integer codes: the value mappings of the container's plane entries.

A chunk of any shape is viewed as a cube ``(T, P, H, W)`` (frames, planes, rows, columns;
:func:`to_cube`). Each plane's valid values are mapped to unsigned integer codes the video
encoder takes, by one of four mappings stored per plane in the header (``codecs/SPEC.md``):

* ``{"k": "const", "v": v}``: every valid value is ``v`` (no stream);
* ``{"k": "int", "base": b}``: ``value = code + b`` (lossless integers);
* ``{"k": "grid", "base": b, "mul": m, "div": d, "add": a}``: ``value = (code + b) / d * m + a``
  (lossless floats on a grid, e.g. reflectance = DN / 10000);
* ``{"k": "lin", "lo": lo, "hi": hi}``: ``value = lo + code * (hi - lo) / maxcode`` (lossy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import CodecError
from .params import VideoParams


def _dtype_error(dtype: np.dtype) -> CodecError:
    return CodecError(
        f"dtype {dtype} is not supported by the video codec; use (u)int8/16/32 or "
        "float32/float64 (cast bool masks to uint8, 64-bit integers to int32 if their range "
        "allows; split complex into real and imaginary variables)")


def check_dtype(dtype: np.dtype) -> np.dtype:
    """The little-endian form of a dtype the codec takes; :class:`CodecError` otherwise."""
    # 64-bit integers are refused: their values do not survive the float64 value mapping
    if (dtype.kind not in "uif" or dtype.kind == "f" and dtype.itemsize not in (4, 8)
            or dtype.kind in "ui" and dtype.itemsize > 4):
        raise _dtype_error(dtype)
    return dtype.newbyteorder("<")


def is_nodata(a: np.ndarray, nodata: float) -> np.ndarray:
    """True where ``a`` holds ``nodata`` (a number, not NaN) bit for bit: a float ``-0.0``
    is data when the nodata is ``0.0`` (Zarr's default float fill value), and the reverse.

    Examples
    --------
    >>> is_nodata(np.array([0.0, -0.0, 1.0], "float32"), 0.0).tolist()
    [True, False, False]
    >>> is_nodata(np.array([0, 7], "uint16"), 0).tolist()
    [True, False]
    """
    value = np.asarray(nodata).astype(a.dtype)
    hit = a == value
    if a.dtype.kind == "f" and value == 0:
        hit &= np.signbit(a) == np.signbit(value)
    return hit


def to_cube(a: np.ndarray, frame_axis: int) -> tuple[np.ndarray, int]:
    """View ``a`` as (T, P, H, W); returns the cube and the normalised frame axis."""
    if a.ndim <= 2:
        return a.reshape((1, 1) + (1,) * (2 - a.ndim) + a.shape), 0
    fa = frame_axis + a.ndim if frame_axis < 0 else frame_axis
    if not 0 <= fa < a.ndim - 2:
        raise CodecError(
            f"frame_axis={frame_axis} is not valid for a {a.ndim}-d chunk: the last two axes "
            f"are (y, x); use an axis in 0..{a.ndim - 3}")
    m = np.moveaxis(a, fa, 0)
    return m.reshape(m.shape[0], -1, m.shape[-2], m.shape[-1]), fa


def from_cube(cube: np.ndarray, shape: tuple[int, ...], fa: int) -> np.ndarray:
    """Inverse of :func:`to_cube`: the (T, P, H, W) cube back in the chunk's ``shape``."""
    if len(shape) <= 2:
        return cube.reshape(shape)
    moved = (shape[fa],) + shape[:fa] + shape[fa + 1:]
    return np.moveaxis(cube.reshape(moved), 0, fa)


def py_number(v: Any) -> Any:
    """NumPy scalar -> exact JSON-able Python number."""
    return int(v) if isinstance(v, np.integer) else float(v)


def _grid_values(k: np.ndarray, m: dict[str, Any]) -> np.ndarray:
    v = k.astype(np.float64)
    if m.get("div", 1) != 1:
        v = v / m["div"]
    if m.get("mul", 1.0) != 1.0:
        v = v * m["mul"]
    if m.get("add", 0.0) != 0.0:
        v = v + m["add"]
    return v


def _bits(v: np.ndarray) -> np.ndarray:
    """Float values as their bit patterns (so -0.0 and 0.0 differ, as a round trip must)."""
    return v.view(np.uint32 if v.dtype.itemsize == 4 else np.uint64)


def _float_grid(v: np.ndarray, p: VideoParams, maxspan: int) -> dict[str, Any] | None:
    """Find an exact integer grid ``k`` for float values ``v`` (bitwise round trip) or None."""
    if p.scale_factor is not None or p.add_offset is not None:
        cands = [(float(p.scale_factor or 1.0), 1, float(p.add_offset or 0.0))]
    else:
        cands = [(1.0, 10**d, 0.0) for d in range(7)]
    for mul, div, add in cands:
        with np.errstate(all="ignore"):
            k = np.rint((v.astype(np.float64) - add) / mul * div)
        if not np.all(np.isfinite(k)) or np.abs(k).max() > 2**52:
            continue
        kmin, kmax = k.min(), k.max()
        if kmax - kmin > maxspan:
            continue
        m = {"k": "grid", "base": int(kmin), "mul": mul, "div": div, "add": add}
        back = _grid_values(k - kmin + m["base"], m)
        if v.dtype.kind in "iu":
            if np.array_equal(np.rint(back), v):
                return m
        elif np.array_equal(_bits(back.astype(v.dtype)), _bits(v)):
            return m
    return None


def plane_mapping(x: np.ndarray, inv: np.ndarray, p: VideoParams, maxcode: int,
                  lossless: bool) -> dict[str, Any]:
    """The value mapping of one plane ``x`` (T, H, W) whose invalid pixels are ``inv``."""
    v = x[~inv]
    if v.size == 0:
        return {"k": "const", "v": 0}
    lo, hi = v.min(), v.max()
    if lo == hi:
        if not (x.dtype.kind == "f" and lo == 0):
            return {"k": "const", "v": py_number(lo)}
        negative = np.signbit(v)
        if negative.all() or not negative.any():  # 0.0 or -0.0, kept with its sign
            return {"k": "const", "v": -0.0 if negative[0] else 0.0}
        if not lossless:
            return {"k": "const", "v": 0.0}
        # a lossless plane of 0.0 and -0.0 is not constant bit for bit: the grid finds no
        # map for it either, and the chunk is refused rather than stored with one sign
    if lossless:
        if x.dtype.kind in "iu" and p.scale_factor is not None:
            # integers snapped to a coarser grid (max_error's near-lossless candidate)
            m = _float_grid(v, p, maxcode)
            if m is not None:
                return m
        if x.dtype.kind in "iu":
            if int(hi) - int(lo) > maxcode:
                span = int(hi) - int(lo) + 1
                ffv1 = ("codec='ffv1' (16 bit), " if p.family != "ffv1" and span <= 1 << 16
                        else "")
                raise CodecError(
                    f"lossless needs each plane to span at most {maxcode + 1} values, this one "
                    f"spans {span}; use {ffv1}lossy mode, or a general-purpose compressor "
                    "(numcodecs Blosc/Zstd) for this variable")
            return {"k": "int", "base": int(lo)}
        m = _float_grid(v, p, maxcode)
        if m is None and np.signbit(v[v == 0]).any() and _float_grid(v + 0.0, p, maxcode):
            raise CodecError(
                "lossless=True: this chunk holds -0.0 beside other values, and the codec keeps "
                "values, not the sign of a zero (it would come back as 0.0). Fix: store the "
                "variable with -0.0 replaced by 0.0 (adding 0.0 does it), or use a "
                "general-purpose compressor (Blosc/Zstd) for it")
        if m is None:
            raise CodecError(
                "lossless=True for float data needs values on an exact grid k * scale + offset "
                f"with at most {maxcode + 1} steps per plane (like reflectance = DN / 10000); "
                "this chunk is not. Fix: pass scale_factor/add_offset that match how the data "
                "was made, store the integers (CF packing), use lossy mode, or a "
                "general-purpose compressor (Blosc/Zstd) for this variable")
        return m
    # lossy: spread the valid range over every code (a 1000-value span at 12 bit would
    # otherwise waste two bits of precision at the same rate)
    lo, hi = p.value_range if p.value_range is not None else (float(lo), float(hi))
    if not np.isfinite(hi - lo):
        raise CodecError(
            f"the plane's values span {lo:g}..{hi:g}, a range float64 arithmetic cannot "
            "hold (hi - lo overflows); lossy coding would turn it into NaN. Scale the "
            "variable (e.g. store it in other units), or use a general-purpose compressor "
            "(numcodecs Blosc/Zstd) for it")
    return {"k": "lin", "lo": lo, "hi": hi}


def to_codes(xf: np.ndarray, m: dict[str, Any], maxcode: int) -> np.ndarray:
    """Float64 values -> uint16 codes in ``0..maxcode`` by mapping ``m``."""
    if m["k"] == "int":
        c = xf - m["base"]
    elif m["k"] == "grid":
        c = np.rint((xf - m["add"]) / m["mul"] * m["div"]) - m["base"]
    else:
        c = (xf - m["lo"]) * (maxcode / (m["hi"] - m["lo"]))
    return np.clip(np.rint(c), 0, maxcode).astype(np.uint16)


def from_codes(c: np.ndarray, m: dict[str, Any], dtype: np.dtype, maxcode: int) -> np.ndarray:
    """Codes -> values of ``dtype`` by mapping ``m`` (inverse of :func:`to_codes`)."""
    if c.dtype in (np.uint8, np.uint16) and c.size > 4 << (8 * c.itemsize):
        # the mapping is per code value: map every possible code once, then gather (the
        # float arithmetic, rounding and clipping were ~17 % of a 12x512x512 chunk's decode)
        # np.take: 2.5x faster a gather than indexing; "clip" never clips (the table holds
        # every value of the codes' dtype) but spares take its buffered bounds check
        every = np.arange(1 << (8 * c.itemsize), dtype=c.dtype)
        return np.take(_code_values(every, m, dtype, maxcode), c, mode="clip")
    return _code_values(c, m, dtype, maxcode)


def _code_values(c: np.ndarray, m: dict[str, Any], dtype: np.dtype, maxcode: int) -> np.ndarray:
    k = m["k"]
    if k == "int":
        return (c.astype(np.int64) + m["base"]).astype(dtype)
    if k == "grid":
        return cast(_grid_values(c.astype(np.int64) + m["base"], m), dtype)
    if k == "lin":
        return cast(m["lo"] + c.astype(np.float64) * ((m["hi"] - m["lo"]) / maxcode), dtype)
    raise CodecError(f"unknown value mapping {k!r}; the chunk is corrupt or from a newer version")


def cast(v: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float64 values -> ``dtype`` (integers rounded and clipped to the type's range)."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        v = np.clip(np.rint(v), info.min, info.max)
    return v.astype(dtype)


def valid_bounds(cube: np.ndarray, inv: np.ndarray) -> dict[str, list[float]]:
    """Each plane's valid min and max: decoded KLT values are clipped back into them, so a
    rotated error can never push a valid value onto ``nodata`` or outside the data's range."""
    lo, hi = [], []
    for j in range(cube.shape[1]):
        v = cube[:, j][~inv[:, j]]
        lo.append(py_number(v.min()) if v.size else 0.0)
        hi.append(py_number(v.max()) if v.size else 0.0)
    return {"lo": lo, "hi": hi}


def shared_step_maps(comps: np.ndarray, maxcode: int) -> list[dict[str, Any]]:
    """Code mappings of KLT components: one step in data units for all of them.

    Equal steps give every component the same quantisation error, the allocation that
    minimises the chunk's MSE; the weak components then span few codes and cost few bits.
    """
    lo = comps.min(axis=(0, 2, 3))
    hi = comps.max(axis=(0, 2, 3))
    step = float((hi - lo).max()) / maxcode
    return [{"k": "const", "v": float(a)} if not b > a or step == 0 else
            {"k": "lin", "lo": float(a), "hi": float(a) + step * maxcode}
            for a, b in zip(lo, hi, strict=True)]


def span(x: np.ndarray, inv: np.ndarray, m: dict[str, Any]) -> int:
    """Highest code a lossless mapping ``m`` gives the valid values of plane ``x``."""
    if m["k"] == "const":
        return 0
    v = x[~inv]
    if m["k"] == "int":
        return int(v.max()) - m["base"]
    return int(np.rint((v.astype(np.float64) - m["add"]) / m["mul"] * m["div"]).max()) - m["base"]
