"""Turn parsed formulas into one fused numba kernel, cached in memory and on disk.

The generated kernel reads every band once per pixel, applies the integer scale/offset and the
nodata test, evaluates all requested formulas (common sub-expressions shared) and writes one
output plane per index. numba's ``cache=True`` cannot cache functions created by ``exec``, so
the source is written to a file named by its hash in a per-user cache directory and imported
as a module: a second process finds both the file and numba's compiled code and pays no
compile time.

Semantics fixed here (and documented in :mod:`xgeo.indices`):

- a division whose denominator is exactly zero gives NaN (not inf, not an epsilon);
- any other infinite result (e.g. ``0 ** -1``, overflow) is also stored as NaN;
- a raw band value equal to that band's nodata value becomes NaN before any arithmetic, so NaN
  reaches exactly the indices that use that band.
"""

from __future__ import annotations

import ast
import hashlib
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

from ..errors import FormulaError
from .cachedir import kernel_cache_dir, untrusted_reason, warn_once

__all__ = ["generate_source", "load_kernels", "cache_dir", "fold", "BLOCK"]

#: Pixels per parallel work item: large enough to amortise scheduling, small enough to balance.
BLOCK = 16384
_LOCK = threading.Lock()
_MODULES: dict[str, ModuleType] = {}
_FTYPES = {"float32": "np.float32", "float64": "np.float64"}
# The kernel's decorator; without a trusted cache directory the module is compiled from memory
# with caching off (numba cannot cache a function that has no source file).
_CACHED = '@njit(nogil=True, cache=True, error_model="numpy")'
_UNCACHED = '@njit(nogil=True, cache=False, error_model="numpy")'


def cache_dir() -> Path | None:
    """Directory of generated kernel modules (and numba's cache of them); None if caching on
    disk is off.

    ``$XGEO_CACHE_DIR/indices`` if set, else ``$XDG_CACHE_HOME/xgeo/indices`` (default
    ``~/.cache/xgeo/indices``); ``$TMPDIR/xgeo-<uid>/indices`` if that cannot be written. A
    directory another user could write into is refused with a
    :class:`~xgeo.errors.KernelCacheWarning`; see :mod:`xgeo.indices.cachedir`.
    """
    return kernel_cache_dir()


def fold(node: ast.expr) -> float | None:
    """Value of a literal-only subtree in float64 (as Python would), else None: what the
    kernels (and :mod:`xgeo.indices.tensor`) use as one constant of the index's float type.

    Examples
    --------
    >>> import ast
    >>> fold(ast.parse("2 * 0.5 + 1", mode="eval").body), fold(ast.parse("N + 1", mode="eval").body)
    (2.0, None)
    """
    from .formula import FUNCTIONS

    if isinstance(node, ast.Constant):
        return float(node.value)
    try:
        if isinstance(node, ast.UnaryOp):
            v = fold(node.operand)
            return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
        if isinstance(node, ast.BinOp):
            a, b = fold(node.left), fold(node.right)
            if a is None or b is None:
                return None
            op = type(node.op)
            if op is ast.Div and b == 0:
                return None  # leave to runtime: gives NaN
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(op) if op not in (
                ast.Div, ast.Pow) else (a / b if op is ast.Div else a ** b)
        if isinstance(node, ast.Call):
            v = fold(node.args[0])
            return None if v is None else float(FUNCTIONS[node.func.id][1](v))
    except (ArithmeticError, ValueError, TypeError):
        return None
    return None


