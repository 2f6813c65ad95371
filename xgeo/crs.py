"""Reading and writing the grid (CRS + transform) on xarray objects.

Conventions read, in order of trust:

1. CF ``grid_mapping``: the name in a variable's ``.encoding`` or ``.attrs``
   points at a (usually 0-d) variable whose attributes hold ``crs_wkt``,
   ``spatial_ref`` (GDAL/rioxarray) or CF projection parameters.
2. A coordinate called ``spatial_ref`` or ``crs`` with those attributes
   (rioxarray's and odc-geo's layout even when ``grid_mapping`` was lost).
3. A plain ``crs`` text attribute on the variable or the Dataset (e.g.
   ``"+init=epsg:32719"``), with a warning: it is ambiguous and not CF.

The transform always comes from the x/y coordinates (regular spacing checked),
never from a cached ``GeoTransform`` that a slice may have made stale — except for a raster
one pixel high or wide, whose coordinates hold no spacing: there the ``GeoTransform`` is
taken when its pixel centres are exactly the coordinates. Coordinates are
pixel centres; stackstac's corner labels (``xy_coords="topleft"``) are recognised
(:mod:`xgeo.peer_cubes`) and shifted by half a pixel.

Writing (:func:`write_grid`) produces what GDAL, rioxarray and odc-geo read: a
0-d ``spatial_ref`` coordinate with ``crs_wkt`` and ``spatial_ref`` (same WKT),
``pyproj.CRS.to_cf()`` parameters and ``GeoTransform``; ``grid_mapping`` in every
spatial variable's ``.encoding``; CF attributes on x/y.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine
from pyproj import CRS

from .errors import CRSError, GridError, GridMappingConflictError
from .grid import Grid, parse_crs
from .peer_cubes import pixel_anchor, stackstac_crs

__all__ = [
    "GRID_MAPPING_NAME",
    "find_spatial_dims",
    "read_crs",
    "read_grid",
    "write_grid",
    "set_crs",
    "spatial_variables",
]

GRID_MAPPING_NAME = "spatial_ref"

XgeoObj = xr.DataArray | xr.Dataset

_X_NAMES = ("x", "lon", "longitude", "easting")
_Y_NAMES = ("y", "lat", "latitude", "northing")
_X_STANDARD = (
    "projection_x_coordinate",
    "longitude",
    "grid_longitude",
    "projection_x_angular_coordinate",
)
_Y_STANDARD = (
    "projection_y_coordinate",
    "latitude",
    "grid_latitude",
    "projection_y_angular_coordinate",
)
# Attributes whose meaning is the grid; they are rewritten or dropped on every grid change.
_STALE_ATTRS = ("crs", "transform", "res", "GeoTransform", "spatial_ref", "crs_wkt", "spec",
                "resolution")


# --------------------------------------------------------------------- spatial dims
def find_spatial_dims(obj: XgeoObj) -> tuple[Hashable, Hashable]:
    """Return the names ``(y_dim, x_dim)`` of an object's spatial dimensions.

    Found by CF attributes of the dimension coordinates (``axis``,
    ``standard_name``), then by name (``y``/``x``, ``lat``/``lon``,
    ``latitude``/``longitude``).

    Raises
    ------
    GridError
        If no pair of spatial dims is found; the message lists the dims present.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> find_spatial_dims(xr.DataArray(np.zeros((2, 3)), dims=("lat", "lon")))
    ('lat', 'lon')
    """
    dims = list(obj.dims)
    x_dim = _find_dim(obj, dims, "X", _X_STANDARD, _X_NAMES)
    y_dim = _find_dim(obj, dims, "Y", _Y_STANDARD, _Y_NAMES)
    if x_dim is None or y_dim is None:
        missing = " and ".join(n for n, d in (("y", y_dim), ("x", x_dim)) if d is None)
        raise GridError(
            f"no spatial {missing} dimension found among dims {tuple(dims)}; name them "
            "y/x (or lat/lon), give their coordinates CF 'axis' attributes, or rename "
            "with obj.rename({...})"
        )
    return y_dim, x_dim


def _find_dim(
    obj: XgeoObj, dims: list, axis: str, standards: tuple, names: tuple
) -> Hashable | None:
    for dim in dims:
        if dim in obj.coords:
            attrs = obj.coords[dim].attrs
            if (
                str(attrs.get("axis", "")).upper() == axis
                or attrs.get("standard_name") in standards
            ):
                return dim
    lowered = {str(d).lower(): d for d in dims}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def spatial_variables(ds: xr.Dataset) -> list[Hashable]:
    """Names of a Dataset's data variables that have both spatial dims."""
    y_dim, x_dim = find_spatial_dims(ds)
    return [name for name, var in ds.data_vars.items() if y_dim in var.dims and x_dim in var.dims]


