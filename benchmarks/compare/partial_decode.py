"""Random access inside a video chunk: the rate cost of ``keyint=`` groups against the time
to read one date, on real Sentinel-2 data.

A chunk of 64 dates x 256 x 256 uint16 (one band, and four bands; default coding at 0.5 and
1 bpppb) is tiled from the nrt
L2A cube (100 x 100 frames, 140 dates: 64 consecutive dates, tiles mirrored so no tile
repeats another's bytes). For each ``keyint`` (``None`` = today's one group per chunk):

* rate: the chunk coded at the level (CRF, or QP at the finest end of the video) the
  default ``bpppb=`` coding of the chunk lands on and 2 either side of it; bytes at the PSNR of that default coding, interpolated in log-bytes, and
  the cost against ``keyint=None`` in per cent (PSNR over valid values, the chunk's valid
  range as peak, as ``BENCHMARKS.md`` says);
* access: ``decode(blob, frames=[k])`` for 8 dates spread over the chunk against
  ``decode(blob)`` of the whole chunk, single-threaded, interleaved, min of the repetitions;
  the speed-up is whole / one-date time (the mean over the dates). Also a run of
  ``RUN`` consecutive dates (``frames=slice(d, d + RUN)``, 4 starts spread over the chunk):
  with frames reordered, a group holds similar dates from the whole chunk, so a run of
  consecutive dates can touch every group;
* the coding tools the chunk's own trial chose at that ``keyint`` (reordering or not).

Run: ``.venv/bin/python benchmarks/compare/partial_decode.py`` (``--quick``: 32 dates,
128 x 128) -> ``benchmarks/results/partial_decode.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
NRT = ROOT.parent / "shared" / "data" / "nrt" / "sentinel2_cube_subset_romania_10m.nc"
OUT = ROOT / "benchmarks" / "results" / "partial_decode.json"
KEYINTS = (None, 32, 16, 8)
RATES = (0.5, 1.0)  # bpppb targets of the default coding
DATES = 8  # dates read one at a time per chunk
RUN = 8  # consecutive dates read at once


def chunk(bands: list[str], t: int, n: int) -> np.ndarray:
    """(t, len(bands), n, n) uint16 (squeezed to (t, n, n) for one band), 0 = nodata."""
    import netCDF4

    with netCDF4.Dataset(NRT) as ds:
        ds.set_auto_maskandscale(False)
        cube = np.stack([np.asarray(ds[b][:t]) for b in bands], axis=1).astype(np.uint16)
    th, tw = cube.shape[-2:]
    out = np.empty((t, len(bands), n, n), np.uint16)
    for r in range(0, n, th):
        for c in range(0, n, tw):
            tile = cube[..., ::(-1) ** (r // th), ::(-1) ** (c // tw)]
            h, w = min(th, n - r), min(tw, n - c)
            out[..., r:r + h, c:c + w] = tile[..., :h, :w]
    return out[:, 0] if len(bands) == 1 else out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    valid = a != 0
    x = a[valid].astype(np.float64)
    peak = float(x.max() - x.min())
    return float(10 * np.log10(peak**2 / np.mean((x - b[valid]) ** 2)))


def bytes_at(points: list[tuple[float, int]], target: float) -> float:
    """Bytes at PSNR ``target``, interpolated in log-bytes between the two points around it
    (extrapolated from the nearest two outside them)."""
    pts = sorted(points)
    i = min(max(int(np.searchsorted([p for p, _ in pts], target)), 1), len(pts) - 1)
    (p0, b0), (p1, b1) = pts[i - 1], pts[i]
    slope = (np.log(b1) - np.log(b0)) / (p1 - p0)
    return float(np.exp(np.log(b0) + slope * (target - p0)))


def timed(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def case(name: str, a: np.ndarray, reps: int, rate: float) -> dict:
    from xgeo_codecs import chunk_info, decode, encode

    base = encode(a, {"bpppb": rate, "nodata": 0})
    info = chunk_info(base)
    # the level the rate search landed on: a CRF, or a QP at the finest end of the video
    knob = "crf" if "crf" in info["quality"] else "qp"
    level = float(info["quality"][knob])
    target = psnr(a, decode(base))
    print(f"{name}: default bpppb={rate:g} coding: {len(base) * 8 / a.size:.3f} bpppb, "
          f"{target:.2f} dB at {knob} {level:g}", flush=True)
    t = a.shape[0]
    dates = np.linspace(0, t - 1, DATES).round().astype(int).tolist()
    runs = np.linspace(0, t - RUN, 4).round().astype(int).tolist()
    rows = []
    blobs = {}
    for k in KEYINTS:
        pts = []
        for c in sorted({max(level - 2, 0), level, level + 2}):
            blob = encode(a, {knob: c if knob == "crf" else int(c), "nodata": 0, "keyint": k})
            pts.append((psnr(a, decode(blob)), len(blob)))
            if c == level:
                blobs[k] = blob
        kinfo = chunk_info(blobs[k])
        rows.append({"keyint": k, "coding_tools": kinfo.get("coding_tools"),
                     "reordered": "frame_order" in kinfo,
                     "points": [[round(p, 3), n] for p, n in pts],
                     "bytes_at_default_psnr": bytes_at(pts, target)})
    # interleaved timing: every coding's whole decode and one-date reads in each round
    whole = {k: [] for k in KEYINTS}
    one = {k: {d: [] for d in dates} for k in KEYINTS}
    run = {k: {d: [] for d in runs} for k in KEYINTS}
    for _ in range(reps):
        for k in KEYINTS:
            whole[k].append(timed(lambda k=k: decode(blobs[k]), 1))
            for d in dates:
                one[k][d].append(timed(lambda k=k, d=d: decode(blobs[k], frames=[d]), 1))
            for d in runs:
                run[k][d].append(timed(
                    lambda k=k, d=d: decode(blobs[k], frames=slice(d, d + RUN)), 1))
    ref = rows[0]["bytes_at_default_psnr"]
    for row in rows:
        k = row["keyint"]
        w = min(whole[k])
        per_date = [min(one[k][d]) for d in dates]
        per_run = [min(run[k][d]) for d in runs]
        row.update({
            "bytes_vs_one_group_pct": round(100 * (row["bytes_at_default_psnr"] / ref - 1), 2),
            "whole_decode_s": round(w, 4),
            "one_date_s_mean": round(float(np.mean(per_date)), 4),
            "one_date_speedup": round(w / float(np.mean(per_date)), 2),
            "one_date_speedup_worst": round(w / max(per_date), 2),
            "run_s_mean": round(float(np.mean(per_run)), 4),
            "run_speedup": round(w / float(np.mean(per_run)), 2),
        })
        row["bytes_at_default_psnr"] = round(row["bytes_at_default_psnr"])
        print(f"  keyint {str(k):>4}: {row['bytes_vs_one_group_pct']:+6.2f} % bytes, whole "
              f"{w * 1e3:7.1f} ms, one date {row['one_date_s_mean'] * 1e3:6.1f} ms "
              f"({row['one_date_speedup']:.2f}x, worst {row['one_date_speedup_worst']:.2f}x), "
              f"{RUN} dates {row['run_speedup']:.2f}x, {row['coding_tools']}", flush=True)
    return {"case": name, "shape": list(a.shape), "bpppb_target": rate, "default": {
        "bpppb": round(len(base) * 8 / a.size, 4), "psnr": round(target, 3), knob: level,
        "coding_tools": info.get("coding_tools")}, "dates_read": dates,
        "runs_read": [[d, d + RUN] for d in runs], "keyint": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="32 dates, 128 x 128, 2 repetitions")
    args = ap.parse_args()
    t, n, reps = (32, 128, 2) if args.quick else (64, 256, 5)
    one, four = chunk(["B8"], t, n), chunk(["B2", "B3", "B4", "B8"], t, n)
    cases = [case(f"{name}, {rate:g} bpppb", a, reps, rate) for rate in RATES
             for name, a in ((f"1 band (B8), {t} x {n} x {n}", one),
                             (f"4 bands, {t} x 4 x {n} x {n}", four))]
    import av

    result = {
        "topic": "partial_decode",
        "how": "python benchmarks/compare/partial_decode.py" + (" --quick" if args.quick else ""),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "versions": {p: version(p) for p in ("xgeo-codecs", "av", "numpy")}
        | {"libavcodec": ".".join(map(str, av.library_versions["libavcodec"]))},
        "data": "nrt S2 L2A (PyPI nrt 0.2.1), tiled with mirrored copies to the frame size",
        "cases": cases,
    }
    if args.quick:
        print(json.dumps(result, indent=1)[:2000])
        return
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
