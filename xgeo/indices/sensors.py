"""Sensor band presets: from the catalog's band symbols (``N``, ``R``, ``S1``...) to band names.

A preset maps each symbol to a band id (``"B8"``, ``"B5"``...) and its central wavelength
(nm), taken from the catalog's band table, plus a few well-known completions the table lacks
(Landsat 8/9 and MODIS NIR as ``N``). Band names are compared after normalisation, so ``B08``,
``B8``, ``b8``, ``SR_B8`` (Landsat collection 2) and ``sur_refl_b08`` (MODIS) are all band 8;
integer labels (``1, 2, 3`` as read from a GeoTIFF) are band numbers. Common names (``red``,
``nir``, ``swir16``, ``rededge1``...) map to symbols whatever the sensor.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import BandMappingError
from .catalog import band_table

__all__ = ["Preset", "presets", "get_preset", "normalize_band_name", "resolve_bands",
           "BAND_SYMBOLS", "AUTO_SENSORS"]

#: Radar symbols of the catalog (Sentinel-1 polarisations); not in the band table.
RADAR = ("VV", "VH", "HH", "HV")

#: Presets tried by auto-detection; the others (rgbn, planetscope...) number bands by position
#: or reuse Landsat-like ids, so they are only used when named with ``sensor=``.
AUTO_SENSORS = ("sentinel2", "landsat8", "landsat7", "modis")

# Catalog platform key(s) each preset is built from, and completions missing from the table.
_FROM_TABLE = {
    "sentinel2": ("sentinel2a", {}),
    "sentinel2a": ("sentinel2a", {}),
    "sentinel2b": ("sentinel2b", {}),
    "landsat8": ("landsat8", {"N": ("B5", 865.0)}),
    "landsat9": ("landsat9", {"N": ("B5", 865.0)}),
    "landsat7": ("landsat7", {}),
    "landsat5": ("landsat5", {}),
    "landsat4": ("landsat4", {}),
    "modis": ("modis", {"N": ("B2", 858.5)}),
    "planetscope": ("planetscope", {"N": ("B8", 865.0)}),
    "wv2": ("wv2", {}),
    "wv3": ("wv3", {}),
}
# Positional presets for plain 3/4-band imagery (band 1 = red, ...). Their wavelengths are
# unknown, so indices with lambda* constants need them passed explicitly.
_POSITIONAL = {
    "rgb": {"R": "B1", "G": "B2", "B": "B3"},
    "rgbn": {"R": "B1", "G": "B2", "B": "B3", "N": "B4"},
    "bgrn": {"B": "B1", "G": "B2", "R": "B3", "N": "B4"},
}
_ALIASES = {"landsat-oli": "landsat8", "landsat-etm+": "landsat7", "landsat-tm": "landsat5",
            "s2": "sentinel2", "sentinel-2": "sentinel2", "l8": "landsat8", "l9": "landsat9",
            "l7": "landsat7", "l5": "landsat5", "sentinel1": "sentinel1", "s1": "sentinel1"}

# Extra human names per symbol, beyond the catalog's common names (red, nir, swir16...).
_EXTRA_NAMES = {
    "A": ("coastal_aerosol", "aerosol", "aerosols", "coastal_blue"), "B": ("b", "blue"),
    "G": ("g", "green"), "R": ("r", "red"), "N": ("n", "nir", "near_infrared", "nir1"),
    "N2": ("nir2", "nir_narrow", "narrow_nir"), "S1": ("swir1", "swir_1"),
    "S2": ("swir2", "swir_2"), "RE1": ("rededge1", "red_edge_1", "re1"),
    "RE2": ("rededge2", "red_edge_2", "re2"), "RE3": ("rededge3", "red_edge_3", "re3"),
    "T": ("thermal", "tir", "lwir"), "T1": ("thermal1", "tir1"), "T2": ("thermal2", "tir2"),
    "WV": ("water_vapour", "water_vapor", "watervapor"), "Y": ("yellow",),
    "VV": ("vv",), "VH": ("vh",), "HH": ("hh",), "HV": ("hv",),
}


def _symbols() -> tuple[str, ...]:
    return tuple(band_table()) + RADAR


#: Every band symbol used in catalog formulas.
BAND_SYMBOLS = frozenset(_symbols())

_BAND_ID = re.compile(r"^(?:sr_|st_|toa_|sur_refl_)?(?:band_?|b)0*(\d+)(a?)$")


def normalize_band_name(label: Hashable) -> str:
    """Canonical form of a band label: ``'B08'``, ``'b8'``, ``'SR_B8'``, ``8`` -> ``'b8'``.

    Examples
    --------
    >>> from xgeo.indices.sensors import normalize_band_name
    >>> [normalize_band_name(x) for x in ["B08", "B8A", "SR_B5", "sur_refl_b01", 4, "Red"]]
    ['b8', 'b8a', 'b5', 'b1', 'b4', 'red']
    """
    if isinstance(label, int) or (hasattr(label, "dtype") and label.dtype.kind in "iu"):
        return f"b{int(label)}"
    s = str(label).strip().lower().replace("-", "_").replace(" ", "_")
    m = _BAND_ID.match(s)
    return f"b{int(m.group(1))}{m.group(2)}" if m else s


@dataclass(frozen=True)
class Preset:
    """A sensor's symbol -> band id mapping and central wavelengths (nm)."""

    name: str
    bands: Mapping[str, str]
    wavelengths: Mapping[str, float] = field(default_factory=dict)

    def normalized(self) -> dict[str, str]:
        """Normalised band id -> symbol (an id may serve several symbols, e.g. N and N2)."""
        out: dict[str, str] = {}
        for sym, band in self.bands.items():
            out.setdefault(normalize_band_name(band), sym)
        return out


