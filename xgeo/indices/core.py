"""Index evaluation on plain NumPy arrays: resolve formulas, build a fused kernel, run it.

This layer knows nothing of xarray. :func:`evaluate` is the public entry point;
:func:`build_plan` and :func:`run_kernel` are shared with the xarray/dask layer.
"""

from __future__ import annotations

import ast
import functools
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from numbers import Real
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import (
    FormulaError,
    IndexArgumentError,
    InputTypeError,
    MissingBandError,
    MissingConstantError,
)
from .catalog import KERNEL_DOMAIN, get_index
from .catalog import constants as catalog_constants
from .codegen import BLOCK, generate_source, load_kernels
from .custom import (
    RequestItem,
    UserIndex,
    check_user_symbols,
    has_constant,
    item_name,
    request_items,
)
from .formula import check_depth, parse, substitute, symbols
from .formula import depth as tree_depth
from .sensors import BAND_SYMBOLS

__all__ = ["evaluate", "build_plan", "IndexPlan", "KERNELS", "index_bands", "ScaleLike"]

#: Kernel functions k(a, b) for the kernel indices (kNDVI...), as in Camps-Valls et al. 2021.
#: ``kNR`` means k(N, R). The RBF kernel is the default; its ``sigma`` may be a number or a
#: formula string such as ``"0.5 * (N + R)"`` (per pixel, the paper's recommendation).
KERNELS = {
    "rbf": "exp(-((a - b) ** 2.0) / (2.0 * sigma ** 2.0))",
    "linear": "a * b",
    "poly": "(a * b + c) ** p",
}
DTYPES = ("float32", "float64")
ScaleLike = float | tuple[float, float] | Mapping[str, "float | tuple[float, float]"] | None
ConstantsLike = Mapping[str, Any] | None


def _is_number(v: Any) -> bool:
    return isinstance(v, Real | np.number) and not isinstance(v, bool | np.bool_)


def _split_kernel_symbol(sym: str) -> tuple[str, str] | None:
    """``'kNR'`` -> ``('N', 'R')``; None if ``sym`` is not a kernel symbol."""
    if not sym.startswith("k") or len(sym) < 3:
        return None
    rest = sym[1:]
    known = BAND_SYMBOLS | set(catalog_constants())
    for i in range(1, len(rest)):
        if rest[:i] in known and rest[i:] in known:
            return rest[:i], rest[i:]
    return None


@functools.cache
def _index_tree(name: RequestItem, kernel: str) -> ast.expr:
    """Formula tree of a catalog index or a :class:`~xgeo.indices.custom.UserIndex`, with
    kernel symbols (``kNR``) expanded (still symbolic)."""
    if isinstance(name, UserIndex):
        tree, domain = parse(name.formula), None
    else:
        idx = get_index(name)
        tree, domain = parse(idx.formula), idx.application_domain
    if domain == KERNEL_DOMAIN or any(
            _split_kernel_symbol(s) for s in symbols(tree) if s not in catalog_constants()):
        if kernel not in KERNELS:
            raise FormulaError(f"unknown kernel {kernel!r}; use one of {', '.join(KERNELS)}")
        sub = {}
        for s in symbols(tree):
            ab = None if s in catalog_constants() or s in BAND_SYMBOLS else _split_kernel_symbol(s)
            if ab:
                sub[s] = substitute(parse(KERNELS[kernel]), {"a": ast.Name(ab[0]), "b": ast.Name(ab[1])})
        tree = substitute(tree, sub)
    return tree


def index_bands(name: RequestItem, kernel: str = "rbf") -> tuple[str, ...]:
    """Band symbols an index reads (after kernel expansion), sorted.

    Examples
    --------
    >>> from xgeo.indices.core import index_bands
    >>> index_bands("EVI"), index_bands("kNDVI")
    (('B', 'N', 'R'), ('N', 'R'))
    """
    return tuple(sorted(s for s in symbols(_index_tree(name, kernel)) if s in BAND_SYMBOLS))


def index_constants(name: RequestItem, kernel: str = "rbf") -> tuple[str, ...]:
    """Constant symbols an index uses (after kernel expansion), sorted."""
    tree = _index_tree(name, kernel)
    return tuple(sorted(s for s in symbols(tree) if s not in BAND_SYMBOLS))


