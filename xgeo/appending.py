"""Appends and region writes into an existing Zarr store: xarray's own writes, made safe.

:mod:`xgeo.store`'s resumable writer makes new stores, placing its blocks from the start of
each array. Adding to a store is ``xarray.Dataset.to_zarr(append_dim=...)`` or
``to_zarr(region=...)``, which :func:`xgeo.io.to_zarr` calls here with:

* the store's lock (:mod:`xgeo.lock`): one writer at a time;
* lazy data rechunked to the store's chunks (xarray's ``align_chunks=True``), its
  coordinates loaded;
* an encoding (``codec=``, ``encoding=``) for a variable the store already holds refused
  before anything is written, naming the fix: the store keeps its own codec (xarray's
  "already exists, but encoding was provided" did not say so);
* for region writes, the variables that share no dimension with the region (the grid's
  ``spatial_ref``, static layers) left out: the store holds them already, and xarray refuses
  them (it asked to drop ``spatial_ref``, which xgeo adds back to every write);
* the chunk records of xgeo's writer (:mod:`xgeo.completion`) dropped once the write changed
  the store, as they would no longer describe it (``xgeo verify`` then checks what it can
  without them); a write refused before it changed any array's metadata keeps them, and a
  region write that failed part-way keeps them too, so that verify shows what it changed.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import xarray as xr

from .completion import quiet_consolidation
from .errors import AppendError
from .lock import StoreLock
from .storestate import forget_records, with_loaded_coords

__all__ = ["added_write"]


def added_write(ds: xr.Dataset, store: str, encoding: dict[Hashable, Any],
                kwargs: dict[str, Any]) -> Any:
    """Append or region-write ``ds`` into the Zarr store at ``store`` (see the module).

    Raises
    ------
    AppendError
        ``encoding`` names variables the store already holds.
    """
    storage_options = kwargs.get("storage_options")
    with StoreLock(store, storage_options):
        before = _arrays_metadata(store, storage_options)
        clash = sorted(str(n) for n in encoding if str(n) in before)
        if clash:
            raise AppendError(
                f"{store} already holds {clash}, stored with their own codec and chunks: "
                "leave out codec= and encoding= when appending or writing a region (the "
                "store's encoding is kept)")
        if "region" in kwargs:
            ds = _in_region(ds, kwargs["region"])
        ds = with_loaded_coords(ds)  # (as the resumable writer: none straddles a chunk)
        if any(v.chunks is not None for v in ds.data_vars.values()):
            # lazy blocks are rechunked to the store's chunks (xarray refuses blocks that
            # straddle them: two tasks would write one chunk)
            kwargs = {"align_chunks": True, **kwargs}
        try:
            with quiet_consolidation():
                result = ds.to_zarr(store, encoding=encoding or None, **kwargs)
        except BaseException:
            if _arrays_metadata(store, storage_options) != before:
                forget_records(store, storage_options, replacing=False)
            raise
        forget_records(store, storage_options, replacing=False)
        return result


def _in_region(ds: xr.Dataset, region: Any) -> xr.Dataset:
    """``ds`` without the variables that share no dimension with ``region`` (all its
    dimensions for ``"auto"``): the store holds them already."""
    dims = set(ds.dims) if region == "auto" else set(region)
    outside = [n for n, v in ds.variables.items() if not set(v.dims) & dims]
    return ds.drop_vars(outside)


def _arrays_metadata(store: str, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    """Each array of the store and its metadata document (empty if there is no store)."""
    import zarr

    try:
        group = zarr.open_group(store, mode="r", storage_options=storage_options) \
            if storage_options else zarr.open_group(store, mode="r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError):
        return {}
    return {name: arr.metadata.to_dict() for name, arr in group.arrays()}
