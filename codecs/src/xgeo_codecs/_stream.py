"""Encode/decode one plane (a stack of frames of integer codes) with libav through PyAV.

A plane is ``(T, H, W)`` unsigned integer codes already mapped to the encoder's bit depth;
x265 can also take three planes at once, ``(3, T, H, W)``, as one 4:4:4 stream (GBR), so
the three share motion vectors and block partitions.
The bitstream is stored raw: a tiny packet table (packet sizes as LEB128 varints) and the
codec's extradata, then the packets — no Matroska/MP4 container. Each call builds its own
PyAV codec context, so nothing is shared between threads or across ``fork``.

Importing this module changes no global state: libav's log level and ``$SVT_LOG`` are set
only while a stream is encoded or decoded (:func:`quiet_libav`) and restored afterwards.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from . import forksafe  # noqa: F401 - its fork hooks keep forked children from hanging
from .errors import CodecError

# libav prints encoder banners and warnings on stderr: errors only while the codec runs
LOG_LEVEL = av.logging.ERROR
# SVT-AV1 prints a banner straight to stderr unless told otherwise (1 = errors only)
SVT_LOG = "SVT_LOG"

_scope_lock = threading.Lock()
_scope_depth = 0  # quiet_libav scopes open in this process (all threads)
_scope_saved: tuple[int | None, str | None] = (None, None)


def _reset_scope_lock_after_fork() -> None:
    global _scope_lock
    _scope_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_scope_lock_after_fork)


@contextlib.contextmanager
def quiet_libav() -> Iterator[None]:
    """libav at :data:`LOG_LEVEL` and ``$SVT_LOG=1`` (unless set) for the duration.

    Both are process-wide, so concurrent scopes (threads encoding chunks) share one: the
    first to open saves the caller's settings, the last to close restores them.

    Examples
    --------
    >>> import av
    >>> before = av.logging.get_level()
    >>> with quiet_libav():
    ...     av.logging.get_level() == LOG_LEVEL
    True
    >>> av.logging.get_level() == before
    True
    """
    global _scope_depth, _scope_saved
    with _scope_lock:
        if _scope_depth == 0:
            _scope_saved = (av.logging.get_level(), os.environ.get(SVT_LOG))
            av.logging.set_level(LOG_LEVEL)
            if _scope_saved[1] is None:
                os.environ[SVT_LOG] = "1"
        _scope_depth += 1
    try:
        yield
    finally:
        with _scope_lock:
            _scope_depth -= 1
            if _scope_depth == 0:
                level, svt = _scope_saved
                av.logging.set_level(level)
                if svt is None and os.environ.get(SVT_LOG) == "1":
                    del os.environ[SVT_LOG]


@dataclass(frozen=True)
class Layout:
    """How codes are laid into an encoder's frames."""

    pix_fmt: str
    # "gray": one plane; "gbr": three planes, 4:4:4; "yuv420": codes in Y, constant chroma;
    # "p010": codes MSB-aligned in Y
    kind: str
    # frame dimensions must be multiples of this and at least ``min_size``
    align: int
    min_size: int


# family -> decoder name used in software
SOFTWARE_DECODER = {"hevc": "hevc", "ffv1": "ffv1", "av1": "libdav1d", "vp9": "vp9"}

GRAY_FMT = {8: "gray", 9: "gray9le", 10: "gray10le", 12: "gray12le", 14: "gray14le", 16: "gray16le"}
GBR_FMT = {8: "gbrp", 10: "gbrp10le", 12: "gbrp12le"}


YUV420_FMT = {8: "yuv420p", 10: "yuv420p10le", 12: "yuv420p12le"}


