"""Cubes built by other stacking libraries, read as xgeo grids.

xgeo labels pixels by their centres (as CF, GDAL's netCDF driver, rioxarray and
odc-stac do), and :func:`xgeo.crs.read_grid` derives the transform from those centre
coordinates. stackstac's default ``xy_coords="topleft"`` labels each pixel by its
*upper-left corner* instead, so reading such a cube as if it were centre-labelled puts
every pixel half a pixel off (right and down by half the resolution). This module
recognises that layout from what stackstac leaves on its DataArray:

* ``attrs["transform"]``: the output grid's affine (corner-based, as in rasterio), an
  :class:`affine.Affine` or its 6 (or 9) coefficients;
* ``attrs["spec"]`` (a ``RasterSpec`` with ``epsg``, ``bounds``, ``resolutions_xy``) and
  ``attrs["crs"]`` (``"epsg:32618"``), ``attrs["resolution"]``.

A cube is corner-labelled when its coordinate spacing equals the transform's pixel size
and its first x and y coordinates sit a whole number of pixels from the transform's
origin (stackstac's ``xy_coords="center"`` puts them half a pixel in, and slicing keeps
whole-pixel offsets). A coarsened or reprojected array whose stale ``transform`` attribute
no longer matches its coordinates is read as centre-labelled, as before. odc-stac labels
pixel centres and writes a CF ``spatial_ref``: it needs nothing from here.

stackstac also keeps each item's STAC properties as coordinates (``proj:bbox`` as a Python
set, ``proj:geometry`` as a dict, ...), which netCDF and Zarr cannot store;
:func:`encodable_metadata` turns them into JSON text before xgeo writes.

Examples
--------
>>> import numpy as np, xarray as xr
>>> from affine import Affine
>>> da = xr.DataArray(np.zeros((2, 3)), dims=("y", "x"),
...                   coords={"y": [20.0, 10.0], "x": [0.0, 10.0, 20.0]},
...                   attrs={"transform": Affine(10, 0, 0, 0, -10, 20), "crs": "epsg:32633"})
>>> pixel_anchor(da, "y", "x")
'corner'
>>> pixel_anchor(da.assign_coords(x=da.x + 5, y=da.y - 5), "y", "x")
'center'
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any, Literal

import numpy as np
import xarray as xr
from affine import Affine
from pyproj import CRS

from .grid import parse_crs

__all__ = ["encodable_metadata", "pixel_anchor", "stackstac_crs", "stackstac_transform"]

#: how far (in pixels) a coordinate may sit from a whole-pixel offset and still count as one
_TOLERANCE = 1e-3


def _holders(obj: xr.DataArray | xr.Dataset) -> Iterator[dict[str, Any]]:
    """The attribute dicts that may carry stackstac's metadata: the object's own, then (for a
    Dataset, e.g. ``stackstac.stack(...).to_dataset("band")``) each variable's."""
    yield obj.attrs
    if isinstance(obj, xr.Dataset):
        for var in obj.data_vars.values():
            yield var.attrs


def _as_affine(value: Any) -> Affine | None:
    if isinstance(value, Affine):
        return value
    try:
        coeffs = [float(v) for v in np.asarray(value, dtype="float64").ravel()]
    except (TypeError, ValueError):
        return None
    if len(coeffs) not in (6, 9) or not all(np.isfinite(coeffs[:6])):
        return None
    return Affine(*coeffs[:6])


def stackstac_transform(obj: xr.DataArray | xr.Dataset) -> Affine | None:
    """The corner-based ``transform`` attribute stackstac (and old rioxarray) leave on an
    array, or None when there is none (or it is not an axis-aligned affine).

    Examples
    --------
    >>> import xarray as xr
    >>> stackstac_transform(xr.DataArray([[0.0]], dims=("y", "x"), attrs={"transform": [10, 0, 5, 0, -10, 7]}))
    Affine(10.0, 0.0, 5.0,
           0.0, -10.0, 7.0)
    """
    for attrs in _holders(obj):
        if "transform" in attrs:
            t = _as_affine(attrs["transform"])
            if t is not None and t.b == 0 and t.d == 0 and t.a != 0 and t.e != 0:
                return t
    return None


