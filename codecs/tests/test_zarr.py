"""Zarr v3 round trips, dask reads (threads and processes), entry points, threads, fork."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import dask
import dask.array as da
import numpy as np
import pytest
import zarr
from xgeo_codecs import (
    CODEC_ID,
    CodecError,
    VideoCodec,
    VideoParams,
    VideoSerializer,
    chunk_info,
    decode,
    encode,
)


def _array(path, data, serializer, chunks, fill_value=0):
    z = zarr.create_array(str(path), shape=data.shape, chunks=chunks, dtype=data.dtype,
                          serializer=serializer, compressors=None, fill_value=fill_value)
    z[:] = data
    return z


def test_zarr_v3_lossless_round_trip_with_edge_chunks(tmp_path, nrt_bands):
    data = np.ascontiguousarray(nrt_bands[:20, :2])  # (20, 2, 100, 100): edge chunks on t, y, x
    _array(tmp_path / "a.zarr", data, VideoSerializer(lossless=True), (16, 1, 64, 64))
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="r")
    np.testing.assert_array_equal(z[:], data)
    np.testing.assert_array_equal(z[3:17, 1, 50:90, 7:77], data[3:17, 1, 50:90, 7:77])
    meta = json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())
    # every parameter is stored (config_version 2), resolved: the codec is named
    assert meta["codecs"][0] == {"name": CODEC_ID,
                                 "configuration": VideoParams(lossless=True).to_config()}
    assert meta["codecs"][0]["configuration"]["codec"] == "ffv1"


def test_edge_chunk_padding_does_not_widen_the_value_range(tmp_path, nrt_b2):
    data = np.ascontiguousarray(nrt_b2[:16, :70, :70])  # 64x64 chunks: edge chunks padded
    z = _array(tmp_path / "p.zarr", data, VideoSerializer(crf=4), (16, 64, 64), fill_value=0)
    out = z[:]
    edge = (slice(None), slice(64, 70), slice(64, 70))
    # zarr pads the corner chunk with 0 (its fill_value): masked as "missing", the value
    # mapping keeps the real range of the 6 x 6 pixels of data
    info = chunk_info((tmp_path / "p.zarr" / "c" / "0" / "1" / "1").read_bytes())
    mapping = info["planes"][0][1]
    assert (mapping["lo"], mapping["hi"]) == (data[edge].min(), data[edge].max())
    assert len(info["masks"]) == 1
    np.testing.assert_array_equal(out == 0, data == 0)  # real pixels never read as missing
    assert np.abs(out[edge].astype(int) - data[edge]).max() < 0.02 * (
        int(data[edge].max()) - int(data[edge].min()))


def test_a_lossy_nodata_other_than_the_fill_value_is_refused_with_the_fix(tmp_path, nrt_b2):
    """Zarr pads edge chunks with its fill_value; a lossy chunk masking only another nodata
    would code the padding as data, so the write says which fill_value to create."""
    data = np.ascontiguousarray(nrt_b2[:16, :70, :70])
    with pytest.raises(CodecError, match=r"nodata=65535 but the array's fill_value is 0.*"
                                         r"fill_value=65535"):
        _array(tmp_path / "a.zarr", data, VideoSerializer(crf=10, nodata=65535), (16, 64, 64))
    z = _array(tmp_path / "b.zarr", data, VideoSerializer(crf=10, nodata=65535),
               (16, 64, 64), fill_value=65535)
    edge = (slice(None), slice(64, 70), slice(64, 70))
    assert np.abs(z[edge].astype(int) - data[edge]).max() < 0.05 * np.ptp(data[edge])
    # exact codings store the padding exactly: nothing to refuse
    z = _array(tmp_path / "c.zarr", data, VideoSerializer(lossless=True, nodata=65535),
               (16, 64, 64))
    np.testing.assert_array_equal(z[:], data)


def test_zarr_v3_lossy_float_keeps_nan(tmp_path, cloudy_reflectance):
    data = cloudy_reflectance[:16]
    _array(tmp_path / "f.zarr", data, VideoSerializer(crf=10), (16, 64, 64), fill_value=np.nan)
    out = zarr.open_array(str(tmp_path / "f.zarr"), mode="r")[:]
    np.testing.assert_array_equal(np.isnan(out), np.isnan(data))
    assert np.nanmax(np.abs(out - data)) < 0.05 * np.nanmax(data)


def test_serializer_dict_round_trip_and_validation():
    s = VideoSerializer(codec="av1", crf=30, value_range=(0, 1))
    assert VideoSerializer.from_dict(s.to_dict()) == s
    with pytest.warns(UserWarning, match="psnr_target"):
        newer = VideoSerializer.from_dict({"name": CODEC_ID,
                                           "configuration": {"crf": 3, "psnr_target": 50}})
    assert newer == VideoSerializer(crf=3, decorrelate=None, reorder_frames=False,
                                    effort="fast", band_weights=None)  # what version 1 meant
    with pytest.raises(Exception, match="not supported"):
        zarr.create_array(zarr.storage.MemoryStore(), shape=(2, 4, 4), dtype="complex64",
                          serializer=VideoSerializer())
    with pytest.raises(Exception, match="frame_axis"):  # refused when the array is made
        zarr.create_array(zarr.storage.MemoryStore(), shape=(2, 3, 4, 4), dtype="uint16",
                          serializer=VideoSerializer(frame_axis=2))


def test_zarr_v2_with_the_numcodecs_face(tmp_path, nrt_b2):
    """Zarr format 2 hands the chunk array (with its shape) to the numcodecs compressor."""
    data = np.ascontiguousarray(nrt_b2[:20, :70, :70])
    z = zarr.create_array(str(tmp_path / "v2.zarr"), shape=data.shape, chunks=(16, 64, 64),
                          dtype="uint16", zarr_format=2, compressors=VideoCodec(lossless=True),
                          filters=None, fill_value=0)
    z[:] = data
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "v2.zarr"), mode="r")[:], data)
    meta = json.loads((tmp_path / "v2.zarr" / ".zarray").read_text())
    assert meta["compressor"] == {"id": CODEC_ID, **VideoParams(lossless=True).to_config()}
    assert chunk_info((tmp_path / "v2.zarr" / "1.1.1").read_bytes())["shape"] == [16, 64, 64]


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_dask_reads_with_two_workers(tmp_path, nrt_b2, scheduler):
    data = nrt_b2[:, :64, :64]
    _array(tmp_path / "d.zarr", data, VideoSerializer(lossless=True), (8, 32, 32))
    arr = da.from_zarr(str(tmp_path / "d.zarr"))
    with dask.config.set(scheduler=scheduler, num_workers=2):
        total = arr.astype("int64").sum(axis=0).compute()
    np.testing.assert_array_equal(total, data.astype("int64").sum(axis=0))


def test_fresh_process_decodes_via_entry_points_without_xgeo(tmp_path, nrt_b2):
    data = nrt_b2[:8, :40, :40]
    _array(tmp_path / "e.zarr", data, VideoSerializer(lossless=True), (8, 40, 40))
    blob = encode(data, {"lossless": True})
    (tmp_path / "blob.bin").write_bytes(blob)
    np.save(tmp_path / "want.npy", data)
    script = textwrap.dedent(f"""
        import sys, numpy as np, numcodecs, zarr
        want = np.load({str(tmp_path / "want.npy")!r})
        z = zarr.open_array({str(tmp_path / "e.zarr")!r}, mode="r")
        assert np.array_equal(z[:], want)
        codec = numcodecs.get_codec({{"id": "{CODEC_ID}", "lossless": True}})
        assert np.array_equal(codec.decode(open({str(tmp_path / "blob.bin")!r}, "rb").read()),
                              want)
        assert not any(m == "xgeo" or m.startswith("xgeo.") for m in sys.modules), "xgeo imported"
        print("ok", type(codec).__module__)
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ok xgeo_codecs")


