"""Behaviour of the pure core: round trips, dtypes, shapes, masks, modes, container."""

from __future__ import annotations

import numpy as np
import pytest
from xgeo_codecs import CodecError, VideoParams, chunk_info, decode, encode, probe


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~np.isnan(a)
    peak = float(np.nanmax(a) - np.nanmin(a))
    mse = float(np.mean((a[ok].astype(np.float64) - b[ok]) ** 2))
    return 10 * np.log10(peak**2 / mse)


# ---------------------------------------------------------------- lossless
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "uint32", "int8"])
def test_lossless_is_bit_exact_for_integer_dtypes(nrt_b2, dtype):
    a = nrt_b2[:8, :40, :40].astype(np.int64)
    info = np.iinfo(dtype)
    # shift the real data into the dtype's range, keep a span FFV1 can hold (<= 16 bit)
    a = a % min(65536, info.max - info.min + 1) + info.min
    a = a.astype(dtype)
    out = decode(encode(a, {"lossless": True}))
    assert out.dtype == a.dtype and out.shape == a.shape
    np.testing.assert_array_equal(out, a)


def test_lossless_real_cube_bands_as_planes(nrt_bands):
    chunk = nrt_bands[:16]  # (T, band, y, x): bands are planes, T frames
    blob = encode(chunk, {"lossless": True})
    np.testing.assert_array_equal(decode(blob), chunk)
    # FFV1 on real S2 DN beats 16 bits per value by far (measured ~6.6)
    assert len(blob) * 8 / chunk.size < 8


def test_inter_plane_prediction_is_exact_and_pays_on_13_bands(eo_reflectance):
    blob = encode(eo_reflectance, {"lossless": True})
    np.testing.assert_array_equal(decode(blob).view(np.uint32), eo_reflectance.view(np.uint32))
    preds = [pl[1].get("pred") for pl in chunk_info(blob)["planes"]]
    assert preds[0] is None and any(preds)  # first band has no reference; some bands use it
    without = encode(eo_reflectance, {"lossless": True, "plane_prediction": False})
    assert len(blob) < 0.99 * len(without)
    masked = eo_reflectance.copy()
    masked[:, :, 30:60, 20:70] = np.nan  # holes in every band: filled codes predict too
    np.testing.assert_array_equal(decode(encode(masked, {"lossless": True})), masked)


def test_lossless_float_on_decimal_grid_is_exact(eo_reflectance):
    chunk = eo_reflectance[:, :3]
    blob = encode(chunk, {"lossless": True})
    out = decode(blob)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.view(np.uint32), chunk.view(np.uint32))
    assert chunk_info(blob)["planes"][0][1]["div"] == 10000


def test_lossless_float_with_nan_is_exact(cloudy_reflectance):
    a = cloudy_reflectance[:16]
    assert np.isnan(a).any()
    out = decode(encode(a, {"lossless": True}))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(a))
    np.testing.assert_array_equal(out, a)


def test_lossless_float_off_grid_is_refused():
    a = np.random.default_rng(1).random((4, 8, 8)).astype(np.float32)
    with pytest.raises(CodecError, match="exact grid"):
        encode(a, {"lossless": True})


def test_lossless_float_with_explicit_cf_scale(eo_reflectance):
    k = np.rint(eo_reflectance[:2, :2] * 10000).astype(np.int64)
    a = k * 2e-4 + 0.5  # CF packing: value = k * scale_factor + add_offset
    out = decode(encode(a, {"lossless": True, "scale_factor": 2e-4, "add_offset": 0.5}))
    np.testing.assert_array_equal(out, a)


def test_lossless_span_over_16_bit_is_refused():
    a = np.array([[[0, 70000]]], dtype=np.int32)
    with pytest.raises(CodecError, match="span"):
        encode(a, {"lossless": True})


def test_x265_lossless_when_data_fits_12_bit(nrt_scl, nrt_b2):
    blob = encode(nrt_scl[:8], {"lossless": True, "codec": "hevc"})
    assert chunk_info(blob)["encoder"] == "libx265"
    np.testing.assert_array_equal(decode(blob), nrt_scl[:8])
    with pytest.raises(CodecError, match="4096"):
        encode(nrt_b2[:4], {"lossless": True, "codec": "hevc"})


# ---------------------------------------------------------------- lossy
def test_lossy_hevc_default_is_12_bit_software_and_accurate(nrt_b2):
    a = nrt_b2[:16]
    blob = encode(a, {"crf": 8})
    info = chunk_info(blob)
    assert (info["encoder"], info["bit_depth"], info["family"]) == ("libx265", 12, "hevc")
    out = decode(blob)
    assert out.dtype == a.dtype and out.shape == a.shape
    assert psnr(a.astype(float), out) > 45
    bpppb = len(blob) * 8 / a.size
    assert bpppb < 3


