"""A Dataset opened from a Zarr store, unmodified, is loaded from that store (as its path is);
one that was selected from, computed on or changed is loaded as it is, from memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import xgeo
from xgeo.loader_source import resolve_source

torch = pytest.importorskip("torch")
from xgeo.torch import ChipDataset, to_dataloader  # noqa: E402

KW = {"variable": "reflectance"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The README tour's store: the real cube video-coded (reflectance) in Zarr, plus a
    uint16 variable with scale_factor and _FillValue (CF-decoded on open)."""
    path = tmp_path_factory.mktemp("opened") / "cube.zarr"
    ds = xgeo.datasets.sentinel2_cube()[["reflectance", "lulc", "ndvi"]]
    ds["counts"] = ds.ndvi.where(ds.ndvi > 0.1)  # some NaN: stored as the fill value
    ds.counts.encoding = {"dtype": "uint16", "scale_factor": 0.001, "add_offset": -1.0,
                          "_FillValue": 0}
    ds.geo.to_zarr(path, codec="hevc", codec_options={"psnr": 50, "variables": ["reflectance"]})
    return path


def _batches(loader) -> list[np.ndarray]:
    return [b["image"].numpy().copy() for b in loader]


def _loader(source, **kwargs):
    return to_dataloader(source, size=32, batch_size=16, shuffle=False,
                         dataset_kwargs={**KW, **kwargs})


@pytest.mark.parametrize("how", ["default", "dask", "subset"])
def test_opened_dataset_reads_its_store_and_equals_the_path(store, how):
    back = xgeo.open_dataset(store, chunks={} if how == "dask" else None)
    if how == "subset":
        back = back[["reflectance", "lulc"]]
    loader = back.geo.to_dataloader(size=32, batch_size=16, shuffle=False, dataset_kwargs=KW)
    assert loader.dataset.kind == "zarr"
    assert Path(loader.dataset.path).resolve() == store.resolve()
    got, want = _batches(loader), _batches(_loader(str(store)))
    assert len(got) == len(want) > 0
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)  # exactly, NaN where NaN


def test_scaled_integers_from_an_opened_dataset_equal_the_path(store):
    """CF decoding (scale_factor, add_offset, _FillValue) stays right when the opened
    (already decoded) Dataset is read as its raw store, both as floats and raw."""
    back = xgeo.open_dataset(store)
    for dtype in (torch.float32, None):
        a = ChipDataset(back, size=32, variables=["counts"], dtype=dtype)
        b = ChipDataset(str(store), size=32, variables=["counts"], dtype=dtype)
        assert a.kind == "zarr"
        np.testing.assert_array_equal(a[3]["image"].numpy(), b[3]["image"].numpy())
    decoded = ChipDataset(back, size=32, variables=["counts"])[0]["image"].numpy()[0]
    np.testing.assert_allclose(decoded, back.counts.values[0, :32, :32], rtol=1e-6)


def test_modified_datasets_are_read_as_modified(store):
    back = xgeo.open_dataset(store)
    path_batches = _batches(_loader(str(store)))

    doubled = back * 2
    loader = _loader(doubled)
    assert loader.dataset.kind == "memory"
    for a, b in zip(_batches(loader), path_batches, strict=True):
        np.testing.assert_array_equal(a, 2 * b)

    half = xgeo.open_dataset(store).isel(x=slice(0, 50))
    loader = _loader(half)
    assert loader.dataset.kind == "memory" and loader.dataset.shape == (101, 50)
    first = loader.dataset[0]["image"].numpy()
    np.testing.assert_array_equal(first, half.reflectance.values[0, :, :32, :32])

    shifted = xgeo.open_dataset(store)
    shifted = shifted.assign_coords(x=shifted.x + 1000.0)
    sample = _loader(shifted).dataset[0]
    assert _loader(shifted).dataset.kind == "memory"
    assert sample["bounds"][0] == pytest.approx(ChipDataset(str(store), size=32, **KW)[0]["bounds"][0] + 1000)

    edited = xgeo.open_dataset(store)
    edited["reflectance"][0, 0, 0, 0] = 123.0  # in place, through xarray
    dataset = ChipDataset(edited, size=32, **KW)
    assert dataset.kind == "memory"
    assert float(dataset[0]["image"][0, 0, 0]) == 123.0


@pytest.mark.parametrize(
    "change",
    [
        lambda ds: ds.load(),
        lambda ds: ds.chunk({"x": 50}) + 0,
        lambda ds: ds.assign_attrs(note="changed"),
        lambda ds: ds.assign(reflectance=ds.reflectance.astype("float64")),
        lambda ds: ds.isel(x=slice(None, None, -1)),
        lambda ds: ds.geo.set_crs("EPSG:4326"),
    ],
    ids=["load", "dask-arithmetic", "attrs", "astype", "flip", "set_crs"],
)
def test_other_changes_keep_the_in_memory_path(store, change):
    assert resolve_source(change(xgeo.open_dataset(store)))[0] == "memory"


def test_in_memory_and_netcdf_opened_data_stay_in_memory(sample):
    assert resolve_source(sample)[0] == "memory"  # opened from the bundled netCDF
    assert resolve_source(sample.reflectance)[0] == "memory"
