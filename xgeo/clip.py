"""Clip to geometries: crop to the pixels they select and fill the others (``rio.clip``'s rules).

:func:`clip` follows rioxarray's ``rio.clip``: GDAL's rasterizer (``rasterio.features``)
decides which pixels a geometry selects (pixel centre inside, or every pixel touched with
``all_touched=True``; lines and points burn the pixels they cross), ``invert=True`` keeps the
pixels outside instead, and ``drop=True`` crops to the rows and columns that hold a kept
pixel, on the data's own grid (whole pixels; the transform of the crop is the data's,
shifted). Geometries in another CRS are transformed to the data's with pyproj, their edges
densified first so that a straight edge in degrees stays the curve it is in metres.

What the pixels outside become, per variable with both spatial dims:

- a float variable: its declared nodata (``_FillValue``/``nodata``/``missing_value``
  attribute) if it has one, else NaN;
- an integer variable with a declared nodata (attribute, or ``_FillValue`` in its encoding):
  that value, dtype kept;
- an integer variable without one: ``nodata=`` if you pass it (the variable then records it
  as its ``_FillValue``, so netCDF/Zarr/GeoTIFF readers see it), else the variable becomes
  float32 (float64 above 16 bits) with NaN outside. Every class value stays exact either way.

Other variables (no spatial dims, e.g. a per-date cloud fraction) are kept; coordinates are
kept bit for bit. On dask-backed data nothing is computed but the crop window: the mask is
rasterized block by block inside the task graph (each block its own window of the grid).
Needs rasterio (``pip install 'xgeo[geotiff]'``).
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine
from pyproj import CRS, Transformer

from .chips import fill_value_for
from .crs import find_spatial_dims, read_grid, write_grid
from .errors import ClipError, CRSError, InputTypeError, NoDataInBoundsError
from .grid import Grid, parse_crs

__all__ = ["clip", "GEOMETRY_TYPES"]

log = logging.getLogger(__name__)

#: GeoJSON geometry types accepted (and GeometryCollection, Feature, FeatureCollection).
GEOMETRY_TYPES = ("Polygon", "MultiPolygon", "LineString", "MultiLineString", "Point",
                  "MultiPoint")
_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2,
          "MultiPolygon": 3}
#: Pixels rasterized at once while looking for the crop window (bounded memory on huge grids).
_STRIP_PIXELS = 1 << 22
#: Most points one densified edge gets (edges are split into pieces of about one pixel).
_MAX_EDGE_POINTS = 1000
_PROBES = 16  # points per edge that measure its transformed length


# ------------------------------------------------------------------------ geometry input
def _geojson_crs(member: Any) -> CRS | None:
    """CRS of a GeoJSON (2008) ``crs`` member: ``{"type": "name", "properties": {"name": ...}}``."""
    if member is None:
        return None
    if isinstance(member, Mapping) and isinstance(member.get("properties"), Mapping):
        name = member["properties"].get("name")
        if name:
            return parse_crs(name)
    return parse_crs(member)


class _Collector:
    """Flattens the accepted inputs into GeoJSON geometry mappings and the CRSs they carry."""

    def __init__(self) -> None:
        self.geoms: list[dict[str, Any]] = []
        self.crss: list[CRS] = []

    def add(self, obj: Any) -> None:
        if obj is None:
            raise ClipError("geometry is None; pass a shapely geometry, a GeoJSON-like mapping, a "
                            "list of them, or a geopandas GeoSeries/GeoDataFrame")
        if isinstance(obj, Mapping):
            return self.add_mapping(obj)
        gi = getattr(obj, "__geo_interface__", None)
        if gi is not None:  # shapely, geopandas, odc-geo, ...
            crs = getattr(obj, "crs", None)
            if crs is not None:
                self.crss.append(parse_crs(crs if isinstance(crs, CRS) else _crs_input(crs)))
            return self.add_mapping(gi)
        if isinstance(obj, str | bytes):
            raise ClipError(f"geometry {str(obj)[:60]!r} is text; parse it first (json.loads for "
                            "GeoJSON, shapely.from_wkt for WKT)")
        try:
            items = list(obj)
        except TypeError:
            raise ClipError(f"cannot read a geometry from a {type(obj).__name__}; pass a shapely "
                            "geometry, a GeoJSON-like mapping, a list of them, or a geopandas "
                            "GeoSeries/GeoDataFrame") from None
        for item in items:
            self.add(item)

    def add_mapping(self, m: Mapping[str, Any]) -> None:
        kind = m.get("type")
        if "crs" in m:
            crs = _geojson_crs(m["crs"])
            if crs is not None:
                self.crss.append(crs)
        if kind == "FeatureCollection":
            for f in m.get("features", ()):
                self.add_mapping(f)
        elif kind == "Feature":
            if m.get("geometry") is not None:  # a feature without geometry selects nothing
                self.add_mapping(m["geometry"])
        elif kind == "GeometryCollection":
            for g in m.get("geometries", ()):
                self.add_mapping(g)
        elif kind in GEOMETRY_TYPES:
            coords = m.get("coordinates")
            if coords is None:
                raise ClipError(f"{kind} geometry has no 'coordinates'")
            arr = _as_paths(coords, _DEPTH[kind], kind)
            if arr is not None and (isinstance(arr, np.ndarray) or arr):  # empty: skipped
                self.geoms.append({"type": kind, "coordinates": arr})
        else:
            raise ClipError(f"unsupported geometry type {kind!r}; use one of "
                            f"{', '.join(GEOMETRY_TYPES)}, GeometryCollection, Feature or "
                            "FeatureCollection")


def _crs_input(crs: Any) -> Any:
    """An object's ``.crs`` as pyproj input (odc-geo's CRS has ``to_wkt``)."""
    to_wkt = getattr(crs, "to_wkt", None)
    return to_wkt() if callable(to_wkt) and not isinstance(crs, str) else crs


def _as_paths(coords: Any, depth: int, kind: str) -> Any:
    """GeoJSON coordinates as nested lists whose leaves are ``(n, 2)`` float arrays (``(2,)``
    for a point); empty parts are dropped."""
    if depth == 0:
        p = np.asarray(coords, dtype="float64").ravel()
        if p.size == 0:
            return None
        if p.size < 2:
            raise ClipError(f"{kind} position {coords!r} needs x and y")
        return p[:2]
    if depth == 1 and kind != "MultiPoint":
        a = np.asarray(coords, dtype="float64")
        if a.size == 0:
            return None
        if a.ndim != 2 or a.shape[1] < 2:
            raise ClipError(f"{kind} coordinates must be lists of (x, y) positions")
        return a[:, :2]
    out = [_as_paths(c, depth - 1, kind) for c in coords]
    return [p for p in out if p is not None and (not isinstance(p, list) or p)]


def _leaves(coords: Any) -> Iterable[np.ndarray]:
    if isinstance(coords, np.ndarray):
        yield coords
    else:
        for c in coords:
            yield from _leaves(c)


def _map(coords: Any, fn: Any) -> Any:
    if isinstance(coords, np.ndarray):
        return fn(coords)
    return [_map(c, fn) for c in coords]


# ------------------------------------------------------------------------------ CRS
def _source_crs(crs: Any, carried: list[CRS], data_crs: CRS) -> CRS:
    distinct = {c.to_wkt(): c for c in carried}
    if len(distinct) > 1:
        raise CRSError("the geometries carry different CRSs ("
                       + ", ".join(c.name for c in distinct.values())
                       + "); bring them to one CRS first")
    own = next(iter(distinct.values()), None)
    if crs is not None:
        given = parse_crs(crs)
        if own is not None and own != given:
            raise CRSError(f"the geometry is in {own.name!r} but crs={given.name!r} was passed; "
                           "drop crs= (the geometry's own CRS is used) or reproject the geometry")
        return given
    return own if own is not None else data_crs


def _densify(path: np.ndarray, tr: Transformer, grid: Grid) -> np.ndarray:
    """Transform a ring/line to pixel coordinates, each edge cut into about one-pixel pieces."""
    px = _to_pixels(np.column_stack(tr.transform(path[:, 0], path[:, 1])), grid)
    if len(path) < 2 or not np.isfinite(px).all():
        return px
    # each edge's length in pixels along its transformed curve, probed at _PROBES points (its
    # chord misses curved edges: lon -180..180 at lat 85 starts and ends at one polar pixel)
    t = np.arange(_PROBES + 1) / _PROBES
    probe = path[:-1, None] + (path[1:] - path[:-1])[:, None] * t[None, :, None]
    with np.errstate(invalid="ignore"):
        curve = _to_pixels(np.stack(tr.transform(probe[..., 0], probe[..., 1]), axis=-1), grid)
    seg = np.nansum(np.hypot(*np.moveaxis(np.diff(curve, axis=1), -1, 0)), axis=1)
    n = np.clip(np.ceil(seg), 1, _MAX_EDGE_POINTS).astype(np.int64)
    if n.max() == 1:
        return px
    t = np.concatenate([np.arange(k) / k for k in n])
    i = np.repeat(np.arange(len(n)), n)
    pts = path[i] + (path[i + 1] - path[i]) * t[:, None]
    pts = np.vstack([pts, path[-1:]])
    return _to_pixels(np.column_stack(tr.transform(pts[:, 0], pts[:, 1])), grid)


def _to_pixels(xy: np.ndarray, grid: Grid) -> np.ndarray:
    """``(..., 2)`` CRS points to ``(..., 2)`` pixel ``(col, row)``, inverted and summed as GDAL
    does, so the pixels the rasterizer picks are those of rasterio on the full grid."""
    row, col = grid.rowcol(xy[..., 0], xy[..., 1], gdal=True)
    return np.stack([col, row], axis=-1)


def _pixel_geometries(geoms: list[dict[str, Any]], src: CRS, grid: Grid
                      ) -> tuple[list[dict[str, Any]], tuple[float, float, float, float]]:
    """Geometries in pixel coordinates of ``grid`` (as rasterio takes them) and their bounds
    ``(col0, row0, col1, row1)``."""
    same = src == grid.crs
    tr = None if same else Transformer.from_crs(src, grid.crs, always_xy=True)
    period = _longitude_period(grid)
    out = []
    lo, hi = np.full(2, np.inf), np.full(2, -np.inf)
    for g in geoms:
        if same:
            coords = _map(g["coordinates"], lambda p: _to_pixels(p, grid))
        else:
            coords = _map(g["coordinates"], lambda p: _densify(p, tr, grid) if p.ndim == 2
                          else _densify(p[None], tr, grid)[0])
            if period is not None:  # a projected geometry across the antimeridian: one piece
                coords = _map(coords, lambda p: _unwrapped(p, period))
        if not all(np.isfinite(p).all() for p in _leaves(coords)):
            raise CRSError(f"the geometry does not project from {src.name!r} into the data's CRS "
                           f"{grid.crs.name!r} (points off the projection's domain); clip a part "
                           "of it that lies on the data")
        for shifted in _longitude_copies(coords, period, grid.width):
            for p in _leaves(shifted):
                p2 = np.atleast_2d(p)
                lo, hi = np.minimum(lo, p2.min(axis=0)), np.maximum(hi, p2.max(axis=0))
            out.append({"type": g["type"], "coordinates": _map(shifted, lambda p: p.tolist())})
    return out, (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def _longitude_period(grid: Grid) -> float | None:
    """360 degrees of longitude in columns of a north-up lon/lat ``grid``; None otherwise."""
    t = grid.transform
    if not grid.crs.is_geographic or t.b != 0 or t.d != 0 or t.a == 0:
        return None
    return 360.0 / abs(t.a)


def _unwrapped(p: np.ndarray, period: float) -> np.ndarray:
    """A densified path (pixel columns) without the jumps of a longitude wrapping at +-180:
    consecutive points are about a pixel apart, so a jump of half the globe is the seam."""
    if p.ndim != 2 or len(p) < 2:
        return p
    out = p.copy()
    out[:, 0] = np.unwrap(p[:, 0], period=period)
    return out


def _longitude_copies(coords: Any, period: float | None, width: int) -> list[Any]:
    """``coords`` and, on a lon/lat grid, its copies 360 degrees east or west that overlap the
    grid's columns: a geometry on -180..180 then finds data on 0..360 or past 180 (it found
    only the part on its own side of the frame's seam)."""
    if period is None:
        return [coords]
    cols = np.concatenate([np.atleast_2d(p)[:, 0] for p in _leaves(coords)])
    out = [coords]
    for k in (-2, -1, 1, 2):
        if cols.max() + k * period >= 0 and cols.min() + k * period <= width:
            out.append(_map(coords, lambda p, k=k: p + np.array([k * period, 0.0])))
    return out


