"""Spectral indices: xgeo vs spyndex vs xarray-spatial vs NumPy memory floors.

Bands are the real Sentinel-2 sample (first date) tiled to 4096x4096 and 10980x10980 float32
(the sample is 101x100; tiling keeps real reflectance values). Same arrays for every
contender, 2 threads (``numba.set_num_threads(2)``, dask ``num_workers=2``), contenders
interleaved in each repetition, compile/first call excluded and reported separately.
Peak extra memory is ``ru_maxrss`` growth in a fresh subprocess per contender (inputs built and
code warmed up on a tiny array first), measured before anything big is allocated here: Linux
carries a parent's ``ru_maxrss`` into a child across fork/exec. Writes ``benchmarks/results/indices.json``.

Usage: ``python benchmarks/compare/indices.py [--quick]`` (``--quick``: 4096² cases only).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from _progress import sweep  # this folder is sys.path[0] when run as a script

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "indices.json"
THREADS = 2
TEN = ["NDVI", "EVI", "SAVI", "NDWI", "MNDWI", "NDBI", "NBR", "GNDVI", "NDMI", "ARVI"]
S2 = {"B": "B02", "G": "B03", "R": "B04", "N": "B08", "S1": "B11", "S2": "B12"}


def _setup_threads() -> None:
    import numba

    numba.set_num_threads(THREADS)
    import dask

    dask.config.set(scheduler="threads", num_workers=THREADS)


def make_bands(n: int, symbols) -> dict[str, np.ndarray]:
    """Real S2 reflectance (first date) tiled to n x n, float32, C-contiguous."""
    import xgeo

    refl = xgeo.datasets.sentinel2_cube().reflectance.isel(time=0)
    out = {}
    for s in symbols:
        tile = refl.sel(band=S2[s]).values.astype(np.float32)
        th, tw = tile.shape
        a = np.empty((n, n), np.float32)  # filled in place: no big temporaries (clean maxrss)
        for i in range(0, n, th):
            for j in range(0, n, tw):
                blk = a[i:i + th, j:j + tw]
                blk[...] = tile[:blk.shape[0], :blk.shape[1]]
        out[s] = a
    return out


def spyndex_params(bands: dict) -> dict:
    import spyndex

    params = dict(bands)
    for c in ("g", "C1", "C2", "L", "gamma"):
        params[c] = float(spyndex.constants[c].default)
    return params


# ------------------------------------------------------------------ contenders
@functools.cache
def _floors():
    """2-thread memory floors (plain numba, no index logic): what any implementation that
    returns new arrays pays on this machine. They bound the ratio reachable against spyndex.
    Outputs come from ``np.empty`` (NumPy's allocator asks for huge pages; numba's does not)."""
    import numba

    @numba.njit(parallel=True)
    def add_into(a, b, out):
        for i in numba.prange(a.shape[0]):
            for j in range(a.shape[1]):
                out[i, j] = a[i, j] + b[i, j]
        return out

    @numba.njit(parallel=True)
    def write_into(out):
        for i in numba.prange(out.shape[1]):
            for c in range(out.shape[0]):
                for j in range(out.shape[2]):
                    out[c, i, j] = 0.0
        return out

    def add_new(a, b):  # read 2 bands, allocate and write 1
        return add_into(a, b, np.empty_like(a))

    def write_new(shape):  # allocate and write the outputs, read nothing
        return write_into(np.empty(shape, np.float32))

    return add_new, write_new


def contenders_ndvi(b: dict) -> dict:
    from xgeo.indices import evaluate

    n, r = b["N"], b["R"]
    c = np.empty_like(n)
    buf = np.empty((1, *n.shape), np.float32)
    out = {
        "xgeo": lambda: evaluate({"N": n, "R": r}, "NDVI"),
        "xgeo out=": lambda: evaluate({"N": n, "R": r}, "NDVI", out=buf),
        "np.add(a,b)": lambda: np.add(n, r),
        "np.add(a,b,out=c)": lambda: np.add(n, r, out=c),
        "floor: a+b 2 threads, new array": lambda: _floors()[0](n, r),
    }
    try:
        import spyndex

        out["spyndex"] = lambda: spyndex.computeIndex("NDVI", params={"N": n, "R": r})
    except Exception as e:  # recorded, not dropped
        out["spyndex"] = e
    try:
        import xarray as xr
        from xrspatial.multispectral import ndvi

        nx, rx = xr.DataArray(n, dims=("y", "x")), xr.DataArray(r, dims=("y", "x"))
        out["xrspatial"] = lambda: ndvi(nx, rx)
    except Exception as e:
        out["xrspatial"] = e
    return out


def contenders_ten(b: dict) -> dict:
    from xgeo.indices import evaluate

    shape = (len(TEN), *b["N"].shape)
    # memory floor: merely allocating and writing the 10 float32 outputs
    buf = np.empty(shape, np.float32)
    out = {"xgeo": lambda: evaluate(b, TEN), "xgeo out=": lambda: evaluate(b, TEN, out=buf),
           "np.ones(outputs)": lambda: np.ones(shape, np.float32),
           "floor: write outputs 2 threads": lambda: _floors()[1](shape)}
    try:
        import spyndex

        p = spyndex_params(b)
        out["spyndex"] = lambda: spyndex.computeIndex(TEN, params=p)
    except Exception as e:
        out["spyndex"] = e
    return out


def timeit_interleaved(fns: dict, reps: int) -> dict:
    results = {k: ({"error": repr(v)[:300]} if isinstance(v, Exception) else []) for k, v in fns.items()}
    for f in fns.values():  # warm-up: compile, first-touch of code paths
        if callable(f):
            r = f()
            del r
    for _ in range(reps):
        for k, f in fns.items():
            if not callable(f):
                continue
            t0 = time.perf_counter()
            r = f()
            results[k].append(time.perf_counter() - t0)
            del r
    return {k: v if isinstance(v, dict) else {"min_s": min(v), "median_s": statistics.median(v), "reps": len(v)}
            for k, v in results.items()}


def ratio(results: dict, a: str, b: str, key: str = "median_s") -> float | None:
    if key in results.get(a, {}) and key in results.get(b, {}):
        return round(results[a][key] / results[b][key], 3)
    return None


def ratios(results: dict, pairs: list[tuple[str, str]]) -> dict:
    """Ratios of median times."""
    return {f"{a}/{b}": ratio(results, a, b) for a, b in pairs}


def ratios_min(results: dict, pairs: list[tuple[str, str]]) -> dict:
    """Ratios of minimum times (less sensitive to other users of the machine)."""
    return {f"{a}/{b}": ratio(results, a, b, "min_s") for a, b in pairs}


# ------------------------------------------------------------ memory (subprocess)
def _mem_child(which: str, n: int) -> None:
    _setup_threads()
    b = make_bands(n, ["N", "R", "G", "B", "S1", "S2"])
    small = {k: v[:64, :64].copy() for k, v in b.items()}
    if which == "xgeo":
        from xgeo.indices import evaluate

        def run(x):
            return evaluate(x, TEN)
    else:
        import spyndex

        def run(x):
            return spyndex.computeIndex(TEN, params=spyndex_params(x))
    run(small)  # imports and compile, on a tiny array
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = run(b)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out_bytes = sum(v.nbytes for v in out.values()) if isinstance(out, dict) else np.asarray(out).nbytes
    print(json.dumps({"peak_extra_mb": (after - before) / 1024, "output_mb": out_bytes / 2**20}))


def measure_memory(which: str, n: int) -> dict:
    p = subprocess.run([sys.executable, __file__, "--mem-child", which, str(n)],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1][:300] if p.stderr.strip() else f"rc {p.returncode}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------- compile (subprocess)
_COMPILE_CHILD = textwrap.dedent("""
    import json, time
    t0 = time.perf_counter()
    import numpy as np, numba
    from xgeo.indices import evaluate
    t_import = time.perf_counter() - t0
    @numba.njit
    def _touch(x):
        return x + 1
    t1 = time.perf_counter(); _touch(1); t_numba_init = time.perf_counter() - t1
    b = {k: np.full((64, 64), 0.1 * (i + 1), np.float32) for i, k in enumerate(("N", "R", "G", "B", "S1", "S2"))}
    names = %r
    t2 = time.perf_counter(); evaluate(b, names); t_first = time.perf_counter() - t2
    t3 = time.perf_counter(); evaluate(b, names); t_second = time.perf_counter() - t3
    print(json.dumps({"first_call_s": t_first, "steady_call_s": t_second,
                      "numba_init_s": t_numba_init, "import_s": t_import}))
