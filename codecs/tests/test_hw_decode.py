"""Hardware decode plumbing, checked without a GPU: which streams go to NVDEC, the reading
machine's choice, fallback to software, and decoder contexts kept open between streams.

(The GPU side itself — hevc_cuvid decoding these 4:4:4 and 4:2:0 streams bit-exactly — was
measured on an H100: benchmarks/compare/nvdec.py, benchmarks/results/nvdec.json.)
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from codec_testdata import FIXTURES, assert_fixture_case_decodes
from xgeo_codecs import (
    CodecError,
    VideoCodec,
    VideoParams,
    _stream,
    chunk_info,
    decode,
    encode,
    probe,
)
from xgeo_codecs.core import DECODER_ENV

FIX420 = FIXTURES / "v1" / "chroma420"


@pytest.fixture
def packed_chunk(nrt_bands) -> np.ndarray:
    """(T=4, 3 bands, 200, 200) real DN: three planes (one 4:4:4 stream) above NVDEC's 144."""
    return np.tile(nrt_bands[:4, :3], (1, 1, 2, 2))


@pytest.fixture
def decode_calls(monkeypatch) -> list:
    """Record the decoder each stream is handed to, with a fake GPU decoder 'found' here."""
    calls = []
    real = _stream.decode_stream

    def spy(buf, family, bd, t, h, w, decoder=None, coded=None, planes=1, reuse=None,
            first=None):
        calls.append((decoder, planes))
        return real(buf, family, bd, t, h, w, decoder, coded, planes, reuse, first)

    monkeypatch.setattr(_stream, "decode_stream", spy)
    monkeypatch.setattr(probe, "hardware_decoder", lambda family: "no_such_gpu_decoder")
    return calls


def test_auto_sends_only_streams_nvdec_takes_to_the_gpu_and_falls_back_exactly(
        packed_chunk, nrt_bands, decode_calls):
    blob = encode(packed_chunk, {"crf": 8})
    want = decode(blob, decoder="software")
    decode_calls.clear()
    got = decode(blob, decoder="auto")
    # the GPU decoder was tried on the 4:4:4 stream, failed (no such decoder), and software
    # produced the same values
    assert decode_calls == [("no_such_gpu_decoder", 3), (None, 3)]
    np.testing.assert_array_equal(got, want)
    # a lossy grey plane is coded 4:2:0 (NVDEC has no monochrome HEVC) and goes there too
    grey = np.ascontiguousarray(packed_chunk[:, 0])
    blob = encode(grey, {"crf": 8})
    assert chunk_info(blob)["chroma"] == "420"
    want = decode(blob)
    decode_calls.clear()
    np.testing.assert_array_equal(decode(blob, decoder="auto"), want)
    assert decode_calls == [("no_such_gpu_decoder", 1), (None, 1)]
    # frames under 144x144 and lossless grey x265 streams (monochrome) never go there
    for chunk, params in ((nrt_bands[:4, 0], {"crf": 8}), (nrt_bands[:4, :3], {"crf": 8}),
                          (grey & 4095, {"lossless": True, "codec": "hevc"})):
        blob = encode(np.ascontiguousarray(chunk), params)
        decode_calls.clear()
        np.testing.assert_array_equal(decode(blob, decoder="auto"), decode(blob))
        assert all(d is None for d, _ in decode_calls)


def test_reading_machine_chooses_the_decoder_through_the_environment(
        packed_chunk, decode_calls, monkeypatch):
    blob = encode(packed_chunk, {"crf": 8})
    want = decode(blob, decoder="software")
    for env, gpu_tried in (("auto", True), ("software", False), ("", False)):
        monkeypatch.setenv(DECODER_ENV, env)
        decode_calls.clear()
        np.testing.assert_array_equal(decode(blob), want)
        assert (("no_such_gpu_decoder", 3) in decode_calls) is gpu_tried
    monkeypatch.setenv(DECODER_ENV, "auto")
    decode_calls.clear()
    decode(blob, decoder="software")  # an explicit argument wins over the environment
    assert all(d is None for d, _ in decode_calls)
    monkeypatch.setenv(DECODER_ENV, "nvdec")
    with pytest.raises(CodecError, match=DECODER_ENV):
        decode(blob)
    with pytest.raises(CodecError, match="decoder="):
        VideoParams(decoder="nvdec")
    # stored configs leave it to the reader (written in full since config_version 2: as null)
    assert VideoParams().to_config()["decoder"] is None
    assert "decoder" not in VideoParams().non_default_config()


