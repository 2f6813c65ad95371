"""Frames coded in similarity order (``reorder_frames=True``, format 4) on real chunks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from codec_testdata import stamped
from xgeo_codecs import CodecError, VideoCodec, chunk_info, decode, encode
from xgeo_codecs._encoder import repack
from xgeo_codecs.chunk_metrics import chunk_stats, valid_mask
from xgeo_codecs.frame_order import similarity_order


def test_similar_frames_end_up_next_to_each_other(nrt_b2):
    # 8 real dates, each followed somewhere later by a slightly noisy copy of itself
    rng = np.random.default_rng(0)
    base = nrt_b2[:8].astype(np.float64)
    copies = base + rng.normal(0, 5, base.shape)
    shuffle = rng.permutation(8)
    cube = np.concatenate([base, copies[shuffle]])[:, None]
    order = similarity_order(cube, np.zeros(cube.shape, bool)).tolist()
    assert sorted(order) == list(range(16))
    f = cube.reshape(16, -1)

    def path(o):  # what the order minimises: summed squared differences of neighbours
        return sum(float(np.mean((f[i] - f[j]) ** 2)) for i, j in zip(o[:-1], o[1:], strict=True))

    assert path(order) < 0.4 * path(list(range(16)))
    # squared differences are not a metric: the shortest path may split one pair to sit
    # between two far dates, never most of them (7 of 8 adjacent here)
    twins = [abs(order.index(i) - order.index(8 + int(np.flatnonzero(shuffle == i)[0])))
             for i in range(8)]
    assert sum(t == 1 for t in twins) >= 6


def test_reordered_chunk_decodes_in_the_original_order(cloudy_reflectance):
    a = cloudy_reflectance  # 32 cloudy dates, NaN under clouds
    blob = encode(a, {"crf": 10, "reorder_frames": True})
    info = chunk_info(blob)
    assert stamped(info, 4)
    assert sorted(info["frame_order"]) == list(range(32))
    assert info["frame_order"] != list(range(32))
    d = decode(blob)
    assert np.array_equal(np.isnan(d), np.isnan(a))  # masks follow their frames
    plain = decode(encode(a, {"crf": 10}))
    v = valid_mask(a, None)
    assert chunk_stats(a, d, v)["psnr"] > chunk_stats(a, plain, v)["psnr"] - 1.0
    for f in range(32):  # every date is back at its own index
        ok = v[f]
        if ok.any():
            assert np.abs(d[f][ok] - a[f][ok]).mean() < 0.01


def test_reordered_lossless_and_max_error_keep_their_guarantees(nrt_b2, cloudy_reflectance):
    a = nrt_b2[:12]
    back = decode(encode(a, {"lossless": True, "nodata": 0, "reorder_frames": True}))
    assert np.array_equal(back, a)
    r = cloudy_reflectance[:12]
    blob = encode(r, {"max_error": 0.01, "reorder_frames": True})
    info = chunk_info(blob)  # video + residual (at tight bounds the FFV1 grid wins, in order)
    assert stamped(info, 4) and "residual" in info
    d = decode(blob)  # the residual is stored in the original order
    v = valid_mask(r, None)
    assert np.abs(d[v].astype(np.float64) - r[v]).max() <= 0.01
    assert np.array_equal(np.isnan(d), np.isnan(r))


@pytest.mark.parametrize("bad", [[0, 1], [0, 0, 1, 2], [1, 2, 3, 4], "abc", [[0], [1], [2], [3]]])
def test_corrupt_frame_order_is_a_typed_error(nrt_b2, bad):
    blob = encode(nrt_b2[:4], {"crf": 20, "nodata": 0, "reorder_frames": True})
    broken = repack(blob, {"frame_order": bad}, b"", 4)
    with pytest.raises(CodecError, match="frame order"):
        decode(broken)


FIX4 = Path(__file__).resolve().parent / "fixtures" / "video" / "v4" / "reorder"
CASES = [{"reorder_frames": True, "crf": 8.0, "nodata": 0},
         {"reorder_frames": True, "max_error": 0.01}]  # video + residual (not the FFV1 grid)


@pytest.mark.parametrize("j", range(len(CASES)))
def test_v4_fixtures_decode_identically(j):
    """Committed format-4 chunks (never regenerated) keep decoding to the same values."""
    from codec_testdata import assert_fixture_case_decodes

    assert_fixture_case_decodes(FIX4 / f"codec.{j:02d}", 4)


def write_v4_fixtures() -> None:  # pragma: no cover - run by hand when a case is added
    """Writes the cases whose folder does not exist yet; committed ones are never rewritten."""
    from codec_testdata import NRT, raw, write_fixture_case
    bands = np.stack([raw(NRT, v)[:8, :64, :64] for v in ("B2", "B3", "B4", "B8")], 1)
    scl = raw(NRT, "SCL")[:8, :64, :64]
    cloudy = np.where(np.isin(scl, [3, 8, 9, 10]), np.nan,
                      raw(NRT, "B2")[:8, :64, :64] / 10000.0).astype(np.float32)
    for j, (cfg, arr) in enumerate(zip(CASES, [bands, cloudy], strict=True)):
        d = FIX4 / f"codec.{j:02d}"
        if not d.exists():
            write_fixture_case(d, VideoCodec(**cfg), [arr])


if __name__ == "__main__" and os.environ.get("XGEO_WRITE_FIXTURES") == "1":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    write_v4_fixtures()
