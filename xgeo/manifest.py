"""What a resumable Zarr write records about the data it writes, and how it records it.

The writer in :mod:`xgeo.store` keeps, in the sidecar folder ``<store>.progress/``:

- ``manifest.json``: the write's ``token``, its ``phase`` (``"prepared"`` before the Zarr
  metadata is known to be complete, ``"writing"`` after), the dask chunks of every lazy
  variable, a :func:`fingerprint` of the Dataset, and the chunk records of the variables
  written with the metadata;
- one marker per written dask block, holding :func:`chunk_records` (size and digest of
  each Zarr chunk object it wrote) and a :func:`block_digest` of the values, computed as
  the block is written.

When the write is complete the folder goes and these records move into the store, one
file per array (see :mod:`xgeo.completion`).

The fingerprint covers everything cheap to compare (variables, dims, shapes, dtypes,
chunks, coordinate values, attributes). Dask task names are deliberately left out: names of
arrays opened from files include the file's modification time, so a ``touch`` would make
the same data look different. The content of lazy data is instead compared where it
matters: a resume recomputes a block that the interrupted write already stored and
compares its digest with the one in that block's marker.

Files are written atomically where the filesystem allows: locally through a temporary
file renamed over the target (``os.replace``), on object stores with one PUT.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Hashable, Iterable
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["write_json_atomic", "read_json", "fingerprint", "block_digest", "chunk_records",
           "chunk_keys", "object_digest"]


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def write_json_atomic(fs: Any, path: str, obj: Any) -> None:
    """Write ``obj`` as JSON at ``path`` so that a reader sees the old file or the new one."""
    data = json.dumps(obj, sort_keys=True).encode()
    if _is_local(fs):
        import os

        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    else:
        fs.pipe_file(path, data)


def read_json(fs: Any, path: str) -> Any:
    """The JSON at ``path``; None when it is missing or unreadable (a torn write)."""
    try:
        raw = fs.cat_file(path)
    except FileNotFoundError:
        return None
    try:
        return json.loads(raw.decode() or "null")
    except ValueError:
        return None


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()


def _values_digest(values: np.ndarray) -> str:
    values = np.asarray(values)
    if values.dtype.kind in "OUST" or values.dtype.kind not in "biufcmMV":
        return _digest([str(v) for v in values.ravel().tolist()] + [list(values.shape)])
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{values.dtype.str}{values.shape}".encode())
    h.update(np.ascontiguousarray(values).reshape(-1).view(np.uint8))  # (no copy of the bytes)
    return h.hexdigest()


def fingerprint(ds: xr.Dataset, lazy: Iterable[Hashable]) -> dict[str, Any]:
    """A deterministic description of ``ds`` (JSON-able), content of in-memory variables included.

    Lazy variables contribute their structure (dims, shape, dtype, chunks, attrs); their
    values are checked block by block on resume (see the module docstring).
    """
    lazy = {str(n) for n in lazy}
    variables = {}
    for name, var in ds.variables.items():
        entry: dict[str, Any] = {
            "dims": [str(d) for d in var.dims],
            "shape": [int(s) for s in var.shape],
            "dtype": str(var.dtype),
            "attrs": _digest(var.attrs),
        }
        if str(name) in lazy:
            entry["chunks"] = [[int(c) for c in cs] for cs in var.chunks]
        else:
            entry["values"] = _values_digest(var.values)
        variables[str(name)] = entry
    return {"variables": variables, "attrs": _digest(ds.attrs)}


def block_digest(block: np.ndarray) -> str:
    """A digest of one block's values (dtype and shape included)."""
    return _values_digest(block)


def stored_chunk_shape(meta: Any) -> tuple[int, ...]:
    """Shape of the stored objects of a Zarr array (shards when sharded)."""
    grid = getattr(meta, "chunk_grid", None)
    if grid is not None:
        return tuple(int(c) for c in grid.chunk_shape)
    return tuple(int(c) for c in meta.chunks)


def chunk_keys(meta: Any, region: tuple[slice, ...] | None = None) -> list[str]:
    """Keys (relative to the array) of the stored chunks covering ``region``
    (every chunk of the array when None)."""
    from itertools import product

    shape = tuple(int(s) for s in meta.shape)
    cshape = stored_chunk_shape(meta)
    if region is None:
        region = tuple(slice(0, s) for s in shape)
    ranges = [
        range(r.start // c, -(-r.stop // c)) if c else range(1)
        for r, c in zip(region, cshape, strict=True)
    ]
    if not shape:
        return [meta.encode_chunk_key(())]
    return [meta.encode_chunk_key(tuple(idx)) for idx in product(*ranges)]


def object_digest(data: bytes) -> str:
    """The digest recorded for one stored chunk object (BLAKE2b, 128 bit).

    Not CRC-32: every xgeo video chunk ends with the CRC-32 of what precedes it, and the
    CRC-32 of a message followed by its own CRC-32 is a constant (0x2144DF1C), so it would
    tell no two valid video chunks apart.
    """
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def chunk_records(fs: Any, root: str, name: str, keys: Iterable[str]) -> dict[str, Any]:
    """``{"<name>/<key>": [size, digest] or None}`` for chunk objects of array ``name``
    (digest: :func:`object_digest`).

    None marks a chunk Zarr did not store (every value equal to the fill value).
    """
    out: dict[str, Any] = {}
    for key in keys:
        rel = f"{name}/{key}" if name else key
        try:
            data = fs.cat_file(f"{root}/{rel}")
        except FileNotFoundError:
            out[rel] = None
            continue
        out[rel] = [len(data), object_digest(data)]
    return out
