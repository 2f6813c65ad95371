"""Render benchmarks/results/*.json into the README's benchmark section.

The tables between ``<!-- benchmarks:start -->`` and ``<!-- benchmarks:end -->`` in
README.md are generated here from the JSON the comparisons wrote; never edit them by
hand. Usage: ``python benchmarks/report.py`` (``--check`` exits 1 if README is stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
RELIABILITY = ("<!-- reliability:start -->", "<!-- reliability:end -->")
RELIABILITY_TOPICS = ("robustness", "fuzz")  # rendered in the reliability section


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "—" if value is None else str(value)


def _cell(key: str, value) -> str:
    # "..._s" is a duration; "..._per_s" (mb_per_s, chips_per_s) is a rate
    if isinstance(value, int | float) and key.endswith("_s") and not key.endswith("_per_s"):
        return _fmt_seconds(float(value))
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return _fmt(value)


def _ratio_for(name: str, ratios: dict) -> str:
    """The case's ratio that involves contender ``name`` (peer/xgeo or xgeo/peer)."""
    for key, value in ratios.items():
        parts = key.split("/")
        if name in parts and isinstance(value, int | float):
            return f"{key} = {value:.2f}"
    return ""


def render_case(case: dict, max_columns: int = 8) -> str:
    """A table per case: a row per contender, its measurements as columns, and its ratio."""
    results = case.get("results", {})
    keys: list[str] = []
    for result in results.values():
        for key in result:
            if not key.startswith("_") and key not in keys and key != "error":
                keys.append(key)
    priority = (
        "psnr",
        "bpppb",
        "max_error",
        "median_s",
        "chips_per_s",
        "mb_per_s",
        "min_s",
        "bytes",
    )

    def rank(key: str) -> tuple[int, int]:
        hits = [i for i, p in enumerate(priority) if p in key]
        return (hits[0] if hits else len(priority), keys.index(key))

    keys = sorted(keys, key=rank)[:max_columns]
    ratios = case.get("ratios", {})
    header = ["contender", *keys, "vs xgeo"]
    extras = {
        k: v
        for k, v in case.items()
        if k not in ("case", "threads", "results", "ratios", "notes")
        and isinstance(v, str | int | float)
    }
    context = ", ".join(
        [f"threads: {_fmt(case.get('threads'))}", *(f"{k}: {_fmt(v)}" for k, v in extras.items())]
    )
    lines = [f"**{case.get('case', '')}** ({context})", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for name, result in results.items():
        if "error" in result:
            row = [name, f"not run: {str(result['error'])[:80]}", *([""] * (len(keys) - 1)), ""]
        else:
            row = [
                name,
                *(_cell(k, result.get(k)) if k in result else "" for k in keys),
                _ratio_for(name, ratios),
            ]
        lines.append("| " + " | ".join(row) + " |")
    orphans = [
        f"{k} = {v:.2f}"
        for k, v in ratios.items()
        if isinstance(v, int | float) and not any(n in k.split("/") for n in results)
    ]
    if orphans:
        lines += ["", "Ratios: " + "; ".join(orphans)]
    if case.get("notes"):
        lines += ["", f"_{case['notes']}_"]
    return "\n".join(lines)


def render_rd_case(case: dict) -> str:
    """RD topic: PSNR at each target rate per contender (n/a outside a curve's range), then modes."""
    table = case["psnr_at_bpppb"]
    columns: list[str] = []
    for row in table.values():
        for key in row:
            if key not in columns:
                columns.append(key)
    lines = [f"**{case['name']}** — PSNR (dB) at equal bpppb", ""]
    lines.append("| bpppb | " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * (len(columns) + 1))
    for rate, row in table.items():
        cells = [
            (
                "n/a"
                if row.get(c) is None
                else str(row[c])
                if isinstance(row[c], str)
                else f"{row[c]:+.2f}"
                if c.startswith("dB")
                else f"{row[c]:.2f}"
            )
            for c in columns
        ]
        lines.append(f"| {rate} | " + " | ".join(cells) + " |")
    packing = (case.get("packing") or {}).get("psnr_at_bpppb")
    if packing:
        lines += ["", "_packing (xarrayvideo method, 3 bands per 4:4:4 stream vs one grey stream "
                  "per band)_:", *(f"- @{rate}: {_flat(row)}" for rate, row in packing.items())]
    for key in ("blosc_zstd_lossless", "max_error_mode", "psnr_mode"):
        if key in case:
            items = case[key] if isinstance(case[key], list) else [case[key]]
            lines += ["", f"_{key}_:", *(f"- {_flat(item)}" for item in items)]
    return "\n".join(lines)


def render_nvdec(data: dict) -> list[str]:
    """NVDEC topic: decode rates per thread count, then the loader per worker count."""
    lines: list[str] = []
    dec = data.get("decode")
    if dec:
        m = dec.get("machine", {})
        lines += ["", f"**decode** (chips/s, four 256x256x12 chips per 12x512x512 chunk; "
                  f"{m.get('gpu', '?')}, {m.get('cpus', '?')} cpus; NVDEC found: "
                  f"{_flat(dec.get('probe', {}).get('hardware_decoders'))}; exact: "
                  f"{sum(v['equal'] for v in dec['exact'].values())}/{len(dec['exact'])} chunks, "
                  f"{dec.get('exact_interleaved')} interleaved)", ""]
        rates = dec["chips_per_s"]
        cols = ["zstd band-chunks", "grey software", "grey auto", "packed software",
                "packed auto"]
        threads = sorted({int(k.rsplit("=", 1)[1]) for k in rates})
        lines += ["| threads | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
        for n in threads:
            cells = [_fmt(rates.get(f"{c} threads={n}")) for c in cols]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines += ["", *(f"_{note}_" for note in dec.get("notes", []))]
    lod = data.get("loader")
    if lod:
        lines += ["", f"**loader** (ChipDataset, 12x256x256 uint16 chips, batch 16; stores MB: "
                  f"{_flat(lod.get('store_mb'))})", "",
                  "| workers | zstd | video software | video NVDEC | NVDEC first batch |",
                  "|---|---|---|---|---|"]
        runs = lod["runs"]
        for w in sorted({int(k.rsplit("=", 1)[1]) for k in runs}):
            z, sw, hw = (runs.get(f"{lab} workers={w}", {}) for lab in
                         ("zstd", "video software", "video nvdec"))
            cell = [_fmt(z.get("chips_per_s"))] + [
                f"{_fmt(r.get('chips_per_s'))} ({_fmt(r.get('ratio_to_zstd'))}x)" for r in (sw, hw)]
            lines.append(f"| {w} | " + " | ".join(cell) + f" | {_fmt_seconds(hw.get('first_batch_s'))} |")
        lines += ["", *(f"_{note}_" for note in lod.get("notes", []))]
    return lines


def render_topic(data: dict) -> str:
    """A heading per topic (machine and versions), then one table per case."""
    lines = [f"### {data.get('topic', '?')}", ""]
    if data.get("topic") == "nvdec":
        return "\n".join(lines[:1] + render_nvdec(data))
    machine = data.get("machine", {})
    versions = data.get("versions", {})
    lines.append(
        "Machine: "
        + ", ".join(f"{k}={v}" for k, v in machine.items())
        + ("; versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) if versions else "")
    )
    for case in data.get("cases", []):
        lines += ["", render_rd_case(case) if "psnr_at_bpppb" in case else render_case(case)]
    for key, value in data.items():
        if key in ("topic", "machine", "versions", "cases"):
            continue
        lines += ["", f"**{key}**", ""]
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                flat = ", ".join(f"{k}: {_flat(v)}" for k, v in item.items())
                lines.append(f"- {flat}")
            else:
                lines.append(f"- {_fmt(item)}")
    return "\n".join(lines)


def _flat(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return _fmt(value)


def render_reliability() -> str:
    """The reliability table: robustness.json (bad inputs, silent output, kill points) and
    fuzz.json (the CRC-valid codec fuzz of ``bash dev.sh fuzz``), one row per probe."""
    rob_path, fuzz_path = RESULTS / "robustness.json", RESULTS / "fuzz.json"
    if not rob_path.exists() and not fuzz_path.exists():
        return "No reliability results yet: run `python benchmarks/compare/robustness.py`."
    lines = ["_Generated by `python benchmarks/report.py` from `benchmarks/results/robustness.json` "
             "and `fuzz.json`._", "",
             "| probe | cases | crashes | hangs | memory above the limit | untyped error, "
             "silently accepted or wrong | data lost |", "|---|---|---|---|---|---|---|"]
    bad_names: list[str] = []
    if rob_path.exists():
        rob = json.loads(rob_path.read_text())
        rows = {"bad_inputs": "bad API inputs (typed error expected)",
                "silent_output": "inputs that once came back wrong (right or loud expected)",
                "kill_points": "writer killed at every protocol step (os._exit)"}
        for key, label in rows.items():
            part = rob.get(key)
            if not part:
                continue
            c = part["counts"]
            wrong = sum(c.get(k, 0) for k in ("untyped", "accepted", "wrong", "memory"))
            lost = c.get("data lost", 0) if key == "kill_points" else "—"
            lines.append(f"| {label} | {part['cases']} | {c.get('crash', 0)} | {c.get('hang', 0)} "
                         f"| {part.get('rss_above_2GiB', 0)} (2 GiB RSS) | "
                         f"{wrong if key != 'kill_points' else '—'} | {lost} |")
            bad_names += [f"{r.get('case', r.get('i'))}: {r['outcome']}"
                          for r in part["records"]
                          if r["outcome"] not in ("typed", "correct", "loud", "recovered")]
    if fuzz_path.exists():
        fz = json.loads(fuzz_path.read_text())
        how = fz.get("how", {})
        limit = how.get("address_space_limit_bytes") if isinstance(how, dict) else None
        mem = f"{fz['memory_limit_hits']}" + (f" ({limit / 2**30:.0f} GiB address space)"
                                              if limit else "")
        wrong = (fz["non_codec_exceptions"] + fz["silent_wrong_output_on_value_preserving_edits"]
                 + fz.get("other_wrong_output", 0))
        lines.append(f"| codec chunks mutated with the CRC recomputed | {fz['cases']:,} | "
                     f"{fz['crashes']} | {fz['hangs']} | {mem} | {wrong} | — |")
        lines += ["", f"_fuzz outcomes: {fz['codec_errors']:,} refused with CodecError, "
                  f"{fz['decoded_same']:,} decoded to the original values (value-preserving "
                  f"edits), {fz['decoded_other']:,} CRC-valid forgeries decoded to the announced "
                  "shape and dtype._"]
    if bad_names:
        lines += ["", "Cases that failed: " + "; ".join(bad_names)]
    return "\n".join(lines)


def render_all() -> str:
    parts = [
        "_Generated by `python benchmarks/report.py` from `benchmarks/results/*.json`; "
        "times are medians, ratios are peer/xgeo (above 1 means xgeo is faster or smaller)._"
    ]
    for path in sorted(RESULTS.glob("*.json")):
        if path.stem in RELIABILITY_TOPICS:
            continue
        parts.append(render_topic(json.loads(path.read_text())))
        extra = path.with_suffix(".png")
        if extra.exists():
            parts.append(f"![{path.stem}](benchmarks/results/{extra.name})")
    if len(parts) == 1:
        parts.append("No benchmark results yet: run `bash dev.sh bench`.")
    return "\n\n".join(parts)


def main(argv: list[str]) -> int:
    text = README.read_text()
    if START not in text or END not in text:
        print(f"README.md lacks the {START} / {END} markers", file=sys.stderr)
        return 2
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{render_all()}\n{END}{tail}"
    start, end = RELIABILITY
    if start in new and end in new:
        head, rest = new.split(start, 1)
        _, tail = rest.split(end, 1)
        new = f"{head}{start}\n{render_reliability()}\n{end}{tail}"
    if "--check" in argv:
        return 0 if new == text else 1
    README.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
