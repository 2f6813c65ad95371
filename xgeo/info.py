"""A summary of a datacube on disk: what ``xgeo info`` prints.

:func:`summarize` returns plain data (a dict) so that tools and tests can use
it; :func:`format_summary` turns it into the text the CLI shows.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ._objectstore import is_url, store_access, url_to_fs
from .crs import find_spatial_dims, read_grid
from .errors import XgeoError
from .io import open_dataset
from .nodata import declared_nodata

__all__ = ["summarize", "format_summary", "format_table", "human_bytes"]


def _disk_size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def _codecs(var: xr.DataArray) -> str:
    enc = var.encoding
    parts: list[str] = []
    serializer = enc.get("serializer")
    if serializer is not None:
        parts.append(f"serializer={_codec_name(serializer)}")
    for key in ("filters", "compressors"):
        for codec in enc.get(key) or ():
            parts.append(_codec_name(codec))
    if enc.get("compressor") is not None:
        parts.append(_codec_name(enc["compressor"]))
    for key in ("zlib", "zstd", "bzip2", "blosc", "szip"):
        if enc.get(key):
            level = enc.get("complevel")
            parts.append(f"{key}" + (f"(level {level})" if level else ""))
    if enc.get("shuffle"):
        parts.append("shuffle")
    return ", ".join(parts) if parts else "none"


def _codec_name(codec: Any) -> str:
    """``name(key=value, ...)`` for numcodecs (``get_config``) and Zarr v3 (``to_dict``) codecs."""
    config: dict[str, Any] = {}
    params = getattr(codec, "params", None)
    if hasattr(params, "non_default_config"):
        # xgeo.video stores every parameter: a listing shows those that differ from defaults
        from xgeo_codecs import CODEC_ID  # here: xgeo info works on stores without it

        name, config = CODEC_ID, params.non_default_config()
    elif hasattr(codec, "to_dict"):  # zarr v3: {"name": ..., "configuration": {...}}
        d = codec.to_dict()
        name, config = d.get("name"), dict(d.get("configuration") or {})
    elif hasattr(codec, "get_config"):  # numcodecs: {"id": ..., **config}
        config = dict(codec.get_config())
        name = config.pop("id", None)
    elif isinstance(codec, dict):
        config = dict(codec)
        name = config.pop("id", None) or config.pop("name", None)
    else:
        name = None
    name = name or type(codec).__name__
    shown = ", ".join(f"{k}={v}" for k, v in config.items() if not isinstance(v, dict | list))
    return f"{name}({shown})" if shown else str(name)


def _chunks(var: xr.DataArray) -> str:
    if var.chunks:
        return "x".join(str(max(c)) for c in var.chunks)
    enc = var.encoding
    for key in ("chunks", "chunksizes", "preferred_chunks"):
        value = enc.get(key)
        if isinstance(value, dict):
            value = tuple(value.get(d) for d in var.dims)
        if value:
            return "x".join(str(v) for v in value)
    return "contiguous"


def _nodata(var: xr.DataArray) -> int | float | str | None:
    """The stored nodata (``_FillValue``) of a variable: a number, ``"NaN"`` (valid JSON,
    unlike a float NaN) or None when it declares none."""
    value = declared_nodata(var)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def _bands(ds: xr.Dataset) -> list[str]:
    if "band" in ds.coords and ds["band"].ndim == 1:
        return [str(v) for v in ds["band"].values]
    return []


def summarize(
    path: str | os.PathLike, storage_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Describe the datacube at ``path``: grid, CRS, bands, time range, sizes, per-variable storage.

    ``path`` may be an fsspec URL of a Zarr store (``s3://bucket/cube.zarr``), opened with
    ``storage_options`` (default: the filesystem's own configuration, e.g. the ``AWS_*``
    environment variables).

    Examples
    --------
    >>> import xgeo
    >>> info = summarize(xgeo.datasets.sentinel2_cube_path())
    >>> info["crs"]["epsg"], info["shape"], info["bands"][:2]
    (32633, (101, 100), ['B01', 'B02'])
    """
    if is_url(path):
        ds = open_dataset(str(path), **({"storage_options": storage_options}
                                        if storage_options else {}))
        with store_access(str(path)):
            fs, root = url_to_fs(str(path), storage_options)
            disk = int(fs.du(root))
    else:
        path = Path(path)
        ds = open_dataset(path)
        disk = _disk_size(path)
    info: dict[str, Any] = {
        "path": str(path),
        "dims": {str(k): int(v) for k, v in ds.sizes.items()},
        "disk_bytes": disk,
        "memory_bytes": int(ds.nbytes),
        "bands": _bands(ds),
        "variables": {},
    }
    try:
        find_spatial_dims(ds)
        grid = read_grid(ds)
    except XgeoError as exc:
        info["grid_error"] = str(exc)
        grid = None
    if grid is not None:
        info["shape"] = grid.shape
        info["resolution"] = grid.resolution
        info["bounds"] = grid.bounds
        if grid.crs is None:
            info["crs"] = None
        else:
            info["crs"] = {"name": grid.crs.name, "epsg": grid.crs.to_epsg()}
            try:
                info["lonlat_bounds"] = grid.geographic_bounds()
            except XgeoError as exc:
                info["lonlat_bounds_error"] = str(exc)
    if "time" in ds.coords and ds["time"].size and np.issubdtype(ds["time"].dtype, np.datetime64):
        times = ds["time"].values
        info["time"] = {
            "start": str(times.min())[:19],
            "end": str(times.max())[:19],
            "count": int(times.size),
        }
    for name, var in ds.data_vars.items():
        info["variables"][str(name)] = {
            "dims": tuple(str(d) for d in var.dims),
            "shape": tuple(int(s) for s in var.shape),
            "dtype": str(var.encoding.get("dtype", var.dtype)),
            "chunks": _chunks(var),
            "codecs": _codecs(var),
            "nodata": _nodata(var),
        }
    ds.close()
    return info


