"""Validity mask: stored losslessly and compactly, and fill of masked pixels before encoding."""

from __future__ import annotations

import zlib

import numpy as np

from .errors import CodecError


def pack_mask(invalid: np.ndarray) -> bytes:
    """Bit-pack a boolean mask (True = invalid) and deflate it."""
    return zlib.compress(np.packbits(invalid.ravel()).tobytes(), 9)


def unpack_mask(blob: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`pack_mask`."""
    n = int(np.prod(shape))
    try:
        raw = zlib.decompress(blob)
    except zlib.error as err:
        raise CodecError(f"mask section is not valid zlib data ({err}); the chunk is corrupt") from None
    if len(raw) != (n + 7) // 8:
        raise CodecError("mask section has the wrong size; the chunk is corrupt")
    return np.unpackbits(np.frombuffer(raw, np.uint8), count=n).astype(bool).reshape(shape)


def fill_invalid(plane: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    """Return ``plane`` (T, H, W float64) with invalid pixels replaced by cheap-to-code values.

    A masked pixel takes the mean of the same pixel's valid values over the frames of the
    chunk (clouds move, ground stays); pixels never valid take their frame's valid mean, and
    frames with nothing valid take the chunk's valid mean. Filling with 0 next to bright
    pixels would cost many bits at every edge.
    """
    if not invalid.any():
        return plane
    out = plane.copy()
    valid = ~invalid
    zeroed = np.where(valid, plane, 0.0)
    cnt = valid.sum(axis=0)
    tmean = zeroed.sum(axis=0) / np.maximum(cnt, 1)
    fill = np.broadcast_to(tmean, plane.shape)
    out[invalid] = fill[invalid]
    never = cnt == 0
    if never.any():
        fcnt = valid.sum(axis=(1, 2))
        total = fcnt.sum()
        gmean = zeroed.sum() / total if total else 0.0
        fmean = np.where(fcnt > 0, zeroed.sum(axis=(1, 2)) / np.maximum(fcnt, 1), gmean)
        sel = np.broadcast_to(never, plane.shape)
        out[sel] = np.broadcast_to(fmean[:, None, None], plane.shape)[sel]
    return out
