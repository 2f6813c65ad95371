"""Torch DataLoader bridge: chips out of (video-compressed) Zarr stores, as tensors.

* :class:`ChipDataset` (:mod:`xgeo.torch.dataset`): the map-style dataset of a
  :class:`~xgeo.chips.ChipGrid`'s chips, read through a per-process cache of decoded chunks
  (:mod:`xgeo._chunkread`, torch-free);
* :class:`ChunkAwareSampler` (:mod:`xgeo.torch.sampler`): shuffles chunks, then chips;
* :class:`CubesDataset` (:mod:`xgeo.torch.cubes`) and :class:`CubeMixSampler`
  (:mod:`xgeo.torch.cubesampler`): the chips of many cubes (a directory of minicubes), mixed;
* :func:`collate` (:mod:`xgeo.torch.collate`): batches without a stacking copy;
* :class:`Normalize`, :class:`Indices` (:mod:`xgeo.torch.transforms`): sample transforms,
  with :func:`band_stats` (:mod:`xgeo.torch.stats`);
* :func:`to_dataloader` (:mod:`xgeo.torch.loader`): all of it in one call;
* ``as_geodataset`` (:mod:`xgeo.torch.torchgeo`, imported on first use: it needs torchgeo):
  an xgeo source as a TorchGeo ``GeoDataset``, for TorchGeo's samplers and datasets.

Requires the optional dependency torch (``pip install torch==2.13.0`` for the CPU wheel).
"""

from __future__ import annotations

from ..optional import missing

try:
    import torch  # noqa: F401
except ImportError as exc:  # an install hint, never a bare ModuleNotFoundError
    raise missing("torch", "xgeo.torch (ChipDataset, to_dataloader)") from exc

from .collate import collate
from .cubes import CubesDataset
from .cubesampler import CubeMixSampler
from .dataset import ChipDataset
from .loader import to_dataloader
from .sampler import ChunkAwareSampler
from .stats import band_stats
from .transforms import Indices, Normalize

__all__ = [
    "ChipDataset",
    "ChunkAwareSampler",
    "CubeMixSampler",
    "CubesDataset",
    "Indices",
    "Normalize",
    "band_stats",
    "collate",
    "to_dataloader",
]


def __getattr__(name: str) -> object:
    if name == "as_geodataset":  # imports torchgeo, an optional dependency: only when asked
        from .torchgeo import as_geodataset

        return as_geodataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