def human_bytes(nbytes: float) -> str:
    """``1.5 MiB`` style sizes."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(nbytes) < 1024 or unit == "TiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    raise AssertionError("unreachable")


def format_table(rows: list[list[object]], header: list[str]) -> str:
    """A plain aligned text table (what the CLI and the demo print)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def format_summary(info: dict[str, Any]) -> str:
    """The text ``xgeo info`` prints for a :func:`summarize` result."""
    lines = [f"path:        {info['path']}"]
    lines.append("dims:        " + ", ".join(f"{k}={v}" for k, v in info["dims"].items()))
    crs = info.get("crs")
    if "grid_error" in info:
        lines.append(f"grid:        none ({info['grid_error']})")
    else:
        if crs is None:
            lines.append("crs:         none (set one with .geo.set_crs)")
        else:
            epsg = f"EPSG:{crs['epsg']}" if crs["epsg"] else "no EPSG code"
            lines.append(f"crs:         {crs['name']} ({epsg})")
        xres, yres = info["resolution"]
        lines.append(f"resolution:  {xres:.6g} x {yres:.6g}   shape (y, x): {info['shape']}")
        lines.append("bounds:      " + ", ".join(f"{v:.6f}" for v in info["bounds"]))
        if "lonlat_bounds" in info:
            lines.append("lon/lat:     " + ", ".join(f"{v:.6f}" for v in info["lonlat_bounds"]))
        elif crs is not None:
            lines.append(f"lon/lat:     n/a ({info.get('lonlat_bounds_error')})")
    if info["bands"]:
        lines.append(f"bands:       {', '.join(info['bands'])}")
    if "time" in info:
        t = info["time"]
        lines.append(f"time:        {t['start']} .. {t['end']} ({t['count']} steps)")
    lines.append(
        f"size:        {human_bytes(info['disk_bytes'])} on disk, {human_bytes(info['memory_bytes'])} in memory"
    )
    lines.append("variables:")
    width = max((len(n) for n in info["variables"]), default=0)
    for name, var in info["variables"].items():
        dims = "(" + ", ".join(var["dims"]) + ")"
        nodata = "none" if var.get("nodata") is None else str(var["nodata"])
        lines.append(
            f"  {name:<{width}}  {var['dtype']:<8} {dims:<24} chunks {var['chunks']:<14} "
            f"nodata {nodata:<6} codecs: {var['codecs']}"
        )
    return "\n".join(lines)