# ---------------------------------------------------------------------------- CRS
def _grid_mapping_names(obj: XgeoObj) -> list[Hashable]:
    variables = [obj] if isinstance(obj, xr.DataArray) else list(obj.data_vars.values())
    names: list[Hashable] = []
    for var in variables:
        gm = var.encoding.get("grid_mapping", var.attrs.get("grid_mapping"))
        if gm is None:
            continue
        # CF allows "name: coord1 coord2" forms; the first token is the mapping variable.
        name = str(gm).split(":")[0].split()[0] if str(gm).strip() else None
        if name and name not in names:
            names.append(name)
    return names


def _crs_from_attrs(attrs: dict[str, Any], where: str) -> CRS | None:
    for key in ("crs_wkt", "spatial_ref"):
        if attrs.get(key):
            return parse_crs(attrs[key])
    if "grid_mapping_name" in attrs:
        try:
            return CRS.from_cf(dict(attrs))
        except Exception as exc:
            raise CRSError(
                f"grid mapping {where!r} has CF parameters pyproj cannot parse: {exc}"
            ) from exc
    return None


def _mapping_variable(obj: XgeoObj, name: Hashable) -> xr.DataArray | None:
    if name in obj.coords:
        return obj.coords[name]
    if isinstance(obj, xr.Dataset) and name in obj.data_vars:
        return obj[name]
    return None


def read_crs(obj: XgeoObj) -> CRS | None:
    """The CRS of an xarray object, or None when it carries none.

    Raises
    ------
    GridMappingConflictError
        If a Dataset's variables point at grid mappings with different CRSs.
    CRSError
        If the stored CRS cannot be parsed.

    Examples
    --------
    >>> import xgeo
    >>> read_crs(xgeo.datasets.sentinel2_cube()).to_epsg()
    32633
    """
    found: dict[Hashable, CRS] = {}
    for name in _grid_mapping_names(obj):
        var = _mapping_variable(obj, name)
        if var is None:
            continue
        crs = _crs_from_attrs(var.attrs, str(name))
        if crs is not None:
            found[name] = crs
    distinct = {crs.to_wkt(): (name, crs) for name, crs in found.items()}
    if len(distinct) > 1:
        desc = ", ".join(f"{name!r} ({crs.name})" for name, crs in distinct.values())
        raise GridMappingConflictError(
            f"variables use different grid mappings: {desc}; select variables sharing one "
            "grid (ds[[...]]) or reproject them onto a common grid first"
        )
    if distinct:
        return next(iter(distinct.values()))[1]
    for name in (GRID_MAPPING_NAME, "crs"):
        var = _mapping_variable(obj, name)
        if var is not None and var.ndim == 0:
            crs = _crs_from_attrs(var.attrs, name)
            if crs is not None:
                return crs
    return stackstac_crs(obj) or _crs_from_text_attribute(obj)


def _crs_from_text_attribute(obj: XgeoObj) -> CRS | None:
    holders = [obj] if isinstance(obj, xr.DataArray) else [obj, *obj.data_vars.values()]
    for holder in holders:
        text = holder.attrs.get("crs")
        if isinstance(text, str) and text.strip():
            crs = parse_crs(text)
            warnings.warn(
                f"CRS read from a plain 'crs' text attribute ({text!r}), not CF grid_mapping; "
                "call obj.geo.write_grid() to store it the standard way",
                UserWarning,
                stacklevel=3,
            )
            return crs
    return None


def read_grid(obj: XgeoObj) -> Grid:
    """The :class:`~xgeo.grid.Grid` of an xarray object: CRS (may be None) + transform + shape.

    The transform is derived from the x/y coordinates; a missing coordinate is an error.
    """
    y_dim, x_dim = find_spatial_dims(obj)
    base = _grid_from_coords(obj, y_dim, x_dim)
    return Grid(read_crs(obj), base.transform, base.shape)