@functools.cache
def presets() -> Mapping[str, Preset]:
    """All sensor presets by name.

    Examples
    --------
    >>> from xgeo.indices.sensors import presets
    >>> presets()["sentinel2"].bands["N"], presets()["landsat8"].bands["N"]
    ('B8', 'B5')
    """
    table = band_table()
    out = {}
    for name, (platform, extra) in _FROM_TABLE.items():
        bands, wl = {}, {}
        for sym, info in table.items():
            p = info["platforms"].get(platform)
            if p is not None:
                bands[sym], wl[sym] = p["band"], float(p["wavelength"])
        for sym, (band, w) in extra.items():
            bands.setdefault(sym, band)
            wl.setdefault(sym, w)
        out[name] = Preset(name, bands, wl)
    for name, spec in _POSITIONAL.items():
        out[name] = Preset(name, dict(spec), {})
    out["sentinel1"] = Preset("sentinel1", {s: s for s in RADAR}, {})
    return out


def get_preset(sensor: str) -> Preset:
    """The preset for ``sensor`` (case-insensitive, a few aliases such as ``"s2"``)."""
    key = str(sensor).strip().lower().replace("_", "")
    key = _ALIASES.get(key, key)
    try:
        return presets()[key]
    except KeyError:
        raise BandMappingError(
            f"unknown sensor {sensor!r}; known sensors: {', '.join(sorted(presets()))}. "
            "Or pass bands={'N': '<your NIR band>', ...} to map bands yourself."
        ) from None


@functools.cache
def _common_names() -> dict[str, str]:
    out = {}
    for sym, info in band_table().items():
        out[info["common_name"].lower()] = sym
    for sym, names in _EXTRA_NAMES.items():
        for n in names:
            out.setdefault(n, sym)
    return out


def _by_common_name(labels: Iterable[Hashable]) -> dict[str, Hashable]:
    names = _common_names()
    out: dict[str, Hashable] = {}
    for lab in labels:
        sym = names.get(normalize_band_name(lab))
        if sym is not None:
            out.setdefault(sym, lab)
    return out


def _by_preset(preset: Preset, labels: Iterable[Hashable]) -> dict[str, Hashable]:
    by_norm: dict[str, Hashable] = {}
    for lab in labels:
        by_norm.setdefault(normalize_band_name(lab), lab)
    return {sym: by_norm[normalize_band_name(b)] for sym, b in preset.bands.items()
            if normalize_band_name(b) in by_norm}


