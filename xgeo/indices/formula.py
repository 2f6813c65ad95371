"""Safe parsing of index formulas: Python's ``ast`` with a whitelist of node types.

A formula is arithmetic on names and numbers (``+ - * / **``, unary minus) plus a few
whitelisted functions (``exp``, ``log``, ``sqrt``, ``abs``, ``tanh``) used by the kernel
indices. Anything else (attributes, subscripts, comparisons, lambdas, strings, ...) is refused:
formula text is never ``eval``-ed, it is only walked.
"""

from __future__ import annotations

import ast
import copy
import math
from collections.abc import Mapping

from ..errors import FormulaError

__all__ = ["parse", "symbols", "substitute", "depth", "FUNCTIONS", "MAX_FORMULA_LENGTH",
           "MAX_FORMULA_DEPTH", "MAX_EXPONENT"]

#: Whitelisted functions: name -> (arity, float64 implementation used for constant folding).
FUNCTIONS = {
    "exp": (1, math.exp),
    "log": (1, math.log),
    "sqrt": (1, math.sqrt),
    "abs": (1, abs),
    "tanh": (1, math.tanh),
}
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_UNARY = (ast.USub, ast.UAdd)
#: Longer text is refused before parsing (deep nesting could exhaust the parser's stack).
MAX_FORMULA_LENGTH = 4000
#: Deepest nesting of operations accepted (``a + b + c`` is 3 deep: ``(a + b) + c``), in a
#: formula as written and once constant formulas are substituted into an index. The catalog's
#: deepest index (GEMI) is 12; deeper trees would exhaust Python's stack in the tree walks.
MAX_FORMULA_DEPTH = 64
#: Largest magnitude of a constant exponent (``N ** 2000`` is refused): beyond it any value
#: other than 0 and 1 overflows or vanishes, so such a formula is a typo or an attack. The
#: catalog's largest is 4.
MAX_EXPONENT = 1024.0


def depth(tree: ast.AST) -> int:
    """Nesting depth of the expression nodes of ``tree`` (a name or number is 1), iteratively."""
    best = 0
    stack = [(tree, 0)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, ast.expr):
            d += 1
            best = max(best, d)
        stack.extend((c, d) for c in ast.iter_child_nodes(node))
    return best


def check_depth(d: int, what: str) -> None:
    """Raise :class:`FormulaError` if a depth ``d`` of ``what`` is above the limit."""
    if d > MAX_FORMULA_DEPTH:
        raise FormulaError(
            f"{what} nests operations {d} deep; the limit is MAX_FORMULA_DEPTH = "
            f"{MAX_FORMULA_DEPTH}. Group long sums or products with parentheses "
            "(e.g. (a + b) + (c + d)) or simplify the formula.")


def _check(node: ast.AST, text: str) -> None:
    if isinstance(node, ast.Expression):
        _check(node.body, text)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, _BINOPS):
        _check(node.left, text)
        _check(node.right, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, _UNARY):
        _check(node.operand, text)
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        if node.id.startswith("_"):
            raise FormulaError(f"name {node.id!r} in formula {text!r}: names may not start with '_'")
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise FormulaError(f"constant {node.value!r} in formula {text!r}: only numbers are allowed")
    elif isinstance(node, ast.Call):
        f = node.func
        if not (isinstance(f, ast.Name) and f.id in FUNCTIONS) or node.keywords:
            what = ast.unparse(f)
            raise FormulaError(
                f"call to {what!r} in formula {text!r}: only {', '.join(FUNCTIONS)} may be called"
            )
        if len(node.args) != FUNCTIONS[f.id][0]:
            raise FormulaError(f"{f.id}() takes {FUNCTIONS[f.id][0]} argument(s) in formula {text!r}")
        for a in node.args:
            _check(a, text)
    else:
        raise FormulaError(
            f"{type(node).__name__} ({ast.unparse(node)!r}) is not allowed in formula {text!r}; "
            "formulas may use numbers, names, + - * / **, unary minus and "
            f"{', '.join(FUNCTIONS)}()"
        )


