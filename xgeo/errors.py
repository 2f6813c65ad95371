"""Typed exceptions raised by xgeo.

Every error says what was wrong and, where there is one, what to do about it.
All derive from :class:`XgeoError`, and most also from the builtin a caller
would naturally catch (``ValueError``, ``KeyError``, ...), so existing
``except ValueError`` code keeps working.
"""

from __future__ import annotations


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


class BandMappingError(XgeoError, ValueError):
    """Band names cannot be mapped to catalog symbols unambiguously."""


class ReprojectionError(XgeoError, ValueError):
    """A reprojection request cannot be satisfied (empty intersection, bad resolution...)."""


class ChipError(XgeoError, ValueError):
    """A chip request cannot be satisfied (chip larger than array, empty ROI...)."""


class ChannelError(ChipError, BandMappingError):
    """The variables or bands asked for do not make one channel axis unambiguously (the
    message names the argument to use)."""


class ClipError(XgeoError, ValueError):
    """A clip request cannot be satisfied: the geometry cannot be read, or a fill value does not fit."""


class NoDataInBoundsError(ClipError):
    """The clip geometry selects no pixel of the data (rioxarray's ``NoDataInBounds``)."""


class CodecError(XgeoError, ValueError):
    """A compressed chunk is corrupt or an encoding request is invalid.

    ``xgeo_codecs`` defines its own ``CodecError`` (it never imports xgeo);
    xgeo re-raises or wraps it as this type where it crosses into xgeo.
    """


class FormulaError(XgeoError, ValueError):
    """A spectral-index formula cannot be parsed or uses something outside the whitelist."""


class KernelCacheWarning(UserWarning):
    """The on-disk cache of compiled index kernels is off: its directory is unsafe or unwritable.

    A warning, not an error: kernels are then compiled in memory, once per process.
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


class CategoricalError(XgeoError, ValueError):
    """A ``categorical=`` override names an unknown variable or is of the wrong type."""


class MissingDependencyError(XgeoError, ImportError):
    """An optional package a feature needs is not installed; the message gives the pip command.

    Raised instead of a bare ``ModuleNotFoundError`` (see :mod:`xgeo.optional`); an
    ``ImportError``, so ``except ImportError`` code keeps working.
    """


class PreviewError(XgeoError, ValueError):
    """A preview video cannot be made from this data (no time dim, no bands to show...)."""
