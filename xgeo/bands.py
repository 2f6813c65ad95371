"""One view of the band layouts users bring: a DataArray with a ``band`` dim.

Layouts accepted everywhere in xgeo:

* a DataArray with a ``band`` dimension labelled by band names;
* a Dataset with one variable per band (``B04``, ``B08``, ...);
* a Dataset holding such a DataArray among other variables (like the bundled
  sample's ``reflectance``), found automatically when it is the only one with a
  ``band`` dim, else named with ``variable=``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import pandas as pd
import xarray as xr

from .crs import find_spatial_dims
from .errors import BandMappingError, ChannelError, GridError, MissingBandError

__all__ = ["BAND_DIM", "band_array", "band_sources", "select_bands"]

BAND_DIM = "band"


def band_array(
    obj: xr.DataArray | xr.Dataset,
    *,
    variable: Hashable | None = None,
    variables: Sequence[Hashable] | None = None,
    bands: Sequence[Hashable] | None = None,
) -> xr.DataArray:
    """Return the object's bands as one DataArray with a ``band`` dim (lazy if the input is).

    Parameters
    ----------
    variable
        In a Dataset, the variable that holds a ``band`` dim.
    variables
        In a Dataset, the variables to use as bands, in order; a variable with a ``band`` dim
        gives all its bands (channels are the concatenation, in order).
    bands
        Band labels to keep, in order.

    Raises
    ------
    BandMappingError
        If a Dataset has several band-dimensioned variables and none was chosen;
        :class:`~xgeo.errors.ChannelError` (also a ``ChipError``) if both ``variable`` and
        ``variables`` are given, or the variables stacked share band labels.
    MissingBandError
        If a requested variable or band is absent; the message lists those present.
    GridError
        If the variables to stack do not share dims (different grids).

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> band_array(ds, bands=["B04", "B08"]).dims
    ('time', 'band', 'y', 'x')
    >>> band_array(ds[["ndvi", "cloud_probability"]]).band.values.tolist()
    ['ndvi', 'cloud_probability']
    """
    if variable is not None and variables is not None:
        raise ChannelError(
            "give variable= (one variable, with or without a band dim) or variables= (several, "
            "their bands stacked in order), not both"
        )
    if isinstance(obj, xr.DataArray):
        arr = (
            obj
            if BAND_DIM in obj.dims
            else obj.expand_dims({BAND_DIM: [obj.name or "band_1"]}, axis=-3)
        )
        return select_bands(arr, bands)
    if variable is not None:
        if variable not in obj.data_vars:
            raise MissingBandError(
                f"variable {variable!r} not in the Dataset; variables: {sorted(map(str, obj.data_vars))}"
            )
        return band_array(obj[variable], bands=bands)
    if variables is None:
        banded = [name for name, var in obj.data_vars.items() if BAND_DIM in var.dims]
        if len(banded) == 1:
            return band_array(obj[banded[0]], bands=bands)
        if len(banded) > 1:
            raise BandMappingError(
                f"several variables have a {BAND_DIM!r} dim: {sorted(map(str, banded))}; choose one with variable="
            )
        y_dim, x_dim = find_spatial_dims(obj)
        variables = [n for n, v in obj.data_vars.items() if y_dim in v.dims and x_dim in v.dims]
        if bands is not None:
            variables = list(bands)
            bands = None
    missing = [v for v in variables if v not in obj.data_vars]
    if missing:
        raise MissingBandError(
            f"band variable(s) {missing} not found; variables present: {sorted(map(str, obj.data_vars))}"
        )
    if not variables:
        raise MissingBandError("the Dataset has no variable with spatial dims to use as bands")
    if any(BAND_DIM in obj[v].dims for v in variables):
        return select_bands(_stack_banded(obj, list(variables), bands), bands)
    dims = {obj[v].dims for v in variables}
    if len(dims) > 1:
        desc = ", ".join(f"{v}{obj[v].dims}" for v in variables)
        raise GridError(
            f"band variables do not share dims ({desc}); select variables on one grid or reproject first"
        )
    arrays = [obj[v].variable for v in variables]
    stacked = xr.Variable.concat(arrays, dim=BAND_DIM)
    coords = {k: c for k, c in obj[variables[0]].coords.items()}
    arr = xr.DataArray(stacked, coords=coords).assign_coords(
        {BAND_DIM: pd.Index(list(variables), name=BAND_DIM)}
    )
    order = [d for d in obj[variables[0]].dims if d not in find_spatial_dims(obj)]
    arr = arr.transpose(*order, BAND_DIM, *find_spatial_dims(obj))
    arr.encoding = dict(obj[variables[0]].encoding)
    return arr


def band_sources(
    obj: xr.Dataset, variables: Sequence[Hashable]
) -> list[tuple[Hashable, Hashable, int | None]]:
    """``(label, variable, position along its band dim or None)`` of each channel that stacking
    ``variables`` makes, in order. A variable without a band dim is one channel labelled by its
    name; band labels that several variables share (in one Dataset, variables with a band dim
    share its labels) become ``"variable:label"``.

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> sources = band_sources(ds.assign(again=ds.reflectance), ["reflectance", "again", "ndvi"])
    >>> sources[12:14], sources[-1]
    ([('reflectance:B12', 'reflectance', 12), ('again:B01', 'again', 0)], ('ndvi', 'ndvi', None))
    """
    plain = []
    for v in variables:
        if BAND_DIM in obj[v].dims:
            labels = obj[v][BAND_DIM].values.tolist()
            plain += [(b, v, k) for k, b in enumerate(labels)]
        else:
            plain.append((v, v, None))
    names = [b for b, _, _ in plain]
    if len(set(names)) == len(names):
        return plain
    return [(b if k is None else f"{v}:{b}", v, k) for b, v, k in plain]


def _stack_banded(
    obj: xr.Dataset, variables: list[Hashable], bands: Sequence[Hashable] | None
) -> xr.DataArray:
    """The bands of ``variables`` (some with a band dim) concatenated in order."""
    sources = band_sources(obj, variables)
    labels = [b for b, _, _ in sources]
    if len(set(labels)) < len(labels):
        raise ChannelError(
            f"variables {[str(v) for v in variables]} repeat a channel: give each variable once, "
            "or one with variable= (and bands= to pick its bands)"
        )
    shared = [b for b in bands or () if b not in labels and any(
        k is not None and f"{v}:{b}" in labels for _, v, k in sources)]
    if shared:
        raise ChannelError(
            f"band(s) {shared} are in several of the variables {[str(v) for v in variables]}: "
            f"in bands= name them as 'variable:band' (channels are {labels}), or choose one "
            "variable with variable="
        )
    arrays = [band_array(obj[v]) for v in variables]
    spatial = find_spatial_dims(obj)
    order = [d for d in arrays[0].dims if d not in (BAND_DIM, *spatial)]
    dims = {tuple(sorted(map(str, a.dims))) for a in arrays}
    if len(dims) > 1:
        desc = ", ".join(f"{v}{obj[v].dims}" for v in variables)
        raise GridError(
            f"band variables do not share dims ({desc}); select variables on one grid or reproject first"
        )
    # per-band coordinates (wavelength, ...) that only some variables carry are dropped
    along = [{k for k, c in a.coords.items() if BAND_DIM in c.dims and k != BAND_DIM} for a in arrays]
    shared = set.intersection(*along)
    arrays = [a.drop_vars(list(own - shared)).transpose(*order, BAND_DIM, *spatial)
              for a, own in zip(arrays, along, strict=True)]
    arr = xr.concat(arrays, dim=BAND_DIM, coords="minimal", compat="override", join="override")
    arr = arr.assign_coords({BAND_DIM: pd.Index(labels, name=BAND_DIM)})
    arr.encoding = dict(arrays[0].encoding)
    arr.name = None
    return arr


def select_bands(arr: xr.DataArray, bands: Sequence[Hashable] | None) -> xr.DataArray:
    """``arr`` restricted to ``bands`` (labels, in order); MissingBandError names absent ones."""
    if bands is None:
        return arr
    present = (
        [b.item() if hasattr(b, "item") else b for b in arr[BAND_DIM].values]
        if BAND_DIM in arr.coords
        else []
    )
    missing = [b for b in bands if b not in present]
    if missing:
        raise MissingBandError(f"band(s) {missing} not found; bands present: {present}")
    return arr.sel({BAND_DIM: list(bands)})