def _constant(node: ast.expr, text: str) -> float | None:
    """Float64 value of a number-only subtree (None if it reads a name); raises
    :class:`FormulaError` when that value overflows or is not a real number, and for a
    constant exponent above :data:`MAX_EXPONENT`. Division by zero is left to run time (NaN)."""
    if isinstance(node, ast.Constant):
        v = node.value
    elif isinstance(node, ast.Name):
        return None
    elif isinstance(node, ast.UnaryOp):
        v = _constant(node.operand, text)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    elif isinstance(node, ast.Call):
        v = _constant(node.args[0], text)
        if v is None:
            return None
        fn = FUNCTIONS[node.func.id][1]
        try:
            v = fn(v)
        except (ArithmeticError, ValueError) as exc:
            raise FormulaError(f"{ast.unparse(node)!r} in formula {_short(text)} is not a real "
                               f"number ({exc})") from None
    else:  # BinOp (parse's whitelist allows nothing else)
        a, b = _constant(node.left, text), _constant(node.right, text)
        if isinstance(node.op, ast.Pow) and b is not None and abs(b) > MAX_EXPONENT:
            raise FormulaError(f"exponent {ast.unparse(node.right)} in formula {_short(text)} is "
                               f"above MAX_EXPONENT = {MAX_EXPONENT:g} in magnitude")
        if a is None or b is None:
            return None
        try:
            if isinstance(node.op, ast.Div):
                return None if b == 0 else a / b
            v = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(node.op)) \
                if not isinstance(node.op, ast.Pow) else a ** b
        except (ArithmeticError, ValueError) as exc:
            raise FormulaError(f"{ast.unparse(node)!r} in formula {_short(text)} overflows "
                               f"({exc})") from None
        if isinstance(v, complex):
            raise FormulaError(f"{ast.unparse(node)!r} in formula {_short(text)} is not a real "
                               "number")
    try:
        v = float(v)
    except OverflowError:
        raise FormulaError(f"number {ast.unparse(node)[:40]!r} in formula {_short(text)} is too "
                           "large for a float") from None
    if not math.isfinite(v):
        raise FormulaError(f"{ast.unparse(node)[:80]!r} in formula {_short(text)} is "
                           f"{v} (too large for a float)")
    return v


def parse(text: str) -> ast.expr:
    """Parse and validate a formula; return its expression tree.

    Raises
    ------
    FormulaError
        Syntax error, too long, a node type outside the whitelist, a number-only part that
        overflows (``10 ** 400``) or is not real (``sqrt(-1)``), or a constant exponent above
        :data:`MAX_EXPONENT`.

    Examples
    --------
    >>> import ast
    >>> from xgeo.indices.formula import parse
    >>> ast.unparse(parse("(N - R)/(N + R)"))
    '(N - R) / (N + R)'
    >>> parse("__import__('os')")
    Traceback (most recent call last):
    ...
    xgeo.errors.FormulaError: call to '__import__' in formula "__import__('os')": only exp, log, sqrt, abs, tanh may be called
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, got {type(text).__name__}")
    if len(text) > MAX_FORMULA_LENGTH:
        raise FormulaError(f"formula is {len(text)} characters long; the limit is {MAX_FORMULA_LENGTH}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError) as e:
        raise FormulaError(f"cannot parse formula {_short(text)}: {e}") from None
    check_depth(depth(tree.body), f"formula {_short(text)}")
    _check(tree, text)
    _constant(tree.body, text)
    return tree.body


def _short(text: str, n: int = 80) -> str:
    return repr(text) if len(text) <= n else repr(text[:n]) + f"... ({len(text)} characters)"


def symbols(tree: ast.AST) -> set[str]:
    """Names used in a parsed formula (function names excluded)."""
    funcs = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in funcs}


class _Sub(ast.NodeTransformer):
    def __init__(self, mapping: Mapping[str, ast.expr]) -> None:
        self.mapping = mapping

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node.args = [self.visit(a) for a in node.args]  # never substitute the function name
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.mapping:
            return copy.deepcopy(self.mapping[node.id])
        return node


def substitute(tree: ast.expr, mapping: Mapping[str, ast.expr]) -> ast.expr:
    """A copy of ``tree`` with each name in ``mapping`` replaced by its (parsed) expression."""
    return _Sub(mapping).visit(copy.deepcopy(tree))
