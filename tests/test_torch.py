"""The torch bridge: samples equal what xarray decodes, across workers, fork and spawn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo.chips import make_chips
from xgeo.errors import ChipError, GridError, MissingBandError

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from xgeo.torch import (  # noqa: E402
    ChipDataset,
    ChunkAwareSampler,
    Indices,
    Normalize,
    band_stats,
    collate,
    to_dataloader,
)


@pytest.fixture(scope="module")
def s2_store(tmp_path_factory):
    """The sample's reflectance in a Zarr v3 store, chunked (1 date, 1 band, 64, 64)."""
    path = tmp_path_factory.mktemp("zarr") / "s2.zarr"
    ds = xgeo.datasets.sentinel2_cube()
    ds[["reflectance", "ndvi", "lulc"]].chunk({"time": 1, "band": 1, "y": 64, "x": 64}).geo.to_zarr(
        path
    )
    return path


def test_samples_equal_xarray_decoding(s2_store):
    dset = ChipDataset(s2_store, size=48, variable="reflectance")
    oracle = make_chips(
        xr.open_zarr(s2_store, decode_coords="all"), size=48, variable="reflectance"
    )
    assert len(dset) == len(oracle)
    for i in (0, 3, len(dset) - 1):  # last one is padded
        sample = dset[i]
        expected = oracle.extract(i).values
        assert sample["image"].dtype == torch.float32 and tuple(sample["image"].shape) == (
            13,
            48,
            48,
        )
        np.testing.assert_array_equal(sample["image"].numpy(), expected)
        np.testing.assert_allclose(sample["bounds"], oracle[i].bounds)
        assert sample["time"] == str(oracle.source.time.values[oracle[i].time.start])
        assert xgeo.parse_crs(sample["crs"]).to_epsg() == 32633
        assert sample["bands"][:2] == ["B01", "B02"]


def test_uint16_native_and_float_decoded(nrt_store):
    raw = ChipDataset(nrt_store, size=32, variables=["B4", "B8"], dtype=None, time=16)
    dec = ChipDataset(nrt_store, size=32, variables=["B4", "B8"], time=16)
    decoded = xr.open_zarr(
        nrt_store, decode_coords="all"
    )  # xarray: uint16 with _FillValue -> float NaN
    chips = make_chips(decoded, size=32, variables=["B4", "B8"], time=16)
    for i in (0, 5, len(raw) - 1):
        a, b = raw[i]["image"], dec[i]["image"]
        assert a.dtype == torch.uint16 and tuple(a.shape) == (16, 2, 32, 32)
        expected = chips.extract(i).values.astype("float32")
        np.testing.assert_array_equal(b.numpy(), expected)
        valid = ~np.isnan(expected)
        np.testing.assert_array_equal(a.numpy().astype("float32")[valid], expected[valid])
    assert len(raw[0]["time"]) == 16


