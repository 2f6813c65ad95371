"""Object-store URLs (``s3://``, ``gs://``, ``memory://`` ... through fsspec): the errors.

Every xgeo entry point that opens a store behind an fsspec URL (:func:`xgeo.open_dataset`,
:func:`xgeo.io.to_zarr`, :class:`xgeo.torch.ChipDataset`'s chunk reads) runs inside
:func:`store_access`, which turns what the filesystem library raised about reaching the
store (botocore's ``NoCredentialsError``, ``EndpointConnectionError``, an aiohttp error, a
``PermissionError``, a missing bucket's ``FileNotFoundError``) into
:class:`~xgeo.errors.StoreAccessError` or :class:`~xgeo.errors.StoreNotFoundError`
naming the URL and the ``storage_options`` to check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import StoreAccessError, StoreNotFoundError, XgeoError

__all__ = ["access_error", "is_url", "store_access", "url_to_fs"]

# Libraries whose errors mean "the store cannot be reached or refuses us" when they escape
# a filesystem call (the cloud filesystems' clients).
_CLIENT_LIBRARIES = {"botocore", "aiobotocore", "aiohttp", "google", "gcsfs", "adlfs", "azure"}


def is_url(path: Any) -> bool:
    """Whether ``path`` is an fsspec URL of a remote or in-memory store (not ``file://``).

    Examples
    --------
    >>> is_url("s3://bucket/cube.zarr"), is_url("cube.zarr"), is_url("file:///tmp/c.zarr")
    (True, False, False)
    """
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


def url_to_fs(url: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """``(filesystem, path inside it)`` for ``url``, with ``storage_options`` (fsspec's
    ``url_to_fs``; instances are cached per process and rebuilt after a fork).

    Examples
    --------
    >>> fs, path = url_to_fs("memory://bucket/cube.zarr")
    >>> type(fs).__name__, path
    ('MemoryFileSystem', '/bucket/cube.zarr')
    """
    import fsspec

    return fsspec.core.url_to_fs(url, **(storage_options or {}))


def access_error(exc: BaseException, url: str | os.PathLike) -> XgeoError | None:
    """The xgeo error to raise for ``exc``, raised while reaching the store at ``url``, or
    None when ``exc`` is not about reaching it (raise ``exc`` itself then).

    Examples
    --------
    >>> print(access_error(FileNotFoundError("The specified bucket does not exist"),
    ...                    "s3://nobucket/cube.zarr"))
    no Zarr store at s3://nobucket/cube.zarr: The specified bucket does not exist
    >>> type(access_error(PermissionError("Access Denied"), "s3://b/c.zarr")).__name__
    'StoreAccessError'
    >>> access_error(ValueError("a bad chunk"), "s3://b/c.zarr") is None
    True
    """
    if isinstance(exc, XgeoError):
        return None
    if isinstance(exc, FileNotFoundError):
        said = str(exc).strip()
        return StoreNotFoundError(f"no Zarr store at {url}" + (f": {said}" if said else ""))
    if isinstance(exc, TypeError) and "unexpected keyword argument" in str(exc) \
            and "://" in str(url):
        return StoreAccessError(
            f"cannot access {url}: its filesystem does not take an option of storage_options "
            f"({exc}); check the option's spelling against the filesystem's documentation "
            "(s3fs: key, secret, endpoint_url, anon, client_kwargs ...)")
    libraries = {cls.__module__.split(".")[0] for cls in type(exc).__mro__}
    if not (isinstance(exc, PermissionError | ConnectionError | TimeoutError)
            or libraries & _CLIENT_LIBRARIES):
        return None
    return StoreAccessError(
        f"cannot access {url}: {type(exc).__name__}: {exc}. Check the storage_options: "
        "endpoint_url (the object store's address), the credentials (key and secret, or "
        "the AWS_*/cloud environment variables or profile; anon=True for a public bucket) "
        "and the bucket's name"
    )


@contextmanager
def store_access(url: str | os.PathLike) -> Iterator[None]:
    """Errors about reaching the store at ``url`` raised in the block become xgeo's
    (see :func:`access_error`); nothing changes for a local path.

    Raises
    ------
    StoreNotFoundError
        No store at the URL, or no such bucket (a ``FileNotFoundError``).
    StoreAccessError
        The endpoint cannot be reached, or the credentials are missing or refused.

    Examples
    --------
    >>> try:
    ...     with store_access("s3://nobucket/cube.zarr"):
    ...         raise FileNotFoundError("The specified bucket does not exist")
    ... except FileNotFoundError as err:
    ...     print(type(err).__name__)
    StoreNotFoundError
    """
    if not is_url(str(url)):
        yield
        return
    try:
        yield
    except Exception as exc:
        err = access_error(exc, url)
        if err is None:
            raise
        raise err from exc
