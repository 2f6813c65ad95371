"""What :func:`xgeo.stack` stacks: its sources turned into a flat list of :class:`Asset`.

An asset is one band of one scene: a file (and the band inside it) or an xarray variable at
one time index, with the band name it stacks under, its time, grid, dtype and nodata. Three
kinds of source give assets:

* **files** (paths, globs, folders): GeoTIFF/COG through rasterio, each opened once here for
  its metadata only; netCDF and Zarr through :func:`xgeo.open_dataset`. ``pattern=`` (a
  regular expression with named groups ``time`` and ``band``) names each file's band and
  time; ``bands=`` (a mapping band name -> glob) names bands by glob; otherwise a file's
  bands are named by their descriptions, else ``band1``, ``band2``... Time comes from the
  pattern's ``time`` group, else ``time=`` (a callable ``path -> datetime`` or one value),
  else the file's ``TIFFTAG_DATETIME``.
* **STAC** (pystac Items, an ItemCollection, a Catalog or Collection, or the path of a local
  STAC JSON file): band names are asset keys (``key.1``, ``key.2``... for an asset with
  several ``raster:bands``), time is the item's ``datetime`` (else ``start_datetime``), and
  the ``proj`` extension (``proj:epsg``/``proj:code``/``proj:wkt2``, ``proj:transform``,
  ``proj:shape``) with ``raster:bands`` (``data_type``, ``nodata``) gives everything without
  opening a file; an asset without them is opened once for its metadata.
"""

from __future__ import annotations

import glob
import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from affine import Affine

from ..errors import PatternMatchError, SceneReadError, StackError, StackWarning
from ..grid import Grid, parse_crs
from ..optional import require

__all__ = ["Asset", "Same", "collect_assets", "intern_crs", "to_datetime"]

_RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img")
_XARRAY_SUFFIXES = (".nc", ".nc4", ".cdf", ".h5", ".zarr")
_NOT_DATA_ROLES = {"thumbnail", "overview", "metadata", "visual"}


class Same:
    """Wraps an object so that it hashes and compares by identity (and stays alive while a
    cache holds it): pyproj CRS objects hash through their WKT, too slow for per-scene caches.

    Examples
    --------
    >>> a, b = [1], [1]
    >>> Same(a) == Same(a), Same(a) == Same(b)
    (True, False)
    """

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.obj is self.obj


_CRS_CACHE: dict[str, Any] = {}


def intern_crs(text: str) -> Any:
    """One shared pyproj CRS per CRS text (EPSG code, WKT), so scenes in the same CRS share it.

    Examples
    --------
    >>> intern_crs("EPSG:32633") is intern_crs("EPSG:32633")
    True
    """
    crs = _CRS_CACHE.get(text)
    if crs is None:
        crs = _CRS_CACHE[text] = parse_crs(text)
    return crs


@dataclass(frozen=True, eq=False)
class Asset:
    """One band of one scene, as :func:`xgeo.stack` reads it.

    Attributes
    ----------
    href
        The file (path or URL) holding the pixels.
    band
        The name of the output variable it stacks under.
    index
        The band inside the file (1-based, rasterio's), or the time index of an xarray variable.
    time
        Acquisition time (naive, UTC).
    scene
        The scene's position in the order the sources were given (ties in time keep it).
    grid, dtype, nodata
        The source grid, dtype and nodata value (None: none declared; NaN is always nodata).
    data
        For netCDF/Zarr variables: the lazy DataArray ``(y, x)`` read window by window.
    """

    href: str
    band: str
    index: int
    time: datetime
    scene: int
    grid: Grid | None = None
    dtype: np.dtype | None = None
    nodata: float | None = None
    data: Any = field(default=None, repr=False)

    @property
    def described(self) -> bool:
        """Whether grid and dtype are known (no need to open the file to plan)."""
        return self.grid is not None and self.dtype is not None


def to_datetime(value: Any, what: str) -> datetime:
    """A naive UTC :class:`datetime` from a string, datetime, NumPy or pandas time.

    Raises
    ------
    StackError
        If ``value`` is not a time; the message names ``what``.

    Examples
    --------
    >>> to_datetime("2020-05-18T13:40:00+01:00", "time=")
    datetime.datetime(2020, 5, 18, 12, 40)
    """
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise StackError(f"{what}: {value!r} is not a date or time ({exc})") from exc
    if ts is pd.NaT:
        raise StackError(f"{what}: no time given (NaT)")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


