"""What costs HEVC decode time, at equal rate: coding settings, decoder threads, our own code.

Writes ``benchmarks/results/decode_speed.json``. For one real chunk of each cube (below), the
codec's defaults (``xgeo_codecs.encode(chunk, {"bpppb": r, "nodata": ...})``, KLT and frame
order measured per chunk, effort ``"default"`` = x265 preset medium, 12 bit) are compared at
0.25, 0.5, 1 and 2 bpppb with variants of the coding that might decode faster:

* ``bit_depth=10`` instead of 12;
* x265's in-loop filters off: ``no-sao``, ``no-deblock``, both (``options={"x265-params":
  ...}``, merged key by key with the codec's own x265 parameters);
* B-frames: ``bframes=0`` and ``2`` (preset medium: 4), and ``bframes=0`` with both filters
  off (every cheap decode-side saving at once). ``no-weightp`` was measured in a first run
  (mean -0.06 dB, x1.01) and dropped to keep the run under ten minutes;
* ``pack_planes=False``: every plane (KLT component) its own grey stream instead of three
  per 4:4:4 stream (chunks of three or more planes).

Each variant codes with the tools the defaults chose for that chunk and rate (``decorrelate``,
``reorder_frames`` fixed, so only the setting differs) and with the same ``bpppb=`` target.
The rate search lands within 10 % of the target, too loose for tenths of a dB, so PSNR is
compared *at exactly the target rate*: each variant's (bpppb, PSNR) points at the three targets
are interpolated (beyond the outer points: extrapolated along the nearest segment) linearly in
log rate. PSNR: ``xgeo.metrics.error_stats`` (peak = the chunk's valid max - min, nodata / NaN
excluded), the metric of ``rd.py``.

Decode speed, software, one thread (libav's ``hevc`` with ``thread_count=1`` as
``xgeo_codecs.decode`` runs it; BLAS pinned to one thread): every repetition decodes every
variant's chunk once, in a shuffled order (the machine is shared and noisy), timing
``xgeo_codecs.decode(blob)`` end to end and, separately, the streams alone
(``_stream.decode_stream`` of each plane stream, which includes copying frames out of libav).
MB/s = decoded output bytes / CPU seconds of the process (= per core), the minimum over the
repetitions; ``speed_ratio`` = the median over repetitions of (defaults' time / variant's time)
in the same repetition. ``post_share`` = 1 - stream time / end-to-end time: our mapping of codes
to values, KLT unrotation, masks. One chunk per cube is profiled with cProfile.

Decoder threads (``num_workers=0`` with spare cores): the defaults' streams decoded by libav's
``hevc`` with ``thread_count`` 2 and ``thread_type`` ``FRAME`` / ``SLICE`` / ``AUTO`` (PyAV
``CodecContext``), wall-clock and CPU seconds against ``thread_count=1``, output checked equal.

Run: ``PYTHONPATH=.:codecs/src .venv/bin/python benchmarks/compare/decode_speed.py``
(``--quick``: the nrt chunk at 1 bpppb, fewer variants and repetitions).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one core: einsum's BLAS must not spread the unrotation

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from multiprocessing import get_context  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from rd import DATA, versions  # noqa: E402  (this folder is sys.path[0] when run as a script)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "decode_speed.json"
RATES = (0.25, 0.5, 1.0, 2.0)
BASE = "defaults"
# label -> VideoParams overrides (x265-params merge key by key with the codec's own)
VARIANTS: dict[str, dict] = {
    BASE: {},
    "bit_depth=10": {"bit_depth": 10},
    "no-sao": {"options": {"x265-params": "no-sao=1"}},
    "no-deblock": {"options": {"x265-params": "no-deblock=1"}},
    "no-sao, no-deblock": {"options": {"x265-params": "no-sao=1:no-deblock=1"}},
    "bframes=0": {"options": {"x265-params": "bframes=0"}},
    "bframes=2": {"options": {"x265-params": "bframes=2"}},
    "bframes=0, no-sao, no-deblock": {"options": {"x265-params":
                                                  "bframes=0:no-sao=1:no-deblock=1"}},
    "pack_planes=False": {"pack_planes": False},
}
QUICK_VARIANTS = (BASE, "no-sao, no-deblock", "bframes=0", "pack_planes=False")
THREADS = (("1 thread", None, 1), ("FRAME x2", "FRAME", 2), ("SLICE x2", "SLICE", 2),
           ("AUTO x2", "AUTO", 2))


# ------------------------------------------------------------------------------ chunks
def load_chunks(quick: bool) -> dict[str, dict]:
    """{case: {"x": chunk (T, B, H, W), "nodata": value or None}}: one real chunk per cube."""
    import netCDF4

    out = {}
    with netCDF4.Dataset(DATA / "nrt" / "sentinel2_cube_subset_romania_10m.nc") as ds:
        ds.set_auto_maskandscale(False)
        nrt = np.stack([np.asarray(ds[v][:]) for v in ("B2", "B3", "B4", "B8")], 1)
    nrt = nrt.astype(np.uint16)
    out["nrt S2 L2A: 32 dates x 4 bands x 100x100 uint16"] = {
        "x": np.ascontiguousarray(nrt[:32]), "nodata": 0}
    if quick:
        return out
    with netCDF4.Dataset(DATA / "eo-learn" / "s2_eopatch.nc") as ds:
        ds.set_auto_maskandscale(False)
        r = np.asarray(ds["reflectance"][:]).astype(np.float64)
    out["eo-learn L1C: 5 dates x 13 bands x 101x100 uint16 (reflectance x 10000)"] = {
        "x": np.rint(r * 10000).astype(np.uint16), "nodata": None}
    with netCDF4.Dataset(DATA / "eo-learn" / "s2_eopatch_ndvi_clouds_68t.nc") as ds:
        ds.set_auto_maskandscale(True)
        v = np.ma.filled(ds["ndvi"][:].astype(np.float32), np.nan)
    out["eo-learn NDVI: 68 dates x 101x100 float32 (NaN)"] = {
        "x": np.ascontiguousarray(v[:, None]), "nodata": None}
    out["nrt tiled to 256x256: 8 dates x 4 bands uint16"] = {
        "x": tiled(nrt[40:48], 256), "nodata": 0}
    return out


def tiled(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """A (T, B, n, n) series of whole real tiles, like ``loader.mosaic`` (random flips and a
    gain per tile) but one tiling for every date, so it stays a time series."""
    rng = np.random.default_rng(seed)
    t, b, th, tw = x.shape
    out = np.empty((t, b, n, n), np.uint16)
    for r in range(0, n, th):
        for c in range(0, n, tw):
            tile = x.astype(np.float64)
            if rng.integers(0, 2):
                tile = tile[..., ::-1]
            if rng.integers(0, 2):
                tile = tile[..., ::-1, :]
            h, w = min(th, n - r), min(tw, n - c)
            gain = np.where(tile[..., :h, :w] == 0, 0.0, rng.uniform(0.85, 1.15))
            out[..., r:r + h, c:c + w] = np.clip(np.rint(tile[..., :h, :w] * gain), 0, 65535)
    return out


# --------------------------------------------------------------------------- encoding
def _encode_all(jobs: list[tuple[np.ndarray, dict]]) -> list[bytes]:
    from xgeo_codecs import encode

    return [encode(a, p) for a, p in jobs]


def encode_jobs(jobs: list[tuple[np.ndarray, dict]], fresh: bool) -> list[bytes]:
    """Encode ``jobs``; ``fresh``: in a new process (libx265 4.2 crashed in its 10-bit encoder
    after many 12-bit encodes in one process: see ``xgeo_codecs.autotools``)."""
    if not fresh:
        return _encode_all(jobs)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as ex:
        return ex.submit(_encode_all, jobs).result()


def psnr_of(x: np.ndarray, blob: bytes, nodata) -> float:
    from xgeo_codecs import decode

    from xgeo.metrics import error_stats

    mask = None if nodata is None else x == nodata
    return float(error_stats(x, decode(blob), mask=mask)["psnr"])


def at_rate(points: list[tuple[float, float]], target: float) -> float:
    """PSNR at ``target`` bpppb, linear in log rate on ``points`` (the nearest segment's
    line beyond them)."""
    pts = sorted(points)
    if len(pts) == 1:
        return pts[0][1]
    seg = next(((a, b) for a, b in zip(pts, pts[1:], strict=False) if target <= b[0]),
               (pts[-2], pts[-1]))
    (r0, p0), (r1, p1) = seg
    f = (math.log(target) - math.log(r0)) / (math.log(r1) - math.log(r0))
    return p0 + f * (p1 - p0)


# --------------------------------------------------------------------------- decoding
def stream_jobs(blob: bytes) -> list[tuple]:
    """Each plane stream of a chunk as ``_stream.decode_stream``'s arguments (the decoder's
    walk over the sections, without mapping the codes)."""
    from xgeo_codecs import header

    meta, off = header.parse(blob)
    t, _, h, w = header.cube_shape(meta["shape"], meta["frame_axis"])
    off += sum(int(m[0]) for m in meta["masks"])
    first = {g[0] for g in meta.get("groups", [])}
    jobs = []
    for j, (length, m) in enumerate(meta["planes"]):
        if length:
            jobs.append((blob[off: off + length], meta["family"], m.get("bd", meta["bit_depth"]),
                         t, h, w, None, tuple(meta["coded"]), 3 if j in first else 1))
        off += length
    return jobs


def time_decodes(blobs: dict[str, bytes], reps: int) -> dict[str, dict]:
    """Interleaved, shuffled repetitions: CPU and wall seconds of ``decode`` and of the
    streams alone, per variant and repetition."""
    from xgeo_codecs import _stream, decode

    jobs = {k: stream_jobs(b) for k, b in blobs.items()}
    rec = {k: {"cpu": [], "wall": [], "stream_cpu": []} for k in blobs}
    rng = random.Random(0)
    for b in blobs.values():  # warm-up
        decode(b)
    for _ in range(reps):
        order = list(blobs)
        rng.shuffle(order)
        for k in order:
            c0, w0 = time.process_time(), time.perf_counter()
            decode(blobs[k])
            c1, w1 = time.process_time(), time.perf_counter()
            for args in jobs[k]:
                _stream.decode_stream(*args)
            c2 = time.process_time()
            rec[k]["cpu"].append(c1 - c0)
            rec[k]["wall"].append(w1 - w0)
            rec[k]["stream_cpu"].append(c2 - c1)
    return rec


def _threaded_stream(buf: bytes, thread_type: str | None, count: int) -> list[int]:
    """Decode one packed stream with libav's ``hevc`` as configured; a hash per frame."""
    import av
    from xgeo_codecs import _stream

    packets, extradata = _stream.unpack_packets(buf)
    ctx = av.CodecContext.create("hevc", "r")
    if extradata:
        ctx.extradata = extradata
    if thread_type:
        ctx.thread_type = thread_type
    ctx.thread_count = count
    out = []
    for data in [*packets, None]:
        for fr in ctx.decode(None if data is None else av.Packet(data)):
            out.append(hash(b"".join(bytes(p) for p in fr.planes)))
    return out