@dataclass(frozen=True)
class IndexPlan:
    """A resolved spectral-index request: which bands, which constants, and the fused kernel's source."""

    names: tuple[str, ...]        # requested indices, in the caller's order
    order: tuple[int, ...]        # kernel output plane of each requested index
    symbols: tuple[str, ...]      # band symbols, in kernel argument order
    consts: np.ndarray            # constant slot values (float64)
    source: str
    dtype: str
    constants_used: tuple = ()    # ((index, ((constant, value), ...)), ...)
    # the kernel's expressions over ``_v<i>`` (band i) and ``_c<j>`` (constant slot j), in
    # kernel order: what :mod:`xgeo.indices.tensor` evaluates with torch ops
    exprs: tuple[ast.expr, ...] = field(default=(), compare=False, repr=False)

    @property
    def planes(self) -> np.ndarray:
        """Output plane (request position) of each kernel output."""
        planes = np.empty(len(self.order), dtype=np.int64)
        planes[list(self.order)] = np.arange(len(self.order))
        return planes

    @property
    def kernels(self) -> ModuleType:
        """The compiled module (``kernel_par``, ``kernel_ser``); loaded once per process."""
        return load_kernels(self.source)


def _constant_value(index: str, const: str, constants: Mapping[str, Any],
                    wavelengths: Mapping[str, float]) -> Any:
    per = constants.get(index)
    if isinstance(per, Mapping) and const in per:
        return per[const]
    if const in constants:
        return constants[const]
    if const.startswith("lambda") and const[6:] in wavelengths:
        return wavelengths[const[6:]]
    c = catalog_constants().get(const)
    if c is not None and c.default is not None:
        return c.default
    desc = f" ({c.description})" if c is not None else ""
    hint = (f" or sensor= so that band {const[6:]}'s central wavelength is used"
            if const.startswith("lambda") else "")
    raise MissingConstantError(
        f"{index} needs the constant {const!r}{desc}, which has no catalog default; pass "
        f"constants={{{const!r}: value}}{hint}.")


def _resolve_constants(name: str, tree: ast.expr, constants: Mapping[str, Any],
                       wavelengths: Mapping[str, float], slots: list[float], depth: int = 0,
                       used: dict[str, dict[str, Any]] | None = None) -> ast.expr:
    """Replace constant names by slot names ``_c<j>`` (values appended to ``slots``) or, for
    formula-string values, by their parsed expression. ``used`` collects ``{index: {name:
    value}}``."""
    used = {} if used is None else used
    sub: dict[str, ast.expr] = {}
    for s in sorted(symbols(tree)):
        if s in BAND_SYMBOLS:
            continue
        if s not in catalog_constants() and not has_constant(name, s, constants):
            raise FormulaError(f"{name}: symbol {s!r} is neither a band nor a constant")
        v = _constant_value(name, s, constants, wavelengths)
        if isinstance(v, str):
            if depth > 3:
                raise FormulaError(f"{name}: constant {s!r} is defined in terms of itself")
            sub[s] = _resolve_constants(name, parse(v), constants, wavelengths, slots, depth + 1,
                                        used)
            used.setdefault(name, {})[s] = v
        elif _is_number(v):
            sub[s] = ast.Name(f"_c{len(slots)}")
            slots.append(float(v))
            used.setdefault(name, {})[s] = float(v)
        else:
            raise MissingConstantError(
                f"{name}: constant {s!r} must be a number or a formula string, got {type(v).__name__}")
    if sub:  # bound the composed tree before building it (its walks recurse per level)
        check_depth(tree_depth(tree) + max(tree_depth(t) for t in sub.values()) - 1,
                    f"{name} with its constant formulas ({', '.join(sorted(sub))})")
    return substitute(tree, sub)


def build_plan(names: Sequence[RequestItem], *, constants: ConstantsLike = None,
               wavelengths: Mapping[str, float] | None = None, kernel: str = "rbf",
               dtype: str = "float32") -> IndexPlan:
    """Resolve a request into an :class:`IndexPlan` (memoised: repeated calls cost a dict lookup).

    See :func:`_build_plan`.

    Raises
    ------
    IndexNamesError
        If ``names`` is empty or holds something other than names and user formulas.
    """
    names = request_names(names)
    try:
        key = (tuple(names), repr(sorted((constants or {}).items())),
               tuple(sorted((wavelengths or {}).items())), kernel, dtype)
        hash(key)
    except TypeError:
        return _build_plan(names, constants=constants, wavelengths=wavelengths, kernel=kernel, dtype=dtype)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _build_plan(names, constants=constants, wavelengths=wavelengths, kernel=kernel, dtype=dtype)
        if len(_PLANS) > 256:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


_PLANS: dict[tuple, IndexPlan] = {}


