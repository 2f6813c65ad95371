"""Container format 8: a chunk header stored as raw DEFLATE when that saves >= 1 % of the
chunk, measured per chunk; tampered deflated headers are typed errors; v8 fixtures decode
forever."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from codec_testdata import EOPATCH, NRT, raw
from xgeo_codecs import CodecError, VideoCodec, chunk_info, decode, encode
from xgeo_codecs import _container as container

FIX8 = Path(__file__).resolve().parent / "fixtures" / "video" / "v8" / "deflated"
PREFIX = struct.Struct("<4sBBH")


def _frame(version: int, flags: int, body: bytes, rest: bytes) -> bytes:
    out = PREFIX.pack(b"XGVC", version, flags, len(body)) + body + rest
    return out + struct.pack("<I", zlib.crc32(out))


def _parts(blob: bytes) -> tuple[int, int, bytes, bytes]:
    _, version, flags, n = PREFIX.unpack_from(blob)
    return version, flags, blob[8: 8 + n], blob[8 + n: -4]


def _deflate(text: bytes) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    return z.compress(text) + z.flush()


@pytest.fixture(scope="module")
def small_many_bands(eo_reflectance):
    """The case built to favour deflating: 13 bands x 5 dates of small frames at a low rate
    (KLT bounds, 13 plane mappings and the quality record in a few kB of chunk)."""
    return np.ascontiguousarray(eo_reflectance[:, :, :48, :48])


@pytest.fixture(scope="module")
def big_one_band(nrt_b2):
    """The case built against it: one band, 32 dates of 100 x 100 at a high rate."""
    return np.ascontiguousarray(nrt_b2)


def test_a_header_that_is_a_large_part_of_a_small_chunk_is_deflated(small_many_bands,
                                                                    monkeypatch):
    """Fixed crf: the same streams either way; deflating saves only header bytes, >= 1 %."""
    params = {"crf": 30, "decorrelate": "klt", "reorder_frames": False}
    blob = encode(small_many_bands, params)
    version, flags, stored, rest = _parts(blob)
    assert version == 8 and flags == container.DEFLATED and chunk_info(blob)["format_version"] == 8
    monkeypatch.setattr(container, "DEFLATE_MIN_SAVING", float("inf"))  # deflating off
    plain = encode(small_many_bands, params)
    p_version, p_flags, text, p_rest = _parts(plain)
    assert p_version == 3 and p_flags == 0 and p_rest == rest  # klt needs 3
    assert zlib.decompress(stored, -15) == text
    assert len(plain) - len(blob) == len(text) - len(stored) >= 0.01 * len(plain)
    np.testing.assert_array_equal(decode(blob), decode(plain))


def test_a_rate_target_spends_the_saved_header_bytes_on_the_planes(small_many_bands):
    """bpppb= counts every byte: the quality record settles on the deflated chunk's size."""
    blob = encode(small_many_bands, {"bpppb": 0.1, "decorrelate": "klt"})
    info = chunk_info(blob)
    assert info["format_version"] == 8
    assert info["quality"]["bpppb"] == pytest.approx(len(blob) * 8 / small_many_bands.size,
                                                     abs=1e-5)


def test_a_large_chunk_keeps_the_version_its_keys_need(big_one_band):
    blob = encode(big_one_band, {"crf": 8})
    version, flags, _, _ = _parts(blob)
    assert flags == 0 and version < 8


