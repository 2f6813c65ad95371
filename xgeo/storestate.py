"""Where a Zarr store's xgeo write stands, read from its progress folder or its records.

:mod:`xgeo.store` writes; this module answers, for readers and for the writer itself, how
far a write got: absent (not written by the lazy writer), interrupted at some step (with
the chunks still missing), or complete; and it builds the messages that say how to finish
an interrupted write, in the caller's terms (:mod:`xgeo.spelling`).
"""

from __future__ import annotations

from itertools import product
from typing import Any

from .completion import drop_records, stored_manifest
from .errors import IncompleteStoreError
from .lock import live_writer
from .manifest import read_json
from .spelling import fix, in_cli

__all__ = ["progress_path", "store_state", "progress_state",
           "missing_chunks", "check_complete", "marker_record", "store_exists", "block_key",
           "drop_progress", "forget_records", "refuse_existing", "with_loaded_coords", "DONE",
           "MANIFEST"]

#: The completion record in the progress folder.
DONE = "complete.json"
#: The manifest in the progress folder.
MANIFEST = "manifest.json"


def _fs(path: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(path, **(storage_options or {}))


def with_loaded_coords(ds: Any) -> Any:
    """``ds`` with its lazy coordinates loaded: they are metadata-sized and written whole, so
    only data variables become block tasks and none straddles a stored chunk.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset(coords={"t": np.arange(4)}).chunk({"t": 1})
    >>> with_loaded_coords(ds).t.chunks is None
    True
    """
    lazy = [n for n, c in ds.coords.items() if c.chunks is not None]
    return ds.assign_coords({n: ds.coords[n].load() for n in lazy}) if lazy else ds


def progress_path(store: str) -> str:
    """The sidecar folder holding the manifest and one marker per written block."""
    return str(store).rstrip("/") + ".progress"


def block_key(index: tuple[int, ...]) -> str:
    """The marker suffix of a dask block: ``"0.2.1"``."""
    return ".".join(str(i) for i in index) or "0"


def store_exists(fs: Any, root: str) -> bool:
    """True when ``root`` holds Zarr metadata (v2 or v3)."""
    return any(fs.exists(f"{root}/{m}") for m in ("zarr.json", ".zgroup", ".zarray"))


def marker_record(
    store: str, manifest: dict[str, Any] | None, marker: str,
    storage_options: dict[str, Any] | None = None,
) -> Any:
    """What was recorded for one written block (``"<name>@<block index>"``): its chunk
    records and value digest, from the store's records when the write is complete and its
    progress folder gone (``manifest`` of :func:`store_state`), else from its marker."""
    if manifest is not None and "blocks" in manifest:
        return manifest["blocks"].get(marker)
    fs, side = _fs(progress_path(store), storage_options)
    return read_json(fs, f"{side}/{marker}")


def _normal_manifest(raw: Any) -> dict[str, Any] | None:
    """The manifest in the current layout (writers before version 2 stored only chunks)."""
    if not isinstance(raw, dict):
        return None
    if "version" not in raw:
        return {"token": None, "phase": "writing", "chunks": raw, "legacy": True}
    return raw


def store_state(
    store: str, storage_options: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any] | None, set[str]]:
    """Where a store's xgeo write stands: ``(status, manifest, written block markers)``.

    ``status`` is ``"absent"`` (no progress folder and no chunk records: not written by
    the lazy writer), ``"no-manifest"`` (interrupted before it recorded what it writes),
    ``"prepared"`` (interrupted while writing metadata), ``"writing"`` (interrupted while
    writing blocks) or ``"complete"``. For a complete store whose progress folder is gone,
    the manifest is rebuilt from the records in the store (it then has ``"stored": True``
    and the block records under ``"blocks"``, see :func:`marker_record`).
    """
    status, manifest, done = progress_state(store, storage_options)
    if status != "absent":
        return status, manifest, done
    fs, root = _fs(store, storage_options)
    fs.invalidate_cache(root)  # (as progress_state: listings of another process's writes)
    manifest = stored_manifest(fs, root)
    if manifest is None:
        return "absent", None, set()
    return "complete", manifest, set(manifest["blocks"])


def progress_state(
    store: str, storage_options: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any] | None, set[str]]:
    """:func:`store_state` from the progress folder alone (``"absent"`` without one)."""
    fs, side = _fs(progress_path(store), storage_options)
    # another process may have written or finished the store since this one listed it: an
    # object store's cached listing (s3fs keeps one per filesystem) would say otherwise
    fs.invalidate_cache(side)
    if not fs.exists(side):
        return "absent", None, set()
    names = {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(side, detail=False)}
    manifest = _normal_manifest(read_json(fs, f"{side}/{MANIFEST}")) if MANIFEST in names \
        else None
    if manifest is None:
        return "no-manifest", None, set()
    done = {n for n in names if "@" in n and ".tmp-" not in n}
    if DONE in names:
        record = read_json(fs, f"{side}/{DONE}")
        if isinstance(record, dict) and record.get("token") == manifest.get("token"):
            return "complete", manifest, done
    if manifest.get("phase") != "writing":
        return "prepared", manifest, set()
    return "writing", manifest, done


