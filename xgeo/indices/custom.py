"""User formulas next to catalog indices: what an index request may hold, checked up front.

A request (the ``names`` of :func:`xgeo.indices.compute_indices` and
:func:`xgeo.indices.evaluate`) is a catalog short name, a ``{name: formula}`` mapping of your
own indices, or a list mixing both (``["NDVI", {"MY": "(N - R) / (N + R + 0.1)"}]``). A user
formula goes through the catalog's own safe compiler (:mod:`xgeo.indices.formula`: parsed
with ``ast`` against a whitelist, never ``eval``-ed) and is computed in the same fused kernel
pass, cached on disk like the catalog's. Its symbols are the catalog's band symbols (``N``,
``R``, ``G``, ``B``, ``RE1``, ``S1``...; mapped to your band names by the sensor presets or
``bands=``), catalog constants (``L``, ``g``, ``C1``...: catalog defaults, overridable) and
constants of your own given with ``constants=`` (``eps=0.1``). A name that is already a
catalog index is refused: results are named after their index, and the catalog name means
the catalog formula.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import FormulaError, IndexNamesError
from .catalog import catalog
from .catalog import constants as catalog_constants
from .formula import parse
from .sensors import BAND_SYMBOLS

__all__ = ["UserIndex", "RequestItem", "request_items", "item_name", "check_user_symbols",
           "has_constant"]

#: What a user index may be called: a letter, then letters, digits, ``_``, ``-`` or ``.``
#: (any such name is a valid netCDF/Zarr variable name).
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class UserIndex:
    """A user-defined index: an output name and a formula over catalog band symbols."""

    name: str
    formula: str


RequestItem = str | UserIndex


def item_name(item: RequestItem) -> str:
    """The output name of a request item."""
    return item.name if isinstance(item, UserIndex) else item


def _user_items(mapping: Mapping[Any, Any]) -> list[UserIndex]:
    out = []
    for name, formula in mapping.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise IndexNamesError(
                f"a user index needs a name made of letters, digits, '_', '-' or '.' that starts "
                f"with a letter, got {name!r} in {{{name!r}: {formula!r}}}")
        if name in catalog():
            raise IndexNamesError(
                f"{name!r} is a catalog index ({catalog()[name].formula}); give your formula "
                f"{formula!r} another name, e.g. {{{name + '_custom'!r}: {formula!r}}}, or ask "
                f"for the catalog's with {name!r}")
        try:
            parse(formula)
        except FormulaError as exc:
            raise FormulaError(f"user index {name!r}: {exc}") from None
        out.append(UserIndex(name, formula.strip()))
    return out


def request_items(names: Any) -> list[RequestItem]:
    """``names`` as a non-empty list of catalog names and :class:`UserIndex` items.

    ``names`` is one catalog name, a ``{name: formula}`` mapping, a :class:`UserIndex`, or an
    iterable of those. User formulas are parsed here (so a syntax error or a disallowed
    construct fails before any work).

    Raises
    ------
    IndexNamesError
        ``names`` is empty or holds something else; a user index has a bad name, a catalog
        index's name, or two different formulas under one name.
    FormulaError
        A user formula does not parse or uses a construct outside the whitelist.

    Examples
    --------
    >>> from xgeo.indices.custom import request_items
    >>> request_items(["NDVI", {"MY": "(N - R) / (N + R + 0.1)"}])
    ['NDVI', UserIndex(name='MY', formula='(N - R) / (N + R + 0.1)')]
    """
    if isinstance(names, str | UserIndex):
        items: list[RequestItem] = [names]
    elif isinstance(names, Mapping):
        items = list(_user_items(names))
    else:
        try:
            given = list(names)
        except TypeError:
            raise IndexNamesError(
                f"names must be an index name, a {{name: formula}} dict or a list of them, got "
                f"{names!r}") from None
        items = []
        for n in given:
            if isinstance(n, str | UserIndex):
                items.append(n)
            elif isinstance(n, Mapping):
                items.extend(_user_items(n))
            else:
                raise IndexNamesError(
                    f"index names must be strings or {{name: formula}} dicts, got {n!r} in "
                    f"names={names!r}")
    if not items:
        raise IndexNamesError("names is empty: give at least one index name, e.g. ['NDVI'] "
                              "(xgeo.indices.catalog() lists them), or a formula of your own, "
                              "e.g. {'MY': '(N - R) / (N + R + 0.1)'}")
    seen: dict[str, RequestItem] = {}
    for it in items:
        prev = seen.setdefault(item_name(it), it)
        if prev != it:
            raise IndexNamesError(
                f"two different formulas are named {item_name(it)!r}: {_describe(prev)} and "
                f"{_describe(it)}; give them different names")
    return items


def _describe(item: RequestItem) -> str:
    return repr(item.formula) if isinstance(item, UserIndex) else f"the catalog's {item!r}"


def has_constant(index: str, symbol: str, constants: Mapping[str, Any]) -> bool:
    """``symbol`` has a value in ``constants``, globally or for ``index`` alone."""
    per = constants.get(index)
    return symbol in constants or (isinstance(per, Mapping) and symbol in per)


def check_user_symbols(item: UserIndex, non_band: Iterable[str], constants: Mapping[str, Any],
                       mapping: Mapping[str, Hashable] | None = None,
                       labels: Sequence[Hashable] | None = None) -> None:
    """Refuse a symbol of ``item``'s formula that is neither a band symbol nor a constant.

    ``non_band`` are the formula's symbols that are not band symbols; each must be a catalog
    constant or given in ``constants`` (globally or as ``{item.name: {...}}``). ``mapping``
    (symbol -> band label) and ``labels`` (the data's band names) make the message name the
    bands of the data at hand.

    Raises
    ------
    FormulaError
        Naming the symbol, the formula, the bands available and how to fix it.
    """
    for s in sorted(non_band):
        if s in catalog_constants() or has_constant(item.name, s, constants):
            continue
        raise FormulaError(_unknown_symbol(item, s, mapping, labels))


def _unknown_symbol(item: UserIndex, s: str, mapping: Mapping[str, Hashable] | None,
                    labels: Sequence[Hashable] | None) -> str:
    head = (f"user index {item.name!r}: unknown symbol {s!r} in formula {item.formula!r}; "
            "it is neither a band symbol nor a constant.")
    label_to_sym = {str(lab): sym for sym, lab in (mapping or {}).items()}
    if s in label_to_sym:
        hint = f" {s!r} is a band of this data: formulas use catalog band symbols, write {label_to_sym[s]} for it."
    elif s in catalog():
        hint = (f" Formulas cannot refer to other indices; write {s}'s formula out: "
                f"{catalog()[s].formula}, or ask for {s!r} next to your formula.")
    else:
        close = difflib.get_close_matches(s, sorted(BAND_SYMBOLS | set(catalog_constants())), n=3,
                                          cutoff=0.6)
        close += [b for b in sorted(BAND_SYMBOLS) if b.casefold() == s.casefold() and b not in close]
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        hint += f" For a constant of your own pass constants={{{s!r}: value}} (or {s}=value)."
    if mapping:
        bands = ", ".join(sym if str(lab) == sym else f"{sym} ({lab})"
                          for sym, lab in sorted(mapping.items()))
        avail = f" Bands on this data: {bands}."
    elif labels:
        avail = (f" This data's bands ({', '.join(map(repr, labels))}) map to no catalog symbol; "
                 "pass sensor= or bands={'N': <name>, ...}.")
    else:
        avail = f" Band symbols: {', '.join(sorted(BAND_SYMBOLS))}."
    return head + hint + avail
