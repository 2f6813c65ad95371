"""One call from a cube to a DataLoader of chip batches."""

from __future__ import annotations

import os
from typing import Any

from torch.utils.data import DataLoader

from ..cubemeta import is_many_cubes
from ..errors import DeviceError
from .collate import collate
from .cubes import CubesDataset
from .cubesampler import CubeMixSampler
from .dataset import ChipDataset
from .device import resolve_device
from .sampler import ChunkAwareSampler

__all__ = ["to_dataloader"]


def to_dataloader(
    source: Any,
    size: int | tuple[int, int] = 256,
    batch_size: int = 16,
    *,
    shuffle: bool = True,
    seed: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: Any = None,
    dataset_kwargs: dict[str, Any] | None = None,
    **loader_kwargs: Any,
) -> DataLoader:
    """A DataLoader of chip batches with chunk-aware shuffling and :func:`collate`.

    Parameters
    ----------
    source, size
        What :meth:`ChipDataset.from_source` takes (a path or an xarray object; chip size), or
        many cubes: a list of them or a directory of ``*.zarr``/``*.nc`` cubes, read by
        :class:`CubesDataset` and ordered by :class:`CubeMixSampler` with ``block=batch_size
        // 4`` (each batch from about 4 cubes or more; build the two yourself for others).
    batch_size, shuffle, seed
        Chips per batch; :class:`ChunkAwareSampler`'s (:class:`CubeMixSampler`'s) order.
    cache_dir
        :class:`ChipDataset`'s on-disk cache of decoded chunks (its ``cache_bytes``, in
        ``dataset_kwargs``, then bounds it): a video store decodes each chunk once.
    device
        :class:`ChipDataset`'s ``device`` (every cube's): batches made on that torch device
        (``"cuda"``); CUDA batches are made in the main process, so ``num_workers`` must be 0
        (the default).
    dataset_kwargs
        More :class:`ChipDataset` keywords: ``variable``, ``transforms``, ``dtype``, ``time``, ...
    **loader_kwargs
        Passed to ``torch.utils.data.DataLoader`` (``num_workers``, ``collate_fn``, ...).
        With ``num_workers > 0``, ``persistent_workers`` defaults to True (PyTorch's default
        is False): workers keep their decoded chunks, open stores and loaded kernels from one
        epoch to the next instead of starting again every epoch. Set it to False to have each
        epoch's workers see changes made to the dataset in the main process.

    Examples
    --------
    >>> import xgeo
    >>> loader = to_dataloader(xgeo.datasets.sentinel2_cube(), size=32, batch_size=4,
    ...                        dataset_kwargs={"variable": "reflectance"})
    >>> tuple(next(iter(loader))["image"].shape)
    (4, 13, 32, 32)
    """
    kwargs = dict(dataset_kwargs or {})
    if cache_dir is not None:
        kwargs["cache_dir"] = cache_dir
    if device is not None:
        if resolve_device(device).type == "cuda" and loader_kwargs.get("num_workers", 0):
            raise DeviceError(f"device={device!r} makes batches in the main process: "
                              f"num_workers={loader_kwargs['num_workers']} must be 0 (the chunks "
                              "still decode in parallel, decode_threads=)")
        kwargs["device"] = device
    if loader_kwargs.get("num_workers", 0):
        # restarted workers decode every chunk again each epoch: on the nrt video store (T=16
        # chips, workers 2) epochs 2+ ran at 64 / 220 chips/s (float32 / native) against
        # 2200 / 3000 with persistent workers (2026-12-07, 2-core VM)
        loader_kwargs.setdefault("persistent_workers", True)
    if is_many_cubes(source):
        cubes = CubesDataset(source, size, **kwargs)
        mix = CubeMixSampler(cubes, block=max(1, batch_size // 4), shuffle=shuffle, seed=seed)
        return DataLoader(cubes, batch_size=batch_size, sampler=mix,
                          **{"collate_fn": collate, **loader_kwargs})
    dataset = ChipDataset.from_source(source, size, **kwargs)
    sampler = ChunkAwareSampler(dataset, shuffle=shuffle, seed=seed)
    loader_kwargs.setdefault("collate_fn", collate)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, **loader_kwargs)
