"""x265 effort on satellite datacubes: preset cost vs gain, and small frames (CTU, padding).

Writes ``benchmarks/results/x265_effort.json``, so the codec's defaults (preset, CTU size,
minimum frame size) can be chosen from measurement. Metrics as in ``rd.py`` (``xgeo.metrics``,
``BENCHMARKS.md``): bpppb counts every stored byte; PSNR with peak = max - min of the valid
values, masked values excluded; PSNR at a rate is interpolated in log(bpppb), never
extrapolated (``None`` = outside the curve).

1. **Presets** (``presets``): x265 presets ultrafast .. slower on the real cubes coded as xgeo
   codes them by default (``xgeo_codecs.encode``: chunks of at most 32 frames spread evenly
   (``frames_per_chunk``) x all bands, ``decorrelate="klt"`` for multi-band cubes, ``None``
   for the one-band NDVI cubes, ``reorder_frames=False``), swept over CRF (plus QP 0, which
   reaches rates CRF 0 does not). Per cube and preset: PSNR at 0.25 / 0.5 / 1 / 2 bpppb, its
   difference to preset ``faster`` (xgeo's default), and encode seconds (``perf_counter``
   around ``encode`` only, summed over the sweep and the chunks; each encode run
   ``--repeats`` times, the fastest kept, presets interleaved per sweep point) as a ratio to
   ``faster``. The repeated encodes are also compared byte for byte (``deterministic``).
2. **Small frames** (``small_frames``): crops of 32 dates of the nrt cube (4 bands, KLT) and
   the NDVI cube (one band) at 32 .. 128 px (the real cubes are 100 px wide: 128 is the
   100 x 100 crop mirror-padded, said per case) coded by ``xgeo_codecs.encode`` (xgeo pads
   every x265 frame to >= 64 px, a multiple of 8; default preset) with x265 CTU 16 / 32 / 64
   and ``min-cu-size=8`` through ``options={"x265-params": ...}`` (merged key by key with the
   codec's own), against xgeo's default (CTU 32 on frames < 128 px, else x265's 64). Per
   setting and CRF: header / mask / stream bytes (``chunk_info``), bpppb, PSNR, whether two
   encodes give the same bytes and two decodes the same array, and the largest error as a
   fraction of the peak (drift shows as errors of a good part of the range); PSNR at equal
   rate and its difference to the default. ``padding``: the same codes as one x265 stream
   (xgeo's own stream coder and options) at the native frame size (no padding) against
   edge-padded to 64 px, bytes of the stream only, PSNR on the 12-bit codes of the native
   region. x265 4.x corrupts memory on frames < 64 px and drifts with one 64-px CTU across
   the frame: every small-frame configuration runs in its own spawned process, so a crash is
   recorded (``crashed``, ``exitcode``) instead of ending the run.

Run (one core; ~10 min on a loaded 2-core machine):
``PYTHONPATH=.:codecs/src .venv/bin/python benchmarks/compare/x265_effort.py``
(``--quick``: nrt cropped to 32 dates and the NDVI cube, 3 sweep points, 3 frame sizes,
fewer settings; ``--nrt-dates N``: the nrt cube's first N dates only).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import re
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from _progress import sweep  # this folder is sys.path[0] when run as a script
from rd import GOP, load_cubes, psnr_at, versions

OUT = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "x265_effort.json"
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower")
REF = "faster"  # xgeo's default HEVC preset when this was written (params.DEFAULT_PRESET)
SWEEP = [("crf", c) for c in (0, 4, 8, 14, 20, 27)] + [("qp", 0)]
RATES = (0.25, 0.5, 1.0, 2.0)
SIZES = (32, 48, 64, 96, 128)
SMALL_FRAMES = 32
SMALL_CRFS = (2, 8, 14, 22)
# label -> extra x265-params (merged with xgeo's own, a key given here replacing xgeo's)
CTU_SETTINGS = {
    "xgeo default": "",
    "ctu=16": "ctu=16",
    "ctu=32": "ctu=32",
    "ctu=64": "ctu=64",
    "ctu=16, min-cu-size=8": "ctu=16:min-cu-size=8",
    "ctu=32, min-cu-size=8": "ctu=32:min-cu-size=8",
    "ctu=64, min-cu-size=8": "ctu=64:min-cu-size=8",
}
PAD_SIZES = (32, 48, 64)
PAD_SETTINGS = [(pad, ctu) for pad in (False, True) for ctu in (16, 32)]
PAD_REF = "padded to 64, ctu=32"  # xgeo's coding of frames < 64 px
JOB_TIMEOUT_S = 300


# ------------------------------------------------------------------------------- presets
def chunks(x: np.ndarray) -> list[slice]:
    from xgeo.chunkshape import frames_per_chunk

    t = x.shape[0]
    g = frames_per_chunk(t, GOP)
    return [slice(t0, t0 + g) for t0 in range(0, t, g)]


def xgeo_params(cube: dict, knob: str, val: float, preset: str | None = None) -> dict:
    """What xgeo writes by default for this cube (KLT for several bands), explicitly."""
    p = {knob: float(val), "nodata": cube["nodata"],
         "decorrelate": "klt" if cube["x"].shape[1] > 1 else None, "reorder_frames": False}
    if preset is not None:
        p["preset"] = preset
    return p


def preset_point(cube: dict, parts: list[slice], knob: str, val: float, preset: str,
                 repeats: int) -> dict:
    """One sweep point: every chunk encoded ``repeats`` times (fastest time kept) and decoded."""
    from xgeo_codecs import decode, encode

    from xgeo.metrics import error_stats

    x, valid = cube["x"], cube["valid"]
    dec = np.empty_like(x)
    nbytes, seconds, same = 0, 0.0, True
    params = xgeo_params(cube, knob, val, preset)
    for s in parts:
        c = np.ascontiguousarray(x[s])
        best, blob = math.inf, None
        for _ in range(repeats):
            t0 = time.perf_counter()
            b = encode(c, params)
            best = min(best, time.perf_counter() - t0)
            same = same and (blob is None or b == blob)
            blob = b
        seconds += best
        nbytes += len(blob)
        dec[s] = decode(blob)
    st = error_stats(x, dec, mask=~valid)
    return {knob: val, "bpppb": nbytes * 8 / x.size, "psnr": st["psnr"],
            "max_error": st["max_error"], "encode_s": seconds, "deterministic": same}


def preset_case(cname: str, cube: dict, points, repeats: int) -> dict:
    parts = chunks(cube["x"])
    curves: dict[str, list] = {p: [] for p in PRESETS}
    for i, (knob, val) in enumerate(sweep(points, cname[:24])):
        k = i % len(PRESETS)  # rotate the order so machine noise spreads over the presets
        for preset in PRESETS[k:] + PRESETS[:k]:
            curves[preset].append(preset_point(cube, parts, knob, val, preset, repeats))
            r = curves[preset][-1]
            print(f"  {preset:10s} {knob}={val:<3} {r['bpppb']:.3f} bpppb {r['psnr']:.2f} dB "
                  f"{r['encode_s']:.2f} s", flush=True)
    results = {}
    for preset, curve in curves.items():
        res = {f"psnr_dB@{r}": psnr_at(curve, r) for r in RATES}
        res["encode_s"] = round(sum(p["encode_s"] for p in curve), 3)
        res["deterministic"] = all(p["deterministic"] for p in curve)
        results[preset] = res
    ref = results[REF]
    for res in results.values():
        for r in RATES:
            v, v0 = res[f"psnr_dB@{r}"], ref[f"psnr_dB@{r}"]
            res[f"dB_vs_{REF}@{r}"] = None if v is None or v0 is None else round(v - v0, 3)
        res[f"encode_time_vs_{REF}"] = round(res["encode_s"] / ref["encode_s"], 3)
    return {"case": cname, "shape": list(cube["x"].shape), "chunks": len(parts),
            "threads": 1, "results": results, "curves": curves}


# -------------------------------------------------------------------------- small frames
def _small_job(conn, job: dict) -> None:
    """Child process: run one risky configuration, sending every point as it is done."""
    try:
        if job["kind"] == "xgeo":
            _small_xgeo(conn, job)
        else:
            _small_raw(conn, job)
    except Exception as err:  # noqa: BLE001 - reported to the parent, not fatal
        conn.send({"error": repr(err)[:300]})
    conn.send("done")
    conn.close()


def _small_xgeo(conn, job: dict) -> None:
    from xgeo_codecs import chunk_info, decode, encode

    x = job["x"]
    for crf in job["crfs"]:
        p = {"crf": float(crf), "nodata": job["nodata"], "decorrelate": job["decorrelate"],
             "reorder_frames": False}
        if job["x265"]:
            p["options"] = {"x265-params": job["x265"]}
        t0 = time.perf_counter()
        a = encode(x, p)
        sec = time.perf_counter() - t0
        b = encode(x, p)
        da, db = decode(a), decode(a)
        info = chunk_info(a)
        conn.send({"crf": crf, "encode_s": sec, "total_bytes": info["total_bytes"],
                   "header_bytes": info["header_bytes"], "mask_bytes": info["mask_bytes"],
                   "stream_bytes": info["stream_bytes"], "coded": info.get("coded"),
                   "x265_params": info["options"].get("x265-params"),
                   "same_bytes": a == b,
                   "same_decode": bool(np.array_equal(da, db, equal_nan=True)),
                   "decoded": da})


def _small_raw(conn, job: dict) -> None:
    """xgeo's stream coder and options on 12-bit codes, at the native size or edge-padded."""
    from xgeo_codecs import _stream, encoder_options
    from xgeo_codecs._encoder import _codec_options
    from xgeo_codecs.params import coerce

    codes = job["codes"]
    t, h, w = codes.shape
    hc, wc = (max(h, 64), max(w, 64)) if job["pad"] else (h, w)
    c = np.pad(codes, ((0, 0), (0, hc - h), (0, wc - w)), mode="edge")
    for crf in job["crfs"]:
        opts = _codec_options(coerce({"crf": float(crf)}), "libx265", t, hc, wc)
        opts = encoder_options.merge(opts, {"x265-params": f"ctu={job['ctu']}"})
        a = _stream.encode_stream(c, "libx265", 12, opts)
        b = _stream.encode_stream(c, "libx265", 12, opts)
        da = _stream.decode_stream(a, "hevc", 12, t, hc, wc)[:, :h, :w]
        db = _stream.decode_stream(a, "hevc", 12, t, hc, wc)[:, :h, :w]
        conn.send({"crf": crf, "stream_bytes": len(a), "coded": [hc, wc],
                   "x265_params": opts["x265-params"], "same_bytes": a == b,
                   "same_decode": bool(np.array_equal(da, db)), "decoded": da})


