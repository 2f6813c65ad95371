"""Typed exceptions raised by xgeo.

Every error says what was wrong and, where there is one, what to do about it.
All derive from :class:`XgeoError`, and most also from the builtin a caller
would naturally catch (``ValueError``, ``KeyError``, ...), so existing
``except ValueError`` code keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from xgeo_codecs.errors import CodecError as _CodecsCodecError

__all__ = [
    "XgeoError", "CRSError", "GridError", "GridMappingConflictError", "DecodeError",
    "OutputExistsError", "MissingVariableError", "OutputFormatError", "GeoTIFFError",
    "MissingBandError", "UnknownIndexError", "IndexNamesError", "IndexArgumentError",
    "BandMappingError", "InputTypeError", "ReprojectionError", "ChipError", "ClipError",
    "NoDataInBoundsError", "CodecError", "FormulaError", "KernelCacheWarning",
    "ChunkCacheWarning",
    "MissingConstantError", "StoreLockedError", "StoreIntegrityError", "IncompleteStoreError",
    "ResumeError", "AppendError", "CategoricalError", "QualityMaskError", "MissingDependencyError", "PreviewError",
    "StoreNotFoundError", "StoreAccessError", "CompareError",
    "LabelError", "LabelWarning", "CompositeError", "DeviceError",
    "CubeMismatchError", "SkippedCubesWarning",
    "chunk_codec_error", "codec_errors_as_xgeo",
    "StackError", "PatternMatchError", "NoOverlapError", "SceneReadError", "StackWarning",
]


class XgeoError(Exception):
    """Base class of every error raised by xgeo."""


class CRSError(XgeoError, ValueError):
    """A CRS is missing, cannot be parsed, or is not the one required."""


class GridError(XgeoError, ValueError):
    """Coordinates or a grid are unusable: irregular, non-monotonic, missing spatial dims."""


class GridMappingConflictError(GridError):
    """A Dataset holds several different grid mappings where one is needed."""


class DecodeError(XgeoError, OSError):
    """A file exists but xarray/netCDF cannot decode it; the message says how to open it."""


class OutputExistsError(XgeoError, FileExistsError):
    """An output path exists and replacing it was not asked for (or is not safe)."""


class MissingVariableError(XgeoError, KeyError):
    """A variable asked for by name (``variable=``, ``--variable``) is not in the Dataset."""

    def __str__(self) -> str:  # KeyError would repr() the message, quoting it
        return str(self.args[0]) if self.args else ""


class OutputFormatError(XgeoError, ValueError):
    """An output path's extension names no format xgeo writes (the message lists them)."""


class GeoTIFFError(XgeoError, ValueError):
    """Data cannot be written as one GeoTIFF as asked (dtypes or nodata differ, no raster)."""


class MissingBandError(XgeoError, KeyError):
    """A band needed by an operation is not present."""

    def __str__(self) -> str:  # KeyError would repr() the message, quoting it
        return str(self.args[0]) if self.args else ""


