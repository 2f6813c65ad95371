"""Parameters as users pass them: NumPy scalars, wrong types, contradictory encoders, and the
read-side choices that belong to the reading machine. Each case failed before its fix
(a bare TypeError from json or inside the encoder, a chunk that could never be decoded, a
string taken for a truthy flag)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import zarr
from xgeo_codecs import (
    CodecError,
    VideoCodec,
    VideoParams,
    VideoSerializer,
    chunk_info,
    decode,
    encode,
)


@pytest.mark.parametrize("kwargs, field, plain", [
    ({"nodata": np.uint16(0)}, "nodata", 0),  # what an xarray _FillValue attribute often is
    ({"nodata": np.array([65535], "uint16")}, "nodata", 65535),  # a netCDF attribute's form
    ({"max_error": np.float32(5)}, "max_error", 5.0),
    ({"lossless": np.True_}, "lossless", True),
    ({"crf": np.float32(6.5)}, "crf", 6.5),
    ({"frame_axis": np.int64(0)}, "frame_axis", 0),
    ({"keyint": np.int64(2)}, "keyint", 2),
    ({"threads": np.int64(1)}, "threads", 1),
    ({"reorder_frames": np.False_}, "reorder_frames", False),
])
def test_numpy_scalars_are_taken_as_the_python_numbers_they_hold(tmp_path, kwargs, field, plain):
    p = VideoParams(**kwargs)
    got = getattr(p, field)
    assert got == plain and type(got) is type(plain)
    json.dumps(VideoCodec(**kwargs).get_config())  # JSON, as numcodecs stores it
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=(4, 16, 16), chunks=(4, 16, 16),
                          dtype="uint16", serializer=VideoSerializer(**kwargs), compressors=None,
                          fill_value=p.nodata or 0)
    a = (np.arange(4 * 16 * 16) % 700).astype("uint16").reshape(4, 16, 16)
    z[:] = a
    assert zarr.open_array(str(tmp_path / "a.zarr")).serializer.params == p


@pytest.mark.parametrize("kwargs, match", [
    ({"lossless": "no"}, "lossless='no'; pass True or False"),  # was a lossless chunk
    ({"lossless": "false"}, "lossless='false'"),
    ({"psnr": True}, "psnr=True; pass a number"),  # was a 1 dB target
    ({"psnr": "48"}, "psnr='48'; pass a number"),  # was stored as a string
    ({"bpppb": "0.5"}, "bpppb='0.5'"),
    ({"bit_depth": 8.0}, "bit_depth=8.0; pass a whole number"),  # failed inside the encoder
    ({"nodata": "abc"}, "nodata='abc'"),
    ({"scale_factor": "x"}, "scale_factor='x'"),
    ({"scale_factor": 0}, "scale_factor=0 must be a finite number other than 0"),
    ({"add_offset": math.inf}, "add_offset=inf must be a finite number"),
    ({"value_range": 5}, r"value_range=5; pass \(lo, hi\)"),
    ({"value_range": (0, 1, 2)}, r"value_range=\(0, 1, 2\); pass \(lo, hi\)"),
    ({"max_error": math.inf}, "max_error=inf must be > 0 and finite"),  # math domain error
    ({"frame_axis": "x"}, "frame_axis='x'"),
])
def test_values_of_the_wrong_type_are_refused_naming_the_parameter(kwargs, match):
    with pytest.raises(CodecError, match=match):
        VideoParams(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"codec": "hevc", "encoder": "ffv1"}, "encoder='ffv1' codes ffv1, not hevc"),
    ({"codec": "av1", "encoder": "libx265"}, "encoder='libx265' codes hevc, not av1"),
    ({"codec": "vp9", "encoder": "libsvtav1"}, "codes av1, not vp9"),
    ({"codec": "hevc", "encoder": "libvpx-vp9"}, "codes vp9, not hevc"),
    ({"lossless": True, "encoder": "libx265"}, "pass codec='hevc' with it"),  # FFV1 was used
    ({"codec": "av1", "encoder": "libaom-av1"}, "is not an encoder of this codec"),
    ({"encoder": 5}, "encoder=5 is not an encoder"),
])
def test_an_encoder_of_another_family_is_refused_before_a_chunk_is_written(kwargs, match):
    """The header named one family and held another's stream: every decode failed."""
    with pytest.raises(CodecError, match=match):
        VideoParams(**kwargs)
    with pytest.raises(CodecError, match=match):
        zarr.create_array(zarr.storage.MemoryStore(), shape=(4, 16, 16), chunks=(4, 16, 16),
                          dtype="uint16", serializer=VideoSerializer(**kwargs),
                          compressors=None)


