"""Batches made on a torch device: ``ChipDataset(device=...)``.

The chunks of a batch are read and decoded on the host as always (the decoded-chunk caches,
partial decoding and the decode threads included), the chips are written in their *stored*
dtype into one host batch (pinned memory for CUDA, so the copy is asynchronous and half the
bytes of float32 for uint16 data), the batch is copied to the device once, and CF decoding
(fill value to NaN, ``scale_factor``/``add_offset``), the cast to the output dtype, the
blanking of pixels beyond the array and the validity mask are done there with torch
operations, equal to the CPU path's numba kernel (same float arithmetic, same order).

CUDA is used from the main process only (a forked DataLoader worker cannot use CUDA): with
``device="cuda"``, use ``num_workers=0``; the chunks of a batch still decode in parallel in
``decode_threads`` threads.

Examples
--------
>>> resolve_device(None) is None, resolve_device("cpu")
(True, device(type='cpu'))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._chunkread import Channel
from ..errors import DeviceError

__all__ = ["blank_outside", "check_process", "decode_on_device", "host_batch", "on_device",
           "resolve_device"]


def resolve_device(device: str | torch.device | None) -> torch.device | None:
    """``device`` as a :class:`torch.device` (None stays None: the CPU path without torch ops).

    Raises
    ------
    DeviceError
        A CUDA device without a CUDA build of torch or without a visible GPU, an index beyond
        the GPUs there are, or a device type other than ``cpu`` and ``cuda``.
    """
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"device={device!r} is not a torch device ({exc}); use 'cuda', "
                          "'cuda:N' or 'cpu'") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise DeviceError(f"device={device!r}: only 'cuda' and 'cpu' batches are supported")
    if torch.version.cuda is None:
        raise DeviceError(
            f"device={device!r} needs a CUDA build of torch; this torch ({torch.__version__}) "
            "is a CPU build. Install a CUDA wheel of torch on a GPU machine, or use "
            "device=None (CPU batches)")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device={device!r}: torch {torch.__version__} is built for CUDA "
            f"{torch.version.cuda} but sees no GPU (no NVIDIA driver, or CUDA_VISIBLE_DEVICES "
            "hides them); use device=None for CPU batches")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise DeviceError(f"device={device!r}: there are {count} GPU(s), cuda:0..cuda:{count - 1}")
    return dev


def check_process(device: torch.device) -> None:
    """Refuse a CUDA batch inside a DataLoader worker (forked workers cannot use CUDA)."""
    from torch.utils.data import get_worker_info

    if device.type == "cuda" and get_worker_info() is not None:
        raise DeviceError(
            "ChipDataset(device='cuda') makes batches in the main process: use the DataLoader "
            "with num_workers=0 (the batch's chunks still decode in parallel, decode_threads=)")


def host_batch(shape: Sequence[int], dtype: np.dtype, device: torch.device
               ) -> tuple[torch.Tensor, np.ndarray]:
    """An uninitialised host tensor for a raw batch (pinned for a CUDA device) and its NumPy
    view, which the chip reads write into."""
    pin = device.type == "cuda"
    t = torch.from_numpy(np.empty(0, dtype=dtype))  # the torch dtype of a NumPy dtype
    host = torch.empty(tuple(shape), dtype=t.dtype, pin_memory=pin)
    return host, host.numpy()


def decode_on_device(raw: torch.Tensor, channels: Sequence[Channel], dtype: torch.dtype | None
                     ) -> torch.Tensor:
    """A raw batch ``(B, [T,] C, H, W)`` (stored values, channels in ``channels`` order along
    axis -3) as ``dtype``: CF-decoded for a floating dtype (each channel's fill value to NaN,
    then ``value * scale + offset`` in that dtype, as :func:`xgeo._chunkread.cf_decode`), cast
    for another, unchanged for None."""
    from ..indices.tensor import equal_values  # the indices package only when decoding

    if dtype is None:
        return raw
    if not dtype.is_floating_point:
        return raw.to(dtype)
    # decoded in float32 at least, then cast, as the CPU path does (float16 arithmetic was one
    # float16 step off the CPU batch on a packed store)
    work = torch.float32 if dtype.itemsize < 4 else dtype
    out = raw.to(work)
    c = 0
    for ch in channels:
        part, stored = out[..., c:c + ch.count, :, :], raw[..., c:c + ch.count, :, :]
        if ch.unsigned and not raw.is_floating_point():  # signed bits of unsigned values
            bits = 8 * raw.element_size()
            part.add_(torch.where(part < 0, 2.0 ** bits, 0.0).to(work))
            missing = None if not ch.has_fill else part == float(ch.fill)
        else:
            missing = None if not ch.has_fill else equal_values(stored, float(ch.fill))
        if ch.scale != 1.0 or ch.offset != 0.0:
            part.mul_(torch.tensor(ch.scale, dtype=work, device=raw.device))
            part.add_(torch.tensor(ch.offset, dtype=work, device=raw.device))
        if missing is not None:
            part.masked_fill_(missing, float("nan"))
        c += ch.count
    return out if work == dtype else out.to(dtype)


def blank_outside(out: torch.Tensor, rows: np.ndarray, cols: np.ndarray,
                  size: tuple[int, int], shape: tuple[int, int]) -> None:
    """NaN in the pixels of each chip ``k`` (origin ``rows[k], cols[k]``) beyond the array of
    ``shape`` (floating output: what the CPU path pads with)."""
    h, w = size
    ny, nx = shape
    for k, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        bh, bw = min(h, ny - r), min(w, nx - c)
        if bh < h:
            out[k, ..., bh:, :] = float("nan")
        if bw < w:
            out[k, ..., :, bw:] = float("nan")


def on_device(host: torch.Tensor, device: torch.device, channels: Sequence[Channel],
              dtype: torch.dtype | None, *, origins: tuple[np.ndarray, np.ndarray],
              size: tuple[int, int], shape: tuple[int, int], missing: np.ndarray | None,
              flagged: np.ndarray | None, labels: np.ndarray | None
              ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """A host batch of stored values made on ``device``: the image batch (decoded as
    :func:`decode_on_device`, NaN beyond the array for a floating dtype), the validity mask
    (when ``missing``, the per-channel missing stored values ``(C, 1, 1)``, is given: every
    channel holds data and the user's mask ``flagged`` does not flag the pixel) and the label
    batch, as :class:`~xgeo.torch.ChipDataset`'s CPU path makes them.

    ``origins`` are the chips' ``(rows, cols)`` in the array of ``shape``.
    """
    raw = host.to(device, non_blocking=True)
    batch = decode_on_device(raw, channels, dtype)
    floating = dtype is not None and dtype.is_floating_point
    if floating:
        blank_outside(batch, origins[0], origins[1], size, shape)
    valid = None
    if missing is not None:
        if floating:
            valid = torch.isfinite(batch).all(dim=-3)
        else:
            fills = torch.from_numpy(missing.astype(host.numpy().dtype)).to(device)
            valid = (raw != fills).all(dim=-3)
            if raw.is_floating_point():  # a NaN fill equals nothing: NaN is missing too
                valid &= torch.isfinite(raw).all(dim=-3)
        if flagged is not None:
            valid &= ~torch.from_numpy(flagged).to(device, non_blocking=True)
    out_labels: Any = None
    if labels is not None:
        out_labels = torch.from_numpy(labels).to(device, non_blocking=True)
    return batch, valid, out_labels
