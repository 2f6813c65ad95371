"""Video codecs (HEVC, AV1, VP9, FFV1 through PyAV) for datacube chunks.

One pure core (:func:`encode` / :func:`decode`) and two faces over it:
:class:`VideoCodec` (numcodecs) and :class:`VideoSerializer` (Zarr v3 ``serializer=``).
Both are registered under the id :data:`CODEC_ID` by entry points, so
any process with ``xgeo-codecs`` installed can read the data without importing xgeo.

Importing the package (or :mod:`xgeo_codecs.errors`) is light: PyAV, numcodecs and zarr are
imported on first use of a name that needs them (PEP 562), and no global state (environment,
libav's log level) changes at import.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from ._container import FORMAT_VERSION
from .errors import CodecError
from .params import CODEC_ID, CONFIG_VERSION, VideoParams

if TYPE_CHECKING:
    from .core import chunk_info, decode, encode
    from .numcodecs_codec import VideoCodec
    from .probe import probe_report
    from .zarr_codec import VideoSerializer

# name -> module that defines it, imported on first access (they import PyAV, numcodecs, zarr)
_LAZY = {
    "chunk_info": "core",
    "decode": "core",
    "encode": "core",
    "VideoCodec": "numcodecs_codec",
    "VideoSerializer": "zarr_codec",
    "probe_report": "probe",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"inspect"})


def inspect(buf: bytes) -> dict[str, Any]:
    """Deprecated alias of :func:`chunk_info` (it shadowed the standard library's name).

    Examples
    --------
    >>> import warnings, numpy as np
    >>> from xgeo_codecs import encode
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     info = inspect(encode(np.zeros((2, 4, 4), "uint8"), {"lossless": True}))
    >>> info["dtype"], caught[0].category.__name__
    ('|u1', 'DeprecationWarning')
    """
    warnings.warn("xgeo_codecs.inspect is deprecated (it shadows the standard library's "
                  "inspect); use xgeo_codecs.chunk_info", DeprecationWarning, stacklevel=2)
    return __getattr__("chunk_info")(buf)


__all__ = [
    "CODEC_ID",
    "CONFIG_VERSION",
    "FORMAT_VERSION",
    "CodecError",
    "VideoCodec",
    "VideoParams",
    "VideoSerializer",
    "chunk_info",
    "decode",
    "encode",
    "probe_report",
]
__version__ = "0.1.0"
