"""ChipDataset(device=...): batches made on a torch device equal the CPU path's, typed errors
without CUDA; the CUDA tests run only where a GPU is (skipped cleanly elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest

import xgeo
from xgeo.errors import DeviceError

torch = pytest.importorskip("torch")
from xgeo.torch import ChipDataset, Indices, collate, to_dataloader  # noqa: E402
from xgeo.torch.device import check_process, resolve_device  # noqa: E402

CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def s2_video(tmp_path_factory):
    """The sample's reflectance (float32, NaN) in an HEVC store, plus its lulc labels."""
    path = tmp_path_factory.mktemp("dev") / "s2.zarr"
    ds = xgeo.datasets.sentinel2_cube()
    ds[["reflectance", "lulc"]].geo.to_zarr(path, codec="hevc", codec_options={"crf": 12})
    return path


CASES = [
    ("s2", {"variable": "reflectance"}),  # float32 with NaN, edge chips padded
    ("s2", {"variable": "reflectance", "dtype": torch.float64, "return_mask": True,
            "label": "lulc"}),
    ("s2", {"variable": "reflectance", "dtype": None, "bands": ["B08", "B04"]}),
    ("nrt", {"variables": ["B4", "B8"], "time": 16, "return_mask": True}),  # fill 0 -> NaN
    ("nrt", {"variables": ["B4", "B8"], "time": 16, "dtype": None, "return_mask": True}),
    ("nrt", {"variables": ["B2"], "time": 1, "dtype": torch.int32}),  # per step, cast
]


def _batches(store, kwargs, device):
    dset = ChipDataset(store, size=48, device=device, **kwargs)
    picks = [len(dset) - 1, 0, 2, len(dset) - 2]  # edge chips first
    return dset, collate(dset.__getitems__(picks)), [dset[i] for i in picks]


def _assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        if isinstance(value, torch.Tensor):
            assert got[key].dtype == value.dtype, key
            np.testing.assert_array_equal(got[key].cpu().numpy(), value.numpy(), err_msg=key)
        else:
            assert got[key] == value, key


@pytest.mark.parametrize("store,kwargs", CASES)
def test_device_batches_equal_the_cpu_path(s2_video, nrt_store, store, kwargs):
    path = s2_video if store == "s2" else nrt_store
    _, want, want_singles = _batches(path, kwargs, None)
    dset, got, singles = _batches(path, kwargs, "cpu")
    _assert_same(got, want)
    for a, b in zip(singles, want_singles, strict=True):  # one chip: a batch of one
        _assert_same(collate([a]), collate([b]))


def test_device_batches_with_a_user_mask_and_indices(nrt_store):
    src = xgeo.open_dataset(nrt_store)
    cloud = xgeo.masks.scl(src["SCL"])
    kw = {"variables": ["B2", "B3", "B4", "B8"], "time": 16, "return_mask": cloud,
          "transforms": Indices(["NDVI", "EVI"], bands={"N": "B8", "R": "B4", "B": "B2"},
                                constants={"g": 2.5, "C1": 6.0, "C2": 7.5, "L": 1.0})}
    want = collate(ChipDataset(nrt_store, size=50, **kw).__getitems__([0, 1]))
    dset = ChipDataset(nrt_store, size=50, device="cpu", **kw)
    dset.transforms._on_cpu = dset.transforms._on_device  # the device path on CPU tensors
    got = collate(dset.__getitems__([0, 1]))
    assert got["bands"][-2:] == ["NDVI", "EVI"] and got["mask"].dtype == torch.bool
    assert not got["mask"].all() and got["mask"].any()  # the SCL mask flags some pixels
    np.testing.assert_array_equal(got["mask"].numpy(), want["mask"].numpy())
    np.testing.assert_allclose(got["image"].numpy(), want["image"].numpy(), rtol=1e-6,
                               equal_nan=True)


def test_without_cuda_a_cuda_device_is_a_typed_error_naming_what_is_missing(monkeypatch, sample):
    assert resolve_device(None) is None and resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="only 'cuda' and 'cpu'"):
        resolve_device("meta")
    with pytest.raises(DeviceError, match="not a torch device"):
        resolve_device("gpu0")
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(DeviceError, match="CPU build"):
        ChipDataset(sample, size=32, variable="reflectance", device="cuda")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="sees no GPU"):
        to_dataloader(sample, 32, dataset_kwargs={"variable": "reflectance", "device": "cuda"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceError, match=r"1 GPU\(s\)"):
        resolve_device("cuda:3")


def test_a_cuda_batch_is_refused_in_a_worker_process(monkeypatch):
    import torch.utils.data as tud

    check_process(torch.device("cuda"))  # the main process: fine
    monkeypatch.setattr(tud, "get_worker_info", lambda: object())
    with pytest.raises(DeviceError, match="num_workers=0"):
        check_process(torch.device("cuda"))
    check_process(torch.device("cpu"))  # CPU batches work in workers


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("store,kwargs", CASES)
def test_cuda_batches_equal_the_cpu_path(s2_video, nrt_store, store, kwargs):
    path = s2_video if store == "s2" else nrt_store
    _, want, _ = _batches(path, kwargs, None)
    _, got, _ = _batches(path, kwargs, "cuda")
    assert got["image"].is_cuda
    _assert_same(got, want)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_indices_on_cuda_equal_the_fused_kernel(sample):
    kw = {"variable": "reflectance", "transforms": Indices(["NDVI", "EVI", "kNDVI"])}
    want = collate(ChipDataset(sample, size=32, **kw).__getitems__([0, 1]))
    got = collate(ChipDataset(sample, size=32, device="cuda", **kw).__getitems__([0, 1]))
    np.testing.assert_allclose(got["image"].cpu().numpy(), want["image"].numpy(), rtol=2e-6,
                               atol=1e-7, equal_nan=True)


def test_to_dataloader_device_batches_and_its_refusals(sample, monkeypatch, tmp_path):
    loader = to_dataloader(sample, 32, 4, device="cpu", seed=0,
                           dataset_kwargs={"variable": "reflectance"})
    want = to_dataloader(sample, 32, 4, seed=0, dataset_kwargs={"variable": "reflectance"})
    np.testing.assert_array_equal(next(iter(loader))["image"].numpy(),
                                  next(iter(want))["image"].numpy())
    for k in range(3):  # many cubes: every cube's ChipDataset makes device batches
        sample.isel(x=slice(30 * k, 30 * k + 40)).geo.to_zarr(tmp_path / f"c{k}.zarr")
    many = [to_dataloader(tmp_path, 16, 8, seed=0, device=d,
                          dataset_kwargs={"variable": "reflectance"}) for d in ("cpu", None)]
    got, want = (next(iter(m)) for m in many)
    np.testing.assert_array_equal(got["image"].numpy(), want["image"].numpy())
    assert got["cube"].tolist() == want["cube"].tolist()
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceError, match="num_workers=2 must be 0"):
        to_dataloader(sample, 32, device="cuda", num_workers=2,
                      dataset_kwargs={"variable": "reflectance"})