@pytest.mark.parametrize("codec,min_psnr", [("av1", 38), ("vp9", 35)])
def test_lossy_other_encoders(nrt_b2, codec, min_psnr):
    a = nrt_b2[:8, :64, :80]
    out = decode(encode(a, {"codec": codec, "crf": 20}))
    assert psnr(a.astype(float), out) > min_psnr


def test_lossy_float_keeps_nan_exactly_and_fills_cheaply(cloudy_reflectance):
    a = cloudy_reflectance[:16]
    blob = encode(a, {"crf": 12})
    out = decode(blob)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(a))
    assert psnr(a, out) > 40
    # filling masked pixels with 0 next to bright ones costs more than our fill
    zero_filled = encode(np.where(np.isnan(a), 0, a).astype(np.float32),
                         {"crf": 12, "value_range": (0.0, float(np.nanmax(a)))})
    ours = encode(a, {"crf": 12, "value_range": (0.0, float(np.nanmax(a)))})
    info = chunk_info(ours)
    assert info["stream_bytes"] < chunk_info(zero_filled)["stream_bytes"]


def test_integer_nodata_restored_exactly(nrt_b2):
    a = nrt_b2[:8].copy()
    a[:, 10:30, 20:50] = 0
    for p in ({"nodata": 0, "lossless": True}, {"nodata": 0, "crf": 20}):
        out = decode(encode(a, p))
        np.testing.assert_array_equal(out == 0, a == 0)


def test_value_range_clips_and_maps(nrt_b2):
    a = nrt_b2[:4, :32, :32]
    out = decode(encode(a, {"value_range": (0, 4000), "qp": 0}))
    assert out.max() <= 4000  # values above the range are clipped to it
    inside = a < 3900
    assert np.abs(out[inside].astype(int) - a[inside]).max() <= 0.005 * 4000


# ---------------------------------------------------------------- shapes and layout
@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (3, 1, 1), (2, 17, 3), (2, 3, 300),
                                   (4, 2, 3, 9, 11), (1,), ()])
@pytest.mark.parametrize("lossless", [True, False])
def test_any_frame_size_and_rank(shape, lossless):
    a = (np.arange(int(np.prod(shape))) * 37 % 1000).reshape(shape).astype(np.uint16)
    out = decode(encode(a, {"lossless": True} if lossless else {"qp": 0}))
    assert out.shape == a.shape and out.dtype == a.dtype
    if lossless:
        np.testing.assert_array_equal(out, a)
    else:  # padding/cropping kept every pixel in place: only small coding noise
        assert np.abs(out.astype(int) - a).max() <= 0.03 * (int(a.max()) - int(a.min()) + 1)


def test_frame_axis_is_configurable(nrt_bands):
    a = np.moveaxis(nrt_bands[:8], 0, 1)  # (band, T, y, x)
    b1 = encode(a, {"lossless": True, "frame_axis": 1})
    np.testing.assert_array_equal(decode(b1), a)
    assert chunk_info(b1)["frame_axis"] == 1
    with pytest.raises(CodecError, match="frame_axis"):
        encode(a, {"frame_axis": 2})


def test_zero_size_constant_and_all_nan_chunks():
    for a in (np.zeros((0, 4, 4), np.uint16), np.zeros((3, 0, 2), np.float32)):
        assert decode(encode(a)).shape == a.shape
    const = np.full((4, 9, 9), 1234, np.uint16)
    blob = encode(const)
    assert chunk_info(blob)["stream_bytes"] == 0
    np.testing.assert_array_equal(decode(blob), const)
    nan = np.full((4, 9, 9), np.nan, np.float64)
    out = decode(encode(nan, {"lossless": True}))
    assert out.dtype == np.float64 and np.isnan(out).all()
    fconst = np.full((2, 3, 3), 0.1, np.float32)
    np.testing.assert_array_equal(decode(encode(fconst)), fconst)


@pytest.mark.parametrize("dtype", [np.complex64, np.bool_, object, np.float16, "M8[ns]", "U3",
                                   np.int64, np.uint64])
def test_unsupported_dtypes_are_refused(dtype):
    with pytest.raises(CodecError, match="not supported"):
        encode(np.zeros((2, 4, 4), dtype=dtype))