def request_names(names: Any) -> list[RequestItem]:
    """``names`` (an index name, a ``{name: formula}`` dict of user formulas, or a list mixing
    them) as a non-empty list of catalog names and user indices; see
    :func:`xgeo.indices.custom.request_items`.

    Raises
    ------
    IndexNamesError
        If ``names`` is empty, not iterable, or holds something other than names and formulas.
    """
    return request_items(names)


def _build_plan(names: Sequence[RequestItem], *, constants: ConstantsLike = None,
                wavelengths: Mapping[str, float] | None = None, kernel: str = "rbf",
                dtype: str = "float32") -> IndexPlan:
    """Resolve formulas and constants of ``names`` and generate their fused kernel source.

    ``constants`` maps constant names to numbers (or formula strings over band symbols) for
    every index that uses them; a key equal to a requested index name holds a dict of
    overrides for that index alone (``{"SAVI": {"L": 0.5}}``). User formulas
    (:class:`~xgeo.indices.custom.UserIndex`) may also use constants of their own from
    ``constants``.
    """
    if dtype not in DTYPES:
        raise IndexArgumentError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    constants = dict(constants or {})
    wavelengths = dict(wavelengths or {})
    req = list(dict.fromkeys(request_items(names)))
    user = set()  # constants of the user's own, named in user formulas
    for n in req:
        if isinstance(n, UserIndex):
            own = index_constants(n, kernel)
            check_user_symbols(n, own, constants)
            user.update(own)
        else:
            get_index(n)  # unknown names fail early, with suggestions
    known = set(catalog_constants()) | {item_name(n) for n in req} | user
    unknown = [k for k in constants if k not in known]
    if unknown:
        raise MissingConstantError(
            f"constants {unknown!r} are neither catalog constants, constants of a requested "
            f"formula nor requested indices; catalog constants: "
            f"{', '.join(sorted(catalog_constants()))}")
    req_names = [item_name(n) for n in req]
    kernel_items = sorted(req, key=item_name)  # canonical order: permutations share one kernel
    kernel_names = [item_name(n) for n in kernel_items]
    slots: list[float] = []
    used: dict[str, dict[str, Any]] = {}
    trees = []
    for item in kernel_items:
        tree = _resolve_constants(item_name(item), _index_tree(item, kernel), constants,
                                  wavelengths, slots, used=used)
        if isinstance(item, UserIndex) and not any(s in BAND_SYMBOLS for s in symbols(tree)):
            raise FormulaError(f"user index {item.name!r}: formula {item.formula!r} reads no "
                               f"band; use band symbols such as N, R, G, B "
                               f"({', '.join(sorted(BAND_SYMBOLS))})")
        trees.append(tree)
    bands = sorted({s for t in trees for s in symbols(t) if s in BAND_SYMBOLS})
    vmap = {b: ast.Name(f"_v{i}") for i, b in enumerate(bands)}
    exprs = [substitute(t, vmap) for t in trees]
    source = generate_source(exprs, kernel_names, len(bands), len(slots), dtype)
    return IndexPlan(tuple(req_names), tuple(kernel_names.index(n) for n in req_names), tuple(bands),
                np.asarray(slots, dtype=np.float64), source, dtype,
                tuple((n, tuple(sorted(used.get(n, {}).items()))) for n in req_names),
                tuple(exprs))


