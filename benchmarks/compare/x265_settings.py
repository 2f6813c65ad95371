"""Which x265 settings suit cloudy satellite time series: measured, not assumed.

Writes ``benchmarks/results/x265_settings.json``. Each setting is appended to the x265
parameters xgeo uses (later values win) and swept over CRF on the real cubes, coded exactly as
in ``rd.py`` (the xgeo contender: chunks of at most 32 frames spread evenly, all bands with
``decorrelate="klt"``, preset medium). Reported: PSNR at 0.25 / 0.5 / 1 bpppb (interpolated in
log rate, metrics of ``BENCHMARKS.md``) and its difference to xgeo's defaults, plus encode +
decode seconds. The defaults (``rdoq-level=2``, ``scenecut=0``) were chosen from this table.

Run: ``.venv/bin/python benchmarks/compare/x265_settings.py`` (``--quick``: the NDVI cube only).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

from _progress import sweep  # this folder is sys.path[0] when run as a script
from rd import TARGETS, load_cubes, psnr_at, versions, xgeo_codec

OUT = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "x265_settings.json"
CRFS = (3, 8, 14, 20, 27, 33)
RATES = tuple(t for t in TARGETS if 0.2 < t < 1.5)
# label -> (extra x265 parameters, preset)
SETTINGS = {
    "xgeo defaults (rdoq-level=2, scenecut=0)": ("", "medium"),
    "x265 defaults (rdoq-level=0, scenecut=40)": ("rdoq-level=0:scenecut=40", "medium"),
    "rdoq-level=0 only": ("rdoq-level=0", "medium"),
    "scenecut=40 only": ("scenecut=40", "medium"),
    "bframes=0": ("bframes=0", "medium"),
    "bframes=8": ("bframes=8", "medium"),
    "b-adapt=2, bframes=6": ("b-adapt=2:bframes=6", "medium"),
    "rc-lookahead=60": ("rc-lookahead=60", "medium"),
    "ref=5, no limit-refs": ("ref=5:limit-refs=0", "medium"),
    "weightb=1": ("weightb=1", "medium"),
    "no-sao": ("no-sao=1", "medium"),
    "rd=6 (2x slower)": ("rd=6", "medium"),
    "preset slow": ("", "slow"),
}


def x265_options(extra: str) -> dict[str, str]:
    """Options adding ``extra`` x265 parameters: xgeo merges them key by key with its own
    (ctu, rdoq-level, scenecut, logging, pools), a key given here replacing xgeo's."""
    return {"x265-params": extra} if extra else {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    from xgeo.metrics import error_stats

    cubes = load_cubes()
    names = [n for n in cubes if "user mask" not in n]
    if args.quick:
        names = [n for n in names if n.startswith("eo-learn NDVI")]
    report = {"topic": "x265_settings",
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "versions": versions(), "cases": []}
    for cname in names:
        cube = cubes[cname]
        x, valid = cube["x"], cube["valid"]
        results, curves = {}, {}
        for label, (extra, preset) in sweep(list(SETTINGS.items()), cname[:24]):
            opts = x265_options(extra)
            curve, seconds = [], 0.0
            for crf in CRFS:
                t0 = time.perf_counter()
                n, dec, _ = xgeo_codec(x, valid, cube["nodata"], crf=float(crf), preset=preset,
                                       options=opts)
                seconds += time.perf_counter() - t0
                curve.append({"crf": crf, "bpppb": n * 8 / x.size,
                              "psnr": error_stats(x, dec, mask=~valid)["psnr"]})
            curves[label] = curve
            results[label] = {f"psnr_dB@{r}": psnr_at(curve, r) for r in RATES}
            results[label]["seconds_encode_decode"] = round(seconds, 2)
            print(f"  {label:45s}", results[label], flush=True)
        ref = results[next(iter(SETTINGS))]
        for res in results.values():
            for r in RATES:
                v, v0 = res[f"psnr_dB@{r}"], ref[f"psnr_dB@{r}"]
                ok = v is not None and v0 is not None and math.isfinite(v)
                res[f"dB_vs_defaults@{r}"] = v - v0 if ok else None
        report["cases"].append({"case": cname, "threads": 1, "results": results,
                                "curves": curves, "notes": "PSNR (dB) interpolated at equal "
                                "bpppb; dB_vs_defaults: difference to xgeo's defaults"})
        OUT.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
