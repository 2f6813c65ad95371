"""Markdown for the stacking comparison: ``stack.json`` (issue #21, ``compare/stack.py``).

Used by ``benchmarks/report.py`` for the docs' topic page (every case, every pair, memory and
graph build) and the README's summary between ``<!-- stack:start -->`` and
``<!-- stack:end -->``. Every number comes from the JSON; the verdicts on the issue's targets
(identical nearest pixels, peer/xgeo >= 2 at 2 threads, a 100-item graph in < 1 s) are
computed from the same numbers.
"""

from __future__ import annotations

from report_table import markdown_table

LIBRARIES = ("xgeo", "odc-stac", "stackstac")
PEERS = ("odc-stac", "stackstac")
EXACT_XGEO = "xgeo exact=True"
#: every output centre through pyproj: who is right where the libraries disagree
EXACT_PICK = "exact"
SPEED_TARGET = 2.0
GRAPH_TARGET_S = 1.0


def _seconds(result: dict | None) -> str:
    if not result:
        return "—"
    if "min_s" not in result:
        return "error" if "error" in result else "—"
    return f"{result['min_s']:.2f} s"


def _ratio(case: dict, peer: str, lib: str = "xgeo") -> str:
    value = case.get("ratios", {}).get(f"{peer}/{lib}")
    return "—" if value is None else f"{value:.2f}"


def _identical(case: dict, a: str, b: str) -> str:
    pair = case.get("agreement", {}).get(f"{a} vs {b}")
    if not pair or pair.get("identical_fraction") is None:
        return "—"
    return f"{100 * pair['identical_fraction']:.2f} %"


def _mib(case: dict, lib: str, key: str = "peak_rss_bytes") -> str:
    value = case.get("memory", {}).get(lib, {}).get(key)
    return "—" if value is None else f"{value / 2**20:.0f}"


def _grid(case: dict) -> str:
    grid = case.get("grid", {})
    shape = grid.get("shape")
    res = grid.get("transform", [None])[0]
    if not shape:
        return "—"
    return f"{shape[0]}x{shape[1]} {grid.get('crs', '')} {res:g} m" if res else f"{shape}"


def summary_rows(data: dict) -> list[list[str]]:
    """One row per case: items and grid, each library's time, the ratios, the share of
    identical pixels xgeo has with each peer, and peak RSS."""
    rows = []
    for case in data.get("cases", []):
        res = case.get("results", {})
        rows.append([
            case["case"], f"{case.get('items', '—')} ({case.get('time_steps', '—')} steps)",
            _grid(case), *(_seconds(res.get(lib)) for lib in (*LIBRARIES, EXACT_XGEO)),
            " / ".join(_ratio(case, p) for p in PEERS),
            " / ".join(_ratio(case, p, EXACT_XGEO) for p in PEERS),
            " / ".join(_identical(case, lib, EXACT_PICK)
                       for lib in (EXACT_XGEO, "xgeo", *PEERS)),
            " / ".join(_identical(case, "xgeo", p) for p in PEERS),
            " / ".join(_mib(case, lib) for lib in (*LIBRARIES, EXACT_XGEO)),
        ])
    return rows


SUMMARY_HEADER = ["case", "items", "grid", "xgeo", "odc-stac", "stackstac", "xgeo exact=True",
                  "odc-stac / stackstac vs xgeo", "odc-stac / stackstac vs xgeo exact=True",
                  "identical to the exact pick: xgeo exact=True / xgeo / odc-stac / stackstac",
                  "identical pixels, xgeo vs odc-stac / stackstac",
                  "peak RSS MiB (xgeo / odc-stac / stackstac / exact=True)"]


def graph_line(data: dict) -> str:
    graph = data.get("graph_build")
    if not graph:
        return "Graph build: not measured."
    cells = []
    for lib in LIBRARIES:
        r = graph.get("results", {}).get(lib, {})
        if "call_and_graph_min_s" in r:
            cells.append(f"{lib} {r['call_and_graph_min_s']:.3f} s ({r['tasks']} tasks)")
        else:
            cells.append(f"{lib} not measured")
    return f"Graph build for {graph['case']} (call + materialised graph): " + ", ".join(cells) + "."


