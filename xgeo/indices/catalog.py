"""The spectral-index catalog: Awesome Spectral Indices shipped as data.

The tables in ``xgeo/indices/data/`` come from the Awesome Spectral Indices project (MIT,
https://github.com/awesome-spectral-indices/awesome-spectral-indices); ``source.json`` records
their origin, version and licence, and ``tools/refresh_indices_catalog.py`` refreshes them.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

from ..errors import UnknownIndexError

__all__ = ["SpectralIndex", "Constant", "catalog", "catalog_source", "constants", "get_index"]

#: Kernel indices use symbols like ``kNR`` = k(N, R); their kernel step is done by xgeo.
KERNEL_DOMAIN = "kernel"


@dataclass(frozen=True)
class SpectralIndex:
    """One catalog entry.

    ``bands`` lists every symbol of the formula as the catalog gives it: spectral bands
    (``N``, ``R``, ...), constants (``L``, ``g``, ...) and, for kernel indices, kernel
    symbols (``kNR``).
    """

    short_name: str
    long_name: str
    formula: str
    bands: tuple[str, ...]
    application_domain: str
    reference: str
    platforms: tuple[str, ...]
    contributor: str = ""
    date_of_addition: str = ""


@dataclass(frozen=True)
class Constant:
    """A catalog constant with its default (``None``: no default, the user must give it)."""

    short_name: str
    default: float | None
    description: str


def _load(name: str) -> Any:
    return json.loads((resources.files(__package__) / "data" / name).read_text(encoding="utf-8"))


@functools.cache
def catalog() -> Mapping[str, SpectralIndex]:
    """Every index of the catalog, by short name (read-only mapping).

    Returns
    -------
    Mapping[str, SpectralIndex]
        Long name, formula, symbols, application domain, reference and platforms of each index.

    Examples
    --------
    >>> from xgeo.indices import catalog
    >>> cat = catalog()
    >>> cat["NDVI"].formula
    '(N - R)/(N + R)'
    >>> len(cat) > 250
    True
    """
    raw = _load("spectral-indices.json")["SpectralIndices"]
    out = {}
    for name, v in sorted(raw.items()):
        out[name] = SpectralIndex(
            short_name=v["short_name"],
            long_name=v["long_name"],
            formula=v["formula"],
            bands=tuple(v["bands"]),
            application_domain=v["application_domain"],
            reference=v["reference"],
            platforms=tuple(v.get("platforms", ())),
            contributor=v.get("contributor", ""),
            date_of_addition=v.get("date_of_addition", ""),
        )
    return MappingProxyType(out)


@functools.cache
def constants() -> Mapping[str, Constant]:
    """Catalog constants (``L``, ``g``, ``C1``, ...) with their defaults.

    Examples
    --------
    >>> from xgeo.indices import constants
    >>> constants()["g"].default
    2.5
    """
    raw = _load("constants.json")
    return MappingProxyType({
        k: Constant(k, None if v["default"] is None else float(v["default"]), v["description"])
        for k, v in raw.items()
    })


@functools.cache
def band_table() -> Mapping[str, Any]:
    """The catalog's band table: symbol -> common name, wavelength range, per-platform band."""
    return MappingProxyType(_load("bands.json"))


@functools.cache
def catalog_source() -> Mapping[str, Any]:
    """Origin, version, licence and checksums of the shipped catalog.

    Examples
    --------
    >>> from xgeo.indices import catalog_source
    >>> catalog_source()["license"]
    'MIT'
    """
    return MappingProxyType(_load("source.json"))


def get_index(name: str) -> SpectralIndex:
    """The catalog entry ``name``; an unknown name raises with the closest names.

    Raises
    ------
    UnknownIndexError
        ``name`` is not in the catalog; the message suggests the closest short names.
    """
    cat = catalog()
    if name in cat:
        return cat[name]
    folded = {k.casefold(): k for k in cat}
    if isinstance(name, str) and name.casefold() in folded:
        hint = [folded[name.casefold()]]
    else:
        hint = difflib.get_close_matches(str(name), list(cat), n=5, cutoff=0.5)
        hint += [k for k in difflib.get_close_matches(str(name).casefold(), list(folded), n=5,
                                                      cutoff=0.5) if folded[k] not in hint]
        hint = [folded.get(h, h) for h in hint][:5]
    msg = f"unknown spectral index {name!r}"
    msg += f"; did you mean {', '.join(map(repr, hint))}?" if hint else "."
    msg += " See xgeo.indices.catalog() for all names (they are case-sensitive)."
    if isinstance(name, str) and any(c in name for c in "+-*/()"):  # a formula given as a name
        msg += f" For a formula of your own pass {{'MY': {name!r}}} (a name and the formula)."
    else:
        msg += " For a formula of your own pass {'MY': '(N - R) / (N + R + 0.1)'}."
    raise UnknownIndexError(msg)
