"""Sample transforms (as TorchGeo's ``transforms``): callables from a sample dict to a sample
dict, given to :class:`~xgeo.torch.ChipDataset` as ``transforms=``."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ChipError, MissingBandError

__all__ = ["Indices", "Normalize"]


class Normalize:
    """Sample transform: ``(image - mean) / std`` per channel, from :func:`band_stats`.

    A model trained on such samples sees each band's coding error divided by its ``std``:
    store the cube with ``band_weights=list(1 / stats["std"])`` (xgeo-codecs) to give every
    band the same error in those units."""

    def __init__(self, stats: dict[str, Any]) -> None:
        self.mean = torch.as_tensor(stats["mean"], dtype=torch.float32)
        self.std = torch.as_tensor(
            np.where(stats["std"] > 0, stats["std"], 1.0), dtype=torch.float32
        )
        self.bands = list(stats["bands"])

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        if list(sample["bands"]) != self.bands[: len(sample["bands"])]:
            raise ChipError(f"stats are for bands {self.bands}, the sample has {sample['bands']}")
        image = sample["image"].to(torch.float32)
        n = image.shape[-3]
        shape = (n, 1, 1)
        sample["image"] = (image - self.mean[:n].reshape(shape)) / self.std[:n].reshape(shape)
        return sample


class Indices:
    """Sample transform appending spectral-index channels, computed by one fused numba kernel
    (CPU tensors) or by torch operations on the image's device (CUDA batches of
    ``ChipDataset(device="cuda")``), from the same formulas.

    Parameters
    ----------
    names
        Index names from the catalog (``["NDVI", "NDWI"]``).
    sensor, bands, constants
        As in :func:`xgeo.indices.compute_indices`: how channel labels map to catalog symbols.

    Examples
    --------
    >>> import xgeo
    >>> from xgeo.torch import ChipDataset, Indices
    >>> ds = ChipDataset(xgeo.datasets.sentinel2_cube(), size=32, variable="reflectance",
    ...                  transforms=Indices(["NDVI"]))
    >>> ds[0]["image"].shape[0], ds[0]["bands"][-1]
    (14, 'NDVI')
    """

    def __init__(
        self,
        names: Sequence[str],
        *,
        sensor: str | None = None,
        bands: dict[str, Hashable] | None = None,
        constants: dict[str, Any] | None = None,
    ) -> None:
        from ..indices.core import index_bands

        self.names = list(names)
        self.sensor = sensor
        self.bands = bands
        self.constants = constants
        self.needed = sorted({s for n in self.names for s in index_bands(n)})
        self._mapping: dict[tuple, dict[str, int]] = {}

    def _symbols(self, labels: list[Hashable]) -> dict[str, int]:
        key = tuple(labels)
        mapping = self._mapping.get(key)
        if mapping is None:
            from ..indices.sensors import resolve_bands

            found, _ = resolve_bands(
                list(labels), sensor=self.sensor, bands=self.bands, needed=self.needed
            )
            missing = [s for s in self.needed if s not in found]
            if missing:
                raise MissingBandError(
                    f"indices {self.names} need bands {missing}; channels are {list(labels)}"
                )
            mapping = self._mapping[key] = {s: list(labels).index(found[s]) for s in self.needed}
        return mapping

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        image = sample["image"]
        mapping = self._symbols(sample["bands"])
        if image.device.type == "cpu":
            extra = self._on_cpu(image, mapping)
        else:  # a device batch (ChipDataset(device="cuda")) stays on its device
            extra = self._on_device(image, mapping)
        sample["image"] = torch.cat([image.to(extra.dtype), extra], dim=-3)
        sample["bands"] = list(sample["bands"]) + self.names
        return sample

    def _on_cpu(self, image: torch.Tensor, mapping: dict[str, int]) -> torch.Tensor:
        """The index channels by the fused numba kernel."""
        from ..indices import evaluate

        values = (
            image.numpy() if image.dtype.is_floating_point else image.numpy().astype(np.float32)
        )
        inputs = {s: np.ascontiguousarray(values[..., k, :, :]) for s, k in mapping.items()}
        results = evaluate(inputs, self.names, constants=self.constants)
        return torch.from_numpy(np.stack([results[n] for n in self.names], axis=-3))

    def _on_device(self, image: torch.Tensor, mapping: dict[str, int]) -> torch.Tensor:
        """The index channels by torch operations on the image's device
        (:func:`xgeo.indices.tensor.evaluate_tensors`, the same formulas and rules)."""
        from ..indices.core import build_plan
        from ..indices.tensor import evaluate_tensors

        plan = build_plan(list(dict.fromkeys(self.names)), constants=self.constants)
        values = image if image.dtype.is_floating_point else image.to(torch.float32)
        n = len(plan.symbols)
        out = evaluate_tensors(plan, [values[..., mapping[s], :, :] for s in plan.symbols],
                               [1.0] * n, [0.0] * n, [float("nan")] * n)
        return out[[plan.names.index(name) for name in self.names]].movedim(0, -3)
