"""What a chip dataset reads, found once from its source: the channels and where they live,
the storage chunking, and label and mask rasters put on the chips' grid.

Plain functions of an xarray object (no torch, no pixels read except a label or mask that
must be reprojected); :class:`xgeo.torch.ChipDataset` calls them when it is made and keeps
their small, picklable results for its workers.

Examples
--------
>>> import numpy as np, xarray as xr
>>> ds = xr.Dataset({"refl": (("band", "y", "x"), np.zeros((3, 4, 4), "uint16"))},
...                 coords={"band": ["B02", "B03", "B04"]})
>>> [(c.variable, c.band_index) for c in channels_of(ds, ["B02", "B04"], variable="refl")]
[('refl', (0, 2))]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ._chunkread import Channel, cf_decoding
from .bands import BAND_DIM, band_sources
from .crs import find_spatial_dims, read_grid
from .errors import ChipError
from .grid import Grid
from .storechunks import storage_chunks
from .validity import TIME_DIM


def band_labels(var: xr.DataArray) -> list[Hashable]:
    """The labels of ``var``'s band coordinate, as plain Python values.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> band_labels(xr.DataArray(np.zeros(2), dims="band", coords={"band": ["B04", "B08"]}))
    ['B04', 'B08']
    """
    return [b.item() if hasattr(b, "item") else b for b in var[BAND_DIM].values]


def channels_of(obj: xr.Dataset | xr.DataArray, labels: Sequence[Hashable],
                variable: Hashable | None = None, variables: Sequence[Hashable] | None = None,
                bands: Sequence[Hashable] | None = None, stored: bool = True
                ) -> list[Channel]:
    """Where the channels ``labels`` live in ``obj`` (as :func:`~xgeo.bands.band_array`
    found them): each run of consecutive channels from one variable is one
    :class:`~xgeo._chunkread.Channel`. ``variable``/``variables``/``bands``: the chip
    keywords that chose them (``bands`` is already in ``labels``); ``stored``: the reads are
    of the stored chunks (a Zarr store), which the channels' CF decoding turns into values
    (see :func:`~xgeo._chunkread.cf_decoding`)."""
    if isinstance(obj, xr.DataArray):
        variable = obj.name or "data"
        obj = obj.to_dataset(name=variable)
    if variable is not None:  # unbanded: one channel, band_1 for a nameless array
        where = ({label: (variable, k) for k, label in enumerate(band_labels(obj[variable]))}
                 if BAND_DIM in obj[variable].dims else {labels[0]: (variable, None)})
    else:
        banded = [n for n, v in obj.data_vars.items() if BAND_DIM in v.dims]
        if variables is None:
            variables = banded if len(banded) == 1 else list(labels)
        where = {label: (name, k) for label, name, k in band_sources(obj, variables)}
    runs: list[tuple[Hashable, list[int] | None]] = []
    for label in labels:
        name, k = where[label]
        if runs and k is not None and runs[-1][0] == name and runs[-1][1] is not None:
            runs[-1][1].append(k)
        else:
            runs.append((name, None if k is None else [k]))
    return [Channel(str(name), tuple(map(str, obj[name].dims)),
                    None if ks is None else tuple(ks), *cf_decoding(obj[name], stored))
            for name, ks in runs]


def chunk_lengths(obj: xr.Dataset | xr.DataArray, variable: str) -> dict[str, int]:
    """The storage chunk length per dim of ``variable`` (for chunk-aware read order); dims
    without a known chunking are left out.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"v": (("time", "y", "x"), np.zeros((4, 6, 6)))}).chunk({"time": 2})
    >>> chunk_lengths(ds, "v")
    {'time': 2, 'y': 6, 'x': 6}
    """
    if isinstance(obj, xr.DataArray):
        obj = obj.to_dataset(name=obj.name or "data")
    var = obj[variable]
    out = {}
    for dim in var.dims:
        lengths = storage_chunks(var, dim)
        if lengths:
            out[str(dim)] = int(lengths[0])
    return out


def aligned_raster(obj: Any, raster: xr.DataArray | str, target: Grid,
                   times: np.ndarray | None) -> np.ndarray:
    """``raster`` (a DataArray, or the name of a variable of ``obj``) as an array on
    ``target``, reprojected (nearest) when its grid differs, dims ``[time, ...,] y, x``."""
    if isinstance(raster, str):
        if not isinstance(obj, xr.Dataset) or raster not in obj.data_vars:
            raise ChipError(f"label {raster!r} is not a variable of the source")
        raster = obj[raster]
    grid = read_grid(raster)
    if not grid.almost_equal(target):
        if grid.crs is None or target.crs is None:
            raise ChipError(
                "the label's grid differs from the source's and one of them has no CRS, so it "
                "cannot be aligned; set both CRSs (.geo.set_crs) or give a label on the same grid")
        from .reproject import reproject

        raster = reproject(raster, grid=target, resampling="nearest")
    y, x = find_spatial_dims(raster)
    # a length-1 dim other than time (a single-band GeoTIFF's band) is not a time axis
    raster = raster.squeeze([d for d in raster.dims
                             if d not in (y, x, TIME_DIM) and raster.sizes[d] == 1])
    other = [d for d in raster.dims if d not in (y, x)]
    if TIME_DIM in other and times is not None:
        other = [TIME_DIM] + [d for d in other if d != TIME_DIM]
        raster = _on_times(raster, times)
    elif other and times is not None and len(other) == 1 and raster.sizes[other[0]] != len(times):
        raise ChipError(f"the label/mask has a {other[0]!r} dim of {raster.sizes[other[0]]} "
                        f"steps, not one per date of the source ({len(times)}): give (y, x) or "
                        "(time, y, x) on the source's dates")
    return _stored_classes(raster.transpose(*other, y, x))


def _on_times(raster: xr.DataArray, times: np.ndarray) -> xr.DataArray:
    """``raster`` on the source's dates, matched by date (they were matched by position: a
    label with the dates reversed labelled 32 of 80 chips with another date's classes)."""
    if TIME_DIM not in raster.coords:
        if raster.sizes[TIME_DIM] != len(times):
            raise ChipError(f"the label/mask has {raster.sizes[TIME_DIM]} time steps and no "
                            f"dates, the source {len(times)}: give one step per date")
        return raster
    have = raster[TIME_DIM].values
    missing = np.setdiff1d(times, have)
    if missing.size:
        raise ChipError(f"the label/mask has no step for {missing.size} date(s) of the source "
                        f"(e.g. {missing[:3]}): give one step per date of the source")
    return raster if np.array_equal(have, times) else raster.sel({TIME_DIM: times})