def _family(labels: list[Hashable]) -> tuple[str, ...]:
    """Auto-detection candidates, narrowed by product naming conventions when present."""
    low = [str(lab).lower() for lab in labels]
    if any(s.startswith("sur_refl_") for s in low):
        return ("modis",)
    if any(s.startswith(("sr_b", "st_b")) for s in low):  # Landsat collection-2 level-2
        if "st_b6" in low:  # TM/ETM+ thermal is band 6; OLI has SR_B6 (SWIR1) and ST_B10
            return ("landsat7",)
        return ("landsat8",) if {"st_b10", "sr_b6"} & set(low) else ("landsat8", "landsat7")
    return AUTO_SENSORS


def resolve_bands(labels: list[Hashable], *, sensor: str | None = None,
                  bands: Mapping[str, Hashable] | None = None,
                  needed: Iterable[str] | None = None) -> tuple[dict[str, Hashable], Preset | None]:
    """Map catalog symbols to the labels present.

    Parameters
    ----------
    labels
        Band names found on the object (variable names, or labels of the ``band`` dim).
    sensor
        A preset name; ``None`` auto-detects among :data:`AUTO_SENSORS` from the labels.
    bands
        Explicit ``{symbol: label}`` mapping; wins over everything else.
    needed
        Symbols the caller will use: auto-detection is only ambiguous if candidate sensors
        disagree on one of these (``None``: all symbols).

    Returns
    -------
    (mapping, preset)
        ``{symbol: label}`` for every symbol that could be mapped, and the preset used (its
        wavelengths fill the ``lambda*`` constants), or ``None``.

    Raises
    ------
    BandMappingError
        Several sensors explain the labels equally well but map a needed symbol differently.

    Examples
    --------
    >>> from xgeo.indices.sensors import resolve_bands
    >>> m, p = resolve_bands(["B02", "B03", "B04", "B08", "B8A", "B11", "B12"])
    >>> p.name, m["N"], m["N2"], m["S1"]
    ('sentinel2', 'B08', 'B8A', 'B11')
    """
    labels = list(labels)
    mapping = _by_common_name(labels)
    preset = None
    if sensor is not None:
        preset = get_preset(sensor)
        mapping.update(_by_preset(preset, labels))
    else:
        scored = []
        for name in _family(labels):
            p = presets()[name]
            norm = p.normalized()
            score = sum(normalize_band_name(lab) in norm for lab in labels)
            if score:
                scored.append((score, p))
        if scored:
            best = max(s for s, _ in scored)
            cands = [p for s, p in scored if s == best]
            maps = [_by_preset(p, labels) for p in cands]
            syms = set(needed) if needed is not None else set().union(*maps)
            syms -= set(bands or ()) | set(mapping)
            differ = [s for s in sorted(syms) if len({repr(m.get(s)) for m in maps}) > 1]
            if differ:
                detail = "; ".join(
                    f"{p.name}: " + ", ".join(f"{s}={m.get(s)!r}" for s in differ)
                    for p, m in zip(cands, maps, strict=True))
                raise BandMappingError(
                    f"band names {labels!r} fit several sensors that map {', '.join(differ)} "
                    f"differently ({detail}). Pass sensor= (one of {', '.join(sorted(presets()))}) "
                    "or an explicit bands={'N': ..., 'R': ...} mapping."
                )
            preset = cands[0]
            for sym, lab in maps[0].items():
                mapping.setdefault(sym, lab)
    if bands:
        present = set(labels)
        for sym, lab in bands.items():
            if sym not in BAND_SYMBOLS:
                raise BandMappingError(
                    f"bands= key {sym!r} is not a catalog band symbol; use one of "
                    f"{', '.join(sorted(BAND_SYMBOLS))}")
            if lab not in present:
                raise BandMappingError(
                    f"bands={{{sym!r}: {lab!r}}}: there is no band {lab!r}; found bands: "
                    f"{', '.join(map(repr, labels))}")
            mapping[sym] = lab
    return mapping, preset