# ---------------------------------------------------------------------------- files
def expand_paths(sources: Iterable[Any]) -> list[str]:
    """Files named by paths, globs and folders (a folder: the files directly in it), sorted
    within each glob or folder, in the order given; a name that matches nothing raises.
    URLs (``https://``, ``s3://``...) and GDAL ``/vsi`` paths pass through as they are."""
    out: list[str] = []
    for src in sources:
        text = os.fspath(src)
        p = Path(text)
        if "://" in text or text.startswith("/vsi"):
            out.append(text)  # a URL or GDAL virtual path: GDAL reads it, nothing to list
        elif p.is_dir() and p.suffix.lower() != ".zarr":
            out.extend(sorted(str(f) for f in p.iterdir() if f.is_file() or f.suffix.lower() == ".zarr"))
        elif glob.has_magic(text):
            found = sorted(glob.glob(text))
            if not found:
                raise SceneReadError(f"no file matches {text!r}")
            out.extend(found)
        elif p.exists():
            out.append(text)
        else:
            raise SceneReadError(f"{text}: no such file or folder")
    return out


def _match_pattern(paths: list[str], pattern: str | re.Pattern) -> list[tuple[str, re.Match]]:
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    matched, unmatched = [], []
    for path in paths:
        m = regex.search(os.path.basename(path.rstrip("/")))
        (matched if m else unmatched).append((path, m))
    if not matched:
        folders = sorted({os.path.dirname(os.path.abspath(p)) for p in paths}) or ["(no files given)"]
        names = ", ".join(os.path.basename(p) for p in paths[:5]) + (" ..." if len(paths) > 5 else "")
        raise PatternMatchError(
            f"pattern '{regex.pattern}' matches none of the {len(paths)} file name(s) in "
            f"{', '.join(folders)} ({names}); it is matched (re.search) against each file's "
            "name, not its path")
    if unmatched:
        listed = ", ".join(os.path.basename(p) for p, _ in unmatched)
        warnings.warn(f"pattern '{regex.pattern}' does not match {len(unmatched)} file(s), "
                      f"which are not stacked: {listed}", StackWarning, stacklevel=5)
    return matched


def _pattern_time(text: str, time_format: str | None, path: str) -> datetime:
    if time_format is None:
        return to_datetime(text, f"{path}: the pattern's time group")
    try:
        return datetime.strptime(text, time_format)
    except ValueError as exc:
        raise StackError(f"{path}: the pattern's time group {text!r} does not fit "
                         f"time_format={time_format!r} ({exc})") from exc


def _given_time(time: Any, path: str) -> datetime | None:
    if time is None:
        return None
    if callable(time):
        try:
            value = time(path)
        except Exception as exc:
            raise StackError(f"{path}: time= raised {type(exc).__name__}: {exc}") from exc
        return to_datetime(value, f"{path}: time=")
    return to_datetime(time, "time=")


def _raster_metadata(path: str) -> dict[str, Any]:
    """Grid, dtypes, nodata, band descriptions and TIFFTAG_DATETIME of a GDAL raster."""
    rasterio = require("rasterio", "xgeo.stack of GeoTIFF files")
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                raise SceneReadError(f"{path}: the raster has no CRS; it cannot be placed on a grid")
            return {
                "grid": Grid(intern_crs(ds.crs.to_wkt()), ds.transform, (ds.height, ds.width)),
                "dtypes": [np.dtype(d) for d in ds.dtypes],
                "nodata": ds.nodata,
                "descriptions": list(ds.descriptions),
                "datetime": ds.tags().get("TIFFTAG_DATETIME"),
            }
    except RasterioError as exc:
        raise SceneReadError(f"{path}: cannot read it as a raster ({exc})") from exc


def _tiff_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text.strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _band_names(descriptions: Sequence[str | None], prefix: str | None) -> list[str]:
    n = len(descriptions)
    if prefix is not None:
        return [prefix] if n == 1 else [f"{prefix}.{i}" for i in range(1, n + 1)]
    if all(descriptions) and len(set(descriptions)) == n:
        return [str(d) for d in descriptions]
    return [f"band{i}" for i in range(1, n + 1)]


def _file_assets(path: str, band: str | None, when: datetime | None, scene: int,
                 time: Any) -> list[Asset]:
    if path.rstrip("/").lower().endswith(_XARRAY_SUFFIXES):
        return _xarray_assets(path, band, when, scene, time)
    meta = _raster_metadata(path)
    if when is None:
        when = _given_time(time, path) or _tiff_time(meta["datetime"])
    if when is None:
        raise StackError(f"{path}: no time for this scene: give pattern= with a (?P<time>...) "
                         "group and time_format=, or time= (a callable path -> datetime, or a value)")
    names = _band_names(meta["descriptions"], band)
    return [Asset(path, name, i + 1, when, scene, meta["grid"], meta["dtypes"][i], meta["nodata"])
            for i, name in enumerate(names)]


