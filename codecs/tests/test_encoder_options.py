"""Encoder options: an allow-list of coding parameters, for options a user passes and options
a store's metadata carries (a tampered ``zarr.json`` must not make x265 write files), and
user ``x265-params`` merged with the codec's own settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr
from xgeo_codecs import (
    CodecError,
    VideoCodec,
    VideoParams,
    VideoSerializer,
    chunk_info,
    decode,
    encode,
)
from xgeo_codecs.encoder_options import merge, parse_params


@pytest.fixture(scope="module")
def chunk(nrt_b2) -> np.ndarray:
    """A real (4, 64, 64) uint16 chunk (frames >= 64 but < 128: the codec sets ctu=32)."""
    return np.ascontiguousarray(nrt_b2[:4, :64, :64])


def _attacks(tmp_path) -> list[tuple[str, object]]:
    return [(f"analysis-save={tmp_path / 'victim.dat'}", tmp_path / "victim.dat"),
            (f"csv={tmp_path / 'victim.csv'}", tmp_path / "victim.csv"),
            (f"ctu=32:csv-log-level=2:csv={tmp_path / 'log.csv'}", tmp_path / "log.csv")]


@pytest.mark.parametrize("attack", range(3))
def test_tampered_zarr_v3_metadata_cannot_make_x265_write_files(tmp_path, chunk, attack):
    params, victim = _attacks(tmp_path)[attack]
    path = tmp_path / "a.zarr"
    z = zarr.create_array(str(path), shape=chunk.shape, chunks=chunk.shape, dtype=chunk.dtype,
                          serializer=VideoSerializer(crf=20.0), fill_value=0)
    z[:] = chunk
    meta_path = path / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["codecs"][0]["configuration"]["options"] = {"x265-params": params}
    meta_path.write_text(json.dumps(meta))
    z2 = zarr.open_array(str(path), mode="r+")
    assert z2[:].shape == chunk.shape  # reading never uses the options
    with pytest.raises(CodecError, match="x265-params key 'c(sv|sv-log-level)'|analysis-save"):
        z2[:] = chunk
    assert not victim.exists()


def test_tampered_zarr_v2_numcodecs_config_cannot_make_x265_write_files(tmp_path, chunk):
    victim = tmp_path / "victim.dat"
    path = tmp_path / "v2.zarr"
    z = zarr.create_array(str(path), shape=chunk.shape, chunks=chunk.shape, dtype=chunk.dtype,
                          zarr_format=2, compressors=VideoCodec(crf=20.0))
    z[:] = chunk
    meta_path = path / ".zarray"
    meta = json.loads(meta_path.read_text())
    meta["compressor"]["options"] = {"x265-params": f"analysis-save={victim}"}
    meta_path.write_text(json.dumps(meta))
    z2 = zarr.open_array(str(path), mode="r+")
    assert z2[:].shape == chunk.shape
    with pytest.raises(CodecError, match="analysis-save"):
        z2[:] = chunk
    assert not victim.exists()
    # the codec rebuilt from the tampered config refuses too, before libav sees anything
    codec = VideoCodec.from_config(meta["compressor"])
    with pytest.raises(CodecError, match="analysis-save"):
        codec.encode(chunk)
    assert not victim.exists()


@pytest.mark.parametrize("options, match", [
    ({"x265-params": "analysis-load=x"}, "analysis-load"),
    ({"x265-params": "dump-config=x"}, "dump-config"),
    ({"x265-params": "recon=x.yuv"}, "recon"),
    ({"x265-params": "qpfile=q.txt"}, "qpfile"),
    ({"x265-params": "zonefile=z.txt"}, "zonefile"),
    ({"x265-params": "stats=s.log"}, "stats"),
    ({"x265-params": "lambda-file=l.txt"}, "lambda-file"),
    ({"x265-params": "scaling-list=default"}, "scaling-list"),
    ({"x265-params": "log-level=full"}, "log-level"),
    ({"x265-params": "pools=64"}, "pools"),
    ({"x265-params": "numa-pools=8"}, "numa-pools"),
    ({"x265-params": "frame-threads=8"}, "frame-threads"),
    ({"x265-params": "analysis_save=x"}, "analysis-save"),  # x265 reads _ as -
    ({"x265-params": "not-a-param=1"}, "not-a-param"),
    ({"x265-params": "bframes=/tmp/x"}, "bframes"),
    ({"x265-params": "bframes=2\\:csv=x"}, "bframes"),  # no escape reaches libav's parser
    ({"flags": "pass1"}, "flags"),  # libx265 writes x265_2pass.log on pass 1
    ({"threads": "64"}, "threads"),
    ({"preset": {"nested": 1}}, "preset"),
    ({"svtav1-params": "fgs-table=/tmp/grain.tbl"}, "fgs-table"),
    ({"svtav1-params": "lp=64"}, "lp"),
    # the quality is the codec's (crf=, qp=, the targets, lossless=): a user's option would
    # override it unseen, past its checks (libx265 segfaults on a negative qp; SVT-AV1 reads
    # crf 0 as "not set"; a psnr= search whose every probe codes at the option's crf)
    ({"x265-params": "qp=-1"}, "set by the codec itself .from qp="),
    ({"x265-params": "qp=-6:bframes=2"}, "set by the codec itself .from qp="),
    ({"x265-params": "crf=40"}, "set by the codec itself .from crf="),
    ({"svtav1-params": "crf=0"}, "set by the codec itself .from crf="),
    ({"crf": "0"}, "'crf' is set by the codec itself .from crf="),
    ({"qp": 4}, "'qp' is set by the codec itself .from qp="),
    ({"lossless": "0"}, "'lossless' is set by the codec itself .from lossless="),
    ({"global_quality": "20"}, "'global_quality' is set by the codec itself"),
])
def test_options_outside_the_allow_list_are_refused(options, match):
    with pytest.raises(CodecError, match=match):
        VideoParams(options=options)
    # and the same when they come from stored metadata, at encode time
    cfg = {"options": options, **({"codec": "av1"} if "svtav1-params" in options else {})}
    p = VideoParams.from_config(cfg, stored=True)
    with pytest.raises(CodecError, match=match):
        encode(np.zeros((2, 64, 64), "uint16") + np.arange(64, dtype="uint16"), p)


def test_coding_parameters_are_allowed():
    assert parse_params("bframes=2:rdoq-level=1:no-sao:deblock=-1,-1:me=star", "x265-params") \
        == {"bframes": "2", "rdoq-level": "1", "no-sao": "1", "deblock": "-1,-1", "me": "star"}
    assert parse_params("qpmin=0:qpmax=40", "x265-params") == {"qpmin": "0", "qpmax": "40"}
    p = VideoParams(options={"x265-params": "bframes=2", "bf": 2})
    assert p.options == {"x265-params": "bframes=2", "bf": "2"}
    assert VideoParams(lossless=True, options={"context": "1"}).options == {"context": "1"}


def test_user_x265_params_merge_with_the_codecs_own(chunk, capfd):
    capfd.readouterr()
    blob = encode(chunk, {"crf": 10.0, "encoder": "libx265",
                          "options": {"x265-params": "bframes=2:scenecut=40"}})
    out, err = capfd.readouterr()
    assert "x265 [" not in err and "x265 [" not in out  # logging stays off
    got = dict(kv.split("=") for kv in chunk_info(blob)["options"]["x265-params"].split(":"))
    assert got["bframes"] == "2" and got["scenecut"] == "40"  # the user's keys win
    for key, value in (("ctu", "32"), ("rdoq-level", "2")):
        assert got[key] == value, key
    # how the encoder ran (logs, thread pools) is not recorded: not a coding parameter
    assert not {"info", "log-level", "pools", "frame-threads"} & set(got)
    dec = decode(blob)
    ref = decode(encode(chunk, {"crf": 10.0, "encoder": "libx265"}))
    # the codec's settings kept: error of the same order as without the user's keys
    err_user = np.abs(dec.astype(float) - chunk).max()
    err_ref = np.abs(ref.astype(float) - chunk).max()
    assert err_user <= 1.5 * err_ref + 2


def test_x265_params_for_a_hardware_encoder_say_which_encoder_they_are_for(chunk):
    # checked before libav is asked for the encoder: no GPU needed for this test
    for opts, match in (("bframes=2", "is for libx265, not hevc_nvenc"),
                        ("analysis-save=x", "analysis-save")):  # named whatever the encoder
        p = VideoParams.from_config({"encoder": "hevc_nvenc",
                                     "options": {"x265-params": opts}}, stored=True)
        with pytest.raises(CodecError, match=match):
            encode(chunk, p)


def test_merge_replaces_a_key_and_its_no_form():
    assert merge({"x265-params": "sao=1:ctu=32"}, {"x265-params": "no-sao=1"}) == \
        {"x265-params": "ctu=32:no-sao=1"}
    assert merge({"preset": "faster"}, {"preset": "slow"}) == {"preset": "slow"}
    assert merge({"preset": "6"}, {"svtav1-params": "tune=0"}) == \
        {"preset": "6", "svtav1-params": "tune=0"}


def test_every_committed_fixture_config_still_decodes_and_can_be_written_with():
    """The stored configs of the committed fixtures pass the allow-list: their blobs decode
    to the stored values and a store made with them can still be appended to."""
    from codec_testdata import FIXTURES

    configs = sorted(FIXTURES.glob("v*/*/codec.*/config.json"))
    assert len(configs) >= 5
    for cfg_path in configs:
        codec = VideoCodec.from_config(json.loads(cfg_path.read_text()))
        case = cfg_path.parent
        for enc in sorted(case.glob("encoded.*.dat")):
            i = enc.name.split(".")[1]
            want = case / f"decoded.{i}.npy"  # lossless cases: the original arrays
            want = np.load(want if want.exists() else case.parent / f"array.{i}.npy")
            np.testing.assert_array_equal(codec.decode(enc.read_bytes()), want)
        sample = want
        assert codec.decode(codec.encode(sample)).shape == sample.shape