def _how_to_finish() -> str:
    """The sentence that tells how to finish an interrupted write, in the caller's terms."""
    if in_cli():
        return (f"Finish it by rerunning the command that wrote it with {fix('resume')} (or "
                f"{fix('overwrite')} to start over).")
    return (f"Finish it with the same call plus {fix('resume')} (or rewrite it with "
            f"{fix('overwrite')}), or open with {fix('allow_incomplete')}.")


def forget_records(
    store: str, storage_options: dict[str, Any] | None = None, *, replacing: bool
) -> None:
    """Before something other than the lazy writer writes to a store: its chunk records
    would no longer describe it.

    ``replacing`` (``mode="w"``): a store the lazy writer wrote counts as incomplete until
    :func:`drop_progress` (a progress folder without completion record; zarr's ``mode="w"``
    removes the records with the data). Otherwise (an append) the records are removed now.
    """
    fs, side = _fs(progress_path(store), storage_options)
    _, root = _fs(store, storage_options)
    if not replacing:
        drop_records(fs, root)
    elif fs.exists(side) or stored_manifest(fs, root) is not None:
        fs.makedirs(side, exist_ok=True)
        drop_progress(store, storage_options, completion_only=True)


def refuse_existing(store: str, storage_options: dict[str, Any] | None = None) -> None:
    """Raise :class:`~xgeo.errors.OutputExistsError` (or
    :class:`~xgeo.errors.IncompleteStoreError` for an interrupted write) when a write that
    must create ``store`` finds it there."""
    from .errors import OutputExistsError

    fs, side = _fs(progress_path(store), storage_options)
    _, root = _fs(store, storage_options)
    status, _, _ = progress_state(store, storage_options)
    if status not in ("absent", "complete"):
        raise IncompleteStoreError(
            f"{side} exists: a previous write of {store} was interrupted; pass "
            f"{fix('resume')} to finish it, or {fix('overwrite')} to start over")
    if status != "absent" or store_exists(fs, root):
        raise OutputExistsError(
            f"{store} exists (a complete store): pass {fix('overwrite')} to replace it")


def drop_progress(
    store: str, storage_options: dict[str, Any] | None = None, *, completion_only: bool = False
) -> None:
    """Forget a lazy write's records when something else replaces the store.

    With ``completion_only`` only its completion record goes (so the store counts as
    incomplete while it is being replaced); otherwise the whole progress folder.
    """
    fs, side = _fs(progress_path(store), storage_options)
    target = f"{side}/{DONE}" if completion_only else side
    if fs.exists(target):
        fs.rm(target, recursive=not completion_only)


def missing_chunks(
    store: str, storage_options: dict[str, Any] | None = None
) -> dict[str, list[tuple[int, ...]]] | None:
    """Chunks (block indices per variable) an interrupted write left unwritten.

    None when the store was not written by :func:`write_resumable` or is complete. Empty
    when every block was written but the write did not record its end (``resume=True``
    records it) or when it stopped before recording what it writes.
    """
    status, manifest, done = progress_state(store, storage_options)
    if status in ("absent", "complete"):
        return None
    missing: dict[str, list[tuple[int, ...]]] = {}
    for name, chunks in (manifest or {}).get("chunks", {}).items():
        for index in product(*(range(len(c)) for c in chunks)):
            if f"{name}@{block_key(index)}" not in done:
                missing.setdefault(name, []).append(index)
    return missing


def check_complete(store: str, storage_options: dict[str, Any] | None = None) -> None:
    """Raise :class:`~xgeo.errors.IncompleteStoreError` saying how far an interrupted write got."""
    status, manifest, _ = progress_state(store, storage_options)
    if status in ("absent", "complete"):
        return
    writer = live_writer(store, storage_options)
    if writer is not None:  # not interrupted: under way ("resume" would meet its lock)
        raise IncompleteStoreError(
            f"{store} is being written ({writer}); open it when that write has finished")
    hint = _how_to_finish()
    if status == "no-manifest":
        raise IncompleteStoreError(
            f"{store} is incomplete: its write was interrupted before it recorded what it "
            f"writes (no {progress_path(store)}/{MANIFEST}). {hint}")
    if status == "prepared":
        raise IncompleteStoreError(
            f"{store} is incomplete: its write was interrupted while writing its metadata. "
            f"{hint}")
    missing = missing_chunks(store, storage_options) or {}
    total = sum(len(v) for v in missing.values())
    if total == 0:
        raise IncompleteStoreError(
            f"{store} is incomplete: every chunk was written but the write was interrupted "
            f"before it recorded its end. {hint}")
    detail = "; ".join(
        f"{name}: {len(idx)} chunk(s), e.g. {idx[:3]}" for name, idx in missing.items()
    )
    raise IncompleteStoreError(
        f"{store} is incomplete, its write was interrupted: {total} chunk(s) missing ({detail}). "
        f"{hint}"
    )