def time_threads(blob: bytes, reps: int) -> dict[str, dict]:
    """Wall and CPU seconds of decoding a chunk's streams with each decoder threading."""
    streams = [j[0] for j in stream_jobs(blob)]
    ref = [_threaded_stream(s, None, 1) for s in streams]
    rec: dict[str, dict] = {}
    for label, tt, n in THREADS:
        same = [_threaded_stream(s, tt, n) for s in streams] == ref
        rec[label] = {"thread_type": tt, "thread_count": n, "identical_output": same,
                      "wall": [], "cpu": []}
    rng = random.Random(1)
    for _ in range(reps):
        order = list(THREADS)
        rng.shuffle(order)
        for label, tt, n in order:
            c0, w0 = time.process_time(), time.perf_counter()
            for s in streams:
                _threaded_stream(s, tt, n)
            rec[label]["cpu"].append(time.process_time() - c0)
            rec[label]["wall"].append(time.perf_counter() - w0)
    bw, bc = rec["1 thread"]["wall"], rec["1 thread"]["cpu"]
    for r in rec.values():
        r["wall_speedup"] = round(statistics.median(
            b / v for b, v in zip(bw, r["wall"], strict=True)), 3)
        r["cpu_per_output_ratio"] = round(statistics.median(
            v / b for b, v in zip(bc, r["cpu"], strict=True)), 3)
        r["min_wall_s"], r["min_cpu_s"] = round(min(r.pop("wall")), 5), round(min(r.pop("cpu")), 5)
    return rec


