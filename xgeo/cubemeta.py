"""Many small cubes: list them and read what each holds from its metadata alone.

A directory of minicubes (DeepExtremeCubes, EarthNet style) holds thousands of small Zarr
stores or netCDF files, each on its own grid and CRS. :func:`list_cubes` finds them and
:func:`cube_meta` reads, per cube, only its metadata: the dims and shape of every variable,
their dtypes, and the ``band`` labels (a coordinate of a few strings). Zarr stores are read
through their consolidated metadata (``zarr.json`` or ``.zmetadata``, parsed as JSON; zarr's
API for a store without it), netCDF files through their header (netCDF4); no pixel and no
``y``/``x`` coordinate is read, no xarray Dataset is built. :class:`xgeo.torch.CubesDataset` is built on these.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ._objectstore import is_url
from .bands import BAND_DIM
from .errors import ChipError, DecodeError, XgeoError
from .io import detect_format, open_dataset

__all__ = ["CUBE_PATTERNS", "CubeMeta", "cube_meta", "cube_name", "is_many_cubes", "list_cubes"]

#: The file names a directory of cubes is searched for, in this order of kinds.
CUBE_PATTERNS = ("*.zarr", "*.nc")

Cube = str | os.PathLike | xr.Dataset | xr.DataArray


@dataclass(frozen=True)
class CubeMeta:
    """What one cube holds, from its metadata.

    Attributes
    ----------
    name
        The cube's name: its file name, or ``"cube <k>"`` for an xarray object.
    variables
        ``{variable: (dims, shape, dtype)}`` for every array of the cube (coordinates too).
    bands
        The labels of the ``band`` coordinate, or None when the cube has none.
    """

    name: str
    variables: dict[str, tuple[tuple[str, ...], tuple[int, ...], str]]
    bands: tuple[Hashable, ...] | None

    def sizes(self, variable: str) -> dict[str, int]:
        """``{dim: length}`` of one variable.

        Examples
        --------
        >>> import xgeo
        >>> cube_meta(xgeo.datasets.sentinel2_cube()).sizes("lulc")
        {'y': 101, 'x': 100}
        """
        dims, shape, _ = self.variables[variable]
        return dict(zip(dims, shape, strict=True))


def list_cubes(sources: Cube | Sequence[Cube]) -> list[Cube]:
    """The cubes of ``sources``: a directory of cubes, a glob, one cube, or a list of cubes.

    A directory that is not itself a Zarr store is searched (not recursively) for
    :data:`CUBE_PATTERNS` (``*.zarr`` and ``*.nc``), sorted by name; a string with ``*``, ``?``
    or ``[`` is a glob pattern (``"cubes/*/*.zarr"``), its matches sorted.

    Raises
    ------
    ChipError
        A directory or a glob holding no cube, or an empty list.

    Examples
    --------
    >>> import xgeo
    >>> len(list_cubes([xgeo.datasets.sentinel2_cube()] * 3))
    3
    """
    if isinstance(sources, str) and not is_url(sources) and any(c in sources for c in "*?["):
        found = sorted(glob.glob(sources))
        if not found:
            raise ChipError(f"no cube matches {sources!r}")
        return found
    if isinstance(sources, str | os.PathLike) and not is_url(sources):
        folder = Path(sources)
        if folder.is_dir() and not _is_zarr_dir(folder):
            found = sorted({p for pattern in CUBE_PATTERNS for p in folder.glob(pattern)})
            if not found:
                raise ChipError(f"no cube in {folder}: no {' or '.join(CUBE_PATTERNS)} in it")
            return [str(p) for p in found]
    if isinstance(sources, str | os.PathLike | xr.Dataset | xr.DataArray):
        return [sources]
    cubes = list(sources)
    if not cubes:
        raise ChipError("no cube given: sources is an empty list")
    return cubes


def is_many_cubes(sources: Any) -> bool:
    """Whether ``sources`` names several cubes: a list or tuple, a glob pattern, or a directory
    that is not itself a Zarr store.

    Examples
    --------
    >>> is_many_cubes(["a.zarr", "b.nc"]), is_many_cubes("a.zarr")
    (True, False)
    """
    if isinstance(sources, list | tuple):
        return True
    if isinstance(sources, str) and not is_url(sources) and any(c in sources for c in "*?["):
        return True
    if isinstance(sources, str | os.PathLike) and not is_url(sources):
        return Path(sources).is_dir() and not _is_zarr_dir(Path(sources))
    return False


def _is_zarr_dir(folder: Path) -> bool:
    return folder.suffix.lower() == ".zarr" or any(
        (folder / marker).exists() for marker in ("zarr.json", ".zgroup", ".zattrs"))


def cube_name(cube: Cube, k: int) -> str:
    """The file name of a path, else ``"cube <k>"``.

    Examples
    --------
    >>> cube_name("/data/cubes/site_001.zarr", 0), cube_name(None, 3)
    ('site_001.zarr', 'cube 3')
    """
    if isinstance(cube, str | os.PathLike):
        return Path(cube).name or str(cube)
    return f"cube {k}"


def cube_meta(cube: Cube, k: int = 0) -> CubeMeta:
    """Read a cube's variables (dims, shape, dtype) and band labels from its metadata.

    Parameters
    ----------
    cube
        A Zarr store or netCDF file path, or an xarray object (an fsspec URL or a file of
        another format is opened with :func:`xgeo.open_dataset`, lazily).
    k
        The cube's position, which names an xarray object.

    Raises
    ------
    DecodeError
        The cube cannot be read; the message names it.

    Examples
    --------
    >>> import xgeo
    >>> meta = cube_meta(xgeo.datasets.sentinel2_cube())
    >>> meta.variables["reflectance"][:2], meta.bands[:2]
    ((('time', 'band', 'y', 'x'), (5, 13, 101, 100)), ('B01', 'B02'))
    """
    name = cube_name(cube, k)
    if isinstance(cube, xr.DataArray):
        cube = cube.to_dataset(name=cube.name or "data")
    if isinstance(cube, xr.Dataset):
        return _from_xarray(name, cube)
    if not isinstance(cube, str | os.PathLike):
        raise ChipError(f"cube {k} must be a path or an xarray object, not {type(cube).__name__}")
    if is_url(cube):
        return _from_xarray(name, open_dataset(str(cube), chunks={}))
    try:
        kind = detect_format(cube)
    except (OSError, DecodeError) as exc:
        raise DecodeError(f"cube {name} ({cube}) cannot be read: {exc}") from exc
    try:
        if kind == "zarr":
            return _from_zarr(name, Path(cube))
        if kind.startswith("netcdf"):
            return _from_netcdf(name, Path(cube))
    except DecodeError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise DecodeError(f"cube {name} ({cube}): its metadata cannot be read: {exc}") from exc
    try:  # another format (a GeoTIFF): opened lazily, as xgeo opens it
        return _from_xarray(name, open_dataset(cube, chunks={}))
    except XgeoError:
        raise
    except (OSError, ValueError) as exc:
        raise DecodeError(f"cube {name} ({cube}) cannot be read: {exc}") from exc


def _from_xarray(name: str, ds: xr.Dataset) -> CubeMeta:
    variables = {str(n): (tuple(map(str, v.dims)), tuple(v.shape), str(v.dtype))
                 for n, v in ds.variables.items()}
    bands = tuple(_item(b) for b in ds[BAND_DIM].values) if BAND_DIM in ds.variables else None
    return CubeMeta(name, variables, bands)


def _from_zarr(name: str, path: Path) -> CubeMeta:
    consolidated = _consolidated(path)
    if consolidated is None:
        return _from_zarr_api(name, path)
    variables = {}
    for key, (dims, shape, dtype) in consolidated.items():
        variables[key] = (dims, shape, _dtype_name(dtype))
    bands = _band_labels(path) if BAND_DIM in variables else None
    return CubeMeta(name, variables, bands)


def _consolidated(path: Path) -> dict[str, tuple[tuple[str, ...], tuple[int, ...], Any]] | None:
    """``{array: (dims, shape, dtype)}`` of a store's root arrays from its consolidated
    metadata, parsed as JSON (zarr's own API costs ~10x more per small store); None when the
    store has none."""
    out = {}
    v3 = path / "zarr.json"
    if v3.exists():
        doc = json.loads(v3.read_bytes())
        arrays = (doc.get("consolidated_metadata") or {}).get("metadata")
        if doc.get("node_type") != "group" or not isinstance(arrays, dict):
            return None
        for key, meta in arrays.items():
            if "/" in key or meta.get("node_type") != "array":
                continue
            dims = meta.get("dimension_names")
            if dims is None and meta.get("shape"):
                return None
            out[key] = (tuple(map(str, dims or ())), tuple(meta["shape"]), meta["data_type"])
        return out
    v2 = path / ".zmetadata"
    if not v2.exists():
        return None
    docs = json.loads(v2.read_bytes()).get("metadata", {})
    for key, meta in docs.items():
        if not key.endswith("/.zarray") or key.count("/") != 1:
            continue
        array = key.split("/")[0]
        dims = docs.get(f"{array}/.zattrs", {}).get("_ARRAY_DIMENSIONS")
        if dims is None and meta.get("shape"):
            return None
        out[array] = (tuple(map(str, dims or ())), tuple(meta["shape"]), meta["dtype"])
    return out


def _dtype_name(dtype: Any) -> str:
    try:
        return str(np.dtype(dtype))
    except TypeError:
        return str(dtype)


#: band labels by the raw bytes of their stored chunk: a thousand cubes with the same bands
#: decode them once (the key is the bytes themselves, so it is never stale)
_LABELS: dict[tuple[str, bytes], tuple[Hashable, ...]] = {}


def _band_labels(path: Path) -> tuple[Hashable, ...]:
    import zarr

    array = path / BAND_DIM
    chunk = next((c for c in (array / "c" / "0", array / "c.0", array / "0") if c.is_file()), None)
    key = None
    if chunk is not None:
        meta = array / ("zarr.json" if (array / "zarr.json").exists() else ".zarray")
        key = (meta.read_text(), chunk.read_bytes())
        if key in _LABELS:
            return _LABELS[key]
    labels = tuple(_item(b) for b in np.asarray(zarr.open_array(str(array), mode="r")[...]).ravel())
    if key is not None:
        if len(_LABELS) >= 64:
            _LABELS.pop(next(iter(_LABELS)))
        _LABELS[key] = labels
    return labels


def _from_zarr_api(name: str, path: Path) -> CubeMeta:
    import zarr

    group = zarr.open_group(str(path), mode="r")
    variables = {}
    band = None
    for key, arr in group.arrays():
        dims = getattr(arr.metadata, "dimension_names", None) or arr.attrs.get("_ARRAY_DIMENSIONS")
        if dims is None and arr.ndim == 0:
            dims = ()
        if dims is None:
            raise DecodeError(f"cube {name} ({path}): array {key!r} has no dimension names")
        variables[str(key)] = (tuple(map(str, dims)), tuple(arr.shape), _dtype_name(arr.dtype))
        if key == BAND_DIM:
            band = arr
    bands = None if band is None else tuple(_item(b) for b in np.asarray(band[...]).ravel())
    return CubeMeta(name, variables, bands)


def _from_netcdf(name: str, path: Path) -> CubeMeta:
    import netCDF4

    with netCDF4.Dataset(path, mode="r") as nc:
        nc.set_auto_mask(False)
        variables = {str(k): (tuple(map(str, v.dimensions)), tuple(v.shape), str(v.dtype))
                     for k, v in nc.variables.items()}
        bands = None
        if BAND_DIM in nc.variables:
            bands = tuple(_item(b) for b in np.asarray(nc.variables[BAND_DIM][...]).ravel())
    return CubeMeta(name, variables, bands)


def _item(value: Any) -> Hashable:
    value = value.item() if hasattr(value, "item") else value
    return value.decode() if isinstance(value, bytes) else value
