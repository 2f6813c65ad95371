"""Decode errors on read that name the store, the variable and the chunk.

Reads go through xarray and Zarr lazily: a corrupt chunk fails deep inside Zarr's codec
pipeline, long after :func:`xgeo.open_dataset` returned, with a message that names no
file. Zarr builds each array's codec pipeline when the array is opened, from the class
its configuration names; :func:`chunk_error_context` makes the arrays opened inside it use
:class:`ContextCodecPipeline`, which reads exactly like Zarr's own pipeline and, when a
batch of chunks fails to decode, finds the failing chunk and raises
:class:`xgeo.errors.CodecError` naming the store, the variable, the chunk key and the
original reason. Arrays keep that pipeline for as long as they live, so every later read
(``.values``, dask tasks in threads) gets the context.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from zarr.core.codec_pipeline import BatchedCodecPipeline
from zarr.registry import register_pipeline

from .errors import CodecError, chunk_codec_error

__all__ = ["ContextCodecPipeline", "chunk_error_context"]

_DEFAULT = "zarr.core.codec_pipeline.BatchedCodecPipeline"
_NAME = f"{__name__}.ContextCodecPipeline"


def _where(byte_getter: Any) -> tuple[str, str, str]:
    """(store, variable, chunk key) of a chunk's StorePath."""
    store = getattr(byte_getter, "store", None)
    root = getattr(store, "root", None)
    store_name = str(root) if root is not None else str(store)
    path = str(getattr(byte_getter, "path", byte_getter))
    if "/c/" in f"/{path}":  # Zarr v3 default keys: <array>/c/0/1/...
        head, _, tail = f"/{path}".rpartition("/c/")
        return store_name, head.strip("/") or "/", f"c/{tail}"
    head, _, key = path.rpartition("/")  # Zarr v2 keys: <array>/0.1...
    return store_name, head or "/", key


def _decode_failure(exc: BaseException) -> bool:
    return isinstance(exc, Exception) and not isinstance(exc, (CodecError, OSError, MemoryError))


class ContextCodecPipeline(BatchedCodecPipeline):
    """Zarr's batched codec pipeline, with decode errors that name the chunk."""

    async def read_batch(self, batch_info: Any, out: Any, drop_axes: tuple[int, ...] = ()) -> None:
        batch = list(batch_info)
        try:
            await super().read_batch(batch, out, drop_axes)
        except Exception as exc:
            if not _decode_failure(exc) or not batch:
                raise
            if len(batch) > 1:  # find the chunk that fails
                for item in batch:
                    await self.read_batch([item], out, drop_axes)
            store, variable, key = _where(batch[0][0])
            raise chunk_codec_error(exc, store=store, variable=variable, chunk=key) from exc


register_pipeline(ContextCodecPipeline)


@contextmanager
def chunk_error_context() -> Iterator[None]:
    """Arrays opened inside this block raise decode errors naming their chunk.

    Does nothing when the Zarr configuration names a pipeline of its own.
    """
    import zarr

    if zarr.config.get("codec_pipeline.path") != _DEFAULT:
        yield
        return
    with zarr.config.set({"codec_pipeline.path": _NAME}):
        yield