@pytest.mark.parametrize(
    ("store", "kwargs"),
    [
        ("s2", {"variable": "reflectance"}),  # float32, padded last chips
        ("s2", {"variable": "reflectance", "dtype": None, "bands": ["B08", "B04"]}),  # reordered
        ("nrt", {"variables": ["B4", "B8"], "time": 16}),  # (T, C, H, W), fill -> NaN
        ("nrt", {"variables": ["B4", "B8"], "time": 16, "dtype": None}),
        ("nrt", {"variables": ["B2"], "time": 1, "dtype": torch.int32}),  # per step, cast
    ],
)
def test_batch_reads_equal_single_reads_and_collate_without_copy(s2_store, nrt_store, store, kwargs):
    dset = ChipDataset(s2_store if store == "s2" else nrt_store, size=48, **kwargs)
    picks = [len(dset) - 1, 0, 2, len(dset) - 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # e.g. NaN cast into an integer pad
        samples = dset.__getitems__(picks)
        singles = [dset[i] for i in picks]
    if kwargs.get("dtype", torch.float32) is None and store == "nrt":  # padded with _FillValue 0
        assert (samples[0]["image"].numpy()[..., -1] == 0).all()
    for sample, single in zip(samples, singles, strict=True):
        assert sample["image"].dtype == single["image"].dtype
        np.testing.assert_array_equal(sample["image"].numpy(), single["image"].numpy())
        assert sample["time"] == single["time"] and sample["bounds"] == single["bounds"]
    # whole-window batches of float output are CF-decoded per batch: same values as single reads
    ny, nx = dset.shape
    inner = [i for i in range(len(dset))
             if dset.rows[i] + 48 <= ny and dset.cols[i] + 48 <= nx][:3]
    assert len(inner) >= 2
    for sample, i in zip(dset.__getitems__(inner), inner, strict=True):
        np.testing.assert_array_equal(sample["image"].numpy(), dset[i]["image"].numpy())
    batch = collate(samples)
    assert batch["image"].data_ptr() == samples[0]["image"].data_ptr()  # no stacking copy
    assert tuple(batch["image"].shape) == (len(picks), *samples[0]["image"].shape)
    # transforms that replace images falls back to stacking
    replaced = [dict(s, image=s["image"].clone()) for s in samples]
    np.testing.assert_array_equal(collate(replaced)["image"].numpy(), batch["image"].numpy())


def _all_indices(loader):
    seen = []
    for batch in loader:
        assert batch["image"].shape[1:] == (13, 32, 32)
        assert batch["bounds"].shape == (batch["image"].shape[0], 4)
        seen += batch["index"].tolist()
    return sorted(seen)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_two_workers_read_every_chip_once(s2_store, context):
    dset = ChipDataset(s2_store, size=32, variable="reflectance")
    loader = DataLoader(
        dset,
        batch_size=8,
        num_workers=2,
        multiprocessing_context=context,
        collate_fn=collate,
        sampler=ChunkAwareSampler(dset, seed=0),
        persistent_workers=True,
    )
    assert _all_indices(loader) == list(range(len(dset)))
    assert _all_indices(loader) == list(range(len(dset)))  # a second epoch on persistent workers
    single = next(iter(DataLoader(dset, batch_size=4, collate_fn=collate)))
    np.testing.assert_array_equal(single["image"][1].numpy(), dset[1]["image"].numpy())
    # batches built in shared memory by the workers arrive intact
    batch = next(iter(loader))
    for k, i in enumerate(batch["index"].tolist()):
        np.testing.assert_array_equal(batch["image"][k].numpy(), dset[i]["image"].numpy())


def test_chunk_aware_order_decodes_each_chunk_once(s2_store):
    dset = ChipDataset(s2_store, size=32, variable="reflectance")
    order = list(ChunkAwareSampler(dset, seed=3))
    for i in order:
        dset[i]
    cache = dset._get_reader().cache
    chunks_touched = 5 * 13 * 2 * 2  # dates x bands x (101/64 -> 2) x (100/64 -> 2)
    assert cache.misses == chunks_touched
    assert cache.hits > 0
    assert sorted(order) == list(range(len(dset)))
    assert order != list(ChunkAwareSampler(dset, seed=4))


def test_in_memory_sources_never_alias_the_array(sample):
    ref = sample.reflectance.load()
    dset = ChipDataset(ref, size=32, dtype=None)
    image = dset[0]["image"]
    image.zero_()
    assert float(ref.isel(time=0, band=0, y=0, x=0)) != 0.0


def test_label_on_the_same_grid(s2_store):
    dset = ChipDataset(s2_store, size=32, variable="reflectance", label="lulc")
    sample = dset[0]
    lulc = xr.open_zarr(s2_store).lulc.values
    np.testing.assert_array_equal(sample["label"].numpy(), lulc[:32, :32])


def test_label_that_cannot_be_aligned(sample):
    other = xr.DataArray(
        np.zeros((10, 10)), dims=("y", "x"), coords={"y": np.arange(10.0), "x": np.arange(10.0)}
    )
    with pytest.raises(ChipError, match="cannot be aligned"):
        ChipDataset(sample, size=32, variable="reflectance", label=other)


def test_mask_marks_valid_pixels(nrt_store):
    dset = ChipDataset(nrt_store, size=64, variables=["B4"], time=16, return_mask=True)
    sample = dset[len(dset) - 1]  # padded on both edges
    assert sample["mask"].dtype == torch.bool
    assert not sample["mask"][..., 40:, :].any() and sample["mask"][..., :30, :30].all()


def test_indices_transform_matches_the_files_ndvi(sample):
    dset = ChipDataset(sample, size=32, variable="reflectance", transforms=Indices(["NDVI"]))
    out = dset[0]
    assert out["bands"][-1] == "NDVI" and out["image"].shape[0] == 14
    np.testing.assert_allclose(
        out["image"][-1].numpy(), sample.ndvi.values[0, :32, :32], rtol=1e-6, atol=1e-6
    )
    with pytest.raises(MissingBandError, match="NDVI"):
        ChipDataset(
            sample,
            size=32,
            variable="reflectance",
            bands=["B02"],
            transforms=Indices(["NDVI"], sensor="sentinel2"),
        )[0]


def test_band_stats_and_normalize(sample):
    stats = band_stats(sample, variable="reflectance")
    values = sample.reflectance.values
    np.testing.assert_allclose(stats["mean"], np.nanmean(values, axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(stats["std"], np.nanstd(values, axis=(0, 2, 3)), rtol=1e-4)
    dset = ChipDataset(
        sample, size=100, boundary="drop", variable="reflectance", transforms=Normalize(stats)
    )
    image = torch.stack([dset[i]["image"] for i in range(len(dset))])
    assert abs(float(image.mean())) < 0.05


def test_to_dataloader_and_accessor(sample):
    loader = to_dataloader(
        sample, size=32, batch_size=5, dataset_kwargs={"variable": "reflectance"}
    )
    batch = next(iter(loader))
    assert tuple(batch["image"].shape) == (5, 13, 32, 32) and len(batch["crs"]) == 5


def test_to_dataloader_keeps_its_workers_between_epochs_unless_told(sample):
    """Restarted workers would decode every chunk again each epoch: workers persist."""
    kw = {"size": 32, "batch_size": 8, "shuffle": False,
          "dataset_kwargs": {"variable": "reflectance"}}
    loader = to_dataloader(sample, num_workers=1, multiprocessing_context="fork", **kw)
    assert loader.persistent_workers
    epochs = [[b["image"] for b in loader] for _ in range(2)]
    assert len(epochs[0]) > 1
    for a, b in zip(*epochs, strict=True):
        torch.testing.assert_close(a, b, equal_nan=True)
    assert not to_dataloader(sample, num_workers=1, persistent_workers=False, **kw).persistent_workers
    assert not to_dataloader(sample, **kw).persistent_workers  # no workers: nothing to keep


_KERNEL_PROBE = """
import json, os, sys
import torch
from xgeo._chunkread import cf_decode_f32
from xgeo.torch import ChipDataset

def loaded():
    return sorted(str(sig[0]) for sig in cf_decode_f32.signatures)

kw = dict(size=50, variables=["B2", "B8"], time=16)
ChipDataset(sys.argv[1], dtype=None, **kw)
native = loaded()
ds = ChipDataset(sys.argv[1], **kw)  # float32 chips
built = loaded()
pid = os.fork()
if pid == 0:  # a forked DataLoader worker: reading needs nothing it does not have
    ds.__getitems__(list(range(4)))
    ds[5]
    os._exit(0 if loaded() == built else 3)
_, status = os.waitpid(pid, 0)
print(json.dumps([native, built, os.waitstatus_to_exitcode(status)]))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork-only")
def test_float32_chips_load_their_decode_kernel_before_workers_fork(nrt_store):
    """The kernel is loaded when the dataset is made, so forked workers share it (a worker
    loading its own pays 0.2-0.4 s and ~64 MiB); chips of stored values load nothing."""
    out = subprocess.run([sys.executable, "-P", "-c", _KERNEL_PROBE, str(nrt_store)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    native, built, child = json.loads(out.stdout.strip().splitlines()[-1])
    assert native == []
    assert {"array(uint16, 1d, C)", "readonly array(uint16, 1d, C)"} <= set(built)
    assert child == 0


def test_float16_variables_make_float32_chips_like_their_float32_cast(sample):
    """numba reads no float16: such chunks go through the kernel as float32 (exact)."""
    half = sample.reflectance.astype("float16").to_dataset(name="r")
    single = half.r.astype("float32").to_dataset(name="r")
    got, want = (ChipDataset(d, size=32, variable="r") for d in (half, single))
    torch.testing.assert_close(got[3]["image"], want[3]["image"], equal_nan=True, rtol=0, atol=0)
    torch.testing.assert_close(got.__getitems__([2, 3])[1]["image"], want[3]["image"],
                               equal_nan=True, rtol=0, atol=0)


def test_bad_inputs(sample):
    with pytest.raises(ChipError, match="larger than the array"):
        ChipDataset(sample, size=512, variable="reflectance")
    with pytest.raises(ChipError, match="does not intersect"):
        ChipDataset(sample, size=32, variable="reflectance", roi=(0, 0, 1, 1), roi_crs=4326)
    two_grids = xr.Dataset(
        {
            "a": (("y", "x"), np.zeros((4, 4))),
            "b": (("y2", "x2"), np.zeros((2, 2))),
        },
        coords={
            "y": np.arange(4.0),
            "x": np.arange(4.0),
            "y2": np.arange(2.0),
            "x2": np.arange(2.0),
        },
    )
    with pytest.raises(GridError, match="do not share dims"):
        ChipDataset(two_grids, size=2, variables=["a", "b"])
    with pytest.raises(TypeError, match="path or an xarray"):
        ChipDataset(42)


def test_direct_chunk_reads_equal_zarr_indexing(nrt_store, tmp_path):
    import zarr

    from xgeo._chunkread import ZarrReader

    reader = ZarrReader(str(nrt_store), cache_bytes=0)
    arr = reader.array("B4")
    assert reader.direct["B4"] is not None  # bytes + zstd: the fast path
    region = (slice(3, 30), slice(7, 100), slice(0, 61))  # crosses chunk edges and the array's edge
    np.testing.assert_array_equal(reader.read("B4", region), arr[region])
    # A chunk never written reads as the fill value, as in zarr; edge chunks are cropped.
    group = zarr.open_group(tmp_path / "sparse.zarr", mode="w")
    sparse = group.create_array("v", shape=(10, 10), chunks=(4, 4), dtype="uint16", fill_value=7)
    sparse[:4, :4] = 1
    sparse[8:, 8:] = 2
    other = ZarrReader(str(tmp_path / "sparse.zarr"), cache_bytes=0)
    whole = (slice(0, 10), slice(0, 10))
    np.testing.assert_array_equal(other.read("v", whole), sparse[whole])
    assert other.direct["v"] is not None


def test_unknown_codecs_fall_back_to_zarr_indexing(tmp_path):
    import zarr
    from zarr.codecs import Crc32cCodec

    from xgeo._chunkread import direct_chunk_reader

    path = tmp_path / "crc.zarr"
    arr = zarr.create_array(
        path, shape=(6, 6), chunks=(4, 4), dtype="int16", compressors=[Crc32cCodec()]
    )
    arr[:] = np.arange(36, dtype="int16").reshape(6, 6)
    assert direct_chunk_reader(zarr.open_array(path)) is None


def test_float_decoding_from_a_chunk_window_into_a_batch_slot_matches_numpy(data_dir):
    from xgeo._chunkread import cf_decode_f32, flat_window

    nrt = xgeo.open_dataset(data_dir / "nrt_romania_32t.nc", mask_and_scale=False)
    chunk = np.ascontiguousarray(nrt["B4"].values[:8, None])  # (8, 1, 100, 100) uint16
    chunk[2, 0, 20:25, 20:25] = 0  # fill values inside the window
    window = chunk[1:5, :, 10:60, 20:70]  # strided view of the cached chunk
    batch = np.zeros((3, 4, 2, 50, 50), np.float32)
    slot = batch[1, :, 1:2]  # one channel of one sample: strided too
    shape = np.array(window.shape, dtype=np.int64)
    cf_decode_f32(*flat_window(window), *flat_window(slot), shape, 0.0, True, 1e-4, 0.5, True)
    want = np.where(window == 0, np.nan, window.astype(np.float32) * np.float32(1e-4)
                    + np.float32(0.5)).astype(np.float32)
    np.testing.assert_array_equal(slot, want)
    assert np.all(batch[0] == 0) and np.all(batch[1, :, 0] == 0)  # nothing written outside


def test_label_on_another_grid_is_aligned_by_nearest(sample):
    """A label in another CRS is resampled onto the source grid with nearest: its classes
    stay classes, and the pixels are GDAL's nearest pick (rioxarray's reproject_match)."""
    rioxarray = pytest.importorskip("rioxarray")  # noqa: F841
    from rasterio.enums import Resampling

    lulc = sample.lulc.astype("uint8")
    lulc.rio.write_crs(sample.geo.crs, inplace=True)
    other = lulc.rio.reproject("EPSG:4326", resampling=Resampling.nearest, nodata=255)
    other.attrs.pop("_FillValue", None)
    dset = ChipDataset(sample, size=32, variable="reflectance", label=other)
    ours = dset[0]["label"].numpy()
    gdal = other.rio.reproject_match(lulc, resampling=Resampling.nearest).values[:32, :32]
    assert set(np.unique(ours)) <= set(np.unique(other.values))
    np.testing.assert_array_equal(ours, gdal)


def test_video_reads_of_a_few_dates_decode_only_those_frames(tmp_path, data_dir, monkeypatch):
    """A read needing at most half the dates of a video chunk decodes only them (partial
    decoding), with the values of the whole chunk decoded and indexed."""
    import xgeo_codecs

    from xgeo._chunkread import ZarrReader

    path = tmp_path / "nrt_video.zarr"
    ds = xgeo.open_dataset(data_dir / "nrt_romania_32t.nc", mask_and_scale=False)[["B4"]]
    ds.geo.to_zarr(path, codec="hevc", codec_options={
        "crf": 20, "keyint": 4, "chunks": {"time": 16, "y": 50, "x": 50}})
    whole = ZarrReader(str(path), cache_bytes=1 << 30)
    whole.array("B4")
    ct = whole.geometry["B4"][0][0]  # dates per chunk
    assert whole.geometry["B4"][1][0] > ct  # several time chunks
    asked = []
    real = xgeo_codecs.decode
    monkeypatch.setattr(xgeo_codecs, "decode",
                        lambda buf, **kw: (asked.append(kw.get("frames")), real(buf, **kw))[1])
    reader = ZarrReader(str(path), cache_bytes=1 << 30)
    for region in [(slice(5, 7), slice(0, 50), slice(0, 50)),  # two dates of one chunk
                   (slice(ct - 1, ct + 1), slice(10, 60), slice(0, 30)),  # two chunks
                   (slice(0, ct), slice(0, 20), slice(0, 20))]:  # a whole chunk: whole
        asked.clear()
        got = reader.read("B4", region)
        np.testing.assert_array_equal(got, whole.read("B4", region))
        if region[0].stop - region[0].start == ct:
            assert asked == [None]
        else:
            assert asked and all(f is not None and f.stop - f.start <= 2 for f in asked)
    asked.clear()
    chips = ChipDataset(str(path), size=20, variables=["B4"], time=2, time_stride=8, dtype=None)
    for i in range(len(chips)):
        (_, region), = chips._regions(i)
        np.testing.assert_array_equal(chips[i]["image"].numpy()[:, 0],
                                      whole.read("B4", region))
    assert asked and all(f is not None and f.stop - f.start == 2 for f in asked)