def _status(status: dict, curve: list[dict]) -> dict:
    """The child's status with the curve; usable = no crash, same bytes and same decode."""
    det = bool(curve) and all(p["same_bytes"] and p["same_decode"] for p in curve)
    return {**status, "curve": curve, "deterministic": det,
            "usable": det and not status["crashed"] and "error" not in status}


def run_isolated(job: dict) -> tuple[list[dict], dict]:
    """``job`` in a fresh spawned process; (points, status) - a crash ends only the child."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_small_job, args=(child, job), daemon=True)
    proc.start()
    child.close()
    points, status = [], {"crashed": False}
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()  # our own child, by its handle
            status["timed_out"] = True
            break
        try:
            if not parent.poll(min(left, 1.0)):
                if not proc.is_alive() and not parent.poll():
                    break
                continue
            msg = parent.recv()
        except (EOFError, OSError):
            break
        if msg == "done":
            break
        if "error" in msg:
            status["error"] = msg["error"]
        else:
            points.append(msg)
    proc.join(10)
    status["exitcode"] = proc.exitcode
    if proc.exitcode not in (0, None) or status.get("timed_out"):
        status["crashed"] = True
    return points, status


def small_cubes(cubes: dict, sizes) -> dict[str, dict]:
    """Crops of the first 32 dates; sizes over the cube's 100 px are mirror-padded crops."""
    out = {}
    picks = (("nrt S2 L2A, 4 bands (KLT)", next(k for k in cubes if k.startswith("nrt"))),
             ("eo-learn NDVI, 1 band", next(k for k in cubes if k.startswith("eo-learn NDVI ("))))
    for label, key in picks:
        full = cubes[key]
        x = full["x"][:SMALL_FRAMES, :, :100, :100]
        for s in sizes:
            if s <= 100:
                c, how = x[..., :s, :s], f"top-left {s}x{s} crop"
            else:
                p = s - 100
                c = np.pad(x, ((0, 0), (0, 0), (0, p), (0, p)), mode="reflect")
                how = f"100x100 crop mirror-padded to {s}x{s} (the cube is 100 px wide)"
            c = np.ascontiguousarray(c)
            valid = np.isfinite(c) if c.dtype.kind == "f" else c != full["nodata"]
            out[f"{label}, {s}x{s}"] = {"x": c, "valid": valid, "nodata": full["nodata"],
                                        "size": s, "source": key, "crop": how}
    return out


