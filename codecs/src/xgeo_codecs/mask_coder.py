"""Context-model arithmetic coding of a validity mask (format 9, mask coder ``"ctx"``).

A cloud, nodata or user mask is blobby: whether a pixel is masked is well predicted by its
already coded neighbours. Each pixel is coded with a binary range coder (LZMA's byte-wise
carry) under a 12-bit context: ten causal neighbours in its own plane, a reference pixel (the
same pixel in the band before, or for a date's first band in the previous date's first band)
and whether the plane is a date's first band. Each context counts the zeros and ones it has
seen (halved when they reach :data:`LIMIT`, so that it adapts). A band whose mask equals the
band before it costs one flag. ``codecs/SPEC.md`` (section 5a) gives it bit by bit.

Measured on real masks against the deflated bit-packed mask of format 1 (section bytes):
nrt SCL clouds (140 dates of 100 x 100, 33 % cloudy) 19 960 -> 7 949, the same mask in four
bands 23 190 -> 7 950; the eo-learn 68-date s2cloudless mask (40 % cloudy) 1 628 -> 621; nrt
SCL water 1 974 -> 873. The writer keeps the deflated section unless this one saves at least
1 % of the chunk (measured per chunk when it is encoded), so no chunk grows.

One kernel (:func:`_code`) codes both ways: numba ``nopython``, cached on disk, compiled on the
first masked chunk (2.6 s; 0.6 s to load from the cache in a new process, most of it
importing numba). :func:`encode_py` / :func:`decode_py` run the same code as plain Python
(the tests' reference, on small masks).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import CodecError

# context bits, most significant first: the neighbours (0,-1) (0,-2) (-1,-1) (-1,0) (-1,1)
# (-1,-2) (-1,2) (-2,0) (-2,-1) (-2,1) as (dy, dx), the reference pixel, "not a first band"
_CONTEXTS = 1 << 12
LIMIT = 4096  # a context's two counts are halved when their sum reaches this (adaptation)
_PAD_Y, _PAD_X = 2, 2  # rows above and columns each side the template reaches


def _compiled() -> Any:
    """The numba-compiled :func:`_code` (numba is imported here: only masked chunks need it)."""
    global _COMPILED
    if _COMPILED is None:
        import numba

        _COMPILED = numba.njit(cache=True, nogil=True)(_code)
    return _COMPILED


_COMPILED: Any = None


def _code(padded: np.ndarray, bands: int, limit: int, stop: int, encoding: bool,
          data: np.ndarray) -> int:  # pragma: no cover - numba
    """The coder, both ways over one scan: ``encoding`` codes ``padded`` (planes, H + 2,
    W + 4 uint8, zero border; plane ``t * bands + b``) into ``data`` and returns the bytes
    written; else it decodes ``data`` into the first ``stop`` planes of ``padded`` (zeros on
    entry) and returns the bytes read, or ``len(data) + 1`` as soon as it needs a byte past
    the end (a truncated or tampered section: a byte holds at most ~22,700 pixels at the
    clamped probabilities, so the work is bounded by the section's size)."""
    hp, wp = padded.shape[1:]
    h, w = hp - 2, wp - 4
    n_planes = min(stop, padded.shape[0])
    n = data.shape[0]
    counts = np.zeros((_CONTEXTS + 1, 2), np.int64)
    low, rng, cache, cache_size, code, pos = 0, 0xFFFFFFFF, 0, 1, 0, 0
    if not encoding:
        for _ in range(5):
            code = ((code << 8) | (int(data[pos]) if pos < n else 0)) & 0xFFFFFFFF
            pos += 1
    copy = False
    # the encoder's round after the last plane flushes it (five shifts of low)
    for k in range(n_planes + (1 if encoding else 0)):
        first = k % bands == 0
        for i in range(-1, h * w):
            y, x = 2 + i // w, 2 + i % w
            shifts, bit, ctx = 0, 0, _CONTEXTS
            if k == n_planes:
                shifts = 5
            elif i < 0:  # bands after the first: "the same mask as the band before"
                copy = False
                if first:
                    continue
                if encoding:
                    bit = 1
                    for yy in range(2, hp):
                        for xx in range(2, wp - 2):
                            if padded[k, yy, xx] != padded[k - 1, yy, xx]:
                                bit = 0
            elif copy:
                if not encoding:
                    padded[k, y, x] = padded[k - 1, y, x]
                continue
            else:
                r0, r1, r2 = padded[k, y], padded[k, y - 1], padded[k, y - 2]
                ref = 0
                if not first:
                    ref = int(padded[k - 1, y, x])
                elif k >= bands:
                    ref = int(padded[k - bands, y, x])
                ctx = ((int(r0[x - 1]) << 11) | (int(r0[x - 2]) << 10)
                       | (int(r1[x - 1]) << 9) | (int(r1[x]) << 8) | (int(r1[x + 1]) << 7)
                       | (int(r1[x - 2]) << 6) | (int(r1[x + 2]) << 5) | (int(r2[x]) << 4)
                       | (int(r2[x - 1]) << 3) | (int(r2[x + 1]) << 2) | (ref << 1)
                       | (0 if first else 1))
                bit = int(r0[x])
            if k < n_planes:
                n0, n1 = counts[ctx, 0], counts[ctx, 1]
                p = min(max(((2 * n0 + 1) << 12) // (2 * (n0 + n1) + 2), 1), 4095)
                bound = (rng >> 12) * p
                if not encoding:
                    bit = 0 if code < bound else 1
                    if bit:
                        code -= bound
                if bit == 0:
                    rng = bound
                else:
                    low += bound
                    rng -= bound
                counts[ctx, bit] += 1
                if n0 + n1 + 1 >= limit:
                    counts[ctx, 0] = (counts[ctx, 0] + 1) >> 1
                    counts[ctx, 1] = (counts[ctx, 1] + 1) >> 1
                while rng < 0x1000000:
                    rng = (rng << 8) & 0xFFFFFFFF
                    shifts += 1
                if i < 0:
                    copy = bit == 1
                elif not encoding:
                    padded[k, y, x] = bit
            for _ in range(shifts):
                if not encoding:  # the decoder takes the next byte
                    if pos >= n:  # past the end: the section is truncated, stop here
                        return pos + 1
                    code = ((code << 8) | int(data[pos])) & 0xFFFFFFFF
                    pos += 1
                    continue
                # the encoder moves low's top byte out, carrying into the cached bytes
                if low < 0xFF000000 or low >= 0x100000000:
                    carry = low >> 32
                    temp = cache
                    while cache_size > 0:
                        data[pos] = (temp + carry) & 0xFF
                        pos += 1
                        temp = 0xFF
                        cache_size -= 1
                    cache = (low >> 24) & 0xFF
                cache_size += 1
                low = (low & 0x00FFFFFF) << 8
            if k == n_planes:
                break
    return pos


def _padded(planes: int, h: int, w: int) -> np.ndarray:
    return np.zeros((planes, h + _PAD_Y, w + 2 * _PAD_X), np.uint8)


def _layout(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(planes, bands, rows, columns) of a mask: the last two axes are rows and columns, a
    4-d mask's second axis its bands (planes ``t * bands + b``)."""
    if len(shape) < 2:
        return 1, 1, 1, int(np.prod(shape, dtype=np.int64))
    bands = int(shape[-3]) if len(shape) >= 4 else 1
    planes = int(np.prod(shape[:-2], dtype=np.int64))
    return planes, max(bands, 1), int(shape[-2]), int(shape[-1])


def _encode_with(kernel: Any, invalid: np.ndarray) -> bytes:
    planes, bands, h, w = _layout(invalid.shape)
    padded = _padded(planes, h, w)
    padded[:, _PAD_Y:, _PAD_X:_PAD_X + w] = invalid.reshape(planes, h, w)
    # a symbol costs at most log2(4096) = 12 bits (probabilities are clamped to 1/4096)
    out = np.empty(planes * (h * w + 1) * 3 // 2 + 16, np.uint8)
    return out[: kernel(padded, bands, LIMIT, planes, True, out)].tobytes()


def _decode_with(kernel: Any, blob: bytes | memoryview, shape: tuple[int, ...],
                 frames: int | None = None) -> np.ndarray:
    planes, bands, h, w = _layout(shape)
    data = np.frombuffer(blob, np.uint8).copy()  # writable: the kernel is typed for both ways
    if data.size < 5:
        raise CodecError("mask section is shorter than its coder's 5-byte start; "
                         "the chunk is corrupt")
    padded = _padded(planes, h, w)
    per_frame = planes // shape[0] if len(shape) >= 3 and shape[0] else planes
    stop = planes if frames is None else min(planes, frames * per_frame)
    used = kernel(padded, bands, LIMIT, stop, False, data)
    if used != data.size and (stop == planes or used > data.size):
        raise CodecError(f"mask section has {data.size} bytes but its coded mask ends at byte "
                         f"{used}; the chunk is corrupt")
    return padded[:, _PAD_Y:, _PAD_X:_PAD_X + w].view(bool).reshape(shape)


def encode(invalid: np.ndarray) -> bytes:
    """Code a boolean mask (True = invalid, any shape, the last two axes rows and columns).

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((4, 32, 32), bool)
    >>> m[:, 8:20, 4:30] = True
    >>> blob = encode(m)
    >>> len(blob) < 40, bool((decode(blob, m.shape) == m).all())
    (True, True)
    """
    return _encode_with(_compiled(), np.asarray(invalid, bool))


def decode(blob: bytes | memoryview, shape: tuple[int, ...], frames: int | None = None
           ) -> np.ndarray:
    """Inverse of :func:`encode`: the mask of ``shape``; a section that does not end exactly
    where its coded mask does raises :class:`~xgeo_codecs.errors.CodecError`. ``frames``:
    decode only the first ``frames`` entries of the first axis (the rest stay unset)."""
    return _decode_with(_compiled(), blob, tuple(shape), frames)


def encode_py(invalid: np.ndarray) -> bytes:
    """:func:`encode` run as plain Python (slow; the tests' reference on small masks)."""
    return _encode_with(_code, np.asarray(invalid, bool))


def decode_py(blob: bytes | memoryview, shape: tuple[int, ...]) -> np.ndarray:
    """:func:`decode` run as plain Python (slow; the tests' reference on small masks)."""
    return _decode_with(_code, blob, tuple(shape))
