"""`xgeo compress --psnr/--max-error/--bpppb` end to end, checked against xgeo.metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from store_versions import stamped_version

import xgeo
from xgeo.cli import main
from xgeo.compression import compression_report
from xgeo.metrics import error_stats

DATA = Path(__file__).parent / "data"


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _ndvi():
    return xgeo.open_dataset(xgeo.datasets.sentinel2_cube_path()).ndvi.values


def test_cli_max_error_bound_holds_for_every_pixel(tmp_path):
    store = tmp_path / "me.zarr"
    r = _run("compress", xgeo.datasets.sentinel2_cube_path(), store, "--max-error", "0.01",
             "--variable", "ndvi")
    assert r.exit_code == 0, r.output
    back = xgeo.open_dataset(store).ndvi.values
    orig = _ndvi()
    assert np.array_equal(np.isnan(back), np.isnan(orig))
    assert error_stats(orig, back)["max_error"] <= 0.01
    q = compression_report(store)["ndvi"]["quality"]
    assert q["max_error"] <= 0.01 and q["target"] == {"max_error": 0.01}


def test_cli_psnr_target_every_chunk(tmp_path):
    store = tmp_path / "ps.zarr"
    r = _run("compress", DATA / "nrt_romania_32t.nc", store, "--psnr", "45",
             "--variable", "B4", "--chunks", "time=16,y=50,x=50")
    assert r.exit_code == 0, r.output
    orig = xgeo.open_dataset(DATA / "nrt_romania_32t.nc").B4
    back = xgeo.open_dataset(store).B4
    fill = orig.encoding.get("_FillValue")
    for t0 in (0, 16):
        for y0 in (0, 50):
            for x0 in (0, 50):
                sl = dict(time=slice(t0, t0 + 16), y=slice(y0, y0 + 50), x=slice(x0, x0 + 50))
                o, b = orig.isel(sl).values, back.isel(sl).values
                if o.size == 0:
                    continue
                s = error_stats(o, b, nodata=fill)
                assert 45 <= s["psnr"] <= 45.5 + 1e-6, (sl, s["psnr"])
    q = compression_report(store)["B4"]["quality"]
    assert q["psnr_min"] >= 45 and q["encodes_per_chunk"] <= 4


def test_cli_bpppb_target(tmp_path):
    store = tmp_path / "r.zarr"
    r = _run("compress", DATA / "nrt_romania_32t.nc", store, "--bpppb", "0.4",
             "--variable", "B8")
    assert r.exit_code == 0, r.output
    rep = compression_report(store)["B8"]
    assert rep["bpppb"] == pytest.approx(0.4, rel=0.15)


@pytest.mark.parametrize("flag, value", [("--psnr", "200"), ("--max-error", "0"),
                                         ("--max-error", "-1")])
def test_cli_impossible_targets_fail_clearly(tmp_path, flag, value):
    r = _run("compress", xgeo.datasets.sentinel2_cube_path(), tmp_path / "x.zarr", flag, value,
             "--variable", "ndvi")
    assert r.exit_code != 0
    assert "psnr" in r.output.lower() or "max_error" in r.output.lower()
    assert "Traceback" not in r.output


def test_in_codec_metric_agrees_with_xgeo_metrics():
    from xgeo_codecs import decode, encode
    from xgeo_codecs.chunk_metrics import chunk_stats, valid_mask

    a = _ndvi()
    d = decode(encode(a, {"crf": 14}))
    mine = chunk_stats(a, d, valid_mask(a, None))
    ref = error_stats(a, d)
    assert mine["psnr"] == pytest.approx(ref["psnr"], abs=1e-9)
    assert mine["max_error"] == pytest.approx(ref["max_error"], abs=0)


@pytest.mark.parametrize("options", [{"bpppb": 1.0}, {"max_error": 0.004, "nodata": 0.0}])
def test_in_codec_spectral_angle_agrees_with_xgeo_metrics(options):
    from xgeo_codecs import chunk_info, decode, encode
    from xgeo_codecs.chunk_metrics import plane_angle, valid_mask

    from xgeo.metrics import spectral_angle

    # 3 dates x 4 bands of the real reflectance: the planes of a (T, P, H, W) chunk
    a = xgeo.datasets.sentinel2_cube().reflectance.values[:3, 1:5].copy()
    a[0, 2, :5, :5] = 0.0  # nodata in one band: those pixels leave the angle
    blob = encode(a, options)
    d = decode(blob)
    nodata = options.get("nodata")
    ref = spectral_angle(a, d, band_axis=1, nodata=nodata)
    assert 0 < ref < 5
    assert plane_angle(a, d, valid_mask(a, nodata), 0) == pytest.approx(ref, rel=1e-12)
    assert chunk_info(blob)["quality"]["spectral_angle"] == pytest.approx(ref, rel=1e-5)
    single = encode(a[:, 0], {"bpppb": 1.0})  # one plane: no angle recorded
    assert "spectral_angle" not in chunk_info(single)["quality"]


def test_cli_klt_with_a_psnr_target(tmp_path):
    store = tmp_path / "klt.zarr"
    r = _run("compress", xgeo.datasets.sentinel2_cube_path(), store, "--klt", "--psnr", "42",
             "--variable", "reflectance")
    assert r.exit_code == 0, r.output
    orig = xgeo.open_dataset(xgeo.datasets.sentinel2_cube_path()).reflectance.values
    back = xgeo.open_dataset(store).reflectance.values
    assert error_stats(orig, back)["psnr"] >= 42
    rep = compression_report(store)["reflectance"]
    assert rep["chunks"][1] == 13  # order measured: "auto"
    assert rep["format_version"] == stamped_version(rep, 6)
    assert set(rep["tools"]["chunks"]) <= {"klt", "klt+reorder"}
    off = _run("compress", xgeo.datasets.sentinel2_cube_path(), tmp_path / "off.zarr",
               "--no-klt", "--no-reorder-frames", "--effort", "fast", "--crf", "20",
               "--variable", "reflectance")
    assert off.exit_code == 0, off.output
    rep = compression_report(tmp_path / "off.zarr")["reflectance"]
    assert rep["format_version"] == stamped_version(rep, 3)
    assert rep["tools"] == {"chunks": {"plain": 5}}
    assert rep["chunks"][1] == 3  # no KLT: three bands per 4:4:4 stream
    bad = _run("compress", xgeo.datasets.sentinel2_cube_path(), tmp_path / "x.zarr", "--klt",
               "--lossless")
    assert bad.exit_code != 0 and "--klt" in bad.output


def test_cli_keyint_codes_dates_in_groups_and_refuses_bad_counts(tmp_path):
    src = DATA / "nrt_romania_32t.nc"
    store = tmp_path / "groups.zarr"
    r = _run("compress", src, store, "--crf", "20", "--keyint", "8", "--chunks", "time=16",
             "--variable", "B4")
    assert r.exit_code == 0, r.output
    rep = compression_report(store)["B4"]
    assert rep["format_version"] == stamped_version(rep, 7)
    orig = xgeo.open_dataset(src).B4
    back = xgeo.open_dataset(store).B4
    np.testing.assert_array_equal(back.isel(time=9).values, back.values[9])  # partial read
    assert error_stats(orig.values, back.values)["psnr"] > 40
    for bad, says in (("0", "--keyint"), ("17", "keyint=17 is larger than the chunk's 16")):
        r = _run("compress", src, tmp_path / f"bad{bad}.zarr", "--keyint", bad, "--chunks",
                 "time=16", "--variable", "B4")
        assert r.exit_code != 0 and says in r.output, r.output


def test_cli_user_mask_stores_clouds_as_missing_and_costs_fewer_bits(tmp_path):
    src = DATA / "nrt_romania_32t.nc"
    runs = {}
    for label, extra in (("plain", ()), ("masked", ("--mask", "SCL=3,8,9,10"))):
        store = tmp_path / f"{label}.zarr"
        # an absolute bound: both stores promise the same thing on the clear pixels
        r = _run("compress", src, store, "--max-error", "40", "--variable", "B4", *extra)
        assert r.exit_code == 0, r.output
        runs[label] = store
    orig = xgeo.open_dataset(src)
    cloud = orig.SCL.isin([3, 8, 9, 10]).values
    assert cloud.mean() > 0.05  # the test needs real clouds
    back = xgeo.open_dataset(runs["masked"]).B4.values
    o = orig.B4.values
    assert np.isnan(back[cloud]).all()  # clouds come back as missing, not as guesses
    clear = ~cloud & ~np.isnan(o)
    assert error_stats(o[clear], back[clear])["max_error"] <= 40
    size = {k: compression_report(v)["B4"]["stored_bytes"] for k, v in runs.items()}
    assert size["masked"] < 0.9 * size["plain"]
    bad = _run("compress", src, tmp_path / "x.zarr", "--mask", "NOPE=1")
    assert bad.exit_code != 0 and "NOPE" in bad.output


def test_cli_reorder_frames_in_one_time_chunk(tmp_path):
    src = DATA / "nrt_romania_32t.nc"
    store = tmp_path / "ro.zarr"
    r = _run("compress", src, store, "--crf", "12", "--variable", "B4", "--reorder-frames",
             "--chunks", "time=32")
    assert r.exit_code == 0, r.output
    rep = compression_report(store)["B4"]
    assert rep["format_version"] == stamped_version(rep, 4)
    assert rep["chunks"][0] == 32
    o = xgeo.open_dataset(src).B4.values
    back = xgeo.open_dataset(store).B4.values
    assert np.array_equal(np.isnan(back), np.isnan(o))
    assert error_stats(o, back)["psnr"] > 45  # every date decoded back at its own index


def test_cli_band_weights_reach_the_stored_config_and_the_narrow_band(tmp_path):
    import json

    src = xgeo.datasets.sentinel2_cube_path()
    orig = xgeo.open_dataset(src).reflectance.values
    narrow = int(np.argmin(np.nanmax(orig, axis=(0, 2, 3)) - np.nanmin(orig, axis=(0, 2, 3))))
    band_psnr = {}
    for flag, stored in (("robust", "robust"), ("range", "range"), ("none", None)):
        store = tmp_path / f"{flag}.zarr"
        r = _run("compress", src, store, "--bpppb", "1", "--klt", "--band-weights", flag,
                 "--variable", "reflectance")
        assert r.exit_code == 0, r.output
        meta = json.loads((store / "reflectance" / "zarr.json").read_text())
        assert meta["codecs"][0]["configuration"]["band_weights"] == stored
        back = xgeo.open_dataset(store).reflectance.values
        band_psnr[flag] = error_stats(orig[:, narrow], back[:, narrow])["psnr"]
    assert band_psnr["range"] > band_psnr["none"] + 6  # B10 no longer drowned
    assert band_psnr["robust"] > band_psnr["none"] + 6
    bad = _run("compress", src, tmp_path / "bad.zarr", "--band-weights", "std")
    assert bad.exit_code != 0 and "--band-weights" in bad.output


def test_cli_per_band_weights_are_stored_and_checked(tmp_path):
    import json

    src = xgeo.datasets.sentinel2_cube_path()
    ds = xgeo.open_dataset(src)
    orig = ds.reflectance.values
    nb = orig.shape[1]
    weights = [10.0] + [1.0] * (nb - 1)
    store = tmp_path / "w.zarr"
    r = _run("compress", src, store, "--bpppb", "1", "--klt", "--band-weights",
             ",".join(f"{w:g}" for w in weights), "--variable", "reflectance")
    assert r.exit_code == 0, r.output
    meta = json.loads((store / "reflectance" / "zarr.json").read_text())
    assert meta["codecs"][0]["configuration"]["band_weights"] == weights
    assert meta["chunk_grid"]["configuration"]["chunk_shape"][1] == nb  # the bands together
    back = xgeo.open_dataset(store).reflectance.values
    even = tmp_path / "even.zarr"
    assert _run("compress", src, even, "--bpppb", "1", "--klt", "--band-weights",
                ",".join(["1"] * nb), "--variable", "reflectance").exit_code == 0
    flat = xgeo.open_dataset(even).reflectance.values
    # the weighted band gets the smaller error
    assert error_stats(orig[:, 0], back[:, 0])["psnr"] > error_stats(orig[:, 0], flat[:, 0])["psnr"]
    bad = _run("compress", src, tmp_path / "bad.zarr", "--band-weights", "1,x")
    assert bad.exit_code != 0 and "--band-weights" in bad.output
    short = _run("compress", src, tmp_path / "short.zarr", "--bpppb", "1", "--band-weights",
                 "1,2", "--variable", "reflectance")
    assert short.exit_code != 0
    assert "band_weights gives 2 weights but variable 'reflectance' has" in short.output
    assert not (tmp_path / "short.zarr" / "reflectance" / "c").exists()  # nothing written