""")


def measure_compile(names: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "XGEO_CACHE_DIR": d}
        runs = []
        for _ in range(2):  # cold (empty cache dir), then warm (second process)
            p = subprocess.run([sys.executable, "-P", "-c", _COMPILE_CHILD % (names,)], env=env,
                               capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                return {"error": p.stderr.strip()[-300:]}
            runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    return {"xgeo cold (empty cache)": runs[0], "xgeo warm (second process)": runs[1]}


# --------------------------------------------------------------------- main
def versions() -> dict:
    out = {}
    for pkg in ("xgeo", "numpy", "numba", "xarray", "dask", "spyndex", "xarray-spatial"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError as e:
            out[pkg] = f"not installed: {e}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="4096² cases only")
    ap.add_argument("--mem-child", nargs=2, metavar=("WHICH", "N"))
    a = ap.parse_args()
    if a.mem_child:
        _mem_child(a.mem_child[0], int(a.mem_child[1]))
        return
    _setup_threads()
    load_start = [round(x, 2) for x in os.getloadavg()]
    cases = []

    def add(case, results, ratios, notes="", pairs=()):
        cases.append({"case": case, "threads": THREADS, "results": results, "ratios": ratios,
                      "ratios_min": ratios_min(results, list(pairs)), "notes": notes})
        print(json.dumps(cases[-1]), flush=True)

    mem = {w: measure_memory(w, 4096) for w in ("xgeo", "spyndex")}
    mratios = {}
    if all(m.get("peak_extra_mb") for m in mem.values()):
        mratios = {"spyndex/xgeo": round(mem["spyndex"]["peak_extra_mb"] / mem["xgeo"]["peak_extra_mb"], 3),
                   "xgeo_peak/outputs": round(mem["xgeo"]["peak_extra_mb"] / mem["xgeo"]["output_mb"], 3)}
    add("10 indices 4096x4096 peak extra memory (MB, fresh subprocess)", mem, mratios,
        "target: xgeo peak extra <= outputs (xgeo_peak/outputs <= 1)")

    sizes = [4096] if a.quick else [4096, 10980]
    for n in sweep(sizes, "NDVI sizes"):
        b = make_bands(n, ["N", "R"])
        res = timeit_interleaved(contenders_ndvi(b), reps=7 if n == 4096 else 3)
        pairs = [("np.add(a,b)", "xgeo"), ("xgeo", "np.add(a,b,out=c)"), ("spyndex", "xgeo"),
                 ("xrspatial", "xgeo"), ("xgeo out=", "np.add(a,b,out=c)"),
                 ("spyndex", "floor: a+b 2 threads, new array"), ("xgeo", "floor: a+b 2 threads, new array")]
        add(f"NDVI {n}x{n} float32", res, ratios(res, pairs),
            "targets: np.add(a,b)/xgeo >= 1, xgeo/np.add(a,b,out=c) <= 1.5, spyndex/xgeo and "
            "xrspatial/xgeo >= 4. 'xgeo out=' writes into a preallocated buffer (no page faults), "
            "to compare with np.add(a,b,out=c) like for like. 'floor: a+b 2 threads, new array' is a "
            "plain numba a+b into a new array: spyndex/floor bounds spyndex/xgeo for any "
            "implementation that returns a new array", pairs)
        del b

    b = make_bands(4096, ["N", "R", "G", "B", "S1", "S2"])
    res = timeit_interleaved(contenders_ten(b), reps=5)
    add("10 indices 4096x4096 float32 (" + ",".join(TEN) + ")", res,
        ratios(res, pairs := [("spyndex", "xgeo"), ("xgeo", "np.ones(outputs)"), ("spyndex", "xgeo out="),
                              ("spyndex", "floor: write outputs 2 threads"),
                              ("xgeo", "floor: write outputs 2 threads")]),
        "target: spyndex/xgeo >= 10; np.ones(outputs) = allocating and writing the 10 outputs only; "
        "'floor: write outputs 2 threads' allocates and writes them with 2 threads and reads "
        "nothing: spyndex/floor bounds spyndex/xgeo for any implementation returning new arrays",
        pairs)
    del b
    if not a.quick:
        import dask.array as da
        import xarray as xr

        from xgeo.indices import compute_index

        n = 10980
        b = make_bands(n, ["N", "R"])
        eager = xr.Dataset({"B08": (("y", "x"), b["N"]), "B04": (("y", "x"), b["R"])})
        lazy = xr.Dataset({k: (("y", "x"), da.from_array(v.data, chunks=2048)) for k, v in eager.items()})
        target = np.empty((n, n), np.float32)
        fns = {"xgeo numpy": lambda: compute_index(eager, "NDVI", sensor="sentinel2"),
               "xgeo dask .compute()": lambda: compute_index(lazy, "NDVI", sensor="sentinel2").compute(),
               "xgeo dask store": lambda: da.store(compute_index(lazy, "NDVI", sensor="sentinel2").data,
                                                   target, lock=False),
               "dask identity .compute()": lambda: lazy["B08"].data.map_blocks(lambda x: x).compute()}
        res = timeit_interleaved(fns, reps=3)
        add("NDVI 10980x10980 dask (2048² chunks) vs numpy", res,
            ratios(res, pairs := [("xgeo dask .compute()", "xgeo numpy"), ("xgeo dask store", "xgeo numpy"),
                                  ("dask identity .compute()", "xgeo numpy")]),
            "target: dask/numpy <= 1.5. 'store' writes blocks into a preallocated array (no final "
            "concatenation); 'dask identity' is dask assembling the same blocks with no work (floor)",
            pairs)
        del b, eager, lazy, fns

    comp = measure_compile(TEN)
    add("fused compile, 10 indices (subprocess; cold = empty cache dir, warm = second process)",
        comp, {}, "target: cold first_call_s <= 3, warm ~0; numba_init_s is numba's own one-time "
        "start-up (paid by any numba code) and is not included in first_call_s")

    data = {"topic": "indices",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform(), "loadavg_start": load_start,
                        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                        "note": "shared machine: other developers' jobs ran at the same time"},
            "versions": versions(), "cases": cases}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
