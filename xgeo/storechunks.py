"""The chunking an array already has: its dask chunks, else the chunks of its storage.

Chips align to it (:func:`xgeo.chips.make_chips` with ``align_to_chunks``) and a chip dataset
orders its reads by it (:class:`xgeo.torch.ChunkAwareSampler`); both ask
:func:`storage_chunks`.

Examples
--------
>>> import numpy as np, xarray as xr
>>> arr = xr.DataArray(np.zeros((10, 4)), dims=("y", "x"))
>>> arr.encoding["preferred_chunks"] = {"y": 4}
>>> storage_chunks(arr, "y"), storage_chunks(arr, "x")
((4, 4, 2), None)
"""

from __future__ import annotations

from collections.abc import Hashable

import xarray as xr


def storage_chunks(arr: xr.DataArray, dim: Hashable) -> tuple[int, ...] | None:
    """The chunk lengths of ``arr`` along ``dim``.

    Its dask chunks when it has them; else the chunking of the store it was opened from (the
    backend's ``preferred_chunks``, then Zarr's ``chunks`` in its encoding); None when
    neither says (an in-memory array, contiguous storage).

    Parameters
    ----------
    arr
        The array.
    dim
        One of its dims.

    Returns
    -------
    tuple of int or None
        Lengths summing to ``arr.sizes[dim]`` (the last chunk may be short).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> storage_chunks(xr.DataArray(np.zeros(5), dims="t").chunk(2), "t")
    (2, 2, 1)
    """
    axis = arr.get_axis_num(dim)
    if arr.chunks:
        return tuple(int(c) for c in arr.chunks[axis])
    size = (arr.encoding.get("preferred_chunks") or {}).get(dim)
    if size is None and arr.encoding.get("chunks"):
        size = arr.encoding["chunks"][axis]
    if size is None:
        return None
    n = arr.sizes[dim]
    return tuple(min(int(size), n - s) for s in range(0, n, int(size)))
