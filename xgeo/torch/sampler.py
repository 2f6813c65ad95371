"""Chunk-aware sampling: shuffle storage chunks, then the chips inside each chunk."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from .dataset import ChipDataset

__all__ = ["ChunkAwareSampler"]


class ChunkAwareSampler(Sampler[int]):
    """Shuffle storage chunks, then chips within each chunk.

    Consecutive indices share a chunk, so a batch (and the worker that reads it) decodes
    each compressed chunk once. The trade-off against full shuffling: a batch holds chips
    from few chunks (spatially and temporally close), so batches are less diverse; use
    ``batch_size`` well below the chips per chunk only if that correlation is acceptable,
    or fall back to ``shuffle=True`` in the DataLoader.

    Examples
    --------
    >>> import xgeo
    >>> from xgeo.torch import ChipDataset, ChunkAwareSampler
    >>> ds = ChipDataset(xgeo.datasets.sentinel2_cube(), size=32, variable="reflectance")
    >>> sorted(ChunkAwareSampler(ds, seed=0)) == list(range(len(ds)))
    True
    """

    def __init__(
        self, dataset: ChipDataset, *, shuffle: bool = True, seed: int | None = None
    ) -> None:
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Vary the order between epochs (reproducibly for a given seed)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        keys = self.dataset.chunk_keys()
        _, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.ravel()
        order = np.arange(len(group))
        if not self.shuffle:
            yield from order[np.argsort(group, kind="stable")].tolist()
            return
        rng = np.random.default_rng(None if self.seed is None else self.seed + self.epoch)
        groups = rng.permutation(group.max() + 1)
        for g in groups:
            members = order[group == g]
            yield from rng.permutation(members).tolist()

