"""An independent plain-NumPy evaluator of catalog formulas, for tests only.

It walks the formula's syntax tree with NumPy operations (no code generation, nothing shared
with xgeo.indices beyond reading the same catalog JSON files), so it checks xgeo's generated
kernels from the outside. Zero denominators give NaN and infinite results become NaN: the
semantics xgeo documents.
"""

from __future__ import annotations

import ast
import json
from importlib import resources

import numpy as np

DATA = resources.files("xgeo") / "indices" / "data"
CATALOG = json.loads((DATA / "spectral-indices.json").read_text())["SpectralIndices"]
CONSTANTS = {k: v["default"] for k, v in json.loads((DATA / "constants.json").read_text()).items()}
BANDS_TABLE = json.loads((DATA / "bands.json").read_text())
BAND_SYMBOLS = set(BANDS_TABLE) | {"VV", "VH", "HH", "HV"}

# Written out by hand (not taken from xgeo's presets) so a preset bug cannot hide.
S2_BANDS = {"A": "B01", "B": "B02", "G": "B03", "R": "B04", "RE1": "B05", "RE2": "B06",
            "RE3": "B07", "N": "B08", "N2": "B8A", "WV": "B09", "S1": "B11", "S2": "B12"}


def _kernel_rbf(a, b, sigma):
    return np.exp(-((a - b) ** 2) / (2.0 * sigma ** 2))


def evaluate(formula: str, values: dict, dtype=np.float64) -> np.ndarray:
    """Evaluate ``formula`` with ``values`` (bands as arrays, constants as numbers)."""
    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id in values:
                return values[node.id]
            # a kernel symbol such as kNR = k(N, R), RBF kernel
            rest = node.id[1:]
            for i in range(1, len(rest)):
                if rest[:i] in values and rest[i:] in values:
                    return _kernel_rbf(values[rest[:i]], values[rest[i:]], values["sigma"])
            raise KeyError(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.Call):  # the whitelisted functions, as NumPy ufuncs
            fn = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs,
                  "tanh": np.tanh}[node.func.id]
            return fn(ev(node.args[0]))
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                q = np.divide(a, b)
                return np.where(np.asarray(b) == 0, np.nan, q)
            if isinstance(node.op, ast.Pow):
                return np.power(a, b)
        raise TypeError(ast.dump(node))

    with np.errstate(all="ignore"):
        out = np.asarray(ev(ast.parse(formula, mode="eval")), dtype=dtype)
        out = np.where(np.isinf(out), np.nan, out)
    return out.astype(dtype)


def needed_bands(name: str) -> set[str]:
    """Band symbols an index reads, kernel symbols (kNR -> N, R) included."""
    out = set()
    for s in CATALOG[name]["bands"]:
        if s in BAND_SYMBOLS:
            out.add(s)
        elif s not in CONSTANTS:  # kernel symbol
            rest = s[1:]
            for i in range(1, len(rest)):
                if rest[:i] in BAND_SYMBOLS | set(CONSTANTS) and rest[i:] in BAND_SYMBOLS | set(CONSTANTS):
                    out |= {rest[:i], rest[i:]} & BAND_SYMBOLS
                    break
    return out


def computable(symbols, wavelengths=False, extra_constants=()) -> list[str]:
    """Catalog indices computable from ``symbols`` given catalog constant defaults."""
    def const_ok(c):
        return (CONSTANTS[c] is not None or c in extra_constants
                or (wavelengths and c.startswith("lambda")))
    return sorted(n for n, v in CATALOG.items() if needed_bands(n) <= set(symbols)
                  and all(const_ok(c) for c in v["bands"] if c in CONSTANTS))
