"""Mixing cubes: :class:`CubeMixSampler` orders the chips of a :class:`~xgeo.torch.CubesDataset`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
from torch.utils.data import Sampler

from ..errors import ChipError
from .cubes import CubesDataset

__all__ = ["CubeMixSampler"]


class CubeMixSampler(Sampler[int]):
    """Shuffle the chips of many cubes together, ``block`` consecutive chips from one cube.

    Parameters
    ----------
    dataset
        The :class:`~xgeo.torch.CubesDataset`.
    block
        Chips taken from one cube in a row: the locality knob. A DataLoader batch of
        ``batch_size`` chips then comes from about ``batch_size / block`` cubes and its worker
        opens each of those once (:meth:`CubesDataset.__getitems__` reads a cube's chips
        together); ``block=1`` mixes most, and opens a cube for nearly every chip once
        there are more cubes than ``max_open``.
    weighting
        ``"size"``: every chip exactly once per epoch, so a cube is drawn in proportion to
        its chips. ``"uniform"``: each block's cube drawn uniformly at random (with
        replacement), its chips taken in a shuffled cycle: small cubes are seen as often as
        large ones (their chips repeat), for ``num_samples`` chips per epoch.
    shuffle
        False: cubes in order, chips in order (``"uniform"``: cubes in turn, a block each).
    seed
        Seeds the order; :meth:`set_epoch` varies it between epochs, reproducibly.
    num_samples
        Chips per epoch with ``weighting="uniform"`` (default: as many as the dataset has).

    Raises
    ------
    ChipError
        A ``block`` below 1, an unknown ``weighting``, ``num_samples`` with ``"size"``.

    Examples
    --------
    >>> import xgeo
    >>> from xgeo.torch import CubesDataset
    >>> cube = xgeo.datasets.sentinel2_cube()
    >>> cubes = CubesDataset([cube, cube.isel(x=slice(0, 50))], 32, variable="reflectance")
    >>> order = list(CubeMixSampler(cubes, block=4, seed=0))
    >>> sorted(order) == list(range(len(cubes)))
    True
    """

    def __init__(
        self,
        dataset: CubesDataset,
        *,
        block: int = 1,
        weighting: Literal["size", "uniform"] = "size",
        shuffle: bool = True,
        seed: int | None = None,
        num_samples: int | None = None,
    ) -> None:
        if not isinstance(block, int) or block < 1:
            raise ChipError(f"block must be an int >= 1, not {block!r}")
        if weighting not in ("size", "uniform"):
            raise ChipError(f"weighting must be 'size' or 'uniform', not {weighting!r}")
        if num_samples is not None and weighting == "size":
            raise ChipError("num_samples is for weighting='uniform'; 'size' yields every chip once")
        self.dataset = dataset
        self.block = block
        self.weighting = weighting
        self.shuffle = shuffle
        self.seed = seed
        self.num_samples = len(dataset) if num_samples is None else int(num_samples)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Vary the order between epochs (reproducibly for a given seed)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples if self.weighting == "uniform" else len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        counts, starts = self.dataset.counts, self.dataset.starts
        n = int(counts.sum())
        rng = np.random.default_rng(None if self.seed is None else self.seed + self.epoch)
        cube_of = np.repeat(np.arange(counts.size), counts)
        # each cube's chips, shuffled within the cube, cubes in order
        within = np.lexsort((rng.random(n), cube_of)) if self.shuffle else np.arange(n)
        if self.weighting == "uniform":
            yield from self._uniform(within, rng).tolist()
            return
        if not self.shuffle:
            yield from within.tolist()
            return
        pos = np.arange(n) - starts[cube_of]  # place of each (grouped) chip in its cube
        per_cube = -(-counts // self.block)
        block_of = np.concatenate([[0], np.cumsum(per_cube)[:-1]])[cube_of] + pos // self.block
        rank = np.empty(int(per_cube.sum()), dtype=np.int64)
        rank[rng.permutation(rank.size)] = np.arange(rank.size)
        yield from within[np.argsort(rank[block_of], kind="stable")].tolist()

    def _uniform(self, within: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``num_samples`` chips: blocks from cubes drawn uniformly, cycling in each cube."""
        counts, starts = self.dataset.counts, self.dataset.starts
        cubes = np.flatnonzero(counts)
        blocks = -(-self.num_samples // self.block)
        if self.shuffle:
            drawn = cubes[rng.integers(0, cubes.size, blocks)]
        else:
            drawn = cubes[np.arange(blocks) % cubes.size]
        # how many blocks of the same cube came before each one
        order = np.argsort(drawn, kind="stable")
        first = np.searchsorted(drawn[order], drawn[order], side="left")
        seen = np.empty(blocks, dtype=np.int64)
        seen[order] = np.arange(blocks) - first
        step = seen[:, None] * self.block + np.arange(self.block)
        picks = starts[drawn][:, None] + step % counts[drawn][:, None]
        return within[picks.ravel()[: self.num_samples]]
