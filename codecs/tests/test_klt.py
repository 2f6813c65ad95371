"""Band decorrelation (``decorrelate="klt"``, format 3) on real multi-band chunks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from codec_testdata import stamped
from xgeo_codecs import CodecError, VideoCodec, VideoParams, chunk_info, decode, encode
from xgeo_codecs import klt as kltmod
from xgeo_codecs.chunk_metrics import chunk_stats, valid_mask
from xgeo_codecs.header import parse


def _psnr(a: np.ndarray, d: np.ndarray, nodata=None) -> float:
    return chunk_stats(a, d, valid_mask(a, nodata))["psnr"]


def test_klt_gives_higher_psnr_at_the_same_rate_on_four_bands(nrt_bands):
    # the promise of the option: correlated bands cost less (measured here: +2.1 dB)
    # (measured here: +1.4 dB in data units, +0.8 dB with the default band weights, which
    # spend bits on the narrow bands: see the band_weights test below)
    fixed = {"bpppb": 0.15, "nodata": 0, "reorder_frames": False}
    sep = encode(nrt_bands, {**fixed, "decorrelate": None})
    sep_psnr = _psnr(nrt_bands, decode(sep), 0)
    for weights, gain in ((None, 1.0), ("range", 0.5), ("robust", 0.5)):
        rot = encode(nrt_bands, {**fixed, "decorrelate": "klt", "band_weights": weights})
        assert len(rot) <= 1.12 * len(sep)
        assert _psnr(nrt_bands, decode(rot), 0) > sep_psnr + gain
        assert stamped(chunk_info(rot), 3)


def test_klt_restores_dtype_nodata_and_nan_exactly(nrt_bands, eo_reflectance):
    a = nrt_bands[:8].copy()
    a[:, :, :10, :10] = 0  # nodata block in every band
    a[2, 1] = 0  # and one band missing on one date
    d = decode(encode(a, {"crf": 4, "nodata": 0, "decorrelate": "klt"}))
    assert d.dtype == np.uint16 and d.shape == a.shape
    assert np.array_equal(d == 0, a == 0)
    assert _psnr(a, d, 0) > 45
    r = eo_reflectance[:, :, :64, :64].copy()
    r[1, 3:6, 20:40, 20:40] = np.nan
    dr = decode(encode(r, {"crf": 4, "decorrelate": "klt"}))
    assert dr.dtype == np.float32
    assert np.array_equal(np.isnan(dr), np.isnan(r))
    assert _psnr(r, dr) > 40


def test_klt_keeps_the_max_error_guarantee(eo_reflectance):
    r = eo_reflectance[:, :, :64, :64]
    for e in (2e-3, 2e-4):
        d = decode(encode(r, {"max_error": e, "decorrelate": "klt"}))
        assert float(np.abs(d.astype(np.float64) - r).max()) <= e


def test_klt_on_one_plane_or_constant_planes_is_harmless(nrt_b2):
    one = nrt_b2[:4]
    blob = encode(one, {"crf": 8, "decorrelate": "klt"})
    assert "klt" not in parse(blob)[0]  # nothing to rotate: plain format 1
    flat = np.stack([np.full((4, 64, 64), 7, np.uint16), nrt_b2[:4, :64, :64]], axis=1)
    d = decode(encode(flat, {"crf": 8, "decorrelate": "klt"}))
    assert np.abs(d[:, 0].astype(int) - 7).max() <= 2
    zero = np.zeros((3, 2, 64, 64), np.float32)
    assert np.array_equal(decode(encode(zero, {"decorrelate": "klt"})), zero)


def test_klt_basis_is_orthonormal_and_strongest_first(nrt_bands):
    cube = nrt_bands[:8].astype(np.float64)
    v = kltmod.basis(cube, np.zeros(cube.shape, bool))
    assert np.allclose(v.T @ v, np.eye(4), atol=2e-3)
    var = kltmod.forward(cube, v).var(axis=(0, 2, 3))
    assert list(var) == sorted(var, reverse=True)
    assert np.allclose(kltmod.inverse(kltmod.forward(cube, v), v), cube)
    assert np.array_equal(kltmod.unpack(kltmod.pack(v), 4), v)


def test_klt_bad_options_and_corrupt_basis_are_typed_errors(nrt_bands):
    with pytest.raises(CodecError, match="decorrelate"):
        VideoParams(decorrelate="pca")
    with pytest.raises(CodecError, match="lossy"):
        VideoParams(decorrelate="klt", lossless=True)
    with pytest.raises(CodecError, match="value_range"):
        VideoParams(decorrelate="klt", value_range=(0, 1))
    with pytest.raises(CodecError, match="invertible"):
        kltmod.unpack(kltmod.pack(np.zeros((3, 3))), 3)
    with pytest.raises(CodecError, match="wrong size"):
        kltmod.unpack(kltmod.pack(np.eye(3)), 4)
    with pytest.raises(CodecError, match="base64"):
        kltmod.unpack("not base64!", 2)


FIX3 = Path(__file__).resolve().parent / "fixtures" / "video" / "v3" / "klt"
CASES = [{"decorrelate": "klt", "crf": 8.0, "nodata": 0},  # written before 4:4:4 packing
         {"decorrelate": "klt", "max_error": 0.002},
         {"crf": 8.0, "nodata": 0},  # bands packed three per 4:4:4 stream
         {"decorrelate": "klt", "crf": 8.0, "nodata": 0},  # KLT components packed
         # band_weights="range" (config version 5): the weights live in the stored matrix
         {"decorrelate": "klt", "crf": 8.0, "nodata": 0, "band_weights": "range",
          "reorder_frames": False},
         {"decorrelate": "klt", "crf": 8.0, "band_weights": "range", "reorder_frames": False}]


@pytest.mark.parametrize("j", range(len(CASES)))
def test_v3_fixtures_decode_identically(j):
    """Committed format-3 chunks (never regenerated) keep decoding to the same values."""
    from codec_testdata import assert_fixture_case_decodes

    assert_fixture_case_decodes(FIX3 / f"codec.{j:02d}", 3)


def write_v3_fixtures() -> None:  # pragma: no cover - run by hand when a case is added
    """Writes the cases whose folder does not exist yet; committed ones are never rewritten."""
    from codec_testdata import EOPATCH, NRT, raw, write_fixture_case
    bands = [np.stack([raw(NRT, v)[:4, :64, :64] for v in ("B2", "B3", "B4", "B8")], 1)]
    l1c = [raw(EOPATCH, "reflectance").astype(np.float32)[:3, :4, :48, :48]]
    arrays = [bands, l1c, bands, bands, bands,
              [raw(EOPATCH, "reflectance").astype(np.float32)[:3, 8:11, :48, :48]]]
    for j, (cfg, arrs) in enumerate(zip(CASES, arrays, strict=True)):
        d = FIX3 / f"codec.{j:02d}"
        if not d.exists():
            write_fixture_case(d, VideoCodec(**cfg), arrs)



def test_klt_at_high_rate_keeps_the_better_of_klt_and_band_by_band(nrt_bands):
    from xgeo_codecs.quality import _encode_target

    a = nrt_bands[:16]
    p = VideoParams(bpppb=2.0, nodata=0, decorrelate="klt", reorder_frames=False)
    both = chunk_info(encode(a, p))["quality"]
    rot = chunk_info(_encode_target(a, p))["quality"]
    sep = chunk_info(_encode_target(a, VideoParams(bpppb=2.0, nodata=0, decorrelate=None,
                                                   reorder_frames=False)))["quality"]
    assert both["encodes"] == rot["encodes"] + sep["encodes"]  # it measured both
    assert both["psnr"] >= max(rot["psnr"], sep["psnr"]) - 0.3  # and kept the better
    low = chunk_info(encode(a, {"bpppb": 0.3, "nodata": 0, "decorrelate": "klt",
                                "reorder_frames": False}))
    assert stamped(low, 3) and "klt" in low  # low rate: KLT alone, no extra search


def test_planes_packed_three_per_444_stream_decode_and_pay(nrt_bands):
    a = nrt_bands[:16]
    fixed = {"bpppb": 0.2, "nodata": 0, "decorrelate": None, "reorder_frames": False}
    packed = encode(a, fixed)
    grey = encode(a, {**fixed, "pack_planes": False})
    info = chunk_info(packed)
    assert info["groups"] == [[0, 1, 2]] and stamped(info, 3)  # B8 left grey
    assert "groups" not in chunk_info(grey)
    pp, pg = _psnr(a, decode(packed), 0), _psnr(a, decode(grey), 0)
    assert pp > pg + 0.2  # shared motion and partitions: measured +0.29 to +0.32 dB here
    assert len(packed) <= 1.12 * len(grey)
    two = encode(a[:, :2], {**fixed, "crf": 8, "bpppb": None})  # fewer than three: grey
    assert "groups" not in chunk_info(two)
    assert np.array_equal(decode(two) == 0, a[:, :2] == 0)


def test_corrupt_plane_groups_are_typed_errors(nrt_bands):
    from xgeo_codecs._encoder import repack

    blob = encode(nrt_bands[:4], {"crf": 10, "nodata": 0})
    for bad in ([[0, 1]], [[0, 0, 1]], [[1, 2, 3]], [[0, 1, 9]], "x"):
        broken = repack(blob, {"groups": bad}, b"", 3)
        with pytest.raises(CodecError, match="groups|corrupt"):
            decode(broken)


if __name__ == "__main__" and os.environ.get("XGEO_WRITE_FIXTURES") == "1":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    write_v3_fixtures()


def test_band_weights_give_every_band_the_same_error_relative_to_its_range(eo_reflectance):
    """Real L1C: B10 (cirrus) spans a fraction of the bright bands' range. Rotated in data
    units its error is the bright bands', tens of dB below its own scale; weighted by
    1 / range it keeps about the others' relative error, for a small cost in whole-chunk
    PSNR (the peak there is the brightest band's)."""
    r = eo_reflectance[:, :, :64, :64]
    fixed = {"bpppb": 1.0, "decorrelate": "klt", "reorder_frames": False}
    assert VideoParams().band_weights == "robust"  # the default

    def per_band(d):
        return [_psnr(r[:, b], d[:, b]) for b in range(r.shape[1])]

    plain = decode(encode(r, {**fixed, "band_weights": None}))
    pb = per_band(plain)
    narrow = int(np.argmin(np.nanmax(r, axis=(0, 2, 3)) - np.nanmin(r, axis=(0, 2, 3))))
    for weights in ("range", "robust"):
        weighted = decode(encode(r, {**fixed, "band_weights": weights}))
        wb = per_band(weighted)
        assert wb[narrow] > pb[narrow] + 6  # the narrow band is no longer drowned
        assert max(wb) - min(wb) < (max(pb) - min(pb)) / 2  # per-band PSNRs close up
        assert _psnr(r, weighted) > _psnr(r, plain) - 1.5  # the named trade: whole-chunk PSNR


def _bulk_psnr(a: np.ndarray, d: np.ndarray, keep: np.ndarray) -> float:
    """PSNR of the pixels ``keep`` with the 1st-99th percentile spread of ``a`` as peak."""
    lo, hi = np.percentile(a[keep], [1, 99])
    mse = float(np.mean((a[keep].astype(np.float64) - d[keep]) ** 2))
    return 10 * np.log10((hi - lo) ** 2 / mse)


def test_robust_weights_ignore_a_few_extreme_pixels_and_equal_range_weights_without_them(
        nrt_bands):
    """Built to favour each choice. Two real bands brought to the same spread, then 0.1 % of
    one band's pixels made extreme (saturated): with range weights that band looks 20x
    wider and its ordinary pixels take 20x the other band's relative error; robust weights
    see the bulk and keep both bands' ordinary pixels at the same relative error. Without the
    extreme pixels the two weightings are the same (they code the chunk identically)."""
    src = nrt_bands[:16, 1:3, :64, :64].astype(np.float64)
    valid = src > 0
    bulk = np.stack([np.percentile(src[:, j][valid[:, j]], [1, 99]) for j in range(2)])
    cube = np.where(valid, (src - bulk[None, :, 0, None, None])
                    / (bulk[None, :, 1, None, None] - bulk[None, :, 0, None, None]) * 2000
                    + 1000, 0)
    # clipped to the bulk: each band's range is its 1st-99th percentile spread
    cube = np.clip(np.round(cube), 1000, 3000).astype(np.uint16)
    cube[~valid] = 0
    fixed = {"bpppb": 1.0, "nodata": 0, "decorrelate": "klt", "reorder_frames": False}

    def codings(c):
        return {w: decode(encode(c, {**fixed, "band_weights": w})) for w in ("range", "robust")}

    clean = codings(cube)
    assert np.array_equal(clean["range"], clean["robust"])  # no outliers: the same weights
    spiky = cube.copy()
    rng = np.random.default_rng(0)
    hot = rng.random(spiky.shape[:1] + spiky.shape[2:]) < 0.001
    spiky[:, 1][hot & valid[:, 1]] = 1000 + 20 * 2000  # saturated: 20 spreads above the bulk
    dec = codings(spiky)
    ordinary = valid & ~np.stack([np.zeros_like(hot), hot], axis=1)
    psnr = {w: [_bulk_psnr(spiky[:, j], d[:, j], ordinary[:, j]) for j in range(2)]
            for w, d in dec.items()}
    assert psnr["range"][0] - psnr["range"][1] > 10  # the spiky band's pixels take the error
    assert abs(psnr["robust"][0] - psnr["robust"][1]) < 3  # the same relative error
    assert min(psnr["robust"]) > min(psnr["range"]) + 2  # the worst band: measured +3.3 dB
    w = kltmod.robust_weights(spiky.astype(np.float64), ~valid, [1000.0] * 2, [41000.0] * 2)
    assert np.allclose(w, [1.0, 1.0])  # the bulk, not the spikes, sets the weights
    assert np.allclose(kltmod.range_weights([1000.0] * 2, [3000.0, 41000.0]),
                       [np.sqrt(20), 1 / np.sqrt(20)])


def test_weighted_basis_is_inverted_exactly_and_equal_spreads_change_nothing():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(4, 1, 32, 32))
    cube = np.concatenate([base + 0.1 * rng.normal(size=base.shape),
                           1000 * base + 50 * rng.normal(size=base.shape)], axis=1)
    inv = np.zeros(cube.shape, bool)
    w = kltmod.range_weights(list(cube.min(axis=(0, 2, 3))), list(cube.max(axis=(0, 2, 3))))
    assert w[0] / w[1] > 500 and np.isclose(np.prod(w), 1.0)  # geometric mean 1
    m = kltmod.weighted_basis(cube, inv, w)
    assert np.array_equal(kltmod.unpack(kltmod.pack(m), 2), m)  # stored as used
    assert np.allclose(kltmod.inverse(kltmod.forward(cube, m), m), cube, atol=1e-6 * 1000)
    # bands of one spread: the weights are 1 and the basis is the plain KLT's
    same = np.concatenate([base, base + rng.normal(size=base.shape)], axis=1)
    ws = kltmod.range_weights([0.0, 0.0], [2.0, 2.0])
    assert np.array_equal(ws, [1.0, 1.0])
    assert np.array_equal(kltmod.weighted_basis(same, inv, ws), kltmod.basis(same, inv))
    # a constant band does not ask for an unbounded weight (the ratio guard)
    wc = kltmod.range_weights([0.0, 5.0], [1.0, 5.0])
    assert np.isfinite(wc).all() and wc.max() / wc.min() <= 1000.0 + 1e-9


def test_band_weights_option_is_checked_and_old_configs_read_as_data_units():
    from xgeo_codecs.params import CONFIG_VERSION_KEY

    with pytest.raises(CodecError, match="band_weights"):
        VideoParams(band_weights="std")
    v5 = VideoParams(bpppb=0.5, band_weights="range").to_config()
    v5[CONFIG_VERSION_KEY] = 5  # version 5 wrote its weights: read as written
    assert VideoParams.from_config(v5, stored=True).band_weights == "range"
    cfg = VideoParams(bpppb=0.5).to_config()
    cfg[CONFIG_VERSION_KEY] = 4
    del cfg["band_weights"]
    for stored in (True, False):
        assert VideoParams.from_config(cfg, stored=stored).band_weights is None
    assert VideoParams.from_config({"crf": 4}, stored=True).band_weights is None  # version 1