def _grid_from_coords(obj: XgeoObj, y_dim: Hashable, x_dim: Hashable) -> Grid:
    """The grid of the x/y coordinates alone, without CRS.

    Coordinates are pixel centres, except on a stackstac ``xy_coords="topleft"`` cube
    (:func:`xgeo.peer_cubes.pixel_anchor`), whose corner labels are shifted by half a pixel.
    """
    for dim in (y_dim, x_dim):
        if dim not in obj.coords:
            rotated = _rotated_geotransform(obj)
            if rotated is not None:
                raise GridError(
                    f"the raster's transform is rotated or sheared (GeoTransform {rotated}); "
                    "xgeo works on north-up grids only: warp it to one first (gdalwarp in.tif "
                    "out.tif, or rioxarray's reproject)")
            raise GridError(
                f"spatial dimension {dim!r} has no coordinate values, so the grid is unknown; "
                "assign pixel-centre coordinates (obj.assign_coords(...)) or use write_grid(grid=...)"
            )
    x, y = obj[x_dim].values, obj[y_dim].values
    if min(x.size, y.size) == 1 and (stored := _geotransform_grid(obj, x, y)) is not None:
        return stored  # one row or column: the spacing is only in the grid mapping
    grid = Grid.from_coords(x, y)
    if pixel_anchor(obj, y_dim, x_dim) == "corner":
        t = grid.transform
        grid = Grid(None, Affine(t.a, t.b, t.c + t.a / 2, t.d, t.e, t.f + t.e / 2), grid.shape)
    return grid


def _geotransform(obj: XgeoObj) -> tuple[float, ...] | None:
    """The grid mapping's GDAL ``GeoTransform`` (c, a, b, f, d, e), as rioxarray and xgeo
    write it; None when there is none that reads as six numbers."""
    for name in (*_grid_mapping_names(obj), GRID_MAPPING_NAME):
        if name in obj.coords or (isinstance(obj, xr.Dataset) and name in obj):
            try:
                values = tuple(float(v) for v in str(obj[name].attrs.get("GeoTransform")).split())
            except ValueError:
                continue
            if len(values) == 6:
                return values
    return None


def _rotated_geotransform(obj: XgeoObj) -> str | None:
    """The ``GeoTransform`` as text when it has rotation or shear terms, else None."""
    gt = _geotransform(obj)
    return None if gt is None or not (gt[2] or gt[4]) else " ".join(f"{v:g}" for v in gt)


def _geotransform_grid(obj: XgeoObj, x: np.ndarray, y: np.ndarray) -> Grid | None:
    """The grid of the ``GeoTransform`` when it is north-up and its pixel centres are the
    coordinates ``x`` and ``y``; None otherwise. A raster one pixel high or wide has no
    spacing in its coordinates, only there."""
    gt = _geotransform(obj)
    if gt is None:
        return None
    c, a, b, f, d, e = gt
    if b or d or not (a and e):
        return None
    cx, cy = c + a * (np.arange(x.size) + 0.5), f + e * (np.arange(y.size) + 0.5)
    if np.allclose(cx, x, rtol=0, atol=abs(a) * 1e-6) and np.allclose(
            cy, y, rtol=0, atol=abs(e) * 1e-6):
        return Grid(None, Affine(a, 0.0, c, 0.0, e, f), (y.size, x.size))
    return None


# ------------------------------------------------------------------------- writing
def _coord_attrs(crs: CRS | None, axis: str) -> dict[str, str]:
    if crs is not None and crs.is_geographic:
        if axis == "X":
            return {
                "standard_name": "longitude",
                "long_name": "longitude",
                "units": "degrees_east",
                "axis": "X",
            }
        return {
            "standard_name": "latitude",
            "long_name": "latitude",
            "units": "degrees_north",
            "axis": "Y",
        }
    units = "metre"
    if crs is not None and crs.axis_info:
        unit = crs.axis_info[0].unit_name
        units = "metre" if unit in ("metre", "meter") else unit
    name = "x" if axis == "X" else "y"
    return {
        "standard_name": f"projection_{name}_coordinate",
        "long_name": f"{name} coordinate of projection",
        "units": units,
        "axis": axis,
    }


def _mapping_attrs(grid: Grid) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if grid.crs is not None:
        wkt = grid.crs.to_wkt()
        try:
            cf = grid.crs.to_cf()
        except Exception:  # some CRSs have no CF mapping; WKT alone still works everywhere
            cf = {}
        attrs.update({k: v for k, v in cf.items() if k != "crs_wkt"})
        attrs["crs_wkt"] = wkt
        attrs["spatial_ref"] = wkt
    attrs["GeoTransform"] = " ".join(repr(float(v)) for v in grid.geotransform)
    return attrs