class _Emitter:
    """Emit straight-line SSA statements for expression trees over ``_v<i>`` / ``_c<j>`` names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.literals: dict[float, str] = {}
        self.memo: dict[tuple, str] = {}
        self.n = 0

    def literal(self, value: float) -> str:
        value = float(value)
        key = value if value == value else "nan"
        if key not in self.literals:
            self.literals[key] = f"K{len(self.literals)}"
        return self.literals[key]

    def _tmp(self, key: tuple, expr: str, *post: str) -> str:
        if key in self.memo:
            return self.memo[key]
        name = f"t{self.n}"
        self.n += 1
        self.lines.append(f"{name} = {expr}")
        self.lines.extend(p.format(name=name) for p in post)
        self.memo[key] = name
        return name

    def emit(self, node: ast.expr) -> str:
        v = fold(node)
        if v is not None and isinstance(v, float):
            return self.literal(v)
        if isinstance(node, ast.Name):
            if not node.id.startswith(("_v", "_c")):
                raise FormulaError(f"unresolved symbol {node.id!r}")  # resolution is the caller's job
            return node.id[1:]
        if isinstance(node, ast.UnaryOp):
            a = self.emit(node.operand)
            return a if isinstance(node.op, ast.UAdd) else self._tmp(("neg", a), f"-{a}")
        if isinstance(node, ast.Call):
            a = self.emit(node.args[0])
            fn = {"abs": "abs"}.get(node.func.id, f"math.{node.func.id}")
            return self._tmp((node.func.id, a), f"{fn}({a})")
        if isinstance(node, ast.BinOp):
            op = type(node.op)
            if op is ast.Pow:
                e = fold(node.right)
                a = self.emit(node.left)
                if e == 1.0:
                    return a
                if e == 2.0:
                    return self._tmp(("mul", a, a), f"{a} * {a}")
                if e == 0.5:
                    return self._tmp(("sqrt", a), f"math.sqrt({a})")
                b = self.emit(node.right)
                return self._tmp(("pow", a, b), f"{a} ** {b}")
            a, b = self.emit(node.left), self.emit(node.right)
            if op is ast.Div:
                return self._tmp(("div", a, b), f"{a} / {b}", f"if {b} == ZERO: {{name}} = NAN")
            sym = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}[op]
            key = (sym, *sorted((a, b))) if sym in "+*" else (sym, a, b)
            return self._tmp(key, f"{a} {sym} {b}")
        raise FormulaError(f"cannot generate code for {ast.dump(node)}")  # parse() forbids this


_TEMPLATE = '''\
# Generated by xgeo.indices.codegen; do not edit. Outputs: {names}
import math

import numpy as np
from numba import njit

F = {ftype}
NAN = F(np.nan)
ZERO = F(0.0)
{literals}


{decorator}
def kernel({args}, scale, offset, nodata, c, plane, out, block, t_start, t_stop):
{loop}
'''


def generate_source(exprs: list[ast.expr], names: list[str], n_bands: int, n_consts: int,
                    dtype: str) -> str:
    """Python source of a module defining the fused ``kernel``.

    ``exprs`` use ``_v<i>`` for band ``i`` (already scaled, nodata -> NaN) and ``_c<j>`` for
    constant slot ``j``. Kernel arguments: ``x0, i0, x1, i1, ...`` (3-D C-contiguous arrays
    ``(P, nbands_k, Q)`` and the band's position on axis 1), per-band ``scale``, ``offset``,
    ``nodata``, constants ``c``, ``plane`` (output plane of each expression, so the caller's
    order needs no copy), output ``out`` of shape ``(len(exprs), P, Q)``, ``block`` and
    the range ``[t_start, t_stop)`` of work items (``block`` pixels of one ``p`` each) to do:
    callers split that range across threads (the kernel releases the GIL). Plain threads
    rather than ``parallel=True``: a parfor costs 2-3x the compile time and cannot be called
    from several threads at once under every threading layer.
    """
    em = _Emitter()
    results = [em.emit(e) for e in exprs]
    used = sorted({int(n[1:]) for line in em.lines for n in _names(line) if n[0] == "v"}
                  | {int(r[1:]) for r in results if r[0] == "v"})
    body = []
    for i in used:
        body += [f"r{i} = a{i}[q]", f"v{i} = F(r{i}) * s{i} + o{i}",
                 f"if r{i} == d{i}: v{i} = NAN"]
    body += em.lines
    for k, r in enumerate(results):
        if r[0] == "K" or r[0] == "c":  # a constant formula: still NaN where bands are missing
            body.append(f"w{k}[q] = {r}")
        else:
            body += [f"if math.isinf({r}): {r} = NAN", f"w{k}[q] = {r}"]
    consts = [f"s{i} = F(scale[{i}])\no{i} = F(offset[{i}])\nd{i} = nodata[{i}]" for i in used]
    consts += [f"c{j} = F(c[{j}])" for j in range(n_consts)]
    ind = " " * 4
    loop = "\n".join([
        ind + "P = out.shape[1]", ind + "Q = out.shape[2]", ind + "nblk = (Q + block - 1) // block",
        *(ind + line for c in consts for line in c.split("\n")),
        ind + "for t in range(max(t_start, 0), min(t_stop, P * nblk)):",
        ind * 2 + "p = t // nblk", ind * 2 + "q0 = (t % nblk) * block",
        ind * 2 + "q1 = min(q0 + block, Q)",
        # 1-D views hoisted out of the pixel loop, indexed from 0: LLVM vectorises that loop
        # (a loop from q0 keeps numba's negative-index wraparound test, which blocks SIMD).
        *(ind * 2 + f"a{i} = x{i}[p, i{i}, q0:q1]" for i in used),
        *(ind * 2 + f"w{k} = out[plane[{k}], p, q0:q1]" for k in range(len(results))),
        ind * 2 + "for q in range(q1 - q0):",
        *(ind * 3 + b for b in body),
    ])
    return _TEMPLATE.format(
        names=", ".join(names),
        ftype=_FTYPES[dtype],
        literals="\n".join(f"{k} = F(float({str(v)!r}))" for v, k in em.literals.items()),
        args=", ".join(f"x{i}, i{i}" for i in range(n_bands)),
        loop=loop,
        decorator=_CACHED,
    )


def _names(line: str) -> list[str]:
    import re

    return re.findall(r"\b([vc]\d+)\b", line)


def load_kernels(source: str) -> ModuleType:
    """Import (once per process) the module for ``source``: from the on-disk cache when a
    trusted cache directory exists (:func:`cache_dir`), else compiled in memory.

    The module is executed from ``source`` itself (never from the file's bytes or a ``.pyc``),
    and numba's own cache directory for it (in-tree ``__pycache__``, or ``$NUMBA_CACHE_DIR``)
    is checked like the cache directory before anything is loaded from it.
    """
    key = hashlib.sha256(source.encode()).hexdigest()[:24]
    mod = _MODULES.get(key)
    if mod is not None:
        return mod
    with _LOCK:
        mod = _MODULES.get(key)
        if mod is not None:
            return mod
        name = f"_xgeo_indices_kernels.k{key}"
        d = cache_dir()
        mod = None
        if d is not None:
            try:
                mod = _from_file(d / f"xgeo_indices_{key}.py", source, name)
            except OSError as exc:
                warn_once(str(d), f"the kernel module cannot be written ({exc})")
        if mod is None:
            mod = _in_memory(source.replace(_CACHED, _UNCACHED, 1), name, key)
        _MODULES[key] = mod
        return mod


def _exec(code: str, name: str, filename: str) -> ModuleType:
    mod = ModuleType(name)
    mod.__file__ = filename
    sys.modules[name] = mod  # numba's cache looks the module up while compiling
    exec(compile(code, filename, "exec"), mod.__dict__)
    return mod


def _in_memory(code: str, name: str, key: str) -> ModuleType:
    return _exec(code, name, f"<xgeo index kernel {key}>")


def _from_file(path: Path, source: str, name: str) -> ModuleType | None:
    """The module executed from ``path`` (written if it differs from ``source``), or None
    when numba would cache it in an untrusted directory."""
    # Rewriting only when the content differs keeps the file numba's cache is keyed on.
    try:
        same = path.read_text(encoding="utf-8") == source
    except OSError:
        same = False
    if not same:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(source)
        os.replace(tmp, path)
    mod = _exec(source, name, str(path))
    # Where numba will unpickle this kernel's cache from: our __pycache__ (checked already)
    # unless NUMBA_CACHE_DIR or a custom locator sends it elsewhere; check that place too.
    where = mod.kernel.stats.cache_path
    if where is not None and Path(where) != path.parent / "__pycache__":
        reason = untrusted_reason(where)
        if reason is not None:
            del sys.modules[name]
            warn_once(str(where), reason)
            return None
    return mod
