"""NVDEC check, for a machine with an NVIDIA GPU: is ``decoder="auto"`` exact, and how fast?

Two parts, each updating its section of ``benchmarks/results/nvdec.json``:

``decode``
    Six 12x512x512 chunks of the loader's S2 cube coded as the loader's video store does (12
    bands as frames of one 4:2:0 stream, CRF 10) and three coded as 4:4:4 (three bands per
    frame): every chunk decoded with NVDEC must equal the software decode (twice, kinds
    interleaved), then chunks/s for software and NVDEC against zstd on the same data, per
    thread count.
``loader``
    ``ChipDataset`` epochs (benchmarks/compare/loader.py's cube, chips, sampler and
    measurement) over the zstd store, and over the video store with software and with NVDEC
    decoding (``XGEO_CODECS_DECODER``), per worker count.

Run: ``python benchmarks/compare/nvdec.py [decode] [loader]`` (both by default; the loader
part needs torch). Without a working NVDEC it measures nothing and leaves the JSON as it is.
"""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import loader  # this folder is sys.path[0] when run as a script
import numcodecs
import numpy as np

RESULTS = loader.ROOT / "benchmarks" / "results" / "nvdec.json"
THREADS = (1, 2, 4, 8, 16)
WORKERS = (0, 2, 4, 8)


def machine() -> dict:
    try:
        gpu = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                             check=False).stdout.strip()
    except FileNotFoundError:
        gpu = "none (no nvidia-smi)"
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "gpu": gpu}


def chunks() -> dict[str, list[bytes]]:
    from xgeo_codecs import encode

    cube = loader.mosaic(4096)
    tiles = [np.ascontiguousarray(cube[:, 512 * i: 512 * (i + 1), 1024:1536]) for i in range(6)]
    return {"grey": [encode(t, {"crf": 10}) for t in tiles],
            "packed": [encode(np.ascontiguousarray(t.reshape(4, 3, 512, 512)), {"crf": 10})
                       for t in tiles[:3]]}


def decode_part() -> dict:
    from xgeo_codecs import _stream, chunk_info, decode, probe, probe_report

    probe.clear_cache()  # time the probe a fresh worker pays
    t = time.perf_counter()
    out: dict = {"probe": probe_report(), "probe_s": round(time.perf_counter() - t, 2)}
    blobs = chunks()
    out["chunks"] = {k: {"n": len(v), "shape": chunk_info(v[0])["shape"],
                         "chroma": chunk_info(v[0]).get("chroma"), "groups": chunk_info(v[0]).get("groups")}
                     for k, v in blobs.items()}
    used: list = []
    real = _stream.decode_stream

    def spy(*a, **k):
        used.append(a[6] if len(a) > 6 else k.get("decoder"))
        return real(*a, **k)

    _stream.decode_stream = spy
    exact = {}
    for k, bs in blobs.items():
        for i, b in enumerate(bs):
            used.clear()
            same = np.array_equal(decode(b, decoder="software"), decode(b, decoder="auto"))
            exact[f"{k}_{i}"] = {"equal": bool(same), "decoders": list(used)}
    _stream.decode_stream = real
    order = [(k, i) for k, bs in blobs.items() for i in range(len(bs))] * 2
    random.Random(0).shuffle(order)
    same = sum(np.array_equal(decode(blobs[k][i], decoder="auto"), decode(blobs[k][i]))
               for k, i in order)
    out["exact"] = exact
    out["exact_interleaved"] = f"{same}/{len(order)}"
    zstd = numcodecs.Zstd(level=0)  # the loader's zstd store: one band per chunk, level 0
    zchunks = [zstd.encode(np.ascontiguousarray(band)) for b in blobs["grey"] for band in decode(b)]
    rates = {}
    for n in THREADS:
        rates[f"zstd band-chunks threads={n}"] = _rate(zstd.decode, zchunks, n, 2)
        for k in blobs:
            for dec in ("software", "auto"):
                reps = 2 if dec == "software" and n < 4 else 6
                rates[f"{k} {dec} threads={n}"] = _rate(
                    lambda b, d=dec: decode(b, decoder=d), blobs[k], n, reps)
        print(n, {k: v for k, v in rates.items() if k.endswith(f"={n}")}, flush=True)
    out["chunks_per_s"] = rates
    # a 12x512x512 video chunk holds four 256x256 chips; so do twelve zstd band chunks
    out["chips_per_s"] = {k: round(v * 4 / (12 if k.startswith("zstd") else 1), 1)
                          for k, v in rates.items()}
    return out


def _rate(fn, items: list, threads: int, reps: int) -> float:
    ready = threading.Barrier(threads)

    def warm(i: int) -> None:  # every thread opens its decoder before the clock starts
        fn(items[i % len(items)])
        ready.wait()

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(warm, range(threads)))
        t = time.perf_counter()
        list(ex.map(fn, items * reps))
        return round(len(items) * reps / (time.perf_counter() - t), 2)


def loader_part() -> dict:
    stores = loader.build_stores(video=True, tif=False)
    out: dict = {"store_mb": {k: round(loader._store_bytes(v) / 1e6, 1) for k, v in stores.items()},
                 "runs": {}}
    for workers in WORKERS:
        z = None
        for label, store, dec in (("zstd", stores["zstd"], "software"),
                                  ("video software", stores["video"], "software"),
                                  ("video nvdec", stores["video"], "auto")):
            os.environ["XGEO_CODECS_DECODER"] = dec
            r = loader.measure("xgeo", store, workers, "native", 2, False)
            z = r.get("chips_per_s") if label == "zstd" else z
            if label != "zstd" and z and r.get("chips_per_s"):
                r["ratio_to_zstd"] = round(r["chips_per_s"] / z, 3)
            out["runs"][f"{label} workers={workers}"] = r
            print(label, workers, r, flush=True)
    os.environ.pop("XGEO_CODECS_DECODER", None)
    return out


def main() -> None:
    from xgeo_codecs.probe import hardware_decoder

    if hardware_decoder("hevc") is None:  # e.g. `bash dev.sh bench` on a machine without one
        print(f"no working NVDEC here: nothing measured, {RESULTS.name} keeps its last GPU run")
        return
    parts = sys.argv[1:] or ["decode", "loader"]
    for part in parts:
        report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"topic": "nvdec"}
        result = decode_part() if part == "decode" else loader_part()
        result["machine"] = machine()
        result["versions"] = loader.versions()
        report[part] = result
        Path(RESULTS).write_text(json.dumps(report, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
