"""Categorical or continuous: the per-variable decision behind resampling and compression.

A *categorical* variable holds codes (land-cover classes, scene classification, cloud and
validity masks, QA bits): a value between two codes means nothing, so reprojection picks
source values (``nearest``, or ``mode`` when the output pixel covers at least two source
pixels) and compression keeps every value (lossless). A *continuous* variable holds
measurements (reflectance, NDVI, elevation, probabilities): it is interpolated with the
``resampling=`` asked for and may be coded lossily.

The rule, first match wins (:func:`is_categorical`, :func:`categorical_variables`):

1. **Override.** ``categorical=`` wherever it is accepted (``reproject``, ``to_zarr``,
   ``video_encoding``, ``compress_dataset``, the CLI's ``--categorical NAME`` /
   ``--continuous NAME``): a list of names means exactly those variables are categorical
   and all others continuous (``[]``: none); a mapping ``{name: True/False}`` sets those
   variables and leaves the rest to the rule; ``True`` / ``False`` sets every variable.
2. **CF flags.** ``flag_values``, ``flag_masks`` or ``flag_meanings`` in the attributes:
   categorical, whatever the dtype.
3. **dtype.** Booleans and text are categorical; floats, complex numbers and datetimes are
   continuous. A float variable *stored* as integers without packing (``encoding["dtype"]``
   an integer, no ``scale_factor``/``add_offset``: xarray decodes integers with a
   ``_FillValue`` to float with NaN) is judged as an integer. Packed integers
   (``scale_factor`` other than 1 or ``add_offset`` other than 0) are measurements:
   continuous.
4. **Integers: measured** on a bounded sample (at most :data:`SAMPLE_PLANES` planes of the
   non-spatial dims, spread evenly, and in each a 3 x 3 grid of windows of at most 85 x 85
   pixels; a dask array reads only the chunks under them), nodata (``_FillValue``,
   ``missing_value``, ``nodata``) and NaN left out:

   * at most two distinct values: categorical (a mask);
   * *few values*: at most :data:`MAX_CLASSES` distinct values and at least
     :data:`MIN_PIXELS_PER_CLASS` sample pixels per value;
   * *piecewise constant*: at least :data:`MIN_EQUAL_NEIGHBOURS` of the 4-neighbour pixel
     pairs are equal;
   * *not a ramp*: of the unequal neighbour pairs, fewer than :data:`MAX_RAMP_STEPS` differ
     by the smallest step present, or the sample holds fewer than :data:`MIN_RAMP_LEVELS`
     values. A quantised smooth field (angles, elevations in whole metres) is piecewise
     constant too, but its levels only ever meet their next level; class boundaries join
     arbitrary codes — except in a map of a few consecutive codes (one SCL scene of clouds
     holds 7-11), which cannot be told from a ramp of a few levels: both are kept exact.

   Categorical when few values, piecewise constant and not a ramp. A **name** that reads
   like class data (:data:`NAME_HINTS`: ``lulc``, ``landcover``, ``SCL``, ``mask``,
   ``QA*``, ``class*``, ``label*``, ``flag*``, ``seg*``, ``is_*``, case-insensitive, whole
   words of the name) is supporting evidence: the bar drops to
   :data:`HINT_EQUAL_NEIGHBOURS` equal pairs, and the count of values is not limited (an id
   map has thousands); it still has to be not a ramp. With fewer than
   :data:`MIN_PAIRS` measurable neighbour pairs the name alone decides.

Why these numbers: on the real rasters in the test data, class maps have 92-98 % equal
neighbours (eo-learn LULC 92.5 %, Sentinel-2 SCL 93-98 %, cloud and validity masks 99 %),
imagery stored as integers 0.2-31 % (Landsat, aerial RGB, GOES, Sentinel-2 L2A DN,
MODIS); the solar-zenith-angle grid of a Landsat scene (int32, 279 levels) has 83 % equal
neighbours but 99 % of its steps are the smallest one, where LULC has 55 % and SCL
6-49 %. 256 classes cover every common land-cover legend (CORINE 44, ESA WorldCover 11,
NLCD 20, the US Cropland Data Layer's 8-bit codes). The decision is a default, not a
guarantee: pass ``categorical=`` when you know better, and read the ``reason`` of each
:class:`Decision` (it is also logged, at INFO on the ``xgeo`` logger, by the operations
that act on it).

Examples
--------
>>> import xgeo
>>> ds = xgeo.datasets.sentinel2_cube()
>>> {name: d.categorical for name, d in categorical_variables(ds).items()}  # doctest: +NORMALIZE_WHITESPACE
{'reflectance': False, 'ndvi': False, 'cloud_probability': False, 'cloud_mask': True,
 'is_data': True, 'cloud_coverage': False, 'dem': False, 'lulc': True}
>>> print(categorical_variables(ds)["lulc"])  # doctest: +NORMALIZE_WHITESPACE
categorical (integer codes: 6 distinct values, 93 % of neighbouring pixels equal,
55 % of the changes the smallest step; the name matches 'lulc')
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import xarray as xr

from .errors import CategoricalError, GridError

__all__ = [
    "Decision",
    "Measurement",
    "is_categorical",
    "categorical_variables",
    "measure",
    "name_hint",
    "CategoricalSpec",
    "MAX_CLASSES",
    "MIN_PIXELS_PER_CLASS",
    "MIN_EQUAL_NEIGHBOURS",
    "HINT_EQUAL_NEIGHBOURS",
    "MAX_RAMP_STEPS",
    "MIN_RAMP_LEVELS",
    "MIN_PAIRS",
    "SAMPLE_PLANES",
    "NAME_HINTS",
]

MAX_CLASSES = 256
"""Most distinct values a variable may have to count as classes without a name hint."""
MIN_PIXELS_PER_CLASS = 16
"""Sample pixels per distinct value at least (a 4 x 4 patch each), without a name hint."""
MIN_EQUAL_NEIGHBOURS = 0.5
"""Share of equal 4-neighbour pairs at least, for piecewise-constant data."""
HINT_EQUAL_NEIGHBOURS = 0.3
"""The same share when the name reads like class data."""
MAX_RAMP_STEPS = 0.9
"""Share of the unequal neighbour pairs differing by the smallest step, below which the data
are not a quantised ramp."""
MIN_RAMP_LEVELS = 16
"""Fewest distinct values in the sample for the ramp test to call data a quantised ramp: with
fewer, a ramp cannot be told from a class map whose neighbouring classes have consecutive
codes (a Sentinel-2 SCL scene of clouds and snow holds 7-11 and changes mostly by 1), and
keeping so few values exact costs little."""
MIN_PAIRS = 16
"""Fewest measurable neighbour pairs for the measurement to decide."""
SAMPLE_PLANES = 4
"""Planes (of the non-spatial dims) sampled at most."""
_WINDOW = 85  # window edge; 3 x 3 windows: at most 65,025 pixels per plane
_GRID = 3

NAME_HINTS = ("lulc", "landcover", "land_cover", "scl", "mask", "qa*", "class*",
              "label*", "flag*", "seg*", "category", "categories", "is_*")
"""Words of a variable name that suggest class data (``*``: any ending; ``is_*``: the name
starts with ``is_``)."""

CategoricalSpec = None | bool | str | Iterable[Hashable] | Mapping[Hashable, Any]
"""What ``categorical=`` accepts: None (decide every variable), True/False (all / none),
a name or a list of names (exactly these), or ``{name: bool}`` (these; the rest decided)."""


@dataclass(frozen=True)
class Decision:
    """Whether a variable is categorical, and why (one line, for logs and reports)."""

    categorical: bool
    reason: str

    @property
    def kind(self) -> str:
        """``"categorical"`` or ``"continuous"``."""
        return "categorical" if self.categorical else "continuous"

    def __str__(self) -> str:
        return f"{self.kind} ({self.reason})"


@dataclass(frozen=True)
class Measurement:
    """What :func:`measure` found in a variable's sample."""

    pixels: int  # valid sample pixels
    distinct: int  # distinct valid values
    pairs: int  # 4-neighbour pairs with both pixels valid
    equal: float  # share of those pairs that are equal (nan without pairs)
    ramp: float  # share of the unequal pairs differing by the smallest step (nan if none)


