"""Quality targets (format 2): max_error guarantee, psnr window, bpppb, stats, fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from codec_testdata import stamped
from hypothesis import given, settings
from hypothesis import strategies as st
from xgeo_codecs import CodecError, VideoCodec, chunk_info, decode, encode
from xgeo_codecs.chunk_metrics import chunk_stats, valid_mask

FIX2 = Path(__file__).resolve().parent / "fixtures" / "video" / "v2" / "quality"


def _violations(a: np.ndarray, d: np.ndarray, e: float) -> int:
    v = valid_mask(a, None)
    return int((np.abs(d[v].astype(np.float64) - a[v].astype(np.float64)) > e).sum())


@pytest.mark.parametrize("e", [5.0, 40.0])
def test_max_error_guaranteed_on_real_uint16(nrt_b2, e):
    a = nrt_b2[:16, :64, :64]
    d = decode(encode(a, {"max_error": e}))
    assert d.dtype == a.dtype
    assert _violations(a, d, e) == 0
    q = chunk_info(encode(a, {"max_error": e}))["quality"]
    assert q["max_error"] <= e and q["target"] == {"max_error": e}


def test_max_error_guaranteed_with_clouds_and_13_bands(cloudy_reflectance, eo_reflectance):
    a = cloudy_reflectance[:8, :50, :50]
    d = decode(encode(a, {"max_error": 0.002}))
    assert np.array_equal(np.isnan(d), np.isnan(a))  # clouds restored, excluded from bound
    assert _violations(a, d, 0.002) == 0
    b = eo_reflectance[:, :, :48, :48]
    for e in (1e-3, 1e-4):  # 1e-4: tighter than the 12-bit video step -> residual does it
        db = decode(encode(b, {"max_error": e, "frame_axis": 0}))
        assert _violations(b, db, e) == 0


def test_max_error_smaller_than_lossless(nrt_b2):
    a = nrt_b2[:16, :64, :64]
    lossy = len(encode(a, {"max_error": 20}))
    assert lossy < len(encode(a, {"lossless": True})) / 2


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), e=st.floats(1e-4, 0.5), scale=st.floats(0.01, 1e4),
       dtype=st.sampled_from(["float32", "float64", "uint16", "int16"]))
def test_max_error_property(seed, e, scale, dtype):
    rng = np.random.default_rng(seed)
    a = np.cumsum(rng.normal(size=(3, 20, 24)), axis=2) * scale
    if dtype in ("uint16", "int16"):
        a = np.clip(a + 20000 * (dtype == "uint16"), -30000, 60000 if dtype == "uint16" else 30000)
        e = e * scale
    a = a.astype(dtype)
    if a.dtype.kind == "f":
        a[0, :3, :3] = np.nan
    d = decode(encode(a, {"max_error": float(e)}))
    assert _violations(a, d, float(e)) == 0
    if a.dtype.kind == "f":
        assert np.isnan(d[0, :3, :3]).all()


def test_psnr_window_every_chunk_real(nrt_bands, cloudy_reflectance):
    chunks = [nrt_bands[:16, j, :64, :64] for j in range(4)] + [cloudy_reflectance[:16, :64, :64]]
    encodes = []
    for target in (42.0, 50.0):
        for a in chunks:
            blob = encode(a, {"psnr": target})
            s = chunk_stats(a, decode(blob), valid_mask(a, None))
            assert target <= s["psnr"] <= target + 0.5, (target, s["psnr"])
            encodes.append(chunk_info(blob)["quality"]["encodes"])
    assert np.mean(encodes) <= 4  # search budget (benchmark reports the exact average)


def test_bpppb_near_target(nrt_b2):
    a = nrt_b2[:16, :64, :64]
    for r in (0.5, 1.5):
        blob = encode(a, {"bpppb": r})
        assert abs(len(blob) * 8 / a.size / r - 1) < 0.15
        assert chunk_info(blob)["quality"]["bpppb"] == pytest.approx(len(blob) * 8 / a.size, 1e-3)


def test_stats_recorded_and_match_decoded(eo_reflectance):
    a = eo_reflectance[:, 2, :48, :48]
    fixed = {"reorder_frames": False}  # no "auto" trial: its record would make format 6
    blob = encode(a, {"stats": True, "crf": 10, **fixed})
    info = chunk_info(blob)
    assert stamped(info, 2)
    s = chunk_stats(a, decode(blob), valid_mask(a, None))
    assert info["quality"]["psnr"] == pytest.approx(s["psnr"], abs=1e-3)
    assert info["quality"]["max_error"] == pytest.approx(s["max_error"], rel=1e-4)
    assert stamped(chunk_info(encode(a, {"crf": 10, **fixed})), 1)  # plain: v1


@pytest.mark.parametrize("kw, match", [
    ({"psnr": 200}, "not reachable"), ({"psnr": -3}, "not reachable"),
    ({"max_error": 0}, "must be > 0"), ({"max_error": -1.0}, "must be > 0"),
    ({"max_error": float("nan")}, "must be > 0"), ({"bpppb": 0}, "outside"),
    ({"psnr": 40, "max_error": 1}, "one quality target"),
    ({"psnr": 40, "crf": 5}, "do not also pass crf"),
    ({"psnr": 40, "lossless": True}, "lossy-mode target"),
])
def test_impossible_targets_are_typed_errors(kw, match):
    with pytest.raises(CodecError, match=match):
        VideoCodec(**kw)


def test_psnr_above_video_reach_uses_residual(eo_reflectance):
    a = eo_reflectance[:, 3, :48, :48]
    blob = encode(a, {"psnr": 75})
    s = chunk_stats(a, decode(blob), valid_mask(a, None))
    assert s["psnr"] >= 75


CASES = [("max_error", 0.002), ("psnr", 45.0), ("bpppb", 1.0)]


def _fixture_arrays():
    from codec_testdata import NRT, raw
    b2 = raw(NRT, "B2")
    scl = raw(NRT, "SCL")
    cloudy = np.where(np.isin(scl, [3, 8, 9, 10]), np.nan, b2 / 10000.0).astype(np.float32)
    return [cloudy[:8, :50, :50], b2[:8, :64, :64]]


@pytest.mark.parametrize("j", range(len(CASES)))
def test_v2_fixtures_decode_identically(j):
    from codec_testdata import assert_fixture_case_decodes

    assert_fixture_case_decodes(FIX2 / f"codec.{j:02d}", 2, min_blobs=2)


def write_v2_fixtures() -> None:  # pragma: no cover - run by hand once
    from codec_testdata import write_fixture_case

    arrays = _fixture_arrays()
    FIX2.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(arrays):
        np.save(FIX2 / f"array.{i:02d}.npy", a)
    for j, (k, v) in enumerate(CASES):
        write_fixture_case(FIX2 / f"codec.{j:02d}", VideoCodec(**{k: v}), arrays)



def test_tight_max_error_uses_the_ffv1_grid_and_beats_quantisation_plus_zstd(eo_reflectance,
                                                                             nrt_b2):
    import numcodecs

    r = eo_reflectance  # all 5 dates, 13 bands: frames = time
    e = 5e-4  # ~1e-3 of the data's range, five steps of its 1e-4 grid
    blob = encode(r, {"max_error": e})
    d = decode(blob)
    assert float(np.abs(d.astype(np.float64) - r).max()) <= e
    assert chunk_info(blob)["encoder"] == "ffv1"  # the near-lossless candidate won
    q = np.rint((r.astype(np.float64) - r.min()) / (2 * e)).astype(np.int16)
    assert len(blob) < 0.8 * len(numcodecs.Zstd(level=19).encode(q))
    # integers with nodata: odd integer step, nodata restored exactly
    a = nrt_b2[:16, :64, :64].copy()
    a[:, :5, :5] = 0
    da = decode(encode(a, {"max_error": 12, "nodata": 0}))
    assert np.array_equal(da == 0, a == 0)
    ok = a != 0
    assert int(np.abs(da[ok].astype(int) - a[ok]).max()) <= 12


def test_lossless_integers_on_a_declared_grid_round_trip(nrt_b2):
    a = nrt_b2[:8, :64, :64]
    on_grid = (a // 7 * 7 + 3).astype(np.uint16)
    for arr in (on_grid, a):  # off the grid: falls back to plain integer codes, still exact
        d = decode(encode(arr, {"lossless": True, "scale_factor": 7, "add_offset": 3}))
        assert np.array_equal(d, arr)
    small = len(encode(on_grid, {"lossless": True, "scale_factor": 7, "add_offset": 3}))
    assert small < len(encode(on_grid, {"lossless": True}))


def test_max_error_never_turns_a_valid_value_into_nodata(nrt_b2):
    # values just above nodata=0 with a bound larger than them: the residual could clip
    # them to 0, which every reader would take for missing data
    a = nrt_b2[:16, :64, :64].copy()
    a[:, 20:30, 20:30] = np.arange(1, 101, dtype=np.uint16).reshape(10, 10) % 35 + 1
    a[:, :4, :4] = 0
    for e in (40, 200):
        d = decode(encode(a, {"max_error": e, "nodata": 0}))
        assert np.array_equal(d == 0, a == 0)
        assert int(np.abs(d.astype(int) - a).max()) <= e


if __name__ == "__main__" and os.environ.get("XGEO_WRITE_FIXTURES") == "1":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    write_v2_fixtures()


def test_spectral_angle_is_an_optional_quality_key_old_chunks_lack():
    from xgeo_codecs import header

    old = sorted(FIX2.glob("codec.*/encoded.*.dat"))
    assert old and all("spectral_angle" not in chunk_info(b.read_bytes())["quality"] for b in old)
    rng = np.random.default_rng(3)
    a = (1000 + rng.integers(0, 200, (4, 3, 16, 16))).astype("uint16")  # (T, P, H, W)
    blob = encode(a, {"psnr": 40.0})
    meta = header.parse(blob)[0]  # the header validation takes the new key
    assert meta["quality"]["spectral_angle"] > 0  # a 3-plane chunk records it
    assert decode(blob).shape == a.shape
    assert "spectral_angle" not in chunk_info(encode(a[:, 0], {"psnr": 40.0}))["quality"]
