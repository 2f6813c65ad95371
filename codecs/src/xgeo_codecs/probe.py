"""Find a working hardware encoder/decoder once per process by actually opening one.

libav lists NVENC/QSV encoders even where no GPU exists; they only fail at
``avcodec_open2`` (``PermissionError``, ``UnknownError``, ...). So we open a tiny
encode and catch broadly. Answers are cached per process (a forked child inherits the
cache, which stays true: same machine) behind a lock that is re-created after ``fork``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from fractions import Fraction

import av
import numpy as np

from . import _stream, encoder_options

HARDWARE_ENCODERS = encoder_options.HARDWARE_ENCODERS
SOFTWARE_ENCODERS = encoder_options.SOFTWARE_ENCODERS
# NVDEC decodes the codec's 4:4:4 and 4:2:0 HEVC streams exactly; its AV1 path refuses the
# 4:2:0 10-bit layout SVT-AV1 gets (measured on an H100 with libavcodec 62)
HARDWARE_DECODERS = {"hevc": ("hevc_cuvid",)}

_lock = threading.Lock()
_cache: dict[str, object] = {}


def _reset_lock_after_fork() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_after_fork)


def _can_encode(name: str) -> bool:
    """True if ``name`` opens and encodes a few 256x256 frames on this machine."""
    with _quiet():
        return _try_encode(name)


@contextlib.contextmanager
def _quiet():
    """Silence libav while probing (absent drivers are expected, not errors); restored after."""
    with _stream.quiet_libav():
        av.logging.set_level(None)
        try:
            yield
        finally:  # a fixed level, not a saved one: threads cannot leave it off
            av.logging.set_level(_stream.LOG_LEVEL)


def _try_encode(name: str) -> bool:
    try:
        ctx = av.CodecContext.create(name, "w")
        ctx.width = ctx.height = 256
        fmts = [f.name for f in (ctx.codec.video_formats or [])]
        ctx.pix_fmt = "nv12" if "nv12" in fmts else fmts[0]
        ctx.time_base = Fraction(1, 25)
        ctx.framerate = Fraction(25, 1)
        got = 0
        for i in range(3):
            # made in the encoder's format (no reformat: PyAV >= 18.1.1 would keep a threaded
            # swscale context on this thread, see xgeo_codecs.forksafe)
            fr = av.VideoFrame(256, 256, ctx.pix_fmt)
            for plane in fr.planes:
                plane.update(bytes(plane.buffer_size))
            fr.pts = i
            got += sum(1 for _ in ctx.encode(fr))
        got += sum(1 for _ in ctx.encode(None))
        return got > 0
    except Exception:  # noqa: BLE001 - any failure means "not usable here"
        return False


def _can_decode(name: str, family: str) -> bool:
    """True if hardware decoder ``name`` decodes a tiny software-encoded stream exactly."""
    with _quiet():
        return _try_decode(name, family)


def _try_decode(name: str, family: str) -> bool:
    try:
        # the layout the codec hands to NVDEC: 12-bit 4:4:4 (it has no monochrome HEVC and
        # refuses frames under 144x144, measured on an H100), decoded exactly or not at all
        n = 2 * _stream.HARDWARE_MIN_SIZE
        enc = SOFTWARE_ENCODERS[family]
        codes = (np.arange(3 * 2 * n * n) % 4001).reshape(3, 2, n, n).astype(np.uint16)
        blob = _stream.encode_stream(codes, enc, 12, {"x265-params": "lossless=1:log-level=none"})
        out = _stream.decode_stream(blob, family, 12, 2, n, n, decoder=name, planes=3, reuse=False)
        return bool(np.array_equal(out, codes))
    except Exception:  # noqa: BLE001
        return False


def hardware_encoder(family: str) -> str | None:
    """The first hardware encoder for ``family`` that works here, or None (cached per process).

    Examples
    --------
    >>> hardware_encoder("hevc") in (None, "hevc_nvenc", "hevc_qsv", "hevc_vaapi")
    True
    """
    key = "enc:" + family
    with _lock:
        if key not in _cache:
            _cache[key] = next((n for n in HARDWARE_ENCODERS.get(family, ())
                                if _can_encode(n)), None)
        return _cache[key]  # type: ignore[return-value]


def hardware_decoder(family: str) -> str | None:
    """The first hardware decoder for ``family`` that works here, or None (cached per process)."""
    key = "dec:" + family
    with _lock:
        if key not in _cache:
            _cache[key] = next((n for n in HARDWARE_DECODERS.get(family, ())
                                if _can_decode(n, family)), None)
        return _cache[key]  # type: ignore[return-value]


def resolve_encoder(family: str, encoder: str) -> str:
    """Turn ``encoder="auto"`` into a concrete libav encoder name for ``family``."""
    if encoder != "auto":
        return encoder
    return hardware_encoder(family) or SOFTWARE_ENCODERS[family]


def probe_report() -> dict[str, object]:
    """What this process found: hardware encoders/decoders per family (runs the probes)."""
    return {
        "encoders": {f: hardware_encoder(f) or SOFTWARE_ENCODERS[f] for f in SOFTWARE_ENCODERS},
        "hardware_decoders": {f: hardware_decoder(f) for f in HARDWARE_DECODERS},
    }


def clear_cache() -> None:
    """Forget probe answers (tests; or after hot-plugging a GPU)."""
    with _lock:
        _cache.clear()