# -------------------------------------------------------------------------- rasterizing
def _rasterio_features() -> Any:
    try:
        from rasterio import features
    except ImportError as exc:
        raise ImportError(
            "clip rasterizes geometries with GDAL through rasterio, which is not installed: "
            f"pip install 'xgeo[geotiff]' (or pip install rasterio) ({exc})") from exc
    return features


_QUIET_RASTERIZE = threading.Lock()


class _Mask:
    """Kept pixels of a window of the grid; picklable (dask blocks are rasterized in workers)."""

    def __init__(self, geoms: list[dict[str, Any]], all_touched: bool, invert: bool,
                 bounds: tuple[float, float, float, float]) -> None:
        self.geoms, self.all_touched, self.invert = geoms, all_touched, invert
        self.bounds = bounds  # (col0, row0, col1, row1) of every vertex, in pixels

    def window(self, r0: int, c0: int, h: int, w: int) -> np.ndarray:
        cmin, rmin, cmax, rmax = self.bounds
        if h == 0 or w == 0 or cmax < c0 - 1 or cmin > c0 + w + 1 or rmax < r0 - 1 or rmin > r0 + h + 1:
            return np.full((h, w), self.invert)  # no geometry near this window
        features = _rasterio_features()
        # Geometries are in pixels: the window at (0, 0) has the identity transform, which
        # rasterio takes for "not georeferenced" and warns about; here it is meant. The filter
        # is process state, so dask's threads take turns (one rasterization at a time).
        with _QUIET_RASTERIZE, warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Dataset has no geotransform")
            inside = features.geometry_mask(
                self.geoms, out_shape=(h, w), transform=Affine.translation(c0, r0),
                all_touched=self.all_touched, invert=True)
        return ~inside if self.invert else inside

    def block(self, template: np.ndarray, row0: int, col0: int,
              block_info: dict | None = None) -> np.ndarray:
        (r0, r1), (c0, c1) = block_info[0]["array-location"]
        return self.window(row0 + r0, col0 + c0, r1 - r0, c1 - c0)


