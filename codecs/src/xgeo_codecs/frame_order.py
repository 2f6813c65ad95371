"""Coding order of a chunk's frames: similar dates next to each other (format 4).

A cloudy time series alternates clear and cloudy dates, so the previous frame is often a poor
reference for inter prediction. Coding the frames along a short path through their pairwise
distances (mean squared difference) gives every frame a similar predecessor. The order is
stored in the chunk header and undone on decode.

Measured on the eo-learn 68-date NDVI series, x265 preset medium, PSNR at equal rate against
the chronological order: +0.5 to +0.8 dB with the whole series in one chunk, +0.1 to +0.3 on
the nrt 4-band cube in 70-frame chunks, but -0.15 dB in 23-frame chunks (a short GOP has few
similar dates to gather, and the path breaks the slow seasonal drift the chronological order
follows), hence an option (``reorder_frames``) and not the default.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import CodecError

_SAMPLE = 4096  # pixels per frame and plane the distances are computed from


def similarity_order(cube: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    """Frame order (original indices, in coding order) of a (T, P, H, W) cube.

    Greedy nearest-neighbour path from the medoid frame, then 2-opt moves until none
    shortens the path. Invalid pixels take their plane's valid mean so that a mask does not
    count as a difference.

    Examples
    --------
    >>> import numpy as np
    >>> f = np.array([0.0, 5.0, 0.1, 5.1])[:, None, None, None] * np.ones((4, 1, 8, 8))
    >>> similarity_order(f, np.zeros(f.shape, bool)).tolist()
    [1, 3, 2, 0]
    """
    t = cube.shape[0]
    if t < 3:
        return np.arange(t)
    step = max(1, int(np.sqrt(cube.shape[2] * cube.shape[3] / _SAMPLE)))
    x = cube[:, :, ::step, ::step].astype(np.float64)
    bad = invalid[:, :, ::step, ::step]
    for j in range(x.shape[1]):
        ok = ~bad[:, j]
        x[:, j][~ok] = x[:, j][ok].mean() if ok.any() else 0.0
    f = x.reshape(t, -1)
    sq = np.einsum("ij,ij->i", f, f)
    d = np.maximum(sq[:, None] + sq[None, :] - 2.0 * f @ f.T, 0.0) / f.shape[1]
    order = [int(np.argmin(d.sum(axis=1)))]
    left = np.ones(t, bool)
    left[order[0]] = False
    for _ in range(t - 1):
        cand = np.where(left, d[order[-1]], np.inf)
        order.append(int(np.argmin(cand)))
        left[order[-1]] = False
    return _two_opt(np.array(order), d)


def _two_opt(order: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Reverse path segments [i, k] while that shortens the open path (vectorised over k)."""
    t = len(order)
    # an end node t at distance 0 from every frame: reversing the path's tail is scored like
    # any other segment (the open path's last edge costs nothing)
    dd = np.zeros((t + 1, t + 1))
    dd[:t, :t] = d
    path = np.append(order, t)
    for _ in range(4 * t):  # bounded; each pass that changes something shortens the path
        changed = False
        for i in range(1, t - 1):
            a, b = path[i - 1], path[i]
            c, e = path[i + 1 : t], path[i + 2 : t + 1]  # segment ends k and what follows them
            gain = dd[a, b] + dd[c, e] - dd[a, c] - dd[b, e]
            k = int(np.argmax(gain))
            if gain[k] > 1e-12 * (1.0 + dd[a, b]):
                path[i : i + k + 2] = path[i : i + k + 2][::-1]
                changed = True
        if not changed:
            break
    return path[:t]


def check_order(order: Any, t: int) -> np.ndarray | None:
    """A header's frame order, validated as a permutation of ``range(t)``; None if absent."""
    if order is None:
        return None
    try:
        o = np.asarray(order, dtype=np.int64)
        ok = o.shape == (t,) and np.array_equal(np.sort(o), np.arange(t))
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise CodecError("header has an invalid frame order; the chunk is corrupt")
    return o


def unorder_inplace(a: np.ndarray, order: np.ndarray) -> None:
    """Put frames in coding order (axis 0 of ``a``) back at their original indices ``order``,
    in place: each cycle of the permutation moves through two frame buffers, never a copy
    of the whole chunk.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([10, 30, 20])
    >>> unorder_inplace(a, np.array([0, 2, 1]))
    >>> a.tolist()
    [10, 20, 30]
    """
    done = np.zeros(len(order), bool)
    for start in range(len(order)):
        if done[start]:
            continue
        carry = a[start].copy()  # coded frame ``start`` belongs at ``order[start]``
        pos = int(order[start])
        done[start] = True
        while pos != start:
            nxt = a[pos].copy()
            a[pos] = carry
            carry = nxt
            done[pos] = True
            pos = int(order[pos])
        a[start] = carry
