"""GPU-resident batches (issue #22), for a machine with an NVIDIA GPU: one prepared run.

Writes ``benchmarks/results/gpu_loader.json``. Needs nothing from the network: the stores are
built here from the bundled real S2 cube (``loader.mosaic``: whole real tiles, a 12 x N x N
uint16 cube, N = ``--size``, 4096 by default: 400 MB decoded), as Zarr+zstd (one band per 512 x 512 chunk,
``loader.py``'s layout) and HEVC (12 bands x 512 x 512 a chunk, CRF 10).

Parts (each measurement in a fresh subprocess, so CUDA and memory start clean):

``exact``
    Every chunk of the video store decoded with ``decoder="auto"`` (NVDEC where it works)
    equals the software decode (HEVC decoding is exact).
``loader``
    12 x 256 x 256 chips, float32 out, batch 16 and 64, one warm-up epoch then timed epochs,
    64 MiB of decoded chunks cached per process (every epoch decodes every chunk):
    the zstd store read the ordinary way (DataLoader workers decode on the CPU, pinned
    batches copied to the GPU) against ``ChipDataset(video, device="cuda")`` (main process,
    ``decode_threads`` = all cores, NVDEC via ``XGEO_CODECS_DECODER=auto`` with a host copy,
    CF decoding on the GPU) and the same with software decoding. Chips/s, first-batch
    latency, peak GPU memory, CPU use (CPU seconds of the process and its workers per wall
    second).
``indices``
    ``Indices`` of 6 indices on a (16, 12, 256, 256) float32 batch: torch on the GPU
    (:mod:`xgeo.indices.tensor`) against the fused CPU kernel, and equal within float32
    rounding.

Run: ``python benchmarks/compare/gpu_loader.py`` (all parts; ``--parts loader``...). Without a
CUDA GPU it measures nothing and leaves the JSON as it is; ``--cpu-check`` runs every part
on the CPU (``device="cpu"``, a small cube, one timed epoch) and prints the JSON instead of
writing it, to check the script before a GPU session. Budget: about 4 minutes on a 16-core
H100 host at the default size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import loader  # this folder is sys.path[0] when run as a script
import numpy as np
from nvdec import machine

RESULTS = loader.ROOT / "benchmarks" / "results" / "gpu_loader.json"
BATCHES = (16, 64)
INDICES = ["NDVI", "EVI", "SAVI", "NDWI", "NBR", "kNDVI"]


def build(size: int, folder: Path) -> dict[str, str]:
    """The zstd and HEVC stores of a 12 x size x size cube of real S2 tiles."""
    import xarray as xr

    import xgeo

    pixels = loader.mosaic(size)
    grid = xgeo.Grid.from_bounds((465180.0, 5080260.0 - 10 * size, 465180.0 + 10 * size,
                                  5080260.0), crs=32633, resolution=10)
    y, x = grid.coords()
    bands = [b for b in xgeo.datasets.sentinel2_cube().band.values.tolist() if b != "B10"]
    da = xr.DataArray(pixels, dims=("band", "y", "x"), coords={"band": bands, "y": y, "x": x},
                      name="reflectance")
    ds = xgeo.write_grid(da.to_dataset(), grid)
    paths = {"zstd": folder / "zstd.zarr", "video": folder / "hevc.zarr"}
    ds.chunk({"band": 1, "y": 512, "x": 512}).geo.to_zarr(paths["zstd"])
    chunks = {"band": 12, "y": 512, "x": 512}
    ds.chunk(chunks).geo.to_zarr(paths["video"], codec="hevc",
                                  codec_options={"crf": 10, "chunks": chunks})
    return {k: str(v) for k, v in paths.items()}


def exact_part(video: str) -> dict:
    """Every chunk: decoder="auto" equals the software decode."""
    from xgeo_codecs import decode

    files = sorted(p for p in Path(video, "reflectance", "c").rglob("*") if p.is_file())
    same = 0
    for p in files:
        blob = p.read_bytes()
        same += bool(np.array_equal(decode(blob, decoder="auto"), decode(blob, decoder="software")))
    return {"chunks": len(files), "identical": same}


CHILD = r'''
import json, os, resource, sys, time
import torch
try:  # CPU seconds of the DataLoader workers too (psutil); else of this process only
    import psutil
except ImportError:
    psutil = None
from torch.utils.data import DataLoader
from xgeo.torch import ChipDataset, ChunkAwareSampler, collate
store, how, batch, device, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
cores = os.cpu_count() or 1
# 64 MiB of decoded chunks per process holds a batch's chunks but not the cube: every epoch
# decodes every chunk once, as on data larger than memory (loader.py's setting)
CACHE = 64 * 2**20
cuda = device.startswith("cuda")
if how == "zstd":  # the ordinary way: CPU workers decode, pinned batches copied to the GPU
    ds = ChipDataset(store, size=256, variable="reflectance", cache_bytes=CACHE)
    kw = dict(num_workers=max(1, cores - 1), persistent_workers=True, pin_memory=cuda,
              multiprocessing_context="fork")
else:  # the batch is made on the device, in the main process
    ds = ChipDataset(store, size=256, variable="reflectance", device=device, decode_threads=cores,
                     cache_bytes=CACHE)
    kw = dict(num_workers=0)
loader = DataLoader(ds, batch_size=batch, sampler=ChunkAwareSampler(ds, seed=0),
                    collate_fn=collate, **kw)
def cpu_seconds():
    if psutil is None:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    me = psutil.Process()
    procs = [me] + me.children(recursive=True)
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total

def epoch():
    n, first, t0 = 0, None, time.perf_counter()
    for b in loader:
        x = b["image"].to(device, non_blocking=True)
        if cuda:
            torch.cuda.synchronize()
        first = time.perf_counter() - t0 if first is None else first
        n += x.shape[0]
    return n, time.perf_counter() - t0, first, x

if cuda:
    torch.cuda.reset_peak_memory_stats()
n, dt, first, x = epoch()  # warm-up: imports, workers, decoders, kernels
rates, c0, w0 = [], cpu_seconds(), time.perf_counter()
for _ in range(epochs):
    n, dt, _, x = epoch()
    rates.append(n / dt)
cpu = (cpu_seconds() - c0) / (time.perf_counter() - w0)
print(json.dumps({"chips_per_s": max(rates), "chips_per_epoch": n, "first_batch_s": first,
                  "cpu_cores_busy": cpu, "cpu_counts_workers": psutil is not None, "cores": cores,
                  "gpu_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
                  "dtype": str(x.dtype), "shape": list(x.shape[1:]), "device": str(x.device)}))
'''


def measure(store: str, how: str, batch: int, device: str, epochs: int, decoder: str) -> dict:
    env = dict(os.environ, XGEO_CODECS_DECODER=decoder)
    out = subprocess.run([sys.executable, "-P", "-c", CHILD, store, how, str(batch), device,
                          str(epochs)], capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
        return {"error": lines[-1] if lines else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def loader_part(stores: dict[str, str], device: str, epochs: int) -> dict:
    runs: dict = {}
    for batch in BATCHES:
        z = measure(stores["zstd"], "zstd", batch, device, epochs, "software")
        runs[f"zstd, CPU workers, batch {batch}"] = z
        for decoder in ("auto", "software"):
            r = measure(stores["video"], "video", batch, device, epochs, decoder)
            if z.get("chips_per_s") and r.get("chips_per_s"):
                r["ratio_to_zstd"] = round(r["chips_per_s"] / z["chips_per_s"], 3)
            label = "NVDEC" if decoder == "auto" else "software decode"
            runs[f"video, device={device}, {label}, batch {batch}"] = r
        print(batch, {k: v.get("chips_per_s") for k, v in runs.items()}, flush=True)
    return runs


def indices_part(device: str) -> dict:
    import torch

    import xgeo
    from xgeo.indices import evaluate
    from xgeo.indices.core import build_plan
    from xgeo.indices.tensor import evaluate_tensors

    refl = xgeo.datasets.sentinel2_cube().reflectance.drop_sel(band="B10")
    bands = {"B": "B02", "G": "B03", "R": "B04", "N": "B08", "S2": "B12"}
    tile = np.nan_to_num(refl.isel(time=0).values.astype(np.float32))
    cube = np.tile(tile[None], (16, 1, 3, 3))[:, :, :256, :256]  # (16, 12, 256, 256)
    names = list(refl.band.values)
    plan = build_plan(INDICES)
    inputs = {s: np.ascontiguousarray(cube[:, names.index(bands[s])]) for s in plan.symbols}
    evaluate(inputs, INDICES)  # compile
    t = time.perf_counter()
    for _ in range(5):
        cpu = evaluate(inputs, INDICES)
    cpu_s = (time.perf_counter() - t) / 5
    gpu_in = [torch.from_numpy(inputs[s]).to(device) for s in plan.symbols]
    n = len(plan.symbols)

    def run():
        out = evaluate_tensors(plan, gpu_in, [1.0] * n, [0.0] * n, [float("nan")] * n)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return out

    run()
    t = time.perf_counter()
    for _ in range(5):
        out = run()
    dev_s = (time.perf_counter() - t) / 5
    worst = max(float(np.nanmax(np.abs(out[k].cpu().numpy() - cpu[name])))
                for k, name in enumerate(plan.names))
    return {"batch": [16, 12, 256, 256], "indices": INDICES, "cpu_fused_kernel_ms": cpu_s * 1e3,
            "torch_ms": dev_s * 1e3, "device": device, "max_abs_difference": worst,
            "cpu_threads": os.cpu_count()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", nargs="+", default=["exact", "loader", "indices"],
                    choices=("exact", "loader", "indices"))
    ap.add_argument("--size", type=int, default=4096, help="cube side in pixels (x 12 bands)")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs after the warm-up")
    ap.add_argument("--cpu-check", action="store_true",
                    help="run on the CPU, small, and print the JSON instead of writing it")
    args = ap.parse_args()
    import torch

    if args.cpu_check:
        device, size, epochs = "cpu", 1024, 1
    elif torch.cuda.is_available():
        device, size, epochs = "cuda", args.size, args.epochs
    else:
        print(f"no CUDA GPU here: nothing measured, {RESULTS.name} keeps its last GPU run")
        return
    t0 = time.perf_counter()
    report: dict = {"topic": "gpu_loader", "machine": machine(), "size": size,
                    "versions": loader.versions()}
    with tempfile.TemporaryDirectory(prefix="xgeo-gpu-") as tmp:
        stores = build(size, Path(tmp))
        report["build_s"] = round(time.perf_counter() - t0, 1)
        report["store_mb"] = {k: round(loader._store_bytes(v) / 1e6, 1) for k, v in stores.items()}
        if "exact" in args.parts:
            report["exact"] = exact_part(stores["video"])
            print("exact", report["exact"], flush=True)
        if "loader" in args.parts:
            report["loader"] = loader_part(stores, device, epochs)
        if "indices" in args.parts:
            report["indices"] = indices_part(device)
            print("indices", report["indices"], flush=True)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(report, indent=1, default=str) + "\n"
    if args.cpu_check:
        print(text)
    else:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
