"""Reprojection: xgeo vs GDAL (rasterio), rioxarray and odc-geo on the same output grid.

Cases (float32, interleaved repetitions, min and median; numba and GDAL at 1 and 2 threads):

* (4096, 4096) EPSG:32633 10 m -> EPSG:4326, nearest and bilinear;
* (12, 2048, 2048) band stack, nearest and bilinear;
* lazy: a dask-backed (N, N) float32 source generated chunk by chunk (N = 32768: 4 GiB),
  reprojected to EPSG:4326 and written to Zarr, in a fresh subprocess (peak RSS from
  ``ru_maxrss``) with the graph construction time;
* numba compile time (fresh subprocess, empty cache), reported apart from run times.

Pixels are real Sentinel-2 reflectance (the bundled eo-learn sample) tiled to size.
Every contender gets the output grid xgeo chooses (gdalwarp's default), passed explicitly.

Run: ``.venv/bin/python benchmarks/compare/reproject.py`` (``--quick`` for a smoke run,
``--skip-lazy`` to leave the big case out). Writes ``benchmarks/results/reproject.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from itertools import product
from pathlib import Path

import numpy as np
from _progress import sweep  # this folder is sys.path[0] when run as a script

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "reproject.json"
PEERS = ("rasterio", "rioxarray", "odc-geo")


def real_tiles(bands: int) -> np.ndarray:
    """(bands, 101, 100) float32 S2 reflectance of the bundled sample's first clear date."""
    import xgeo

    refl = xgeo.datasets.sentinel2_cube().reflectance.isel(time=0).values
    return np.ascontiguousarray(refl[:bands].astype("float32"))