def profile(blob: bytes, top: int = 8) -> list[dict]:
    """cProfile of a few decodes: the functions with the most own time, as shares."""
    from xgeo_codecs import decode

    pr = cProfile.Profile()
    pr.enable()
    for _ in range(3):
        decode(blob)
    pr.disable()
    st = pstats.Stats(pr, stream=io.StringIO())
    total = sum(v[2] for v in st.stats.values())
    rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:top]
    return [{"function": f"{Path(f).name}:{ln}({fn})", "own_share": round(v[2] / total, 3)}
            for (f, ln, fn), v in rows]


# ------------------------------------------------------------------------------- main
def summarize(report: dict, names: tuple[str, ...], rates: tuple[float, ...]) -> dict:
    """Per variant: dB and speed ratio averaged over the cases (and the worst case), over
    all rates and at each rate."""
    def over(rows: list[dict], keys: list[str]) -> dict:
        per_case = [statistics.mean(v[f"dB_vs_defaults@{r}"] for r in keys) for v in rows]
        return {"mean_dB_vs_defaults": round(statistics.mean(per_case), 3),
                "worst_case_dB": round(min(per_case), 3),
                "mean_speed_ratio": round(statistics.mean(
                    v[f"speed_ratio@{r}"] for v in rows for r in keys), 3)}

    out = {}
    for k in names:
        rows = [c["results"][k] for c in report["cases"] if k in c["results"]]
        if rows:
            out[k] = {"cases": len(rows), **over(rows, [str(r) for r in rates]),
                      "by_rate": {str(r): over(rows, [str(r)]) for r in rates}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=None)
    args = ap.parse_args()
    from xgeo_codecs import chunk_info, encode

    reps = args.reps or 5
    rates = (1.0,) if args.quick else RATES
    names = QUICK_VARIANTS if args.quick else tuple(VARIANTS)
    t_start = time.perf_counter()
    report = {"topic": "decode_speed",
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform(), "processor": platform.processor(),
                          "load_average_at_start": os.getloadavg()},
              "versions": versions(), "quick": args.quick, "repetitions": reps,
              "rates_bpppb": list(rates), "variants": {k: VARIANTS[k] for k in names},
              "run": "PYTHONPATH=.:codecs/src .venv/bin/python benchmarks/compare/decode_speed.py"
                     + (" --quick" if args.quick else ""),
              "cases": []}
    for cname, case in load_chunks(args.quick).items():
        x, nd = case["x"], case["nodata"]
        t_case = time.perf_counter()
        print(cname, x.shape, flush=True)
        blobs: dict[float, dict[str, bytes]] = {}
        tools = {}
        for r in rates:
            base = encode(x, {"bpppb": r, "nodata": nd})
            meta = chunk_info(base)
            tools[r] = {"decorrelate": "klt" if "klt" in meta else None,
                        "reorder_frames": "frame_order" in meta}
            blobs[r] = {BASE: base}
        for name in names[1:]:
            if name == "pack_planes=False" and x.shape[1] < 3:
                continue
            jobs = [(x, {"bpppb": r, "nodata": nd, **tools[r], **VARIANTS[name]}) for r in rates]
            for r, b in zip(rates, encode_jobs(jobs, "bit_depth" in VARIANTS[name]),
                            strict=True):
                blobs[r][name] = b
        # rate and PSNR at exactly each target rate
        points = {k: [(len(blobs[r][k]) * 8 / x.size, psnr_of(x, blobs[r][k], nd))
                      for r in rates] for k in blobs[rates[0]]}
        res: dict[str, dict] = {k: {} for k in points}
        for k, pts in points.items():
            for r, (bpppb, ps) in zip(rates, pts, strict=True):
                res[k][f"bpppb@{r}"] = round(bpppb, 4)
                res[k][f"psnr_reached@{r}"] = round(ps, 3)
                res[k][f"psnr_dB@{r}"] = round(at_rate(pts, r), 3)
                res[k][f"dB_vs_defaults@{r}"] = round(
                    at_rate(pts, r) - at_rate(points[BASE], r), 3)
        # decode speed, interleaved per rate
        for r in rates:
            rec = time_decodes(blobs[r], reps)
            b = rec[BASE]
            for k, v in rec.items():
                res[k][f"decode_MBps_per_core@{r}"] = round(x.nbytes / 1e6 / min(v["cpu"]), 2)
                res[k][f"decode_MBps_wall@{r}"] = round(x.nbytes / 1e6 / min(v["wall"]), 2)
                res[k][f"speed_ratio@{r}"] = round(statistics.median(
                    bc / vc for bc, vc in zip(b["cpu"], v["cpu"], strict=True)), 3)
                res[k][f"streams_MBps_per_core@{r}"] = round(
                    x.nbytes / 1e6 / min(v["stream_cpu"]), 2)
                res[k][f"post_share@{r}"] = round(
                    1 - statistics.median(s / c for s, c in zip(v["stream_cpu"], v["cpu"],
                                                                strict=True)), 3)
        for k, v in res.items():
            v["mean_dB_vs_defaults"] = round(statistics.mean(
                v[f"dB_vs_defaults@{r}"] for r in rates), 3)
            v["mean_speed_ratio"] = round(statistics.mean(v[f"speed_ratio@{r}"] for r in rates), 3)
            print(f"  {k:32s} {v['mean_dB_vs_defaults']:+.3f} dB  x{v['mean_speed_ratio']:.3f}"
                  f"  ({v[f'decode_MBps_per_core@{rates[-1]}']} MB/s at {rates[-1]})", flush=True)
        mid = 1.0 if 1.0 in rates else rates[0]
        report["cases"].append({
            "case": cname, "shape": list(x.shape), "dtype": str(x.dtype),
            "decoded_MB": round(x.nbytes / 1e6, 3),
            "tools_of_defaults": {str(r): tools[r] for r in rates},
            "results": res,
            "threads@1.0": time_threads(blobs[mid][BASE], reps),
            "profile@1.0": profile(blobs[mid][BASE]),
            "seconds": round(time.perf_counter() - t_case, 1),
        })
        print("  threads:", {k: v["wall_speedup"] for k, v in
                             report["cases"][-1]["threads@1.0"].items()}, flush=True)
        OUT.write_text(json.dumps(report, indent=1))
    report["summary"] = summarize(report, names, rates)
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    report["machine"]["load_average_at_end"] = os.getloadavg()  # shared: threads need idle cores
    report["notes"] = ("dB_vs_defaults: PSNR difference at exactly the target bpppb (log-rate "
                       "interpolation of each variant's own points); speed_ratio: median over "
                       "interleaved repetitions of defaults' CPU time / variant's CPU time of "
                       "xgeo_codecs.decode, one thread; post_share: share of decode CPU time "
                       "outside the libav streams (mapping, KLT unrotation, masks)")
    OUT.write_text(json.dumps(report, indent=1))
    print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
