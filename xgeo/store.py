"""Writing Zarr stores chunk by chunk so an interrupted write can be checked and resumed.

An xarray ``to_zarr`` killed half-way leaves a store that reads back with silent fill
values where chunks were never written. Here the write happens in two phases:

1. metadata and small (in-memory) variables are written by xarray (``compute=False``);
2. every dask block of every lazy variable becomes one task that writes its region with
   xarray's own encoding and then drops a marker file for that chunk in a sidecar folder
   ``<store>.progress/``.

Until the last block is written the sidecar says which chunks are missing
(:func:`missing_chunks`) and :func:`xgeo.open_dataset` refuses the store with that list;
``to_zarr(..., resume=True)`` writes only the missing blocks. The tasks run on whatever
dask scheduler is active, ``dask.distributed`` included: this module schedules nothing.
Markers go through fsspec, so the same code works for object-store URLs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Hashable
from functools import partial
from itertools import product
from typing import Any

import numpy as np
import xarray as xr

from .errors import XgeoError

__all__ = ["IncompleteStoreError", "write_resumable", "missing_chunks", "progress_path"]

_DONE = "complete.json"


class IncompleteStoreError(XgeoError, OSError):
    """A Zarr store whose write was interrupted: some chunks were never written."""


def progress_path(store: str) -> str:
    """The sidecar folder holding one marker per written chunk."""
    return str(store).rstrip("/") + ".progress"


def _fs(path: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(path, **(storage_options or {}))


def _block_key(index: tuple[int, ...]) -> str:
    return ".".join(str(i) for i in index) or "0"


def _lazy_variables(ds: xr.Dataset) -> list[Hashable]:
    return [name for name, var in ds.variables.items() if var.chunks is not None]


def _blocks(var: xr.Variable) -> list[tuple[tuple[int, ...], dict[Hashable, slice]]]:
    """(block index, region) for every dask block of a variable."""
    starts = [np.concatenate([[0], np.cumsum(c)]) for c in var.chunks]
    out = []
    for index in product(*(range(len(c)) for c in var.chunks)):
        region = {
            dim: slice(int(s[i]), int(s[i + 1]))
            for dim, s, i in zip(var.dims, starts, index, strict=True)
        }
        out.append((index, region))
    return out


def _write_block(
    block: np.ndarray,
    after: list[str],
    *,
    store: str,
    name: Hashable,
    dims: tuple,
    attrs: dict,
    region: dict,
    marker: str,
    storage_options: dict[str, Any] | None = None,
) -> str:
    """Write one block with xarray's encoding of the existing array, then mark it done.

    ``after`` (the markers of the previous block rows) is only a dependency: it orders writes.
    """
    ds = xr.Dataset({name: xr.Variable(dims, block, attrs)})
    extra = {"storage_options": storage_options} if storage_options else {}
    ds.to_zarr(store, region=region, mode="r+", consolidated=False, **extra)
    fs, path = _fs(marker, storage_options)
    with fs.open(path, "wb") as fh:  # written after the data: a marker never lies
        fh.write(b"")
    return marker


def write_resumable(
    ds: xr.Dataset,
    store: str,
    *,
    encoding: dict[str, Any] | None = None,
    resume: bool = False,
    progress: bool | None = None,
    **kwargs: Any,
) -> list[str]:
    """Write ``ds`` to a Zarr store block by block with per-chunk completion markers.

    Lazy (dask) variables must be chunked like their Zarr chunks (xgeo's ``to_zarr``
    rechunks them). Returns the markers written by this call.

    Parameters
    ----------
    resume
        Continue an interrupted write of the same Dataset: only blocks without a marker
        are computed and written. Without it the store must not exist.
    progress
        Show a progress bar (dask's, or distributed's when a client is active); default:
        only when standard error is a terminal.
    """
    import dask
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph

    sidecar = progress_path(store)
    storage_options = kwargs.get("storage_options")
    fs, side = _fs(sidecar, storage_options)
    lazy = _lazy_variables(ds)
    if resume:
        if not fs.exists(side):
            raise IncompleteStoreError(
                f"nothing to resume at {store}: no {sidecar} progress folder"
            )
        _check_same_layout(ds, store, lazy, storage_options)
    else:
        if fs.exists(side) and fs.exists(f"{side}/{_DONE}") and kwargs.get("mode") == "w":
            fs.rm(side, recursive=True)  # overwriting a complete store: its markers are stale
        if fs.exists(side):
            raise IncompleteStoreError(
                f"{sidecar} exists: a previous write of {store} was interrupted; pass resume=True "
                "to finish it, or delete both folders to start over"
            )
        ds.to_zarr(store, compute=False, encoding=encoding, **kwargs)
        fs.makedirs(side, exist_ok=True)
        manifest = {str(n): [list(map(int, c)) for c in ds[n].chunks] for n in lazy}
        with fs.open(f"{side}/manifest.json", "w") as fh:
            json.dump(manifest, fh)
    done = set(fs.ls(side, detail=False)) if resume else set()
    done = {p.rsplit("/", 1)[-1] for p in done}
    client = _active_client()
    pending = []  # (block row, variable name, block key, its write task)
    arrays = []
    for name in lazy:
        var = ds[name].variable
        attrs = {k: v for k, v in var.attrs.items() if k not in ("_FillValue", "missing_value")}
        (data,) = dask.optimize(var.data)  # the array's own optimizations (blockwise fusion)
        arrays.append(data)
        write = partial(_write_block, store=store, name=name, dims=var.dims, attrs=attrs,
                        storage_options=storage_options)
        for index, region in _blocks(var):  # C order, like the array's own keys
            key = (data.name, *index)
            marker_name = f"{name}@{_block_key(index)}"
            if marker_name not in done:
                pending.append((index[:-1], name, key, partial(write, region=region,
                                                               marker=f"{sidecar}/{marker_name}")))
    # Without a distributed client, block rows are written in order (each group of rows after
    # the previous one): dask's static ordering otherwise hops across the array and keeps
    # source chunks shared by distant output blocks alive (2x the memory for a reprojection).
    # The distributed scheduler bounds memory itself (root-task queuing, spilling).
    groups = _row_groups(pending, _min_group()) if client is None else [pending]
    layer = f"xgeo-write-{uuid.uuid4().hex}"  # writes are side effects: never reuse a result
    dsk: dict = {}
    previous: list = []
    for group in groups:
        current = []
        for _, _, key, write in group:
            out = (layer, len(dsk))
            dsk[out] = (write, key, previous)
            current.append(out)
        previous = current if client is None else []
    graph = HighLevelGraph.from_collections(layer, dsk, dependencies=arrays)
    tasks = [Delayed(k, graph, layer=layer) for k in dsk]
    written = list(_compute(tasks, progress)) if tasks else []
    with fs.open(f"{side}/{_DONE}", "w") as fh:
        json.dump({"blocks_written_last_run": len(written)}, fh)
    return written


def _active_client() -> Any:
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def _min_group() -> int:
    """Blocks per ordered group: enough to keep every local dask worker busy."""
    import os

    import dask

    workers = dask.config.get("num_workers", None) or os.cpu_count() or 1
    return 4 * int(workers)


def _row_groups(pending: list, min_size: int) -> list[list]:
    """``pending`` sorted by block row, cut into consecutive groups of whole rows of at
    least ``min_size`` blocks."""
    pending = sorted(pending, key=lambda p: (p[0], str(p[1])))
    groups: list[list] = []
    for i, item in enumerate(pending):
        new_row = i == 0 or item[0] != pending[i - 1][0]
        if not groups or (new_row and len(groups[-1]) >= min_size):
            groups.append([])
        groups[-1].append(item)
    return groups


def _compute(tasks: list, progress: bool | None) -> tuple:
    import sys

    import dask

    show = sys.stderr.isatty() if progress is None else progress
    client = _active_client()
    if client is not None:
        futures = client.compute(tasks)
        if show:
            from distributed import progress as dprogress

            dprogress(futures)
        return tuple(client.gather(futures))
    if show:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return dask.compute(*tasks)
    return dask.compute(*tasks)


def _check_same_layout(
    ds: xr.Dataset, store: str, lazy: list[Hashable], storage_options: dict[str, Any] | None
) -> None:
    fs, side = _fs(progress_path(store), storage_options)
    with fs.open(f"{side}/manifest.json") as fh:
        manifest = json.load(fh)
    mine = {str(n): [list(map(int, c)) for c in ds[n].chunks] for n in lazy}
    if manifest != mine:
        raise IncompleteStoreError(
            f"cannot resume {store}: the Dataset's variables or chunks differ from the interrupted "
            f"write (stored {sorted(manifest)}, given {sorted(mine)}); write the same Dataset"
        )


def missing_chunks(
    store: str, storage_options: dict[str, Any] | None = None
) -> dict[str, list[tuple[int, ...]]] | None:
    """Chunks (block indices per variable) an interrupted write left unwritten.

    None when the store was not written by :func:`write_resumable` or is complete
    (an empty dict never occurs: a complete write says so).
    """
    fs, side = _fs(progress_path(store), storage_options)
    if not fs.exists(side) or fs.exists(f"{side}/{_DONE}"):
        return None
    with fs.open(f"{side}/manifest.json") as fh:
        manifest = json.load(fh)
    done = {p.rsplit("/", 1)[-1] for p in fs.ls(side, detail=False)}
    missing: dict[str, list[tuple[int, ...]]] = {}
    for name, chunks in manifest.items():
        for index in product(*(range(len(c)) for c in chunks)):
            if f"{name}@{_block_key(index)}" not in done:
                missing.setdefault(name, []).append(index)
    return missing


def check_complete(store: str, storage_options: dict[str, Any] | None = None) -> None:
    """Raise :class:`IncompleteStoreError` naming the missing chunks if a write was interrupted."""
    missing = missing_chunks(store, storage_options)
    if missing is None:
        return
    total = sum(len(v) for v in missing.values())
    if total == 0:
        return
    detail = "; ".join(
        f"{name}: {len(idx)} chunk(s), e.g. {idx[:3]}" for name, idx in missing.items()
    )
    raise IncompleteStoreError(
        f"{store} is incomplete, its write was interrupted: {total} chunk(s) missing ({detail}). "
        "Finish it with the same call plus resume=True, or open with allow_incomplete=True."
    )
