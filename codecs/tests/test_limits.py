"""Decompression and header-size bombs: refused before memory is spent (issue 15, items 7-8)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import tracemalloc
import zlib

import numpy as np
import pytest
import zarr
from xgeo_codecs import CodecError, VideoCodec, VideoSerializer, chunk_info, decode, encode
from xgeo_codecs.mask import unpack_mask


def forge(meta: dict, *sections: bytes, version: int = 4) -> bytes:
    """A CRC-valid chunk with the given header and sections (what an attacker can write)."""
    body = json.dumps(meta, separators=(",", ":")).encode()
    out = struct.pack("<4sBBH", b"XGVC", version, 0, len(body)) + body + b"".join(sections)
    return out + struct.pack("<I", zlib.crc32(out))


def const_meta(shape: list[int], dtype: str = "|u1", planes: int = 1, **extra) -> dict:
    h, w = shape[-2:]
    return {"shape": shape, "dtype": dtype, "frame_axis": 0, "masks": [], "encoder": "ffv1",
            "family": "ffv1", "bit_depth": 8, "coded": [max(h, 16), max(w, 16)],
            "options": {}, "planes": [[0, {"k": "const", "v": 3}]] * planes, **extra}


def test_mask_zlib_bomb_is_not_inflated(nrt_b2):
    """A small mask section that inflates to 64 MiB is refused having inflated at most the
    size the shape implies (before: the whole bomb, then a size check)."""
    bomb = zlib.compress(b"\0" * (64 << 20), 9)
    assert len(bomb) < 100_000
    tracemalloc.start()
    with pytest.raises(CodecError, match="wrong size"):
        unpack_mask(bomb, (4, 1, 100, 100))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20
    blob = forge({**const_meta([4, 100, 100]), "masks": [[len(bomb), 0]]}, bomb)
    with pytest.raises(CodecError, match="mask"):
        decode(blob)


def test_mask_with_trailing_data_is_refused():
    good = zlib.compress(np.packbits(np.ones(80, bool)).tobytes())
    assert unpack_mask(good, (1, 1, 8, 10)).all()
    for bad in (good + b"junk", good[:-2]):
        with pytest.raises(CodecError, match="mask"):
            unpack_mask(bad, (1, 1, 8, 10))


def test_header_size_bomb_is_refused_by_max_bytes(monkeypatch):
    """198 bytes announcing a (1, 40000, 40000) uint16 array of one constant: CodecError
    before anything is allocated, by default (2 GiB) and with explicit limits."""
    bomb = forge(const_meta([1, 40000, 40000], "<u2"))
    assert len(bomb) < 300
    with pytest.raises(CodecError, match="decode limit of 2147483648 bytes"):
        decode(bomb)
    small = encode(np.full((2, 8, 8), 5, np.uint16))
    with pytest.raises(CodecError, match="decode limit of 100 bytes"):
        decode(small, max_bytes=100)
    assert decode(small, max_bytes=256).shape == (2, 8, 8)
    monkeypatch.setenv("XGEO_CODECS_MAX_BYTES", "64")
    with pytest.raises(CodecError, match="XGEO_CODECS_MAX_BYTES"):
        decode(small)
    assert decode(small, max_bytes=10**6).shape == (2, 8, 8)
    monkeypatch.setenv("XGEO_CODECS_MAX_BYTES", "lots")
    with pytest.raises(CodecError, match="not an integer"):
        decode(small)
    with pytest.raises(CodecError, match="max_bytes"):
        decode(small, max_bytes=-1)


def test_numcodecs_face_bounds_decode_by_out():
    codec = VideoCodec(lossless=True)
    a = np.arange(2 * 16 * 16, dtype=np.uint16).reshape(2, 16, 16)
    enc = codec.encode(a)
    out = np.empty_like(a)
    codec.decode(enc, out=out)
    assert np.array_equal(out, a)
    with pytest.raises(CodecError, match="decode limit"):
        codec.decode(enc, out=np.empty((2, 16, 8), np.uint16))
    with pytest.raises(CodecError, match="decode limit"):
        codec.decode(forge(const_meta([1, 40000, 40000], "<u2")))
    with pytest.raises(CodecError, match="decode limit"):
        codec.decode(enc, max_bytes=10)


def test_zarr_face_checks_header_before_decoding(monkeypatch):
    store = zarr.storage.MemoryStore()
    z = zarr.create_array(store, shape=(2, 16, 16), chunks=(2, 16, 16), dtype="uint16",
                          serializer=VideoSerializer(lossless=True), compressors=None)
    z[:] = 1
    calls = []
    import xgeo_codecs.zarr_codec as zc
    real = zc.decode
    monkeypatch.setattr(zc, "decode", lambda *a, **k: calls.append(1) or real(*a, **k))
    key = "c/0/0/0"
    for meta, match in ((const_meta([1, 4000, 4000], "<u2"), "announces shape"),
                        (const_meta([2, 16, 16], "<f4"), "announces dtype")):
        store._store_dict[key] = zarr.core.buffer.cpu.Buffer.from_bytes(forge(meta))
        with pytest.raises(CodecError, match=match):
            zarr.open_array(store)[:]
    assert not calls  # refused from the header alone
    store._store_dict[key] = zarr.core.buffer.cpu.Buffer.from_bytes(
        forge(const_meta([2, 16, 16], "<u2")))
    assert (zarr.open_array(store)[:] == 3).all() and calls


_PEAK = r"""
import json, sys, numpy as np
from xgeo_codecs import decode
blob = open(sys.argv[1], "rb").read()
def kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
decode(blob)  # warm: libraries, lazy imports
open("/proc/self/clear_refs", "w").write("5")  # reset the RSS high-water mark
before = kb("VmRSS")
out = decode(blob)
print(json.dumps({"peak": kb("VmHWM") - before, "nbytes": out.nbytes}))
"""


def _peak(tmp_path, blob: bytes) -> tuple[int, int]:
    path = tmp_path / "chunk.bin"
    path.write_bytes(blob)
    res = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True,
                         text=True, check=True)
    r = json.loads(res.stdout)
    return r["peak"], r["nbytes"]


SHAPE = [16, 4, 1024, 1024]  # 64 MiB of uint8


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("case", ["klt", "residual", "frame_order", "masks"])
def test_decode_peak_memory_is_a_small_multiple_of_the_output(tmp_path, case):
    """Chunks that pass the size check cannot make decode need many times their output:
    before, a KLT chunk took a float64 copy (8 bytes per value), a residual three float64
    temporaries, frame reordering a second copy of the chunk."""
    n = int(np.prod(SHAPE))
    meta = const_meta(SHAPE, planes=4)
    sections: list[bytes] = []
    bound = 1.25
    if case == "klt":
        import base64
        basis = base64.b64encode(np.eye(4, dtype="<f2").tobytes()).decode()
        meta["klt"] = {"basis": basis, "lo": [0.0] * 4, "hi": [255.0] * 4}
    elif case == "residual":
        q = zlib.compress(b"\1" * n, 9)
        meta["residual"] = [len(q), {"step": 1.0, "dtype": "|i1", "qlen": len(q)}]
        sections = [q]
        bound = 3.25  # the int8 residual (and its inflate buffer), values rebuilt in blocks
    elif case == "frame_order":
        meta["frame_order"] = list(range(SHAPE[0]))[::-1]
    else:
        mk = zlib.compress(np.packbits(np.ones(n, bool)).tobytes(), 9)
        meta["masks"] = [[len(mk), 9]]
        sections = [mk]
        bound = 2.25  # one byte per value for the mask
    peak, nbytes = _peak(tmp_path, forge(meta, *sections))
    assert nbytes == n
    assert peak <= bound * nbytes + (24 << 20), f"{case}: peak {peak / nbytes:.2f}x the output"


def test_inspect_and_decode_agree_on_forged_sizes():
    blob = forge(const_meta([3, 20, 20], "<u2"))
    assert chunk_info(blob)["shape"] == [3, 20, 20]
    assert (decode(blob) == 3).all()
