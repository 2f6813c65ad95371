"""Writing Zarr stores chunk by chunk so an interrupted write can be checked and resumed.

An xarray ``to_zarr`` killed half-way leaves a store that reads back with silent fill
values where chunks were never written. Here a write holds the store's lock
(:class:`xgeo.lock.StoreLock`) and goes through these steps, each of which leaves a state
that :func:`xgeo.open_dataset` refuses (:class:`~xgeo.errors.IncompleteStoreError`) and that
``resume=True`` finishes:

1. ``<store>.progress/`` is created: from now on the store counts as incomplete;
2. ``manifest.json`` is written atomically (token, ``phase: "prepared"``, chunks, a
   fingerprint of the Dataset, see :mod:`xgeo.manifest`); files of an earlier write left
   in the sidecar are deleted;
3. metadata and small (in-memory) variables are written by xarray (``compute=False``);
   the manifest moves to ``phase: "writing"`` with the chunk records of those variables;
4. every dask block of every lazy variable becomes one task that writes its region with
   xarray's own encoding and then drops a marker for that block in the sidecar, holding
   the size and digest (BLAKE2b) of each chunk object it wrote and a digest of its values;
5. the chunk records move into the store, one ``xgeo-records.json`` per array folder, and
   Zarr consolidated metadata is written (see :mod:`xgeo.completion`);
6. ``complete.json`` records the end of the write (with the manifest's token);
7. the progress folder is removed: a complete store is the store alone.

A store is complete when it has no progress folder, or when ``complete.json`` carries the
manifest's token (a writer stopped between steps 6 and 7). Resuming in phase
``"prepared"`` rewrites the metadata; in phase ``"writing"`` only blocks without a marker
are written, after checking that the Dataset matches the manifest and that blocks
already stored have the same values (recomputed, at most two per variable). A resume of a
complete store checks the same against its records and writes nothing.
:func:`_checkpoint` is called after every step (tests patch it to kill the writer there).
The tasks run on whatever dask scheduler is active, ``dask.distributed`` included: this
module schedules nothing. Everything goes through fsspec, so object-store URLs work too.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from functools import partial
from itertools import product
from typing import Any

import numpy as np
import xarray as xr

from .completion import consolidate, write_records
from .errors import DecodeError, IncompleteStoreError, codec_errors_as_xgeo
from .lock import StoreLock
from .manifest import (
    block_digest,
    chunk_keys,
    chunk_records,
    fingerprint,
    read_json,
    write_json_atomic,
)
from .spelling import fix
from .storestate import (
    DONE,
    MANIFEST,
    block_key,
    check_complete,
    drop_progress,
    forget_records,
    marker_record,
    missing_chunks,
    progress_path,
    refuse_existing,
    store_exists,
    store_state,
)

# what readers need is in xgeo.storestate, and re-exported here; IncompleteStoreError
# lives in xgeo.errors and stays importable from here
__all__ = ["IncompleteStoreError", "write_resumable", "missing_chunks", "progress_path",
           "store_state", "marker_record", "check_complete", "drop_progress", "forget_records",
           "refuse_existing"]

_VERSION = 2


def _checkpoint(step: str) -> None:
    """Called after every step of the write protocol (a no-op; tests patch it)."""


def _fs(path: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(path, **(storage_options or {}))


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
    keys: tuple[str, ...] | list[str] = (),
    storage_options: dict[str, Any] | None = None,
) -> str:
    """Write one block with xarray's encoding of the existing array, then mark it done.

    ``after`` (the markers of the previous block rows) is only a dependency: it orders writes.
    The marker records the size and digest of the chunk objects ``keys`` and a digest of
    the block's values.
    """
    ds = xr.Dataset({name: xr.Variable(dims, block, attrs)})
    extra = {"storage_options": storage_options} if storage_options else {}
    with codec_errors_as_xgeo(f"variable {str(name)!r}"):  # a codec refusal names its variable
        ds.to_zarr(store, region=region, mode="r+", consolidated=False, **extra)
    _checkpoint("chunk-data")
    fs, root = _fs(store, storage_options)
    record = {"chunks": chunk_records(fs, root, str(name), keys), "digest": block_digest(block)}
    _, path = _fs(marker, storage_options)
    write_json_atomic(fs, path, record)  # written after the data: a marker never lies
    _checkpoint("chunk-marker")
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
    """Write ``ds`` to a Zarr store block by block with per-block completion markers.

    Lazy (dask) variables must be chunked like their Zarr chunks (xgeo's ``to_zarr``
    rechunks them). Returns the markers written by this call.

    Parameters
    ----------
    resume
        Finish an interrupted write of the same Dataset, whatever step it stopped at: only
        blocks without a marker are computed and written. A store that does not exist yet
        is simply written. Without it, an existing store needs ``mode="w"`` (which also
        replaces an interrupted write).
    progress
        Show a progress bar (dask's, or distributed's when a client is active); default:
        only when standard error is a terminal.

    Raises
    ------
    StoreLockedError
        Another live writer holds the store's lock (see :mod:`xgeo.lock`).
    IncompleteStoreError
        A resume with a Dataset other than the interrupted write's (variables, chunks,
        coordinates, attributes or values differ), or a write without ``resume=True`` or
        ``mode="w"`` over an interrupted one.
    OutputExistsError
        The store exists and ``mode`` is not ``"w"`` (or ``"a"``/``"r+"``); a FileExistsError.
    """
    storage_options = kwargs.get("storage_options")
    with StoreLock(store, storage_options) as lock:
        _checkpoint("locked")
        return _write_locked(ds, str(store), encoding, resume, progress, kwargs, lock)


def _write_locked(
    ds: xr.Dataset, store: str, encoding: dict[str, Any] | None, resume: bool,
    progress: bool | None, kwargs: dict[str, Any], lock: StoreLock,
) -> list[str]:
    sidecar = progress_path(store)
    storage_options = kwargs.get("storage_options")
    fs, side = _fs(sidecar, storage_options)
    _, root = _fs(store, storage_options)
    lazy = _lazy_variables(ds)
    mode = kwargs.pop("mode", None)
    consolidated = kwargs.pop("consolidated", None) is not False
    kwargs["consolidated"] = False  # the metadata step: consolidated once complete (_finish)
    fp = fingerprint(ds, lazy)
    status, manifest, done = store_state(store, storage_options)
    if resume:
        if status == "absent" and store_exists(fs, root):
            raise IncompleteStoreError(
                f"nothing to resume at {store}: it has neither a {sidecar} progress folder nor "
                f"xgeo's chunk records (it was not written by xgeo's lazy writer); pass "
                f"{fix('overwrite')} to replace it"
            )
        if status in ("absent", "no-manifest"):
            # nothing recorded yet: start over (the lock says no one else is writing)
            manifest = _prepare(ds, store, encoding, kwargs, mode or "w-", fp, lazy,
                                uuid.uuid4().hex, replace=status == "no-manifest")
            done = set()
        else:
            _check_same_data(ds, store, lazy, manifest, fp)
            if status == "prepared":
                manifest = _prepare(ds, store, encoding, kwargs, manifest.get("mode") or "w-",
                                    fp, lazy, manifest["token"], replace=True)
                done = set()
            else:
                _check_same_encoding(ds, store, encoding, kwargs, lazy)
                _check_same_values(ds, store, lazy, manifest, done, storage_options)
                if manifest.get("stored"):
                    return []  # complete, progress folder gone, same data: nothing to do
    else:
        if mode in (None, "w-"):
            refuse_existing(store, storage_options)
        elif status not in ("absent", "complete") and mode != "w":
            raise IncompleteStoreError(
                f"{sidecar} exists: a previous write of {store} was interrupted; pass "
                f"{fix('resume')} to finish it, or {fix('overwrite')} to start over"
            )
        manifest = _prepare(ds, store, encoding, kwargs, mode or "w-", fp, lazy,
                            uuid.uuid4().hex, replace=mode == "w")
        done = set()
    written = _write_blocks(ds, store, lazy, done, progress, storage_options)
    _checkpoint("chunks-done")
    lock.check()  # a writer that stalled and lost its lock never records completion
    _finish(store, manifest, fs, side, root, consolidated, storage_options, len(written))
    return written


def _finish(
    store: str, manifest: dict[str, Any], fs: Any, side: str, root: str, consolidated: bool,
    storage_options: dict[str, Any] | None, n_written: int,
) -> None:
    """Steps 5-7 of the protocol: records into the store, consolidated metadata, completion
    record, progress folder removed."""
    names = {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(side, detail=False)}
    blocks = {}
    for marker in sorted(n for n in names if "@" in n and ".tmp-" not in n):
        record = read_json(fs, f"{side}/{marker}")
        blocks[marker] = record if isinstance(record, dict) else {}
    write_records(fs, root, manifest, blocks)
    _checkpoint("records")
    if consolidated:
        consolidate(store, storage_options)
        _checkpoint("consolidated")
    write_json_atomic(fs, f"{side}/{DONE}",
                      {"token": manifest.get("token"), "blocks_written_last_run": n_written})
    _checkpoint("complete")
    fs.rm(side, recursive=True)
    _checkpoint("cleaned-up")


def _prepare(
    ds: xr.Dataset, store: str, encoding: dict[str, Any] | None, kwargs: dict[str, Any],
    mode: str, fp: dict[str, Any], lazy: list[Hashable], token: str, *, replace: bool,
) -> dict[str, Any]:
    """Steps 1-3 of the protocol; returns the manifest in phase ``"writing"``."""
    storage_options = kwargs.get("storage_options")
    fs, side = _fs(progress_path(store), storage_options)
    fs.makedirs(side, exist_ok=True)
    _checkpoint("sidecar")
    manifest: dict[str, Any] = {
        "version": _VERSION, "token": token, "phase": "prepared", "mode": mode,
        "chunks": {str(n): [list(map(int, c)) for c in ds[n].chunks] for n in lazy},
        "fingerprint": fp,
    }
    write_json_atomic(fs, f"{side}/{MANIFEST}", manifest)
    _checkpoint("manifest")
    for path in fs.ls(side, detail=False):  # markers of an earlier write are stale
        if path.rsplit("/", 1)[-1] != MANIFEST:
            fs.rm(path, recursive=True)
    _checkpoint("cleaned")
    zarr_mode = "w" if replace and mode in ("w", "w-") else mode
    ds.to_zarr(store, compute=False, encoding=encoding, mode=zarr_mode, **kwargs)
    _checkpoint("metadata")
    group = _open_group(store, storage_options)
    _, root = _fs(store, storage_options)
    lazy_names = {str(n) for n in lazy}
    records: dict[str, Any] = {}
    for name, arr in group.arrays():
        if name not in lazy_names:
            records.update(chunk_records(fs, root, name, chunk_keys(arr.metadata)))
    manifest.update(phase="writing", arrays=records)
    write_json_atomic(fs, f"{side}/{MANIFEST}", manifest)
    _checkpoint("writing")
    return manifest


def _open_group(store: str, storage_options: dict[str, Any] | None) -> Any:
    import json

    import zarr

    try:
        if storage_options:
            return zarr.open_group(store, mode="r", storage_options=storage_options)
        return zarr.open_group(store, mode="r")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # a torn metadata document
        raise DecodeError(
            f"cannot write to Zarr store {store}: a metadata document of it is corrupt "
            f"({exc}); `xgeo verify {store}` names it; rewrite the store with "
            f"{fix('overwrite')}") from exc


def _write_blocks(
    ds: xr.Dataset, store: str, lazy: list[Hashable], done: set[str], progress: bool | None,
    storage_options: dict[str, Any] | None,
) -> list[str]:
    import dask
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph

    sidecar = progress_path(store)
    group = _open_group(store, storage_options) if lazy else None
    client = _active_client()
    pending = []  # (block row, variable name, block key, its write task)
    arrays = []
    for name in lazy:
        var = ds[name].variable
        meta = group[str(name)].metadata
        attrs = {k: v for k, v in var.attrs.items() if k not in ("_FillValue", "missing_value")}
        (data,) = dask.optimize(var.data)  # the array's own optimizations (blockwise fusion)
        arrays.append(data)
        write = partial(_write_block, store=store, name=name, dims=var.dims, attrs=attrs,
                        storage_options=storage_options)
        for index, region in _blocks(var):  # C order, like the array's own keys
            key = (data.name, *index)
            marker_name = f"{name}@{block_key(index)}"
            if marker_name not in done:
                keys = chunk_keys(meta, tuple(region[d] for d in var.dims))
                pending.append((index[:-1], name, key, partial(
                    write, region=region, marker=f"{sidecar}/{marker_name}", keys=keys)))
    # Without a distributed client, block rows are written in order (each group of rows after
    # the previous one): dask's static ordering otherwise hops across the array and keeps
    # source chunks shared by distant output blocks alive (2x the memory for a reprojection).
    # The distributed scheduler bounds memory itself (root-task queuing, spilling).
    groups = _row_groups(pending, _min_group()) if client is None else [pending]
    layer = f"xgeo-write-{uuid.uuid4().hex}"  # writes are side effects: never reuse a result
    dsk: dict = {}
    previous: list = []
    for grp in groups:
        current = []
        for _, _, key, write in grp:
            out = (layer, len(dsk))
            dsk[out] = (write, key, previous)
            current.append(out)
        previous = current if client is None else []
    graph = HighLevelGraph.from_collections(layer, dsk, dependencies=arrays)
    tasks = [Delayed(k, graph, layer=layer) for k in dsk]
    return list(_compute(tasks, progress)) if tasks else []


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
    import contextlib
    from concurrent.futures import ThreadPoolExecutor

    import dask.threaded
    from dask.system import CPU_COUNT

    kwargs = {}
    with contextlib.ExitStack() as stack:
        if show:
            from dask.diagnostics import ProgressBar

            stack.enter_context(ProgressBar())
        if (dask.base.get_scheduler(collections=tasks) is dask.threaded.get
                and dask.config.get("pool", None) is None):  # a pool of the user's is theirs
            # an own pool, shut down (waiting for the writes under way) before an error
            # leaves: the caller may then remove what was written (xgeo.outputs), and no
            # write still running recreates it
            workers = dask.config.get("num_workers", None) or CPU_COUNT
            kwargs["pool"] = stack.enter_context(ThreadPoolExecutor(workers))
        return dask.compute(*tasks, **kwargs)


def _diff(stored: dict[str, Any], given: dict[str, Any]) -> str:
    """The first few differences between two fingerprints, in words."""
    sv, gv = stored.get("variables", {}), given.get("variables", {})
    out = []
    if sorted(sv) != sorted(gv):
        out.append(f"variables {sorted(sv)} != {sorted(gv)}")
    for name in sorted(set(sv) & set(gv)):
        for field in ("dims", "shape", "dtype", "chunks", "values", "attrs"):
            if sv[name].get(field) != gv[name].get(field):
                out.append(f"{name}: {field} differ")
    if stored.get("attrs") != given.get("attrs"):
        out.append("Dataset attrs differ")
    return "; ".join(out[:5]) or "fingerprints differ"


def _chunks_diff(stored: dict[str, list], given: dict[str, list]) -> str:
    """How the lazy variables or their dask chunks differ from the interrupted write's."""
    only = sorted(set(stored) - set(given)), sorted(set(given) - set(stored))
    if any(only):
        return (f"the lazy variables differ: the interrupted write has {sorted(stored)}, this "
                f"one {sorted(given)}")
    name = next(n for n in sorted(stored) if stored[n] != given[n])

    def shape(chunks: list) -> tuple:
        return tuple(c[0] if c else 0 for c in chunks)

    return (f"the chunks differ: {name!r} was written in chunks of {shape(stored[name])}, "
            f"this write has {shape(given[name])}")


