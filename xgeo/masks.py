"""Quality masks as data: Sentinel-2 SCL classes, Landsat Collection-2 ``QA_PIXEL`` bits, Fmask.

Each decoder turns a quality band into a boolean DataArray that is **True where a pixel is
masked** (cloud, shadow, no data...), the polarity of every ``mask=`` argument in xgeo, so
the result goes straight into :func:`xgeo.io.to_zarr` (``ds.geo.to_zarr(mask=...)``),
:func:`xgeo.chips.make_chips` (``ds.geo.chips(min_valid=..., mask=...)``) and
:class:`xgeo.torch.ChipDataset` (``return_mask=``). Dims, coordinates and the grid mapping
are kept; on dask data the mask is lazy (one pass per block, nothing read until computed).

A quality band must be an integer type that can hold its codes (SCL 0..11, Fmask 0..255,
``QA_PIXEL`` 16 bits). A float band is accepted only when it was decoded by xarray from an
integer band (``encoding["dtype"]`` is such an integer type, as ``open_dataset`` leaves it
when it turns the ``_FillValue`` into NaN): NaN then means *no data* (SCL 0, Fmask 255,
``QA_PIXEL`` fill). Any other dtype, and any value outside the product's codes, raises
:class:`~xgeo.errors.QualityMaskError` naming the variable (on dask data: when computed).

Examples
--------
>>> import numpy as np, xarray as xr
>>> from xgeo import masks
>>> band = xr.DataArray(np.array([[4, 9], [3, 0]], dtype="uint8"), dims=("y", "x"), name="SCL")
>>> masks.scl(band).values.tolist()
[[False, True], [True, True]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import numpy as np
import xarray as xr

from .errors import QualityMaskError

__all__ = [
    "BAND_NAMES", "quality_band", "FMASK_CLASSES", "FMASK_INVALID", "QA_PIXEL_BITS", "QA_PIXEL_CONFIDENCE", "SCL_CLASSES",
    "SCL_INVALID", "as_mask", "fmask", "from_dataset", "qa_pixel", "scl",
]

#: Sentinel-2 L2A scene classification (ESA L2A product specification, SCL band).
SCL_CLASSES: dict[int, str] = {
    0: "no_data", 1: "saturated_defective", 2: "dark_area", 3: "cloud_shadow",
    4: "vegetation", 5: "not_vegetated", 6: "water", 7: "unclassified", 8: "cloud_medium",
    9: "cloud_high", 10: "thin_cirrus", 11: "snow",
}
#: SCL classes masked by default: no data, saturated/defective, cloud shadow, medium and
#: high probability cloud, thin cirrus (snow, water and dark areas are kept).
SCL_INVALID: tuple[int, ...] = (0, 1, 3, 8, 9, 10)

#: Fmask (CFMask) class values.
FMASK_CLASSES: dict[int, str] = {
    0: "clear_land", 1: "clear_water", 2: "cloud_shadow", 3: "snow", 4: "cloud", 255: "no_data",
}
#: Fmask classes masked by default: cloud shadow, cloud, no data (snow is kept).
FMASK_INVALID: tuple[int, ...] = (2, 4, 255)

#: Landsat Collection-2 ``QA_PIXEL`` single bits (USGS L8-9 C2 L2 Science Product Guide,
#: LSDS-1619; the Landsat 4-7 guide has the same layout with bit 2 unused). Bits 2-5 mean
#: *high confidence* cirrus, cloud, shadow, snow.
QA_PIXEL_BITS: dict[str, int] = {
    "fill": 0, "dilated_cloud": 1, "cirrus": 2, "cloud": 3, "shadow": 4, "snow": 5,
    "clear": 6, "water": 7,
}
#: First bit of each 2-bit confidence field: 0 none, 1 low, 2 medium, 3 high (shadow, snow
#: and cirrus never take 2: "reserved").
QA_PIXEL_CONFIDENCE: dict[str, int] = {"cloud": 8, "shadow": 10, "snow": 12, "cirrus": 14}

_LEVELS = {"low": 1, "medium": 2, "high": 3}
_QA_FLAGS = ("fill", "dilated_cloud", "cirrus", "cloud", "shadow", "snow", "water")
_QA_DEFAULT = ("fill", "dilated_cloud", "cirrus", "cloud", "shadow")
_SENSORS = ("L4-7", "L8-9")
_L47_UNUSED = (1 << 2) | (3 << 14)  # cirrus bit and cirrus confidence: unused on TM/ETM+
_RESERVED = {"shadow": 10, "snow": 12, "cirrus": 14}  # fields whose value 2 is reserved

Confidence = Literal["low", "medium", "high"]


def scl(band: xr.DataArray, invalid: Iterable[int | str] = SCL_INVALID, *, check: bool = True
        ) -> xr.DataArray:
    """Mask of a Sentinel-2 L2A scene classification (SCL) band: True on ``invalid`` classes.

    Parameters
    ----------
    band
        The SCL band (integer, or float decoded from an integer band: NaN is no data, 0).
    invalid
        Classes to mask, as codes or names of :data:`SCL_CLASSES` (``"cloud_high"``,
        ``"snow"``...); default :data:`SCL_INVALID` (0, 1, 3, 8, 9, 10).
    check
        Raise on values outside 0..11 (default); False skips the check.

    Returns
    -------
    xarray.DataArray
        Boolean, True = masked; same dims, coordinates and grid mapping; lazy on dask.

    Raises
    ------
    QualityMaskError
        A dtype that cannot hold SCL classes, an unknown class name or code, values that are
        not SCL classes.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> band = xr.DataArray(np.array([4, 8, 11, 6], dtype="uint8"), dims="x", name="SCL")
    >>> scl(band).values.tolist(), scl(band, ["snow", "water"]).values.tolist()
    ([False, True, False, False], [False, False, True, True])
    """
    return _classes(band, invalid, SCL_CLASSES, 0, "Sentinel-2 SCL", check)


def fmask(band: xr.DataArray, invalid: Iterable[int | str] = FMASK_INVALID, *, check: bool = True
          ) -> xr.DataArray:
    """Mask of an Fmask / CFMask class band: True on ``invalid`` classes.

    Parameters
    ----------
    band
        The Fmask band: 0 clear land, 1 clear water, 2 cloud shadow, 3 snow, 4 cloud,
        255 no data (integer, or float decoded from an integer band: NaN is no data, 255).
    invalid
        Classes to mask, as codes or names of :data:`FMASK_CLASSES`; default
        :data:`FMASK_INVALID` (cloud shadow, cloud, no data).
    check
        Raise on values that are not Fmask classes (default); False skips the check.

    Returns
    -------
    xarray.DataArray
        Boolean, True = masked; same dims, coordinates and grid mapping; lazy on dask.

    Raises
    ------
    QualityMaskError
        A dtype that cannot hold 0..255, an unknown class, values that are not Fmask classes.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> band = xr.DataArray(np.array([0, 1, 2, 3, 4, 255], dtype="uint8"), dims="x")
    >>> fmask(band).values.tolist()
    [False, False, True, False, True, True]
    """
    return _classes(band, invalid, FMASK_CLASSES, 255, "Fmask", check)


def qa_pixel(
    band: xr.DataArray,
    flags: Iterable[str] | None = None,
    *,
    confidence: Confidence | Mapping[str, Confidence] | None = None,
    sensor: Literal["L4-7", "L8-9"] | None = None,
    check: bool = True,
) -> xr.DataArray:
    """Mask of a Landsat Collection-2 ``QA_PIXEL`` band: True where any of ``flags`` is set.

    Parameters
    ----------
    band
        The 16-bit ``QA_PIXEL`` band (unsigned, a signed type of more than 16 bits, or float
        decoded from one of those: NaN is fill).
    flags
        Conditions to mask, among ``fill``, ``dilated_cloud``, ``cirrus``, ``cloud``,
        ``shadow``, ``snow``, ``water``; default ``fill, dilated_cloud, cirrus, cloud,
        shadow`` (without ``cirrus`` for ``sensor="L4-7"``). Each is its single bit of
        :data:`QA_PIXEL_BITS`; for cloud, shadow, snow and cirrus that bit means *high
        confidence*.
    confidence
        Also mask cloud, shadow, snow and cirrus where their 2-bit confidence field is at least
        this level: ``"low"``, ``"medium"`` or ``"high"``, or a ``{flag: level}`` mapping for
        some flags. Shadow, snow and cirrus confidences have no medium level (value 2 is
        reserved), so ``"medium"`` masks their high level only. ``"low"`` masks nearly
        every pixel the cloud algorithm ran on (a clear land pixel, 21824 on Landsat 8, has
        low cloud, shadow, snow and cirrus confidence).
    sensor
        ``"L8-9"`` (OLI/TIRS) or ``"L4-7"`` (TM/ETM+: no cirrus bit nor cirrus confidence;
        asking for ``cirrus`` is an error, and values with those bits set are refused).
        None: no sensor-specific check.
    check
        Raise on values outside 0..65535 or with a reserved confidence value (default).

    Returns
    -------
    xarray.DataArray
        Boolean, True = masked; same dims, coordinates and grid mapping; lazy on dask.

    Raises
    ------
    QualityMaskError
        A dtype that cannot hold 16 bits, an unknown flag, sensor or level, cirrus on
        Landsat 4-7, values that are not ``QA_PIXEL`` words.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> qa = xr.DataArray(np.array([21824, 22080, 22280, 23888, 1], dtype="uint16"), dims="x")
    >>> qa_pixel(qa).values.tolist()  # clear, medium cloud, high cloud, shadow, fill
    [False, False, True, True, True]
    >>> qa_pixel(qa, ["cloud"], confidence="medium").values.tolist()
    [False, True, True, False, False]
    """
    if sensor is not None and sensor not in _SENSORS:
        raise QualityMaskError(f"sensor {sensor!r} is not one of {list(_SENSORS)} (or None)")
    flags = tuple(flags) if flags is not None else tuple(
        f for f in _QA_DEFAULT if not (sensor == "L4-7" and f == "cirrus"))
    unknown = [f for f in flags if f not in _QA_FLAGS]
    if unknown:
        raise QualityMaskError(f"unknown QA_PIXEL flags {unknown}; choose among {list(_QA_FLAGS)}")
    if isinstance(confidence, Mapping):
        levels = dict(confidence)
    else:
        levels = {f: confidence for f in flags if f in QA_PIXEL_CONFIDENCE and confidence}
    for f, level in levels.items():
        if f not in QA_PIXEL_CONFIDENCE or level not in _LEVELS:
            raise QualityMaskError(
                f"confidence {f!r}: {level!r}; flags with a confidence are "
                f"{list(QA_PIXEL_CONFIDENCE)}, levels {list(_LEVELS)}")
    if sensor == "L4-7" and ("cirrus" in flags or "cirrus" in levels):
        raise QualityMaskError("Landsat 4-7 QA_PIXEL has no cirrus bit nor cirrus confidence "
                               "(bits 2, 14, 15 are unused); leave 'cirrus' out")
    words = np.arange(0x10000, dtype=np.uint32)  # every 16-bit word, decoded once
    masked = np.zeros(words.size, dtype=bool)
    for f in flags:
        masked |= ((words >> QA_PIXEL_BITS[f]) & 1) == 1
    for f, level in levels.items():
        masked |= ((words >> QA_PIXEL_CONFIDENCE[f]) & 3) >= _LEVELS[level]
    reserved = [b for f, b in _RESERVED.items() if not (sensor == "L4-7" and f == "cirrus")]
    problems = [((words >> b) & 3) == 2 for b in reserved]
    if sensor == "L4-7":
        problems.append((words & _L47_UNUSED) != 0)
    known = ~np.logical_or.reduce(problems)
    name = _name(band)

    def complain(bad: np.ndarray) -> None:
        shown = bad[:5].tolist()
        if (bad < 0).any() or (bad > 0xFFFF).any():
            raise QualityMaskError(f"variable {name!r} holds {shown}, outside 0..65535: not "
                                   "Landsat QA_PIXEL words")
        if sensor == "L4-7" and (bad & _L47_UNUSED).any():
            raise QualityMaskError(
                f"variable {name!r} holds {shown}, with bit 2 or bits 14-15 set, unused on "
                "Landsat 4-7: is it a Landsat 8-9 band? (sensor='L8-9')")
        raise QualityMaskError(
            f"variable {name!r} holds {shown}, with a shadow, snow or cirrus confidence (bits "
            "10-11, 12-13, 14-15) at the reserved value 2: not Landsat Collection-2 QA_PIXEL "
            "words (check=False decodes them anyway)")

    what = f"QA_PIXEL flags {list(flags)}" + (f", confidence >= {levels}" if levels else "")
    return _apply(band, lambda a: _lookup(a, masked, known, check, complain), 1, 0xFFFF,
                  "Landsat QA_PIXEL (16-bit)", what)


#: The variable names each kind of quality band goes by (matched without case).
BAND_NAMES: dict[str, tuple[str, ...]] = {
    "scl": ("SCL", "scene_classification"),
    "qa": ("QA_PIXEL", "qa_pixel"),
    "fmask": ("Fmask", "cfmask"),
}


def from_dataset(ds: xr.Dataset, kind: Literal["scl", "qa", "fmask"],
                 variable: str | None = None, **options: Any) -> xr.DataArray:
    """The mask of a Dataset's quality band, found by name: :func:`scl`, :func:`qa_pixel` or
    :func:`fmask` of it (what ``--mask scl|qa|fmask`` means).

    Parameters
    ----------
    ds
        The cube holding the quality band.
    kind
        ``"scl"``, ``"qa"`` (Landsat ``QA_PIXEL``) or ``"fmask"``.
    variable
        The band's name; default the one variable named as in :data:`BAND_NAMES`
        (case-insensitive).
    **options
        Passed to the decoder (``invalid=``, ``flags=``, ``confidence=``, ``sensor=``...).

    Returns
    -------
    xarray.DataArray
        Boolean, True = masked.

    Raises
    ------
    QualityMaskError
        An unknown kind, no (or more than one) variable of that name, or what the decoder raises.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"scl": ("x", np.array([4, 9], dtype="uint8"))})
    >>> from_dataset(ds, "scl").values.tolist()
    [False, True]
    """
    band = ds[quality_band(ds, kind, variable)]  # first: it refuses an unknown kind
    return {"scl": scl, "qa": qa_pixel, "fmask": fmask}[kind](band, **options)


def quality_band(ds: xr.Dataset, kind: Literal["scl", "qa", "fmask"],
                 variable: str | None = None) -> str:
    """The name of the Dataset's ``kind`` quality band: ``variable`` checked, or the one
    variable named as in :data:`BAND_NAMES` (case-insensitive).

    Raises
    ------
    QualityMaskError
        An unknown kind, no (or more than one) variable of that name.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> quality_band(xr.Dataset({"B4": ("x", [1.0]), "SCL": ("x", [4])}), "scl")
    'SCL'
    """
    if kind not in BAND_NAMES:
        raise QualityMaskError(f"mask kind {kind!r} is not one of {list(BAND_NAMES)}")
    if variable is None:
        wanted = {n.lower() for n in BAND_NAMES[kind]}
        found = [str(n) for n in ds.data_vars if str(n).lower() in wanted]
        if len(found) != 1:
            raise QualityMaskError(
                f"{'no' if not found else 'more than one'} {kind} band among the variables "
                f"{sorted(map(str, ds.data_vars))} (looked for {list(BAND_NAMES[kind])}, any "
                "case); name it with variable=")
        variable = found[0]
    if variable not in ds.data_vars:
        raise QualityMaskError(f"variable {variable!r} is not in the Dataset; variables: "
                               f"{sorted(map(str, ds.data_vars))}")
    return variable


def as_mask(obj: xr.Dataset | xr.DataArray, mask: xr.DataArray | str) -> xr.DataArray:
    """A ``mask=`` argument as a boolean DataArray (True = masked).

    Parameters
    ----------
    obj
        The data the mask belongs to (needed for a variable name).
    mask
        A DataArray (boolean, or numbers: non-zero = masked, NaN = not masked), the name of a
        variable of ``obj``, or ``"name=v1,v2"`` for class values of a variable (see
        :func:`xgeo.compression.resolve_mask`).

    Returns
    -------
    xarray.DataArray

    Raises
    ------
    QualityMaskError
        A name that is not a variable of ``obj``, a mask that is not a DataArray or a name.

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> str(as_mask(ds, "cloud_mask").dtype)
    'bool'
    """
    if isinstance(mask, str):
        variable = mask.partition("=")[0]
        if not isinstance(obj, xr.Dataset) or variable not in obj.data_vars:
            names = sorted(map(str, obj.data_vars)) if isinstance(obj, xr.Dataset) else []
            raise QualityMaskError(f"mask {mask!r}: {variable!r} is not a variable of the data; "
                                   f"variables: {names}")
        from .compression import resolve_mask

        mask = resolve_mask(obj, mask)
    if not isinstance(mask, xr.DataArray):
        raise QualityMaskError(f"a mask is a boolean DataArray or a variable name, not "
                               f"{type(mask).__name__}")
    if mask.dtype == bool:
        return mask
    if mask.dtype.kind not in "iuf":
        raise QualityMaskError(f"mask {_name(mask)!r} has dtype {mask.dtype}; expected boolean")
    return (mask != 0) & mask.notnull()


# ---------------------------------------------------------------------- internals
def _name(band: xr.DataArray) -> str:
    return "<unnamed>" if band.name is None else str(band.name)


def _codes(invalid: Iterable[int | str], classes: Mapping[int, str], product: str) -> list[int]:
    if isinstance(invalid, (str, int)):
        invalid = [invalid]
    by_name = {v: k for k, v in classes.items()}
    codes = []
    for c in invalid:
        code = by_name.get(c) if isinstance(c, str) else (
            int(c) if isinstance(c, (int, np.integer)) and int(c) in classes else None)
        if code is None:
            raise QualityMaskError(f"{c!r} is not a {product} class; classes: {dict(classes)}")
        codes.append(code)
    return sorted(set(codes))


def _classes(band: xr.DataArray, invalid: Iterable[int | str], classes: Mapping[int, str],
             nodata: int, product: str, check: bool) -> xr.DataArray:
    codes = _codes(invalid, classes, product)
    top = max(classes)
    known = np.zeros(top + 1, dtype=bool)
    known[list(classes)] = True
    masked = np.zeros(top + 1, dtype=bool)
    masked[codes] = True
    name = _name(band)

    def complain(bad: np.ndarray) -> None:
        raise QualityMaskError(
            f"variable {name!r} holds {bad[:5].tolist()}, which are not {product} classes; "
            f"expected codes {dict(classes)}")

    what = f"{product} classes {[f'{c} {classes[c]}' for c in codes]}"
    return _apply(band, lambda a: _lookup(a, masked, known, check, complain), nodata, top,
                  product, what)


def _lookup(a: np.ndarray, masked: np.ndarray, known: np.ndarray, check: bool,
            complain: Callable[[np.ndarray], None]) -> np.ndarray:
    """``masked[a]`` for codes ``0..len(masked) - 1``; with ``check``, codes outside that
    range or not ``known`` go to ``complain`` (which raises). One gather per table."""
    if a.size == 0:
        return np.zeros(a.shape, dtype=bool)
    inside: np.ndarray | None = None
    if a.min() < 0 or a.max() >= masked.size:
        inside = (a >= 0) & (a < masked.size)
        if check:
            complain(np.unique(a[~inside]))
        a = np.where(inside, a, 0)
    if check:
        bad = ~known[a]
        if bad.any():
            complain(np.unique(a[bad]))
    out = masked[a]
    return out if inside is None else out & inside


def _integer_dtype(band: xr.DataArray, top: int, product: str) -> np.dtype:
    """The integer dtype the band's codes are read as (raise if it cannot hold 0..top)."""
    dt = band.dtype
    decoded = dt.kind == "f" and np.dtype(band.encoding.get("dtype", dt)).kind in "iu"
    stored = np.dtype(band.encoding["dtype"]) if decoded else dt
    hint = ("open it with mask_and_scale=False, or fill and cast it (.fillna(nodata)"
            ".astype('uint16'))")
    if stored.kind not in "iu":
        raise QualityMaskError(
            f"variable {_name(band)!r} has dtype {dt}; a {product} band holds integer codes "
            f"0..{top} (an unsigned integer type). A float band is accepted only when decoded "
            f"from an integer one (encoding['dtype']); {hint}")
    if np.iinfo(stored).max < top:
        raise QualityMaskError(
            f"variable {_name(band)!r} has dtype {stored}, which cannot hold {product} codes "
            f"0..{top}; expected an unsigned integer type of at least {top.bit_length()} bits")
    return stored


