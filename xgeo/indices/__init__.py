"""Spectral indices: the Awesome Spectral Indices catalog, compiled to fused numba kernels.

``compute_index`` / ``compute_indices`` work on xarray objects (NumPy eager and multi-threaded,
dask lazy with chunks kept), ``evaluate`` on plain NumPy arrays keyed by band symbol.

Semantics: outputs are float32 by default; a denominator of exactly zero gives NaN (never inf,
never an epsilon), as does any other infinite result; NaN and nodata inputs give NaN in the
indices that read them. The five kernel indices (kEVI, kIPVI, kNDVI, kRVI, kVARI) are computed
with their kernel step: ``kNR`` is k(N, R) for the RBF kernel (default; ``sigma`` constant,
catalog default 0.5, or a per-pixel formula such as ``sigma="0.5 * (N + R)"``), or with
``kernel="linear"`` / ``"poly"`` (``p``, ``c``).

The catalog is Awesome Spectral Indices (MIT), see :func:`catalog_source`.
"""

from .api import available_indices, compute_index, compute_indices, sensors
from .catalog import SpectralIndex, catalog, catalog_source, constants, get_index
from .core import KERNELS, evaluate
from .sensors import get_preset, presets

__all__ = [
    "KERNELS",
    "SpectralIndex",
    "available_indices",
    "catalog",
    "catalog_source",
    "compute_index",
    "compute_indices",
    "constants",
    "evaluate",
    "get_index",
    "get_preset",
    "presets",
    "sensors",
]
