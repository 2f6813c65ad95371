"""Infinities are stored exactly (mask sections "inf" / "-inf", like NaN) and kept out of the
value range in every mode; a finite range float64 cannot hold is a typed error, never NaN."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from xgeo_codecs import CodecError, VideoSerializer, chunk_info, decode, encode


@pytest.fixture(scope="module")
def band(eo_reflectance) -> np.ndarray:
    """eo-learn B01 reflectance (5, 101, 100) float32 on a 1e-4 grid (3150 steps), with +inf,
    -inf and NaN at a few places."""
    a = eo_reflectance[:, 0].copy()
    a[0, 0, 0] = np.inf
    a[2, 50, 40] = -np.inf
    a[4, 100, 99] = np.inf
    a[1, 10, 10] = np.nan
    return a


def _check(a: np.ndarray, d: np.ndarray, bound: float) -> None:
    """Non-finite values exact (bitwise), finite ones within ``bound``."""
    fin = np.isfinite(a)
    np.testing.assert_array_equal(d[~fin], a[~fin])  # NaN == NaN here, inf == inf
    assert np.isfinite(d[fin]).all()
    assert np.abs(d[fin].astype(np.float64) - a[fin]).max() <= bound


@pytest.mark.parametrize("params, bound", [
    ({"crf": 6.0}, 0.02),
    ({"crf": 6.0, "reorder_frames": True}, 0.02),
    ({"max_error": 0.002}, 0.002),
    ({"psnr": 45.0}, 0.05),
    ({"bpppb": 2.0}, 0.05),
    ({"lossless": True}, 0.0),
    ({"lossless": True, "codec": "hevc"}, 0.0),
])
def test_infinities_round_trip_exactly_in_every_mode(band, params, bound):
    blob = encode(band, params)
    _check(band, decode(blob), bound)
    vals = [m[1] for m in chunk_info(blob)["masks"]]
    assert "inf" in vals and "-inf" in vals and "nan" in vals


def test_infinities_with_klt(eo_reflectance):
    a = eo_reflectance[:, :4].copy()  # (5, 4, 101, 100): the bands are the planes
    a[0, 1, 0, 0], a[3, 2, 7, 9] = np.inf, -np.inf
    blob = encode(a, {"decorrelate": "klt", "crf": 4.0})
    assert "klt" in chunk_info(blob)
    _check(a, decode(blob), 0.05)


def test_infinities_through_the_zarr_serializer(tmp_path, band):
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=band.shape, chunks=(5, 64, 64),
                          dtype=band.dtype, serializer=VideoSerializer(max_error=0.002),
                          fill_value=float("nan"))
    z[:] = band
    _check(band, zarr.open_array(str(tmp_path / "a.zarr"), mode="r")[:], 0.002)


def test_float64_range_beyond_float64_arithmetic_is_a_typed_error(eo_reflectance):
    r = eo_reflectance[:, 0].astype(np.float64)
    a = ((r - r.min()) / np.ptp(r) * 2 - 1) * 1.7e308  # -1.7e308..1.7e308: hi - lo overflows
    for params in ({}, {"max_error": 1e300}, {"psnr": 40.0}):
        with pytest.raises(CodecError, match="overflows"):
            encode(a, params)
    # a wide range that float64 still holds codes correctly
    b = eo_reflectance[:, 0].astype(np.float64) * 1e300
    d = decode(encode(b, {"crf": 6.0}))
    assert np.isfinite(d).all()
    assert np.abs(d - b).max() <= 0.02 * 1e300


def test_infinite_value_range_is_refused():
    with pytest.raises(CodecError, match="finite"):
        encode(np.zeros((2, 8, 8), "float32"), {"value_range": (0.0, float("inf"))})