def _apply(band: xr.DataArray, decode: Callable[[np.ndarray], np.ndarray], nodata: int,
           top: int, product: str, what: str) -> xr.DataArray:
    """``decode`` on the band's integer codes, block by block (NaN of a decoded float -> nodata)."""
    if not isinstance(band, xr.DataArray):
        raise QualityMaskError(f"a {product} band is an xarray.DataArray, not {type(band).__name__}")
    if band.dtype == bool:
        raise QualityMaskError(f"variable {_name(band)!r} is boolean, a mask already: pass it as "
                               f"mask= directly; a {product} band holds integer codes")
    _integer_dtype(band, top, product)
    name = _name(band)

    def block(a: np.ndarray) -> np.ndarray:
        if a.dtype.kind == "f":
            a = np.where(np.isnan(a), nodata, a)
            frac = ~np.isfinite(a) | (a != np.floor(a))
            if frac.any():
                raise QualityMaskError(f"variable {name!r} holds {np.unique(a[frac])[:5].tolist()}"
                                       f": not integer {product} codes")
            a = a.astype(np.int64)
        return decode(a)

    out = xr.apply_ufunc(block, band, dask="parallelized", output_dtypes=[bool])
    grid_mapping = band.attrs.get("grid_mapping", band.encoding.get("grid_mapping"))
    out.attrs = {"long_name": f"{name} mask", "xgeo_mask": f"True = masked: {what}"}
    if grid_mapping is not None:
        out.attrs["grid_mapping"] = grid_mapping
    out.name = f"{name}_mask" if band.name is not None else "mask"
    return out