def _drift(x: np.ndarray, dec: np.ndarray, valid: np.ndarray) -> float:
    """Largest error as a fraction of the peak (max - min of the valid values)."""
    xv = x[valid].astype(np.float64)
    err = np.abs(dec[valid].astype(np.float64) - xv)
    return float(err.max() / (xv.max() - xv.min()))


def small_case(cname: str, c: dict, settings: dict, crfs) -> dict:
    from xgeo.metrics import error_stats

    x, valid = c["x"], c["valid"]
    results = {}
    for label, extra in sweep(list(settings.items()), cname[:24]):
        job = {"kind": "xgeo", "x": x, "nodata": c["nodata"], "crfs": crfs, "x265": extra,
               "decorrelate": "klt" if x.shape[1] > 1 else None}
        points, status = run_isolated(job)
        curve = []
        for p in points:
            dec = p.pop("decoded")
            st = error_stats(x, dec, mask=~valid)
            p.update({"bpppb": p["total_bytes"] * 8 / x.size, "psnr": st["psnr"],
                      "header_share": round(p["header_bytes"] / p["total_bytes"], 4),
                      "max_error_of_peak": round(_drift(x, dec, valid), 5)})
            curve.append(p)
        results[label] = _summary(label, status, curve)
    ref = results["xgeo default"]
    for res in results.values():
        for r in RATES:
            v, v0 = res[f"psnr_dB@{r}"], ref[f"psnr_dB@{r}"]
            res[f"dB_vs_default@{r}"] = None if v is None or v0 is None else round(v - v0, 3)
        sb = [p["stream_bytes"] for p in res["curve"]]
        res["same_stream_bytes_as"] = [k for k, o in results.items() if o is not res and sb
                                       and sb == [p["stream_bytes"] for p in o["curve"]]]
    return {"case": cname, "size": c["size"], "crop": c["crop"], "source": c["source"],
            "shape": list(x.shape), "threads": 1, "results": results}


