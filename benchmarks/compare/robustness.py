"""Reliability probe: bad API inputs, silent-output checks, kill points and the codec fuzz.

Four parts, each counted the way the README's reliability section reports it:

- **bad inputs**: a battery of wrong calls to the public API (codec parameters, corrupt
  chunks, reprojection, indices, chips, the loader, stores). Each must raise a typed error
  (:class:`xgeo.errors.XgeoError` or :class:`xgeo_codecs.CodecError`) with a message; any
  other exception, a silent acceptance, a crash (the child dies by a signal), a hang (no
  answer within the per-case limit) or a peak RSS above 2 GiB is counted against us.
- **silent output**: inputs that once came back wrong without an error (±inf in a lossy chunk,
  float64 near its limits, Fortran-ordered Zarr v2 chunks, int64 near 2**62 through nearest
  reprojection, a deleted chunk of a video store): each must come back right or fail loudly.
- **kill points**: the resumable writer killed (``os._exit``) at every step of its protocol in
  a child process; the store must then be refused on open, finish with ``resume=True`` and
  equal an uninterrupted write.
- **codec fuzz**: CRC-recomputed mutations of real chunks (the suite of
  ``codecs/tests/fuzzing.py``), each decoded in a child with an address-space limit.

Every case runs in a child process that reports one JSON line per case; the parent restarts
the child after a crash or a hang, so one bad case cannot hide the others. Writes
``benchmarks/results/robustness.json``. Usage:
``python benchmarks/compare/robustness.py [--fuzz-cases N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "robustness.json"
SHARED = ROOT.parent / "shared" / "data"
CASE_TIMEOUT_S = 120.0
RSS_LIMIT_MIB = 2048


# ---------------------------------------------------------------------------------------------
# bad inputs: each case is (name, function) and must raise a typed error


def _s2():
    import xgeo

    return xgeo.datasets.sentinel2_cube()


def _video_store(tmp: Path, lossless: bool = True) -> Path:
    """A small real video store (reflectance of the bundled S2 cube)."""
    path = tmp / f"cube-{int(lossless)}.zarr"
    if not path.exists():
        ds = _s2()[["reflectance"]].isel(time=slice(0, 4), band=slice(0, 3))
        opts = {"lossless": True} if lossless else {"crf": 20}
        ds.geo.to_zarr(str(path), codec="ffv1" if lossless else "hevc", codec_options=opts)
    return path


def _deep_formula(terms: int) -> str:
    return "(" * terms + "N" + " + R)" * terms


def _mixed_crs():
    """One variable per band; B08 points at a second grid mapping (UTM 34N instead of 33N)."""
    import xarray as xr
    from pyproj import CRS

    refl = _s2().reflectance.isel(time=0)
    ds = xr.Dataset({str(b): refl.sel(band=b, drop=True) for b in refl.band.values})
    for name in ds.data_vars:
        ds[name].encoding["grid_mapping"] = "spatial_ref"
    other = xr.DataArray(0, attrs={"crs_wkt": CRS.from_epsg(32634).to_wkt()})
    ds = ds.assign_coords(spatial_ref_b=other)
    ds["B08"].encoding["grid_mapping"] = "spatial_ref_b"
    return ds


def _bad_input_cases(tmp: Path) -> list[tuple[str, Any]]:
    import numpy as np
    import xgeo_codecs as xc

    import xgeo

    real = _s2().reflectance.values[:4, :3]  # (4, 3, 101, 100) float32

    def corrupt_zarr_json() -> Any:
        path = tmp / "corrupt-meta.zarr"
        if not path.exists():
            _s2()[["ndvi"]].to_zarr(path, consolidated=False)
            meta = path / "ndvi" / "zarr.json"
            meta.write_text(meta.read_text()[:40])
        return xgeo.open_dataset(str(path))

    def text_tif() -> Any:
        path = tmp / "not-a-raster.tif"
        path.write_text("hello")
        return xgeo.open_dataset(str(path))

    def options_tamper() -> Any:
        target = tmp / "victim.txt"
        return xc.encode(real[:2, 0], {"options": {"x265-params": f"analysis-save={target}"}})

    def csv_tamper() -> Any:
        return xc.encode(real[:2, 0], {"options": {"x265-params": f"csv={tmp / 'log.csv'}"}})

    def header_bomb() -> Any:
        return xc.decode(xc.encode(np.zeros((1, 4000, 4000), np.uint8)), max_bytes=1 << 20)

    def chip_dataset(**kw: Any) -> Any:
        from xgeo.torch import ChipDataset

        return ChipDataset(**kw)

    cases: list[tuple[str, Any]] = [
        # codec parameters
        ("codec: unknown family", lambda: xc.VideoParams(codec="h264")),
        ("codec: bit_depth 9", lambda: xc.VideoParams(bit_depth=9)),
        ("codec: negative qp", lambda: xc.VideoParams(qp=-3)),
        ("codec: crf and qp", lambda: xc.VideoParams(crf=10, qp=10)),
        ("codec: psnr 0", lambda: xc.VideoParams(psnr=0)),
        ("codec: bpppb 100", lambda: xc.VideoParams(bpppb=100)),
        ("codec: max_error 0", lambda: xc.VideoParams(max_error=0)),
        ("codec: two targets", lambda: xc.VideoParams(psnr=40, bpppb=1)),
        ("codec: unknown parameter", lambda: xc.VideoCodec(quality=3)),
        ("codec: decorrelate pca", lambda: xc.VideoParams(decorrelate="pca")),
        ("codec: x265 analysis-save option", options_tamper),
        ("codec: x265 csv option", csv_tamper),
        ("codec: complex chunk", lambda: xc.encode(np.zeros((2, 8, 8), np.complex64))),
        ("codec: int64 chunk", lambda: xc.encode(np.zeros((2, 8, 8), np.int64))),
        ("codec: bad frame axis", lambda: xc.encode(real, {"frame_axis": 3})),
        ("codec: lossless off-grid floats",
         lambda: xc.encode(real[:2, 0] + np.float32(1e-7), {"lossless": True})),
        ("codec: empty blob", lambda: xc.decode(b"")),
        ("codec: random blob", lambda: xc.decode(os.urandom(300))),
        ("codec: truncated chunk", lambda: xc.decode(xc.encode(real[:2, 0])[:-9])),
        ("codec: chunk_info of junk", lambda: xc.chunk_info(b"XGVC\x04\x00" + os.urandom(64))),
        ("codec: decoded size above max_bytes", header_bomb),
        # reprojection
        ("reproject: unparseable CRS", lambda: _s2().ndvi.geo.reproject("EPSG:999999")),
        ("reproject: unknown resampling",
         lambda: _s2().ndvi.geo.reproject("EPSG:4326", resampling="bicubic-spline")),
        ("reproject: complex data",
         lambda: (_s2().ndvi.astype(np.complex64)).geo.reproject("EPSG:4326")),
        ("reproject: resolution 1e-9",
         lambda: _s2().ndvi.geo.reproject("EPSG:4326", resolution=1e-9)),
        ("reproject: zero chunk size",
         lambda: _s2().ndvi.geo.reproject("EPSG:4326", chunks=(0, 64, 64))),
        ("reproject: negative resolution",
         lambda: _s2().ndvi.geo.reproject("EPSG:4326", resolution=-1)),
        ("reproject: bounds outside the source",
         lambda: _s2().ndvi.geo.reproject("EPSG:4326", bounds=(100, 10, 101, 11))),
        ("reproject: no CRS", lambda: _s2().ndvi.drop_vars("spatial_ref")
         .assign_attrs(grid_mapping=None).geo.reproject("EPSG:4326")),
        # indices
        ("indices: empty list", lambda: _s2().geo.indices([])),
        ("indices: unknown index", lambda: _s2().geo.indices(["NOPE"])),
        ("indices: 1300-term formula",
         lambda: xgeo.indices.formula.parse(_deep_formula(1300))),
        ("indices: missing band", lambda: xgeo.indices.evaluate({"N": real[0, 0]}, ["NDVI"])),
        ("indices: mixed CRSs", lambda: _mixed_crs().geo.indices(["NDVI"], sensor="sentinel2")),
        # chips and loader
        ("chips: size 0", lambda: _s2().geo.chips(0, variable="reflectance")),
        ("chips: larger than the array", lambda: _s2().geo.chips(512, variable="reflectance")),
        ("chips: min_valid 2", lambda: _s2().geo.chips(32, variable="reflectance", min_valid=2)),
        ("loader: complex variable", lambda: chip_dataset(
            source=_s2()[["ndvi"]].astype(np.complex64), size=32, variable="ndvi")[0]),
        ("loader: mixed CRSs", lambda: chip_dataset(
            source=_mixed_crs(), size=32, variables=["B08", "B04"])),
        ("loader: unknown variable", lambda: chip_dataset(
            source=_s2(), size=32, variable="nosuchvar")),
        ("loader: size 0", lambda: chip_dataset(source=_s2(), size=0, variable="ndvi")),
        # stores and files
        ("store: zero chunk size",
         lambda: _s2()[["ndvi"]].geo.to_zarr(str(tmp / "z0.zarr"), encoding=_s2()[["ndvi"]]
                                            .geo.video_encoding("hevc", chunks={"time": 0}))),
        ("store: unknown codec",
         lambda: _s2()[["ndvi"]].geo.to_zarr(str(tmp / "zc.zarr"), codec="mpeg2")),
        ("store: missing path", lambda: xgeo.open_dataset(str(tmp / "nothing-here.zarr"))),
        ("store: corrupt zarr.json", corrupt_zarr_json),
        ("store: text file named .tif", text_tif),
        ("store: second lazy write over a complete store",
         lambda: [_s2()[["ndvi"]].chunk({"time": 1}).geo.to_zarr(str(tmp / "twice.zarr"))
                  for _ in range(2)]),
    ]
    return cases


# ---------------------------------------------------------------------------------------------
# silent output: each check returns (ok, detail); a typed error also counts as ok (loud)


def _silent_output_cases(tmp: Path) -> list[tuple[str, Any]]:
    import numpy as np
    import xgeo_codecs as xc

    real = _s2().reflectance.values[:4, 1]  # (4, 101, 100) float32

    def inf_lossy(params: dict[str, Any], dtype: str = "float32") -> tuple[bool, str]:
        a = real.astype(dtype)
        a[0, 0, 0], a[1, 5, 7] = np.inf, -np.inf
        b = xc.decode(xc.encode(a, params))
        special = np.isinf(a)
        exact = bool(np.array_equal(a[special], b[special]))
        err = float(np.nanmax(np.abs(b[~special] - a[~special])))
        nan = int(np.isnan(b).sum())
        return exact and nan == 0 and err < 0.05, f"inf exact={exact}, NaN={nan}, max err {err:.3g}"

    def near_limits() -> tuple[bool, str]:
        a = real.astype("float64") * 1e305
        a[0, 0, 0], a[0, 0, 1] = -1e308, 1e308
        b = xc.decode(xc.encode(a))
        finite = bool(np.isfinite(b).all())
        rel = float(np.max(np.abs(b - a)) / 2e308)
        return finite and rel < 1e-2, f"finite={finite}, error/range {rel:.3g}"

    def zarr_v2_order_f() -> tuple[bool, str]:
        import zarr

        a = np.asarray((real[:3] * 10000).round().astype("uint16")[:, :60, :40])
        z = zarr.create_array(zarr.storage.MemoryStore(), shape=a.shape, chunks=a.shape,
                              dtype=a.dtype, zarr_format=2, order="F",
                              compressors=xc.VideoCodec(lossless=True))
        z[:] = a
        same = bool(np.array_equal(z[:], a))
        return same, f"values equal: {same}"

    def int64_nearest() -> tuple[bool, str]:
        # oracle: the same pick on small integers (exact in float64), shifted by 2**62
        lulc = _s2().lulc.astype("int64")
        shift = np.int64(2**62) + 12345
        small = lulc.geo.reproject("EPSG:4326", resampling="nearest", nodata=-1).values
        big = (lulc + shift).geo.reproject("EPSG:4326", resampling="nearest", nodata=-1).values
        valid = small != -1
        same_mask = bool(np.array_equal(valid, big != -1))
        diff = int(np.abs(big[valid] - (small[valid] + shift)).max()) if valid.any() else 0
        return same_mask and diff == 0, f"max change {diff}, same footprint {same_mask}"

    def deleted_chunk() -> tuple[bool, str]:
        import shutil

        import xgeo

        path = tmp / "deleted-chunk.zarr"
        shutil.rmtree(path, ignore_errors=True)
        ds = _s2()[["ndvi"]]
        ds.chunk({"time": 1}).geo.to_zarr(str(path))  # zstd, one chunk per date
        victims = sorted((path / "ndvi" / "c").rglob("*"))
        victim = next(p for p in victims if p.is_file())
        victim.unlink()
        try:
            xgeo.open_dataset(str(path), verify=True)
        except xgeo.errors.XgeoError as err:
            return True, f"refused: {type(err).__name__}"
        return False, "opened with a chunk missing"

    return [
        ("+-inf in a lossy HEVC chunk", lambda: inf_lossy({})),
        ("+-inf with psnr=45", lambda: inf_lossy({"psnr": 45})),
        ("+-inf with max_error=0.01", lambda: inf_lossy({"max_error": 0.01})),
        ("+-inf with KLT", lambda: inf_lossy({"decorrelate": "klt"})),
        ("+-inf in float64", lambda: inf_lossy({}, "float64")),
        ("float64 near +-1e308", near_limits),
        ("Zarr v2 order='F' lossless", zarr_v2_order_f),
        ("int64 near 2**62, nearest reprojection", int64_nearest),
        ("deleted chunk, open(verify=True)", deleted_chunk),
    ]


# ---------------------------------------------------------------------------------------------
# kill points: a child writes a lossless video store and dies by os._exit at one step

KILL_POINTS = [
    ("locked", 1), ("sidecar", 1), ("manifest", 1), ("cleaned", 1), ("metadata", 1),
    ("writing", 1), ("chunk-data", 1), ("chunk-marker", 1), ("chunk-data", 3),
    ("chunk-marker", 4), ("chunks-done", 1), ("records", 1), ("consolidated", 1),
    ("complete", 1), ("cleaned-up", 1),
]

_KILLED_WRITER = """
import os, sys, warnings, dask, xgeo, xgeo.store
warnings.simplefilter("ignore")
step, occurrence, seen = sys.argv[2], int(sys.argv[3]), []
def checkpoint(name):
    if name == step:
        seen.append(name)
        if len(seen) == occurrence:
            os._exit(3)  # a kill: no cleanup, no lock release
