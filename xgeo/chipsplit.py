"""Train/validation/test splits of a chip index, without leakage between them.

:func:`split_chips` gives each chip of a :class:`~xgeo.chips.ChipGrid` a split name. Chips
are first grouped into *units*, and whole units go to one split:

* ``by="block"``: square (or ``(rows, cols)``) blocks of pixels; a chip belongs to the block
  holding its centre pixel. Blocks are shuffled (seeded) and dealt, largest first, to the
  split furthest below its target chip count, so the fractions are met as closely as whole
  blocks allow (after the drops below: the blocks are dealt again, up to
  :data:`REBALANCE_ROUNDS` times, with the targets of the splits that lost chips raised). Neighbouring chips share a split unless they sit on a block boundary.
* ``by="random"``: every chip is its own unit (the leaky baseline: neighbours straddle
  splits).
* ``by="time"``: the chips of one time window are a unit; units are dealt in time order,
  the first split (in the order of ``fractions``) getting the earliest dates.

Then no two chips of different splits may *share pixels*: where they would (overlapping
chips, ``stride < size``, or chips closer than ``gap``), the chip of the larger split is
dropped (splits are protected smallest fraction first, so test and validation sets stay
whole and the buffer comes out of training). "Sharing" is measured in the dims the split
separates: space for ``"block"`` (whatever the time windows), time steps for ``"time"``
(wherever the chips are), space and time for ``"random"``. ``gap`` is a buffer in pixels
(time steps for ``"time"``).

Examples
--------
>>> labels, keep = split_labels(
...     np.array([0, 0, 32, 32]), np.array([0, 32, 0, 32]), None, None, (32, 32),
...     {"train": 0.5, "test": 0.5}, by="block", block=32, seed=0)
>>> sorted(labels.tolist()), keep.tolist()
(['test', 'test', 'train', 'train'], [True, True, True, True])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Literal

import numpy as np

from .errors import ChipError

__all__ = ["SPLIT_BY", "Boxes", "check_fractions", "split_labels", "shares_pixels", "split_chips",
           "select_split", "split_fractions"]

SplitBy = Literal["block", "random", "time"]
SPLIT_BY: tuple[str, ...] = ("block", "random", "time")
#: Default block edge, in chips: ``block=None`` means blocks of 4 x 4 chip sizes.
DEFAULT_BLOCK_CHIPS = 4
#: Deals tried at most, each with targets corrected by the chips the previous one dropped.
REBALANCE_ROUNDS = 8


def check_fractions(fractions: Any) -> dict[str, float]:
    """``fractions`` as a ``{name: fraction}`` dict, or :class:`~xgeo.errors.ChipError`.

    Names are non-empty strings; fractions are finite, non-negative and sum to 1 (within
    1e-6); at least one is positive.

    Examples
    --------
    >>> check_fractions({"train": 0.8, "test": 0.2})
    {'train': 0.8, 'test': 0.2}
    >>> check_fractions({"train": 0.8, "test": 0.3})
    Traceback (most recent call last):
    ...
    xgeo.errors.ChipError: fractions must sum to 1, got 1.1 ({'train': 0.8, 'test': 0.3})
    """
    if not isinstance(fractions, Mapping) or not fractions:
        raise ChipError(
            "fractions must be a non-empty dict of split name -> fraction, such as "
            f"{{'train': 0.7, 'val': 0.15, 'test': 0.15}}; got {fractions!r}"
        )
    out: dict[str, float] = {}
    for name, value in fractions.items():
        if not isinstance(name, str) or not name:
            raise ChipError(f"fractions: split names must be non-empty strings, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise ChipError(f"fractions[{name!r}] must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ChipError(f"fractions[{name!r}] must be finite and >= 0, got {value!r}")
        out[name] = float(value)
    total = sum(out.values())
    if abs(total - 1) > 1e-6:
        raise ChipError(f"fractions must sum to 1, got {round(total, 9)} ({fractions!r})")
    return out


def _block_shape(block: Any, size: tuple[int, int]) -> tuple[int, int]:
    if block is None:
        return size[0] * DEFAULT_BLOCK_CHIPS, size[1] * DEFAULT_BLOCK_CHIPS
    pair = (block, block) if np.ndim(block) == 0 else tuple(block)
    if len(pair) != 2 or any(
        isinstance(v, bool) or not isinstance(v, int | np.integer) or v <= 0 for v in pair
    ):
        raise ChipError(
            f"block must be a positive int (pixels) or a (rows, cols) pair of them, got {block!r}"
        )
    return int(pair[0]), int(pair[1])


def _deal(units: np.ndarray, counts: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Split index of each unit, dealt in ``units`` order to the split furthest below its
    target chip count (``fractions`` of the chips; ties: the first split in the order given)."""
    total = float(counts.sum())
    live = [k for k in range(fractions.size) if fractions[k] > 0]
    deficit = [float(fractions[k]) * total for k in range(fractions.size)]
    size = counts.tolist()
    out = np.empty(units.size, dtype=np.int64)
    for i in units.tolist():  # plain floats: a Python loop over many units stays fast
        k = max(live, key=deficit.__getitem__)
        out[i] = k
        deficit[k] -= size[i]
    return out