def name_hint(name: Any) -> str | None:
    """The :data:`NAME_HINTS` word a variable name matches, or None.

    Examples
    --------
    >>> name_hint("cloud_mask"), name_hint("QA_PIXEL"), name_hint("masked_reflectance")
    ('mask', 'qa*', None)
    """
    if name is None:
        return None
    text = str(name)
    lowered = text.lower()
    if lowered.startswith("is_"):
        return "is_*"
    # words: split on non-alphanumerics and camelCase boundaries
    words = [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", text)]
    words += [w for w in re.split(r"[^0-9a-z]+", lowered) if w]
    for hint in NAME_HINTS:
        if hint == "is_*":
            continue
        if hint.endswith("*"):
            if any(w.startswith(hint[:-1]) for w in words):
                return hint
        elif hint in words or hint == lowered:
            return hint
    return None


def _spatial_axes(var: xr.DataArray) -> tuple[Hashable, Hashable] | None:
    if var.ndim < 2:
        return None
    try:
        return _find_spatial_dims(var)
    except GridError:
        return var.dims[-2], var.dims[-1]


def _find_spatial_dims(var: xr.DataArray) -> tuple[Hashable, Hashable]:
    from .crs import find_spatial_dims

    return find_spatial_dims(var)


def _nodata_values(var: xr.DataArray) -> list[float]:
    values = []
    for holder in (var.attrs, var.encoding):
        for key in ("_FillValue", "missing_value", "nodata"):
            v = holder.get(key)
            if v is not None and np.ndim(v) == 0:
                try:
                    values.append(float(v))
                except (TypeError, ValueError):
                    continue
    return values


def _sample(var: xr.DataArray) -> list[np.ndarray]:
    """Bounded 2-D pieces of ``var``: a 3 x 3 grid of windows in up to SAMPLE_PLANES planes."""
    axes = _spatial_axes(var)
    if axes is None:
        flat = var.data.reshape(-1)[: _WINDOW * _WINDOW * _GRID * _GRID]
        return [np.asarray(_compute([flat])[0]).reshape(1, -1)]
    y_dim, x_dim = axes
    lead = [d for d in var.dims if d not in axes]
    moved = var.transpose(*lead, y_dim, x_dim)
    n_planes = math.prod(moved.shape[:-2])
    picks = sorted({int(round(k)) for k in np.linspace(0, n_planes - 1, min(SAMPLE_PLANES,
                                                                             n_planes))})
    h, w = moved.shape[-2:]
    if h * w <= (_WINDOW * _GRID) ** 2:
        rows, cols = [slice(0, h)], [slice(0, w)]
    else:
        rows = _windows(h)
        cols = _windows(w)
    pieces = []
    for p in picks:
        index = np.unravel_index(p, moved.shape[:-2]) if lead else ()
        plane = moved.data[tuple(int(i) for i in index)]
        for r, c in product(rows, cols):
            pieces.append(plane[r, c])
    return [np.asarray(a) for a in _compute(pieces)]


def _windows(n: int) -> list[slice]:
    """Up to three windows of at most _WINDOW pixels, centred in the thirds of ``n``."""
    size = min(_WINDOW, max(1, n // _GRID))
    starts: list[int] = []
    for k in range(_GRID):
        centre = (2 * k + 1) * n // (2 * _GRID)
        start = min(max(0, centre - size // 2), n - size)
        if start not in starts:  # tiny axes: the same window once
            starts.append(start)
    return [slice(s, s + size) for s in starts]


def _compute(pieces: list[Any]) -> list[Any]:
    if any(type(p).__module__.startswith("dask.") for p in pieces):
        import dask

        return list(dask.compute(*pieces))
    return [np.asarray(p) for p in pieces]


def measure(var: xr.DataArray) -> Measurement:
    """Distinct values and 4-neighbour structure of a bounded sample of ``var``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> labels = xr.DataArray(np.repeat(np.arange(4, dtype="uint8"), 25).reshape(10, 10),
    ...                       dims=("y", "x"))
    >>> m = measure(labels)
    >>> m.distinct, round(m.equal, 2)
    (4, 0.82)
    """
    nodata = _nodata_values(var)
    pixels = 0
    values: set[Any] = set()
    pairs = equal = 0
    diffs = []
    for piece in _sample(var):
        a = piece.astype(np.float64) if piece.dtype.kind not in "iub" else piece
        valid = np.ones(a.shape, bool)
        if a.dtype.kind == "f":
            valid &= ~np.isnan(a)
        for v in nodata:
            if not math.isnan(v):
                valid &= a != v
        pixels += int(valid.sum())
        values.update(np.unique(a[valid]).tolist())
        for axis in (0, 1) if a.ndim == 2 else (a.ndim - 1,):
            if a.shape[axis] < 2:
                continue
            first = [slice(None)] * a.ndim
            second = [slice(None)] * a.ndim
            first[axis] = slice(0, -1)
            second[axis] = slice(1, None)
            both = valid[tuple(first)] & valid[tuple(second)]
            d = np.abs(a[tuple(second)].astype(np.float64) - a[tuple(first)].astype(np.float64))[both]
            pairs += d.size
            equal += int((d == 0).sum())
            diffs.append(d[d != 0])
    changes = np.concatenate(diffs) if diffs else np.empty(0)
    ramp = float(np.mean(changes == changes.min())) if changes.size else math.nan
    return Measurement(pixels, len(values), pairs, equal / pairs if pairs else math.nan, ramp)


def _stored_dtype(var: xr.DataArray) -> np.dtype:
    """The dtype the values are stored in: an unpacked integer encoding counts as integer."""
    enc = var.encoding
    stored = enc.get("dtype")
    if (var.dtype.kind == "f" and stored is not None and np.dtype(stored).kind in "iu"
            and "scale_factor" not in enc and "add_offset" not in enc):
        return np.dtype(stored)
    return var.dtype


def _packed(var: xr.DataArray) -> bool:
    """CF packing other than the identity (rioxarray writes scale 1 / offset 0 everywhere)."""
    for holder in (var.attrs, var.encoding):
        for key, identity in (("scale_factor", 1.0), ("add_offset", 0.0)):
            value = holder.get(key)
            if value is None:
                continue
            try:
                if float(np.asarray(value, dtype=float).ravel()[0]) != identity:
                    return True
            except (TypeError, ValueError, IndexError):
                return True  # an unreadable packing attribute: not plain codes either
    return False


def is_categorical(var: xr.DataArray) -> Decision:
    """Decide, by the module's rule (steps 2-4), whether ``var`` is categorical.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> is_categorical(xr.DataArray(np.zeros((4, 4), bool), dims=("y", "x"))).categorical
    True
    >>> is_categorical(xr.DataArray(np.zeros((4, 4)), dims=("y", "x"))).reason
    'float64 values are measurements'
    """
    flags = [k for k in ("flag_values", "flag_masks", "flag_meanings") if k in var.attrs]
    if flags:
        return Decision(True, f"CF {flags[0]} attribute")
    stored = _stored_dtype(var)
    kind = stored.kind
    if kind == "b":
        return Decision(True, "boolean values")
    if kind in "OUS":
        return Decision(True, f"{stored} values are labels")
    if kind not in "iu":
        return Decision(False, f"{stored} values are measurements")
    if _packed(var):
        return Decision(False, "packed integers (scale_factor/add_offset) are measurements")
    hint = name_hint(var.name)
    m = measure(var)
    word = f"the name matches {hint!r}" if hint else ""
    if m.pixels == 0:
        return Decision(bool(hint), "no valid pixel in the sample; " + (
            word if hint else "integer values taken as measurements"))
    if m.distinct == 1:
        return Decision(True, "a single integer value in the sample: kept exact, which costs "
                              "nothing")
    if m.distinct == 2:
        return Decision(True, "two integer values: a mask")
    if m.pairs < MIN_PAIRS:
        return Decision(bool(hint), f"too few neighbouring pixels to measure ({m.pairs}); " + (
            word if hint else "integer values taken as measurements"))
    ramp = (m.distinct >= MIN_RAMP_LEVELS and not math.isnan(m.ramp)
            and m.ramp >= MAX_RAMP_STEPS)
    facts = (f"{m.distinct} distinct values, {m.equal:.0%} of neighbouring pixels equal, "
             + (f"{m.ramp:.0%} of the changes the smallest step" if not math.isnan(m.ramp)
                else "no changes")).replace("%", " %")
    if hint:
        cat = m.equal >= HINT_EQUAL_NEIGHBOURS and not ramp
    else:
        few = m.distinct <= MAX_CLASSES and m.distinct * MIN_PIXELS_PER_CLASS <= m.pixels
        cat = few and m.equal >= MIN_EQUAL_NEIGHBOURS and not ramp
    if cat:
        return Decision(True, f"integer codes: {facts}" + (f"; {word}" if hint else ""))
    why = ("a quantised ramp" if ramp else
           "too many values" if not hint and m.distinct > MAX_CLASSES else
           "too few pixels per value" if not hint and m.distinct * MIN_PIXELS_PER_CLASS > m.pixels
           else "not piecewise constant")
    return Decision(False, f"integer measurements ({why}): {facts}"
                           + (f"; although {word}" if hint else ""))


def categorical_variables(
    ds: xr.Dataset | xr.DataArray,
    categorical: CategoricalSpec = None,
    *,
    variables: Iterable[Hashable] | None = None,
) -> dict[Hashable, Decision]:
    """The :class:`Decision` for each data variable of ``ds`` (or for ``variables``).

    Parameters
    ----------
    ds
        Dataset, or a DataArray (keyed by its name).
    categorical
        The override (see the module docstring): None, True/False, a name or list of names
        (exactly these are categorical), or ``{name: bool}`` (these; the rest measured).
        A value of a mapping may also be a :class:`Decision`, used as it is.
    variables
        Decide only these (default: every data variable).

    Raises
    ------
    CategoricalError
        If ``categorical=`` names a variable that is not in ``ds`` or has a wrong type.

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> out = categorical_variables(ds, {"lulc": False}, variables=["lulc", "cloud_mask"])
    >>> out["lulc"].categorical, out["cloud_mask"].categorical
    (False, True)
    >>> str(categorical_variables(ds, ["dem"], variables=["dem"])["dem"])
    'categorical (categorical= says so)'
    """
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name if ds.name is not None else "data")
    names = list(ds.data_vars) if variables is None else list(variables)
    explicit = _explicit(categorical, ds)
    every = isinstance(categorical, bool | np.bool_)
    listed = categorical is not None and not every and not isinstance(categorical, Mapping)
    out: dict[Hashable, Decision] = {}
    for name in names:
        if name in explicit:
            out[name] = explicit[name]
        elif every:
            out[name] = Decision(bool(categorical), f"categorical={bool(categorical)}")
        elif listed:
            out[name] = Decision(False, "not listed in categorical=")
        else:
            out[name] = is_categorical(ds[name])
    return out


def _explicit(categorical: CategoricalSpec, ds: xr.Dataset) -> dict[Hashable, Decision]:
    """The variables ``categorical=`` decides by name, checked against ``ds``."""
    if categorical is None or isinstance(categorical, bool | np.bool_):
        return {}
    if isinstance(categorical, str):
        categorical = [categorical]
    if isinstance(categorical, Mapping):
        items = list(categorical.items())
    elif isinstance(categorical, Iterable):
        items = [(name, True) for name in categorical]
    else:
        raise CategoricalError(
            f"categorical={categorical!r}: give a variable name, a list of names, a mapping "
            "{name: True/False}, True, False or None")
    out: dict[Hashable, Decision] = {}
    for name, value in items:
        if name not in ds.data_vars:
            raise CategoricalError(
                f"categorical= (--categorical/--continuous) names {name!r}, which is not a "
                f"data variable; variables: {sorted(map(str, ds.data_vars))}")
        if isinstance(value, Decision):
            out[name] = value
        elif isinstance(value, bool | np.bool_):
            out[name] = Decision(bool(value), "categorical= says so" if value else
                                 "categorical= says continuous")
        else:
            raise CategoricalError(
                f"categorical[{name!r}]={value!r}: the values of a categorical= mapping are "
                "True (categorical) or False (continuous)")
    return out
