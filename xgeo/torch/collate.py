"""Batching chip samples: :func:`collate` stacks tensors and keeps metadata as lists.

Samples also go through torch's own ``default_collate`` (they hold no ``None``); this one is
faster for batches :meth:`~xgeo.torch.ChipDataset.__getitems__` read, whose images are
already rows of one batch tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["collate"]


def _batch_of_views(values: Sequence[torch.Tensor]) -> torch.Tensor | None:
    """The batch tensor when ``values`` are its rows in order (as :meth:`ChipDataset.__getitems__`
    makes them and no transforms replaced them), else None."""
    base = values[0]._base
    if base is None or base.ndim == 0 or base.shape[0] != len(values) or not base.is_contiguous():
        return None
    for k, v in enumerate(values):
        row = base[k]
        # the very row: same start, shape and strides (a transpose of a square chip has the
        # start and shape of its row and other strides: it was collated as the row itself)
        if (v._base is not base or v.data_ptr() != row.data_ptr() or v.shape != row.shape
                or v.stride() != row.stride() or v.dtype != row.dtype):
            return None
    return base


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack images/masks/labels into batch tensors; keep metadata as lists.

    ``bounds`` becomes a float64 tensor (B, 4), each row in its own sample's CRS; ``index``
    (and a :class:`~xgeo.torch.CubesDataset`'s ``cube``) an int64 tensor; ``crs``, ``time`` and
    ``bands`` stay lists (``crs`` one WKT per sample, so chips of cubes in different CRSs batch
    together).
    """
    batch: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if isinstance(values[0], torch.Tensor):
            batch[key] = _batch_of_views(values)
            if batch[key] is None:
                batch[key] = torch.stack(values)
        elif key == "bounds":
            batch[key] = torch.tensor(values, dtype=torch.float64)
        elif key in ("index", "cube"):
            batch[key] = torch.tensor(values, dtype=torch.int64)
        elif key == "bands":
            batch[key] = values[0]
        else:
            batch[key] = values
    return batch