def layout_for(encoder: str, bit_depth: int, planes: int = 1, lossless: bool = False) -> Layout:
    """Pixel layout for ``encoder`` at ``bit_depth`` (codes occupy the low ``bit_depth`` bits);
    ``planes=3``: three planes in one 4:4:4 stream (libx265 only)."""
    if planes == 3:
        if encoder != "libx265" or bit_depth not in GBR_FMT:
            raise CodecError(f"{encoder} at {bit_depth} bit has no 4:4:4 layout; use libx265")
        return Layout(GBR_FMT[bit_depth], "gbr", 8, 64)
    if encoder == "ffv1":
        # FFV1 refuses every slice layout for some thin frames (e.g. 300x1): pad to >= 16
        return Layout(GRAY_FMT[bit_depth], "gray", 1, 16)
    if encoder == "libx265":
        # libx265 4.x corrupts its heap on frames smaller than 64x64 (measured: 40x40 at
        # CRF 20 aborts in free()), so never hand it less (see core for the CTU size).
        # Lossy: codes in luma of a 4:2:0 stream with constant chroma, which NVDEC decodes
        # (it has no monochrome HEVC); measured against grey on S2 and NDVI chunks: bytes
        # within +-0.5 %, PSNR within 0.02 dB, software decode as fast, encode ~12 % slower
        if not lossless and bit_depth in YUV420_FMT:
            return Layout(YUV420_FMT[bit_depth], "yuv420", 8, 64)
        return Layout(GRAY_FMT[bit_depth], "gray", 8, 64)
    if encoder == "libsvtav1":
        return Layout("yuv420p" if bit_depth == 8 else "yuv420p10le", "yuv420", 8, 64)
    if encoder == "libvpx-vp9":
        return Layout("yuv420p", "yuv420", 8, 16)
    if encoder in ("hevc_nvenc", "av1_nvenc", "hevc_qsv", "av1_qsv"):
        return Layout("nv12" if bit_depth == 8 else "p010le", "p010", 32, 128)
    raise CodecError(f"encoder {encoder!r} has no pixel layout; use one of libx265, ffv1, "
                     "libsvtav1, libvpx-vp9, hevc_nvenc, av1_nvenc, hevc_qsv")


