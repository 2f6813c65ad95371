"""Markdown for the codec-defaults results: ``defaults.json`` and ``x265_effort.json``.

Used by ``benchmarks/report.py`` for the docs' topic pages, the README's headline rows and the
README's codec status table (between ``<!-- defaults:start -->`` and ``<!-- defaults:end -->``).
Every number comes from the JSON; the sentences that say where the defaults lead are computed
from the same numbers.
"""

from __future__ import annotations

from report_table import fmt_db, markdown_table

REAL = "real xarrayvideo (envelope)"
XV = "xarray-video (H.264, 8-bit)"
# the targets for the defaults: dB over each peer
TARGETS_DB = {"dB_defaults_minus_real_xarrayvideo": 2.0, "dB_defaults_minus_best_image": 1.0,
              "dB_defaults_minus_xarray_video": 2.0}


def _short(name: str) -> str:
    return name.split(" (")[0] if "cloud_mask" not in name else "eo-learn NDVI, cloud-masked"


def render_defaults(data: dict) -> list[str]:
    """Per cube: PSNR of the defaults and of each peer at 0.1 ... 2 bpppb, the leads, the
    task-facing errors and what the encode cost."""
    lines = []
    for case in data.get("cases", []):
        rows = []
        for rate, row in case["at_bpppb"].items():
            rows.append([rate, fmt_db(row.get("xgeo defaults")), fmt_db(row.get(REAL)),
                         fmt_db(row.get("dB_defaults_minus_real_xarrayvideo"), sign=True),
                         fmt_db(row.get("dB_defaults_minus_best_image"), sign=True),
                         fmt_db(row.get("dB_defaults_minus_xarray_video"), sign=True),
                         fmt_db(row.get("dB_defaults_minus_before_auto"), sign=True),
                         _num(row.get("defaults_spectral_angle_deg"), 3),
                         _num(row.get("defaults_ndvi_mae"), 4),
                         _num(row.get("defaults_encodes_per_chunk"), 1),
                         _num(row.get("defaults_encode_time_in_plain_encodes"), 1)])
        lines += ["", f"**{case['name']}** — only `bpppb=` given (PSNR dB; differences in dB)", ""]
        lines += markdown_table(
            ["bpppb", "xgeo defaults", "real xarrayvideo", "− real", "− best image codec",
             "− xarray-video", "− before auto tools", "spectral angle °", "NDVI MAE",
             "encodes / chunk", "time / plain encode"], rows)
        gain = [f"{g['bpppb']:.2f} bpppb: {fmt_db(g['dB_over_defaults'], sign=True)} dB "
                f"({_num(g['encodes_per_chunk'], 1)} encodes)"
                for g in case.get("effort_max", [])]
        if gain:
            lines += ["", "_effort=\"max\" over the defaults at equal rate: " + "; ".join(gain)
                      + "._"]
    return lines


def render_effort(data: dict) -> list[str]:
    """x265 presets: dB at equal rate against faster and encode time, per cube; small frames."""
    presets = data["presets"]
    rates = presets["rates"]
    lines = []
    for case in presets["cases"]:
        rows = []
        for name, r in case["results"].items():
            rows.append([name, *(fmt_db(r.get(f"dB_vs_faster@{x}"), sign=True) for x in rates),
                         _num(r.get("encode_time_vs_faster"), 2)])
        lines += ["", f"**{case['case']}** — dB at equal rate against preset faster", ""]
        lines += markdown_table(["preset", *(f"@{x}" for x in rates), "encode time / faster"],
                                rows)
    small = data.get("small_frames", {})
    rows = []
    for case in small.get("cases", []):
        for name, r in case.get("results", {}).items():
            rows.append([case["case"], name, "crashed" if r.get("crashed") else
                         ("yes" if r.get("deterministic") else "NO"),
                         *(fmt_db(r.get(f"dB_vs_default@{x}"), sign=True) for x in (0.5, 1.0))])
    if rows:
        lines += ["", "**Small frames** — x265 CTU sizes (dB at equal rate against xgeo's "
                  "setting; deterministic = two encodes give the same bytes)", ""]
        lines += markdown_table(["frames", "setting", "deterministic", "@0.5", "@1.0"], rows)
    return lines


