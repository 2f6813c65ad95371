"""The default chunk shape of a video-coded variable: frames along time, bands, a tile.

A chunk of the video codec is one group of pictures: its dates are the frames, its bands the
planes coded together (the KLT may rotate them), its pixels one spatial tile. How many dates
a chunk holds trades bytes against random access: every chunk (every ``keyint`` group) starts
with an intra-coded frame, and a read of one date decodes its chunk. The bound here is in
decoded pixels per band (:data:`CHUNK_PIXELS`, 32 frames of a full 256 x 256 tile), so the
number of dates follows the frame size of the input in hand (:func:`frames_for_tile`), and
the dates are spread evenly over the series (:func:`frames_per_chunk`).

Examples
--------
>>> import numpy as np, xarray as xr
>>> var = xr.DataArray(np.zeros((140, 4, 100, 100), "uint16"), dims=("time", "band", "y", "x"))
>>> chunk_shape(var, ("y", "x"), "time", per_band=16)  # small frames: the series in one chunk
{'time': 140, 'band': 4, 'y': 100, 'x': 100}
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import xarray as xr

from .errors import CodecError

__all__ = ["CHUNK_PIXELS", "DEFAULT_GOP", "DEFAULT_TILE", "FRAME_DIM_NAMES", "MIN_CODED_SIDE", "check_chunk_size",
           "chunk_shape", "frame_dim_of", "frames_for_tile", "frames_per_chunk"]

DEFAULT_GOP = 32  # frames per chunk of full tiles: long enough for inter prediction to pay
DEFAULT_TILE = 256  # spatial chunk edge
#: Decoded pixels per band a default chunk holds at most: ``DEFAULT_GOP`` frames of a full
#: tile. Reading one date of a chunk decodes the chunk, so this bounds that work (and the
#: encoder's memory) whatever the frame size; small frames get longer chunks (see
#: :func:`frames_for_tile`).
CHUNK_PIXELS = DEFAULT_GOP * DEFAULT_TILE * DEFAULT_TILE
#: x265 codes no frame smaller than this on a side (smaller frames are padded to it), so a
#: small frame costs the decoder this many pixels at least.
MIN_CODED_SIDE = 64
FRAME_DIM_NAMES = ("time", "t", "date", "frame")


def frame_dim_of(var: xr.DataArray, spatial: tuple[Hashable, Hashable],
                 frame_dim: Hashable | None = None) -> Hashable | None:
    """The dim coded as video frames: ``frame_dim`` if ``var`` has it, else ``time`` (or
    ``t``, ``date``, ``frame``), else the first non-spatial dim; None for a 2-D variable.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> frame_dim_of(xr.DataArray(np.zeros((2, 3, 4, 4)), dims=("band", "date", "y", "x")),
    ...              ("y", "x"))
    'date'
    """
    others = [d for d in var.dims if d not in spatial]
    if frame_dim is not None:
        return frame_dim if frame_dim in others else None
    for d in others:
        if str(d).lower() in FRAME_DIM_NAMES:
            return d
    return others[0] if others else None


def frames_for_tile(height: int, width: int) -> int:
    """The most frames a default chunk of ``height x width`` frames holds: as many as fit
    :data:`CHUNK_PIXELS` decoded pixels per band (frames padded to :data:`MIN_CODED_SIDE`).

    A full 256 x 256 tile gets :data:`DEFAULT_GOP` frames; a small frame gets more, because
    every chunk starts with an intra-coded frame and on small frames that key frame is a
    large share of the chunk's bytes. Measured (``bpppb=`` targets, default coding): the
    68-date eo-learn NDVI series (101 x 100) in one chunk instead of 3 x 23 frames is +0.7
    to +1.1 dB at equal rate; the 140-date nrt cube (4 bands, 100 x 100) in one chunk
    instead of 5 x 28 frames -0.0 to +0.2 dB. The cost is random access: a read of one date
    decodes its chunk (at most the pixels of one 32-frame full tile), unless the chunk is
    coded with ``keyint=``.

    Examples
    --------
    >>> frames_for_tile(256, 256), frames_for_tile(101, 100), frames_for_tile(20, 30)
    (32, 207, 512)
    """
    coded = max(int(height), MIN_CODED_SIDE) * max(int(width), MIN_CODED_SIDE)
    return max(DEFAULT_GOP, CHUNK_PIXELS // coded)


def frames_per_chunk(n_frames: int, gop: int = DEFAULT_GOP) -> int:
    """Frames per chunk: at most ``gop``, spread evenly so no chunk is a short tail.

    68 dates with ``gop=32`` give 3 chunks of 23 rather than 32 + 32 + 4: a 4-frame tail
    has too few frames for inter prediction to pay (measured on the 68-date NDVI series:
    +0.1 to +0.25 dB at equal rate).

    Examples
    --------
    >>> frames_per_chunk(68), frames_per_chunk(140), frames_per_chunk(5)
    (23, 28, 5)
    """
    if n_frames <= 0:
        return 1
    n_chunks = -(-n_frames // max(1, gop))
    return -(-n_frames // n_chunks)


def chunk_shape(var: xr.DataArray, spatial: tuple[Hashable, Hashable],
                frame_dim: Hashable | None, *, per_band: int, tile: int = DEFAULT_TILE,
                gop: int | None = None, chunks: Mapping[Hashable, int] | None = None
                ) -> dict[Hashable, int]:
    """``{dim: length}`` of one chunk of ``var``, in its dim order.

    ``tile`` x ``tile`` pixels, ``per_band`` along dims that are neither spatial nor
    ``frame_dim``, and along ``frame_dim`` at most ``gop`` frames (default: by the frame
    size of the chunk, :func:`frames_for_tile`) spread evenly; ``chunks`` overrides any dim.
    Lengths are clipped to the variable's sizes.
    """
    sizes = dict(var.sizes)
    want: dict[Hashable, int] = {}
    for d in var.dims:
        if d in spatial:
            want[d] = min(tile, sizes[d])
        elif d != frame_dim:
            want[d] = max(1, min(per_band, sizes[d]))
    given = dict(chunks or {})
    for d, n in given.items():
        if d in sizes:
            want[d] = max(1, min(int(n), sizes[d]))
    if frame_dim is not None and frame_dim not in given:  # by the frame size actually chunked
        limit = gop if gop is not None else frames_for_tile(want[spatial[0]], want[spatial[1]])
        want[frame_dim] = frames_per_chunk(sizes[frame_dim], limit)
    return {d: want[d] for d in var.dims}


def check_chunk_size(value: Any, arg: str) -> None:
    """Raise :class:`~xgeo.errors.CodecError` unless ``value`` is a positive int: a chunk
    length of 0 or less would divide by zero deep in Zarr."""
    try:
        ok = not isinstance(value, bool) and int(value) == value and int(value) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise CodecError(f"{arg}={value!r}: chunk sizes must be positive integers "
                         "(e.g. time=32, y=256, x=256)")
