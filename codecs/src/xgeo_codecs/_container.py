"""The chunk container's frame: magic, format version, header length, sections, CRC-32.

Layout (little endian; ``codecs/SPEC.md`` has it byte by byte)::

    b"XGVC" | u8 version | u8 flags (0) | u16 header_len | header (UTF-8 JSON)
    | sections ... | u32 crc32 of every preceding byte

This module knows bytes, not meanings: :mod:`xgeo_codecs.header` validates the JSON header
against its version's schema, and :data:`FEATURES` is the one table of which header feature
needs which format version, for the writer (:func:`version_for`) and the reader
(:func:`keys_of_version`) alike.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import CodecError

MAGIC = b"XGVC"
FORMAT_VERSION = 7  # newest version this package reads and writes
PREFIX = struct.Struct("<4sBBH")  # magic, version, flags, header length
CRC = struct.Struct("<I")  # zlib.crc32 (ISO-HDLC, polynomial 0x04C11DB7 reflected)
MAX_HEADER_BYTES = 0xFFFF

# feature -> the first format version that holds it. A header key is named as itself; a
# feature carried by a value is named "key:value". A writer stamps the highest version any
# feature of the chunk needs (1 when none), so a chunk stays readable by every reader that
# can decode it; a reader refuses a key its chunk's version does not have (and a version it
# does not know). Format 1 is shape, dtype and the plain streams (masks, planes, chroma).
FEATURES: dict[str, int] = {
    "quality": 2,  # achieved quality record (psnr, max_error, bpppb, crf/qp, encodes)
    "residual": 2,  # zlib-coded integer residual section after the plane streams
    "residual:lzma": 3,  # the residual coded as a raw LZMA2 stream ("z": "lzma")
    "groups": 3,  # three planes coded as one 4:4:4 stream
    "klt": 3,  # planes rotated onto a stored basis (band decorrelation)
    "frame_order": 4,  # frames coded in a stored order
    "order": 5,  # the chunk was given (and decodes) in Fortran memory order
    "tools": 6,  # informative: how the "auto" coding tools were chosen (xgeo_codecs.autotools)
    "keyint": 7,  # frames coded as independently decodable groups, their byte lengths per plane
}


def features(meta: Mapping[str, Any]) -> set[str]:
    """The :data:`FEATURES` a header uses.

    Examples
    --------
    >>> sorted(features({"shape": [2], "quality": {}, "residual": [9, {"z": "lzma"}]}))
    ['quality', 'residual', 'residual:lzma']
    """
    out = {k for k in meta if k in FEATURES}
    res = meta.get("residual")
    if (isinstance(res, (list, tuple)) and len(res) == 2 and isinstance(res[1], Mapping)
            and res[1].get("z") == "lzma"):
        out.add("residual:lzma")
    return out


def version_for(meta: Mapping[str, Any]) -> int:
    """The format version a writer stamps on a chunk with header ``meta``.

    Examples
    --------
    >>> version_for({"shape": [4, 4]}), version_for({"klt": {}, "frame_order": [1, 0]})
    (1, 4)
    """
    return max([1] + [FEATURES[f] for f in features(meta)])


def keys_of_version(version: int) -> set[str]:
    """Header keys (beyond format 1's) a chunk of format ``version`` may hold.

    Examples
    --------
    >>> sorted(keys_of_version(3))
    ['groups', 'klt', 'quality', 'residual']
    """
    return {f for f, v in FEATURES.items() if v <= version and ":" not in f}


def pack(meta: Mapping[str, Any], sections: Iterable[bytes], version: int | None = None
         ) -> bytes:
    """Frame a header and its sections; ``version`` defaults to :func:`version_for`.

    Examples
    --------
    >>> blob = pack({"shape": [0], "dtype": "|u1"}, [])
    >>> blob[:5], len(blob)
    (b'XGVC\\x01', 39)
    """
    body = json.dumps(meta, separators=(",", ":")).encode()
    if len(body) > MAX_HEADER_BYTES:
        raise CodecError("chunk header too large (too many planes in one chunk); use smaller "
                         "chunks along the non-frame axes (e.g. one band per chunk)")
    if version is None:
        version = version_for(meta)
    out = b"".join([PREFIX.pack(MAGIC, version, 0, len(body)), body, *sections])
    return out + CRC.pack(zlib.crc32(out))


def unframe(buf: bytes) -> tuple[int, bytes, int]:
    """Check size, magic, version and checksum; return (version, header bytes, offset of the
    first section). Nothing of the header is interpreted here."""
    if len(buf) < PREFIX.size + CRC.size:
        raise CodecError(f"{len(buf)} bytes is too short to be an xgeo video chunk")
    magic, version, _flags, n = PREFIX.unpack_from(buf, 0)
    if magic != MAGIC:
        raise CodecError("not an xgeo video chunk (bad magic); was this array written with "
                         "another codec?")
    if version > FORMAT_VERSION:
        raise CodecError(f"chunk uses container format {version}, this xgeo-codecs reads up to "
                         f"{FORMAT_VERSION}; upgrade xgeo-codecs")
    if version < 1:
        raise CodecError(f"invalid container format version {version}; the chunk is corrupt")
    (crc,) = CRC.unpack_from(buf, len(buf) - CRC.size)
    if zlib.crc32(memoryview(buf)[: len(buf) - CRC.size]) != crc:
        raise CodecError("checksum mismatch: the chunk is truncated or corrupt")
    end = PREFIX.size + n
    if end > len(buf) - CRC.size:
        raise CodecError("header longer than the chunk; the chunk is corrupt")
    return version, bytes(buf[PREFIX.size:end]), end
