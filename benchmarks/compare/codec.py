"""Video codec vs general-purpose and image codecs on real Sentinel-2 cubes.

Writes ``benchmarks/results/codec.json`` and prints a table. Every contender compresses the
same uint16 chunks (one band, one GOP of frames: the plane-by-plane cost; packing bands into
4:4:4 streams and the KLT are measured in ``rd.py``), single-threaded; image codecs (JPEG 2000, JPEG XL) code each frame of a chunk. Timings are
interleaved across contenders (min and median of the repetitions); sizes include every
header byte. Metrics follow ``BENCHMARKS.md`` (bpppb, PSNR over valid values with the cube's
valid range as peak, max error).

Run: ``.venv/bin/python benchmarks/compare/codec.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
from _progress import sweep  # this folder is sys.path[0] when run as a script

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
NRT = DATA / "nrt" / "sentinel2_cube_subset_romania_10m.nc"
EOPATCH = DATA / "eo-learn" / "s2_eopatch.nc"
OUT = ROOT / "benchmarks" / "results" / "codec.json"
GOP = 32


def load_cubes(quick: bool) -> dict[str, dict[str, np.ndarray]]:
    """{cube: {band: (T, y, x) uint16}} read raw (no CF masking), 0 = nodata."""
    import netCDF4

    cubes: dict[str, dict[str, np.ndarray]] = {}
    with netCDF4.Dataset(NRT) as ds:
        ds.set_auto_maskandscale(False)
        t = 40 if quick else None
        cubes["nrt"] = {v: np.asarray(ds[v][:t]).astype(np.uint16)
                        for v in ("B2", "B3", "B4", "B8", "SCL")}
    with netCDF4.Dataset(EOPATCH) as ds:
        ds.set_auto_maskandscale(False)
        refl = np.asarray(ds["reflectance"][:])  # float32 = DN / 10000 exactly
        names = [str(b) for b in ds["band"][:]]
    dn = np.rint(refl * 10000).astype(np.uint16)  # everyone gets the same integers
    assert np.array_equal((dn / 10000).astype(np.float32), refl)
    cubes["eo-learn"] = {names[i]: np.ascontiguousarray(dn[:, i]) for i in range(dn.shape[1])}
    return cubes


def chunks_of(band: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(band[t:t + GOP]) for t in range(0, band.shape[0], GOP)]


# ----------------------------------------------------------------------------- contenders
Codec = tuple[Callable[[np.ndarray], object], Callable[[object], np.ndarray],
              Callable[[object], int]]


def _frames(enc1: Callable, dec1: Callable) -> Codec:
    """Image codec applied frame by frame within a chunk."""
    def enc(c: np.ndarray) -> object:
        return [enc1(f) for f in c]

    def dec(blobs: object) -> np.ndarray:
        return np.stack([dec1(b) for b in blobs])  # type: ignore[union-attr]

    return enc, dec, lambda blobs: sum(len(b) for b in blobs)  # type: ignore[union-attr]


def _bytes_codec(codec) -> Codec:
    def dec(b):
        return np.frombuffer(codec.decode(b), np.uint16)
    return codec.encode, dec, len


def _ours(**params) -> Codec:
    from xgeo_codecs import decode, encode

    return (lambda c: encode(c, {"nodata": 0, **params}), decode, len)


def _x265_lossless_or_ffv1() -> Codec:
    from xgeo_codecs import CodecError, decode, encode

    def enc(c: np.ndarray) -> bytes:
        try:
            return encode(c, {"nodata": 0, "lossless": True, "codec": "hevc"})
        except CodecError:  # the chunk spans more than 4096 values
            return encode(c, {"nodata": 0, "lossless": True})

    return enc, decode, len


def lossless_contenders() -> tuple[dict[str, Codec], dict[str, str]]:
    found: dict[str, Codec] = {}
    errors: dict[str, str] = {}
    found["xgeo ffv1 (default)"] = _ours(lossless=True)
    found["xgeo ffv1 context=1"] = _ours(lossless=True, options={"context": "1"})
    found["xgeo ffv1 coder=range_tab"] = _ours(lossless=True, options={"coder": "range_tab"})
    found["xgeo ffv1 g=1 (no state carry)"] = _ours(lossless=True, options={"g": "1"})
    found["xgeo x265 lossless where <= 12 bit, else ffv1"] = _x265_lossless_or_ffv1()
    try:
        import numcodecs

        numcodecs.blosc.set_nthreads(1)
        for name, sh in (("shuffle", numcodecs.Blosc.SHUFFLE),
                         ("bitshuffle", numcodecs.Blosc.BITSHUFFLE)):
            found[f"blosc-zstd9 {name}"] = _bytes_codec(
                numcodecs.Blosc(cname="zstd", clevel=9, shuffle=sh))
        found["zstd 9"] = _bytes_codec(numcodecs.Zstd(level=9))
        found["zstd 19"] = _bytes_codec(numcodecs.Zstd(level=19))
    except Exception as err:  # noqa: BLE001 - recorded, never dropped silently
        errors["numcodecs"] = repr(err)
    try:
        import imagecodecs

        found["jpeg2000 lossless"] = _frames(
            lambda f: imagecodecs.jpeg2k_encode(f, reversible=True, numthreads=1),
            imagecodecs.jpeg2k_decode)
        found["jpegxl lossless e7"] = _frames(
            lambda f: imagecodecs.jpegxl_encode(f, lossless=True, effort=7, numthreads=1),
            imagecodecs.jpegxl_decode)
    except Exception as err:  # noqa: BLE001
        errors["imagecodecs"] = repr(err)
    return found, errors


def lossy_sweeps() -> tuple[dict[str, list[tuple[str, Codec]]], dict[str, str]]:
    sweeps: dict[str, list[tuple[str, Codec]]] = {}
    errors: dict[str, str] = {}
    sweeps["xgeo hevc 12-bit (x265 faster)"] = [
        (f"crf={c}", _ours(crf=c)) for c in (0, 3, 6, 9, 12, 16, 20, 26)]
    sweeps["xgeo hevc 12-bit (x265 medium)"] = [
        (f"crf={c}", _ours(crf=c, preset="medium")) for c in (0, 4, 8, 14, 20)]
    sweeps["xgeo av1 10-bit (svt-av1 p6)"] = [
        (f"crf={c}", _ours(codec="av1", crf=c)) for c in (4, 10, 20, 30, 40)]
    sweeps["xgeo vp9 8-bit"] = [(f"crf={c}", _ours(codec="vp9", crf=c)) for c in (2, 10, 20, 30, 40)]
    try:
        import imagecodecs

        sweeps["jpegxl lossy e7"] = [
            (f"distance={d}", _frames(
                lambda f, d=d: imagecodecs.jpegxl_encode(f, distance=d, effort=7, numthreads=1),
                imagecodecs.jpegxl_decode)) for d in (0.2, 0.35, 0.6, 1.0, 1.6, 2.5)]
        sweeps["jpeg2000 lossy"] = [
            (f"level={q}", _frames(
                lambda f, q=q: imagecodecs.jpeg2k_encode(f, level=q, numthreads=1),
                imagecodecs.jpeg2k_decode)) for q in (50, 55, 60, 65, 70, 76)]
    except Exception as err:  # noqa: BLE001
        errors["imagecodecs"] = repr(err)
    return sweeps, errors


# ----------------------------------------------------------------------------- measuring
def run_once(codec: Codec, chunks: list[np.ndarray]) -> tuple[int, float, float, list]:
    enc, dec, size = codec
    t0 = time.perf_counter()
    blobs = [enc(c) for c in chunks]
    t1 = time.perf_counter()
    outs = [dec(b) for b in blobs]
    t2 = time.perf_counter()
    return sum(size(b) for b in blobs), t1 - t0, t2 - t1, outs


def quality(bands: dict[str, np.ndarray], decoded: dict[str, np.ndarray]) -> dict[str, float]:
    """BENCHMARKS.md metrics over the whole cube (0 = nodata), via :mod:`xgeo.metrics`."""
    from xgeo.metrics import error_stats, spectral_angle

    orig = np.stack(list(bands.values()))
    dec = np.stack([decoded[k] for k in bands])
    s = error_stats(orig, dec, nodata=0)
    valid = (orig != 0).all(axis=0)
    angle = spectral_angle(np.where(valid, orig, np.nan), np.where(valid, dec, np.nan))
    return {"psnr_db": s["psnr"], "max_error": s["max_error"], "spectral_angle_deg": angle}


def timed_interleaved(contenders: dict[str, Codec], chunks: list[np.ndarray], reps: int,
                      check_exact: bool,
                      own_chunks: dict[str, list[np.ndarray]] | None = None) -> dict[str, dict]:
    """Interleaved timing; ``own_chunks`` gives a contender the same data chunked otherwise."""
    raw = sum(c.nbytes for c in chunks)
    values = sum(c.size for c in chunks)
    own_chunks = own_chunks or {}
    enc_t: dict[str, list[float]] = {k: [] for k in contenders}
    dec_t: dict[str, list[float]] = {k: [] for k in contenders}
    sizes: dict[str, int] = {}
    first: dict[str, float] = {}
    for rep in range(reps + 1):  # rep 0 = warm-up (imports, libav init), reported apart
        for name, codec in contenders.items():
            mine = own_chunks.get(name, chunks)
            n, te, td, outs = run_once(codec, mine)
            if rep == 0:
                sizes[name] = n
                first[name] = te + td
                if check_exact:
                    for o, c in zip(outs, mine, strict=True):
                        if not np.array_equal(o.reshape(c.shape), c):
                            raise AssertionError(f"{name} is not lossless")
                continue
            enc_t[name].append(te)
            dec_t[name].append(td)
    res = {}
    for name in contenders:
        res[name] = {
            "bytes": sizes[name], "bpppb": sizes[name] * 8 / values, "ratio": raw / sizes[name],
            "encode_min_s": min(enc_t[name]), "encode_median_s": statistics.median(enc_t[name]),
            "decode_min_s": min(dec_t[name]), "decode_median_s": statistics.median(dec_t[name]),
            "encode_MBps": raw / min(enc_t[name]) / 1e6, "decode_MBps": raw / min(dec_t[name]) / 1e6,
            "first_call_s": first[name],
        }
    return res


def lossless_case(cube: str, bands: dict[str, np.ndarray], reps: int) -> dict:
    contenders, errors = lossless_contenders()
    chunks = [c for b in bands.values() for c in chunks_of(b)]
    # the same data with all spectral bands in one chunk (T, band, y, x): FFV1 may code a
    # band as its difference to the previous one (what xgeo.compression does when lossless)
    spectral = [k for k in bands if k != "SCL"]
    stack = np.stack([bands[k] for k in spectral], axis=1)
    stacked = [np.ascontiguousarray(stack[t:t + GOP]) for t in range(0, stack.shape[0], GOP)]
    stacked += [c for k in bands if k not in spectral for c in chunks_of(bands[k])]
    name = f"xgeo ffv1 {len(spectral)} bands per chunk"
    contenders[name] = _ours(lossless=True)
    res = timed_interleaved(contenders, chunks, reps, check_exact=True,
                            own_chunks={name: stacked})
    ours = res["xgeo ffv1 (default)"]["bytes"]
    ratios = {f"{k}/xgeo": v["bytes"] / ours for k, v in res.items()
              if k != "xgeo ffv1 (default)"}
    blosc = min(v["bytes"] for k, v in res.items() if k.startswith("blosc"))
    shape = next(iter(bands.values())).shape
    return {"case": f"lossless {cube} {len(bands)} bands x {shape} uint16, chunks ({GOP}, y, x)",
            "threads": 1, "results": res, "ratios": ratios,
            "blosc_best_over_xgeo": blosc / ours, "unavailable": errors,
            "notes": "ratio > 1: the peer stores that many times more bytes than xgeo"}


def lossy_case(cube: str, bands: dict[str, np.ndarray], reps: int) -> dict:
    sweeps, errors = lossy_sweeps()
    keys = list(bands)
    per_band = {k: chunks_of(bands[k]) for k in keys}
    values = sum(b.size for b in bands.values())
    raw = sum(b.nbytes for b in bands.values())
    curves: dict[str, list[dict]] = {}
    for name, points in sweeps.items():
        curve = []
        for label, codec in points:
            n_total = 0
            decoded = {}
            te_total = td_total = 0.0
            for k in keys:
                n, te, td, outs = run_once(codec, per_band[k])
                n_total += n
                te_total += te
                td_total += td
                decoded[k] = np.concatenate([o.reshape(c.shape) for o, c in
                                             zip(outs, per_band[k], strict=True)])
            q = quality(bands, decoded)
            curve.append({"setting": label, "bpppb": n_total * 8 / values, "ratio": raw / n_total,
                          **q, "encode_MBps_1pass": raw / te_total / 1e6,
                          "decode_MBps_1pass": raw / td_total / 1e6})
        curves[name] = curve
    at1 = {name: psnr_at(curve, 1.0) for name, curve in curves.items()}
    # timed, interleaved: the setting of each contender closest to 1 bpppb
    chosen = {}
    for name, curve in curves.items():
        best = min(range(len(curve)), key=lambda i: abs(np.log(curve[i]["bpppb"])))
        chosen[f"{name} {curve[best]['setting']}"] = sweeps[name][best][1]
    chunks = [c for k in keys for c in per_band[k]]
    timed = timed_interleaved(chosen, chunks, reps, check_exact=False)
    return {"case": f"lossy {cube} {len(bands)} bands, ~1 bpppb", "threads": 1,
            "curves": curves, "psnr_db_at_1bpppb": at1, "results": timed,
            "unavailable": errors,
            "notes": "PSNR at 1 bpppb interpolated linearly in log(bpppb), None when the "
                     "measured range does not bracket 1.0"}


def psnr_at(curve: list[dict], target: float) -> float | None:
    pts = sorted((np.log(p["bpppb"]), p["psnr_db"]) for p in curve)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if x0 <= np.log(target) <= x1 and x1 > x0:
            return float(y0 + (y1 - y0) * (np.log(target) - x0) / (x1 - x0))
    return None


def overhead_case(bands: dict[str, np.ndarray]) -> dict:
    """Container overhead of a (16, 1, 256, 256) lossy chunk near 0.5 bpp."""
    from xgeo_codecs import chunk_info, encode

    tile = np.tile(bands["B2"][:16], (1, 3, 3))[:, :256, :256][:, None]
    rows = {}
    for crf in (8, 4, 2, 0):
        blob = encode(tile, {"crf": crf})
        info = chunk_info(blob)
        rows[f"xgeo hevc crf={crf}"] = {
            "bpp": len(blob) * 8 / tile.size, "bytes": len(blob),
            "header_bytes": info["header_bytes"],
            "overhead_fraction": info["header_bytes"] / len(blob)}
    return {"case": "container overhead (16, 1, 256, 256) lossy HEVC chunk", "results": rows,
            "notes": "header = magic, version, JSON metadata, CRC; bitstreams exclude x265's "
                     "settings SEI (info=0)"}


def versions() -> dict[str, str]:
    out = {}
    for pkg in ("xgeo", "xgeo-codecs", "numcodecs", "imagecodecs", "av", "numpy", "zarr"):
        try:
            out[pkg] = version(pkg)
        except Exception as err:  # noqa: BLE001
            out[pkg] = f"unavailable: {err!r}"
    import av

    out["libavcodec"] = ".".join(map(str, av.library_versions["libavcodec"]))
    return out


def print_table(report: dict) -> None:
    for case in report["cases"]:
        print(f"\n== {case['case']}")
        if "curves" in case:
            print(f"{'contender @ ~1 bpppb':48s} {'bpppb':>7s} {'PSNR dB':>8s} {'max err':>8s} "
                  f"{'SAM deg':>8s} {'enc MB/s':>9s} {'dec MB/s':>9s}")
            for name, r in case["results"].items():
                fam = next(k for k in case["curves"] if name.startswith(k))
                pt = next(p for p in case["curves"][fam] if name.endswith(p["setting"]))
                print(f"{name:48s} {r['bpppb']:7.3f} {pt['psnr_db']:8.2f} {pt['max_error']:8.0f} "
                      f"{pt['spectral_angle_deg']:8.3f} {r['encode_MBps']:9.1f} "
                      f"{r['decode_MBps']:9.1f}")
            print("PSNR at exactly 1 bpppb (interpolated):",
                  {k: (round(v, 2) if v else None) for k, v in case["psnr_db_at_1bpppb"].items()})
        elif case["case"].startswith("lossless"):
            print(f"{'contender':34s} {'bpppb':>7s} {'ratio':>6s} {'peer/xgeo':>9s} "
                  f"{'enc MB/s':>9s} {'dec MB/s':>9s}")
            for name, r in case["results"].items():
                rel = case["ratios"].get(f"{name}/xgeo", 1.0)
                print(f"{name:34s} {r['bpppb']:7.3f} {r['ratio']:6.2f} {rel:9.3f} "
                      f"{r['encode_MBps']:9.1f} {r['decode_MBps']:9.1f}")
        else:
            for name, r in case["results"].items():
                print(f"{name}: {r['bpp']:.3f} bpp, {r['bytes']} bytes, header "
                      f"{r['header_bytes']} B = {100 * r['overhead_fraction']:.2f} %")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer frames and repetitions")
    args = ap.parse_args()
    from xgeo_codecs import probe_report

    reps = 1 if args.quick else 3
    cubes = load_cubes(args.quick)
    report = {"topic": "codec",
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()},
              "versions": versions(), "hardware": probe_report(),
              "hardware_notes": "NVIDIA H100/H200 have NVDEC (hevc_cuvid decode) but no "
                                "NVENC; this run found the encoders listed above",
              "cases": []}
    for cube, bands in sweep(cubes.items(), "lossless cubes"):
        print(f"lossless {cube} ...", file=sys.stderr, flush=True)
        report["cases"].append(lossless_case(cube, bands, reps))
    for cube, bands in sweep(cubes.items(), "lossy cubes"):
        spectral = {k: v for k, v in bands.items() if k != "SCL"}  # SCL is a class map
        print(f"lossy {cube} ...", file=sys.stderr, flush=True)
        report["cases"].append(lossy_case(cube, spectral, reps))
    report["cases"].append(overhead_case(cubes["nrt"]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1, default=float))
    print_table(report)
    print(f"\nwrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
