"""Temporal composites: ``xgeo.composite`` vs ``xarray``'s ``resample(time=...).median()``.

The real nrt cube (Sentinel-2 L2A, 140 dates x 100 x 100, bands B2 B3 B4 B8, SCL cloud mask)
at its own size and tiled 3 x 3 in space (300 x 300; tiling keeps real values). Both sides get
the same cloud-masked input (xarray: ``where(~cloud)`` first, as a user would write it; xgeo:
``mask=``), eager NumPy, 2 threads (``numba.set_num_threads(2)``); results are checked equal.
Compile time is measured apart: a fresh process with an empty ``NUMBA_CACHE_DIR`` times its
first call (compile + run) and its second (run); a second fresh process on that cache times
its first call (cache load + run). Writes ``benchmarks/results/composite.json``.

Usage: ``python benchmarks/compare/composite.py [--quick]`` (``--quick``: native size only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "composite.json"
NRT = ROOT.parent / "shared" / "data" / "nrt" / "sentinel2_cube_subset_romania_10m.nc"
THREADS = 2
BANDS = ["B2", "B3", "B4", "B8"]
CLOUD = [3, 8, 9, 10]


def load(tile: int):
    import xarray as xr

    with xr.open_dataset(NRT) as ds:
        ds = ds[[*BANDS, "SCL"]].load()
    if tile > 1:
        reps = {"y": tile, "x": tile}
        big = {v: (ds[v].dims, np.tile(ds[v].values, (1, tile, tile))) for v in ds.data_vars}
        step_y = float(ds.y[1] - ds.y[0])
        step_x = float(ds.x[1] - ds.x[0])
        ny, nx = ds.sizes["y"] * reps["y"], ds.sizes["x"] * reps["x"]
        ds = xr.Dataset(big, coords={"time": ds.time, "y": float(ds.y[0]) + step_y * np.arange(ny),
                                     "x": float(ds.x[0]) + step_x * np.arange(nx)})
    return ds


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_case(tile: int, repeat: int) -> list[dict]:
    """The median case (xgeo vs xarray, results checked equal) and xgeo's max_ndvi time."""
    import numba

    from xgeo.composite import composite

    numba.set_num_threads(THREADS)
    ds = load(tile)
    cloud = ds.SCL.isin(CLOUD)
    bands = ds[BANDS]

    def peer():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN months
            return bands.where(~cloud).resample(time="1MS").median()

    def ours():
        return composite(bands, "1MS", "median", mask=cloud)

    a, b = peer(), ours()  # warm-up; and the check
    for v in BANDS:
        np.testing.assert_array_equal(a[v].values, b[v].values)
    times = {"xgeo": [], "xarray": []}
    for _ in range(repeat):  # interleaved
        for name, fn in (("xgeo", ours), ("xarray", peer)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    t_best = best_of(lambda: composite(ds, "1MS", "max_ndvi", mask="SCL=3,8,9,10"), repeat)
    shape = f"{ds.sizes['time']}x{ds.sizes['y']}x{ds.sizes['x']}x{len(BANDS)} bands"
    med = {k: statistics.median(v) for k, v in times.items()}
    return [
        {"case": f"monthly median, nrt cube {shape}, SCL cloud mask", "threads": THREADS,
         "groups": int(b.sizes["time"]),
         "results": {"xgeo": {"median_s": round(med["xgeo"], 4)},
                     "xarray": {"median_s": round(med["xarray"], 4)}},
         "ratios": {"xarray/xgeo": round(med["xarray"] / med["xgeo"], 2)},
         "notes": "xarray: where(~cloud).resample(time='1MS').median(); xgeo: "
                  "composite(..., '1MS', 'median', mask=cloud); results equal"},
        {"case": f"monthly max_ndvi (best pixel), nrt cube {shape}, SCL cloud mask",
         "threads": THREADS, "results": {"xgeo": {"median_s": round(t_best, 4)}},
         "notes": "no peer: xarray has no best-pixel composite"},
    ]


_FIRST_CALL = """
import time, numpy as np, numba
numba.set_num_threads({threads})
from xgeo import _composite_kernels as k
v = np.random.default_rng(0).random((20, 1000)).astype(np.float32)
m = np.zeros((20, 1000), bool)
out, cnt, best = np.empty(1000), np.empty(1000, np.int64), np.empty(1000, np.int64)
res = {{}}
for name, call in (("median", lambda: k.median(v, m, np.nan, out, cnt)),
                   ("mean", lambda: k.mean(v, m, np.nan, out, cnt)),
                   ("max_ndvi", lambda: k.best_ndvi(v, v, m, np.nan, np.nan, best, cnt))):
    t0 = time.perf_counter(); call(); t1 = time.perf_counter(); call(); t2 = time.perf_counter()
    res[name] = [t1 - t0, t2 - t1]
print(res)
"""


def compile_times() -> dict:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'codecs' / 'src'}")
    code = _FIRST_CALL.format(threads=THREADS)
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        for label in ("cold (compile)", "warm (cache load)"):
            text = subprocess.run([sys.executable, "-P", "-c", code], env=env, capture_output=True,
                                  text=True, check=True).stdout
            res = eval(text)  # our own child's dict of floats
            out[label] = {k: {"first_call_s": round(a, 4), "second_call_s": round(b, 6)}
                          for k, (a, b) in res.items()}
    out["note"] = ("first call of each kernel on a 20 x 1000 float32 block in a fresh process; "
                   "the first kernel called also pays numba's start-up")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    load_start = list(os.getloadavg())
    cases = run_case(1, 5)
    if not args.quick:
        cases += run_case(3, 3)
    import dask
    import numba
    import pandas
    import xarray

    import xgeo

    result = {
        "topic": "composite",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "loadavg_start": load_start,
                    "loadavg_end": list(os.getloadavg()),
                    "note": "shared machine: other developers' jobs ran at the same time"},
        "versions": {"xgeo": xgeo.__version__, "numpy": np.__version__,
                     "numba": numba.__version__, "xarray": xarray.__version__,
                     "pandas": pandas.__version__, "dask": dask.__version__},
        "cases": cases,
        "compile": compile_times(),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