def tiled(tiles: np.ndarray, n: int) -> np.ndarray:
    reps = (1, -(-n // tiles.shape[1]), -(-n // tiles.shape[2]))
    return np.ascontiguousarray(np.tile(tiles, reps)[:, :n, :n])


def source_dataarray(arr: np.ndarray, res: float = 10.0):
    import xarray as xr

    import xgeo
    from xgeo.grid import Grid

    h, w = arr.shape[-2:]
    grid = Grid.from_bounds((500000, 5000000, 500000 + w * res, 5000000 + h * res), crs=32633, resolution=res)
    y, x = grid.coords()
    dims = ("y", "x") if arr.ndim == 2 else ("band", "y", "x")
    da = xr.DataArray(arr, dims=dims, coords={"y": y, "x": x})
    return xgeo.crs.write_grid(da, grid), grid


def contenders(da, dst, method: str, threads: int) -> dict:
    """name -> zero-argument callable producing the reprojected array (same grid for all)."""
    import numba
    import rasterio.warp as rw

    from xgeo.reproject import reproject

    funcs = {}

    def ours():
        numba.set_num_threads(threads)
        return reproject(da, grid=dst, resampling=method).values

    funcs["xgeo"] = ours
    resampling = getattr(rw.Resampling, method)
    crs_wkt = dst.crs.to_wkt()

    def gdal():
        out = np.empty(da.shape[:-2] + dst.shape, dtype=da.dtype)
        rw.reproject(da.values, out, src_transform=da.geo.transform, src_crs=da.geo.crs.to_wkt(),
                     dst_transform=dst.transform, dst_crs=crs_wkt, resampling=resampling,
                     src_nodata=np.nan, dst_nodata=np.nan, num_threads=threads)
        return out

    funcs["gdal"] = gdal
    try:
        import rioxarray  # noqa: F401

        def rio():
            return da.rio.reproject(crs_wkt, shape=dst.shape, transform=dst.transform,
                                    resampling=resampling, num_threads=threads).values

        funcs["rioxarray"] = rio
    except Exception as exc:  # recorded, never dropped silently
        funcs["rioxarray"] = exc
    try:
        from odc.geo.geobox import GeoBox
        from odc.geo.xr import xr_reproject

        gbox = GeoBox(dst.shape, dst.transform, crs_wkt)

        def odc():
            return xr_reproject(da, gbox, resampling=method, num_threads=threads).values

        funcs["odc-geo"] = odc
    except Exception as exc:
        funcs["odc-geo"] = exc
    return funcs


def time_case(name: str, da, dst, method: str, threads: int, reps: int) -> dict:
    funcs = contenders(da, dst, method, threads)
    runnable = {k: f for k, f in funcs.items() if callable(f)}
    errors = {k: f"{type(f).__name__}: {f}" for k, f in funcs.items() if not callable(f)}
    results: dict[str, list[float]] = {k: [] for k in runnable}
    reference = runnable["xgeo"]()  # warm-up (imports, JIT cache load, file cache)
    agree = {}
    for k, f in runnable.items():
        if k != "xgeo":
            other = f()
            both = np.isfinite(reference) & np.isfinite(other)
            agree[k] = {
                "valid_mask_agreement": float((np.isfinite(reference) == np.isfinite(other)).mean()),
                "identical_fraction": float((reference == other)[both].mean()),
            }
    for _ in range(reps):
        for k, f in runnable.items():  # interleaved: machine noise hits everyone alike
            t = time.perf_counter()
            f()
            results[k].append(time.perf_counter() - t)
    summary = {k: {"min_s": min(v), "median_s": statistics.median(v)} for k, v in results.items()}
    for k, e in errors.items():
        summary[k] = {"error": e}
    ratios = {f"{k}/xgeo": summary[k]["min_s"] / summary["xgeo"]["min_s"] for k in results if k != "xgeo"}
    case = {"case": name, "threads": threads, "resampling": method, "results": summary,
            "ratios": ratios, "agreement_with_xgeo": agree,
            "notes": f"{reps} interleaved repetitions; output grid {dst.shape} EPSG:4326"}
    print(f"{name:38s} {method:8s} t={threads} " + "  ".join(
        f"{k}={v['min_s'] * 1e3:8.1f}ms" for k, v in summary.items() if "min_s" in v
    ) + "  " + "  ".join(f"{k}={v:.2f}" for k, v in ratios.items()), flush=True)
    return case


# ---------------------------------------------------------------- subprocess cases
def _peak_rss() -> int:
    """This process's peak RSS in bytes: VmHWM, which starts afresh at exec (ru_maxrss
    would carry the parent's peak into a child)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def lazy_child(n: int, store: str, block: int) -> dict:
    """Generate a lazy (n, n) float32 source in ``block``-sized chunks, reproject to 4326
    (bilinear, default output chunking) and write Zarr with 2 dask threads."""
    import dask
    import dask.array as dsa
    import xarray as xr

    import xgeo
    from xgeo.grid import Grid

    tiles = real_tiles(1)[0]

    def make(block_info=None):
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        rows = np.arange(r0, r1) % tiles.shape[0]
        cols = np.arange(c0, c1) % tiles.shape[1]
        return tiles[np.ix_(rows, cols)]

    data = dsa.map_blocks(make, chunks=((block,) * (n // block), (block,) * (n // block)),
                          dtype="float32", meta=np.empty((0, 0), "float32"))
    grid = Grid.from_bounds((500000, 5000000, 500000 + n * 10, 5000000 + n * 10), crs=32633, resolution=10)
    y, x = grid.coords()
    src = xgeo.crs.write_grid(xr.DataArray(data, dims=("y", "x"), coords={"y": y, "x": x}, name="b04"), grid)
    t = time.perf_counter()
    out = xgeo.reproject.reproject(src, "EPSG:4326", resampling="bilinear")
    graph_s = time.perf_counter() - t
    before = _peak_rss()  # imports, tiles, graph
    t = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=2):
        xgeo.io.to_zarr(out.to_dataset(), store, mode="w")
    write_s = time.perf_counter() - t
    rss = _peak_rss()
    return {"source_shape": [n, n], "source_chunks": [block, block], "source_gib": n * n * 4 / 2**30,
            "malloc_trim_threshold": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            "output_shape": list(out.shape),
            "output_chunks": [out.chunks[0][0], out.chunks[1][0]], "tasks": len(out.data.dask),
            "graph_build_s": graph_s, "compute_and_write_s": write_s, "peak_rss_gib": rss / 2**30,
            "peak_rss_before_compute_gib": before / 2**30}


def compile_child() -> dict:
    """First-call vs warm time with an empty numba cache (compile time alone)."""
    from xgeo.grid import Grid
    from xgeo.reproject import reproject_array

    src = Grid.from_bounds((500000, 5000000, 505120, 5005120), crs=32633, resolution=10)
    arr = tiled(real_tiles(1), 512)[0]
    times = {}
    for method in ("nearest", "bilinear"):
        t = time.perf_counter()
        reproject_array(arr, src, dst_crs=4326, resampling=method)
        first = time.perf_counter() - t
        t = time.perf_counter()
        reproject_array(arr, src, dst_crs=4326, resampling=method)
        warm = time.perf_counter() - t
        times[method] = {"first_call_s": first, "warm_s": warm, "compile_s": first - warm}
    return times


def run_child(args: list[str], env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-lazy", action="store_true")
    parser.add_argument("--lazy-size", type=int, default=32768)
    parser.add_argument("--child", choices=["lazy", "compile"])
    parser.add_argument("--store")
    parser.add_argument("--block", type=int, default=2048)
    args = parser.parse_args()
    if args.child == "lazy":
        print(json.dumps(lazy_child(args.lazy_size, args.store, args.block)))
        return
    if args.child == "compile":
        print(json.dumps(compile_child()))
        return

    import warnings

    warnings.simplefilter("ignore")  # peers' deprecation chatter
    from xgeo.reproject import output_grid

    versions = {"xgeo": version("xgeo"), "numba": version("numba"), "numpy": version("numpy"),
                "gdal": __import__("rasterio").__gdal_version__}
    for peer in PEERS:
        try:
            versions[peer] = version(peer)
        except Exception as exc:
            versions[peer] = f"not installed: {exc}"
    cases = []
    n = 1024 if args.quick else 4096
    reps = 3 if args.quick else 5
    da, grid = source_dataarray(tiled(real_tiles(1), n)[0])
    dst = output_grid(grid, "EPSG:4326")
    for method, threads in sweep(product(("nearest", "bilinear"), (1, 2)), f"{n}^2 cases"):
        cases.append(time_case(f"({n}, {n}) EPSG:32633 10 m -> 4326", da, dst, method, threads, reps))
    m = 512 if args.quick else 2048
    stack, sgrid = source_dataarray(tiled(real_tiles(12), m))
    sdst = output_grid(sgrid, "EPSG:4326")
    for method, threads in sweep(product(("nearest", "bilinear"), (1, 2)), "stack cases"):
        cases.append(time_case(f"(12, {m}, {m}) stack -> 4326", stack, sdst, method, threads,
                               3 if not args.quick else 2))
    with tempfile.TemporaryDirectory() as cache:
        compile_times = run_child(["--child", "compile"], env={"NUMBA_CACHE_DIR": cache})
    print("compile:", compile_times, flush=True)
    lazy = None
    if not args.skip_lazy:
        # Source chunking decides how many source blocks dask holds at once (a block is
        # shared by several output chunks); glibc's trim threshold (dask.distributed sets
        # it to 64 KiB on its workers) decides how much freed memory returns to the OS.
        size = 4096 if args.quick else args.lazy_size
        lazy = []
        for block, env in sweep(((2048, {}), (1024, {}), (2048, {"MALLOC_TRIM_THRESHOLD_": "65536"})), "lazy"):
            with tempfile.TemporaryDirectory() as tmp:
                run = run_child(["--child", "lazy", "--lazy-size", str(size), "--block", str(block),
                                 "--store", f"{tmp}/out.zarr"], env=env)
            print("lazy:", run, flush=True)
            lazy.append(run)
    elif OUT.exists():
        lazy = json.loads(OUT.read_text()).get("lazy")  # keep the last big run's numbers
    report = {
        "topic": "reproject",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "versions": versions,
        "cases": cases,
        "compile": compile_times,
        "lazy": lazy,
        "targets": {
            "nearest 4096^2 vs gdal/rioxarray": ">= 2x", "bilinear 4096^2 vs gdal": ">= 2x",
            "bilinear 4096^2 vs odc-geo": ">= 1.5x", "stack vs rioxarray": ">= 2x",
            "lazy 4 GiB peak RSS": "<= 1.5 GiB", "lazy graph build": "<= 1 s",
        },
    }
    if not args.quick:
        OUT.write_text(json.dumps(report, indent=1))
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