def _first_and_step(values: np.ndarray) -> tuple[float, float] | None:
    values = np.asarray(values, dtype="float64")
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values[[0, -1]])):
        return None
    return float(values[0]), float((values[-1] - values[0]) / (values.size - 1))


def _offset_in_pixels(first: float, step: float, origin: float, size: float) -> float | None:
    """Where ``first`` sits inside its pixel of the transform (0 = corner, 0.5 = centre),
    or None when the coordinate spacing is not the transform's pixel size."""
    if abs(step - size) > _TOLERANCE * abs(size):
        return None
    pos = (first - origin) / size
    return float(pos - np.floor(pos + _TOLERANCE))


def pixel_anchor(
    obj: xr.DataArray | xr.Dataset, y_dim: Hashable, x_dim: Hashable
) -> Literal["center", "corner"]:
    """Whether the ``x_dim``/``y_dim`` coordinates label pixel centres (xgeo, CF, odc-stac,
    rioxarray, stackstac ``xy_coords="center"``) or upper-left corners (stackstac's default
    ``xy_coords="topleft"``).

    ``"corner"`` only when a ``transform`` attribute is present, the coordinate spacing is
    its pixel size and both first coordinates lie a whole number of pixels from its origin;
    everything else is ``"center"``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray(np.zeros((1, 2)), dims=("y", "x"), coords={"y": [5.0], "x": [0.5, 1.5]})
    >>> pixel_anchor(da, "y", "x")
    'center'
    """
    transform = stackstac_transform(obj)
    if transform is None or x_dim not in obj.coords or y_dim not in obj.coords:
        return "center"
    xs, ys = _first_and_step(obj[x_dim].values), _first_and_step(obj[y_dim].values)
    if xs is None or ys is None:
        return "center"
    fx = _offset_in_pixels(*xs, transform.c, transform.a)
    fy = _offset_in_pixels(*ys, transform.f, transform.e)
    if fx is None or fy is None:
        return "center"
    if abs(fx) <= _TOLERANCE and abs(fy) <= _TOLERANCE:
        return "corner"
    return "center"


def stackstac_crs(obj: xr.DataArray | xr.Dataset) -> CRS | None:
    """The output CRS stackstac records on its array (``attrs["spec"].epsg``, or its
    ``attrs["crs"]`` text next to a ``transform``), or None for other layouts.

    Read before the generic plain-text ``crs`` attribute, which warns: this layout is
    unambiguous (stackstac writes the CRS it reprojected to).

    Examples
    --------
    >>> import xarray as xr
    >>> da = xr.DataArray([[0.0]], dims=("y", "x"),
    ...                   attrs={"crs": "epsg:32618", "transform": [5, 0, 0, 0, -5, 0], "resolution": 5.0})
    >>> stackstac_crs(da).to_epsg()
    32618
    """
    for attrs in _holders(obj):
        epsg = getattr(attrs.get("spec"), "epsg", None)
        if isinstance(epsg, int | np.integer):
            return parse_crs(int(epsg))
        text = attrs.get("crs")
        if isinstance(text, str) and text.strip() and "transform" in attrs and "resolution" in attrs:
            return parse_crs(text)
    return None


def _to_json(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)  # anything else (a datetime, a shapely geometry) as its text


def encodable_metadata(obj: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    """``obj`` with every object-dtype, non-index coordinate whose elements are containers
    (dict, list, tuple, set: stackstac's per-item STAC properties) as JSON text, so
    netCDF and Zarr can store it; sets become sorted lists. Nothing else changes.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray([1.0], dims="t", coords={"bbox": ((), np.array({1.0, 2.0}, dtype=object))})
    >>> encodable_metadata(da).bbox.item()
    '[1.0, 2.0]'
    """
    import json

    changed = {}
    for name, coord in obj.coords.items():
        if coord.dtype != object or name in obj.indexes:
            continue
        values = coord.values
        flat = values.ravel()
        if not any(isinstance(v, dict | list | tuple | set | frozenset) for v in flat):
            continue
        text = np.array(
            [v if isinstance(v, str) else json.dumps(v, default=_to_json) for v in flat],
            dtype=object,
        ).reshape(values.shape)
        changed[name] = coord.copy(data=text)
    return obj.assign_coords(changed) if changed else obj
