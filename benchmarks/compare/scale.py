"""Out-of-core proof: a cube larger than RAM through reproject -> indices -> video Zarr.

The cube is generated lazily (dask) from real Sentinel-2 tiles: (dates, 4 bands, N, N)
uint16, 32 GiB virtual at the defaults (64 dates x 4 x 8192 x 8192), more than this
machine's memory. It runs on ``dask.distributed.LocalCluster`` worker processes (the same
code runs on any cluster: pass ``--scheduler tcp://host:8786``) and reports throughput
(MB/s of input) and the peak RSS of every worker, for 1 and 2 workers.

Writes ``benchmarks/results/scale.json``.

Usage: ``python benchmarks/compare/scale.py [--dates 64] [--size 8192] [--scaling-dates 4]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from _progress import sweep  # this folder is sys.path[0] when run as a script

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
BANDS = ["B02", "B03", "B04", "B08"]
BLOCK = 2048


def _tiles() -> np.ndarray:
    """The real tiles: the sample's three clear dates, bands B02 B03 B04 B08, as uint16 DN."""
    import xgeo

    refl = xgeo.datasets.sentinel2_cube().reflectance.sel(band=BANDS).isel(time=[0, 2, 4])
    return np.round(refl.values * 10000).astype("uint16")  # (3, 4, 101, 100)


def _block(tiles: np.ndarray, block_id: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """One (1, 4, h, w) block: whole real tiles with a random clear date, flips and gain."""
    t, _, by, bx = block_id
    rng = np.random.default_rng([t, by, bx])
    h, w = shape[-2:]
    out = np.empty((1, 4, h, w), dtype="uint16")
    th, tw = tiles.shape[-2:]
    for r in range(0, h, th):
        for c in range(0, w, tw):
            tile = tiles[rng.integers(0, 3)]
            if rng.integers(0, 2):
                tile = tile[:, :, ::-1]
            hh, ww = min(th, h - r), min(tw, w - c)
            out[0, :, r : r + hh, c : c + ww] = np.minimum(
                tile[:, :hh, :ww] * rng.uniform(0.85, 1.15), 65535
            )
    return out


def lazy_cube(dates: int, size: int):
    """A dask-backed (time, band, y, x) uint16 Dataset on a UTM 33N 10 m grid."""
    import dask.array as da
    import pandas as pd
    import xarray as xr

    import xgeo

    tiles = _tiles()
    chunks = ((1,) * dates, (4,), _split(size), _split(size))
    data = da.map_blocks(
        lambda block_id=None, block_info=None: _block(
            tiles, block_id, block_info[None]["chunk-shape"]
        ),
        dtype="uint16",
        chunks=chunks,
        meta=np.empty((0, 0, 0, 0), dtype="uint16"),
    )
    grid = xgeo.Grid.from_bounds(
        (400000.0, 5000000.0 - 10 * size, 400000.0 + 10 * size, 5000000.0), crs=32633, resolution=10
    )
    y, x = grid.coords()
    times = pd.date_range("2020-01-01", periods=dates, freq="5D")
    cube = xr.DataArray(
        data,
        dims=("time", "band", "y", "x"),
        coords={"time": times, "band": BANDS, "y": y, "x": x},
        name="reflectance",
    )
    return xgeo.write_grid(cube.to_dataset(), grid)


def _split(n: int) -> tuple[int, ...]:
    return tuple(min(BLOCK, n - s) for s in range(0, n, BLOCK))


def pipeline(ds, store: str) -> None:
    """reproject -> NDVI (fused kernel, scale from CF) -> HEVC Zarr (fast preset)."""
    import xgeo

    lonlat = xgeo.reproject.reproject(ds, "EPSG:4326", resampling="nearest", chunks=(BLOCK, BLOCK))
    ndvi = xgeo.indices.compute_indices(lonlat, ["NDVI"], variable="reflectance", scale=1e-4)
    xgeo.io.to_zarr(
        ndvi, store, codec="hevc", codec_options={"preset": "ultrafast", "gop": 16}, progress=False
    )


def run(dates: int, size: int, workers: int, scheduler: str | None) -> dict:
    import distributed

    store = tempfile.mkdtemp(prefix="xgeo-scale-") + "/ndvi.zarr"
    ds = lazy_cube(dates, size)
    nbytes = ds.reflectance.nbytes
    cluster = None
    if scheduler is None:
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=os.environ.get("XGEO_WORKER_MEMORY", "2GiB"),
            dashboard_address=None,
        )
    client = distributed.Client(scheduler or cluster)
    try:
        t = time.perf_counter()
        import xgeo

        lonlat = xgeo.reproject.reproject(
            ds, "EPSG:4326", resampling="nearest", chunks=(BLOCK, BLOCK)
        )
        xgeo.indices.compute_indices(lonlat, ["NDVI"], variable="reflectance", scale=1e-4)
        graph_s = time.perf_counter() - t
        t = time.perf_counter()
        pipeline(ds, store)
        wall = time.perf_counter() - t
        rss = client.run(_maxrss_mib)
        stored = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        shutil.rmtree(Path(store).parent, ignore_errors=True)
    return {
        "dates": dates,
        "size": size,
        "workers": workers,
        "input_gib": nbytes / 2**30,
        "wall_s": wall,
        "graph_build_s": graph_s,
        "input_mb_per_s": nbytes / 1e6 / wall,
        "peak_rss_worker_mib": sorted(rss.values()),
        "stored_mib": stored / 2**20,
    }


def _maxrss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dates", type=int, default=64)
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument(
        "--scaling-dates", type=int, default=4, help="dates for the 1-vs-2-worker table"
    )
    parser.add_argument(
        "--scheduler", help="address of an existing dask scheduler (skips LocalCluster)"
    )
    parser.add_argument("--skip-full", action="store_true")
    args = parser.parse_args()
    cases = []
    for workers in sweep((1, 2), "scaling (workers)"):
        r = run(args.scaling_dates, args.size, workers, args.scheduler)
        print(json.dumps(r), flush=True)
        cases.append(
            {
                "case": f"scaling: {args.scaling_dates} dates x 4 x {args.size}^2 uint16 ({r['input_gib']:.1f} GiB)",
                "threads": workers,
                "results": {"xgeo": r},
                "ratios": {},
            }
        )
    base = cases[0]["results"]["xgeo"]["wall_s"]
    cases[1]["ratios"]["speedup 2 vs 1 worker"] = base / cases[1]["results"]["xgeo"]["wall_s"]
    if not args.skip_full:
        r = run(args.dates, args.size, 2, args.scheduler)
        print(json.dumps(r), flush=True)
        worst = max(r["peak_rss_worker_mib"])
        cases.append(
            {
                "case": f"out-of-core: {args.dates} dates x 4 x {args.size}^2 uint16 ({r['input_gib']:.1f} GiB virtual)",
                "threads": 2,
                "results": {"xgeo": r},
                "ratios": {},
                "notes": f"peak worker RSS {worst:.0f} MiB (target < 2048); {r['input_mb_per_s']:.1f} MB/s of input",
            }
        )
    versions = {
        p: version(p) for p in ("xgeo", "xgeo-codecs", "dask", "distributed", "zarr", "numba")
    }
    out = {
        "topic": "scale",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": versions,
        "cases": cases,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
