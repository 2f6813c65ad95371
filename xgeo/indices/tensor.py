"""Spectral indices on torch tensors, on whatever device they live (a GPU batch stays there).

:func:`evaluate_tensors` evaluates an :class:`~xgeo.indices.core.IndexPlan`'s expressions, the
same trees the fused numba kernel is generated from, with torch operations, in the plan's
float type and with the kernel's rules: a band value equal to its ``nodata`` is NaN, then
``value * scale + offset``; constant subtrees folded in float64 and used as one constant of
the float type; ``x ** 2`` as ``x * x`` and ``x ** 0.5`` as ``sqrt(x)``; a division by exactly
zero is NaN; an infinite result is NaN; an index that reads no band is its constant
everywhere. On CPU arrays the numba kernel stays the fast path (:func:`xgeo.indices.evaluate`);
this module is for tensors that are not on the CPU, e.g. batches of
``ChipDataset(device="cuda")`` given to :class:`~xgeo.torch.Indices`.

torch is imported when a function is called, not when this module is imported.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from typing import Any

from ..errors import FormulaError, IndexArgumentError
from .codegen import fold
from .core import IndexPlan

__all__ = ["equal_values", "evaluate_tensors"]

_FUNCTIONS = ("exp", "log", "sqrt", "tanh", "abs")


def evaluate_tensors(plan: IndexPlan, bands: Sequence[Any], scale: Sequence[float],
                     offset: Sequence[float], nodata: Sequence[float]) -> Any:
    """The plan's indices as one tensor ``(len(plan.names), *shape)`` in the plan's dtype.

    Parameters
    ----------
    plan
        From :func:`xgeo.indices.core.build_plan`.
    bands
        One tensor per ``plan.symbols`` entry, all of one shape and on one device (any
        numeric dtype: raw values, compared with ``nodata`` before scaling).
    scale, offset, nodata
        Per band, as :func:`xgeo.indices.core.band_scales` gives them; ``nodata`` NaN for
        none.

    Returns
    -------
    torch.Tensor
        On the bands' device, indices in ``plan.names`` order.

    Examples
    --------
    >>> import torch
    >>> from xgeo.indices.core import build_plan
    >>> plan = build_plan(["NDVI"])
    >>> n, r = torch.tensor([0.75, 0.5, 0.0]), torch.tensor([0.25, 0.5, 0.0])
    >>> evaluate_tensors(plan, [n, r], [1.0, 1.0], [0.0, 0.0], [math.nan] * 2)
    tensor([[0.5000, 0.0000,    nan]])
    """
    import torch

    if len(bands) != len(plan.symbols):
        raise IndexArgumentError(f"the plan reads bands {list(plan.symbols)}; got {len(bands)} "
                                 "tensors")
    if not plan.exprs:
        raise IndexArgumentError("this IndexPlan holds no expressions (made by an older xgeo?); "
                                 "build it again with xgeo.indices.core.build_plan")
    ftype = torch.float32 if plan.dtype == "float32" else torch.float64
    shape = tuple(bands[0].shape)
    device = bands[0].device
    for s, b in zip(plan.symbols, bands, strict=True):
        if tuple(b.shape) != shape or b.device != device:
            raise IndexArgumentError(f"band {s} is {tuple(b.shape)} on {b.device}; expected "
                                     f"{shape} on {device} like {plan.symbols[0]}")

    def const(v: float) -> Any:
        return torch.tensor(float(v), dtype=ftype, device=device)

    values = []
    for raw, s, o, d in zip(bands, scale, offset, nodata, strict=True):
        v = raw.to(ftype) * const(s) + const(o)
        if not math.isnan(float(d)):
            v = torch.where(equal_values(raw, float(d)), const(math.nan), v)
        values.append(v)
    consts = [const(c) for c in plan.consts.tolist()]
    out = torch.empty((len(plan.names), *shape), dtype=ftype, device=device)
    for k, expr in enumerate(plan.exprs):
        target = out[int(plan.planes[k])]
        folded = fold(expr)
        if folded is not None:  # an index of literals: its value (in the float type) everywhere
            target.fill_(folded)
            continue
        result = _emit(expr, values, consts, const, {})
        if result.ndim == 0:  # an index of constant slots only: its value everywhere
            target.copy_(result.expand(shape))
            continue
        target.copy_(torch.where(torch.isinf(result), const(math.nan), result))
    return out


def equal_values(raw: Any, value: float) -> Any:
    """``raw == value`` for a tensor of stored values, as NumPy and the numba kernels compare
    them (in float64): exact for integers of any width (torch would compare an integer tensor
    with a float in float32) and for floats not exact in float32.

    Examples
    --------
    >>> import torch
    >>> equal_values(torch.tensor([2147483600, 2147483647], dtype=torch.int32), 2147483647.0)
    tensor([False,  True])
    """
    import torch

    if raw.dtype.is_floating_point:
        return raw.to(torch.float64) == value
    if value != int(value):
        return torch.zeros(raw.shape, dtype=torch.bool, device=raw.device)
    return raw == int(value)


def _emit(node: ast.expr, values: list[Any], consts: list[Any], const: Any,
          memo: dict[int, Any]) -> Any:
    """The tensor of one expression node (the generated kernel's statement for it)."""
    import torch

    key = id(node)
    if key in memo:
        return memo[key]
    folded = fold(node)
    if folded is not None:
        result = const(folded)
    elif isinstance(node, ast.Name):
        if node.id.startswith("_v"):
            result = values[int(node.id[2:])]
        elif node.id.startswith("_c"):
            result = consts[int(node.id[2:])]
        else:
            raise FormulaError(f"unresolved symbol {node.id!r}")
    elif isinstance(node, ast.UnaryOp):
        a = _emit(node.operand, values, consts, const, memo)
        result = a if isinstance(node.op, ast.UAdd) else -a
    elif isinstance(node, ast.Call) and node.func.id in _FUNCTIONS:
        result = getattr(torch, node.func.id)(_emit(node.args[0], values, consts, const, memo))
    elif isinstance(node, ast.BinOp):
        result = _binop(node, values, consts, const, memo)
    else:
        raise FormulaError(f"cannot evaluate {ast.dump(node)}")  # parse() forbids this
    memo[key] = result
    return result


def _binop(node: ast.BinOp, values: list[Any], consts: list[Any], const: Any,
           memo: dict[int, Any]) -> Any:
    import torch

    a = _emit(node.left, values, consts, const, memo)
    if isinstance(node.op, ast.Pow):
        e = fold(node.right)
        if e == 1.0:
            return a
        if e == 2.0:
            return a * a
        if e == 0.5:
            return torch.sqrt(a)
        return a ** _emit(node.right, values, consts, const, memo)
    b = _emit(node.right, values, consts, const, memo)
    if isinstance(node.op, ast.Div):
        return torch.where(b == 0, const(math.nan), a / b)
    if isinstance(node.op, ast.Add):
        return a + b
    if isinstance(node.op, ast.Sub):
        return a - b
    return a * b