def _stored_classes(raster: xr.DataArray) -> np.ndarray:
    """The raster's values; integer classes that xarray decoded to float with NaN for their
    ``_FillValue`` (a class map read from a store) as the stored integers again (their NaN
    became -2**63 under ``.long()``)."""
    values = np.asarray(raster.values)
    stored = raster.encoding.get("dtype")
    fill = raster.encoding.get("_FillValue")
    if (values.dtype.kind == "f" and stored is not None and np.dtype(stored).kind in "iu"
            and "scale_factor" not in raster.encoding and "add_offset" not in raster.encoding):
        holes = np.isnan(values)
        if not holes.any() or fill is not None:
            values = np.where(holes, fill if fill is not None else 0, values)
            return values.astype(np.dtype(stored))
    return values


def aligned_mask(obj: Any, mask: xr.DataArray | str, target: Grid,
                 times: np.ndarray | None) -> np.ndarray:
    """The user mask (True = masked, see :func:`xgeo.masks.as_mask`) on ``target``: (y, x)
    or one (y, x) per time step of the source."""
    from .masks import as_mask

    raster = aligned_raster(obj, as_mask(obj, mask).astype(np.uint8), target, times) != 0
    n = 0 if times is None else len(times)
    if raster.ndim > 2 and raster.shape[0] != n:
        raise ChipError(f"the mask has shape {raster.shape}, not (y, x) nor one step per time "
                        f"of the source ({n})")
    return raster
