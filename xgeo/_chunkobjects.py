"""Where a Zarr array's chunk objects live: local files or objects behind an fsspec URL.

:class:`ChunkObjects` gives a chunk's object path, its bytes (one ``open`` of a local file,
one GET of an ``s3://`` object), the bytes of several chunks in one round of concurrent
requests (:meth:`ChunkObjects.fetch_ahead`, fsspec's ``cat`` of a list) and a *stamp*
that changes when the object is rewritten (size and mtime of a file; size and ETag of an
object). :func:`chunk_objects` finds them for an opened ``zarr.Array``. The chunk reader
(:func:`xgeo._chunkread.direct_chunk_reader`) decodes what they return; everything here is
also importable from :mod:`xgeo._chunkread`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from ._objectstore import access_error

__all__ = ["ChunkObjects", "chunk_objects", "fetch_ahead", "object_stamp"]

Key = tuple[int, ...]


class ChunkObjects:
    """The chunk objects of one Zarr array: their paths, bytes and stamps.

    Parameters
    ----------
    folder
        The array's folder: a local directory, or a path inside ``fs`` (``bucket/cube.zarr/B04``).
    encode_key
        The array's chunk key encoding (``(0, 1) -> "c/0/1"``).
    fs
        The fsspec filesystem of a store behind a URL; None for local files. Not shared
        across processes: each process builds its own (fsspec's instance cache is per process).

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(folder, "c", "0"))
    >>> with open(os.path.join(folder, "c", "0", "1"), "wb") as fh:
    ...     _ = fh.write(b"abc")
    >>> objects = ChunkObjects(folder, lambda key: "c/" + "/".join(map(str, key)))
    >>> objects.fetch((0, 1)), objects.fetch((0, 2)), objects.stamp((0, 1))[0]
    (b'abc', None, 3)
    """

    def __init__(self, folder: str, encode_key: Callable[[Key], str], fs: Any = None) -> None:
        self.folder = str(folder).rstrip("/")
        self.encode_key = encode_key
        self.fs = fs
        # s3fs asks for an object's size (a HEAD) before a GET, to split big objects into
        # concurrent ranged reads: chunks are small, one GET does
        self._read_kw = {"max_concurrency": 1} if getattr(fs, "max_concurrency", 1) > 1 else {}
        self._ahead: dict[Key, bytes | None] = {}

    def path(self, key: Key) -> str:
        """The chunk's object: a local file path, or a path inside :attr:`fs`."""
        return f"{self.folder}/{self.encode_key(key)}"

    def url(self, key: Key) -> str:
        """The chunk's object as a path or full URL (``s3://...``), for messages."""
        path = self.path(key)
        return path if self.fs is None else self.fs.unstrip_protocol(path)

    def fetch(self, key: Key) -> bytes | None:
        """The chunk's bytes, or None when it was never written (Zarr's fill value).

        Raises
        ------
        StoreAccessError
            The object store cannot be reached (names the chunk's URL).
        """
        if key in self._ahead:
            return self._ahead.pop(key)
        try:
            if self.fs is None:
                with open(self.path(key), "rb") as fh:
                    return fh.read()
            return self.fs.cat_file(self.path(key), **self._read_kw)
        except FileNotFoundError:
            return None
        except Exception as exc:
            err = access_error(exc, self.url(key))
            if err is None:
                raise
            raise err from exc

    def fetch_ahead(self, keys: Iterable[Key]) -> None:
        """Fetch these chunks in one round of concurrent requests (see :func:`fetch_ahead`)."""
        fetch_ahead((self, key) for key in keys)

    def stamp(self, key: Key) -> tuple[Any, ...] | None:
        """What identifies this version of the chunk object (:func:`object_stamp`), or None
        when it is missing. One ``stat`` or HEAD."""
        return object_stamp(self.fs, self.path(key))