def defaults_status(data: dict | None) -> str:
    """The README's codec status: the defaults' lead over each peer per cube and rate, and
    where the issue's targets are met and where not, in words computed from the numbers."""
    if not data:
        return "No codec-defaults results yet: run `python benchmarks/compare/defaults.py`."
    rows, met, missed = [], 0, []
    for case in data["cases"]:
        for rate, row in case["at_bpppb"].items():
            cells = []
            for key, need in TARGETS_DB.items():
                v = row.get(key)
                cells.append(fmt_db(v, sign=True))
                if v is None:
                    continue
                if v >= need:
                    met += 1
                else:
                    missed.append(f"{_short(case['name'])} @{rate} ({key.split('minus_')[1]} "
                                  f"{v:+.2f})")
            rows.append([_short(case["name"]), rate, fmt_db(row.get("xgeo defaults")), *cells,
                         _num(row.get("defaults_spectral_angle_deg"), 3),
                         _num(row.get("defaults_ndvi_mae"), 4),
                         _num(row.get("defaults_encodes_per_chunk"), 1)])
    lines = ["_Generated by `python benchmarks/report.py` from `benchmarks/results/"
             "defaults.json` (xgeo's defaults: only `bpppb=` given; the real xarrayvideo's "
             "best-of-settings envelope from `xarrayvideo_envelope.json`)._", "",
             *markdown_table(["cube", "bpppb", "PSNR dB", "− real xarrayvideo",
                              "− best image codec", "− xarray-video", "spectral angle °",
                              "NDVI MAE", "encodes / chunk"], rows), "",
             f"Targets (+2 dB over the real xarrayvideo and over xarray-video, +1 dB over the "
             f"best image codec, where the peer reaches the rate): **{met} of "
             f"{met + len(missed)} cells met**."]
    if missed:
        lines.append("Not met: " + "; ".join(missed) + ".")
    return "\n".join(lines)


def _num(value, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def targets_status(data: dict | None) -> str:
    """The README's table of where ``psnr=`` / ``bpppb=`` targets land, per encoder family,
    over every chunk, cube and target of ``targets.json``."""
    if not data:
        return "No target results yet: run `python benchmarks/compare/targets.py`."
    fams: dict[str, dict] = {}
    for case in data["cases"]:
        fam, mode = case["case"].rsplit(": ", 1)[1].split(", ")
        f = fams.setdefault(fam, {"psnr": [], "rate": []})
        f["psnr" if mode == "psnr=" else "rate"] += list(case["results"].values())
    rows = []
    for fam, f in fams.items():
        p, r = f["psnr"], f["rate"]
        n_p, n_r = sum(x["chunks"] for x in p), sum(x["chunks"] for x in r)
        rows.append([fam,
                     f"{sum(x['in_window'] for x in p)} / {n_p}",
                     f"{sum(x['above_window'] for x in p)}",
                     f"{sum(x['below_target'] for x in p)}",
                     f"{max(x['max_over_target_dB'] for x in p):+.2f}",
                     f"{sum(x['encodes_per_chunk'] * x['chunks'] for x in p) / max(n_p, 1):.1f}",
                     f"{sum(x['within_10pct'] for x in r)} / {n_r}",
                     f"{max((x['worst_rate_error'] for x in r), key=abs):+.1%}",
                     f"{sum(x['encodes_per_chunk'] * x['chunks'] for x in r) / max(n_r, 1):.1f}"])
    return "\n".join([
        "_Generated by `python benchmarks/report.py` from `benchmarks/results/targets.json` "
        "(every default chunk of the four real cubes; `psnr=` 36-56 dB, `bpppb=` 0.1-2)._", "",
        *markdown_table(["family", "psnr= chunks in [t, t+0.5]", "above", "below t",
                         "max over t dB", "encodes / chunk", "bpppb= chunks within 10 %",
                         "worst rate error", "encodes / chunk"], rows), "",
        "Encodes: the search's own (a trial of coding tools is recorded apart, `defaults.json`)."
        " A chunk above the window is one where two neighbouring whole CRFs straddle the target "
        "and the coarser video plus a residual layer was not smaller (or not probed)."])