def band_scales(symbols_: Sequence[str], scale: ScaleLike, labels: Mapping[str, Hashable] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per-band (scale, offset) arrays from ``scale``: a number, ``(scale, offset)``, or a dict
    by band symbol or band label."""
    s = np.ones(len(symbols_))
    o = np.zeros(len(symbols_))
    for i, sym in enumerate(symbols_):
        v = scale
        if isinstance(scale, Mapping):
            lab = (labels or {}).get(sym)
            v = scale.get(sym, scale.get(lab) if lab is not None else None)
        if v is None:
            continue
        if _is_number(v):
            s[i] = float(v)
        elif isinstance(v, tuple | list) and len(v) == 2 and all(map(_is_number, v)):
            s[i], o[i] = float(v[0]), float(v[1])
        else:
            raise IndexArgumentError(f"scale for band {sym} must be a number or (scale, offset), got {v!r}")
    return s, o


def n_threads() -> int:
    """Threads used for eager (NumPy) evaluation: numba's setting (``numba.set_num_threads``)."""
    import numba

    return max(1, int(numba.get_num_threads()))


_POOL: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    if not _POOL:
        import numba

        _POOL.append(ThreadPoolExecutor(max_workers=max(1, int(numba.config.NUMBA_NUM_THREADS) - 1),
                                        thread_name_prefix="xgeo-indices"))
    return _POOL[0]


def as_rows(arrays: Sequence[np.ndarray]) -> tuple[list[tuple[np.ndarray, int]], int]:
    """Kernel inputs ``(P, 1, S)`` for same-shape band arrays, and ``Q``, copying only if needed.

    C-contiguous arrays are one long row (``P = 1``; work is split into blocks of pixels). An
    array whose last axis is contiguous and whose other axes collapse into one row stride (row
    windows of a bigger array, such as dask blocks of a NumPy array) is viewed as ``P`` rows of
    ``S >= Q`` elements, of which the kernel reads the first ``Q``. Anything else is copied once.
    float16 bands (which the compiled kernels do not take) are read as float32, exactly.
    """
    arrays = [a.astype(np.float32) if a.dtype == np.float16 else a for a in arrays]
    if all(a.flags.c_contiguous for a in arrays):
        return [(a.reshape(1, 1, -1), 0) for a in arrays], int(arrays[0].size) if arrays else 0
    out = []
    for a in arrays:
        v = _row_view(a) if a.ndim >= 2 else None
        if v is None:
            c = np.ascontiguousarray(a)
            v = c.reshape(-1, 1, c.shape[-1] if c.ndim else 1)
        out.append((v, 0))
    return out, int(arrays[0].shape[-1]) if arrays[0].ndim else 1


def _row_view(a: np.ndarray) -> np.ndarray | None:
    isz = a.itemsize
    if a.strides[-1] != isz or a.shape[-1] == 0:
        return None
    if a.flags.c_contiguous:
        return a.reshape(-1, 1, a.shape[-1])
    row = a.strides[-2]
    # the leading axes must collapse into one row stride (axes of length 1 never matter)
    for i in range(a.ndim - 2):
        if a.shape[i] > 1 and a.strides[i] != a.strides[i + 1] * a.shape[i + 1]:
            return None
    if row % isz or row < a.shape[-1] * isz:
        return None
    rows = int(np.prod(a.shape[:-1]))
    return np.lib.stride_tricks.as_strided(a, (rows, 1, row // isz), (row, row, isz), writeable=False)


def run_kernel(plan: IndexPlan, arrays: Sequence[tuple[np.ndarray, int]], scale: np.ndarray,
               offset: np.ndarray, nodata: np.ndarray, *, threads: int = 1,
               q: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Run the plan's kernel on 3-D ``(P, nb, S)`` C-contiguous inputs, of which the first ``Q``
    of the last axis are read (``Q`` = ``q`` if given, else ``S``).

    Returns the ``(n_indices, P, Q)`` output in the plan's (request) order, written into
    ``out`` when given (C-contiguous, that shape, the plan's dtype). With
    ``threads > 1`` the work items are split into that many contiguous ranges run on a pool.
    """
    P, Q = arrays[0][0].shape[0], arrays[0][0].shape[2] if q is None else q
    if out is None:
        out = np.empty((len(plan.order), P, Q), dtype=plan.dtype)
    if out.size == 0:
        return out
    args: list[Any] = []
    for a, i in arrays:
        args += [a, i]
    fn = plan.kernels.kernel
    items = P * ((Q + BLOCK - 1) // BLOCK)
    threads = min(threads, items)
    if threads <= 1:
        fn(*args, scale, offset, nodata, plan.consts, plan.planes, out, BLOCK, 0, items)
        return out
    # One contiguous range per thread; the caller works on the first instead of waiting.
    step = -(-items // threads)
    common = (scale, offset, nodata, plan.consts, plan.planes, out, BLOCK)
    futs = [_pool().submit(fn, *args, *common, t, t + step) for t in range(step, items, step)]
    fn(*args, *common, 0, step)
    for f in futs:
        f.result()
    return out


def evaluate(bands: Mapping[str, Any], names: str | Iterable[str], *, constants: ConstantsLike = None,
             scale: ScaleLike = None, nodata: float | Mapping[str, float] | None = None,
             wavelengths: Mapping[str, float] | None = None, kernel: str = "rbf",
             dtype: str = "float32", threads: int | None = None,
             out: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Compute spectral indices from NumPy arrays keyed by catalog band symbol.

    All requested indices are computed in one fused, multi-threaded pass that reads each band
    once per pixel. A denominator of exactly zero gives NaN (as do other infinite results), a
    band value equal to its ``nodata`` gives NaN, and NaN inputs propagate.

    Parameters
    ----------
    bands
        ``{"N": array, "R": array, ...}``: arrays of one shape, any number of dims, keyed by the
        catalog's band symbols (see :func:`xgeo.indices.catalog`).
    names
        One index name or several; user formulas as ``{name: formula}`` dicts, alone or in the
        list (see :mod:`xgeo.indices.custom`).
    constants
        Overrides of catalog constants (``{"L": 0.5}``), per index with ``{"SAVI": {"L": 0.5}}``.
    scale
        For integer data: a factor, ``(factor, offset)``, or a dict of those by band symbol;
        physical value = raw * factor + offset.
    nodata
        Raw value(s) meaning "no data" (a number, or a dict by band symbol).
    wavelengths
        Central wavelengths (nm) by band symbol, for the ``lambda*`` constants.
    kernel
        Kernel of the kernel indices (kNDVI...): ``"rbf"`` (default), ``"linear"``, ``"poly"``.
    dtype
        ``"float32"`` (default) or ``"float64"``: output type and arithmetic precision.
    threads
        Threads to use; default numba's thread count (``numba.set_num_threads``).
    out
        Optional C-contiguous buffer of shape ``(len(names), *band_shape)`` and type ``dtype``
        to write into (e.g. reused across tiles); the returned arrays are views of it.

    Returns
    -------
    dict
        Index name -> array of the bands' shape.

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo.indices import evaluate
    >>> out = evaluate({"N": np.array([0.75, 0.5, 0.0]), "R": np.array([0.25, 0.5, 0.0])}, "NDVI")
    >>> out["NDVI"]
    array([0.5, 0. , nan], dtype=float32)
    """
    items = list(dict.fromkeys(request_names(names)))
    plan = build_plan(items, constants=constants, wavelengths=wavelengths, kernel=kernel, dtype=dtype)
    bad = [k for k in bands if k not in BAND_SYMBOLS]
    if bad:
        raise MissingBandError(
            f"evaluate() takes bands keyed by catalog symbols ({', '.join(sorted(BAND_SYMBOLS))}); "
            f"got {bad!r}. Map your band names with compute_indices(..., bands=) instead.")
    for item in items:
        name = item_name(item)
        miss = [b for b in index_bands(item, kernel) if b not in bands]
        if miss:
            raise MissingBandError(
                f"{name} needs bands {', '.join(index_bands(item, kernel))}; missing "
                f"{', '.join(miss)}; given: {', '.join(bands) or 'none'}")
    arrs = [np.asarray(bands[s]) for s in plan.symbols]
    shape = arrs[0].shape if arrs else ()
    for s, a in zip(plan.symbols, arrs, strict=True):
        if a.shape != shape:
            raise IndexArgumentError(f"band {s} has shape {a.shape}, expected {shape} like {plan.symbols[0]}")
        if a.dtype.kind not in "uif":
            raise InputTypeError(f"band {s} has dtype {a.dtype}; numeric bands are required")
    if arrs and len({a.dtype for a in arrs}) > 1:
        common = np.result_type(*arrs)
        arrs = [a.astype(common, copy=False) for a in arrs]
    warn_unscaled(arrs, scale)
    s, o = band_scales(plan.symbols, scale)
    nd = np.full(len(plan.symbols), np.nan)
    for i, sym in enumerate(plan.symbols):
        v = nodata.get(sym) if isinstance(nodata, Mapping) else nodata
        if v is not None:
            nd[i] = float(v)
    rows, q = as_rows(arrs)
    if out is not None:
        want = (len(plan.names), *shape)
        if out.shape != want or out.dtype != np.dtype(dtype) or not out.flags.c_contiguous:
            raise IndexArgumentError(f"out must be a C-contiguous {dtype} array of shape {want}, got "
                             f"{out.dtype} {out.shape}")
        out = out.reshape(len(plan.names), rows[0][0].shape[0] if rows else 1, q)
    out = run_kernel(plan, rows, s, o, nd, threads=threads or n_threads(), q=q, out=out)
    return {n: out[i].reshape(shape) for i, n in enumerate(plan.names)}


def warn_unscaled(arrs: Sequence[Any], scale: Any) -> None:
    """Integer bands without a scale are computed on raw values: say so once."""
    if scale is None and any(np.dtype(a.dtype).kind in "ui" for a in arrs):
        warnings.warn(
            "integer bands without a scale: indices are computed on the raw values. Indices with "
            "additive constants (EVI, SAVI...) need reflectance: pass scale=1e-4 for "
            "reflectance x 10000, (factor, offset) for other products, or scale=1 to silence this.",
            UserWarning, stacklevel=3)