def _extent(mask: _Mask, rows: range, cols: range) -> tuple[slice, slice] | None:
    """Rows and columns holding a kept pixel, scanning ``rows x cols`` in strips; None if none."""
    w = len(cols)
    step = max(1, _STRIP_PIXELS // max(w, 1))
    any_rows: list[int] = []
    any_cols = np.zeros(w, dtype=bool)
    for r in range(rows.start, rows.stop, step):
        h = min(step, rows.stop - r)
        m = mask.window(r, cols.start, h, w)
        hit = np.flatnonzero(m.any(axis=1))
        if hit.size:
            any_rows += [r + int(hit[0]), r + int(hit[-1])]
            any_cols |= m.any(axis=0)
    if not any_rows:
        return None
    c = np.flatnonzero(any_cols)
    return (slice(min(any_rows), max(any_rows) + 1),
            slice(cols.start + int(c[0]), cols.start + int(c[-1]) + 1))


# ------------------------------------------------------------------------------ filling
def _declared_fill(var: xr.DataArray) -> bool:
    return any(var.attrs.get(k) is not None for k in ("_FillValue", "nodata", "missing_value")) or (
        var.dtype.kind in "iub" and any(var.encoding.get(k) is not None
                                        for k in ("_FillValue", "missing_value")))


def _fill(name: Hashable, var: xr.DataArray, nodata: Any) -> tuple[xr.DataArray, Any, str | None]:
    """(variable, possibly promoted; its fill value; what was decided, for the log)."""
    user = nodata.get(name) if isinstance(nodata, Mapping) else nodata
    if _declared_fill(var):
        return var, fill_value_for(var), None
    if var.dtype.kind in "fc":
        return var, np.nan, None
    if user is not None and var.dtype.kind in "iu":
        info = np.iinfo(var.dtype)
        if not (isinstance(user, int | float | np.number) and float(user).is_integer()
                and info.min <= user <= info.max):
            raise ClipError(f"nodata={user!r} does not fit variable {name!r} ({var.dtype}: "
                            f"integers {info.min}..{info.max})")
        value = np.asarray(user).astype(var.dtype).item()
        out = var.copy(deep=False)  # xgeo.nodata's raw layout: where .rio.nodata looks
        out.attrs = {**var.attrs, "_FillValue": value}
        return out, value, f"{name}: {var.dtype}, filled with {value}"
    dtype = np.float32 if var.dtype.itemsize <= 2 else np.float64
    out = var.astype(dtype)
    drop = ("dtype", "_FillValue", "missing_value", "scale_factor", "add_offset", "_Unsigned")
    out.encoding = {k: v for k, v in var.encoding.items() if k not in drop}
    return out, np.nan, f"{name}: {var.dtype} without nodata, now {np.dtype(dtype)} with NaN outside"


def _masked(var: xr.DataArray, keep: xr.DataArray, fill: Any) -> xr.DataArray:
    other = np.asarray(fill, dtype=var.dtype)
    out = var.where(keep, other)
    out.attrs, out.encoding = dict(var.attrs), dict(var.encoding)
    return out


def _keep_array(mask: _Mask, var: xr.DataArray, y: Hashable, x: Hashable, row0: int,
                col0: int, cache: dict) -> xr.DataArray:
    """The (y, x) kept-pixel mask for ``var``: NumPy, or dask with ``var``'s y/x chunks."""
    h, w = var.sizes[y], var.sizes[x]
    chunks = var.chunks
    if chunks is None:
        key: Any = "numpy"
        if key not in cache:
            cache[key] = xr.DataArray(mask.window(row0, col0, h, w), dims=(y, x))
        return cache[key]
    import dask.array as da
    from dask.base import tokenize

    yc, xc = chunks[var.get_axis_num(y)], chunks[var.get_axis_num(x)]
    key = (yc, xc)
    if key not in cache:
        template = da.zeros((h, w), chunks=(yc, xc), dtype=bool)
        name = f"xgeo-clip-mask-{tokenize(mask.geoms, mask.all_touched, mask.invert, row0, col0, yc, xc)}"
        data = da.map_blocks(mask.block, template, row0, col0, dtype=bool, name=name,
                             meta=np.empty((0, 0), dtype=bool))
        cache[key] = xr.DataArray(data, dims=(y, x))
    return cache[key]


# --------------------------------------------------------------------------------- clip
def clip(obj: xr.DataArray | xr.Dataset, geometry: Any, crs: Any = None, *,
         all_touched: bool = False, drop: bool = True, invert: bool = False,
         nodata: float | Mapping[Hashable, float] | None = None) -> xr.DataArray | xr.Dataset:
    """Keep the pixels a geometry selects (crop to them), fill the others; lazy on dask.

    Parameters
    ----------
    obj
        A DataArray or Dataset with a CRS and regular x/y coordinates.
    geometry
        A shapely geometry, a GeoJSON-like mapping (geometry, Feature or FeatureCollection),
        a list of those, or a geopandas GeoSeries/GeoDataFrame (anything with
        ``__geo_interface__``). Polygons select areas; lines and points the pixels they cross.
    crs
        CRS of ``geometry``. Default: the CRS the geometry carries (a GeoSeries' ``.crs``,
        a GeoJSON ``crs`` member), else the data's.
    all_touched
        Select every pixel a geometry touches, not only those whose centre is inside.
    drop
        Crop to the rows and columns holding a kept pixel (else keep the whole grid).
    invert
        Keep the pixels outside the geometry instead.
    nodata
        Fill value for integer variables that declare no nodata of their own (a number, or
        a dict by variable name); it is recorded as their ``_FillValue``. Without it such a
        variable becomes float32/float64 with NaN outside (see the module docstring). Float
        variables always get their declared nodata or NaN.

    Returns
    -------
    DataArray or Dataset
        Same variables, attributes and coordinates (cropped), the grid metadata of the crop.

    Raises
    ------
    NoDataInBoundsError
        The geometry selects no pixel of the data (message: both bounds, in the data's CRS).
    CRSError
        The data has no CRS, the geometry's CRS conflicts with ``crs=``, or it does not
        project into the data's CRS.
    ClipError
        The geometry cannot be read, or ``nodata`` does not fit a variable.
    ImportError
        rasterio is not installed (``pip install 'xgeo[geotiff]'``).

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> left, bottom, right, top = ds.geo.bounds
    >>> tri = {"type": "Polygon", "coordinates": [[(left, bottom), (right, bottom),
    ...                                            (left, top), (left, bottom)]]}
    >>> out = ds.geo.clip(tri)   # the lower-left half: pixel centres inside the triangle
    >>> out.geo.shape, int(out.dem.count())
    ((100, 100), 5050)
    >>> out.lulc.dtype   # uint16 without nodata: NaN outside, values exact
    dtype('float32')
    """
    if not isinstance(obj, xr.DataArray | xr.Dataset):
        raise InputTypeError(f"clip takes an xarray DataArray or Dataset, got {type(obj).__name__}")
    grid = read_grid(obj)
    y, x = find_spatial_dims(obj)
    got = _Collector()
    got.add(geometry)
    if grid.crs is None:
        raise CRSError("the data has no CRS, so the geometry cannot be placed on it; set one "
                       "first (obj.geo.set_crs('EPSG:...'))")
    if not got.geoms:
        raise ClipError("the geometry is empty: nothing to clip to")
    src = _source_crs(crs, got.crss, grid.crs)
    geoms, bounds = _pixel_geometries(got.geoms, src, grid)
    mask = _Mask(geoms, all_touched, invert, bounds)
    H, W = grid.shape
    if invert:
        rows, cols = range(0, H), range(0, W)
    else:
        rows = range(max(0, math.floor(bounds[1]) - 1), min(H, math.ceil(bounds[3]) + 1))
        cols = range(max(0, math.floor(bounds[0]) - 1), min(W, math.ceil(bounds[2]) + 1))
    window = _extent(mask, rows, cols) if len(rows) and len(cols) and (drop or not invert) else (
        (slice(0, H), slice(0, W)) if invert else None)
    if window is None:
        raise NoDataInBoundsError(_no_data(grid, bounds, src, got, invert))
    if not drop:
        window = (slice(0, H), slice(0, W))
    out = obj.isel({y: window[0], x: window[1]}) if drop else obj
    decided: list[str] = []
    cache: dict = {}

    def one(name: Hashable, var: xr.DataArray) -> xr.DataArray:
        if y not in var.dims or x not in var.dims:
            return var
        var, fill, note = _fill(name, var, nodata)
        if note:
            decided.append(note)
        keep = _keep_array(mask, var, y, x, window[0].start, window[1].start, cache)
        return _masked(var, keep, fill)

    if isinstance(out, xr.DataArray):
        out = one(out.name, out)
    else:
        out = out.assign({k: one(k, v) for k, v in out.data_vars.items()})
    if drop:
        out = _write_window_grid(out, grid[window], y, x)
    if decided:
        log.info("clip: %s", "; ".join(decided))
    return out


def _write_window_grid(out: Any, sub: Grid, y: Hashable, x: Hashable) -> Any:
    """Grid metadata of the crop (GDAL GeoTransform of the window); coordinates kept as sliced."""
    coords = {d: out[d] for d in (y, x)}
    res = write_grid(out, sub)
    res = res.assign_coords({d: (d, coords[d].values, res[d].attrs) for d in (y, x)})
    for d in (y, x):
        res[d].encoding = coords[d].encoding
    return res


def _no_data(grid: Grid, bounds: tuple[float, ...], src: CRS, got: _Collector,
             invert: bool) -> str:
    xs, ys = grid.xy([bounds[1], bounds[3]], [bounds[0], bounds[2]], offset=0.0)
    gb = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
    what = "covers every pixel, so invert=True keeps none" if invert else "selects no pixel"
    where = f" (given in {src.name!r})" if src != grid.crs else ""
    return (f"no data in bounds: the geometry {what} of the data. Geometry bounds "
            f"{_fmt(gb)}{where}, data bounds {_fmt(grid.bounds)}, both in {grid.crs.name!r}. "
            + ("" if invert else "Check the geometry's CRS (crs=), or pass all_touched=True for a "
               "geometry smaller than a pixel."))


def _fmt(b: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.6g}" if abs(v) < 1e4 else f"{v:.1f}" for v in b) + ")"
