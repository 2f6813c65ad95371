"""The dask task of a lazy reprojection: assemble one output chunk's source window from
its source blocks, then warp it (as odc-geo's ``_blocks``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba
import numpy as np

from .coords import CoordMap
from .kernels import warp_block

__all__ = ["assemble_window", "warp_chunk", "single_thread"]


@contextmanager
def single_thread() -> Iterator[None]:
    """numba at one thread in this block (its thread count is per calling thread: dask
    already runs chunks in parallel)."""
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def assemble_window(blocks: list[list[np.ndarray]], block_origin: tuple[int, int],
                    window: tuple[int, int, int, int]) -> np.ndarray:
    """The source window ``(row0, row1, col0, col1)`` (global pixels) cut from a grid of
    blocks ``blocks[row][col]`` whose first block starts at global pixel ``block_origin``.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(16).reshape(4, 4)
    >>> blocks = [[a[:2, :2], a[:2, 2:]], [a[2:, :2], a[2:, 2:]]]
    >>> assemble_window(blocks, (0, 0), (1, 3, 1, 4)).tolist()
    [[5, 6, 7], [9, 10, 11]]
    """
    r0, r1, c0, c1 = window
    first = blocks[0][0]
    lead = first.shape[:-2]
    src = np.empty(lead + (r1 - r0, c1 - c0), dtype=first.dtype)
    row = block_origin[0]
    for block_row in blocks:
        col = block_origin[1]
        bh = block_row[0].shape[-2]
        for block in block_row:
            bw = block.shape[-1]
            # Intersection of this block with the window, in global pixels.
            gr0, gr1 = max(row, r0), min(row + bh, r1)
            gc0, gc1 = max(col, c0), min(col + bw, c1)
            if gr0 < gr1 and gc0 < gc1:
                src[..., gr0 - r0:gr1 - r0, gc0 - c0:gc1 - c0] = block[..., gr0 - row:gr1 - row, gc0 - col:gc1 - col]
            col += bw
        row += bh
    return src


def warp_chunk(
    blocks: list, block_origin: tuple[int, int], window: tuple[int, int, int, int],
    cm: CoordMap, plan_args: tuple, out_shape: tuple[int, ...], out_dtype: np.dtype,
    dst_offset: tuple[int, int],
) -> np.ndarray:
    """Dask task: assemble the source window from its blocks and warp one output chunk.

    ``plan_args`` is ``(method, src_shape, src_nodata, fill, scale)``.
    """
    method, src_shape, src_nodata, fill, scale = plan_args
    src = assemble_window(blocks, block_origin, window)
    src3 = src.reshape((-1,) + src.shape[-2:])
    out = np.empty((src3.shape[0],) + out_shape[-2:], dtype=out_dtype)
    with single_thread():
        warp_block(src3, (window[0], window[2]), src_shape, out, dst_offset, cm.lattice, method,
                   nodata=src_nodata, fill=fill, scale=scale)
    return out.reshape(out_shape)

