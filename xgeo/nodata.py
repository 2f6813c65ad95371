"""Fill values and CF packing in the layouts that xarray, rioxarray and GDAL read back alike.

The same metadata lives in one of two places in memory:

* **decoded** (xarray's default, ``mask_and_scale=True``): float data with NaN where values
  are missing; ``_FillValue``, ``scale_factor``, ``add_offset`` and ``dtype`` sit in
  ``.encoding`` and describe the stored integers;
* **raw** (``mask_and_scale=False`` in xarray and rioxarray, xgeo's GeoTIFF reader, xgeo's
  integer results): the stored values themselves, with ``_FillValue`` (and any packing) in
  ``.attrs``, which is where ``.rio.nodata`` looks. An integer array must never carry its
  ``_FillValue`` in ``.encoding``: rioxarray takes that to mean "already masked to NaN" and
  ``.rio.nodata`` fails with "cannot convert float NaN to integer".

Both layouts describe the same file. :func:`for_writing` turns the raw layout into the
decoded one's ``.encoding`` just before a write, so that every xarray writer (netCDF, Zarr,
and Zarr region writes, which rebuild the encoding from the store and reject the same keys
in ``.attrs``) writes one ``_FillValue`` of the stored dtype, which xarray, rioxarray and
GDAL all read back. :func:`declared_nodata` is the stored nodata value whatever the layout.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["as_unsigned", "declared_nodata", "for_writing", "raw_nodata", "storage_dtype",
           "unsigned_type"]

_FILL_KEYS = ("_FillValue", "missing_value")
_PACKING = ("scale_factor", "add_offset")


def storage_dtype(var: xr.DataArray | xr.Variable) -> np.dtype:
    """The dtype the values are stored as: ``.encoding["dtype"]`` if set, else the data's."""
    return np.dtype(var.encoding.get("dtype", var.dtype))


def _scalar(value: Any) -> Any:
    return value if value is None or np.ndim(value) == 0 else None


