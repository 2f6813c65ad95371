"""Memory order: Zarr format 2 ``order="F"`` and ``VideoCodec.decode(out=F array)`` read the
right values (the decoder hands back the memory order the encoder was given, format 5)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from codec_testdata import stamped
from xgeo_codecs import VideoCodec, chunk_info, decode, encode


@pytest.fixture(scope="module")
def cube(nrt_b2) -> np.ndarray:
    """A real non-square, non-symmetric (3, 40, 56) uint16 cube."""
    return np.ascontiguousarray(nrt_b2[:3, :40, :56])


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("chunks", [(3, 40, 56), (3, 32, 24)])
def test_zarr_format_2_honours_the_memory_order(tmp_path, cube, order, chunks):
    path = str(tmp_path / "v2.zarr")
    z = zarr.create_array(path, shape=cube.shape, chunks=chunks, dtype=cube.dtype,
                          zarr_format=2, compressors=VideoCodec(lossless=True), order=order,
                          fill_value=0)
    z[:] = cube
    back = zarr.open_array(path, mode="r")
    np.testing.assert_array_equal(back[:], cube)
    np.testing.assert_array_equal(back[1:3, 5:37, 3:50], cube[1:3, 5:37, 3:50])


def test_decode_into_an_f_ordered_out(cube):
    codec = VideoCodec(lossless=True)
    for given in (cube, np.asfortranarray(cube)):
        enc = codec.encode(given)
        for order in "CF":
            out = np.empty(cube.shape, cube.dtype, order=order)
            assert codec.decode(enc, out=out) is out
            np.testing.assert_array_equal(out, cube)
    # a flat ``out`` receives the bytes in the memory order the chunk was given, as
    # numcodecs' byte codecs do
    flat = np.empty(cube.size, cube.dtype)
    codec.decode(codec.encode(np.asfortranarray(cube)), out=flat)
    np.testing.assert_array_equal(flat, cube.ravel(order="F"))


def test_f_ordered_chunks_are_format_5_and_decode_f_ordered(cube):
    f = np.asfortranarray(cube)
    blob = encode(f, {"lossless": True})
    assert stamped(chunk_info(blob), 5) and chunk_info(blob)["order"] == "F"
    d = decode(blob)
    assert d.flags.f_contiguous and not d.flags.c_contiguous
    np.testing.assert_array_equal(d, cube)
    c = encode(cube, {"lossless": True})
    assert stamped(chunk_info(c), 1) and decode(c).flags.c_contiguous
    # with a quality target too (format 2 + order -> 5)
    q = encode(f, {"max_error": 2.0})
    assert stamped(chunk_info(q), 5)
    assert np.abs(decode(q).astype(np.int64) - cube).max() <= 2


def test_zarr_v3_codes_a_transposed_chunk_c_ordered(tmp_path, cube):
    """The v3 serializer gets values, not bytes: a transposed view gives a format-1 chunk
    (readable by older xgeo-codecs), not format 5."""
    from xgeo_codecs import VideoSerializer

    t = np.ascontiguousarray(cube.transpose(2, 1, 0)).transpose(2, 1, 0)  # F-ordered view
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=t.shape, chunks=t.shape, dtype=t.dtype,
                          serializer=VideoSerializer(lossless=True), compressors=None)
    z[:] = t
    np.testing.assert_array_equal(z[:], cube)
    blob = (tmp_path / "a.zarr" / "c" / "0" / "0" / "0").read_bytes()
    assert stamped(chunk_info(blob), 1)