def _xarray_assets(path: str, band: str | None, when: datetime | None, scene: int,
                   time: Any) -> list[Asset]:
    from ..crs import find_spatial_dims, read_grid
    from ..errors import XgeoError
    from ..io import open_dataset

    try:
        # raw values and their _FillValue, as rasterio reads a GeoTIFF: a class band (SCL)
        # stays integer and its fill stays the nodata (CF decoding would make both float/NaN)
        ds = open_dataset(path, mask_and_scale=False)
    except XgeoError:
        raise
    except Exception as exc:
        raise SceneReadError(f"{path}: cannot open it ({type(exc).__name__}: {exc})") from exc
    assets = []
    stackable = {}
    for name, var in ds.data_vars.items():
        try:
            y_dim, x_dim = find_spatial_dims(var)
        except XgeoError:
            continue
        extra = [d for d in var.dims if d not in (y_dim, x_dim)]
        if extra in ([], ["time"]):  # (band, y, x) and the like: not one band per variable
            stackable[name] = (var, y_dim, x_dim, extra)
    timed = any(extra for *_, extra in stackable.values())
    for name, (var, y_dim, x_dim, extra) in stackable.items():
        if not extra and timed and when is None and time is None:
            continue  # a static layer (dem, labels) beside time series: no time to put it at
        grid = read_grid(var)
        if grid.crs is None:
            raise SceneReadError(f"{path}: variable {name!r} has no CRS")
        fill = var.attrs.get("_FillValue", var.attrs.get("missing_value"))
        label = str(name) if band is None else (band if len(stackable) == 1 else f"{band}.{name}")
        var = var.transpose(*extra, y_dim, x_dim)
        if extra:
            times = [to_datetime(t, f"{path}: time coordinate") for t in var["time"].values]
        else:
            t = when or _given_time(time, path)
            if t is None:
                raise StackError(f"{path}: variable {name!r} has no time dim; give pattern= or time=")
            times = [t]
        for i, t in enumerate(times):
            data = var.isel(time=i) if extra else var
            assets.append(Asset(path, label, i, t, scene, grid, np.dtype(var.dtype),
                                None if fill is None else float(fill), data))
    if not assets:
        raise SceneReadError(f"{path}: no variable with (y, x) or (time, y, x) dims to stack")
    return assets


def file_assets(sources: Sequence[Any], *, pattern: Any, time_format: str | None,
                bands: Mapping[str, Any] | None, time: Any) -> list[Asset]:
    """Assets of file paths, globs and folders (see the module docstring)."""
    if bands is not None:
        entries: list[tuple[str, str | None, str | None]] = []  # (path, band, time text)
        for name, globs in bands.items():
            paths = expand_paths([globs] if isinstance(globs, str | os.PathLike) else globs)
            if pattern is not None:
                entries += [(p, str(name), m.groupdict().get("time")) for p, m in _match_pattern(paths, pattern)]
            else:
                entries += [(p, str(name), None) for p in paths]
    else:
        paths = expand_paths(sources)
        if pattern is not None:
            entries = [(p, m.groupdict().get("band"), m.groupdict().get("time"))
                       for p, m in _match_pattern(paths, pattern)]
        else:
            entries = [(p, None, None) for p in paths]
    if not entries:
        raise SceneReadError("no files to stack: sources is empty")
    # One scene per distinct time text (a pattern groups a scene's band files), else per file.
    scene_of: dict[Any, int] = {}
    assets = []
    for path, band, ttext in entries:
        when = _pattern_time(ttext, time_format, path) if ttext is not None else None
        key = ttext if ttext is not None else path
        scene = scene_of.setdefault(key, len(scene_of))
        assets += _file_assets(path, band, when, scene, time)
    return assets


# ----------------------------------------------------------------------------- STAC
def _is_stac(obj: Any) -> bool:
    return type(obj).__module__.startswith("pystac")


def _stac_items(sources: Sequence[Any]) -> list[Any]:
    pystac = require("pystac", "xgeo.stack of STAC items")
    items: list[Any] = []
    for src in sources:
        if isinstance(src, str | os.PathLike) and str(src).endswith(".json"):
            try:
                src = pystac.read_file(os.fspath(src))
            except Exception as exc:
                raise SceneReadError(f"{src}: cannot read it as STAC ({type(exc).__name__}: {exc})") from exc
        if isinstance(src, pystac.Item):
            items.append(src)
        elif isinstance(src, pystac.Catalog):  # a Collection is a Catalog
            items.extend(src.get_items(recursive=True))
        elif isinstance(src, pystac.ItemCollection):
            items.extend(src)
        else:
            raise StackError(f"cannot mix STAC and other sources: got {type(src).__name__}")
    if not items:
        raise StackError("the STAC sources hold no items")
    return items


