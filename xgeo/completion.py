"""What a complete lazy write leaves in its Zarr store, once its progress folder is gone.

While :mod:`xgeo.store` writes, everything it knows lives beside the store, in
``<store>.progress/`` (see :mod:`xgeo.manifest`). When the write is complete that folder
is removed; what is still needed afterwards moves into the store:

- the chunk records (size and BLAKE2b digest of every chunk object written, and a digest
  of each dask block's values) go into one ``xgeo-records.json`` per array, in the
  array's own folder: ``xgeo verify`` / ``open_dataset(verify=True)`` check chunks against
  them, and a ``resume=True`` of a complete store compares its data with them. Zarr never
  lists an array's folder as members, so readers do not warn about the extra file (a file
  at the store's root would make zarr warn on every plain listing);
- Zarr consolidated metadata, so that a plain ``xarray.open_zarr(store)`` opens it without
  the "failed to open with consolidated metadata" warning. For Zarr v3 zarr-python warns
  that consolidated metadata is not in the v3 specification yet; xgeo writes it on
  purpose, so that warning is silenced while xgeo consolidates (:func:`quiet_consolidation`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .manifest import read_json, write_json_atomic

__all__ = ["RECORDS_FILE", "write_records", "stored_manifest", "drop_records", "consolidate",
           "quiet_consolidation"]

#: The file holding an array's chunk records, inside the array's folder of the store.
RECORDS_FILE = "xgeo-records.json"
_VERSION = 1


def _name_of(key: str) -> str:
    return key.split("/", 1)[0]


def _all_chunks(doc: dict[str, Any]) -> dict[str, Any]:
    """Every chunk record of an array's records document (blocks' included)."""
    out = dict(doc.get("chunks") or {})
    for block in (doc.get("blocks") or {}).values():
        if isinstance(block, dict):
            out.update(block.get("chunks") or {})
    return out


def _is_array(fs: Any, root: str, name: str) -> bool:
    return any(fs.exists(f"{root}/{name}/{m}") for m in ("zarr.json", ".zarray"))


def write_records(fs: Any, root: str, manifest: dict[str, Any],
                  blocks: dict[str, dict[str, Any]]) -> None:
    """Write the records of a finished write into its store, one file per array.

    Parameters
    ----------
    fs, root
        The store's filesystem and path in it.
    manifest
        The write's manifest (token, dask chunks, fingerprint, records of the arrays
        written with the metadata).
    blocks
        ``{"<name>@<block index>": marker record}`` for every block written.

    Chunk records of an earlier write that this one did not rewrite (an append, a region
    write) are kept.
    """
    token = manifest.get("token")
    fp = manifest.get("fingerprint") or {}
    variables = fp.get("variables", {})
    docs: dict[str, dict[str, Any]] = {}

    def doc(name: str) -> dict[str, Any]:
        return docs.setdefault(name, {
            "version": _VERSION, "token": token, "chunks": {}, "blocks": {},
            "fingerprint": variables.get(name), "dataset_attrs": fp.get("attrs"),
            "dask_chunks": manifest.get("chunks", {}).get(name),
        })

    for key, record in (manifest.get("arrays") or {}).items():
        doc(_name_of(key))["chunks"][key] = record
    for marker, record in blocks.items():
        name, index = marker.split("@", 1)
        doc(name)["blocks"][index] = record
    for name in variables:
        doc(name)
    for name, new in docs.items():
        if not _is_array(fs, root, name):
            continue
        path = f"{root}/{name}/{RECORDS_FILE}"
        old = read_json(fs, path)
        if isinstance(old, dict) and old.get("token") != token:
            written = _all_chunks(new)
            new["chunks"] = {**{k: v for k, v in _all_chunks(old).items() if k not in written},
                             **new["chunks"]}
        write_json_atomic(fs, path, new)


def _array_names(fs: Any, root: str) -> list[str]:
    try:
        entries = fs.ls(root, detail=True)
    except FileNotFoundError:
        return []
    return sorted(e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries
                  if e.get("type") == "directory")


def stored_manifest(fs: Any, root: str) -> dict[str, Any] | None:
    """The manifest of the write(s) recorded in a store's arrays, in the layout of
    :mod:`xgeo.store`'s manifest plus ``"blocks"`` (the block records); None when no
    array holds records."""
    docs = {}
    for name in _array_names(fs, root):
        record = read_json(fs, f"{root}/{name}/{RECORDS_FILE}")
        if isinstance(record, dict) and record.get("version") == _VERSION:
            docs[name] = record
    if not docs:
        return None
    tokens = {d.get("token") for d in docs.values()}
    fingerprints = {n: d.get("fingerprint") for n, d in docs.items()}
    manifest: dict[str, Any] = {
        "token": tokens.pop() if len(tokens) == 1 else None, "phase": "writing",
        "chunks": {n: d["dask_chunks"] for n, d in docs.items() if d.get("dask_chunks")},
        "fingerprint": None, "arrays": {}, "blocks": {}, "stored": True,
    }
    if all(fingerprints.values()):
        manifest["fingerprint"] = {"variables": fingerprints,
                                   "attrs": next(iter(docs.values())).get("dataset_attrs")}
    for name, record in docs.items():
        manifest["arrays"].update(record.get("chunks") or {})
        for index, block in (record.get("blocks") or {}).items():
            manifest["blocks"][f"{name}@{index}"] = block
    return manifest


def drop_records(fs: Any, root: str) -> None:
    """Remove every array's records (something other than xgeo's lazy writer changed the
    store: they would no longer describe it)."""
    for name in _array_names(fs, root):
        path = f"{root}/{name}/{RECORDS_FILE}"
        if fs.exists(path):
            fs.rm(path)


@contextmanager
def quiet_consolidation() -> Iterator[None]:
    """Silence zarr-python's note that Zarr v3 consolidated metadata is not in the
    specification (xgeo writes it deliberately: see the module docstring)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Consolidated metadata is currently not part", category=UserWarning
        )
        yield


def consolidate(store: str, storage_options: dict[str, Any] | None = None) -> None:
    """Write consolidated metadata for the Zarr store at ``store`` (a path or fsspec URL)."""
    import zarr

    target: Any = store
    if "://" in store:
        from zarr.storage import FsspecStore

        target = FsspecStore.from_url(store, storage_options=storage_options, read_only=False)
    with quiet_consolidation():
        zarr.consolidate_metadata(target)
