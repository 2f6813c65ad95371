"""``decorrelate="auto"`` / ``reorder_frames="auto"``: the tool that measures better is picked.

Each synthetic cube is built to favour one choice; the oracle is the whole chunk coded
with every fixed setting at the same rate target, PSNR compared at equal rate. The decision
(made on a sample with faster encodes) must agree with that oracle, not with what usually
wins on real cubes. Real chunks check the record and the cost.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from codec_testdata import stamped
from xgeo_codecs import VideoParams, chunk_info, decode, encode
from xgeo_codecs.autotools import choose, describe, sample_window
from xgeo_codecs.chunk_metrics import chunk_stats, valid_mask
from xgeo_codecs.header import parse


def _smooth(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    f = rng.normal(size=shape)
    for ax in (-1, -2):
        f = np.cumsum(f, axis=ax)
        f -= f.mean(axis=ax, keepdims=True)
    return f


def correlated_bands(seed: int = 0, t: int = 12, n: int = 64) -> np.ndarray:
    """Three bands that are one field scaled: the KLT packs them into one component."""
    rng = np.random.default_rng(seed)
    base = _smooth(rng, (t, n, n)) + np.arange(t)[:, None, None] * 3
    return np.stack([base * k + rng.normal(scale=0.5, size=base.shape) + 100 * k
                     for k in (1.0, 0.8, 1.3)], 1).astype("float32")


def moving_and_static_bands(seed: int = 0, t: int = 12, n: int = 64) -> np.ndarray:
    """A texture moving 1 px per date and an unrelated static one, correlated only by a
    shared per-date offset: the KLT mixes motion into both components and loses."""
    rng = np.random.default_rng(seed)
    tex = _smooth(rng, (n, n + t))
    moving = np.stack([tex[:, i:i + n] for i in range(t)])
    static = np.broadcast_to(_smooth(rng, (n, n)), (t, n, n))
    g = rng.normal(scale=40, size=t)[:, None, None]
    return np.stack([moving + g, static + g], 1).astype("float32")


def alternating_scenes(seed: int = 0, t: int = 16, n: int = 64, k: int = 4) -> np.ndarray:
    """One band cycling through four scenes: the previous date is never the similar one."""
    rng = np.random.default_rng(seed)
    scenes = [_smooth(rng, (n, n)) for _ in range(k)]
    return np.stack([scenes[i % k] + rng.normal(scale=0.3, size=(n, n))
                     for i in range(t)]).astype("float32")


def drifting_scene(seed: int = 0, t: int = 16, n: int = 64) -> np.ndarray:
    """One band drifting slowly: chronological order is already the best path."""
    rng = np.random.default_rng(seed)
    tex = _smooth(rng, (n, n + t))
    return np.stack([tex[:, i:i + n] for i in range(t)]).astype("float32")


def _at_rate(a: np.ndarray, rate: float, **kw) -> float:
    """PSNR of ``a`` coded at the ``rate`` target, moved to exactly that rate (6 dB/octave)."""
    blob = encode(a, {"bpppb": rate, **kw})
    psnr = chunk_stats(a, decode(blob), valid_mask(a, None))["psnr"]
    return psnr - 6.0 * math.log2(len(blob) * 8 / a.size / rate)


def _oracle(a: np.ndarray, rate: float) -> dict[tuple, float]:
    klts = [None, "klt"] if a.ndim == 4 else [None]
    return {(k, o): _at_rate(a, rate, decorrelate=k, reorder_frames=o)
            for k in klts for o in (False, True)}


@pytest.mark.parametrize("make, tool, want", [
    (correlated_bands, "decorrelate", "klt"),
    (moving_and_static_bands, "decorrelate", None),
    (alternating_scenes, "reorder_frames", True),
    (drifting_scene, "reorder_frames", False),
])
@pytest.mark.parametrize("rate", [0.25, 1.0])
def test_auto_picks_the_tool_the_whole_chunk_measures_better(make, tool, want, rate):
    a = make()
    oracle = _oracle(a, rate)
    best = max(oracle, key=oracle.get)
    index = 0 if tool == "decorrelate" else 1
    assert best[index] == want, oracle  # the case favours what it was built to favour
    q, record, _ = choose(a, VideoParams(bpppb=rate))
    assert getattr(q, tool) == want, record
    # and what it picked is as good as the best fixed setting on the whole chunk (the
    # tools record costs a few dozen bytes of these 50-100 kB chunks)
    assert oracle[(q.decorrelate, q.reorder_frames)] >= oracle[best] - 0.15, (oracle, record)
    assert record is not None and record["cost"] > 0


def test_explicit_settings_override_and_inapplicable_tools_are_off():
    a = correlated_bands()
    assert choose(a, VideoParams(crf=10, decorrelate=None, reorder_frames=False))[1] is None
    q, rec, _ = choose(a, VideoParams(crf=10, decorrelate="klt"))  # only the order measured
    assert q.decorrelate == "klt" and [n for n, _ in rec["tried"]] == ["reorder"]
    # lossless, max_error, value_range, non-x265 and too few frames/planes: nothing to measure
    for p in (VideoParams(lossless=True), VideoParams(max_error=0.5),
              VideoParams(codec="vp9", crf=20)):
        q, rec, _ = choose(a, p)
        assert rec is None and q.decorrelate is None and q.reorder_frames is False
    q, rec, _ = choose(a, VideoParams(value_range=(0, 1), reorder_frames=False))
    assert rec is None and q.decorrelate is None
    q, rec, _ = choose(a[:2, :1], VideoParams(crf=10))  # one plane, two frames
    assert rec is None and (q.decorrelate, q.reorder_frames) == (None, False)
    five = choose(drifting_scene(t=5), VideoParams(crf=10))[1]  # a 5-frame cube is measured
    assert [n for n, _ in five["tried"]] == ["reorder"]
    const = np.full((6, 3, 64, 64), 7.0, "float32")  # nothing to code: nothing to measure
    assert choose(const, VideoParams(crf=10))[1] is None


def test_effort_max_measures_every_combination():
    q, rec, _ = choose(correlated_bands(), VideoParams(bpppb=0.5, effort="max"))
    assert sorted(n for n, _ in rec["tried"]) == ["klt", "klt+reorder", "reorder"]
    assert q.decorrelate == "klt" and q.bit_depth is None
    # a depth given is kept (and named when it is not the default)
    q, rec, _ = choose(correlated_bands(), VideoParams(bpppb=0.5, effort="max", bit_depth=10))
    assert q.bit_depth == 10 and all(n.endswith("+10bit") for n, _ in rec["tried"])


def test_the_record_is_in_the_header_and_described(nrt_bands):
    a = nrt_bands[:16]
    blob = encode(a, {"bpppb": 0.3, "nodata": 0})
    info = chunk_info(blob)
    assert stamped(info, 6) and info["tools"]["tried"][0][0] == "klt"
    assert info["coding_tools"] == describe(parse(blob)[0])
    assert info["coding_tools"].startswith(("klt", "plain", "reorder"))
    # the quality record still counts every byte, the tools record included
    assert info["quality"]["bpppb"] == pytest.approx(len(blob) * 8 / a.size, abs=1e-4)
    np.testing.assert_array_equal(decode(blob) == 0, a == 0)
    fixed = encode(a, {"bpppb": 0.3, "nodata": 0, "decorrelate": "klt",
                       "reorder_frames": False})
    assert "tools" not in chunk_info(fixed) and chunk_info(fixed)["coding_tools"] == "klt"
    # what the header says was used is what the measurement chose
    chosen, _, _ = choose(a, VideoParams(bpppb=0.3, nodata=0))
    assert ("klt" in info) == (chosen.decorrelate == "klt")
    assert ("frame_order" in info) == chosen.reorder_frames


def test_sample_window_is_a_centred_crop_of_every_frame():
    assert sample_window((8, 3, 512, 256), 0.25) == (slice(128, 384), slice(64, 192))
    assert sample_window((8, 3, 40, 300), 0.25) == (slice(0, 40), slice(74, 226))
    assert sample_window((8, 3, 64, 64), 1.0) == (slice(0, 64), slice(0, 64))


FIX6 = Path(__file__).resolve().parent / "fixtures" / "video" / "v6" / "auto"
CASES = [{"crf": 8.0, "nodata": 0},  # four bands: the KLT and the order measured
         {"bpppb": 0.5}]  # a cloudy one-band series with NaN: the order measured


@pytest.mark.parametrize("j", range(len(CASES)))
def test_v6_fixtures_decode_identically(j):
    """Committed format-6 chunks (never regenerated) keep decoding to the same values."""
    from codec_testdata import assert_fixture_case_decodes

    assert_fixture_case_decodes(FIX6 / f"codec.{j:02d}", 6)


def write_v6_fixtures() -> None:  # pragma: no cover - run by hand when a case is added
    """Writes the cases whose folder does not exist yet; committed ones are never rewritten."""
    from codec_testdata import NRT, raw, write_fixture_case
    from xgeo_codecs import VideoCodec

    bands = np.stack([raw(NRT, v)[:12, :64, :64] for v in ("B2", "B3", "B4", "B8")], 1)
    scl = raw(NRT, "SCL")[:12, :64, :64]
    cloudy = np.where(np.isin(scl, [3, 8, 9, 10]), np.nan,
                      raw(NRT, "B2")[:12, :64, :64] / 10000.0).astype(np.float32)
    for j, (cfg, arr) in enumerate(zip(CASES, [bands, cloudy], strict=True)):
        d = FIX6 / f"codec.{j:02d}"
        if not d.exists():
            write_fixture_case(d, VideoCodec(**cfg), [arr])


if __name__ == "__main__" and os.environ.get("XGEO_WRITE_FIXTURES") == "1":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    write_v6_fixtures()