def _packed_streams(packed_chunk) -> list[tuple[bytes, np.ndarray]]:
    """Three lossless 4:4:4 streams of real codes, two frame sizes."""
    out = []
    for k, size in enumerate((200, 160, 200)):
        codes = (packed_chunk[:, :, :size, :size].transpose(1, 0, 2, 3) >> k).astype(np.uint16)
        codes = np.ascontiguousarray(codes & 4095)
        opts = {"x265-params": "lossless=1:log-level=none"}
        out.append((_stream.encode_stream(codes, "libx265", 12, opts), codes))
    return out


def test_a_reused_decoder_context_decodes_every_stream_exactly(packed_chunk):
    streams = _packed_streams(packed_chunk)
    # lossy streams with B-frames too: the decoder holds frames back until padding comes
    for crf in (4, 20):
        codes = np.ascontiguousarray(np.tile(streams[0][1], (1, 3, 1, 1)))  # 12 frames
        blob = _stream.encode_stream(codes, "libx265", 12, {"crf": str(crf)})
        streams.append((blob, _stream.decode_stream(blob, "hevc", 12, 12, 200, 200, planes=3)))
    for blob, codes in streams + streams[::-1]:  # sizes interleaved, one open context each
        t, size = codes.shape[1], codes.shape[-1]
        out = _stream.decode_stream(blob, "hevc", 12, t, size, size, planes=3, reuse=True)
        np.testing.assert_array_equal(out, codes)
    assert all(d.owed >= 0 for d in _stream._hardware.contexts.values())
    # a packet table that lost a frame is refused, not padded with a copy of frame 0
    packets, extra = _stream.unpack_packets(streams[-1][0])
    short = _stream.pack_packets(packets[:-1], extra)
    with pytest.raises(CodecError, match="packets for 12 frames"):
        _stream.decode_stream(short, "hevc", 12, 12, 200, 200, planes=3, reuse=True)
    # a corrupt stream drops its context; the next stream of that size still decodes exactly
    blob, codes = streams[0]
    with pytest.raises(Exception):  # noqa: B017 - libav's own error type for a torn stream
        _stream.decode_stream(blob[: len(blob) // 2] + bytes(64), "hevc", 12, 4, 200, 200,
                              planes=3, reuse=True)
    out = _stream.decode_stream(blob, "hevc", 12, 4, 200, 200, planes=3, reuse=True)
    np.testing.assert_array_equal(out, codes)


def _reused_decode_in_child(item: tuple[bytes, np.ndarray]) -> bool:
    blob, codes = item
    size = codes.shape[-1]
    out = _stream.decode_stream(blob, "hevc", 12, codes.shape[1], size, size, planes=3,
                                reuse=True)
    return bool(np.array_equal(out, codes))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method is Linux-only here")
def test_forked_children_open_their_own_decoder_contexts(packed_chunk):
    streams = _packed_streams(packed_chunk)
    assert _reused_decode_in_child(streams[0])  # the parent holds an open context now
    parent_contexts = dict(_stream._hardware.contexts)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert all(pool.map(_reused_decode_in_child, streams * 2))
    assert _stream._hardware.contexts == parent_contexts  # the parent's are untouched
    assert _reused_decode_in_child(streams[0])


def test_committed_4_2_0_grey_chunks_decode_forever():
    # grey planes coded 4:2:0 are format 1 chunks with a "chroma" header key
    assert_fixture_case_decodes(FIX420 / "codec.00", 1)
    blob = next((FIX420 / "codec.00").glob("encoded.*.dat")).read_bytes()
    assert chunk_info(blob)["chroma"] == "420"


def write_chroma420_fixtures() -> None:  # pragma: no cover - run by hand when a case is added
    """Writes the cases whose folder does not exist yet; committed ones are never rewritten."""
    from codec_testdata import NRT, raw, write_fixture_case

    d = FIX420 / "codec.00"
    if not d.exists():
        write_fixture_case(d, VideoCodec(crf=8, nodata=0), [raw(NRT, "B2")[:8, :64, :64]])


if __name__ == "__main__" and os.environ.get("XGEO_WRITE_FIXTURES") == "1":
    sys.path.insert(0, str(Path(__file__).parent))
    write_chroma420_fixtures()
