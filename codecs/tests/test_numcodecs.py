"""numcodecs' own checks and the backward-compatibility fixtures (kept forever)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numcodecs
import numpy as np
import pytest
from codec_testdata import FIXTURES
from numcodecs.tests.common import (
    check_backwards_compatibility,
    check_config,
    check_encode_decode,
    check_repr,
)
from xgeo_codecs import CODEC_ID, VideoCodec

# Fixture layout (numcodecs style): fixtures/video/v<format>/<lossless|lossy>/
#   array.NN.npy, codec.MM/config.json, codec.MM/encoded.NN.dat (+ decoded.NN.npy for lossy)
# The codecs the v1 fixtures were written with, as version-1 configs mean them (no KLT,
# chronological frames, x265 preset faster: config version 3 brought "auto" and effort)
V1 = {"decorrelate": None, "reorder_frames": False, "effort": "fast", "band_weights": None}
LOSSLESS = [VideoCodec(lossless=True, **V1), VideoCodec(lossless=True, codec="hevc", **V1)]
LOSSY = [VideoCodec(**V1), VideoCodec(codec="av1", crf=25, **V1),
         VideoCodec(codec="vp9", crf=20, **V1), VideoCodec(crf=10, nodata=0, **V1)]


def test_numcodecs_encode_decode_lossless(nrt_b2):
    check_encode_decode(nrt_b2[:4, :20, :30].copy(), VideoCodec(lossless=True))
    check_encode_decode(nrt_b2[:4, :20, :30].astype(np.float32) / 10000, VideoCodec(lossless=True))


def test_numcodecs_style_lossy_round_trip_within_precision(nrt_b2):
    # check_encode_decode also feeds flat byte buffers, which only a lossless codec can
    # round-trip; lossy codecs get the ndarray path that Zarr and numcodecs users take.
    a = nrt_b2[:8, :48, :48].astype(np.float32) / 10000
    codec = VideoCodec(qp=0)
    out = np.empty_like(a)
    codec.decode(codec.encode(a), out=out)
    np.testing.assert_array_almost_equal(out, a, decimal=2)


def test_numcodecs_config_and_repr(monkeypatch):
    import numcodecs.tests.common as common

    monkeypatch.setattr(common, "VideoCodec", VideoCodec, raising=False)  # eval() needs it
    for codec in LOSSLESS + LOSSY + [VideoCodec(value_range=(0, 10000), frame_axis=1)]:
        check_config(codec)
    check_repr("VideoCodec(lossless=True)")
    check_repr("VideoCodec(codec='av1', crf=25)")
    check_repr("VideoCodec(crf=10, value_range=(0.0, 1.0))")
    assert numcodecs.get_codec({"id": CODEC_ID, "qp": 4}) == VideoCodec(qp=4, **V1)


def test_metadata_from_a_newer_version_still_opens(nrt_b2):
    """A future parameter in stored config must not lock readers out: the chunk says how
    to decode it; only the constructor stays strict."""
    with pytest.warns(UserWarning, match="future_knob"):
        codec = numcodecs.get_codec({"id": CODEC_ID, "lossless": True, "future_knob": 3})
    a = nrt_b2[:4, :20, :20]
    np.testing.assert_array_equal(codec.decode(VideoCodec(lossless=True).encode(a)), a)
    with pytest.raises(Exception, match="unknown codec parameters"):
        VideoCodec(future_knob=3)


def _fixture_arrays(name: str) -> list[np.ndarray]:
    folder = FIXTURES / "v1" / name
    return [np.load(f) for f in sorted(folder.glob("array.*.npy"))]


def test_backward_compatibility_lossless_with_numcodecs_checker(tmp_path, monkeypatch):
    """numcodecs' own checker, pointed at our committed v1 fixtures (never regenerated)."""
    arrays = _fixture_arrays("lossless")
    assert len(arrays) >= 4, "committed fixtures are missing"
    dst = tmp_path / "fixture" / CODEC_ID / "v1" / "lossless"
    shutil.copytree(FIXTURES / "v1" / "lossless", dst)
    before = sorted(p.name for p in dst.rglob("*"))
    monkeypatch.chdir(tmp_path)
    # codec.01 (x265 lossless) has no blob for > 12-bit arrays; it is checked below
    check_backwards_compatibility(CODEC_ID, arrays, [LOSSLESS[0], None], prefix="v1/lossless")
    assert sorted(p.name for p in dst.rglob("*")) == before  # nothing had to be written