@pytest.mark.parametrize("dtype", ["int16", "int32", "uint32", "int8"])
def test_lossy_signed_and_wide_integers(nrt_b2, dtype):
    info = np.iinfo(dtype)
    a = nrt_b2[:8, :64, :64].astype(np.float64)
    a = (a - a.min()) / (a.max() - a.min()) * (0.9 * (float(info.max) - info.min)) + info.min
    a = np.rint(a).astype(dtype)
    out = decode(encode(a, {"crf": 4}))
    assert out.dtype == a.dtype
    span = float(a.max()) - float(a.min())
    assert psnr(a.astype(np.float64), out.astype(np.float64)) > 45
    assert out.min() >= a.min() and out.max() <= a.max()
    assert np.abs(out.astype(np.float64) - a).max() < 0.05 * span


def test_bad_params_are_refused():
    for bad in ({"codec": "mpeg2"}, {"codec": "ffv1"}, {"bit_depth": 16}, {"qp": -1},
                {"codec": "av1", "bit_depth": 12}, {"value_range": (5, 1)},
                {"crf": 10, "qp": 10}, {"lossless": True, "codec": "av1"}, {"colour": 1}):
        with pytest.raises(CodecError):
            VideoParams.from_config(bad)


def test_big_endian_input_is_accepted(nrt_b2):
    a = nrt_b2[:2, :10, :10].astype(">u2")
    out = decode(encode(a, {"lossless": True}))
    np.testing.assert_array_equal(out, a)


# ---------------------------------------------------------------- container
def test_container_overhead_is_below_one_percent_at_half_bit(nrt_b2):
    """(16, 1, 256, 256) lossy chunk near 0.5 bpp: non-bitstream bytes <= 1 %."""
    tile = np.tile(nrt_b2[:16], (1, 3, 3))[:, :256, :256][:, None]
    for crf in (8, 6, 4, 2, 0):
        blob = encode(tile, {"crf": crf})
        bpp = len(blob) * 8 / tile.size
        if bpp >= 0.4:
            break
    assert 0.35 <= bpp < 1.0, bpp
    info = chunk_info(blob)
    packet_tables = 8  # the few varint bytes per plane are counted as overhead too
    overhead = info["header_bytes"] + packet_tables
    assert overhead / len(blob) <= 0.01, (overhead, len(blob))


def test_x265_stream_has_no_settings_text(nrt_b2):
    blob = encode(nrt_b2[:4])
    assert b"x265 (build" not in blob and b"options:" not in blob


def test_unknown_future_version_is_reported():
    from xgeo_codecs._container import FORMAT_VERSION

    blob = bytearray(encode(np.zeros((2, 2), np.uint8)))
    blob[4] = FORMAT_VERSION + 1
    with pytest.raises(CodecError, match="upgrade"):
        decode(bytes(blob))


# ---------------------------------------------------------------- encoders
def test_auto_encoder_falls_back_to_software_without_gpu(nrt_b2, monkeypatch):
    probe.clear_cache()
    tried = []
    real = probe._can_encode
    monkeypatch.setattr(probe, "_can_encode", lambda name: tried.append(name) or real(name))
    blob = encode(nrt_b2[:4, :32, :32], {"encoder": "auto"})
    assert tried[:2] == ["hevc_nvenc", "hevc_qsv"]  # hardware was really probed first
    assert chunk_info(blob)["encoder"] == "libx265"  # and the fallback is recorded
    encode(nrt_b2[:4, :32, :32], {"encoder": "auto"})
    assert len(tried) == len(probe.HARDWARE_ENCODERS["hevc"])  # probed once, then cached
    out = decode(blob, decoder="auto")  # no NVDEC here: software decode, same pixels
    np.testing.assert_array_equal(out, decode(blob))


def test_explicit_missing_hardware_encoder_gives_codec_error(nrt_b2):
    with pytest.raises(CodecError, match="hevc_nvenc"):
        encode(nrt_b2[:2, :64, :64], {"encoder": "hevc_nvenc"})


def test_a_lossless_span_too_wide_suggests_ffv1_only_where_it_helps(nrt_b2):
    wide = nrt_b2[:4, :64, :64].astype("uint32") * 40000  # spans far more than 16 bits
    for codec in ("hevc", "ffv1"):
        with pytest.raises(CodecError, match=r"spans \d+; use lossy mode") as err:
            encode(wide, {"lossless": True, "codec": codec})
        assert "ffv1" not in str(err.value)
    mid = nrt_b2[:4, :64, :64].astype("int32") * 3  # 12 < span <= 16 bits: FFV1 takes it
    with pytest.raises(CodecError, match=r"use codec='ffv1' \(16 bit\)"):
        encode(mid, {"lossless": True, "codec": "hevc"})
    np.testing.assert_array_equal(decode(encode(mid, {"lossless": True, "codec": "ffv1"})), mid)
