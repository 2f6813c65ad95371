"""-0.0 in float chunks: lossless keeps the sign bit or refuses, and a nodata of 0.0 (Zarr's
default float fill value) does not swallow -0.0 pixels. Before: a plane of 0.0 and -0.0 was
stored as one constant, and -0.0 pixels were masked as the fill value and came back 0.0,
under a chunk that claimed lossless."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from xgeo_codecs import CodecError, VideoSerializer, decode, encode


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(f"u{a.dtype.itemsize}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_constant_negative_zero_plane_keeps_its_sign(dtype):
    x = np.full((2, 4, 4), -0.0, dtype)
    np.testing.assert_array_equal(_bits(decode(encode(x, {"lossless": True}))), _bits(x))


def test_a_lossless_plane_of_both_zeros_is_refused_saying_how_to_store_it():
    x = np.zeros((2, 4, 4), "float32")
    x[:, :, ::2] = -0.0
    with pytest.raises(CodecError, match="-0.0 beside other values.*adding 0.0"):
        encode(x, {"lossless": True})
    y = x + 0.5  # the same values on a grid, -0.0 among them
    y[0, 0, 0] = -0.0
    with pytest.raises(CodecError, match="-0.0 beside other values"):
        encode(y, {"lossless": True})
    fixed = y + 0.0  # what the message says: -0.0 + 0.0 is 0.0
    np.testing.assert_array_equal(_bits(decode(encode(fixed, {"lossless": True}))),
                                  _bits(fixed))


def test_negative_zero_is_data_when_the_fill_value_is_zero():
    v = (np.arange(2 * 16 * 16, dtype="float32").reshape(2, 16, 16) % 7) + 1
    v[0, 0, :4] = -0.0
    v[1, 0, :4] = 0.0  # the fill value: masked and restored exactly
    z = zarr.create_array(zarr.storage.MemoryStore(), shape=v.shape, chunks=v.shape,
                          dtype="float32", serializer=VideoSerializer(crf=4),
                          compressors=None)
    assert z.fill_value == 0.0
    z[:] = v
    out = z[:]
    assert np.signbit(out[1, 0, :4]).sum() == 0 and (out[1, 0, :4] == 0).all()
    # -0.0 is coded as data (near 0 after lossy coding), not taken for the fill value
    assert np.abs(out[0, 0, :4]).max() < 0.5
    with pytest.raises(CodecError, match="-0.0 beside other values"):
        zarr.create_array(zarr.storage.MemoryStore(), shape=v.shape, chunks=v.shape,
                          dtype="float32", serializer=VideoSerializer(lossless=True),
                          compressors=None)[:] = v
