"""Where a chip loader reads its pixels: a file, a Zarr store, or an xarray object.

:class:`xgeo.torch.ChipDataset` reads a Zarr store given by path through its own chunk
reader (chunk files decoded once into a cache, chips copied out of it), and an xarray
object through xarray indexing, which decodes a whole storage chunk for every chip: for a
video-coded store the second is ~50x slower. A Dataset opened from a local Zarr store
(``xgeo.open_dataset("cube.zarr")``, ``xr.open_zarr``) and not changed since holds exactly
the store's values, so :func:`resolve_source` reads it as the store.

The rule (:func:`zarr_store_of`): the Dataset's ``encoding["source"]`` is a local Zarr
store, and every data variable and non-index coordinate is still an untouched lazy view of
the store's array of the same name (no selection, arithmetic, ``astype``, ``load()`` or
in-memory cache; dask arrays made straight from it, as ``open_dataset(chunks=...)`` and
``.chunk()`` make them, qualify), and the store opened afresh agrees with it on variables,
sizes, index values, dtypes, attributes and CF encodings. A subset of the data variables
(``ds[["reflectance"]]``) still qualifies. Anything else (``ds * 2``, ``ds.isel(...)``,
``ds.load()``, new coordinates or attributes) is read from memory, as given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ._objectstore import is_url
from .errors import InputTypeError, XgeoError
from .io import detect_format, open_dataset

__all__ = ["resolve_source", "zarr_store_of"]

_CF_ENCODING = ("_FillValue", "missing_value", "scale_factor", "add_offset", "dtype")


def resolve_source(
    source: str | os.PathLike | xr.Dataset | xr.DataArray,
    storage_options: dict[str, Any] | None = None,
) -> tuple[str, str | None, xr.Dataset | xr.DataArray]:
    """``(kind, path, obj)`` for a chip source: kind ``"zarr"``, ``"file"`` or ``"memory"``.

    A path is opened dask-backed (the chip index then reads pixels only for a valid-fraction
    filter, chunk by chunk); an fsspec URL (``s3://bucket/cube.zarr``, opened with
    ``storage_options``) is a Zarr store; a Dataset that is an unmodified view of a local Zarr
    store is that store (see :func:`zarr_store_of`); any other xarray object is read as given.

    Raises
    ------
    InputTypeError
        If ``source`` is neither a path nor an xarray object (a ``TypeError``).
    StoreNotFoundError, StoreAccessError
        For a URL: no store there, or the store cannot be reached.

    Examples
    --------
    >>> import xgeo
    >>> resolve_source(xgeo.datasets.sentinel2_cube())[:2]
    ('memory', None)
    """
    if is_url(source):
        opts = {"storage_options": storage_options} if storage_options else {}
        return "zarr", str(source), open_dataset(str(source), chunks={}, **opts)
    if isinstance(source, str | os.PathLike):
        kind = "zarr" if detect_format(Path(source)) == "zarr" else "file"
        return kind, str(source), open_dataset(source, chunks={})
    if isinstance(source, xr.Dataset | xr.DataArray):
        found = zarr_store_of(source)
        if found is not None:
            return "zarr", found[0], found[1]
        return "memory", None, source
    raise InputTypeError(f"source must be a path or an xarray object, got {type(source).__name__}")


def zarr_store_of(obj: xr.Dataset | xr.DataArray) -> tuple[str, xr.Dataset] | None:
    """``(store path, the store opened dask-backed)`` when ``obj`` is an unmodified view of
    a local Zarr store (the module docstring gives the rule), else None.

    The opened store is restricted to ``obj``'s data variables. Costs a walk over each
    variable's lazy-array wrappers and, only when those are untouched, one metadata open.
    """
    if not isinstance(obj, xr.Dataset):
        return None
    src = obj.encoding.get("source")
    if not isinstance(src, str) or "://" in src or not Path(src).is_dir():
        return None
    root = Path(src).resolve()
    for name, var in obj.variables.items():
        if name not in obj.indexes and not _untouched_view(var, str(name), root):
            return None
    try:
        if detect_format(src) != "zarr":
            return None
        opened = open_dataset(src, chunks={})
    except (XgeoError, OSError, ValueError):
        return None
    if not set(obj.data_vars) <= set(opened.data_vars):
        return None
    ref = opened[list(obj.data_vars)]
    if set(ref.variables) != set(obj.variables) or set(ref.coords) != set(obj.coords):
        return None
    if dict(ref.sizes) != dict(obj.sizes) or not _same(ref.attrs, obj.attrs):
        return None
    for name, var in obj.variables.items():
        other = ref.variables[name]
        if var.dims != other.dims or var.dtype != other.dtype or not _same(var.attrs, other.attrs):
            return None
        if not all(_same(var.encoding.get(k), other.encoding.get(k)) for k in _CF_ENCODING):
            return None
        if name in obj.indexes and not obj.indexes[name].equals(ref.indexes[name]):
            return None
    return src, ref


def _untouched_view(var: xr.Variable, name: str, root: Path) -> bool:
    """Whether ``var`` is a lazy, unselected view of array ``name`` of the store at ``root``:
    xarray's backend wrappers (CF decoding, copy-on-write, an empty in-memory cache, a full
    lazy index) around its Zarr array, directly or as the only source of a dask array."""
    data = getattr(var, "_data", None)
    if hasattr(data, "dask"):  # open_dataset(chunks=...): one from-array layer, nothing after
        layers = data.dask.layers
        if len(layers) != 2 or data.name not in layers:
            return False
        (original,) = (layer for key, layer in layers.items() if key != data.name)
        if len(original) != 1:
            return False
        data = next(iter(original.values()))
    for _ in range(16):  # a handful of wrappers; never loop on a strange object
        target = getattr(data, "_array", None)
        if type(data).__name__ == "ZarrArrayWrapper" and target is not None:
            store_root = getattr(getattr(target, "store", None), "root", None)
            return (
                store_root is not None
                and Path(store_root).resolve() == root
                and str(target.path).strip("/") == name
                and tuple(target.shape) == tuple(var.shape)
            )
        if not type(data).__module__.startswith("xarray."):
            return False  # a NumPy array, a loaded cache, another library's array
        key = getattr(data, "key", None)
        if key is not None and not all(
            isinstance(k, slice) and k == slice(None) for k in getattr(key, "tuple", (None,))
        ):
            return False  # a lazy selection (isel, sel, [..]) of the stored array
        data = getattr(data, "array", None)
        if data is None:
            return False
    return False


def _same(a: Any, b: Any) -> bool:
    """Equal attribute/encoding values: dicts by item, arrays by value, NaN equal to NaN."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_same(a[k], b[k]) for k in a)
        )
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except (TypeError, ValueError):
        try:
            return bool(np.array_equal(a, b))
        except (TypeError, ValueError):
            return a is b
