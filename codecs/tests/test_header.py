"""Malformed chunk headers behind a valid checksum: a CodecError naming the field, from
decode and inspect alike (issue 15, item 9)."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from xgeo_codecs import CodecError, chunk_info, decode, encode


def _split(blob: bytes) -> tuple[int, dict, bytes]:
    """(version, header, sections); a deflated header (format 8) is inflated, and is
    written back by :func:`_join` as JSON, which format 8 also allows (flags 0)."""
    _, version, flags, n = struct.unpack_from("<4sBBH", blob)
    text = blob[8: 8 + n]
    if version >= 8 and flags & 1:
        text = zlib.decompress(text, -15)
    return version, json.loads(text), blob[8 + n: -4]


def _join(version: int, body: bytes, rest: bytes) -> bytes:
    out = struct.pack("<4sBBH", b"XGVC", version, 0, len(body)) + body + rest
    return out + struct.pack("<I", zlib.crc32(out))


@pytest.fixture(scope="module")
def chunk(nrt_b2):
    """A real format-4 chunk: nodata mask, reordered frames, HEVC stream."""
    a = nrt_b2[:5, :64, :64]
    return encode(a, {"crf": 20, "nodata": int(a[0, 0, 0]), "reorder_frames": True})


EDITS = [  # (what is done to the header, the field the error must name)
    (lambda m: m.update(shape="32x64"), "shape"),
    (lambda m: m.update(shape=[5, 64.0, 64]), "shape"),
    (lambda m: m.update(shape=[5, -64, 64]), "shape"),
    (lambda m: m.update(dtype=7), "dtype"),
    (lambda m: m.update(frame_axis=None), "frame_axis"),
    (lambda m: m.update(frame_axis=True), "frame_axis"),
    (lambda m: m.update(bit_depth="12"), "bit_depth"),
    (lambda m: m.update(bit_depth=float("nan")), "bit_depth"),
    (lambda m: m.update(coded=[64]), "coded"),
    (lambda m: m.update(coded=[64, 10**9]), "coded"),
    (lambda m: m.update(family=["hevc"]), "family"),
    (lambda m: m.update(encoder=None), "encoder"),
    (lambda m: m.update(options=[]), "options"),
    (lambda m: m.update(options={"preset": {"deep": 1}}), "options.preset"),
    (lambda m: m.update(masks={"0": 1}), "masks"),
    (lambda m: m["masks"][0].append(1), "masks[0]"),
    (lambda m: m["masks"][0].__setitem__(0, -5), "masks[0].length"),
    (lambda m: m["masks"][0].__setitem__(1, 1e9), "masks[0].value"),
    (lambda m: m["masks"][0].__setitem__(1, "nan"), "masks[0].value"),  # uint16 has no NaN
    (lambda m: m.update(planes=m["planes"] * 2), "planes"),
    (lambda m: m["planes"][0].__setitem__(1, "lin"), "planes[0].mapping.k"),
    (lambda m: m["planes"][0][1].update(k=["lin"]), "planes[0].mapping.k"),
    (lambda m: m["planes"][0][1].update(k="cubic"), "planes[0].mapping.k"),
    (lambda m: m["planes"][0][1].update(lo=float("inf")), "planes[0].mapping.lo"),
    (lambda m: m["planes"][0][1].pop("hi"), "planes[0].mapping"),
    (lambda m: m["planes"][0][1].update(extra=1), "planes[0].mapping"),
    (lambda m: m["planes"][0][1].update(bd=99), "planes[0].mapping.bd"),
    (lambda m: m["planes"][0][1].update(pred=1), "planes[0].mapping.rbase"),
    (lambda m: m.update(frame_order=[0, 1, 2]), "frame_order"),
    (lambda m: m.update(frame_order=[0, 1, 2, 3, 4.5]), "frame_order"),
    (lambda m: m.update(groups=[[0, 0, 0]]), "groups"),
    (lambda m: m.update(klt={"basis": 3}), "klt"),
    (lambda m: m.update(residual=[0, {"step": 1}]), "residual.info"),
    (lambda m: m.update(quality={"psnr": [[[]]]}), "quality.psnr"),
    (lambda m: m.update(Shape=[1]), "Shape"),
    (lambda m: m.pop("planes"), "planes"),
]


@pytest.mark.parametrize("edit, field", EDITS, ids=[f for _, f in EDITS])
def test_malformed_header_is_a_codec_error_naming_the_field(chunk, edit, field):
    version, meta, rest = _split(chunk)
    edit(meta)
    bad = _join(version, json.dumps(meta).encode(), rest)
    for read in (chunk_info, decode):
        with pytest.raises(CodecError, match=f"'{field.replace('[', '.').replace(']', '.')}'"):
            read(bad)


def test_keys_of_a_newer_format_are_refused_in_an_older_one(chunk):
    _, meta, rest = _split(chunk)
    with pytest.raises(CodecError, match="'frame_order' .*format version 3"):
        chunk_info(_join(3, json.dumps(meta).encode(), rest))


@pytest.mark.parametrize("depth", [50, 5000, 30000])
def test_deeply_nested_header_is_a_codec_error(chunk, depth):
    version, meta, rest = _split(chunk)
    body = json.dumps({**meta, "options": "<deep>"}).encode()
    body = body.replace(b'"<deep>"', b"[" * depth + b"]" * depth)
    bad = _join(version, body, rest)
    for read in (chunk_info, decode):
        with pytest.raises(CodecError, match="nested too deeply|'options'"):
            read(bad)


def test_section_lengths_must_add_up(chunk):
    version, meta, rest = _split(chunk)
    meta["planes"][0][0] -= 1
    with pytest.raises(CodecError, match="add up"):
        chunk_info(_join(version, json.dumps(meta).encode(), rest))


def test_value_preserving_header_edits_decode_to_the_same_values(chunk):
    """Edits that do not touch what the values mean: same values (not an error either)."""
    want = decode(chunk)
    version, meta, rest = _split(chunk)
    meta["encoder"] = "some-other-encoder"
    meta["options"] = {"preset": "slow", "n": 3, "x": None}
    meta = dict(reversed(list(meta.items())))
    got = decode(_join(version, json.dumps(meta, indent=1).encode(), rest))
    assert np.array_equal(got, want)