def _fits(value: Any, dtype: np.dtype) -> bool:
    """True if ``value`` can be stored exactly in ``dtype`` (NaN only in floats)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    if dtype.kind in "iu":
        if math.isnan(number) or math.isinf(number) or number != int(number):
            return False
        info = np.iinfo(dtype)
        return info.min <= int(value) <= info.max
    return dtype.kind in "fc"


def declared_nodata(var: xr.DataArray | xr.Variable) -> int | float | None:
    """The nodata value as stored in the file, whichever layout ``var`` is in.

    The ``_FillValue`` or ``missing_value`` of ``.encoding`` (decoded layout) or of
    ``.attrs`` (raw layout), else a plain ``nodata`` attribute; ``None`` when nothing is
    declared. Integers come back as ``int``, anything else as ``float`` (NaN included).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> raw = xr.DataArray(np.zeros((2, 2), "uint8"), dims=("y", "x"), attrs={"_FillValue": 0})
    >>> declared_nodata(raw)
    0
    >>> declared_nodata(xr.DataArray(np.zeros((2, 2), "float32"), dims=("y", "x"))) is None
    True
    """
    return _first_number(var.encoding, _FILL_KEYS) if any(
        k in var.encoding for k in _FILL_KEYS) else _first_number(var.attrs, (*_FILL_KEYS, "nodata"))


def _first_number(holder: Any, keys: tuple[str, ...]) -> int | float | None:
    for key in keys:
        value = _scalar(holder.get(key))
        if value is None or isinstance(value, bool | np.bool_):
            continue
        if isinstance(value, int | np.integer):
            return int(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None


def raw_nodata(var: xr.DataArray | xr.Variable) -> int | float | None:
    """The value that marks missing pixels *in the array's own values*, if any.

    Raw layout: the ``_FillValue``/``missing_value``/``nodata`` of ``.attrs`` (or, for an
    integer array, of ``.encoding``: integers cannot hold NaN). Decoded layout: ``None``
    (missing pixels already are NaN; the ``.encoding`` fill value describes the file).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> decoded = xr.DataArray(np.zeros(2, "float32"), dims="x")
    >>> decoded.encoding.update(_FillValue=0, dtype="uint8")
    >>> raw_nodata(decoded) is None, declared_nodata(decoded)
    (True, 0)
    """
    found = _first_number(var.attrs, (*_FILL_KEYS, "nodata"))
    if found is None and np.dtype(var.dtype).kind in "iu":
        found = _first_number(var.encoding, _FILL_KEYS)
    return found


def _identity_packing(attrs: dict[str, Any]) -> bool:
    try:
        return float(attrs.get("scale_factor", 1.0)) == 1.0 and float(
            attrs.get("add_offset", 0.0)) == 0.0
    except (TypeError, ValueError):
        return False


def _encode_variable(var: xr.Variable) -> xr.Variable:
    attrs, encoding = dict(var.attrs), dict(var.encoding)
    stored = storage_dtype(var)
    changed = False
    if any(k in attrs for k in _PACKING) and _identity_packing(attrs):
        for key in _PACKING:  # GDAL reports 1 / 0 for "no packing": they pack nothing
            attrs.pop(key, None)
        changed = True
    for key in _FILL_KEYS:
        if key in attrs:
            value = attrs.pop(key)
            changed = True
            if key not in encoding and _scalar(value) is not None and _fits(value, stored):
                encoding[key] = stored.type(value)
    if "nodata" in attrs and not any(k in encoding for k in _FILL_KEYS):
        value = attrs["nodata"]
        if _scalar(value) is not None and _fits(value, stored) and not (
                stored.kind == "f" and math.isnan(float(value))):
            encoding["_FillValue"] = stored.type(attrs.pop("nodata"))
            changed = True
    for key in _FILL_KEYS:  # a fill value the stored dtype cannot hold (NaN in uint8)
        if key in encoding and not _fits(encoding[key], stored):
            encoding.pop(key)
            changed = True
    data = var.data
    if any(k in attrs for k in _PACKING) and var.dtype.kind in "iu" and "dtype" not in encoding:
        # raw packed integers: decode them as xarray would, so the writer packs them back
        scale = float(attrs.pop("scale_factor", 1.0))
        offset = float(attrs.pop("add_offset", 0.0))
        raw = xr.Variable(var.dims, data)
        decoded = raw.astype("float64") * scale + offset
        fill = encoding.get("_FillValue")
        if fill is not None:
            decoded = decoded.where(raw != fill)
        data = decoded.data
        encoding.update(dtype=var.dtype, scale_factor=scale, add_offset=offset)
        changed = True
    if not changed:
        return var
    return xr.Variable(var.dims, data, attrs=attrs, encoding=encoding)


def unsigned_type(flag: Any, dtype: Any) -> np.dtype | None:
    """The unsigned type that signed integer storage ``dtype`` holds when its ``_Unsigned``
    attribute is ``flag`` (netCDF-3's way of holding unsigned data); None otherwise.

    Examples
    --------
    >>> unsigned_type("true", "int16"), unsigned_type(None, "int16"), unsigned_type("true", "u2")
    (dtype('uint16'), None, None)
    """
    signed = np.dtype(dtype)
    if str(flag).lower() != "true" or signed.kind != "i":
        return None
    return np.dtype(f"u{signed.itemsize}")


def as_unsigned(encoding: Any, dtype: Any) -> dict[str, Any]:
    """``encoding`` (of a variable of ``dtype``) with netCDF-3's ``_Unsigned="true"`` on a
    signed integer storage type replaced by the unsigned type of the same size, its
    ``_FillValue`` and ``missing_value`` read as those bits: for stores and files with no
    ``_Unsigned`` (Zarr, GeoTIFF), which would otherwise hold every value past the signed
    maximum as a negative one (GOES ABI LST: 163.84 K too low). Other encodings are returned
    as they are (a copy).

    Examples
    --------
    >>> as_unsigned({"dtype": np.dtype("int16"), "_Unsigned": "true", "_FillValue": -1}, "f4")
    {'dtype': dtype('uint16'), '_FillValue': np.uint16(65535)}
    >>> as_unsigned({"dtype": np.dtype("int16"), "scale_factor": 0.5}, "f4")
    {'dtype': dtype('int16'), 'scale_factor': 0.5}
    """
    out = dict(encoding)
    signed = np.dtype(out.get("dtype", dtype))
    unsigned = unsigned_type(out.pop("_Unsigned", None), signed)
    if unsigned is None:
        return dict(encoding)
    out["dtype"] = unsigned
    for key in _FILL_KEYS:
        if out.get(key) is not None:
            out[key] = np.asarray(out[key]).astype(signed).view(unsigned)[()]
    return out


def for_writing(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with every variable's fill value and packing where xarray's writers expect them.

    For each variable: ``_FillValue``/``missing_value`` in ``.attrs`` (the raw layout) move
    to ``.encoding`` as a value of the stored dtype; a plain ``nodata`` attribute becomes the
    ``_FillValue`` when there is none (GDAL and rioxarray read no ``nodata`` attribute); a
    fill value the stored dtype cannot hold (NaN for integers) is dropped; GDAL's "no
    packing" ``scale_factor=1``/``add_offset=0`` are dropped; real packing attributes on raw
    integers are decoded, so the writer packs the same integers back. The file written is
    the one the raw layout describes; no data are copied.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray(np.arange(4, dtype="uint8").reshape(2, 2), dims=("y", "x"),
    ...                   attrs={"_FillValue": 0, "scale_factor": 1.0, "add_offset": 0.0})
    >>> out = for_writing(da.to_dataset(name="v"))["v"]
    >>> out.attrs, out.encoding["_FillValue"], out.dtype
    ({}, np.uint8(0), dtype('uint8'))
    """
    variables = {name: _encode_variable(var) for name, var in ds.variables.items()}
    if all(variables[name] is var for name, var in ds.variables.items()):
        return ds
    out = ds.copy()
    for name, var in variables.items():
        if var is not ds.variables[name]:
            if name in out.coords:
                out = out.assign_coords({name: var})
            else:
                out[name] = var
    return out