def _in_time_order(counts: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Split index of each unit (already in time order): cut where the cumulative count
    passes each split's cumulative target, a unit going where its middle chip falls."""
    middle = (np.cumsum(counts) - counts / 2) / counts.sum()
    edges = np.cumsum(fractions)[:-1]
    return np.searchsorted(edges, middle, side="right")


class Boxes:
    """Half-open integer boxes ``lo``/``hi`` (``(N, d)``, d <= 3) on a grid compressed to
    their edges (and their edges moved out by ``gap``, a length-d array), made once and
    queried by :meth:`kept` for any grouping.

    Examples
    --------
    >>> boxes = Boxes(np.array([[0, 0], [0, 8]]), np.array([[10, 10], [10, 18]]), np.array([0, 0]))
    >>> boxes.kept(np.array([0, 1]), [0, 1]).tolist(), boxes.kept(np.array([0, 0]), [0]).tolist()
    ([True, False], [True, True])
    """

    def __init__(self, lo: np.ndarray, hi: np.ndarray, gap: np.ndarray) -> None:
        d = lo.shape[1]
        edges = [np.unique(np.concatenate([lo[:, a], hi[:, a], lo[:, a] - gap[a],
                                           hi[:, a] + gap[a]])) for a in range(d)]
        at = [np.searchsorted(edges[a], np.stack([lo[:, a], hi[:, a], lo[:, a] - gap[a],
                                                  hi[:, a] + gap[a]])) for a in range(d)]
        self.paint_at = [np.stack([at[a][0] for a in range(d)]),  # box: cells [lo, hi)
                         np.stack([at[a][1] for a in range(d)])]
        self.query_at = [np.stack([at[a][2] for a in range(d)]),  # grown box
                         np.stack([at[a][3] for a in range(d)])]
        self.shape = tuple(len(e) + 1 for e in edges)
        self.corners = list(itertools.product((0, 1), repeat=d))

    def _reads(self, which: list[np.ndarray], members: np.ndarray, corner: tuple) -> tuple:
        return tuple(which[c][a, members] for a, c in enumerate(corner))

    def kept(self, group: np.ndarray, order: Sequence[int]) -> np.ndarray:
        """True for boxes kept: a box of group ``order[k]`` is dropped when, grown by the gap,
        it overlaps a kept box of a group earlier in ``order``."""
        d = len(self.shape)
        keep = np.ones(group.size, dtype=bool)
        paint = np.zeros(self.shape, dtype=np.int64)
        inner = (slice(0, -1),) * d
        for k, g in enumerate(order):
            members = np.flatnonzero(group == g)
            if k:  # a summed-area table of the cells covered so far: 2^d reads per box
                cover = paint
                for a in range(d):
                    cover = np.cumsum(cover, axis=a)
                table = np.zeros(self.shape, dtype=np.int64)
                table[(slice(1, None),) * d] = cover[inner] > 0
                for a in range(d):
                    np.cumsum(table, axis=a, out=table)
                total = np.zeros(members.size, dtype=np.int64)
                for corner in self.corners:
                    sign = (-1) ** (d - sum(corner))
                    total += sign * table[self._reads(self.query_at, members, corner)]
                keep[members[total > 0]] = False
            kept = members[keep[members]]
            for corner in self.corners:  # difference array: +-1 at the 2^d corners of a box
                np.add.at(paint, self._reads(self.paint_at, kept, corner), (-1) ** sum(corner))
        return keep


def shares_pixels(lo: np.ndarray, hi: np.ndarray, group: np.ndarray, order: Sequence[int],
                  gap: np.ndarray) -> np.ndarray:
    """True for boxes kept: a box of group ``order[k]`` is dropped when, grown by ``gap`` on
    each side, it overlaps a kept box of a group earlier in ``order``.

    ``lo``/``hi`` are ``(N, d)`` half-open integer boxes (d <= 3), ``gap`` a length-d array.
    Boxes are painted on a grid compressed to their edges (:class:`Boxes`), and each query is
    four (or eight) reads of a summed-area table, so the cost grows with the number of
    distinct edges, not pixels.

    Examples
    --------
    >>> lo, hi = np.array([[0], [5], [10]]), np.array([[6], [11], [16]])
    >>> shares_pixels(lo, hi, np.array([0, 1, 1]), [0, 1], np.array([0])).tolist()
    [True, False, True]
    """
    return Boxes(lo, hi, gap).kept(group, order)


def split_labels(
    rows: np.ndarray,
    cols: np.ndarray,
    t0: np.ndarray | None,
    t1: np.ndarray | None,
    size: tuple[int, int],
    fractions: Any,
    *,
    by: SplitBy = "block",
    block: int | Sequence[int] | None = None,
    seed: int | None = 0,
    gap: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(split name per chip, kept per chip)`` for windows at ``rows``/``cols`` (and time
    windows ``t0:t1``); see the module docstring for the rules.

    Parameters
    ----------
    rows, cols, t0, t1
        Window offsets in pixels and time windows (step indices; None without time), one per
        chip, as :class:`~xgeo.chips.ChipGrid` holds them.
    size
        Chip size ``(rows, cols)`` in pixels.
    fractions, by, block, seed, gap
        As for :func:`split_chips`.

    Returns
    -------
    tuple of numpy.ndarray
        The split name of every chip (object array) and whether it is kept (bool).

    Raises
    ------
    ChipError
        As :func:`split_chips`.

    Examples
    --------
    >>> names, keep = split_labels(np.zeros(4, int), np.array([0, 16, 32, 40]), None, None,
    ...                            (16, 16), {"a": 0.5, "b": 0.5}, by="random", seed=0)
    >>> names.tolist(), keep.tolist()  # the last chip overlaps the third, of the other split
    (['b', 'a', 'a', 'b'], [True, True, True, False])
    """
    shares = check_fractions(fractions)
    if by not in SPLIT_BY:
        raise ChipError(f"by must be one of {', '.join(map(repr, SPLIT_BY))}, got {by!r}")
    if block is not None and by != "block":
        raise ChipError(f"block= applies to by='block' only, not by={by!r}")
    if isinstance(gap, bool) or not isinstance(gap, int | np.integer) or gap < 0:
        raise ChipError(f"gap must be an int >= 0 (pixels, or time steps for by='time'), "
                        f"got {gap!r}")
    n = rows.size
    if n == 0:
        raise ChipError("cannot split an empty ChipGrid")
    names = list(shares)
    weights = np.array([shares[k] for k in names])
    h, w = size
    rng = np.random.default_rng(seed)
    if by == "time":
        if t0 is None:
            raise ChipError("by='time' needs chips with a time dim (time windows); "
                            "use by='block' or by='random'")
        starts, unit = np.unique(t0, return_inverse=True)
        counts = np.bincount(unit, minlength=starts.size)
        if starts.size < np.count_nonzero(weights):
            raise ChipError(f"only {starts.size} time windows for {np.count_nonzero(weights)} "
                            "splits with a positive fraction")
        deal = partial(_in_time_order, counts)
    else:
        if by == "block":
            by_, bx = _block_shape(block, size)
            key = np.column_stack([(rows + h // 2) // by_, (cols + w // 2) // bx])
            _, unit = np.unique(key, axis=0, return_inverse=True)
            unit = unit.ravel()
        else:
            unit = np.arange(n)
        counts = np.bincount(unit)
        if counts.size < np.count_nonzero(weights):
            raise ChipError(f"only {counts.size} blocks for {np.count_nonzero(weights)} splits "
                            f"with a positive fraction: use a smaller block= (now {block!r})")
        shuffled = rng.permutation(counts.size)
        order = shuffled[np.argsort(-counts[shuffled], kind="stable")]  # largest first
        deal = partial(_deal, order, counts)
    priority = sorted(range(len(names)), key=lambda k: weights[k])  # smallest kept whole
    if by == "time":
        lo, hi, pad = t0[:, None], t1[:, None], np.array([gap])
    else:
        lo, hi, pad = np.column_stack([rows, cols]), np.column_stack([rows + h, cols + w]), \
            np.array([gap, gap])
        if by == "random" and t0 is not None:
            lo, hi, pad = np.column_stack([t0, lo]), np.column_stack([t1, hi]), np.r_[0, pad]
    # The chips dropped at the borders between splits come mostly out of the larger splits,
    # and a few large blocks can leave a split empty: deal again with the targets of the
    # splits short of theirs raised, keeping the closest outcome (no empty split first).
    boxes = Boxes(np.asarray(lo), np.asarray(hi), pad)
    best, wanted = None, weights
    for _ in range(REBALANCE_ROUNDS):
        group = deal(wanted)[unit]
        keep = boxes.kept(group, priority)
        got = np.bincount(group[keep], minlength=weights.size) / max(keep.sum(), 1)
        score = (np.count_nonzero((got == 0) & (weights > 0)), np.abs(got - weights).sum())
        if best is None or score < best[0]:
            best = (score, group, keep)
        if keep.all() and not score[0]:  # nothing dropped, no split empty: the deal's best
            break
        factor = np.clip(weights / np.maximum(got, 1e-9), 0.5, 2.0)
        wanted = np.where(weights > 0, wanted * factor, 0)
        wanted = wanted / wanted.sum()
    _, group, keep = best
    for k in np.flatnonzero(weights):
        if not keep[group == k].any():
            lost = "got no chips" if not (group == k).any() else "lost all its chips"
            raise ChipError(
                f"split {names[k]!r} {lost} (to whole {by} units, or to chips it would share "
                f"pixels with in other splits): use a smaller block=, a smaller gap= or "
                "chips that do not overlap")
    return np.array(names, dtype=object)[group], keep


def split_chips(chips: Any, fractions: Mapping[str, float], *, by: SplitBy = "block",
                block: int | Sequence[int] | None = None, seed: int | None = 0,
                gap: int = 0) -> Any:
    """The chips of ``chips`` that survive the split, each recorded with its split name.

    Parameters
    ----------
    chips
        A :class:`~xgeo.chips.ChipGrid`.
    fractions
        ``{name: fraction}``, e.g. ``{"train": 0.7, "val": 0.15, "test": 0.15}``: fractions
        of the chips, >= 0, summing to 1.
    by
        ``"block"`` (spatial blocks, the default), ``"random"`` (per chip) or ``"time"``
        (whole time windows, earliest to the first split).
    block
        Block size in pixels for ``by="block"``: an int, or ``(rows, cols)``; default 4 x 4
        chip sizes. The whole-block fractions are reported by :func:`split_fractions`.
    seed
        Seeds the shuffle of blocks (or chips): the same seed gives the same split.
    gap
        Buffer between chips of different splits, in pixels (time steps for ``by="time"``);
        0 still drops chips that would share pixels with another split.

    Returns
    -------
    ChipGrid
        The kept chips, in their order, with :attr:`~xgeo.chips.ChipGrid.splits` set.

    Raises
    ------
    ChipError
        Bad ``fractions`` (not a dict, negative, not summing to 1), unknown ``by``, bad
        ``block``/``gap``, ``by="time"`` without time windows, fewer units than splits.

    Examples
    --------
    >>> import xgeo
    >>> chips = xgeo.datasets.sentinel2_cube().geo.chips(16, variable="reflectance", time=5)
    >>> parts = split_chips(chips, {"train": 0.75, "test": 0.25}, block=32, seed=1)
    >>> {name: round(f, 3) for name, f in split_fractions(parts).items()}
    {'test': 0.245, 'train': 0.755}
    """
    labels, keep = split_labels(chips.rows, chips.cols, chips.t0, chips.t1, chips.size,
                                fractions, by=by, block=block, seed=seed, gap=gap)
    out = chips.subset(np.flatnonzero(keep))
    out.splits = labels[keep]
    return out


def select_split(chips: Any, split: str | Sequence[str]) -> Any:
    """The chips of split ``split`` (a name or several), in their order.

    Raises
    ------
    ChipError
        When the chips have no splits or a name is not one of them.

    Examples
    --------
    >>> import xgeo
    >>> chips = xgeo.datasets.sentinel2_cube().geo.chips(16, variable="reflectance", time=5)
    >>> parts = split_chips(chips, {"train": 0.75, "test": 0.25}, block=32, seed=1)
    >>> len(select_split(parts, "train")), len(select_split(parts, ["train", "test"]))
    (37, 49)
    """
    if chips.splits is None:
        raise ChipError("these chips have no splits: make them with chips.split(...) first")
    wanted = [split] if isinstance(split, str) else list(split)
    present = sorted(set(chips.splits.tolist()))
    unknown = [s for s in wanted if s not in present]
    if unknown:
        raise ChipError(f"split={unknown[0]!r} is not a split of these chips; they have "
                        f"{present}")
    return chips.subset(np.flatnonzero(np.isin(chips.splits, wanted)))


def split_fractions(chips: Any) -> dict[str, float]:
    """The achieved fraction of chips in each split (names sorted), after any drops.

    Examples
    --------
    >>> import xgeo
    >>> chips = xgeo.datasets.sentinel2_cube().geo.chips(16, variable="reflectance", time=5)
    >>> split_fractions(split_chips(chips, {"a": 0.5, "b": 0.5}, by="random"))  # 25 + 24
    {'a': 0.5102040816326531, 'b': 0.4897959183673469}
    """
    if chips.splits is None:
        raise ChipError("these chips have no splits: make them with chips.split(...) first")
    names, counts = np.unique(chips.splits.astype(str), return_counts=True)
    return {str(k): float(c) / len(chips) for k, c in zip(names, counts, strict=True)}
