"""Partial decoding: ``decode(buf, frames=...)``, ``keyint=`` groups (format 7), and the
Zarr and numcodecs faces asking only for the frames a read needs.

The oracle is the whole chunk decoded and indexed with NumPy: a read of some frames must
give exactly those frames, for every kind of chunk (lossy, lossless, KLT, 4:4:4 groups,
reordered frames, masks, residuals, other frame axes, Fortran order, every committed
fixture); and it must decode fewer frames (counted at the stream decoder).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import zarr
from codec_testdata import FIXTURES, NRT, raw, stamped
from xgeo_codecs import CodecError, VideoCodec, VideoSerializer, _stream, chunk_info, decode, encode

FIX7 = Path(__file__).resolve().parent / "fixtures" / "video" / "v7" / "keyint"


@pytest.fixture(scope="module")
def bands() -> np.ndarray:
    """Real S2 L2A: 13 dates x 4 bands x 64 x 64 uint16, 0 = nodata."""
    return np.stack([raw(NRT, v)[:13, :64, :64] for v in ("B2", "B3", "B4", "B8")], axis=1)


@pytest.fixture(scope="module")
def cloudy() -> np.ndarray:
    scl = raw(NRT, "SCL")[:13, :64, :64]
    return np.where(np.isin(scl, [3, 8, 9, 10]), np.nan,
                    raw(NRT, "B2")[:13, :64, :64] / 10000.0).astype(np.float32)


@pytest.fixture
def stream_calls(monkeypatch) -> list:
    """(frames in the stream, frames asked for) of every stream handed to the decoder."""
    calls = []
    real = _stream.decode_stream

    def spy(buf, family, bd, t, h, w, decoder=None, coded=None, planes=1, reuse=None,
            first=None):
        calls.append((t, t if first is None else first))
        return real(buf, family, bd, t, h, w, decoder, coded, planes, reuse, first)

    monkeypatch.setattr(_stream, "decode_stream", spy)
    return calls


def _same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def _check_every_selection(blob: bytes, axis: int = 0) -> None:
    whole = decode(blob)
    t = whole.shape[axis]
    for sel in (0, -1, [t // 2], [t - 1, 1, t - 1], slice(1, t - 1), slice(None, None, 2),
                slice(None)):
        idx = np.arange(t)[sel] if isinstance(sel, slice) else np.atleast_1d(sel)
        _same(decode(blob, frames=sel), np.take(whole, idx, axis=axis))
    mask = np.zeros(t, bool)
    mask[[1, t - 2]] = True
    _same(decode(blob, frames=mask), np.take(whole, np.flatnonzero(mask), axis=axis))


CASES = {
    "lossy 4 bands, KLT, 4:4:4, groups of 4": ("bands", {"crf": 10, "nodata": 0, "keyint": 4,
                                                        "decorrelate": "klt"}),
    "lossy, frames reordered in groups of 5": ("bands", {"crf": 14, "nodata": 0, "keyint": 5,
                                                         "reorder_frames": True,
                                                         "decorrelate": None}),
    "lossless FFV1 with plane prediction, groups of 3": ("bands", {"lossless": True,
                                                                   "keyint": 3}),
    "cloudy NaN series, bpppb, groups of 6": ("cloudy", {"bpppb": 0.5, "keyint": 6}),
    "max_error residual, groups of 4": ("cloudy", {"max_error": 0.001, "keyint": 4}),
    "one group per chunk (no keyint)": ("bands", {"crf": 12, "nodata": 0,
                                                  "reorder_frames": True}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_read_of_some_frames_is_those_frames_of_the_whole_chunk(case, bands, cloudy):
    data, params = CASES[case]
    arr = {"bands": bands, "cloudy": cloudy}[data]
    blob = encode(arr, params)
    _check_every_selection(blob)
    info = chunk_info(blob)
    if params.get("keyint"):
        k = params["keyint"]
        assert stamped(info, 7) and info["keyint"]["frames"] == k
        for (length, _), parts in zip(info["planes"], info["keyint"]["bytes"], strict=True):
            assert sum(parts) == length and len(parts) in (0, -(-arr.shape[0] // k))
    else:
        assert "keyint" not in info
    if params.get("lossless"):
        _same(decode(blob), arr)


def _alternating(t: int = 16, n: int = 64) -> np.ndarray:
    """Two real scenes (B8 of two dates) taking turns, each with its own small noise: a
    series built so that similar dates are never consecutive."""
    b8 = raw(NRT, "B8")[:, :n, :n].astype(np.int64)
    rng = np.random.default_rng(5)
    frames = [b8[0 if i % 2 else 6] + rng.integers(-20, 21, (n, n)) for i in range(t)]
    return np.clip(np.stack(frames), 1, 65535).astype(np.uint16)


def test_with_groups_the_frame_order_runs_over_the_whole_chunk(stream_calls):
    a = _alternating()
    blob = encode(a, {"crf": 14, "keyint": 4, "reorder_frames": True})
    order = np.array(chunk_info(blob)["frame_order"])
    # each group of 4 holds dates of one scene: from all over the chunk, never consecutive
    for g in range(0, 16, 4):
        assert len({int(i) % 2 for i in order[g:g + 4]}) == 1
    _check_every_selection(blob)
    stream_calls.clear()
    date = int(order[6])  # coded third in the second group
    _same(decode(blob, frames=[date]), decode(blob)[[date]])
    assert stream_calls[0] == (4, 3)


def test_the_trial_reorders_grouped_frames_where_that_measures_better():
    a = _alternating()
    info = chunk_info(encode(a, {"bpppb": 1.0, "keyint": 4}))
    assert "frame_order" in info, info["coding_tools"]
    # a slow drift: the date order is already the similarity path (or as good)
    drift = np.stack([a[0] + 3 * i for i in range(16)])
    info = chunk_info(encode(drift, {"bpppb": 1.0, "keyint": 4}))
    order = info.get("frame_order", list(range(16)))
    assert int(np.abs(np.diff(order)).sum()) <= 16, info["coding_tools"]


def test_only_the_groups_and_frames_a_read_needs_are_decoded(bands, stream_calls):
    one = np.ascontiguousarray(bands[:12, 3])
    blob = encode(one, {"crf": 12, "nodata": 0, "keyint": 4, "reorder_frames": False})
    stream_calls.clear()
    _same(decode(blob, frames=[5]), decode(blob)[[5]])
    assert stream_calls[0] == (4, 2)  # the second group, up to its second frame
    stream_calls.clear()
    decode(blob, frames=[9, 0])
    assert stream_calls == [(4, 1), (4, 2)]
    # a chunk without groups (every chunk before format 7) stops after the frame wanted
    old = encode(one, {"crf": 12, "nodata": 0, "reorder_frames": False})
    whole = decode(old)
    stream_calls.clear()
    _same(decode(old, frames=2), whole[[2]])
    assert stream_calls == [(12, 3)]


def test_a_residual_chunk_decodes_whole_and_gives_the_frames(stream_calls):
    from codec_testdata import EOPATCH

    refl = raw(EOPATCH, "reflectance")[:, 2, :40, :40].astype(np.float32)
    blob = encode(refl, {"psnr": 75, "keyint": 2})  # beyond the video: a residual
    assert chunk_info(blob).get("residual_bytes")
    whole = decode(blob)
    stream_calls.clear()
    _same(decode(blob, frames=[3]), whole[[3]])
    assert stream_calls and all(first == t for t, first in stream_calls)


def test_other_frame_axes_and_fortran_order(bands):
    by_band = np.ascontiguousarray(bands.transpose(1, 0, 2, 3))  # (band, time, y, x)
    _check_every_selection(encode(by_band, {"crf": 12, "nodata": 0, "frame_axis": 1,
                                            "keyint": 4}), axis=1)
    fortran = np.asfortranarray(bands[:, 1])
    blob = encode(fortran, {"lossless": True, "keyint": 4})
    part = decode(blob, frames=[2, 9])
    _same(part, fortran[[2, 9]])
    assert part.flags.f_contiguous


def test_two_dimensional_chunks_are_one_frame():
    img = np.arange(64 * 64, dtype="uint16").reshape(64, 64)
    blob = encode(img, {"lossless": True})
    _same(decode(blob, frames=0), img)
    with pytest.raises(CodecError, match="no frame axis"):
        decode(blob, frames=[0, 0])


@pytest.mark.parametrize("bad", [[13], [-14], [0.5], np.ones(12, bool), "all"])
def test_bad_frame_selections_raise_a_typed_error(bands, bad):
    blob = encode(bands[:, 0], {"lossless": True, "keyint": 4})
    with pytest.raises(CodecError, match="frames"):
        decode(blob, frames=bad)


def test_a_keyint_longer_than_the_chunk_is_refused(bands):
    with pytest.raises(CodecError, match="keyint=14 is larger than the chunk's 13 frames"):
        encode(bands[:, 0], {"crf": 12, "keyint": 14})
    with pytest.raises(CodecError, match="keyint"):
        VideoCodec(keyint=0)
    # as long as the chunk: one group, written as format 1 (no index needed)
    assert "keyint" not in chunk_info(encode(bands[:, 0], {"lossless": True, "keyint": 13}))


@pytest.mark.parametrize("folder", sorted({p.parent for p in FIXTURES.rglob("encoded.*.dat")}),
                         ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_committed_fixture_reads_some_frames_exactly(folder):
    for blob in (p.read_bytes() for p in sorted(folder.glob("encoded.*.dat"))):
        info = chunk_info(blob)
        if len(info["shape"]) < 3 or info["shape"][info["frame_axis"]] < 2:
            continue
        _check_every_selection(blob, info["frame_axis"])


def test_numcodecs_face_decodes_frames_into_out(bands):
    codec = VideoCodec(lossless=True, keyint=4)
    blob = codec.encode(bands[:, 0])
    out = np.empty((2, 64, 64), "uint16")
    codec.decode(blob, out, frames=[7, 3])
    _same(out, bands[[7, 3], 0])


def test_zarr_reads_decode_only_the_frames_selected(bands, monkeypatch):
    import xgeo_codecs.zarr_codec as zc

    asked = []
    real = zc.decode

    def spy(blob, **kw):
        asked.append(None if kw.get("frames") is None else list(np.atleast_1d(kw["frames"])))
        return real(blob, **kw)

    monkeypatch.setattr(zc, "decode", spy)
    z = zarr.create_array(zarr.storage.MemoryStore(), shape=bands.shape, chunks=bands.shape,
                          dtype="uint16", serializer=VideoSerializer(lossless=True, keyint=4),
                          compressors=None)
    z[:] = bands
    for sel, frames in [((7,), [7]), ((slice(2, 5), 1), [2, 3, 4]),
                        ((slice(None, None, 6),), [0, 6, 12]), ((slice(None),), None)]:
        asked.clear()
        _same(z[sel], bands[sel])
        assert asked == [frames]
    asked.clear()
    _same(z.oindex[[9, 2, 9]], bands[[9, 2, 9]])
    assert asked == [[2, 9]]


def test_xarray_isel_on_a_video_store_decodes_one_date(tmp_path, bands, monkeypatch):
    import xarray as xr
    import xgeo_codecs.zarr_codec as zc

    asked = []
    real = zc.decode
    monkeypatch.setattr(zc, "decode", lambda blob, **kw: (asked.append(kw.get("frames")),
                                                            real(blob, **kw))[1])
    da = xr.DataArray(bands[:, 0], dims=("time", "y", "x"), name="b2")
    enc = {"b2": {"serializer": VideoSerializer(lossless=True, keyint=4), "compressors": None,
                  "chunks": bands[:, 0].shape}}
    da.to_dataset().to_zarr(tmp_path / "s.zarr", encoding=enc, zarr_format=3, consolidated=False)
    asked.clear()
    got = xr.open_zarr(tmp_path / "s.zarr", consolidated=False).b2.isel(time=6).values
    _same(got, bands[6, 0])
    assert [list(np.atleast_1d(f)) for f in asked] == [[6]]


def test_v7_fixtures_decode_identically():
    """Committed format-7 chunks (never regenerated) keep decoding to the same values."""
    from codec_testdata import assert_fixture_case_decodes

    for folder in sorted(FIX7.glob("codec.*")):
        assert_fixture_case_decodes(folder, 7)
    assert len(list(FIX7.glob("codec.*"))) == 2


def write_v7_fixtures() -> None:  # pragma: no cover - run by hand when a case is added
    """Writes the cases whose folder does not exist yet; committed ones are never rewritten."""
    from codec_testdata import write_fixture_case

    bands = np.stack([raw(NRT, v)[:10, :64, :64] for v in ("B2", "B3", "B4", "B8")], 1)
    cases = [({"crf": 10.0, "nodata": 0, "keyint": 4}, bands),
             ({"lossless": True, "keyint": 3}, np.ascontiguousarray(bands[:, 3]))]
    for j, (cfg, arr) in enumerate(cases):
        d = FIX7 / f"codec.{j:02d}"
        if not d.exists():
            write_fixture_case(d, VideoCodec(**cfg), [arr])


if __name__ == "__main__" and os.environ.get("XGEO_WRITE_FIXTURES") == "1":
    write_v7_fixtures()
