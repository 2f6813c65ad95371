"""The chunk container's frame: magic, format version, header length, sections, CRC-32.

Layout (little endian; ``codecs/SPEC.md`` has it byte by byte)::

    b"XGVC" | u8 version | u8 flags | u16 header_len | header (UTF-8 JSON)
    | sections ... | u32 crc32 of every preceding byte

From format 8, flags bit 0 says the header is stored as a raw DEFLATE stream (RFC 1951) of
its JSON: a writer deflates it when that saves at least :data:`DEFLATE_MIN_SAVING` of the
chunk's bytes (small many-band chunks at low rates, where the header's per-plane numbers are
a large part of the chunk), and otherwise writes the JSON as before, so such a chunk keeps
the lowest version its features need and older readers still read it.

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
FORMAT_VERSION = 9  # newest version this package reads and writes
PREFIX = struct.Struct("<4sBBH")  # magic, version, flags, header length
CRC = struct.Struct("<I")  # zlib.crc32 (ISO-HDLC, polynomial 0x04C11DB7 reflected)
MAX_HEADER_BYTES = 0xFFFF
DEFLATED = 0x01  #: flags bit (format 8): the header is a raw DEFLATE stream of its JSON
DEFLATED_VERSION = 8  #: the first format whose flags mean anything
#: a header is deflated when that saves at least this fraction of the whole chunk's bytes:
#: below it the chunk keeps the version its features need (readable by older readers)
DEFLATE_MIN_SAVING = 0.01
#: the most bytes a deflated header may inflate to (a tampered stream is not inflated further)
MAX_INFLATED_BYTES = 16 * MAX_HEADER_BYTES

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
    "masks:ctx": 9,  # a mask section coded by the context model (xgeo_codecs.mask_coder)
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
    masks = meta.get("masks")
    if isinstance(masks, (list, tuple)) and any(
            isinstance(m, (list, tuple)) and len(m) == 3 and m[2] == "ctx" for m in masks):
        out.add("masks:ctx")
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


def pack(meta: Mapping[str, Any], sections: Iterable[bytes], version: int | None = None,
         deflate: bool = True) -> bytes:
    """Frame a header and its sections; ``version`` defaults to :func:`version_for`.
    ``deflate=False``: the header stays JSON unless it cannot fit otherwise (as every chunk
    before format 8).

    Examples
    --------
    >>> blob = pack({"shape": [0], "dtype": "|u1"}, [], deflate=False)
    >>> blob[:5], len(blob)
    (b'XGVC\\x01', 39)
    >>> len(pack({"shape": [0], "dtype": "|u1"}, []))  # the empty chunk's header deflates
    38
    """
    sections = list(sections)
    body = json.dumps(meta, separators=(",", ":")).encode()
    if version is None:
        version = version_for(meta)
    flags = 0
    if deflate or len(body) > MAX_HEADER_BYTES:
        total = PREFIX.size + len(body) + sum(len(s) for s in sections) + CRC.size
        small = _deflate(body)
        if len(body) - len(small) >= DEFLATE_MIN_SAVING * total or len(body) > MAX_HEADER_BYTES:
            body, flags, version = small, DEFLATED, max(version, DEFLATED_VERSION)
    if len(body) > MAX_HEADER_BYTES:
        raise CodecError("chunk header too large (too many planes in one chunk); use smaller "
                         "chunks along the non-frame axes (e.g. one band per chunk)")
    out = b"".join([PREFIX.pack(MAGIC, version, flags, len(body)), body, *sections])
    return out + CRC.pack(zlib.crc32(out))


def _deflate(body: bytes) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    return z.compress(body) + z.flush()


def _inflate(stored: bytes) -> bytes:
    """A deflated header's JSON bytes; a stream that is broken, has bytes after its end, or
    inflates beyond :data:`MAX_INFLATED_BYTES` is refused."""
    z = zlib.decompressobj(-15)
    try:
        text = z.decompress(stored, MAX_INFLATED_BYTES)
    except zlib.error as err:
        raise CodecError(f"deflated header does not inflate ({err}); the chunk is corrupt"
                         ) from None
    if z.unconsumed_tail:
        raise CodecError(f"deflated header inflates beyond {MAX_INFLATED_BYTES} bytes; the "
                         "chunk is corrupt")
    if not z.eof or z.unused_data:
        raise CodecError("deflated header is truncated or has bytes after its end; the chunk "
                         "is corrupt")
    return text


def header_deflated(buf: bytes) -> bool:
    """Whether a framed chunk stores its header deflated (format 8, flags bit 0).

    Examples
    --------
    >>> header_deflated(pack({"shape": [0], "dtype": "|u1"}, [], deflate=False))
    False
    """
    return len(buf) >= PREFIX.size and buf[4] >= DEFLATED_VERSION and bool(buf[5] & DEFLATED)


def unframe(buf: bytes) -> tuple[int, bytes, int]:
    """Check size, magic, version and checksum; return (version, header bytes, offset of the
    first section). Nothing of the header is interpreted here."""
    if len(buf) < PREFIX.size + CRC.size:
        raise CodecError(f"{len(buf)} bytes is too short to be an xgeo video chunk")
    magic, version, flags, n = PREFIX.unpack_from(buf, 0)
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
    text = bytes(buf[PREFIX.size:end])
    if version >= DEFLATED_VERSION:  # before format 8 the flags byte was reserved: ignored
        if flags & ~DEFLATED:
            raise CodecError(f"chunk sets container flags {flags:#04x} that format {version} "
                             "does not define; the chunk is corrupt")
        if flags & DEFLATED:
            text = _inflate(text)
    return version, text, end
