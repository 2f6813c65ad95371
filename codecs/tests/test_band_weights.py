"""Per-band ``band_weights`` (one number per band): the user says which error matters.

A model that standardises its inputs sees each band's error divided by the band's std; the
chunk's own spread cannot tell that std when clouds widen it. These tests check that given
weights are validated and stored, that they shape the KLT, that a chunk with another band
count is refused, and that the tools trial compares candidates by the weighted bands.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr
from xgeo_codecs import CodecError, VideoParams, VideoSerializer, chunk_info, decode, encode
from xgeo_codecs.chunk_metrics import chunk_stats, valid_mask


def _psnr(a: np.ndarray, d: np.ndarray, nodata=None) -> float:
    return chunk_stats(a, d, valid_mask(a, nodata))["psnr"]


@pytest.mark.parametrize("bad", [[0.0, 1.0], [-1.0, 2.0], [float("nan"), 1.0],
                                 [float("inf"), 1.0], [], ["a", "b"], [None, 1.0]])
def test_per_band_weights_must_be_positive_finite_numbers(bad):
    with pytest.raises(CodecError, match="band_weights"):
        VideoParams(band_weights=bad)


def test_per_band_weights_are_stored_in_full_and_read_back():
    p = VideoParams(bpppb=0.5, band_weights=np.array([40, 35.5, 22, 20]))
    assert p.band_weights == (40.0, 35.5, 22.0, 20.0)  # a tuple: the params stay hashable
    hash(p)
    cfg = json.loads(json.dumps(p.to_config()))
    assert cfg["band_weights"] == [40.0, 35.5, 22.0, 20.0]
    for stored in (True, False):
        assert VideoParams.from_config(cfg, stored=stored) == p


def test_a_chunk_with_another_band_count_is_refused(nrt_bands):
    with pytest.raises(CodecError, match="band_weights gives 3 weights but this chunk holds 4"):
        encode(nrt_bands[:4], {"crf": 20, "nodata": 0, "band_weights": [1.0, 2.0, 3.0]})
    with pytest.raises(CodecError, match="holds 1 band"):  # also when nothing is rotated
        encode(nrt_bands[:4, 0], {"crf": 20, "nodata": 0, "band_weights": [1.0, 2.0]})


def test_equal_given_weights_code_the_bands_in_data_units(nrt_bands):
    # the weights are relative (scaled to a geometric mean of 1): equal ones are no weights
    a = nrt_bands[:6]
    fixed = {"crf": 18, "nodata": 0, "decorrelate": "klt", "reorder_frames": False}
    assert encode(a, {**fixed, "band_weights": [3.0] * 4}) == encode(
        a, {**fixed, "band_weights": None})


def test_a_weighted_band_gets_the_smaller_error(nrt_bands):
    a = nrt_bands[:8]
    fixed = {"crf": 16, "nodata": 0, "decorrelate": "klt", "reorder_frames": False}
    even = decode(encode(a, {**fixed, "band_weights": [1.0] * 4}))
    favour = decode(encode(a, {**fixed, "band_weights": [8.0, 1.0, 1.0, 1.0]}))
    assert _psnr(a[:, 0], favour[:, 0], 0) > _psnr(a[:, 0], even[:, 0], 0) + 2  # measured +3.2
    assert _psnr(a[:, 3], favour[:, 3], 0) < _psnr(a[:, 3], even[:, 3], 0)


def test_the_trial_compares_tools_by_the_weighted_bands(nrt_bands):
    """Built so the two measures disagree: B2 weighs 1000 times the other bands. In data
    units the weighted KLT loses badly to coding each band on its own (the other bands get
    almost nothing); in the weighted bands, what this user asked for, it wins. The trial
    must follow the user's measure."""
    a = nrt_bands[:16]
    w = np.array([1000.0, 1.0, 1.0, 1.0])
    fixed = {"bpppb": 0.25, "nodata": 0, "reorder_frames": False}
    auto = encode(a, {**fixed, "band_weights": w})
    plain = encode(a, {**fixed, "decorrelate": None})
    info = chunk_info(auto)
    assert "klt" in info and info["tools"]["tried"][0][0] == "klt"
    assert info["tools"]["tried"][0][1] > 1  # dB of the weighted bands at equal rate
    da, dp = decode(auto), decode(plain)
    wa = w[None, :, None, None]
    assert _psnr(a * wa, da * wa, 0) > _psnr(a * wa, dp * wa, 0) + 3  # the user's measure
    assert _psnr(a, da, 0) < _psnr(a, dp, 0) - 3  # data units: the trade the user chose


def test_zarr_array_with_per_band_weights(tmp_path, eo_reflectance):
    r = eo_reflectance[:, :, :64, :64]
    std = r.std(axis=(0, 2, 3))
    ser = VideoSerializer(bpppb=1.0, band_weights=list(1 / std))
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=r.shape, chunks=r.shape,
                          dtype=r.dtype, serializer=ser, compressors=None, fill_value=0)
    z[:] = r
    meta = json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())
    stored = meta["codecs"][0]["configuration"]["band_weights"]
    assert np.allclose(stored, 1 / std)
    back = zarr.open_array(str(tmp_path / "a.zarr"))[:]
    assert back.shape == r.shape and _psnr(r, back) > 40


def test_a_zarr_array_whose_chunks_hold_other_bands_is_refused_when_made(tmp_path):
    ser = VideoSerializer(bpppb=1.0, band_weights=[1.0, 2.0, 3.0])
    with pytest.raises(CodecError, match=r"a chunk of this array \(chunk shape \(5, 2, 64, 64\)\) holds 2 band\(s\)"):
        zarr.create_array(str(tmp_path / "a.zarr"), shape=(5, 4, 64, 64), chunks=(5, 2, 64, 64),
                          dtype="uint16", serializer=ser, compressors=None, fill_value=0)
    assert not (tmp_path / "a.zarr" / "zarr.json").exists()
    ok = zarr.create_array(str(tmp_path / "b.zarr"), shape=(5, 3, 64, 64), chunks=(5, 3, 64, 64),
                           dtype="uint16", serializer=ser, compressors=None, fill_value=0)
    assert ok.shape == (5, 3, 64, 64)


def test_psnr_targets_stay_in_data_units_with_per_band_weights(nrt_bands):
    a = nrt_bands[:8]
    blob = encode(a, {"psnr": 45.0, "nodata": 0, "band_weights": [4.0, 1.0, 1.0, 1.0]})
    assert 45.0 <= _psnr(a, decode(blob), 0) <= 45.5
    assert chunk_info(blob)["tools"]["tried"]  # the trial ran, scored on the weighted bands