def write_grid(obj: XgeoObj, grid: Grid | None = None, *, crs: Any = None) -> XgeoObj:
    """Return a copy of ``obj`` with its grid written as CF + GDAL metadata.

    Parameters
    ----------
    grid
        The grid to write. By default the one read from ``obj``. If given, its
        shape must match the spatial dims; its coordinates replace the x/y values.
    crs
        Override the CRS (same as ``set_crs``).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray(np.zeros((2, 2)), dims=("y", "x"), coords={"y": [1.5, 0.5], "x": [0.5, 1.5]})
    >>> out = write_grid(da, crs="EPSG:32633")
    >>> out.spatial_ref.attrs["GeoTransform"]
    '0.0 1.0 0.0 2.0 0.0 -1.0'
    >>> out.encoding["grid_mapping"]
    'spatial_ref'
    """
    if grid is not None and not isinstance(grid, Grid):
        raise GridError(f"write_grid(grid=) takes an xgeo Grid, not {type(grid).__name__} "
                        f"{grid!r}; for a CRS pass it by name: write_grid(crs={grid!r})")
    y_dim, x_dim = find_spatial_dims(obj)
    replace_coords = grid is not None
    if grid is None:
        base = _grid_from_coords(obj, y_dim, x_dim)
        # stackstac's corner labels become centres: what is written is read back the same way
        replace_coords = pixel_anchor(obj, y_dim, x_dim) == "corner"
        grid = (
            base.to_crs(crs) if crs is not None else Grid(read_crs(obj), base.transform, base.shape)
        )
    elif crs is not None:
        grid = grid.to_crs(crs)
    expected = (obj.sizes[y_dim], obj.sizes[x_dim])
    if grid.shape != expected:
        raise GridError(
            f"grid shape {grid.shape} does not match the object's (y, x) sizes {expected}"
        )
    old_names = set(_grid_mapping_names(obj)) | {GRID_MAPPING_NAME}
    drop = [
        n
        for n in old_names
        if n in obj.coords or (isinstance(obj, xr.Dataset) and n in obj.data_vars)
    ]
    out = obj.drop_vars(drop)
    coords: dict[Hashable, Any] = {GRID_MAPPING_NAME: ((), np.int32(0), _mapping_attrs(grid))}
    # Existing coordinate values are kept bit for bit; only an explicit grid replaces them.
    y, x = grid.coords() if replace_coords else (obj[y_dim].values, obj[x_dim].values)
    for dim, values, axis in ((y_dim, y, "Y"), (x_dim, x, "X")):
        old_attrs = dict(obj[dim].attrs) if dim in obj.coords else {}
        cf = _coord_attrs(grid.crs, axis)
        # A user's long_name survives; what the CRS determines (units, standard_name, axis) is rewritten.
        if "long_name" in old_attrs:
            cf.pop("long_name")
        coords[dim] = (dim, values, {**old_attrs, **cf})
    out = out.assign_coords(coords)
    if replace_coords:  # an old coordinate encoding (dtype, scale) may not fit the new values
        for dim in (y_dim, x_dim):
            out[dim].encoding = {}
    if isinstance(out, xr.DataArray):
        _mark_variable(out, y_dim, x_dim)
    else:
        for var in out.data_vars.values():
            _mark_variable(var, y_dim, x_dim)
        # the Dataset's own copies too (stackstac's .to_dataset("band") moves them there)
        out.attrs = {k: v for k, v in out.attrs.items() if k not in _STALE_ATTRS}
    return out


def _mark_variable(var: xr.DataArray, y_dim: Hashable, x_dim: Hashable) -> None:
    for key in _STALE_ATTRS + ("grid_mapping",):
        var.attrs.pop(key, None)
    if y_dim in var.dims and x_dim in var.dims:
        # In .encoding only: xarray refuses to write when both attrs and encoding hold it.
        var.encoding["grid_mapping"] = GRID_MAPPING_NAME
    else:
        var.encoding.pop("grid_mapping", None)


def set_crs(obj: XgeoObj, crs: Any) -> XgeoObj:
    """Return a copy of ``obj`` labelled with ``crs`` (no pixels move).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray(np.zeros((2, 2)), dims=("y", "x"), coords={"y": [1.5, 0.5], "x": [0.5, 1.5]})
    >>> read_crs(set_crs(da, 32633)).to_epsg()
    32633
    """
    return write_grid(obj, crs=parse_crs(crs))