def _proj(item: Any, asset: Any) -> tuple[Any, Affine | None, tuple[int, int] | None]:
    def get(key: str) -> Any:
        value = asset.extra_fields.get(key)
        return item.properties.get(key) if value is None else value

    code = get("proj:code") or get("proj:epsg") or get("proj:wkt2") or get("proj:projjson")
    transform, shape = get("proj:transform"), get("proj:shape")
    if isinstance(code, dict):
        code = json.dumps(code)  # PROJJSON
    crs = None if code is None else intern_crs(f"EPSG:{code}" if isinstance(code, int) else str(code))
    return (crs, None if transform is None else Affine(*transform[:6]),
            None if shape is None else (int(shape[0]), int(shape[1])))


def _is_data_asset(asset: Any) -> bool:
    roles = set(asset.roles or [])
    if roles & _NOT_DATA_ROLES and "data" not in roles:
        return False
    media = (asset.media_type or "").lower()
    return "data" in roles or "tiff" in media or asset.href.lower().endswith(_RASTER_SUFFIXES)


def stac_assets(sources: Sequence[Any], *, select: Sequence[str] | None) -> list[Asset]:
    """Assets of STAC items (see the module docstring); ``select`` keeps those asset keys."""
    items = _stac_items(sources)
    out: list[Asset] = []
    for scene, item in enumerate(items):
        when = item.datetime or item.properties.get("start_datetime")
        if when is None:
            raise StackError(f"STAC item {item.id!r} has neither datetime nor start_datetime")
        when = to_datetime(when, f"STAC item {item.id!r}")
        for key, asset in item.assets.items():
            if (key not in select) if select is not None else not _is_data_asset(asset):
                continue
            href = asset.get_absolute_href() or asset.href
            crs, transform, shape = _proj(item, asset)
            rbands = asset.extra_fields.get("raster:bands") or [{}]
            names = _band_names([None] * len(rbands), key)
            grid = Grid(crs, transform, shape) if crs is not None and transform and shape else None
            for i, (name, rb) in enumerate(zip(names, rbands, strict=True)):
                dtype = np.dtype(rb["data_type"]) if rb.get("data_type") else None
                nodata = rb.get("nodata")
                out.append(Asset(href, name, i + 1, when, scene, grid, dtype,
                                 None if nodata is None else float(nodata)))
    if select is not None:
        missing = sorted(set(select) - {a.band.split(".")[0] for a in out})
        if missing:
            raise StackError(f"bands {missing} are not asset keys of any STAC item")
    return _describe(out)


def _describe(assets: list[Asset]) -> list[Asset]:
    """Fill in grid/dtype/nodata of assets whose STAC metadata lacks them (one open per file)."""
    cache: dict[str, dict[str, Any]] = {}
    out = []
    for a in assets:
        if a.described:
            out.append(a)
            continue
        meta = cache.get(a.href) or cache.setdefault(a.href, _raster_metadata(a.href))
        if a.index > len(meta["dtypes"]):
            raise SceneReadError(f"{a.href}: has {len(meta['dtypes'])} band(s), the STAC asset "
                                 f"describes band {a.index}")
        out.append(replace(a, grid=a.grid or meta["grid"], dtype=a.dtype or meta["dtypes"][a.index - 1],
                           nodata=meta["nodata"] if a.nodata is None else a.nodata))
    return out


def collect_assets(sources: Any, *, pattern: Any = None, time_format: str | None = None,
                   bands: Any = None, time: Any = None) -> list[Asset]:
    """Every asset of ``sources`` (files or STAC), with the band selection applied.

    Raises
    ------
    StackError, PatternMatchError, SceneReadError
        See :func:`xgeo.stack`.
    """
    if isinstance(sources, str | os.PathLike) or _is_stac(sources) and not _is_item_list(sources):
        sources = [sources]
    sources = list(sources or [])
    if bands is not None and not isinstance(bands, Mapping):
        if isinstance(bands, str):
            bands = [bands]
        select: list[str] | None = [str(b) for b in bands]
    else:
        select = None
    stac = [s for s in sources if _is_stac(s) or str(s).endswith(".json")]
    if stac:
        if len(stac) != len(sources):
            raise StackError("cannot mix STAC items with file paths in one stack")
        if isinstance(bands, Mapping):
            raise StackError("bands= as a mapping of globs is for files; for STAC give asset keys")
        return stac_assets(stac, select=select)
    if not sources and not isinstance(bands, Mapping):
        raise StackError("no sources given")
    assets = file_assets(sources, pattern=pattern, time_format=time_format,
                         bands=bands if isinstance(bands, Mapping) else None, time=time)
    if select is not None:
        missing = sorted(set(select) - {a.band for a in assets})
        if missing:
            raise StackError(f"bands {missing} are not among the bands found "
                             f"({sorted({a.band for a in assets})})")
        assets = [a for a in assets if a.band in select]
    return assets


def _is_item_list(obj: Any) -> bool:
    return type(obj).__name__ == "ItemCollection"
