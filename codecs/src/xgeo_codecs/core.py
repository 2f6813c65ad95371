"""The pure core: ``encode(ndarray, params) -> bytes`` and ``decode(bytes) -> ndarray``.

A short facade over the layers below (each imports only those under it):

* :mod:`xgeo_codecs._container` - magic, format version, header length, sections, CRC-32,
  and the one table of which feature needs which format version;
* :mod:`xgeo_codecs.header` - the JSON header parsed and validated per format version;
* :mod:`xgeo_codecs._values` - chunk <-> (T, P, H, W) cube <-> integer codes;
* :mod:`xgeo_codecs._residual` - the residual section that bounds ``max_error``;
* :mod:`xgeo_codecs._encoder` / :mod:`xgeo_codecs._decoder` - the plain encoder and the
  decoder of every format version;
* :mod:`xgeo_codecs.quality` - the ``psnr=`` / ``bpppb=`` / ``max_error=`` searches on top;
* :mod:`xgeo_codecs.autotools` - ``"auto"`` coding tools measured per chunk, before either.

The container format, byte by byte for each version, is in ``codecs/SPEC.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import autotools, header
from ._container import header_deflated
from ._decoder import DECODER_ENV, decode_chunk
from ._encoder import encode_plain, repack
from .params import VideoParams, coerce
from .quality import annotate, encode_quality

__all__ = ["DECODER_ENV", "chunk_info", "decode", "encode"]


def encode(arr: np.ndarray, params: VideoParams | dict[str, Any] | None = None) -> bytes:
    """Encode one chunk to a self-describing byte string.

    Parameters
    ----------
    arr
        Any-dimensional array; the last two axes are (y, x), ``params.frame_axis`` is time,
        all other axes are separate planes.
    params
        :class:`VideoParams` or its config dict. Default: lossy HEVC 12 bit, CRF 6 (about 1
        bit per value on Sentinel-2), KLT and frame order chosen per chunk by measurement
        (:mod:`xgeo_codecs.autotools`, recorded as ``tools`` in the header, format 6). ``psnr=``, ``max_error=``, ``bpppb=`` or
        ``stats=True`` write format 2 (see :mod:`xgeo_codecs.quality`).

    Returns
    -------
    bytes
        The chunk container (``codecs/SPEC.md``).

    Raises
    ------
    CodecError
        The dtype, shape or parameters cannot be coded as asked (the message says why).

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo_codecs import encode, decode
    >>> a = np.arange(2 * 3 * 5, dtype="uint16").reshape(2, 3, 5)
    >>> bool((decode(encode(a, {"lossless": True})) == a).all())
    True
    """
    p = coerce(params)
    p.check_writable()  # a config of a newer xgeo-codecs reads, but does not write
    a = np.asarray(arr)
    p, tools, start = autotools.choose(a, p)  # "auto" coding tools, measured on a sample
    if a.size == 0 or p.psnr is None and p.max_error is None and p.bpppb is None \
            and not p.stats:
        blob = encode_plain(a, p)  # (an empty chunk is exact: no target or statistic to meet)
    else:
        blob = encode_quality(a, p, start)
    if tools is not None:
        blob = annotate(blob, {"tools": tools}, max(a.size, 1))
    if a.ndim > 1 and a.size > 1 and a.flags.f_contiguous and not a.flags.c_contiguous:
        # numcodecs and Zarr format 2 read a chunk's bytes in its array's memory order
        # (order="F"): the decoder must hand back the memory order it was given (format 5)
        blob = repack(blob, {"order": "F"})
    return blob


def decode(buf: bytes | bytearray | memoryview, *, decoder: str | None = None,
           max_bytes: int | None = None, frames: Any = None) -> np.ndarray:
    """Decode a chunk produced by :func:`encode`, or some of its frames.

    Parameters
    ----------
    buf
        The chunk's bytes.
    frames
        ``None`` (all), or the frames wanted along the chunk's frame axis: an integer, a
        slice, a sequence of integers or a boolean mask; the frame axis keeps its place with
        one entry per selected frame, in the order asked. Only what they need is decoded:
        the groups of frames holding them (``keyint=`` chunks, format 7) and, within a group,
        the frames up to the last one wanted (the rest of the stream is never decoded), so
        older chunks read faster too. Chunks with a ``max_error=`` residual decode whole.
    decoder
        ``"software"``, or ``"auto"`` to decode the streams NVDEC can take (4:4:4 plane
        groups and 4:2:0 grey planes, frames of at least 144x144) on the GPU when one works
        here, the rest in software; the output is identical either way. ``None`` reads the
        environment variable ``XGEO_CODECS_DECODER`` (a property of the machine reading the
        data, not of the data), else software.
    max_bytes
        Refuse a chunk whose header announces a decoded array of more bytes; ``None`` reads
        ``XGEO_CODECS_MAX_BYTES``, else 2 GiB. Decoding needs at most about the output plus
        8 bytes per value (3x the output for float32, 9x for uint8) plus a few frames,
        whatever the chunk holds.

    Returns
    -------
    numpy.ndarray
        The chunk, in the shape and dtype it was encoded with.

    Raises
    ------
    CodecError
        For any input that is not an intact chunk (never a crash or a wrong shape).

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo_codecs import encode, decode
    >>> a = np.full((3, 4, 4), np.nan, "float32")
    >>> decode(encode(a)).shape
    (3, 4, 4)
    >>> b = np.arange(6 * 8 * 8, dtype="uint16").reshape(6, 8, 8)
    >>> blob = encode(b, {"lossless": True, "keyint": 2})
    >>> bool((decode(blob, frames=[4, 1]) == b[[4, 1]]).all())
    True
    """
    return decode_chunk(buf, decoder=decoder, max_bytes=max_bytes, frames=frames)


def chunk_info(buf: bytes) -> dict[str, Any]:
    """Header of an encoded chunk plus its byte breakdown (header/mask/stream bytes).

    Parameters
    ----------
    buf
        The chunk's bytes.

    Returns
    -------
    dict
        The validated header, ``format_version``, ``header_deflated`` (format 8: the header
        is stored deflated, which alone makes a chunk format 8), and ``total_bytes``,
        ``header_bytes`` (prefix, stored header and checksum),
        ``mask_bytes``, ``stream_bytes`` (residual included, also as ``residual_bytes``),
        and ``coding_tools``: the tools used (``"plain"``, ``"klt"``, ``"reorder"``,
        ``"klt+reorder"``) with, for chunks whose tools were measured (format 6), what
        each tried tool measured (:func:`xgeo_codecs.autotools.describe`).

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo_codecs import encode, chunk_info
    >>> info = chunk_info(encode(np.zeros((2, 4, 4), "uint8"), {"lossless": True}))
    >>> info["dtype"], info["stream_bytes"]
    ('|u1', 0)
    """
    buf = bytes(buf)
    meta, _ = header.parse(buf)
    mask_bytes = sum(int(m[0]) for m in meta.get("masks", []))
    stream_bytes = sum(int(pl[0]) for pl in meta.get("planes", []))
    if meta.get("residual"):
        meta["residual_bytes"] = int(meta["residual"][0])
        stream_bytes += meta["residual_bytes"]
    meta.update({"total_bytes": len(buf), "mask_bytes": mask_bytes, "stream_bytes": stream_bytes,
                 "header_bytes": len(buf) - mask_bytes - stream_bytes,
                 "header_deflated": header_deflated(buf)})
    if "planes" in meta:
        meta["coding_tools"] = autotools.describe(meta) or autotools.used(meta)
    return meta