xgeo.store._checkpoint = checkpoint
sys.path.insert(0, sys.argv[4])
from robustness import _kill_cube
with dask.config.set(scheduler="synchronous"):
    xgeo.io.to_zarr(_kill_cube(), sys.argv[1], codec="ffv1",
                    codec_options={"lossless": True, "band_chunk": 1})
"""


def _kill_cube():
    """Real reflectance in 4 lazy blocks (one per band, FFV1 chunks of one band) plus an
    in-memory DEM."""
    ds = _s2()[["reflectance", "dem"]].isel(band=slice(0, 4)).load()
    ds["reflectance"] = ds.reflectance.chunk({"time": 5, "band": 1, "y": 101, "x": 100})
    return ds


def _kill_points(tmp: Path) -> list[dict[str, Any]]:
    import warnings

    import dask
    import xarray as xr

    import xgeo

    warnings.simplefilter("ignore")
    opts = {"codec": "ffv1", "codec_options": {"lossless": True, "band_chunk": 1}}
    ref_path = tmp / "kill-reference.zarr"
    with dask.config.set(scheduler="synchronous"):
        xgeo.io.to_zarr(_kill_cube(), str(ref_path), **opts)
    reference = xgeo.open_dataset(str(ref_path)).load()
    records = []
    for step, occurrence in KILL_POINTS:
        store = tmp / f"kill-{step}-{occurrence}.zarr"
        rec: dict[str, Any] = {"case": f"{step} #{occurrence}"}
        proc = subprocess.run([sys.executable, "-P", "-c", _KILLED_WRITER, str(store), step,
                               str(occurrence), str(Path(__file__).parent)],
                              capture_output=True, text=True, timeout=600)
        rec["killed"] = proc.returncode == 3
        try:  # what an interrupted store shows a reader
            back = xgeo.open_dataset(str(store)).load()
            rec["on_open"] = "opened"
            rec["opened_equal"] = bool(back.identical(reference))
        except (xgeo.errors.XgeoError, FileNotFoundError) as err:  # refused: never fill values
            rec["on_open"] = type(err).__name__
        if rec["on_open"] == "opened":  # the completion record was written: nothing to do
            rec["resume"] = "not needed"
        else:
            try:
                with dask.config.set(scheduler="synchronous"):
                    xgeo.io.to_zarr(_kill_cube(), str(store), resume=True, **opts)
                rec["resume"] = "ok"
            except Exception as err:  # noqa: BLE001 - recorded: the data would be lost
                rec["resume"] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
        try:
            final = xgeo.open_dataset(str(store)).load()
            xr.testing.assert_identical(final, reference)
            rec["final_equal"] = True
        except Exception:  # noqa: BLE001
            rec["final_equal"] = False
        silent = rec["on_open"] == "opened" and not rec.get("opened_equal")
        rec["outcome"] = ("data lost" if silent or not rec["final_equal"] or not rec["killed"]
                          else "recovered")
        records.append(rec)
    return records


# ---------------------------------------------------------------------------------------------
# the child: runs one part's cases from a start index and prints one JSON line per case


def _child(part: str, start: int, tmp: str) -> None:
    import resource
    import traceback
    import warnings

    warnings.simplefilter("ignore")
    import xgeo_codecs

    import xgeo

    # FileNotFoundError naming the path is what a caller catches for a missing file
    typed = (xgeo.errors.XgeoError, xgeo_codecs.CodecError, FileNotFoundError)
    tmp_path = Path(tmp)
    cases = (_bad_input_cases(tmp_path) if part == "bad_inputs"
             else _silent_output_cases(tmp_path))
    for i, (name, fn) in enumerate(cases):
        if i < start:
            continue
        rec: dict[str, Any] = {"i": i, "case": name}
        t0 = time.perf_counter()
        try:
            value = fn()
        except typed as err:
            rec.update(outcome="typed" if part == "bad_inputs" else "loud",
                       error=type(err).__name__, message=str(err).splitlines()[0][:200])
        except MemoryError as err:
            rec.update(outcome="memory", error="MemoryError", message=str(err)[:200])
        except Exception as err:  # noqa: BLE001 - the probe records what escaped
            tb = traceback.extract_tb(err.__traceback__)
            rec.update(outcome="untyped", error=type(err).__name__,
                       message=str(err).splitlines()[0][:200] if str(err) else "",
                       where=f"{tb[-1].filename}:{tb[-1].lineno}" if tb else "")
        else:
            if part == "bad_inputs":
                rec.update(outcome="accepted")
            else:
                ok, detail = value
                rec.update(outcome="correct" if ok else "wrong", detail=detail)
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        rec["maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(rec), flush=True)


def _run_part(part: str, tmp: str, n_cases: int) -> list[dict[str, Any]]:
    """Run a part's cases in children, restarting after a crash or a hang."""
    records: list[dict[str, Any]] = []
    start = 0
    while start < n_cases:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", part, str(start), tmp],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], CASE_TIMEOUT_S)
            if not ready:  # no answer within the limit: a hang
                proc.kill()
                proc.wait()
                records.append({"i": start, "outcome": "hang"})
                start += 1
                break
            line = proc.stdout.readline()
            if not line:  # the child ended
                rc = proc.wait()
                if start < n_cases:
                    records.append({"i": start, "outcome": "crash", "returncode": rc})
                    start += 1
                break
            rec = json.loads(line)
            records.append(rec)
            start = rec["i"] + 1
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return records