def test_backward_compatibility_x265_lossless():
    folder = FIXTURES / "v1" / "lossless"
    codec = numcodecs.get_codec(json.loads((folder / "codec.01" / "config.json").read_text()))
    assert codec == LOSSLESS[1]
    blobs = sorted((folder / "codec.01").glob("encoded.*.dat"))
    assert len(blobs) >= 3
    for enc in blobs:
        arr = np.load(folder / f"array.{enc.name.split('.')[1]}.npy")
        np.testing.assert_array_equal(codec.decode(enc.read_bytes()), arr)


@pytest.mark.parametrize("j", range(len(LOSSY)))
def test_backward_compatibility_lossy_decodes_identically(j):
    folder = FIXTURES / "v1" / "lossy" / f"codec.{j:02d}"
    config = json.loads((folder / "config.json").read_text())
    codec = numcodecs.get_codec(config)
    assert codec == LOSSY[j]
    n = 0
    for enc in sorted(folder.glob("encoded.*.dat")):
        i = enc.name.split(".")[1]
        want = np.load(folder / f"decoded.{i}.npy")
        got = codec.decode(enc.read_bytes())
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        n += 1
    assert n >= 2


def write_fixtures() -> None:  # pragma: no cover - run by hand when a format version is added
    """``XGEO_WRITE_FIXTURES=1 python codecs/tests/test_numcodecs.py`` writes missing files only."""
    from codec_testdata import EOPATCH, NRT, raw

    b2 = raw(NRT, "B2")
    scl = raw(NRT, "SCL")
    refl = raw(EOPATCH, "reflectance").astype(np.float32)
    cloudy = np.where(np.isin(scl, [3, 8, 9, 10]), np.nan, b2 / 10000.0).astype(np.float32)
    lossless_arrays = [b2[:16, :64, :64], scl[:8, :33, :17], refl[:, :2, :40, :40],
                       cloudy[:8, :50, :50], b2[0, :7, :9].astype(np.int16),
                       refl[:, 1:5, :40, :40]]  # 05: inter-plane prediction
    lossy_arrays = [b2[:16, :64, :64], cloudy[:8, :50, :50], refl[:, :2, :40, :40]]
    for name, arrays, codecs in (("lossless", lossless_arrays, LOSSLESS),
                                 ("lossy", lossy_arrays, LOSSY)):
        folder = FIXTURES / "v1" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, arr in enumerate(arrays):
            fn = folder / f"array.{i:02d}.npy"
            if not fn.exists():
                np.save(fn, arr)
        for j, codec in enumerate(codecs):
            cdir = folder / f"codec.{j:02d}"
            cdir.mkdir(exist_ok=True)
            cfn = cdir / "config.json"
            if not cfn.exists():
                cfn.write_text(json.dumps(codec.get_config(), sort_keys=True, indent=4))
            for i, arr in enumerate(arrays):
                efn = cdir / f"encoded.{i:02d}.dat"
                if efn.exists():
                    continue
                try:
                    blob = codec.encode(arr)
                except Exception as err:  # e.g. x265 lossless on > 12-bit data
                    print(f"skip {name} codec.{j:02d} array.{i:02d}: {err}"[:120])
                    continue
                efn.write_bytes(blob)
                if name == "lossy":
                    np.save(cdir / f"decoded.{i:02d}.npy", codec.decode(blob))


if __name__ == "__main__" and os.environ.get("XGEO_WRITE_FIXTURES") == "1":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    write_fixtures()
