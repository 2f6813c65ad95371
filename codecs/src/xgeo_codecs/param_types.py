"""The plain types of :class:`~xgeo_codecs.VideoParams`' scalar parameters, checked.

A parameter given as a NumPy scalar (what an xarray ``_FillValue`` attribute usually is) is
stored as the Python number it holds, so that configs are JSON; a value of the wrong type
(``lossless="no"``, ``psnr=True``, ``bit_depth=8.0``) is refused with :class:`CodecError`
instead of meaning something else or failing inside an encoder.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import CodecError

__all__ = ["PARAM_TYPES", "per_band_weights", "plain_value"]

# the type of each scalar parameter (None allowed for each): checked, numpy scalars made
# Python's, so that configs are JSON and mean one thing (lossless="no" was a lossless chunk)
PARAM_TYPES = {"lossless": "bool", "plane_prediction": "bool", "stats": "bool",
                "pack_planes": "bool", "psnr": "number", "max_error": "number",
                "bpppb": "number", "nodata": "number", "scale_factor": "number",
                "add_offset": "number", "bit_depth": "int", "threads": "int", "keyint": "int",
                "frame_axis": "int", "crf": "numpy", "qp": "numpy", "reorder_frames": "numpy"}


def plain_value(name: str, value: Any, kind: str) -> Any:
    """``value`` of parameter ``name`` as a plain Python value of ``kind`` ("bool", "int",
    "number"; "numpy": numpy scalars converted, the rest checked later); CodecError if it is
    not one.

    Examples
    --------
    >>> plain_value("nodata", np.uint16(0), "number"), plain_value("lossless", np.True_, "bool")
    (0, True)
    >>> plain_value("lossless", "no", "bool")
    Traceback (most recent call last):
    ...
    xgeo_codecs.errors.CodecError: lossless='no'; pass True or False
    """
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.size == 1 and kind != "bool":
        value = value.reshape(()).item()  # a netCDF attribute is often a 1-element array
    if isinstance(value, np.generic):
        value = value.item()
    if kind == "numpy":
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise CodecError(f"{name}={value!r}; pass True or False")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            kind == "int" and not isinstance(value, int)):
        raise CodecError(f"{name}={value!r}; pass "
                         f"{'a whole number' if kind == 'int' else 'a number'}")
    return value


def per_band_weights(weights: Any) -> tuple[float, ...]:
    """``band_weights`` given one number per band, checked: finite and > 0."""
    try:
        vals = tuple(float(v) for v in np.asarray(weights, dtype=object).ravel())
    except (TypeError, ValueError):
        vals = ()
    if not vals or not all(math.isfinite(v) and v > 0 for v in vals):
        raise CodecError(f"band_weights={weights!r}: per-band weights must be finite numbers "
                         "> 0, one per band of the chunk (e.g. 1 / the std of each band your "
                         "model normalises by)")
    return vals
