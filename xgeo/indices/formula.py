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
           "MAX_FORMULA_DEPTH"]

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


def parse(text: str) -> ast.expr:
    """Parse and validate a formula; return its expression tree.

    Raises
    ------
    FormulaError
        Syntax error, too long, or a node type outside the whitelist.

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