def _summary(records: list[dict[str, Any]], good: tuple[str, ...]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in records:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    over = sum(1 for r in records if r.get("maxrss_mib", 0) > RSS_LIMIT_MIB)
    return {"cases": len(records), "counts": counts, "rss_above_2GiB": over,
            "bad": sum(v for k, v in counts.items() if k not in good)}


def _versions() -> dict[str, str]:
    out = {}
    for name in ("xgeo", "xgeo-codecs", "numpy", "numba", "zarr", "av", "xarray", "dask"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def main() -> None:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        part, start, tmp = args.child
        _child(part, int(start), tmp)
        return
    out: dict[str, Any] = {
        "topic": "robustness",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "versions": _versions(),
        "how": "each case in a child process reporting one JSON line; a child that dies by a "
               f"signal is a crash, one silent for {CASE_TIMEOUT_S:.0f} s a hang; memory is the "
               "child's peak RSS after the case",
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        parts = {"bad_inputs": (len(_bad_input_cases(tmp_path)), ("typed",)),
                 "silent_output": (len(_silent_output_cases(tmp_path)), ("correct", "loud"))}
        for part, (n, good) in parts.items():
            t0 = time.perf_counter()
            records = _run_part(part, tmp, n)
            out[part] = {**_summary(records, good), "seconds": round(time.perf_counter() - t0, 1),
                         "records": records}
            print(f"{part}: {out[part]['counts']} (bad {out[part]['bad']})", flush=True)
        t0 = time.perf_counter()
        records = _kill_points(tmp_path)
        out["kill_points"] = {**_summary(records, ("recovered",)),
                              "seconds": round(time.perf_counter() - t0, 1), "records": records}
        print(f"kill_points: {out['kill_points']['counts']}", flush=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