def padded_size(h: int, w: int, lay: Layout) -> tuple[int, int]:
    """Frame size the encoder gets: at least ``min_size``, a multiple of ``align``."""
    def up(n: int) -> int:
        n = max(n, lay.min_size)
        return -(-n // lay.align) * lay.align
    return up(h), up(w)


def _put_plane(plane: av.video.plane.VideoPlane, img: np.ndarray) -> None:
    """Copy a 2-D image into a frame plane, honouring the plane's row padding (line size)."""
    h, w = img.shape
    item = img.dtype.itemsize
    buf = np.frombuffer(plane, dtype=np.uint8)
    rows = buf[: plane.line_size * h].reshape(h, plane.line_size)
    rows[:, : w * item] = np.ascontiguousarray(img).view(np.uint8).reshape(h, w * item)


def _get_plane(plane: av.video.plane.VideoPlane, h: int, w: int, dtype: np.dtype) -> np.ndarray:
    item = np.dtype(dtype).itemsize
    buf = np.frombuffer(plane, dtype=np.uint8)
    if buf.size < plane.line_size * (h - 1) + w * item:
        raise CodecError("decoded frame is smaller than the header says; the chunk is corrupt")
    rows = buf[: plane.line_size * h].reshape(h, plane.line_size)[:, : w * item]
    return rows.copy().view(dtype).reshape(h, w)


def _make_frame(img: np.ndarray, lay: Layout, bit_depth: int) -> av.VideoFrame:
    h, w = img.shape[-2:]
    frame = av.VideoFrame(w, h, lay.pix_fmt)
    if lay.kind == "gbr":
        for k in range(3):
            _put_plane(frame.planes[k], img[k].astype(np.uint8 if bit_depth == 8 else np.uint16))
    elif lay.kind == "gray":
        _put_plane(frame.planes[0], img.astype(np.uint8 if bit_depth == 8 else np.uint16))
    elif lay.kind == "yuv420":
        dt = np.uint8 if bit_depth == 8 else np.uint16
        _put_plane(frame.planes[0], img.astype(dt))
        mid = np.full(((h + 1) // 2, (w + 1) // 2), 1 << (bit_depth - 1), dtype=dt)
        _put_plane(frame.planes[1], mid)
        _put_plane(frame.planes[2], mid)
    else:  # p010 / nv12: MSB-aligned luma, interleaved constant chroma
        if bit_depth == 8:
            _put_plane(frame.planes[0], img.astype(np.uint8))
            _put_plane(frame.planes[1], np.full((h // 2, w), 128, dtype=np.uint8))
        else:
            y = img.astype(np.uint16) << (16 - bit_depth)
            _put_plane(frame.planes[0], y)
            _put_plane(frame.planes[1], np.full((h // 2, w), 1 << 15, dtype=np.uint16))
    frame.pts = None
    return frame


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= len(buf) or shift > 35:
            raise CodecError("truncated packet table; the chunk is corrupt")
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


def pack_packets(packets: list[bytes], extradata: bytes) -> bytes:
    """Serialise packets + extradata as: n, sizes..., len(extradata), extradata, payloads."""
    head = [_varint(len(packets))] + [_varint(len(p)) for p in packets] + [_varint(len(extradata))]
    return b"".join(head) + extradata + b"".join(packets)


def unpack_packets(buf: bytes) -> tuple[list[bytes], bytes]:
    n, pos = _read_varint(buf, 0)
    if n > 1 << 20:
        raise CodecError("implausible packet count; the chunk is corrupt")
    sizes = []
    for _ in range(n):
        s, pos = _read_varint(buf, pos)
        sizes.append(s)
    ne, pos = _read_varint(buf, pos)
    if pos + ne + sum(sizes) != len(buf):
        raise CodecError("packet table does not match the stream length; the chunk is corrupt")
    extradata = bytes(buf[pos: pos + ne])
    pos += ne
    packets = []
    for s in sizes:
        packets.append(bytes(buf[pos: pos + s]))
        pos += s
    return packets, extradata


# FFV1 accepts only some slice counts for a given frame size (1 is often refused, the
# automatic choice fails on tiny frames); 1 slice codes best (7.86 vs 7.97 bits/value on the
# nrt cube), so try it first, then libav's choice, then the counts FFV1 suggests.
_FFV1_SLICES = ("1", None, "4", "6", "9", "12", "16", "24", "30", "42", "64")


def _open_encoder(encoder: str, w: int, h: int, pix_fmt: str, options: dict[str, str],
                  threads: int) -> av.CodecContext:
    tries = _FFV1_SLICES if encoder == "ffv1" and "slices" not in options else (None,)
    last: Exception | None = None
    for slices in tries:
        ctx = av.CodecContext.create(encoder, "w")
        ctx.width, ctx.height = w, h
        ctx.pix_fmt = pix_fmt
        ctx.time_base = Fraction(1, 25)
        ctx.framerate = Fraction(25, 1)
        ctx.thread_count = threads
        opts = dict(options)
        if slices is not None:
            opts["slices"] = slices
        ctx.options = opts
        retrying = len(tries) > 1
        if retrying:  # refusals are expected here; the last one is reported below
            av.logging.set_level(None)
        try:
            ctx.open()
            return ctx
        except av.FFmpegError as err:
            last = err
        finally:
            if retrying:  # a fixed level, not a saved one: threads cannot leave it off
                av.logging.set_level(LOG_LEVEL)
    raise CodecError(f"encoder {encoder} refused a {w}x{h} {pix_fmt} stream with options "
                     f"{options} ({last}); pick another codec or encoder")


def encode_stream(codes: np.ndarray, encoder: str, bit_depth: int, options: dict[str, str],
                  threads: int = 1, lossless: bool = False) -> bytes:
    """Encode ``(T, H, W)`` codes, or ``(3, T, H, W)`` as one 4:4:4 stream, (already padded to
    the layout) and return the packed stream."""
    with quiet_libav():
        return _encode_stream(codes, encoder, bit_depth, options, threads, lossless)


def _encode_stream(codes: np.ndarray, encoder: str, bit_depth: int, options: dict[str, str],
                   threads: int, lossless: bool) -> bytes:
    lay = layout_for(encoder, bit_depth, 3 if codes.ndim == 4 else 1, lossless)
    t, h, w = codes.shape[-3:]
    ctx = _open_encoder(encoder, w, h, lay.pix_fmt, options, threads)
    frames = [_make_frame(codes[:, i] if codes.ndim == 4 else codes[i], lay, bit_depth)
              for i in range(t)]
    packets: list[bytes] = []
    for i, fr in enumerate(frames):
        fr.pts = i
        packets.extend(bytes(p) for p in ctx.encode(fr))
    packets.extend(bytes(p) for p in ctx.encode(None))
    extradata = bytes(ctx.extradata or b"")
    return pack_packets(packets, extradata)


# NVDEC hands out frames with the codes in the high bits of 16-bit samples
_MSB_FORMATS = ("p010", "p012", "p016", "yuv444p16")
_EIGHT_BIT_FORMATS = ("gray", "yuv420p", "nv12", "yuvj420p", "gbrp", "yuv444p")
# measured on an H100 (libavcodec 62, hevc_cuvid): frames below 144x144 are refused
HARDWARE_MIN_SIZE = 144

_hardware = threading.local()
_forked_away: list[dict] = []  # contexts a forked child inherited; never freed there
# most padding frames fed to push one stream's last frames out (NVDEC lags 3, measured)
_MAX_PADDING = 16


@dataclass
class _OpenDecoder:
    """A decoder context kept open between streams, and the padding frames it still owes."""

    ctx: av.CodecContext
    owed: int = 0  # padding frames fed earlier whose output has not come out yet


def _open_decoder(name: str, cw: int, ch: int, planes: int) -> _OpenDecoder:
    """This thread's open context for decoder ``name`` at ``cw`` x ``ch`` (one per layout too:
    4:4:4 streams of three planes, 4:2:0 streams of one).

    Measured on an H100 with hevc_cuvid: opening costs 0.4-0.5 s (CUDA context and NVDEC
    session), a flush 0.22 s (it rebuilds the decoder), a 12-frame 512x512 stream ~28 ms.
    So contexts stay open per thread and are never drained nor flushed: each stream carries
    its parameter sets in-band, and its last frames are pushed out by padding (see
    :func:`decode_stream`). A forked child never touches (nor frees) its parent's GPU state.
    """
    pid = os.getpid()
    if getattr(_hardware, "pid", None) != pid:
        if getattr(_hardware, "contexts", None):
            _forked_away.append(_hardware.contexts)
        _hardware.pid, _hardware.contexts = pid, {}
    key = (name, cw, ch, planes)
    dec = _hardware.contexts.get(key)
    if dec is None:
        ctx = av.CodecContext.create(name, "r")
        ctx.width, ctx.height = cw, ch
        if name.endswith("_cuvid"):  # no display delay: fewer frames held back (3 vs 4+)
            ctx.flags |= av.codec.context.Flags.low_delay
        dec = _hardware.contexts[key] = _OpenDecoder(ctx)
    return dec


def decode_stream(buf: bytes, family: str, bit_depth: int, t: int, h: int, w: int,
                  decoder: str | None = None, coded: tuple[int, int] | None = None,
                  planes: int = 1, reuse: bool | None = None, first: int | None = None
                  ) -> np.ndarray:
    """Decode a packed stream back to ``(T, h, w)`` uint16/uint8 codes (``(3, T, h, w)`` for a
    4:4:4 stream of three planes).

    ``coded`` is the padded frame size the encoder saw (FFV1 needs it before the first frame).
    ``reuse`` keeps the decoder context open in this thread for the next stream of the same
    size (default: for hardware decoders, whose opening is the expensive part). ``first``:
    only the stream's first frames (in display order) are wanted; software decoding stops
    feeding packets once they are out, so the frames after them (and the ones only they
    reference) are never decoded.
    """
    with quiet_libav():
        return _decode_stream(buf, family, bit_depth, t, h, w, decoder, coded, planes, reuse,
                              t if first is None else min(max(first, 0), t))


def _decode_stream(buf: bytes, family: str, bit_depth: int, t: int, h: int, w: int,
                   decoder: str | None, coded: tuple[int, int] | None, planes: int,
                   reuse: bool | None, first: int) -> np.ndarray:
    packets, extradata = unpack_packets(buf)
    name = decoder or SOFTWARE_DECODER[family]
    ch, cw = coded or (h, w)
    if reuse is None:
        reuse = name != SOFTWARE_DECODER[family]
    dt = np.uint8 if bit_depth == 8 else np.uint16
    out = np.empty((planes, t, h, w), dtype=dt)
    n = 0

    def take(fr: av.VideoFrame) -> None:
        nonlocal n
        fmt = fr.format.name
        if fr.width < w or fr.height < h:
            raise CodecError("decoded frame is smaller than the header says; corrupt chunk")
        ibd = 8 if fmt in _EIGHT_BIT_FORMATS else 16
        if planes > 1 and (not fmt.startswith(("gbrp", "yuv444p")) or len(fr.planes) < planes):
            raise CodecError(f"a {planes}-plane stream decoded to {fmt}; corrupt chunk")
        for k in range(planes):
            img = _get_plane(fr.planes[k], h, w, np.uint8 if ibd == 8 else np.uint16)
            if fmt.startswith(_MSB_FORMATS):
                img >>= 16 - bit_depth
            out[k, n] = img
        n += 1

    if not reuse:
        ctx = av.CodecContext.create(name, "r")
        if extradata:
            ctx.extradata = extradata
        ctx.width, ctx.height = cw, ch
        ctx.thread_count = 1
        for fr in (f for data in [*packets, None]
                   for f in ctx.decode(None if data is None else av.Packet(data))):
            if n >= t:
                raise CodecError("stream holds more frames than the header says; corrupt chunk")
            take(fr)
            if n == first < t:  # the wanted frames are out: decode no further
                return out[:, :first] if planes > 1 else out[0, :first]
    else:
        dec = _open_decoder(name, cw, ch, planes)
        try:
            _decode_without_drain(dec, packets, extradata, t, take)
        except BaseException:  # its state is unknown now: the next stream gets a fresh one
            _hardware.contexts.pop((name, cw, ch, planes), None)
            raise
    if n != t:
        raise CodecError(f"stream decoded to {n} frames, header says {t}; corrupt chunk")
    out = out[:, :first]
    return out if planes > 1 else out[0]


def _decode_without_drain(dec: _OpenDecoder, packets: list[bytes], extradata: bytes, t: int,
                          take) -> None:
    """Decode one stream's ``t`` frames through an open context without ending its input.

    Output comes in order: frames owed from the previous stream's padding, this stream's
    frames, then this stream's padding. A decoder holds a few frames back until more input
    arrives, so after the stream's packets its first (intra, self-contained) packet is fed
    again until all ``t`` frames are out; the copies' frames are dropped here or next time.
    """
    if len(packets) != t:  # x265 writes one packet per frame; padding must not stand in
        raise CodecError(f"stream has {len(packets)} packets for {t} frames; corrupt chunk")
    got = surplus = fed = 0

    def pull(frames) -> None:
        nonlocal got, surplus
        for fr in frames:
            if dec.owed and not got:
                dec.owed -= 1
            elif got < t:
                take(fr)
                got += 1
            else:
                surplus += 1

    head = extradata + packets[0]  # parameter sets in-band: the context predates them
    for data in (head, *packets[1:]):
        pull(dec.ctx.decode(av.Packet(data)))
    while got < t:
        if fed == _MAX_PADDING:
            raise CodecError(f"stream decoded to {got} frames, header says {t}; corrupt chunk")
        pull(dec.ctx.decode(av.Packet(head)))
        fed += 1
    if surplus > fed:
        raise CodecError("stream holds more frames than the header says; corrupt chunk")
    dec.owed = fed - surplus