def test_an_encoder_of_the_family_is_taken():
    assert VideoParams(codec="hevc", lossless=True, encoder="libx265").encoder == "libx265"
    assert VideoParams(codec="av1", encoder="av1_nvenc").encoder == "av1_nvenc"


def test_the_numcodecs_face_refuses_big_endian_buffers_it_would_give_back_swapped(tmp_path):
    """Zarr format 2 views the decoded bytes as its dtype: a '>i2' array read back
    byte-swapped values (-500 as 3326) with no error."""
    x = (np.arange(4 * 24 * 24) % 1000 - 500).astype(">i2").reshape(4, 24, 24)
    with pytest.raises(CodecError, match=r"big-endian \(>i2\); store it as <i2"):
        VideoCodec(lossless=True).encode(x)
    with pytest.raises(CodecError, match="big-endian"):
        z = zarr.create_array(str(tmp_path / "be.zarr"), shape=x.shape, chunks=x.shape,
                              dtype=">i2", compressors=VideoCodec(lossless=True),
                              zarr_format=2, filters=None, fill_value=None)
        z[:] = x
    le = x.astype("<i2")  # what the message says to store, and the core takes values
    np.testing.assert_array_equal(VideoCodec(lossless=True).decode(
        VideoCodec(lossless=True).encode(le)), x)
    np.testing.assert_array_equal(decode(encode(x, {"lossless": True})), x)


def test_stats_with_lossless_records_no_crf():
    """``stats=True`` with the default lossless coder failed with KeyError 'ffv1'; with
    x265's lossless mode it recorded crf 6, which no lossless chunk is coded with."""
    a = (np.arange(4 * 32 * 32) % 900).astype("uint16").reshape(4, 32, 32)
    for extra in ({}, {"codec": "hevc"}):
        blob = encode(a, {"lossless": True, "stats": True, **extra})
        np.testing.assert_array_equal(decode(blob), a)
        q = chunk_info(blob)["quality"]
        assert q["max_error"] == 0.0 and q.get("crf") is None and "qp" not in q


@pytest.mark.parametrize("shape", [(0, 2, 24, 24), (3, 2, 0, 24)])
@pytest.mark.parametrize("target", [{"max_error": 0.5}, {"psnr": 40}, {"bpppb": 1},
                                    {"stats": True}])
def test_empty_chunks_with_a_quality_target_are_stored_exactly(shape, target):
    a = np.zeros(shape, "uint16")
    out = decode(encode(a, target))
    assert out.shape == shape and out.dtype == a.dtype


def test_an_empty_frame_list_decodes_no_frame_like_an_empty_slice():
    a = (np.arange(4 * 16 * 16) % 300).astype("uint16").reshape(4, 16, 16)
    blob = encode(a, {"lossless": True})
    assert decode(blob, frames=[]).shape == decode(blob, frames=slice(3, 3)).shape == (0, 16, 16)


def test_a_nan_nodata_codec_equals_its_json_round_trip():
    c = VideoCodec(nodata=float("nan"), crf=8)
    again = VideoCodec.from_config(json.loads(json.dumps(c.get_config())))
    assert again == c and hash(again) == hash(c)


def test_a_null_stored_configuration_reads_as_an_absent_one():
    s = VideoSerializer.from_dict({"name": "xgeo.video", "configuration": None})
    assert s == VideoSerializer.from_dict({"name": "xgeo.video"})


def test_the_reading_machine_chooses_the_decoder_not_the_stored_config(monkeypatch):
    """An array written with decoder="software" ignored the reader's $XGEO_CODECS_DECODER."""
    a = (np.arange(4 * 32 * 32) % 900).astype("uint16").reshape(4, 32, 32)
    store = zarr.storage.MemoryStore()
    z = zarr.create_array(store, shape=a.shape, chunks=a.shape, dtype="uint16",
                          serializer=VideoSerializer(crf=10, decoder="software"),
                          compressors=None, fill_value=0)
    z[:] = a
    assert zarr.open_array(store).serializer.params.decoder is None
    monkeypatch.setenv("XGEO_CODECS_DECODER", "reader-choice")
    with pytest.raises(CodecError, match="reader-choice"):
        zarr.open_array(store)[:]