def target_verdicts(data: dict) -> list[str]:
    """One line per target, computed from the cells; "not measured" without xgeo."""
    if not data.get("xgeo_stack_available", True):
        return ["- not measured: `xgeo.stack` was not in the measured tree "
                f"({data.get('xgeo_stack_error') or 'missing'}); the peers ran alone."]
    lines = []
    ident, speed, peers = [], [], []
    for case in data.get("cases", []):
        name = case.get("key") or case["case"]
        frac = (case.get("agreement", {}).get(f"{EXACT_XGEO} vs {EXACT_PICK}", {})
                .get("identical_fraction"))
        ident.append(f"{name} " + ("not measured" if frac is None else
                     f"{100 * frac:.2f} %" + ("" if frac == 1.0 else " **missed**")))
        for lib in ("xgeo", EXACT_XGEO):
            for peer in PEERS:
                ratio = case.get("ratios", {}).get(f"{peer}/{lib}")
                speed.append(f"{name}, {peer}/{lib} " + ("not measured" if ratio is None else
                             f"x{ratio:.2f}" + ("" if ratio >= SPEED_TARGET else " **missed**")))
        for lib in ("xgeo", *PEERS):
            frac = (case.get("agreement", {}).get(f"{lib} vs {EXACT_PICK}", {})
                    .get("identical_fraction"))
            if frac is not None:
                peers.append(f"{name} {lib} {100 * frac:.2f} %")
    lines.append("- identical nearest pixels from exact transforms (target 100 % of pixels "
                 "valid in both; `xgeo.stack(..., exact=True)` against the exact pick, every "
                 "output centre through pyproj by hand): " + "; ".join(ident))
    if peers:
        lines.append("- the approximate transforms (1/8 pixel, GDAL's default, and xgeo's "
                     "default) against the same exact pick, for reference: " + "; ".join(peers))
    lines.append(f"- speed at 2 threads (target peer/xgeo >= {SPEED_TARGET:g}, for the default "
                 "and for exact=True): " + "; ".join(speed))
    graph = data.get("graph_build", {}).get("results", {}).get("xgeo", {})
    t = graph.get("call_and_graph_min_s")
    lines.append(f"- graph build, {data.get('graph_build', {}).get('items', '?')} items "
                 f"(target < {GRAPH_TARGET_S:g} s): "
                 + ("not measured" if t is None else
                    f"{t:.3f} s" + (" met" if t < GRAPH_TARGET_S else " **missed**")))
    return lines


def stack_status(data: dict | None) -> str:
    """The README's stacking summary, or a line saying the benchmark has not run."""
    if not data:
        return "_No results yet: run `python benchmarks/compare/stack.py`._"
    quick = " (a --quick run)" if data.get("how", {}).get("quick") else ""
    head = ("_Generated by `python benchmarks/report.py` from `benchmarks/results/stack.json`"
            f"{quick}: times are the min of interleaved repetitions of build + compute at 2 "
            "dask threads, ratios peer/xgeo (above 1: xgeo faster), peak RSS in a fresh "
            "process per case; the docs' stack page has every pair._")
    lines = [head, ""]
    if not data.get("xgeo_stack_available", True):
        lines += ["**xgeo.stack was not in the measured tree: the peers ran alone.**", ""]
    lines += [*markdown_table(SUMMARY_HEADER, summary_rows(data)), "", graph_line(data), "",
              "Targets:", "", *target_verdicts(data)]
    return "\n".join(lines)


def render_stack(data: dict) -> list[str]:
    """Every case in full (the docs' topic page): times, first calls, grids checked, every
    agreement pair, memory, graph build, how it ran."""
    machine = data.get("machine", {})
    lines = [f"{data.get('seconds', 0):.0f} s on {machine.get('cpus', '?')} cores; versions: "
             + ", ".join(f"{k} {v}" for k, v in data.get("versions", {}).items()), ""]
    if not data.get("xgeo_stack_available", True):
        lines += [f"xgeo.stack was not in the measured tree ({data.get('xgeo_stack_error')}): "
                  "the peers ran alone.", ""]
    lines += markdown_table(SUMMARY_HEADER, summary_rows(data)) + [""]
    for case in data.get("cases", []):
        lines += [f"## {case['case']}", "", f"Grid {_grid(case)}; bands "
                  f"{', '.join(case.get('bands', []))}; {case.get('notes', '')}.", ""]
        res = case.get("results", {})
        rows = []
        for lib in (*LIBRARIES, EXACT_XGEO):
            r = res.get(lib, {})
            first = r.get("first_call_s")
            rows.append([lib, _seconds(r), "—" if "median_s" not in r else f"{r['median_s']:.2f} s",
                         "—" if first is None else f"{first:.2f} s",
                         {True: "yes", False: "**no**"}.get(case.get("grid_equal", {}).get(lib),
                                                            "—"),
                         _mib(case, lib), _mib(case, lib, "compute_rss_bytes"),
                         r.get("error", "")[:120]])
        lines += markdown_table(["library", "min", "median", "first call", "grid equal",
                                 "peak RSS MiB", "RSS rise in compute MiB", "error"], rows)
        pairs = [[name, "—" if p.get("identical_fraction") is None else
                  f"{100 * p['identical_fraction']:.4f} %",
                  ", ".join(f"{b} {'—' if v is None else f'{100 * v:.2f} %'}"
                            for b, v in p.get("identical_per_band", {}).items()) or "—",
                  f"{100 * p['valid_mask_agreement']:.4f} %" if "valid_mask_agreement" in p
                  else "—", str(p.get("valid_in_both", p.get("error", "—")))]
                 for name, p in case.get("agreement", {}).items()]
        lines += ["", *markdown_table(["pair", "identical (valid in both)", "per band",
                                       "validity agrees", "pixels valid in both"], pairs), ""]
    lines += [graph_line(data), "", "Targets:", "", *target_verdicts(data), ""]
    how = data.get("how", {})
    if how:
        lines += ["How it ran:", "", *(f"- {k}: {v}" for k, v in how.items())]
    return lines
