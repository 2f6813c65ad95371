"""The codec's defaults on the real cubes: only a rate target given, as users run it.

Writes ``benchmarks/results/defaults.json``. What a user gets from
``ds.geo.to_zarr(codec="hevc", bpppb=r)`` or ``xgeo compress --bpppb r``: the chunks
``xgeo.compression.video_encoding`` writes by default (frames by the frame size,
``frames_for_tile``: the whole series of these small cubes, spread evenly; all bands up to 16
in one chunk, 256 x 256 tiles) coded with ``{"bpppb": r, "nodata": ...}`` and
nothing else - the KLT and frame order measured per chunk (``"auto"``), effort ``"default"``.

Contenders, one core, same process:

* ``xgeo defaults``: as above, bpppb targets swept so that 0.1 ... 2 bits per value are
  bracketed;
* ``xgeo defaults, effort=max``: the same with ``effort="max"`` at fewer targets (reported as
  dB over the defaults' curve at the rates it reached);
* ``xgeo before auto tools``: the previous defaults (no KLT, chronological frames, three bands
  per chunk in one 4:4:4 stream, at most 32 frames per chunk, x265 preset faster:
  ``effort="fast"``);
* JPEG 2000 and JPEG XL (per frame and band, as in ``peers.py``) and oceanum's ``xarray-video``
  (its 8-bit RGB mapping in ``peers.py``): the same sweeps as ``rd.py``, rerun here;
* the real xarrayvideo (IPL-UV, run by hand, recorded in ``xarrayvideo_envelope.json``: the
  best of its x265/VP9 8/10/12-bit settings at each rate).

Reported per cube and rate: PSNR (``xgeo.metrics``), the dB leads the issue asks for
(defaults minus real envelope, minus best image codec, minus xarray-video), spectral angle
(degrees) and NDVI mean absolute error; per chunk: encodes spent (the rate search's plus the
trial's, in encodes of the whole chunk) and encode time as a multiple of one plain
``crf=6`` encode of the same chunk at the default preset (what "a plain encode" costs).

Run: ``.venv/bin/python benchmarks/compare/defaults.py`` (``--quick``: fewer rates;
``--only TEXT``: rerun the cubes whose name holds TEXT, keep the other cases of the JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
from _progress import sweep  # this folder is sys.path[0] when run as a script
from rd import SWEEPS, TARGETS, XV, contender, load_cubes, measure, psnr_at, versions

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "defaults.json"
ENVELOPE = ROOT / "benchmarks" / "results" / "xarrayvideo_envelope.json"
RATES = (0.08, 0.12, 0.22, 0.3, 0.45, 0.6, 0.9, 1.2, 1.8, 2.4)  # bracket 0.1 ... 2
MAX_RATES = (0.1, 0.25, 0.5, 1.0, 2.0)
# red and near-infrared band of each cube (None: the cube is NDVI itself)
NDVI_BANDS = {"nrt": (2, 3), "L1C": (3, 7), "NDVI": None}
PEERS = ("jpeg2000", "jpegxl", "avif", XV)


def _ndvi_bands(name: str) -> tuple[int, int] | None:
    return next(v for k, v in NDVI_BANDS.items() if k in name)


def chunks_of(shape: tuple[int, ...], defaults: bool) -> tuple[int, int]:
    """Frames and bands per chunk of a ``(T, B, H, W)`` cube as ``video_encoding`` writes
    them: today (frames by the frame size, all bands up to 16) or before (32 frames, 3 bands).
    The cubes here are one 256 x 256 tile or less."""
    from xgeo.chunkshape import DEFAULT_GOP, DEFAULT_TILE, frames_for_tile, frames_per_chunk

    t, b, h, w = shape
    if not defaults:
        return frames_per_chunk(t, DEFAULT_GOP), 3
    limit = frames_for_tile(min(h, DEFAULT_TILE), min(w, DEFAULT_TILE))
    return frames_per_chunk(t, limit), min(b, 16)


def xgeo_coded(x: np.ndarray, nodata, defaults: bool = True, **params
               ) -> tuple[int, np.ndarray, dict]:
    """Every chunk encoded and decoded; bytes, the decoded cube, cost and tool statistics."""
    from xgeo_codecs import chunk_info, decode, encode
    from xgeo_codecs.autotools import used

    t, b = x.shape[:2]
    gop, per = chunks_of(x.shape, defaults)
    if not defaults:  # the previous defaults: no tools, x265 preset faster
        params = {"decorrelate": None, "reorder_frames": False, "effort": "fast", **params}
    out = np.empty_like(x)
    n, seconds, encodes, tools = 0, 0.0, [], []
    for j in range(0, b, per):
        for t0 in range(0, t, gop):
            c = np.ascontiguousarray(x[t0:t0 + gop, j:j + per])
            s0 = time.perf_counter()
            blob = encode(c, {"nodata": nodata, **params})
            seconds += time.perf_counter() - s0
            n += len(blob)
            out[t0:t0 + gop, j:j + per] = decode(blob)
            info = chunk_info(blob)
            trial = (info.get("tools") or {}).get("cost", 0.0)
            encodes.append(info.get("quality", {}).get("encodes", 1) + trial)
            tools.append(used(info))
    return n, out, {"encode_s": seconds, "encodes_per_chunk": float(np.mean(encodes)),
                    "tools": {k: tools.count(k) for k in sorted(set(tools))}}


def plain_seconds(x: np.ndarray, nodata) -> float:
    """Encode seconds of one plain ``crf=6`` encode of every default chunk (min of 2)."""
    from xgeo_codecs import encode

    t, b = x.shape[:2]
    gop, per = chunks_of(x.shape, True)
    total = 0.0
    for j in range(0, b, per):
        for t0 in range(0, t, gop):
            c = np.ascontiguousarray(x[t0:t0 + gop, j:j + per])
            runs = []
            for _ in range(2):
                s0 = time.perf_counter()
                encode(c, {"crf": 6.0, "nodata": nodata, "decorrelate": None,
                           "reorder_frames": False})
                runs.append(time.perf_counter() - s0)
            total += min(runs)
    return total


def ndvi_mae(x: np.ndarray, dec: np.ndarray, valid: np.ndarray, bands) -> float:
    """Mean |NDVI(decoded) - NDVI(original)| over pixels valid in both bands."""
    if bands is None:
        return float(np.mean(np.abs(dec[valid].astype(np.float64)
                                    - x[valid].astype(np.float64))))
    r, n = bands

    def ndvi(a: np.ndarray) -> np.ndarray:
        red, nir = a[:, r].astype(np.float64), a[:, n].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (nir - red) / (nir + red)

    ok = valid[:, r] & valid[:, n]
    o, d = ndvi(x), ndvi(dec)
    ok &= np.isfinite(o) & np.isfinite(d)
    return float(np.mean(np.abs(d[ok] - o[ok])))


def xgeo_curve(cube: dict, cname: str, rates, defaults: bool = True, **params) -> list[dict]:
    curve = []
    for r in sweep(rates, f"{cname} {params or defaults}"):
        stats: dict = {}

        def fn(x, v, nd, r=r, stats=stats):
            n, dec, extra = xgeo_coded(x, nd, defaults, bpppb=r, **params)
            stats.update(extra, ndvi_mae=ndvi_mae(x, dec, v, _ndvi_bands(cname)))
            return n, dec, {}

        point = measure(fn, cube) | stats | {"target_bpppb": r}
        print(f"  {r:<5} {point['bpppb']:.3f} bpppb {point['psnr']:.2f} dB "
              f"{point['encodes_per_chunk']:.2f} encodes {point['tools']}", flush=True)
        curve.append(point)
    return curve


def peer_curve(cube: dict, cname: str, name: str, quick: bool) -> list[dict]:
    points = SWEEPS[name][::2] if quick else SWEEPS[name]
    curve = []
    for knob, val in sweep(points, f"{cname} {name}"):
        try:
            stats: dict = {}
            inner = contender(name, knob, val)

            def fn(x, v, nd, inner=inner, stats=stats):
                n, dec, extra = inner(x, v, nd)
                stats["ndvi_mae"] = ndvi_mae(x, dec, v, _ndvi_bands(cname))
                return n, dec, extra

            curve.append(measure(fn, cube) | stats | {knob: val})
        except Exception as err:  # noqa: BLE001 - recorded, not fatal
            curve.append({knob: val, "error": repr(err)[:200], "bpppb": math.nan,
                          "psnr": math.nan})
    return curve


def at_rate(curve: list[dict], key: str, target: float) -> float | None:
    """``key`` of a curve at ``target`` bpppb, interpolated in log rate like PSNR."""
    pts = [{"bpppb": p["bpppb"], "psnr": p[key]} for p in curve
           if p.get(key) is not None and math.isfinite(p.get("bpppb", math.nan))]
    return psnr_at(pts, target)


def table(curves: dict[str, list], envelope: dict, plain_s: float) -> dict:
    rows = {}
    for tgt in TARGETS:
        row = {name: psnr_at(c, tgt) for name, c in curves.items()}
        real = (envelope.get(str(tgt)) or {}).get("psnr")
        row["real xarrayvideo (envelope)"] = real
        d = row["xgeo defaults"]
        imgs = [row[k] for k in ("jpeg2000", "jpegxl", "avif") if row.get(k) is not None]
        row["dB_defaults_minus_real_xarrayvideo"] = None if None in (d, real) else d - real
        row["dB_defaults_minus_best_image"] = None if d is None or not imgs else d - max(imgs)
        row["dB_defaults_minus_xarray_video"] = (None if None in (d, row.get(XV))
                                                 else d - row[XV])
        row["dB_defaults_minus_before_auto"] = (
            None if None in (d, row.get("xgeo before auto tools"))
            else d - row["xgeo before auto tools"])
        dc = curves["xgeo defaults"]
        for key in ("spectral_angle_deg", "ndvi_mae"):
            row[f"defaults_{key}"] = at_rate(dc, key, tgt)
        row["defaults_encodes_per_chunk"] = at_rate(dc, "encodes_per_chunk", tgt)
        cost = [{"bpppb": p["bpppb"], "psnr": p["encode_s"] / plain_s} for p in dc]
        row["defaults_encode_time_in_plain_encodes"] = psnr_at(cost, tgt)
        rows[str(tgt)] = row
    return rows


def effort_gain(curves: dict[str, list]) -> list[dict]:
    """dB of effort=max over the defaults' curve at the rates effort=max reached."""
    out = []
    for p in curves.get("xgeo defaults, effort=max", []):
        base = psnr_at(curves["xgeo defaults"], p["bpppb"])
        out.append({"bpppb": p["bpppb"], "psnr": p["psnr"],
                    "dB_over_defaults": None if base is None else p["psnr"] - base,
                    "encodes_per_chunk": p["encodes_per_chunk"], "tools": p["tools"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer rates and peer points")
    ap.add_argument("--only", metavar="TEXT",
                    help="rerun only the cubes whose name contains TEXT, keeping the other "
                         "cases of the existing JSON as they are (each case has its date)")
    args = ap.parse_args()
    kept = json.loads(OUT.read_text())["cases"] if args.only and OUT.exists() else []
    envelope = {c["name"]: c["envelope"] for c in json.loads(ENVELOPE.read_text())["cases"]}
    report = {"topic": "defaults",
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "versions": versions(), "date": time.strftime("%Y-%m-%d"),
              "targets_bpppb": list(TARGETS), "quick": args.quick,
              "real_xarrayvideo": "recorded in xarrayvideo_envelope.json (run by hand: IPL-UV "
                                  "xarrayvideo d8be96d with Debian ffmpeg 5.1.9)",
              "cases": []}
    rates = RATES[::2] + RATES[-1:] if args.quick else RATES
    for cname, cube in load_cubes().items():
        if args.only and args.only not in cname:
            report["cases"].append(next(c for c in kept if c["name"] == cname))
            continue
        print("==", cname, flush=True)
        plain_s = plain_seconds(cube["x"], cube["nodata"])
        curves = {"xgeo defaults": xgeo_curve(cube, cname, rates)}
        curves["xgeo before auto tools"] = xgeo_curve(cube, cname, rates, defaults=False)
        curves["xgeo defaults, effort=max"] = xgeo_curve(
            cube, cname, MAX_RATES[1::2] if args.quick else MAX_RATES, effort="max")
        for name in PEERS:
            curves[name] = peer_curve(cube, cname, name, args.quick)
        rows = table({k: v for k, v in curves.items() if "effort=max" not in k},
                     envelope.get(cname, {}), plain_s)
        case = {"case": cname, "name": cname, "date": report["date"], "threads": 1,
                "plain_encode_s": plain_s,
                "results": curves, "at_bpppb": rows, "effort_max": effort_gain(curves)}
        report["cases"].append(case)
        for tgt, row in rows.items():
            print(f"  @{tgt}: " + ", ".join(
                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                for k, v in row.items() if k.startswith(("dB", "defaults_"))), flush=True)
        OUT.write_text(json.dumps(report, indent=1, default=float))
    OUT.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
