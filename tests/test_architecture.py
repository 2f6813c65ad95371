"""Guards on the shape of the source tree, read with :mod:`ast` (nothing is imported).

(a) the import graphs of ``xgeo`` and ``xgeo_codecs`` have no cycles (module-level and
function-local imports alike); (b) no module is over :data:`MAX_LINES` lines; (c) no
private name (``_x``) is imported across modules; (d) ``xgeo_codecs`` never imports
xgeo; (e) lower layers (:data:`LAYERS`, from DESIGN.md's "Layers") never import higher
ones; (f) xgeo raises its typed errors (:mod:`xgeo.errors`), not bare builtins.

Each check is a function of a source tree, so the ``*_catches_*`` tests feed it a tiny
fake tree holding one violation. The ``KNOWN_*`` sets allow the violations the tree has
today, which the issue-17 restructure removes; they are printed on every run and are
meant to be emptied, never extended.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"xgeo": ROOT / "xgeo", "xgeo_codecs": ROOT / "codecs" / "src" / "xgeo_codecs"}
MAX_LINES = 600

#: DESIGN.md's layers, lowest first: a module may import modules of its own layer or
#: lower ones only. ``"p.*"`` is the package ``p`` and everything under it; other entries
#: are one module. DESIGN's 5 (accessor) and 6 (torch, io, cli, datasets) are ordered as
#: the tree has them: the I/O modules below the façade and the front ends, since the
#: accessor calls ``io`` (``ds.geo.to_zarr``) and ``torch`` (``ds.geo.to_dataloader``).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("codecs", ("xgeo_codecs.*",)),
    ("utilities", ("xgeo.errors", "xgeo.spelling", "xgeo.optional", "xgeo.manifest",
                   "xgeo.nodata", "xgeo.lock", "xgeo.completion",
                   "xgeo.readerrors", "xgeo.lossless", "xgeo._objectstore",
                   "xgeo.datacard", "xgeo.forksafe",
                   )),
    ("grid", ("xgeo.grid",)),
    ("conventions and storage", ("xgeo.crs", "xgeo.bands", "xgeo.categorical",
                                 "xgeo.peer_cubes",
                                 "xgeo.validity", "xgeo.geotiff", "xgeo.storestate",
                                 "xgeo.store", "xgeo.appending", "xgeo.verify",
                                 "xgeo.compression",
                                 "xgeo.chunkshape", "xgeo.storechunks",
                                 "xgeo.outputs", "xgeo._chunkobjects", "xgeo._diskcache",
                                 "xgeo._chunkread")),
    ("kernels", ("xgeo.indices.*", "xgeo.reproject.*", "xgeo.chips", "xgeo.clip",
                 "xgeo.quicklook", "xgeo.preview", "xgeo.metrics",
                 "xgeo.masks",
                 "xgeo.labels", "xgeo.labelburn", "xgeo.pointchips",
                 "xgeo.chipsplit", "xgeo.chipindex", "xgeo.chipplan",
                 "xgeo.composite", "xgeo._composite_kernels",
                 )),
    ("io", ("xgeo.io", "xgeo.datasets", "xgeo.info", "xgeo.loader_source",
            "xgeo.stacking.*",
            "xgeo.cubemeta",
            )),
    ("edge", ("xgeo.accessor", "xgeo.torch.*", "xgeo.pipeline", "xgeo.cli", "xgeo._cli_options",
              "xgeo._cli_output", "xgeo",
              "xgeo.prepare",
              )),
)

# -- today's violations, removed by the issue-17 restructure: empty these, never add --------
#: import edges left out of the cycle search (the lower module's function-local import).
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()
#: modules allowed over MAX_LINES.
KNOWN_LONG: set[str] = set()
#: (importer, module, private name) imported across modules.
KNOWN_PRIVATE: set[tuple[str, str, str]] = set()
#: (importer, imported) pairs allowed to go up a layer.
KNOWN_LAYER: set[tuple[str, str]] = set()
#: (module, builtin) bare raises left in modules other helpers rewrite.
KNOWN_BARE_RAISES: set[tuple[str, str]] = set()

# -- the checks: functions of a source tree ------------------------------------------------


def find_modules(packages: Mapping[str, Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of each package directory."""
    found = {}
    for name, folder in packages.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [name, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


@functools.cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _known(name: str, modules: Mapping[str, Path]) -> str | None:
    """The longest prefix of dotted ``name`` that is one of our modules."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(module: str, modules: Mapping[str, Path]) -> Iterator[tuple[str, str, int]]:
    """``(imported module, name or "", line)`` for every import anywhere in ``module``.

    ``from p import m`` where ``p.m`` is a module imports ``p.m``; otherwise ``p``.
    Imports of anything that is not one of ``modules`` are left out.
    """
    path = modules[module]
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(alias.name, modules)
                if target:
                    yield target, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, path, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    yield sub, "", node.lineno
                elif (target := _known(base, modules)) is not None:
                    yield target, alias.name, node.lineno


def import_graph(modules: Mapping[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported module: first line importing it}."""
    graph: dict[str, dict[str, int]] = {}
    for module in modules:
        edges = graph.setdefault(module, {})
        for target, _, line in imports_of(module, modules):
            if target != module:
                edges[target] = min(line, edges.get(target, line))
    return graph


def _components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    members = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        if member == node:
                            break
                    found.append(sorted(members))
    return found


def _cycle_through(start: str, graph: Mapping[str, Iterable[str]], within: set[str]) -> list[str]:
    """A shortest path ``start -> ... -> start`` inside one component (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if child in within and child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - a component has one


def import_cycles(graph: Mapping[str, Mapping[str, int]],
                  ignore: Iterable[tuple[str, str]] = ()) -> list[str]:
    """One cycle per tangle of mutually importing modules, ``a -> b (a:12) -> a (b:30)``."""
    skip = set(ignore)
    pruned = {m: {t: ln for t, ln in edges.items() if (m, t) not in skip}
              for m, edges in graph.items()}
    cycles = []
    for members in _components(pruned):
        if len(members) == 1 and members[0] not in pruned[members[0]]:
            continue
        path = _cycle_through(members[0], pruned, set(members))
        steps = [f"{b} ({a}:{pruned[a][b]})" for a, b in zip(path, path[1:], strict=False)]
        cycles.append(" -> ".join([path[0], *steps]))
    return cycles


def long_modules(modules: Mapping[str, Path], limit: int = MAX_LINES) -> dict[str, int]:
    """module -> line count, for the modules over ``limit`` lines."""
    counts = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in modules.items()}
    return {m: n for m, n in counts.items() if n > limit}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(modules: Mapping[str, Path]) -> dict[tuple[str, str, str], int]:
    """(importer, module, private name) -> line, for ``from m import _x`` and ``m._x``.

    Private *modules* (``from . import _stream``, ``import p._mod``) are fine: that is how
    internals are shared. A name of a module's own is fine in that module.
    """
    found: dict[tuple[str, str, str], int] = {}
    for module, path in modules.items():
        for target, name, line in imports_of(module, modules):
            if name and _private(name) and target != module:
                found.setdefault((module, target, name), line)
        tree = _parse(path)
        bound: dict[str, str] = {}  # local name -> our module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in modules:
                        bound[alias.asname] = alias.name
                    elif not alias.asname and _known(alias.name.partition(".")[0], modules):
                        bound[alias.name.partition(".")[0]] = alias.name.partition(".")[0]
            elif isinstance(node, ast.ImportFrom):
                base = _base(module, path, node)
                for alias in node.names:
                    if f"{base}.{alias.name}" in modules:
                        bound[alias.asname or alias.name] = f"{base}.{alias.name}"
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            chain = []
            inner: ast.expr = node
            while isinstance(inner, ast.Attribute):
                chain.append(inner.attr)
                inner = inner.value
            if not isinstance(inner, ast.Name) or inner.id not in bound:
                continue
            current = bound[inner.id]
            for attr in reversed(chain):
                if f"{current}.{attr}" in modules:
                    current = f"{current}.{attr}"
                    continue
                if _private(attr) and current != module:
                    found.setdefault((module, current, attr), node.lineno)
                break
    return found


def foreign_imports(modules: Mapping[str, Path], package: str, forbidden: str) -> list[str]:
    """``module:line imports X`` for each import of ``forbidden`` (or ``forbidden.*``) in
    ``package``, including ``importlib.import_module("forbidden...")``."""
    def hits(name: str) -> bool:
        return name == forbidden or name.startswith(f"{forbidden}.")

    found = []
    for module, path in modules.items():
        if module != package and not module.startswith(f"{package}."):
            continue
        for node in ast.walk(_parse(path)):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            elif (isinstance(node, ast.Call) and node.args
                  and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)
                  and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"):
                names = [node.args[0].value]
            found += [f"{module}:{node.lineno} imports {n}" for n in names if hits(n)]
    return found


def layer_of(module: str, layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS) -> int | None:
    """Position in ``layers`` of ``module`` (exact entries first, then the longest ``p.*``)."""
    best: tuple[int, int] | None = None  # (specificity, layer)
    for level, (_, entries) in enumerate(layers):
        for entry in entries:
            if entry == module:
                return level
            if entry.endswith(".*"):
                package = entry[:-2]
                if module == package or module.startswith(f"{package}."):
                    if best is None or len(package) > best[0]:
                        best = (len(package), level)
    return None if best is None else best[1]


def layer_violations(graph: Mapping[str, Mapping[str, int]],
                     layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS
                     ) -> tuple[dict[tuple[str, str], str], list[str]]:
    """(upward imports -> description, modules no layer names)."""
    upward = {}
    unplaced = sorted(m for m in graph if layer_of(m, layers) is None)
    for module, edges in graph.items():
        mine = layer_of(module, layers)
        for target, line in edges.items():
            theirs = layer_of(target, layers)
            if mine is not None and theirs is not None and theirs > mine:
                upward[(module, target)] = (f"{module}:{line} ({layers[mine][0]}) imports "
                                            f"{target} ({layers[theirs][0]})")
    return upward, unplaced


def bare_raises(modules: Mapping[str, Path], builtins: Iterable[str] = (
        "ValueError", "TypeError", "KeyError")) -> dict[tuple[str, str], int]:
    """(module, builtin) -> first line of ``raise ValueError(...)`` and the like."""
    names = set(builtins)
    found: dict[tuple[str, str], int] = {}
    for module, path in modules.items():
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and exc.id in names:
                    found.setdefault((module, exc.id), node.lineno)
    return found


# -- the tree ------------------------------------------------------------------------------

MODULES = find_modules(PACKAGES)
GRAPH = import_graph(MODULES)


def _allowed(kind: str, known: set, current: Iterable) -> None:
    """Print what an allow-list lets through, and entries no longer needed."""
    now = set(current)
    for entry in sorted(known & now):
        print(f"allowed for now ({kind}): {entry}")
    for entry in sorted(known - now):
        print(f"no longer needed in KNOWN ({kind}), remove it: {entry}")


def test_the_tree_is_found():
    assert {"xgeo", "xgeo.errors", "xgeo_codecs", "xgeo_codecs.errors"} <= set(MODULES)


def test_no_import_cycles():
    for kind, package in (("xgeo", "xgeo"), ("xgeo_codecs", "xgeo_codecs")):
        graph = {m: e for m, e in GRAPH.items() if m == package or m.startswith(f"{package}.")}
        cycles = import_cycles(graph, ignore=KNOWN_CYCLE_EDGES)
        assert not cycles, f"import cycles in {kind}:\n  " + "\n  ".join(cycles)
    edges = {(m, t) for m, e in GRAPH.items() for t in e}
    _allowed("cycle edge", KNOWN_CYCLE_EDGES, edges)


def test_no_module_over_the_line_limit():
    long = long_modules(MODULES)
    _allowed("long module", KNOWN_LONG, long)
    over = {m: n for m, n in long.items() if m not in KNOWN_LONG}
    assert not over, f"modules over {MAX_LINES} lines: split them by idea: {over}"


def test_no_private_name_is_imported_across_modules():
    found = private_imports(MODULES)
    _allowed("private import", KNOWN_PRIVATE, found)
    new = [f"{i}:{line} uses {n} of {m}" for (i, m, n), line in sorted(found.items())
           if (i, m, n) not in KNOWN_PRIVATE]
    assert not new, ("private names used across modules (make them public, in a module "
                     "whose name starts with an underscore if internal):\n  " + "\n  ".join(new))


def test_the_codecs_never_import_xgeo():
    assert not foreign_imports(MODULES, "xgeo_codecs", "xgeo")


def test_lower_layers_never_import_higher_ones():
    upward, unplaced = layer_violations(GRAPH)
    assert not unplaced, f"modules in no layer: add them to LAYERS in {__file__}: {unplaced}"
    _allowed("layer", KNOWN_LAYER, upward)
    new = [text for edge, text in sorted(upward.items()) if edge not in KNOWN_LAYER]
    assert not new, "imports from a lower layer into a higher one:\n  " + "\n  ".join(new)


def test_the_grid_imports_only_the_utilities():
    utilities = {m for m in MODULES if layer_of(m) is not None and layer_of(m) <= 1}
    assert set(GRAPH["xgeo.grid"]) <= utilities, GRAPH["xgeo.grid"]


def test_xgeo_raises_typed_errors_not_bare_builtins():
    xgeo = {m: p for m, p in MODULES.items() if m == "xgeo" or m.startswith("xgeo.")}
    found = bare_raises(xgeo)
    _allowed("bare raise", KNOWN_BARE_RAISES, found)
    new = [f"{m}:{line} raises a bare {b}" for (m, b), line in sorted(found.items())
           if (m, b) not in KNOWN_BARE_RAISES]
    assert not new, ("raise the fitting class of xgeo.errors (they subclass the builtin):\n  "
                     + "\n  ".join(new))


# -- each check catches a violation in a tiny fake tree -------------------------------------


def _tree(root: Path, files: Mapping[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return find_modules({"pkg": root / "pkg", "low": root / "low"})


def test_the_cycle_check_catches_a_cycle_through_a_function_local_import(tmp_path):
    modules = _tree(tmp_path, {
        "pkg/__init__.py": "from .a import f\n",
        "pkg/a.py": "from . import b\n\ndef f():\n    return b\n",
        "pkg/sub/__init__.py": "",
        "pkg/b.py": "def g():\n    from .sub.c import h\n    return h\n",
        "pkg/sub/c.py": "import os\n\n\ndef h():\n    from ..a import f\n    return f\n",
        "low/__init__.py": "",
    })
    cycles = import_cycles(import_graph(modules))
    assert cycles == ["pkg.a -> pkg.b (pkg.a:1) -> pkg.sub.c (pkg.b:2) -> pkg.a (pkg.sub.c:5)"]
    assert not import_cycles(import_graph(modules), ignore={("pkg.sub.c", "pkg.a")})


def test_the_line_check_catches_a_long_module(tmp_path):
    modules = _tree(tmp_path, {"pkg/__init__.py": "", "pkg/long.py": "x = 1\n" * 601,
                               "pkg/ok.py": "x = 1\n" * 600})
    assert long_modules(modules) == {"pkg.long": 601}


def test_the_private_check_catches_private_names_and_spares_private_modules(tmp_path):
    modules = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/core.py": "_x = 1\n_y = 2\n\n\ndef own():\n    return _x\n",
        "pkg/_internal.py": "shared = 1\n",
        "pkg/user.py": ("from . import _internal, core\n"
                        "from ._internal import shared\n"
                        "import pkg.core\n"
                        "from .core import _x\n\n\n"
                        "def f():\n    return core._y + pkg.core._x + shared + _internal.shared\n"),
    })
    assert private_imports(modules) == {("pkg.user", "pkg.core", "_x"): 4,
                                        ("pkg.user", "pkg.core", "_y"): 8}


def test_the_foreign_import_check_catches_the_codecs_importing_xgeo(tmp_path):
    modules = _tree(tmp_path, {
        "low/__init__.py": "import pkgx\n",
        "low/a.py": "def f():\n    from pkg.errors import E\n    return E\n",
        "low/b.py": "import importlib\nm = importlib.import_module('pkg.b')\n",
        "pkg/__init__.py": "",
    })
    assert foreign_imports(modules, "low", "pkg") == [
        "low.a:2 imports pkg.errors", "low.b:2 imports pkg.b"]


def test_the_layer_check_catches_an_upward_import_and_an_unplaced_module(tmp_path):
    modules = _tree(tmp_path, {
        "low/__init__.py": "", "pkg/__init__.py": "",
        "pkg/grid.py": "def f():\n    from .edge import g\n    return g\n",
        "pkg/edge.py": "from . import grid\nfrom low import x\n",
        "pkg/new.py": "",
    })
    layers = (("bottom", ("low.*",)), ("middle", ("pkg.grid",)), ("top", ("pkg.edge", "pkg")))
    upward, unplaced = layer_violations(import_graph(modules), layers)
    assert list(upward) == [("pkg.grid", "pkg.edge")]
    assert upward[("pkg.grid", "pkg.edge")] == "pkg.grid:2 (middle) imports pkg.edge (top)"
    assert unplaced == ["pkg.new"]


def test_the_raise_check_catches_bare_builtins(tmp_path):
    modules = _tree(tmp_path, {
        "pkg/__init__.py": ("class E(ValueError):\n    pass\n\n\n"
                            "def f(x):\n    if x:\n        raise E('typed')\n"
                            "    raise KeyError\n\n\ndef g():\n    raise ValueError('bare')\n"),
    })
    assert bare_raises(modules) == {("pkg", "KeyError"): 8, ("pkg", "ValueError"): 12}


@pytest.mark.parametrize("module,layer", [("xgeo_codecs.core", "codecs"), ("xgeo.grid", "grid"),
                                          ("xgeo.reproject.plan", "kernels"),
                                          ("xgeo.torch", "edge"), ("xgeo", "edge")])
def test_layers_place_modules_as_design_md_says(module, layer):
    level = layer_of(module)
    assert level is not None and LAYERS[level][0] == layer