def _check_same_data(
    ds: xr.Dataset, store: str, lazy: list[Hashable], manifest: dict[str, Any],
    fp: dict[str, Any],
) -> None:
    mine = {str(n): [list(map(int, c)) for c in ds[n].chunks] for n in lazy}
    if manifest.get("chunks") != mine:
        raise IncompleteStoreError(
            f"cannot resume {store}: {_chunks_diff(manifest.get('chunks', {}), mine)}; resume "
            f"with the same data and options, or {fix('overwrite')} to start over"
        )
    stored = manifest.get("fingerprint")
    if stored is not None and stored != fp:
        raise IncompleteStoreError(
            f"cannot resume {store}: the Dataset differs from the interrupted write "
            f"({_diff(stored, fp)}); resume with the same data, or write with "
            f"{fix('overwrite')} to start over"
        )


_CODING_KEYS = ("codecs", "data_type", "fill_value", "compressor", "filters", "dtype")


def _coding(meta: Any) -> str:
    import json

    doc = meta.to_dict()
    return json.dumps({k: doc.get(k) for k in _CODING_KEYS}, sort_keys=True, default=str)


def _check_same_encoding(
    ds: xr.Dataset, store: str, encoding: dict[str, Any] | None, kwargs: dict[str, Any],
    lazy: list[Hashable],
) -> None:
    """The lazy arrays must be coded as the interrupted write coded them (codec options,
    dtype, fill value): blocks written with other options would mix in silently."""
    import zarr

    scratch = zarr.storage.MemoryStore()
    extra = {k: v for k, v in kwargs.items()
             if k not in ("storage_options", "mode", "append_dim", "region")}
    ds.to_zarr(scratch, compute=False, encoding=encoding, mode="w", **extra)
    wanted = zarr.open_group(scratch, mode="r")
    stored = _open_group(store, kwargs.get("storage_options"))
    for name in lazy:
        if _coding(stored[str(name)].metadata) != _coding(wanted[str(name)].metadata):
            raise IncompleteStoreError(
                f"cannot resume {store}: {str(name)!r} would be coded otherwise than the "
                "interrupted write coded it (codec, its options, dtype or fill value differ); "
                f"resume with the same options, or {fix('overwrite')} to start over"
            )


