"""Video codecs (HEVC, AV1, VP9, FFV1 through PyAV) for datacube chunks.

One pure core (:func:`encode` / :func:`decode`) and two faces over it:
:class:`VideoCodec` (numcodecs) and :class:`VideoSerializer` (Zarr v3 ``serializer=``).
Both are registered under the id ``"xgeo.video"`` by entry points, so any process with
``xgeo-codecs`` installed can read the data without importing xgeo.
"""

from __future__ import annotations

from .core import chunk_info, decode, encode
from .errors import CodecError
from .header import FORMAT_VERSION
from .numcodecs_codec import CODEC_ID, VideoCodec
from .params import VideoParams
from .probe import probe_report
from .zarr_codec import VideoSerializer

inspect = chunk_info  # the issue-6 name: header, byte breakdown and achieved quality

__all__ = [
    "CODEC_ID",
    "FORMAT_VERSION",
    "CodecError",
    "VideoCodec",
    "VideoParams",
    "VideoSerializer",
    "chunk_info",
    "decode",
    "encode",
    "inspect",
    "probe_report",
]
__version__ = "0.1.0"
