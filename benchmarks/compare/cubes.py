"""Many minicubes in one dataset: construction time and chips/s of ``CubesDataset``.

N tiny real cubes (32x32 px, 2 dates, 13 bands, cut from the bundled Sentinel-2 cube; every
fourth one reprojected to UTM 34N, so CRSs differ) as Zarr stores and as netCDF files.
Measured, median of ``--reps`` runs in this process (after one warm-up):

* ``construct_s``: ``CubesDataset(folder, 16, variable="reflectance")`` (metadata per cube,
  one template ChipDataset), against the per-cube way it replaces: one ``ChipDataset`` per
  cube (``per_cube_chipdataset_s``), which opens each cube with xarray;
* ``chips_per_s``: one pass of ``--samples`` chips through a DataLoader (workers 0, batch
  16) ordered by ``CubeMixSampler`` with ``block`` 1, 4 and 16 (``max_open`` 16): how much
  cube locality saves in reopened cubes.

Writes ``benchmarks/results/cubes.json``.
Usage: ``python benchmarks/compare/cubes.py [--cubes 1000] [--reps 3] [--samples 2000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "cubes.json"


def make_cubes(folder: Path, n: int) -> dict[str, Path]:
    """``n`` cubes per format: four distinct pieces (one in EPSG:32634), copied."""
    import xgeo

    s2 = xgeo.datasets.sentinel2_cube()[["reflectance"]].isel(time=slice(0, 2))
    pieces = [s2.isel(y=slice(r, r + 32), x=slice(c, c + 32)) for r, c in
              ((0, 0), (0, 40), (50, 0), (50, 40))]
    pieces[3] = pieces[3].geo.reproject("EPSG:32634").isel(y=slice(0, 32), x=slice(0, 32))
    out = {}
    for kind in ("zarr", "nc"):
        sub = folder / kind
        sub.mkdir()
        for k, piece in enumerate(pieces):
            path = sub / f"cube_{k:05d}.{kind}"
            piece.geo.to_zarr(path) if kind == "zarr" else piece.to_netcdf(path)
        for k in range(len(pieces), n):
            src = sub / f"cube_{k % len(pieces):05d}.{kind}"
            dst = sub / f"cube_{k:05d}.{kind}"
            shutil.copytree(src, dst) if kind == "zarr" else shutil.copyfile(src, dst)
        out[kind] = sub
    return out


def timed(fn, reps: int) -> tuple[float, object]:
    fn()  # warm-up: imports, numba, the OS file cache
    times, result = [], None
    for _ in range(reps):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def cases(raw: dict[str, dict[str, float]], n: int) -> list[dict[str, object]]:
    """The measurements per format as the report's cases: construction, then chips/s."""
    out: list[dict[str, object]] = []
    for kind, m in raw.items():
        out.append({
            "case": f"construction over {n} {kind} cubes",
            "results": {
                "xgeo CubesDataset": {"median_s": m["construct_s"],
                                      "ms_per_cube": m["construct_ms_per_cube"]},
                "one ChipDataset per cube": {"median_s": m["per_cube_chipdataset_s"]},
            },
            "ratios": {"per-cube/CubesDataset": round(
                m["per_cube_chipdataset_s"] / m["construct_s"], 1)},
        })
        out.append({
            "case": f"chips/s through a DataLoader over {n} {kind} cubes (CubeMixSampler, "
                    "workers 0, batch 16, max_open 16)",
            "results": {f"block={b}": {"chips_per_s": m[f"chips_per_s_block{b}"]}
                        for b in (1, 4, 16)},
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cubes", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()

    from torch.utils.data import DataLoader

    from xgeo.torch import ChipDataset, CubeMixSampler, CubesDataset, collate

    results: dict[str, object] = {
        "topic": "cubes",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1min_at_start": round(os.getloadavg()[0], 1)},
        "versions": {},
        "setup": {"cubes": args.cubes, "chip": 16, "reps": args.reps, "samples": args.samples,
                  "cube": "32x32 px, 2 dates, 13 bands float32; 1 in 4 in EPSG:32634"},
    }
    raw: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folders = make_cubes(Path(tmp), args.cubes)
        for kind, folder in folders.items():
            construct, dset = timed(lambda f=folder: CubesDataset(f, 16, variable="reflectance"),
                                    args.reps)
            paths = sorted(folder.iterdir())
            t = time.perf_counter()  # once: the warm-up above opened every file already
            for c in paths:
                ChipDataset(c, 16, variable="reflectance")
            per_cube = time.perf_counter() - t
            case: dict[str, object] = {
                "construct_s": round(construct, 3),
                "construct_ms_per_cube": round(1000 * construct / args.cubes, 3),
                "per_cube_chipdataset_s": round(per_cube, 3),
                "chips": len(dset), "distinct_crs": 2,
            }
            for block in (1, 4, 16):
                def epoch(b=block, d=dset):
                    loader = DataLoader(d, batch_size=16, collate_fn=collate,
                                        sampler=CubeMixSampler(d, block=b, seed=0))
                    seen = 0
                    for batch in loader:
                        seen += batch["image"].shape[0]
                        if seen >= args.samples:
                            break
                    return seen
                seconds, seen = timed(epoch, args.reps)
                case[f"chips_per_s_block{block}"] = round(seen / seconds, 1)
            raw[kind] = case  # type: ignore[assignment]
            print(kind, case, flush=True)
    results["cases"] = cases(raw, args.cubes)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("wrote", RESULTS)


if __name__ == "__main__":
    main()