def _check_same_values(
    ds: xr.Dataset, store: str, lazy: list[Hashable], manifest: dict[str, Any],
    done: set[str], storage_options: dict[str, Any] | None,
) -> None:
    """Recompute up to two stored blocks per variable and compare with their markers."""
    import dask

    samples = []
    for name in lazy:
        written = sorted(m for m in done if m.startswith(f"{name}@"))
        for marker in dict.fromkeys([*written[:1], *written[-1:]]):
            record = marker_record(store, manifest, marker, storage_options)
            if not isinstance(record, dict) or "digest" not in record:
                continue  # a marker of a writer before chunk records: nothing to compare
            index = tuple(int(i) for i in marker.split("@", 1)[1].split("."))
            data = ds[name].data
            block = data.blocks[index] if data.ndim else data
            samples.append((name, marker, record["digest"], block))
    if not samples:
        return
    values = dask.compute(*(s[3] for s in samples))
    for (name, marker, digest, _), value in zip(samples, values, strict=True):
        if block_digest(np.asarray(value)) != digest:
            raise IncompleteStoreError(
                f"cannot resume {store}: block {marker.split('@', 1)[1]} of {name!r} has other "
                "values than the interrupted write stored; resume with the same data, or "
                f"write with {fix('overwrite')} to start over"
            )