def _summary(label: str, status: dict, curve: list[dict]) -> dict:
    """One setting's result: run status, PSNR at the rates; printed as one line."""
    res = _status(status, curve)
    res.update({f"psnr_dB@{r}": psnr_at(curve, r) for r in RATES})
    print(f"  {label:24s} crashed={status['crashed']} det={res['deterministic']} "
          + " ".join(f"{p['crf']}:{p['bpppb']:.3f}/{p['psnr']:.2f}" for p in curve),
          flush=True)
    return res


def to_codes(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """One band (T, H, W) to 12-bit codes by min-max over the valid values, gaps = mean."""
    v = x.astype(np.float64)
    lo, hi = float(v[valid].min()), float(v[valid].max())
    f = np.where(valid, v, v[valid].mean())
    return np.clip(np.rint((f - lo) / max(hi - lo, 1e-12) * 4095), 0, 4095).astype(np.uint16)


def padding_case(cname: str, c: dict, crfs) -> dict:
    band = c["x"].shape[1] - 1  # nrt: B8; NDVI: its only band
    codes = to_codes(c["x"][:, band], c["valid"][:, band])
    results = {}
    for pad, ctu in PAD_SETTINGS:
        label = f"{'padded to 64' if pad else 'native'}, ctu={ctu}"
        points, status = run_isolated({"kind": "raw", "codes": codes, "pad": pad, "ctu": ctu,
                                       "crfs": crfs})
        curve = []
        for p in points:
            dec = p.pop("decoded").astype(np.float64)
            mse = float(np.mean((dec - codes) ** 2))
            p.update({"bits_per_value": p["stream_bytes"] * 8 / codes.size,
                      "psnr": 10 * math.log10(4095**2 / mse) if mse else math.inf,
                      "max_error_of_peak": float(np.abs(dec - codes).max() / 4095)})
            p["bpppb"] = p["bits_per_value"]  # psnr_at reads "bpppb"
            curve.append(p)
        results[label] = _summary(label, status, curve)
    ref = results[PAD_REF]  # what xgeo does today
    for res in results.values():
        for r in RATES:
            a, b = res[f"psnr_dB@{r}"], ref[f"psnr_dB@{r}"]
            res[f"dB_vs_xgeo@{r}"] = None if a is None or b is None else round(a - b, 3)
        # PSNR is nearly the same at the same CRF (see the curves): the byte ratio per CRF
        base = {p["crf"]: p["stream_bytes"] for p in ref["curve"]}
        res["stream_bytes_vs_xgeo_at_crf"] = {
            str(p["crf"]): round(p["stream_bytes"] / base[p["crf"]], 3)
            for p in res["curve"] if p["crf"] in base}
    return {"case": cname, "size": c["size"], "band": band, "shape": list(codes.shape),
            "results": results}


# ---------------------------------------------------------------------------------- main
def x265_build() -> str:
    """libx265's version string, from the SEI it writes when ``info`` is left on."""
    import av

    ctx = av.CodecContext.create("libx265", "w")
    ctx.width = ctx.height = 64
    ctx.pix_fmt, ctx.time_base = "yuv420p", Fraction(1, 25)
    ctx.options = {"x265-params": "log-level=none:pools=1:frame-threads=1"}
    fr = av.VideoFrame(64, 64, "yuv420p")
    fr.pts = 0
    data = b"".join(bytes(p) for p in [*ctx.encode(fr), *ctx.encode(None)])
    m = re.search(rb"x265 \(build \d+\) - [^ :]+", data + bytes(ctx.extradata or b""))
    return m.group().decode() if m else "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--nrt-dates", type=int, default=None,
                    help="use only the nrt cube's first N dates (default: all 140)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="encodes per chunk and point, fastest kept (default 2, --quick 1)")
    ap.add_argument("--skip-presets", action="store_true",
                    help="keep the presets section of the existing JSON (a later run)")
    ap.add_argument("--skip-small", action="store_true",
                    help="keep the small-frame sections of the existing JSON (a later run)")
    args = ap.parse_args()
    from xgeo_codecs.params import DEFAULT_PRESET

    repeats = args.repeats or (1 if args.quick else 2)
    nrt_dates = args.nrt_dates or (32 if args.quick else None)
    cubes = load_cubes()
    names = [n for n in cubes if not (args.quick and ("L1C" in n or "user mask" in n))]
    points = SWEEP[::3] if args.quick else SWEEP
    sizes = (32, 64, 128) if args.quick else SIZES
    settings = ({k: v for k, v in CTU_SETTINGS.items() if "min-cu" not in k} if args.quick
                else CTU_SETTINGS)
    crfs = SMALL_CRFS[::2] if args.quick else SMALL_CRFS
    report = {
        "topic": "x265_effort",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "processor": platform.processor()},
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "args": {**vars(args), "repeats": repeats, "nrt_dates": nrt_dates},
        "versions": {**versions(), "libx265": x265_build()},
        "default_preset_hevc": DEFAULT_PRESET["hevc"],
        "notes": [
            "threads=1 (xgeo's default) for every encode; one process at a time on a shared "
            "2-core machine: times are context, ratios the figure of merit",
            f"presets: sweep {points}; encode_s = sum over the sweep and the chunks of the "
            f"fastest of {repeats} encodes (perf_counter around encode only); presets "
            "interleaved per sweep point in a rotating order",
            "presets: decorrelate='klt' for multi-band cubes, None for one band; "
            "reorder_frames=False; chunks of frames_per_chunk(T, 32) frames x all bands",
            f"small frames: {SMALL_FRAMES} dates, xgeo's default preset "
            f"({DEFAULT_PRESET['hevc']}), CRFs {list(crfs)}; every setting in its own "
            "spawned process; deterministic = two encodes give the same bytes and two decodes "
            "the same array; max_error_of_peak = largest error / (max - min)",
            "x265's own default min-cu-size is 8: the min-cu-size=8 settings are expected to "
            "give the same stream as their CTU alone (same_stream_bytes_as says whether the "
            "stream sizes matched); their header is 14 bytes longer (the options string)",
            "usable = the child did not crash or fail and was deterministic; the PSNR and "
            "dB values of a setting that is not usable are one draw of a random outcome",
            "padding: one band (nrt B8, NDVI) min-max to 12-bit codes (gaps = mean), coded "
            "with xgeo's stream coder and options (_stream.encode_stream, _codec_options) at "
            "the native size vs edge-padded to 64 px; bits per native value of the stream "
            "only (no xgeo header), PSNR on the codes of the native region, peak 4095",
        ],
    }
    if nrt_dates:
        k = next(n for n in cubes if n.startswith("nrt"))
        cubes[k] = {**cubes[k], "x": cubes[k]["x"][:nrt_dates],
                    "valid": cubes[k]["valid"][:nrt_dates]}
        report["notes"].append(f"presets: nrt cube cropped to its first {nrt_dates} dates")

    if (args.skip_presets or args.skip_small) and OUT.exists():
        old = json.loads(OUT.read_text())
        kept = (["presets"] if args.skip_presets else []) + (
            ["small_frames", "padding"] if args.skip_small else [])
        for key in kept:
            if key in old:
                report[key] = old[key]
        run = {k: report[k] for k in ("date", "args", "versions")}
        report.update({k: old[k] for k in ("date", "args", "versions") if k in old})
        report["later_runs"] = [*old.get("later_runs", []),
                                {**run, "kept_from_earlier_run": kept}]

    def save() -> None:
        OUT.write_text(json.dumps(report, indent=1, default=float))

    if not args.skip_presets:
        report["presets"] = {"reference": REF, "presets": list(PRESETS), "rates": list(RATES),
                             "sweep": [list(p) for p in points], "cases": []}
        for cname in names:
            print("==", cname, flush=True)
            t0 = time.perf_counter()
            case = preset_case(cname, cubes[cname], points, repeats)
            case["wall_s"] = round(time.perf_counter() - t0, 1)
            report["presets"]["cases"].append(case)
            for p, r in case["results"].items():
                print(f"  {p:10s} " + " ".join(
                    f"{r[f'dB_vs_{REF}@{t}']:+.2f}" if r[f"dB_vs_{REF}@{t}"] is not None
                    else "  n/a" for t in RATES) + f"  time x{r[f'encode_time_vs_{REF}']:.2f}",
                    flush=True)
            save()
    if not args.skip_small:
        small = small_cubes(cubes, sizes)
        report["small_frames"] = {"settings": settings, "crfs": list(crfs), "cases": []}
        report["padding"] = {"sizes": [s for s in PAD_SIZES if s in sizes], "cases": []}
        for cname, c in small.items():
            print("==", cname, flush=True)
            report["small_frames"]["cases"].append(small_case(cname, c, settings, crfs))
            save()
            if c["size"] in PAD_SIZES:
                report["padding"]["cases"].append(padding_case(cname, c, crfs))
                save()
    save()


if __name__ == "__main__":
    sys.exit(main())
