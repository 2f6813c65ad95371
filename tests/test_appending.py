"""Appends and region writes into existing stores (xgeo.appending): xarray's semantics,
the store's lock, records kept or dropped as the store changed. Each case lost data or
failed before its fix: a lazy append overwrote the first dates and left the new ones empty
(open and verify said nothing), a region write landed at offset 0, a refused append left
a complete store refused on open, an encoding for an existing variable failed with
xarray's message after dropping the store's records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import xgeo
from xgeo.errors import AppendError
from xgeo.verify import verify_store

NRT = Path(__file__).parent / "data" / "nrt_romania_32t.nc"


@pytest.fixture(scope="module")
def ndvi() -> xr.Dataset:
    """20 dates of a real series (the nrt cube's NDVI, NaN where it has no data)."""
    ds = xgeo.open_dataset(NRT).isel(time=slice(0, 20)).load()
    return xr.Dataset({"ndvi": (ds.B8 - ds.B4) / (ds.B8 + ds.B4)}).pipe(
        lambda d: d.assign_coords(spatial_ref=ds.spatial_ref) if "spatial_ref" in ds else d)


@pytest.mark.parametrize("lazy", [False, True], ids=["in-memory", "lazy"])
@pytest.mark.parametrize("codec", [None, "hevc"])
def test_an_append_along_time_keeps_the_store_and_adds_the_new_dates(tmp_path, ndvi, lazy,
                                                                      codec):
    half = ndvi.sizes["time"] // 2
    first, second = ndvi.isel(time=slice(0, half)), ndvi.isel(time=slice(half, None))
    if lazy:
        first, second = first.chunk({"time": 1}), second.chunk({"time": 1})
    store = tmp_path / "a.zarr"
    options = {"codec_options": {"max_error": 0.01}} if codec else {}
    xgeo.io.to_zarr(first, store, codec=codec, **options)
    xgeo.io.to_zarr(second, store, mode="a", append_dim="time")
    back = xgeo.open_dataset(store)
    assert back.sizes["time"] == ndvi.sizes["time"]
    np.testing.assert_array_equal(back.time.values, ndvi.time.values)
    if codec is None:
        np.testing.assert_array_equal(back.ndvi.values, ndvi.ndvi.values)
    else:  # the store keeps its codec for the appended dates
        assert np.nanmax(np.abs(back.ndvi.values - ndvi.ndvi.values)) <= 0.01 + 1e-6
        np.testing.assert_array_equal(np.isnan(back.ndvi.values), np.isnan(ndvi.ndvi.values))
        meta = zarr.open_group(store, mode="r")["ndvi"].metadata.to_dict()
        assert meta["codecs"][0]["name"] == "xgeo.video"
    report = verify_store(str(store))  # the records no longer describe it: dropped, noted
    assert report.ok and any("no chunk records" in n for n in report.notes)


@pytest.mark.parametrize("lazy", [False, True], ids=["in-memory", "lazy"])
@pytest.mark.parametrize("region", [{"time": slice(10, 20)}, "auto"])
def test_a_region_write_lands_in_its_region(tmp_path, ndvi, lazy, region):
    store = tmp_path / "r.zarr"
    xgeo.io.to_zarr(xr.full_like(ndvi, np.nan).chunk({"time": 5}), store)
    part = ndvi.isel(time=slice(10, 20))
    part = part.chunk({"time": 5}) if lazy else part
    xgeo.io.to_zarr(part, store, region=region, mode="r+")
    got = xgeo.open_dataset(store).ndvi.values
    assert np.isnan(got[:10]).all()
    np.testing.assert_array_equal(got[10:20], ndvi.ndvi.values[10:20])


def test_a_refused_append_leaves_the_store_complete_with_its_records(tmp_path, ndvi):
    store = tmp_path / "a.zarr"
    xgeo.io.to_zarr(ndvi.chunk({"time": 5}), store)
    checked = verify_store(str(store)).checked
    wrong = ndvi.isel(x=slice(0, 50)).chunk({"time": 5})
    with pytest.raises(ValueError, match="different dimension sizes"):
        xgeo.io.to_zarr(wrong, store, mode="a", append_dim="time")
    np.testing.assert_array_equal(xgeo.open_dataset(store).ndvi.values, ndvi.ndvi.values)
    assert verify_store(str(store)).checked == checked > 0
    with pytest.raises(AppendError, match=r"already holds \['ndvi'\].*leave out codec="):
        xgeo.io.to_zarr(ndvi, store, mode="a", append_dim="time", codec="hevc")
    assert verify_store(str(store)).checked == checked
    with pytest.raises(ValueError, match="does not apply to appends"):
        xgeo.io.to_zarr(ndvi, store, mode="a", append_dim="time", resume=True)


def test_a_lazy_write_to_a_zarr_store_object(ndvi):
    """A MemoryStore or LocalStore object failed inside zarr/fsspec (its str() is not it)."""
    store = zarr.storage.MemoryStore()
    xgeo.io.to_zarr(ndvi.chunk({"time": 5}), store)
    np.testing.assert_array_equal(xr.open_zarr(store).ndvi.values, ndvi.ndvi.values)
