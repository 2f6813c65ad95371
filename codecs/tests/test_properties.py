"""Hypothesis property tests: lossless is bit-exact; lossy keeps its promises."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xgeo_codecs import decode, encode

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

shapes = st.one_of(
    st.tuples(st.integers(1, 40), st.integers(1, 40)),
    st.tuples(st.integers(1, 6), st.integers(1, 40), st.integers(1, 40)),
    st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 24), st.integers(1, 24)),
)


@st.composite
def integer_chunks(draw):
    shape = draw(shapes)
    dtype = np.dtype(draw(st.sampled_from(["uint8", "uint16", "int16", "int32", "int8"])))
    info = np.iinfo(dtype)
    lo = draw(st.integers(int(info.min), int(info.max)))
    span = draw(st.integers(0, min(65535, int(info.max) - lo)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return rng.integers(lo, lo + span, shape, endpoint=True).astype(dtype)


@SETTINGS
@given(integer_chunks())
def test_lossless_integer_is_bit_exact(a):
    out = decode(encode(a, {"lossless": True}))
    assert out.dtype == a.dtype and out.shape == a.shape
    np.testing.assert_array_equal(out, a)


@SETTINGS
@given(shapes, st.integers(0, 2**32 - 1), st.sampled_from([1, 10, 100, 10000]),
       st.floats(0.0, 0.9), st.sampled_from(["float32", "float64"]))
def test_lossless_float_on_decimal_grid_with_nan_is_bit_exact(shape, seed, div, nan_frac, dt):
    rng = np.random.default_rng(seed)
    a = (rng.integers(0, 30000, shape) / div).astype(dt)
    a[rng.random(shape) < nan_frac] = np.nan
    out = decode(encode(a, {"lossless": True}))
    assert out.dtype == a.dtype
    np.testing.assert_array_equal(out, a)


def _smooth(shape, rng):
    """Random smooth field (bilinear upsampling of a coarse grid), like a real scene."""
    t_h_w = shape[-2:]
    coarse = rng.random(shape[:-2] + (3, 3))
    yi = np.linspace(0, 2, t_h_w[0])
    xi = np.linspace(0, 2, t_h_w[1])
    rows = np.stack([np.interp(yi, [0, 1, 2], c) for c in coarse.reshape(-1, 3, 3)
                     .transpose(0, 2, 1).reshape(-1, 3)]).reshape(-1, 3, t_h_w[0])
    field = np.stack([[np.interp(xi, [0, 1, 2], r[:, k]) for k in range(t_h_w[0])]
                      for r in rows])
    return field.reshape(shape)


@SETTINGS
@given(shapes, st.integers(0, 2**32 - 1), st.sampled_from(["hevc", "av1", "vp9"]),
       st.floats(0.0, 0.5))
def test_lossy_keeps_mask_range_shape_and_bounded_error(shape, seed, codec, nan_frac):
    """Lossy promise: shape/dtype kept, NaN exactly where it was, values within the valid
    range, and on smooth data at the highest quality setting a small error."""
    rng = np.random.default_rng(seed)
    a = (1000 + 5000 * _smooth(shape, rng)).astype(np.float32)
    a[rng.random(shape) < nan_frac] = np.nan
    params = {"codec": codec, "qp": 0} if codec == "hevc" else {"codec": codec, "crf": 1}
    out = decode(encode(a, params))
    assert out.shape == a.shape and out.dtype == a.dtype
    np.testing.assert_array_equal(np.isnan(out), np.isnan(a))
    if np.isnan(a).all():
        return
    lo, hi = np.nanmin(a), np.nanmax(a)
    assert np.nanmin(out) >= lo - 1e-3 * (hi - lo) and np.nanmax(out) <= hi + 1e-3 * (hi - lo)
    bits = 12 if codec == "hevc" else (10 if codec == "av1" else 8)
    tol = max(0.05 * (hi - lo), 4 * (hi - lo) / (2**bits - 1))
    assert np.nanmax(np.abs(out - a)) <= tol