def test_concurrent_threads_give_the_serial_results(nrt_bands):
    chunks = [np.ascontiguousarray(nrt_bands[i * 4:(i + 1) * 4, i % 4, :64, :64])
              for i in range(8)]
    params = [{"lossless": True}, {"crf": 12}] * 4
    serial = [encode(c, p) for c, p in zip(chunks, params, strict=True)]
    with ThreadPoolExecutor(4) as pool:
        blobs = list(pool.map(encode, chunks, params))
        outs = list(pool.map(decode, serial * 2))
    for i, (b, c) in enumerate(zip(blobs, chunks, strict=True)):
        if i % 2 == 0:  # lossless: blobs may differ, the data may not
            np.testing.assert_array_equal(decode(b), c)
        else:
            assert chunk_info(b)["shape"] == list(c.shape)
    for i, out in enumerate(outs):
        np.testing.assert_array_equal(out, decode(serial[i % 8]))


def _decode_in_child(blob: bytes) -> np.ndarray:
    return decode(blob)


def _round_trip_in_child(chunk: np.ndarray) -> np.ndarray:
    return decode(encode(chunk, {"crf": 6, "encoder": "auto"}))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method is Linux-only here")
def test_forked_workers_decode_after_parent_used_the_codec(nrt_b2):
    blob = encode(nrt_b2[:8, :48, :48], {"lossless": True, "encoder": "auto"})
    decode(blob, decoder="auto")  # parent ran probes and libav before forking
    ctx = multiprocessing.get_context("fork")
    lossy = nrt_b2[:8, :64, :64]
    encode(lossy, {"crf": 6})  # x265 thread pools existed in the parent before the fork
    with ctx.Pool(2) as pool:
        outs = pool.map(_decode_in_child, [blob] * 4)
        lossy_outs = pool.map(_round_trip_in_child, [lossy] * 2)
    for out in outs:
        np.testing.assert_array_equal(out, nrt_b2[:8, :48, :48])
    for out in lossy_outs:  # encoding in forked children works and matches the parent's
        np.testing.assert_array_equal(out, decode(encode(lossy, {"crf": 6})))