class UnknownIndexError(XgeoError, KeyError):
    """A spectral index name is not in the catalog."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class IndexNamesError(XgeoError, ValueError):
    """The index names asked for are empty or not strings (``indices([])``)."""


class IndexArgumentError(XgeoError, ValueError):
    """An argument of an index computation is invalid: ``dtype=``, ``scale=``, ``out=``, or
    bands whose shapes differ."""


class InputTypeError(XgeoError, TypeError):
    """An argument is of a type the function does not take; the message names the types it takes.

    A ``TypeError``, so ``except TypeError`` code keeps working.
    """


class BandMappingError(XgeoError, ValueError):
    """Band names cannot be mapped to catalog symbols unambiguously."""


class CompareError(XgeoError, ValueError):
    """Two objects cannot be compared as asked (:func:`xgeo.metrics.compare`): their shapes,
    dims or bands differ, the band dim is not there, a mask does not fit, or ``classify``
    returned labels of the wrong shape."""


class ReprojectionError(XgeoError, ValueError):
    """A reprojection request cannot be satisfied (empty intersection, bad resolution...)."""


class ChipError(XgeoError, ValueError):
    """A chip request cannot be satisfied (chip larger than array, empty ROI...)."""


class ChannelError(ChipError, BandMappingError):
    """The variables or bands asked for do not make one channel axis unambiguously (the
    message names the argument to use)."""


class CubeMismatchError(ChipError):
    """Cubes read as one dataset (:class:`xgeo.torch.CubesDataset`) do not hold the same
    channels: a variable, its dims, its band labels or its dtype differ (the message names
    the cube and the difference)."""


class SkippedCubesWarning(UserWarning):
    """Cubes of a :class:`xgeo.torch.CubesDataset` that hold no chip (smaller than one chip,
    or no chip left after filtering) are left out; the one warning lists them."""


class ClipError(XgeoError, ValueError):
    """A clip request cannot be satisfied: the geometry cannot be read, or a fill value does not fit."""


class NoDataInBoundsError(ClipError):
    """The clip geometry selects no pixel of the data (rioxarray's ``NoDataInBounds``)."""


class CodecError(XgeoError, _CodecsCodecError):
    """A compressed chunk is corrupt or an encoding request is invalid.

    A subclass of :class:`xgeo_codecs.CodecError` (itself a ``ValueError``), so one
    ``except xgeo_codecs.CodecError`` catches every codec failure however the chunk was
    read or written:

    - through xgeo (:func:`xgeo.open_dataset`, :func:`xgeo.to_zarr`, ``ChipDataset``,
      ``compress_dataset``) it is this class, its message naming the store, variable
      and chunk where xgeo knows them;
    - through plain ``xr.open_zarr``/``zarr`` (or a dask worker that never imported
      xgeo) it is :class:`xgeo_codecs.CodecError` itself: ``xgeo_codecs`` never imports
      xgeo, so it cannot raise this subclass.

    ``except xgeo.errors.CodecError`` (or :class:`XgeoError`) catches the errors raised
    through xgeo only.

    Examples
    --------
    >>> import xgeo_codecs
    >>> from xgeo.errors import CodecError, XgeoError
    >>> issubclass(CodecError, xgeo_codecs.CodecError) and issubclass(CodecError, XgeoError)
    True
    """


class FormulaError(XgeoError, ValueError):
    """A spectral-index formula cannot be parsed or uses something outside the whitelist."""


class KernelCacheWarning(UserWarning):
    """The on-disk cache of compiled index kernels is off: its directory is unsafe or unwritable.

    A warning, not an error: kernels are then compiled in memory, once per process.
    """


class ChunkCacheWarning(UserWarning):
    """The on-disk cache of decoded chunks (``ChipDataset(cache_dir=...)``) is not used as asked.

    Its directory is read-only or full, or a cache file is truncated or corrupt. A warning,
    not an error: the chunk is then read from the store (a corrupt file is rebuilt), never
    returned wrong.
    """


class MissingConstantError(XgeoError, ValueError):
    """A spectral index needs a constant that has no catalog default and was not given."""


class StoreLockedError(XgeoError, BlockingIOError):
    """Another live writer holds the lock of the Zarr store being written.

    The message names the store, the holder (host, pid, start time, last heartbeat) and
    the lock file; see :mod:`xgeo.lock` for when a lock counts as stale.
    """


class StoreIntegrityError(XgeoError, OSError):
    """Chunks of a Zarr store are missing or differ from what its writer recorded."""


class IncompleteStoreError(XgeoError, OSError):
    """A Zarr store whose write was interrupted: some chunks were never written, or a
    resume was asked with data other than the interrupted write's.

    Also importable as ``xgeo.store.IncompleteStoreError``.
    """


class StoreNotFoundError(XgeoError, FileNotFoundError):
    """No Zarr store at an object-store URL (``s3://bucket/x.zarr``), or no such bucket.

    A ``FileNotFoundError``, as for a missing local path; the message names the URL and
    what the object store said.
    """


class StoreAccessError(XgeoError, OSError):
    """An object store (an fsspec URL) cannot be reached or refuses access: a wrong
    endpoint, missing or refused credentials. The message names the URL, the cause and the
    ``storage_options`` to check.
    """


class ResumeError(XgeoError, ValueError):
    """``resume=True`` cannot apply to this write (e.g. the data is not dask-backed)."""


class AppendError(XgeoError, ValueError):
    """An append or region write into an existing store cannot be made as asked (e.g. it
    gives an encoding for a variable the store already holds)."""


class CategoricalError(XgeoError, ValueError):
    """A ``categorical=`` override names an unknown variable or is of the wrong type."""


class QualityMaskError(XgeoError, ValueError):
    """A quality band (SCL, QA_PIXEL, Fmask) of the wrong dtype or with values outside its
    product's codes, or an unknown class, flag or level (see :mod:`xgeo.masks`)."""


class MissingDependencyError(XgeoError, ImportError):
    """An optional package a feature needs is not installed; the message gives the pip command.

    Raised instead of a bare ``ModuleNotFoundError`` (see :mod:`xgeo.optional`); an
    ``ImportError``, so ``except ImportError`` code keeps working.
    """


class LabelError(XgeoError, ValueError):
    """Vector labels cannot be rasterized or chipped as asked (:mod:`xgeo.labels`): an empty
    label file, a ``column`` that is not there, classes that do not fit, no geometry on the
    grid. The message names the file or argument."""


class LabelWarning(UserWarning):
    """Some vector labels were left out (:mod:`xgeo.labels`): geometries off the grid, points
    whose chip would leave the cube, features without geometry or class. The message lists
    them; the result records them too."""


class PreviewError(XgeoError, ValueError):
    """A preview video cannot be made from this data (no time dim, no bands to show...)."""


class StackError(XgeoError, ValueError):
    """Scenes cannot be stacked as asked (:func:`xgeo.stack`): no time, unknown band, bad group..."""


class PatternMatchError(StackError):
    """``pattern=`` of :func:`xgeo.stack` matches no file name; the message names the pattern and folder."""


class NoOverlapError(StackError):
    """No scene given to :func:`xgeo.stack` overlaps the output grid."""


class SceneReadError(XgeoError, OSError):
    """A scene file is missing or cannot be read; the message names the file."""


class StackWarning(UserWarning):
    """:func:`xgeo.stack` left something out: files a pattern does not match, scenes off the grid."""


class CompositeError(XgeoError, ValueError):
    """A temporal composite cannot be made as asked (:func:`xgeo.composite.composite`): no
    time dimension, a ``freq=`` pandas does not know, an unknown ``method=``, a ``mask=`` off
    the data's grid; the message names the argument."""


class DeviceError(XgeoError, RuntimeError):
    """A torch device cannot be used as asked (``ChipDataset(device=...)``): no CUDA build of
    torch, no GPU visible, a device index that does not exist, an unsupported device type, or
    a CUDA device inside a DataLoader worker process; the message names what is missing and
    the fix."""


def chunk_codec_error(
    exc: BaseException, *, store: object, variable: str, chunk: object
) -> CodecError:
    """The :class:`CodecError` for a chunk that failed to decode, naming where it lives.

    The one message for every read path of xgeo (Zarr reads through
    :func:`xgeo.open_dataset`, the chip loader's direct chunk reads): store, variable,
    chunk key, the original error, and what to do. Raise it ``from exc``.

    Parameters
    ----------
    exc
        The error the decoder raised.
    store
        The store (its path or URL, or the store object).
    variable
        The array's name inside the store.
    chunk
        The chunk's key (``"c/0/1/0"``) or index tuple.

    Returns
    -------
    CodecError
        To be raised by the caller.

    Examples
    --------
    >>> err = chunk_codec_error(ValueError("CRC mismatch"), store="cube.zarr",
    ...                         variable="B04", chunk=(0, 1, 1))
    >>> print(err)  # doctest: +NORMALIZE_WHITESPACE
    Zarr store cube.zarr, variable 'B04', chunk (0, 1, 1): cannot decode it: ValueError: CRC
    mismatch. The chunk is corrupt: rewrite the store from its source (`xgeo verify STORE`
    lists every missing or changed chunk)
    """
    return CodecError(
        f"Zarr store {store}, variable {variable!r}, chunk {chunk}: cannot decode it: "
        f"{type(exc).__name__}: {exc}. The chunk is corrupt: rewrite the store from its "
        "source (`xgeo verify STORE` lists every missing or changed chunk)"
    )


@contextmanager
def codec_errors_as_xgeo(where: str = "") -> Iterator[None]:
    """Re-raise :class:`xgeo_codecs.CodecError` raised inside the block as :class:`CodecError`.

    An error that already is xgeo's passes unchanged; ``where`` (e.g. ``"variable 'ndvi'"``)
    prefixes the message of the others.

    Parameters
    ----------
    where
        What the block works on, for the message; empty for none.

    Raises
    ------
    CodecError
        In place of the codec package's error, chained to it.

    Examples
    --------
    >>> import xgeo_codecs
    >>> try:
    ...     with codec_errors_as_xgeo("variable 'ndvi'"):
    ...         xgeo_codecs.decode(b"not a chunk")
    ... except CodecError as err:
    ...     print(str(err).split(":")[0])
    variable 'ndvi'
    """
    try:
        yield
    except _CodecsCodecError as exc:
        if isinstance(exc, CodecError):
            raise
        raise CodecError(f"{where}: {exc}" if where else str(exc)) from exc
