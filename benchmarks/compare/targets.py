"""Quality and rate targets of every lossy family on the real cubes: where each chunk lands.

Writes ``benchmarks/results/targets.json``. Every chunk of the four real cubes of ``rd.py``
(chunked as ``video_encoding`` does by default, ``defaults.chunks_of``) is coded with one
target at a time by each lossy family - x265 (12 bit, the default), SVT-AV1 (10 bit, preset
6) and libvpx VP9 (8 bit) - and decoded:

* ``psnr=t`` for t in 36 ... 56 dB: how many chunks land in the promised window
  ``[t, t + 0.5]``, above it, below the target (a miss), and the encodes spent per chunk
  (SVT-AV1 and libvpx take whole CRF values, so a chunk can land above the window when two
  neighbouring CRFs straddle the target; past the video's reach a residual layer spends the
  rest);
* ``bpppb=r`` for r in 0.1 ... 2: the worst relative rate error over the chunks (promised:
  within 10 %), the PSNR of the cube and the encodes per chunk.

The chunk's own statistic (``xgeo_codecs.chunk_metrics.chunk_stats``: PSNR over its valid values,
peak = their range) is what the window promises; the cube PSNR is ``xgeo.metrics``'.
One core, one process. Run: ``.venv/bin/python benchmarks/compare/targets.py``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from defaults import chunks_of  # this folder is sys.path[0] when run as a script
from rd import load_cubes, versions

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "targets.json"
FAMILIES = {"hevc": {}, "av1": {}, "vp9": {"bit_depth": 8}}
PSNR_TARGETS = (36.0, 40.0, 44.0, 48.0, 52.0, 56.0)
RATE_TARGETS = (0.1, 0.25, 0.5, 1.0, 2.0)


def chunks(x: np.ndarray) -> list[tuple[slice, slice]]:
    """The (time, band) slices of the default chunks of a (T, B, H, W) cube."""
    t, b = x.shape[:2]
    gop, per = chunks_of(x.shape, True)
    return [(slice(t0, t0 + gop), slice(j, j + per)) for j in range(0, b, per)
            for t0 in range(0, t, gop)]


def coded(x: np.ndarray, nodata, params: dict) -> tuple[np.ndarray, list[dict]]:
    """The cube decoded chunk by chunk, and per chunk: bytes, its PSNR, encodes, residual."""
    from xgeo_codecs import chunk_info, decode, encode
    from xgeo_codecs.chunk_metrics import chunk_stats, valid_mask

    out = np.empty_like(x)
    rows = []
    for ts, bs in chunks(x):
        c = np.ascontiguousarray(x[ts, bs])
        s0 = time.perf_counter()
        blob = encode(c, {"nodata": nodata, **params})
        seconds = time.perf_counter() - s0
        dec = decode(blob)
        out[ts, bs] = dec
        info = chunk_info(blob)
        st = chunk_stats(c, dec, valid_mask(c, nodata))
        rows.append({"values": c.size, "bytes": len(blob), "psnr": st["psnr"],
                     "encodes": info["quality"]["encodes"], "residual": "residual" in info,
                     "encode_s": seconds})
    return out, rows


def psnr_case(cube: dict, family: str) -> dict:
    results = {}
    for t in PSNR_TARGETS:
        _, rows = coded(cube["x"], cube["nodata"], {"codec": family, "psnr": t,
                                                    **FAMILIES[family]})
        got = [r["psnr"] if r["psnr"] is not None else float("inf") for r in rows]
        results[f"psnr={t:g}"] = {
            "chunks": len(rows),
            "in_window": sum(t <= g <= t + 0.5 for g in got),
            "above_window": sum(g > t + 0.5 for g in got),
            "below_target": sum(g < t for g in got),
            "max_over_target_dB": round(max(g - t for g in got), 3),
            "encodes_per_chunk": float(np.mean([r["encodes"] for r in rows])),
            "residual_chunks": sum(r["residual"] for r in rows),
            "bpppb": 8 * sum(r["bytes"] for r in rows) / cube["x"].size}
    return results


def rate_case(cube: dict, family: str) -> dict:
    from xgeo.metrics import error_stats

    results = {}
    for r in RATE_TARGETS:
        dec, rows = coded(cube["x"], cube["nodata"], {"codec": family, "bpppb": r,
                                                      **FAMILIES[family]})
        errs = [8 * row["bytes"] / row["values"] / r - 1 for row in rows]
        results[f"bpppb={r:g}"] = {
            "chunks": len(rows),
            "bpppb": 8 * sum(row["bytes"] for row in rows) / cube["x"].size,
            "psnr": error_stats(cube["x"], dec, mask=~cube["valid"])["psnr"],
            "worst_rate_error": round(max(errs, key=abs), 4),
            "within_10pct": sum(abs(e) <= 0.1 for e in errs),
            "encodes_per_chunk": float(np.mean([row["encodes"] for row in rows])),
            "residual_chunks": sum(row["residual"] for row in rows)}
    return results


def main() -> None:
    report = {"topic": "targets",
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "versions": versions(), "date": time.strftime("%Y-%m-%d"),
              "how": "every default chunk of each real cube coded with one target at a "
                     "time per family (x265 12 bit, SVT-AV1 10 bit preset 6, libvpx 8 bit); "
                     "window and rate error from each chunk's own statistics",
              "cases": []}
    for cname, cube in load_cubes().items():
        for family in FAMILIES:
            print("==", cname, family, flush=True)
            for mode, fn in (("psnr=", psnr_case), ("bpppb=", rate_case)):
                results = fn(cube, family)
                report["cases"].append({"case": f"{cname}: {family}, {mode}", "threads": 1,
                                        "results": results})
                for k, v in results.items():
                    print(f"  {k}: " + ", ".join(
                        f"{a}={b:.3f}" if isinstance(b, float) else f"{a}={b}"
                        for a, b in v.items()), flush=True)
            OUT.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
