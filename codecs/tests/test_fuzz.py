"""Corrupt input never crashes, hangs or returns a wrong shape: it raises CodecError."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from xgeo_codecs import CodecError, decode, encode


@pytest.fixture(scope="module")
def blobs(nrt_b2, cloudy_reflectance):
    """Real chunks in every mode: FFV1, HEVC, AV1, VP9, masks, constant planes, empty."""
    return [
        encode(nrt_b2[:8, :48, :40], {"lossless": True}),
        encode(nrt_b2[:8, :64, :64], {"crf": 12}),
        encode(cloudy_reflectance[:6, :50, :50], {"crf": 20}),
        encode(cloudy_reflectance[:4, :30, :30], {"lossless": True}),
        encode(nrt_b2[:4, :64, :64], {"codec": "av1"}),
        encode(nrt_b2[:4, :32, :32], {"codec": "vp9"}),
        encode(np.full((3, 5, 5), 7, np.uint16)),
        encode(np.zeros((0, 4, 4), np.float32)),
    ]


def _mutations(blob: bytes, rng: np.random.Generator, n: int):
    b = np.frombuffer(blob, np.uint8)
    for i in range(n):
        kind = i % 4
        if kind == 0:  # truncation
            yield blob[: int(rng.integers(0, len(blob)))]
        elif kind == 1:  # 1-8 bit flips
            m = b.copy()
            for _ in range(int(rng.integers(1, 9))):
                pos = int(rng.integers(0, len(m)))
                m[pos] ^= np.uint8(1 << int(rng.integers(0, 8)))
            yield m.tobytes()
        elif kind == 2:  # a run of random bytes overwritten
            m = b.copy()
            start = int(rng.integers(0, len(m)))
            stop = min(len(m), start + int(rng.integers(1, 64)))
            m[start:stop] = rng.integers(0, 256, stop - start, dtype=np.uint8)
            yield m.tobytes()
        else:  # random bytes, sometimes with our magic in front
            junk = rng.integers(0, 256, int(rng.integers(0, 300)), dtype=np.uint8).tobytes()
            yield (b"XGVC\x01" + junk) if i % 8 == 3 else junk


def test_ten_thousand_mutated_blobs_raise_codec_error(blobs):
    rng = np.random.default_rng(20261126)
    n = 0
    for blob in blobs:
        for bad in _mutations(blob, rng, 1260):
            if bad == blob:
                continue
            with pytest.raises(CodecError):
                decode(bad)
            n += 1
    assert n >= 10_000


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_corrupt_payload_behind_a_valid_checksum_is_contained(blobs, nrt_b2):
    """Damage that also fixes the CRC up reaches the parsers and libav: still no crash,
    and anything that does decode has exactly the announced shape and dtype."""
    rng = np.random.default_rng(7)
    decoded = errors = 0
    for blob in blobs[:6]:
        want = decode(blob)
        body = np.frombuffer(blob[:-4], np.uint8)
        for _ in range(60):
            m = body.copy()
            pos = rng.integers(0, len(m), int(rng.integers(1, 4)))
            m[pos] ^= rng.integers(1, 256, len(pos), dtype=np.uint8)
            try:
                out = decode(_with_crc(m.tobytes()))
            except CodecError:
                errors += 1
                continue
            assert out.shape == want.shape and out.dtype == want.dtype
            decoded += 1
    assert errors > 0


def test_wrong_types_and_trailing_bytes(blobs):
    with pytest.raises(CodecError):
        decode(blobs[0] + b"\x00")
    with pytest.raises(CodecError):
        decode(b"")
    with pytest.raises(CodecError):
        decode(memoryview(b"XGVC\x01\x00\x05\x00{}"))