@pytest.mark.parametrize("damage, match", [
    ("other-flag", "flags 0x03"),
    ("not-deflate", "does not inflate"),
    ("truncated", "truncated"),
    ("trailing", "after its end"),
    ("bomb", "inflates beyond"),
])
def test_a_tampered_deflated_header_is_a_codec_error(small_many_bands, damage, match):
    blob = encode(small_many_bands, {"bpppb": 0.1, "decorrelate": "klt"})
    version, flags, stored, rest = _parts(blob)
    assert version == 8 and flags == 1
    if damage == "other-flag":
        bad = _frame(8, 0x03, stored, rest)
    elif damage == "not-deflate":
        bad = _frame(8, 1, b"\xff" * 40, rest)
    elif damage == "truncated":
        bad = _frame(8, 1, stored[: len(stored) // 2], rest)
    elif damage == "trailing":
        bad = _frame(8, 1, stored + b"\x00junk", rest)
    else:  # 2 MiB of spaces deflate to ~2 kB: never inflated past the limit
        bad = _frame(8, 1, _deflate(b" " * (2 * 2**20)), rest)
    for read in (decode, chunk_info):
        with pytest.raises(CodecError, match=match):
            read(bad)


def test_before_format_8_the_flags_byte_is_still_ignored(big_one_band):
    blob = encode(big_one_band, {"crf": 4})
    version, flags, text, rest = _parts(blob)
    assert version < 8
    np.testing.assert_array_equal(decode(_frame(version, 0xA5, text, rest)), decode(blob))


def test_v8_fixtures_decode_identically():
    """Committed format-8 chunks (never regenerated) keep decoding to the same values."""
    from codec_testdata import assert_fixture_case_decodes

    for folder in sorted(FIX8.glob("codec.*")):
        assert_fixture_case_decodes(folder, 8)
    assert len(list(FIX8.glob("codec.*"))) == 3


def test_v8_fixture_of_groups_cut_from_one_frame_path_reads_date_by_date():
    """codec.02: keyint groups of 4 taken from one similarity path over the chunk's 12 dates
    (so groups hold dates from all over it); a read of each date alone gives the stored
    values, forever."""
    folder = FIX8 / "codec.02"
    blob = (folder / "encoded.00.dat").read_bytes()
    want = np.load(folder / "decoded.00.npy")
    info = chunk_info(blob)
    order, k = info["frame_order"], info["keyint"]["frames"]
    assert any(sorted(order[g:g + k]) != list(range(g, g + k)) for g in range(0, 12, k))
    for date in range(12):
        np.testing.assert_array_equal(decode(blob, frames=[date]), want[[date]])


def write_v8_fixtures() -> None:  # pragma: no cover - run by hand when a case is added
    """Writes the cases whose folder does not exist yet; committed ones are never rewritten."""
    from codec_testdata import write_fixture_case

    refl = raw(EOPATCH, "reflectance").astype(np.float32)
    cases = [({"bpppb": 0.1, "decorrelate": "klt"}, refl[:, :, :40, :40]),
             ({"crf": 28.0, "decorrelate": "klt", "reorder_frames": True},
              refl[:, :6, :32, :32]),
             ({"crf": 12.0, "nodata": 0, "keyint": 4, "reorder_frames": True},
              raw(NRT, "B8")[:12, :64, :64])]
    for j, (cfg, arr) in enumerate(cases):
        d = FIX8 / f"codec.{j:02d}"
        if not d.exists():
            write_fixture_case(d, VideoCodec(**cfg), [np.ascontiguousarray(arr)])


if __name__ == "__main__" and os.environ.get("XGEO_WRITE_FIXTURES") == "1":
    write_v8_fixtures()


@pytest.mark.parametrize("shape", [(1, 8, 8), (2, 16, 16), (5, 13, 24, 24)])
def test_the_quality_record_counts_the_chunk_to_within_a_few_bytes(eo_reflectance, shape):
    """Tiny chunks, whose deflated header's length can cycle with the record's digits (an
    8 x 8 one has no length that reproduces itself: 2 bytes off)."""
    a = np.ascontiguousarray(eo_reflectance[tuple(slice(0, k) for k in shape)]
                             if len(shape) == 4 else eo_reflectance[:shape[0], 0, :shape[1], :shape[2]])
    blob = encode(a, {"bpppb": 0.5, "decorrelate": "klt"})
    recorded = chunk_info(blob)["quality"]["bpppb"] * a.size / 8
    assert abs(recorded - len(blob)) <= 3