def object_stamp(fs: Any, path: str) -> tuple[Any, ...] | None:
    """The identity of a stored chunk object: what changes when it is rewritten.

    Parameters
    ----------
    fs
        ``None`` for a local path (``os.stat``: size, mtime_ns, inode), or an fsspec
        filesystem (its ``info``: ETag, size, LastModified/mtime/created, version, inode).
    path
        The chunk object's path (inside ``fs``).

    Returns
    -------
    tuple or None
        None when the object does not exist (a chunk never written reads as the fill value).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "0")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"abc")
    >>> object_stamp(None, path)[0], object_stamp(None, path + "1")
    (3, None)
    """
    if fs is None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return st.st_size, st.st_mtime_ns, st.st_ino
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return None
    names = ("size", "ETag", "etag", "md5Hash", "LastModified", "last_modified", "mtime",
             "created", "VersionId", "version_id", "generation", "ino")
    return tuple((k, str(info[k])) if k != "size" else (k, info[k]) for k in names if k in info)


def chunk_objects(arr: Any, fs: Any = None, root: str | None = None) -> ChunkObjects | None:
    """Where the chunk objects of a Zarr v3 array live: its store's folder (a local store),
    or ``root`` inside ``fs`` (the store's path in an fsspec filesystem); None when unknown.

    Examples
    --------
    >>> import tempfile, zarr
    >>> arr = zarr.create_array(tempfile.mkdtemp(), shape=(4,), chunks=(2,), dtype="u1")
    >>> chunk_objects(arr).path((1,)).endswith("/c/1")
    True
    """
    meta = arr.metadata
    encoding = getattr(meta, "chunk_key_encoding", None)
    if encoding is None:  # Zarr v2 metadata
        return None
    if fs is not None and root is not None:
        folder = f"{str(root).rstrip('/')}/{arr.path}".rstrip("/")
    else:
        store_root = getattr(arr.store, "root", None)
        if store_root is None:
            return None
        folder = os.path.join(str(store_root), arr.path)
        fs = None
    return ChunkObjects(folder, encoding.encode_chunk_key, fs)


def fetch_ahead(chunks: Iterable[tuple[ChunkObjects, Key]]) -> None:
    """Fetch these chunks' bytes in one round of concurrent requests per filesystem (fsspec's
    ``cat`` of a list: s3fs sends the GETs together); the next :meth:`ChunkObjects.fetch` of
    each returns them. Nothing to do for local files. Bytes fetched ahead by an earlier
    call and never asked for are dropped.

    Raises
    ------
    StoreAccessError
        The object store cannot be reached.
    """
    rounds: dict[int, tuple[Any, dict[str, Any], dict[str, tuple[ChunkObjects, Key]]]] = {}
    for objs, key in chunks:
        objs._ahead.clear()
        if objs.fs is not None:
            _, _, paths = rounds.setdefault(id(objs.fs), (objs.fs, objs._read_kw, {}))
            paths[objs.path(key)] = (objs, key)  # as fs.cat names them: no protocol
    for fs, read_kw, paths in rounds.values():
        if len(paths) < 2:  # one chunk: fetch() gets it when asked
            continue
        try:
            got = fs.cat(list(paths), on_error="return", **read_kw)
        except Exception as exc:
            first, _ = next(iter(paths.values()))
            err = access_error(exc, fs.unstrip_protocol(first.folder))
            if err is None:
                raise
            raise err from exc
        for path, value in got.items():
            if path not in paths:
                continue
            objs, key = paths[path]
            if isinstance(value, FileNotFoundError):
                objs._ahead[key] = None
            elif not isinstance(value, BaseException):
                objs._ahead[key] = value
            # another error: left to fetch(), which raises it naming the chunk


def video_serializer_config(arr: Any) -> dict[str, Any] | None:
    """The configuration of the xgeo video serializer a Zarr v3 array's chunks go through
    (decode-bound chunks), or None for any other array: the one test of "is this a video
    array" that the chunk reader and the disk cache share.

    Examples
    --------
    >>> import zarr
    >>> video_serializer_config(zarr.zeros((2, 4, 4), zarr_format=3)) is None
    True
    """
    from xgeo_codecs import CODEC_ID

    meta = arr.metadata
    if getattr(meta, "zarr_format", None) != 3 or not meta.codecs:
        return None
    first = meta.codecs[0].to_dict()
    return dict(first.get("configuration") or {}) if first.get("name") == CODEC_ID else None
