"""Rate-distortion on the real cubes: xgeo vs the xarrayvideo method vs image codecs.

Writes ``benchmarks/results/rd.json`` and ``benchmarks/results/rd.png`` (one panel per cube).

Metrics (``xgeo.metrics``, defined once, see BENCHMARKS.md): bpppb = every stored byte x 8 /
number of values; PSNR with peak = max - min of the cube's valid values, masked values (nodata
0 in nrt, NaN in the NDVI series) excluded; max abs error; mean spectral angle (degrees).
PSNR at 0.1 / 0.25 / 0.5 / 1 / 2 bpppb is interpolated linearly in log(bpppb) on each curve and
never extrapolated (``None`` = outside the curve's range).

Contenders, same process, one core each:

* xgeo: ``xgeo_codecs`` HEVC 12 bit, chunks of at most 32 frames (spread evenly:
  ``xgeo.chunkshape.frames_per_chunk``) x all bands with
  ``decorrelate="klt"`` (what ``xgeo.compression.video_encoding(..., decorrelate="klt")``
  writes; one-band cubes are coded as they are; bands weighted by 1 / their 1st-99th
  percentile spread before the rotation, ``band_weights="robust"``, the default since config
  version 6), x265 preset medium (as the baseline), CRF
  sweep plus QP 0 and 3 (CRF 0 is not x265's finest quantiser), plus ``bpppb=`` points
  that add the residual layer. ``xgeo (no KLT)``: the same without the KLT, 3 bands per
  chunk in one 4:4:4 stream (``video_encoding``'s default). ``xgeo (KLT in data units)``:
  the KLT contender with ``band_weights=None`` (the coding before issue #20; the whole-cube
  PSNR it leads by is the trade of the band weights); ``xgeo (KLT, range weights)``: with
  ``band_weights="range"`` (1 / each band's min-max range, the default of config version 5).
  ``xgeo (series in one chunk)``:
  the KLT contender with the whole series in one time chunk, the structure the xarrayvideo
  method codes (one video per cube); ``..., reordered``: the same with
  ``reorder_frames=True`` (frames coded in similarity order, format 4).
* xarrayvideo method, written here from its paper/README description (not its code): per-band
  min-max over the cube to 12 bit, three bands per 4:4:4 stream (``gbrp12le``; a missing
  third/second band is a constant plane), the whole series one video, libx265 preset
  medium, tune psnr, CRF sweep; masked values filled with the band mean. 32x32 CTUs on these
  100-pixel frames, as in xgeo, because x265 4.x drifts on frames under two 64-px CTUs.
* JPEG 2000, JPEG XL, AVIF (imagecodecs) per frame per band on 16-bit (JPEG 2000 / JPEG XL) or
  12-bit (AVIF) codes of the same per-band min-max mapping.
* xarray-video (H.264, 8-bit): oceanum's ``xarray-video`` from PyPI, its numcodecs ``H264``
  codec (libx264 at its default preset, yuv420p in mp4) on a Zarr v2 store as its
  ``Dataset.video.to_zarr`` writes it (the whole series one chunk), CRF sweep (its only
  quality knob). It takes 8-bit RGB only: each band min-max to 8 bit over the cube, masked
  values to code 0, 3 bands per RGB array (the last group padded by repeating its last band),
  odd frame heights padded by one repeated row; every byte of the store counted, padding
  and .zarray/.zattrs included. Its codec runs libx264 with its own threading (not one core).
* Blosc-zstd (numcodecs, level 9, bit shuffle) lossless.

The peers' code (everything but xgeo) lives in ``peers.py``.

Packing, measured rather than assumed: the xarrayvideo method as above against the same
method with each band its own grey 12-bit stream (``packing`` in the JSON).

Also: ``max_error`` mode vs SZ-style uniform quantisation + zstd and JPEG 2000 + a quantised
zstd residual at equal bounds, and ``psnr=`` mode statistics (encodes per chunk,
achieved - target).

Run: ``.venv/bin/python benchmarks/compare/rd.py`` (``--quick``: fewer sweep points;
``--only NAME ...``: run only those contenders and merge their curves into the existing
rd.json, recorded under ``later_runs`` with the date and versions).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from _progress import sweep  # this folder is sys.path[0] when run as a script
from peers import blosc, image_codec, j2k_residual, sz_uniform, xarray_video, xarrayvideo_method

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results" / "rd.json"
PNG = ROOT / "benchmarks" / "results" / "rd.png"
TARGETS = (0.1, 0.25, 0.5, 1.0, 2.0)
PSNR_TARGETS = (36.0, 40.0, 44.0, 48.0)  # psnr= mode
GOP = 32
KLT_DATA_UNITS = "xgeo (KLT in data units)"
KLT_RANGE = "xgeo (KLT, range weights)"
ROBUST_NOTE = (f"'xgeo' and '{KLT_RANGE}' were measured in the later run that made "
               "band_weights='robust' the default (config version 6): 'xgeo' weighs the bands "
               "by 1 / their 1st-99th percentile spread before the KLT, the other by 1 / their "
               "range (the default of version 5)")
WEIGHTS_NOTE = (f"'xgeo' and '{KLT_DATA_UNITS}' were measured in the later run that made "
                "band_weights='range' the default (issue #20): 'xgeo' weighs the bands by 1 / "
                "their range before the KLT, the other rotates them in data units; contenders "
                "not named in that run kept their earlier curves, measured with the KLT in "
                "data units")
XV = "xarray-video (H.264, 8-bit)"
AVIF_NOTE = ("avif: libavif/libaom through imagecodecs, 12-bit per-band min-max, each frame's "
             "bands in triples coded as 4:4:4 RGB images (the last triple padded by repeating "
             "a band, its bytes counted), level 40..99; grey frames are not an option: "
             "imagecodecs' avif_encode codes a 2-D frame lossless at every level")
XV_NOTE = (f"{XV}: oceanum's xarray-video (PyPI) takes 8-bit RGB chunks only, so each band is "
           "min-max mapped to 8 bit over the cube (masked values to code 0), 3 bands per RGB "
           "array (last group padded by repeating a band, odd heights by a repeated row; "
           "padding and every Zarr key counted), decoded back to data units before the metrics; "
           "CRF 0 (its finest setting) bounds its rate")


def load_cubes() -> dict[str, dict]:
    """{cube: {"x": (T, B, H, W) array, "valid": bool mask}} read raw with netCDF4."""
    import netCDF4

    cubes = {}
    with netCDF4.Dataset(DATA / "nrt" / "sentinel2_cube_subset_romania_10m.nc") as ds:
        ds.set_auto_maskandscale(False)
        x = np.stack([np.asarray(ds[v][:]) for v in ("B2", "B3", "B4", "B8")], 1)
    cubes["nrt S2 L2A (140 dates, B2 B3 B4 B8, uint16)"] = {"x": x.astype(np.uint16),
                                                             "valid": x != 0, "nodata": 0}
    with netCDF4.Dataset(DATA / "eo-learn" / "s2_eopatch.nc") as ds:
        ds.set_auto_maskandscale(False)
        r = np.asarray(ds["reflectance"][:]).astype(np.float32)
    cubes["eo-learn S2 L1C (5 dates, 13 bands, float32)"] = {
        "x": r, "valid": np.isfinite(r), "nodata": None}
    with netCDF4.Dataset(DATA / "eo-learn" / "s2_eopatch_ndvi_clouds_68t.nc") as ds:
        ds.set_auto_maskandscale(True)
        v = np.ma.filled(ds["ndvi"][:].astype(np.float32), np.nan)[:, None]
        cloud = np.asarray(ds["cloud_mask"][:]) == 1
    cubes["eo-learn NDVI (68 dates, float32, NaN)"] = {
        "x": v, "valid": np.isfinite(v), "nodata": None}
    # the same series with its s2cloudless mask as a user mask (xgeo.compression.apply_mask):
    # cloudy pixels are NaN for every contender and left out of every metric
    vm = np.where(cloud[:, None], np.float32(np.nan), v)
    cubes[f"eo-learn NDVI, cloud_mask as user mask ({cloud.mean():.0%} masked)"] = {
        "x": vm, "valid": np.isfinite(vm), "nodata": None}
    return cubes


# ------------------------------------------------------------------------- contenders
def xgeo_codec(x: np.ndarray, valid: np.ndarray, nodata, klt: bool = True,
               gop: int | None = GOP, **params) -> tuple[int, np.ndarray, dict]:
    """Chunks of ``gop`` frames (None: the whole series) x all bands (KLT) or x 3 bands (one
    4:4:4 stream, what ``video_encoding`` writes by default), encoded and decoded."""
    from xgeo_codecs import chunk_info, decode, encode

    from xgeo.chunkshape import frames_per_chunk

    t, b = x.shape[:2]
    gop = t if gop is None else frames_per_chunk(t, gop)
    out = np.empty_like(x)
    n = 0
    stats = []
    groups = [slice(0, b)] if klt and b > 1 else [slice(j, j + 3) for j in range(0, b, 3)]
    # tools fixed as named (the codec's "auto" default measures them per chunk: defaults.py)
    extra = {"decorrelate": "klt" if klt and b > 1 else None, "reorder_frames": False}
    for g in groups:
        for t0 in range(0, t, gop):
            c = np.ascontiguousarray(x[t0:t0 + gop, g])
            blob = encode(c, {"preset": "medium", "nodata": nodata, **extra, **params})
            n += len(blob)
            out[t0:t0 + gop, g] = decode(blob)
            q = chunk_info(blob).get("quality")
            if q:
                stats.append(q)
    return n, out, {"chunks": stats}


CRFS = (0, 2, 5, 8, 12, 16, 21, 27, 33, 40)
SWEEPS = {
    # CRF 0 is not x265's finest quantiser: QP 3 and 0 go further; above that rate the
    # residual layer (bpppb= target per chunk) takes over
    "xgeo": [("crf", c) for c in CRFS] + [("qp", q) for q in (3, 0)]
    + [("bpppb", r) for r in (2.0, 3.0)],
    "xgeo (no KLT)": [("crf", c) for c in CRFS] + [("qp", q) for q in (3, 0)],
    # the KLT as it was before band_weights="range" (issue #20): bands in data units
    KLT_DATA_UNITS: [("crf", c) for c in CRFS] + [("qp", q) for q in (3, 0)]
    + [("bpppb", r) for r in (2.0, 3.0)],
    # the band weights of config version 5: 1 / each band's range
    KLT_RANGE: [("crf", c) for c in CRFS] + [("qp", q) for q in (3, 0)]
    + [("bpppb", r) for r in (2.0, 3.0)],
    # the xarrayvideo method codes a whole series as one video: xgeo with the same structure
    # (one time chunk per series), chronological and with its frames in similarity order
    "xgeo (series in one chunk)": [("crf", c) for c in CRFS] + [("qp", q) for q in (3, 0)],
    "xgeo (series in one chunk, reordered)": [("crf", c) for c in CRFS]
    + [("qp", q) for q in (3, 0)],
    # the same with more encoder effort (x265 preset slower: rd=6, more partitions and
    # references; 3-6x the encode time of medium, measured on these cubes)
    "xgeo (series in one chunk, reordered, preset slower)": [("crf", c) for c in CRFS]
    + [("qp", q) for q in (3, 0)],
    "xarrayvideo-method": [("crf", c) for c in CRFS],
    "jpeg2000": [("level", q) for q in (40, 45, 50, 55, 60, 65, 70, 76, 82)],
    "jpegxl": [("distance", d) for d in (0.1, 0.2, 0.35, 0.6, 1.0, 1.6, 2.5, 4.0)],
    # 100 is lossless (a jump from ~2 to ~6 bpppb on these cubes): the lossy curve ends at 99
    "avif": [("level", q) for q in (40, 55, 70, 80, 88, 92, 95, 97, 99)],
    # libx264's CRF 0..51 (its only knob besides fps; preset is x264's default, medium)
    XV: [("crf", c) for c in (0, 4, 8, 12, 16, 20, 24, 28, 33, 38,
                                                          44, 51)],
}


def contender(name: str, knob: str, val: float):
    if name.startswith("xgeo"):
        klt = name != "xgeo (no KLT)"
        series = "series" in name
        extra = {"reorder_frames": True} if "reordered" in name else {}
        if "preset slower" in name:
            extra["preset"] = "slower"
        if name == KLT_DATA_UNITS:
            extra["band_weights"] = None
        if name == KLT_RANGE:
            extra["band_weights"] = "range"
        return lambda x, v, nd: xgeo_codec(x, v, nd, klt=klt, gop=None if series else GOP,
                                           **extra, **{knob: val})
    if name == "xarrayvideo-method":
        return lambda x, v, nd: xarrayvideo_method(x, v, nd, val)
    if name.startswith("xarray-video"):
        return lambda x, v, nd: xarray_video(x, v, nd, val)
    return image_codec(name, val)


def measure(fn, cube: dict) -> dict:
    from xgeo.metrics import error_stats, spectral_angle

    x, valid = cube["x"], cube["valid"]
    t0 = time.perf_counter()
    nbytes, dec, extra = fn(x, valid, cube["nodata"])
    dt = time.perf_counter() - t0
    s = error_stats(x, dec, mask=~valid)
    out = {"bpppb": nbytes * 8 / x.size, "psnr": s["psnr"], "max_error": s["max_error"],
           "seconds_encode_decode": round(dt, 3),
           "mb_per_s": round(x.nbytes / 1e6 / dt, 2)}
    if x.shape[1] > 1:
        bad = ~valid.all(axis=1, keepdims=True)
        xo = np.where(bad, 1.0, x.astype(np.float64))
        xd = np.where(bad, 1.0, dec.astype(np.float64))
        out["spectral_angle_deg"] = spectral_angle(xo, xd, band_axis=1)
    out.update(extra)
    return out


def psnr_at(curve: list[dict], target: float) -> float | None:
    pts = sorted((p["bpppb"], p["psnr"]) for p in curve if math.isfinite(p["psnr"]))
    for (r0, p0), (r1, p1) in zip(pts, pts[1:], strict=False):
        if r0 <= target <= r1 and r1 > r0:
            f = (math.log(target) - math.log(r0)) / (math.log(r1) - math.log(r0))
            return p0 + f * (p1 - p0)
    return None


# ------------------------------------------------------------------- max_error mode

def max_error_case(cube: dict, bounds) -> list[dict]:
    x, valid = cube["x"], cube["valid"]
    rows = []
    for e in bounds:
        n, dec, extra = xgeo_codec(x, valid, cube["nodata"], max_error=e)
        err = np.abs(dec.astype(np.float64) - x.astype(np.float64))[valid]
        rows.append({"max_error": e, "xgeo_bpppb": n * 8 / x.size,
                     "xgeo_violations": int((err > e).sum()), "xgeo_achieved": float(err.max()),
                     "sz_uniform_zstd_bpppb": sz_uniform(x, valid, e) * 8 / x.size,
                     "jpeg2000_plus_residual_bpppb": j2k_residual(x, valid, e) * 8 / x.size})
    return rows


def psnr_mode_case(cube: dict, targets) -> list[dict]:
    x, valid = cube["x"], cube["valid"]
    rows = []
    for t in targets:
        n, dec, extra = xgeo_codec(x, valid, cube["nodata"], psnr=t)
        ch = extra["chunks"]
        diffs = [c["psnr"] - t for c in ch if c["psnr"] is not None]
        rows.append({"target": t, "chunks": len(ch),
                     "encodes_per_chunk": float(np.mean([c["encodes"] for c in ch])),
                     "below_target": int(sum(d < 0 for d in diffs)),
                     "above_target_plus_0.5": int(sum(d > 0.5 for d in diffs)),
                     "achieved_minus_target": {"min": min(diffs), "median": float(np.median(diffs)),
                                               "max": max(diffs)},
                     "bpppb": n * 8 / x.size})
    rows.append({"target": "all", "chunks": sum(r["chunks"] for r in rows),
                 "encodes_per_chunk": float(np.average([r["encodes_per_chunk"] for r in rows],
                                                       weights=[r["chunks"] for r in rows]))})
    return rows


def versions() -> dict:
    out = {"python": sys.version.split()[0], "machine": platform.machine()}
    for p in ("numpy", "av", "imagecodecs", "numcodecs", "zarr", "xarray-video", "xgeo-codecs"):
        try:
            out[p] = version(p)
        except Exception as err:  # noqa: BLE001
            out[p] = repr(err)
    return out


def plot(report: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = report["cases"]
    fig, axes = plt.subplots(1, len(cases), figsize=(6 * len(cases), 4.5))
    for ax, case in zip(np.atleast_1d(axes), cases, strict=True):
        for name, curve in case["results"].items():
            pts = sorted((p["bpppb"], p["psnr"]) for p in curve if math.isfinite(p["psnr"]))
            ax.plot([a for a, _ in pts], [b for _, b in pts], "o-", ms=3, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("bpppb")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(case["name"], fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(PNG, dpi=110)


def rate_table(curves: dict[str, list]) -> tuple[dict, dict]:
    """PSNR of every curve at each target rate, the dB differences, and the ratios dict."""
    table = {}
    for tgt in TARGETS:
        row = {n: psnr_at(c, tgt) for n, c in curves.items()}
        xg, xv = row["xgeo"], row["xarrayvideo-method"]
        imgs = [row[k] for k in ("jpeg2000", "jpegxl", "avif") if row.get(k) is not None]
        row["dB_xgeo_minus_xarrayvideo"] = None if None in (xg, xv) else xg - xv
        xs = row.get("xgeo (series in one chunk, reordered)")
        row["dB_xgeo_series_reordered_minus_xarrayvideo"] = (None if None in (xs, xv)
                                                             else xs - xv)
        row["dB_xgeo_minus_best_image"] = None if xg is None or not imgs else xg - max(imgs)
        if XV in curves:
            xo = row[XV]
            row["dB_xgeo_minus_xarray_video"] = None if None in (xg, xo) else xg - xo
        # xgeo's best setting at this rate (each one a user-selectable configuration)
        mine = {n: row[n] for n in curves if n.startswith("xgeo") and row[n] is not None}
        best = max(mine, key=mine.get) if mine else None
        row["dB_best_xgeo_minus_xarrayvideo"] = (None if best is None or xv is None
                                                 else mine[best] - xv)
        row["best_xgeo_setting"] = best
        table[str(tgt)] = row
    ratios = {f"dB {a} - {b} @{tgt}": row[k]
              for tgt, row in table.items()
              for (a, b, k) in (("xgeo", "xarrayvideo-method", "dB_xgeo_minus_xarrayvideo"),
                                ("xgeo series reordered", "xarrayvideo-method",
                                 "dB_xgeo_series_reordered_minus_xarrayvideo"),
                                ("best xgeo setting", "xarrayvideo-method",
                                 "dB_best_xgeo_minus_xarrayvideo"),
                                ("xgeo", "best image codec", "dB_xgeo_minus_best_image"),
                                ("xgeo", XV, "dB_xgeo_minus_xarray_video"))
              if row.get(k) is not None}
    return table, ratios


def run_curves(cname: str, cube: dict, names, quick: bool) -> dict[str, list]:
    """Every sweep point of the contenders ``names`` on one cube."""
    curves: dict[str, list] = {}
    for name in names:
        if name == "xgeo (no KLT)" and cube["x"].shape[1] == 1:
            continue  # one band: identical to "xgeo"
        points = SWEEPS[name]
        pts = points[::2] + points[-1:] if quick else points
        curves[name] = []
        for knob, val in sweep(pts, f"{cname} {name}"):
            try:
                r = measure(contender(name, knob, val), cube)
            except Exception as err:  # noqa: BLE001 - recorded, not fatal
                curves[name].append({knob: val, "error": repr(err)[:200],
                                     "bpppb": math.nan, "psnr": math.nan})
                continue
            r["target_bpppb" if knob == "bpppb" else knob] = val  # keep the measured rate
            r.pop("chunks", None)
            curves[name].append(r)
            print(f"  {name:20s} {knob}={val:<5} {r['bpppb']:.3f} bpppb "
                  f"{r['psnr']:.2f} dB", flush=True)
    return curves


def merge_only(names: list[str], quick: bool, cube_text: str | None = None) -> None:
    """Run only ``names`` (on the cubes whose name holds ``cube_text``, all by default) and
    merge their curves into the existing rd.json (tables recomputed from the curves; when an
    xgeo contender is named, that cube's max_error= and psnr= modes are rerun too; the run's
    date, versions and cubes recorded under ``later_runs``)."""
    report = json.loads(OUT.read_text())
    cubes = load_cubes()
    for case in report["cases"]:
        if cube_text and cube_text not in case["name"]:
            continue
        print("==", case["name"], flush=True)
        cube = cubes[case["name"]]
        case["results"].update(run_curves(case["name"], cube, names, quick))
        case["psnr_at_bpppb"], case["ratios"] = rate_table(case["results"])
        if any(n.startswith("xgeo") for n in names):
            bounds = [r["max_error"] for r in case["max_error_mode"]]
            case["max_error_mode"] = max_error_case(cube, bounds)
            case["psnr_mode"] = psnr_mode_case(cube, PSNR_TARGETS)
    if "avif" in names:  # the previous avif curve (grey frames) had one lossless point
        report["notes"] = [n for n in report["notes"] if not n.startswith("avif:")]
        report["notes"].insert(0, AVIF_NOTE)
    if XV in names and XV_NOTE not in report["notes"]:
        report["notes"].append(XV_NOTE)
    if KLT_DATA_UNITS in names and WEIGHTS_NOTE not in report["notes"]:
        report["notes"].append(WEIGHTS_NOTE)
    if KLT_RANGE in names and ROBUST_NOTE not in report["notes"]:
        report["notes"].append(ROBUST_NOTE)
    used = {k: v for k, v in versions().items() if "Error(" not in v}  # packages present
    report.setdefault("later_runs", []).append(
        {"contenders": names, "date": time.strftime("%Y-%m-%d"), "versions": used,
         "cubes": cube_text or "all",
         "note": "measured in a later run than the other contenders, merged with --only"})
    OUT.write_text(json.dumps(report, indent=1, default=float))
    plot(report)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="+", choices=list(SWEEPS), metavar="CONTENDER",
                    help="run only these contenders and merge their curves into rd.json")
    ap.add_argument("--cube", metavar="TEXT",
                    help="with --only: only the cubes whose name contains TEXT")
    args = ap.parse_args()
    if args.only:
        return merge_only(args.only, args.quick, args.cube)
    cubes = load_cubes()
    report = {"topic": "rd", "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "versions": versions(), "targets_bpppb": list(TARGETS),
              "notes": [AVIF_NOTE, XV_NOTE],
              "cases": []}
    for cname, cube in cubes.items():
        print("==", cname, flush=True)
        multiband = cube["x"].shape[1] > 1
        curves = run_curves(cname, cube, SWEEPS, args.quick)
        lossless = measure(blosc, cube)
        packing = None
        if multiband:
            grey = [measure(lambda x, v, nd, c=c: xarrayvideo_method(x, v, nd, c, packed=False),
                            cube) | {"crf": c}
                    for c in sweep(CRFS[::2] if args.quick else CRFS, f"{cname} packing")]
            packing = {"grey_curve": grey, "psnr_at_bpppb": {}}
            for tgt in TARGETS:
                pk, gr = psnr_at(curves["xarrayvideo-method"], tgt), psnr_at(grey, tgt)
                packing["psnr_at_bpppb"][str(tgt)] = {
                    "packed_444": pk, "grey": gr,
                    "dB_grey_minus_packed": None if None in (pk, gr) else gr - pk}
        table, ratios = rate_table(curves)
        x = cube["x"]
        span = float(x[cube["valid"]].max()) - float(x[cube["valid"]].min())
        bounds = [span * f for f in (1e-3, 5e-3, 2e-2)]
        case = {"case": cname, "name": cname, "threads": 1, "results": curves,
                "ratios": ratios, "psnr_at_bpppb": table,
                "blosc_zstd_lossless": {"bpppb": lossless["bpppb"]}, "packing": packing,
                "max_error_mode": max_error_case(cube, bounds),
                "psnr_mode": psnr_mode_case(cube, PSNR_TARGETS)}
        report["cases"].append(case)
        for tgt, row in table.items():
            print(f"  @{tgt}: " + ", ".join(
                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v or 'n/a'}"
                for k, v in row.items()))
        for r in case["max_error_mode"]:
            print("  max_error", r)
        for r in case["psnr_mode"]:
            print("  psnr", r)
        OUT.write_text(json.dumps(report, indent=1, default=float))
    OUT.write_text(json.dumps(report, indent=1, default=float))
    plot(report)


if __name__ == "__main__":
    main()
