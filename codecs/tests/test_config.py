"""The stored codec config: every parameter written (config_version 2, 3), old non-default-only
configs (version 1) read as the defaults they were written under, newer configs refused for
writing with a message to upgrade."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, fields

import numpy as np
import pytest
import zarr
from xgeo_codecs import (
    CODEC_ID,
    CONFIG_VERSION,
    CodecError,
    VideoCodec,
    VideoParams,
    VideoSerializer,
    decode,
    encode,
)
from xgeo_codecs.params import (
    CONFIG_VERSION_KEY,
    DEFAULTS_CONFIG_V1,
    EFFORT_PRESET,
    PRESET_BEFORE_V3,
)

NAMES = [f.name for f in fields(VideoParams)]


@dataclass(frozen=True)
class LaterParams(VideoParams):
    """VideoParams as a later release might define it: a live default changed."""

    decorrelate: str | None = "klt"


def test_the_stored_config_holds_every_parameter_resolved_in_a_stable_order():
    cfg = VideoCodec(bpppb=0.5).get_config()
    assert list(cfg) == ["id", CONFIG_VERSION_KEY, *NAMES]
    assert cfg["id"] == CODEC_ID and cfg[CONFIG_VERSION_KEY] == CONFIG_VERSION == 6
    assert cfg["codec"] == "hevc" and cfg["bpppb"] == 0.5 and cfg["decorrelate"] == "auto"
    assert cfg["reorder_frames"] == "auto" and cfg["effort"] == "default"
    assert cfg["keyint"] is None
    assert json.loads(json.dumps(cfg)) == cfg  # plain JSON types
    ser = VideoSerializer(lossless=True, value_range=(0, 1)).to_dict()
    assert ser["name"] == CODEC_ID and list(ser["configuration"]) == [CONFIG_VERSION_KEY, *NAMES]
    assert ser["configuration"]["codec"] == "ffv1"  # resolved, not null
    assert ser["configuration"]["value_range"] == [0.0, 1.0]
    for codec in (VideoCodec(crf=5, nodata=0, options={"bf": 2}), VideoCodec(lossless=True)):
        assert VideoCodec.from_config(codec.get_config()) == codec
        assert repr(codec).startswith("VideoCodec(")  # the short view: non-default only
    assert repr(VideoCodec(lossless=True)) == "VideoCodec(lossless=True)"


def test_the_frozen_v1_defaults_are_what_v1_wrote_under_and_name_only_known_parameters():
    assert set(DEFAULTS_CONFIG_V1) <= set(NAMES)
    with pytest.raises(TypeError):
        DEFAULTS_CONFIG_V1["crf"] = 4  # type: ignore[index]
    # a version-1 config with nothing in it is the default coding it was written under:
    # no KLT, chronological frames (the "auto" tools came with config version 3)
    assert VideoParams.from_config({}, stored=True) == VideoParams(
        decorrelate=None, reorder_frames=False, effort="fast", band_weights=None)
    assert VideoParams.from_config({}, stored=False) == VideoParams()  # a user's: today's


def test_a_version_2_config_reads_without_the_parameters_version_3_added():
    cfg = VideoParams(bpppb=0.5, decorrelate=None, reorder_frames=False).to_config()
    cfg[CONFIG_VERSION_KEY] = 2
    del cfg["effort"]
    for stored in (True, False):
        p = VideoParams.from_config(cfg, stored=stored)
        assert p.effort == "fast" and p.decorrelate is None and p.reorder_frames is False
    assert VideoParams.from_config({"crf": 4}, stored=True).effort == "fast"  # version 1
    assert VideoParams.from_config({"crf": 4}, stored=False).effort == "default"  # a user's
    # "fast" is the x265 preset versions 1 and 2 used when preset was null: if it ever
    # changes, from_config must resolve preset for configs older than version 3
    assert EFFORT_PRESET["fast"] == PRESET_BEFORE_V3["hevc"]


def test_a_version_3_config_reads_as_one_group_of_frames_per_chunk():
    cfg = VideoParams(bpppb=0.5).to_config()
    cfg[CONFIG_VERSION_KEY] = 3
    del cfg["keyint"]
    for stored in (True, False):
        assert VideoParams.from_config(cfg, stored=stored).keyint is None


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8"])
def test_keyint_must_be_a_positive_frame_count(bad):
    with pytest.raises(CodecError, match="keyint"):
        VideoParams(keyint=bad)


def test_an_old_config_keeps_its_meaning_when_a_live_default_changes():
    assert LaterParams(bpppb=0.5).decorrelate == "klt"  # the live default moved
    old = {"bpppb": 0.5}  # as version 1 wrote it: non-default fields only
    assert LaterParams.from_config(old, stored=True).decorrelate is None  # as written
    assert LaterParams.from_config(old, stored=False).decorrelate == "klt"  # a user's args
    # a full config carries its own values, whatever the live defaults
    new = LaterParams(bpppb=0.5).to_config()
    assert new["decorrelate"] == "klt"
    assert LaterParams.from_config(new, stored=True).decorrelate == "klt"
    off = LaterParams(bpppb=0.5, decorrelate=None).to_config()
    assert LaterParams.from_config(off, stored=True).decorrelate is None
    assert VideoParams.from_config(new, stored=True) == VideoParams(bpppb=0.5, decorrelate="klt")


def test_a_full_config_missing_a_parameter_is_refused_naming_it():
    cfg = VideoParams(crf=4).to_config()
    del cfg["pack_planes"]
    with pytest.raises(CodecError, match="pack_planes"):  # a user's: at once
        VideoParams.from_config(cfg, stored=False)
    with pytest.warns(UserWarning, match="pack_planes"):  # stored: reads, refuses to write
        p = VideoParams.from_config(cfg, stored=True)
    with pytest.raises(CodecError, match="lacks parameters .'pack_planes'.*writing is refused"):
        p.check_writable()
    for bad in (1, 0, "2", 2.0, True):  # version 1 has no key; others are not versions
        with pytest.raises(CodecError, match=CONFIG_VERSION_KEY):
            VideoParams.from_config({**VideoParams().to_config(), CONFIG_VERSION_KEY: bad})


@pytest.mark.parametrize("newer", [
    {"knob_of_a_newer_version": "max"},  # a parameter this version does not know
    {CONFIG_VERSION_KEY: CONFIG_VERSION + 1},  # a later schema
])
def test_a_config_of_a_newer_writer_reads_but_refuses_to_encode(tmp_path, newer):
    cfg = {**VideoParams(lossless=True).to_config(), **newer}
    with pytest.raises(CodecError, match="upgrade xgeo-codecs"):  # a user's: at once
        VideoParams.from_config(cfg)
    data = np.arange(4 * 16 * 16, dtype="uint16").reshape(4, 16, 16)
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=(8, 16, 16), chunks=(4, 16, 16),
                          dtype="uint16", serializer=VideoSerializer(lossless=True))
    z[:4] = data
    meta_path = tmp_path / "a.zarr" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["codecs"][0]["configuration"] = cfg
    meta_path.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="newer xgeo-codecs"):
        z = zarr.open_array(str(tmp_path / "a.zarr"), mode="r+")
    np.testing.assert_array_equal(z[:4], data)  # reading works: chunks describe themselves
    with pytest.raises(CodecError, match="upgrade xgeo-codecs"):
        z[4:] = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codec = VideoCodec.from_config({"id": CODEC_ID, **cfg})
    assert np.array_equal(codec.decode(encode(data, {"lossless": True})), data)
    with pytest.raises(CodecError, match="upgrade xgeo-codecs"):
        codec.encode(data)


@pytest.mark.parametrize("edit", [
    {"crf": 99}, {"crf": "abc"}, {"codec": "h266"}, {"psnr": -3}, {"band_weights": "loud"},
    {"threads": 2, "crf": 99}, {"frame_axis": "x", "crf": 99}, {"frame_axis": 5},
    {"band_weights": [1.0, 2.0]},  # two weights for a chunk of one band
])
def test_an_invalid_stored_config_reads_its_chunks_and_refuses_to_write(tmp_path, edit):
    """Metadata edited by hand (or damaged) to values this codec refuses: the chunks hold
    what decoding needs, so the array still reads, with a warning naming the bad value, and
    a write is refused with the reason, before any encoder sees the parameters."""
    data = np.arange(4 * 16 * 16, dtype="uint16").reshape(4, 16, 16)
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=(8, 16, 16), chunks=(4, 16, 16),
                          dtype="uint16", serializer=VideoSerializer(crf=4), compressors=None)
    z[:4] = data
    expected = z[:4]
    meta_path = tmp_path / "a.zarr" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["codecs"][0]["configuration"].update(edit)
    meta_path.write_text(json.dumps(meta))
    name = "|".join(edit)  # (the first found of the bad values is named)
    if edit in ({"frame_axis": 5}, {"band_weights": [1.0, 2.0]}):  # valid but not here
        with pytest.raises(CodecError, match=name):  # given by a user: refused at once
            zarr.create_array(str(tmp_path / "b.zarr"), shape=(8, 16, 16), chunks=(4, 16, 16),
                              dtype="uint16", compressors=None,
                              serializer=VideoSerializer(crf=4, **edit))
    else:
        with pytest.raises(CodecError, match=name):  # given by a user: refused at once
            VideoParams.from_config(meta["codecs"][0]["configuration"])
    with pytest.warns(UserWarning, match=f"({name}).*writing is refused"):
        z = zarr.open_array(str(tmp_path / "a.zarr"), mode="r+")
    np.testing.assert_array_equal(z[:4], expected)
    if "threads" in edit:  # the reader's valid choices are kept
        assert z.serializer.params.threads == 2
    with pytest.raises(CodecError, match=f"({name}).*writing is refused"):
        z[4:] = data
    assert sorted(p.name for p in (tmp_path / "a.zarr" / "c").iterdir()) == ["0"]


def test_an_old_style_store_opens_reads_and_takes_new_chunks_as_it_was_written(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.integers(0, 4000, (8, 32, 32))).astype("uint16")
    z = zarr.create_array(str(tmp_path / "o.zarr"), shape=data.shape, chunks=(4, 32, 32),
                          dtype="uint16", serializer=VideoSerializer(crf=8), compressors=None)
    z[:4] = data[:4]
    meta_path = tmp_path / "o.zarr" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["codecs"][0]["configuration"] = {"crf": 8}  # as version 1 wrote it
    meta_path.write_text(json.dumps(meta))
    z = zarr.open_array(str(tmp_path / "o.zarr"), mode="r+")
    # what version 1 meant by its defaults
    v1 = {"decorrelate": None, "reorder_frames": False, "effort": "fast", "band_weights": None}
    assert z.serializer.params == VideoParams(crf=8, **v1)
    z[4:] = data[4:]
    blob = (tmp_path / "o.zarr" / "c" / "1" / "0" / "0").read_bytes()
    assert blob == encode(data[4:], VideoParams(crf=8, nodata=0.0, **v1))  # fill 0 is masked
    out = z[:]
    assert np.abs(out.astype(int) - data).max() < 400
    np.testing.assert_array_equal(decode(blob), out[4:])


def test_a_numbered_preset_may_be_given_as_a_number_and_a_bad_one_is_named():
    """SVT-AV1 numbers its presets: preset=8 codes like preset="8" (it used to fail inside
    PyAV with "Argument 'value' has incorrect type"); a preset of another type is refused."""
    a = np.random.default_rng(0).integers(100, 3000, (3, 32, 32)).astype(np.uint16)
    as_int = VideoCodec(codec="av1", preset=8, crf=40)
    assert as_int.get_config()["preset"] == "8"
    assert as_int.encode(a) == VideoCodec(codec="av1", preset="8", crf=40).encode(a)
    for bad in (1.5, True, "", ["slow"]):
        with pytest.raises(CodecError, match="preset="):
            VideoCodec(preset=bad)
