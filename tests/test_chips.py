"""Chip indexing on the real sample cube: windows, edges, validity, ROI, sampling, pixels."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo.chips import make_chips, window_starts
from xgeo.errors import ChipError, MissingBandError


@pytest.fixture()
def refl(sample):
    return sample["reflectance"]


def test_grid_chips_cover_every_pixel_with_pad(refl):
    chips = make_chips(refl.isel(time=0), size=32)
    assert chips.size == (32, 32) and len(chips) == 4 * 4
    seen = np.zeros((101, 100), dtype=int)
    for chip in chips:
        rows, cols = chip.window
        seen[rows.start : min(rows.stop, 101), cols.start : min(cols.stop, 100)] += 1
    assert (seen == 1).all()
    last = chips[-1]
    assert last.padded and last.window == (slice(96, 128), slice(96, 128))


def test_padded_chip_is_filled_and_keeps_a_continuous_grid(refl):
    chips = make_chips(refl.isel(time=0), size=32)
    out = chips.extract(len(chips) - 1)
    assert out.shape == (13, 32, 32)
    assert np.isnan(chips.fill_value)
    assert np.isnan(out.values[:, 5:, :]).all() and np.isnan(out.values[:, :, 4:]).all()
    np.testing.assert_array_equal(out.values[:, :5, :4], refl.isel(time=0).values[:, 96:, 96:])
    assert out.geo.grid.almost_equal(refl.geo.grid.window(96, 96, 32, 32))
    assert out.geo.crs.to_epsg() == 32633


def test_shift_and_drop(refl):
    shift = make_chips(refl.isel(time=0), size=32, boundary="shift")
    assert sorted({c.row for c in shift}) == [0, 32, 64, 69]
    assert not any(c.padded for c in shift)
    drop = make_chips(refl.isel(time=0), size=32, boundary="drop")
    assert len(drop) == 9
    assert window_starts(100, 32, 20, "pad").tolist() == [0, 20, 40, 60, 80]


def test_chip_metadata_matches_the_pixels(refl):
    chips = make_chips(refl, size=50, stride=25, boundary="shift")
    chip = chips[7]
    out = chips.extract(7)
    np.testing.assert_array_equal(
        out.values, refl.isel(time=chip.time.start, y=chip.window[0], x=chip.window[1]).values
    )
    left, bottom, right, top = chip.bounds
    assert left == pytest.approx(float(out.x.min()) - 9.9948 / 2, abs=1e-3)
    lon0, lat0, lon1, lat1 = chip.lonlat_bounds
    assert 14.5 < lon0 < lon1 < 14.6 and 45.8 < lat0 < lat1 < 45.9
    assert out.time.values == refl.time.values[chip.time.start]


def test_one_chip_per_time_step_or_time_windows(sample):
    per_step = make_chips(sample, size=64, variable="reflectance")
    assert len(per_step) == 5 * 4
    assert per_step.extract(0).dims == ("band", "y", "x")
    series = make_chips(sample, size=64, time=4, time_stride=1, variable="reflectance")
    assert len(series) == 2 * 4
    assert series.extract(0).dims == ("time", "band", "y", "x")
    assert series.extract(0).sizes["time"] == 4


def test_bands_from_per_band_dataset_and_missing_band(data_dir):
    ds = xgeo.open_dataset(data_dir / "nrt_romania_32t.nc")
    chips = make_chips(ds, size=50, variables=["B4", "B8"])
    assert chips.extract(0).band.values.tolist() == ["B4", "B8"]
    with pytest.raises(MissingBandError, match="B5"):
        make_chips(ds, size=50, variables=["B4", "B5"])


def test_min_valid_matches_a_plain_numpy_count(data_dir):
    ds = xgeo.open_dataset(data_dir / "nrt_romania_32t.nc")
    bands = ["B2", "B3", "B4", "B8"]
    cloud = ds.SCL.isin([3, 8, 9, 10])  # Sentinel-2 scene classes: shadow and clouds
    chips = make_chips(ds, size=40, stride=30, variables=bands)
    full = make_chips(ds, size=40, stride=30, variables=bands, mask=cloud)
    stack = np.stack([ds[b].values for b in bands])  # decoded: NaN where _FillValue
    valid = np.isfinite(stack).all(axis=0) & ~cloud.values
    assert chips.valid is None and len(full) == len(chips)
    for chip in full:
        r, c = chip.window
        block = np.zeros((40, 40), dtype=bool)
        part = valid[chip.time.start, r.start : r.stop, c.start : c.stop]
        block[: part.shape[0], : part.shape[1]] = part
        assert chip.valid_fraction == pytest.approx(block.mean())
    assert full.valid.min() < 0.5  # cloudy dates exist
    threshold = 0.5 * (float(full.valid.min()) + 1.0)
    strict = make_chips(ds, size=40, stride=30, variables=bands, mask=cloud, min_valid=threshold)
    assert 0 < len(strict) < len(full)
    assert all(c.valid_fraction >= threshold for c in strict)


def test_user_cloud_mask_lowers_validity(sample):
    cloudy = make_chips(
        sample, size=50, variable="reflectance", mask="cloud_mask", boundary="shift"
    )
    clear = make_chips(
        sample, size=50, variable="reflectance", min_valid=0.5, mask="cloud_mask", boundary="shift"
    )
    fractions = cloudy.valid.reshape(5, -1).mean(axis=1)
    cloud_share = sample.cloud_mask.mean(("y", "x")).values
    assert fractions[np.argmax(cloud_share)] < 0.05  # a fully cloudy date
    assert len(clear) < len(cloudy)


def test_roi_in_another_crs_selects_intersecting_chips(refl):
    g = refl.geo.grid
    chips = make_chips(refl.isel(time=0), size=25, boundary="shift")
    left, bottom, right, top = g.bounds
    roi = (left, top - 100, left + 100, top)  # the top-left 10x10 pixels
    lonlat = xgeo.Grid.from_bounds(roi, crs=32633, shape=(1, 1)).bounds_in(4326)
    lonlat = (lonlat[0] + 1e-6, lonlat[1] + 1e-6, lonlat[2] - 1e-6, lonlat[3] - 1e-6)
    picked = make_chips(refl.isel(time=0), size=25, boundary="shift", roi=lonlat, roi_crs=4326)
    assert len(picked) == 1 and picked[0].window == (slice(0, 25), slice(0, 25))
    assert len(chips) == 20
    with pytest.raises(ChipError, match="does not intersect"):
        make_chips(refl.isel(time=0), size=25, roi=(0, 0, 1, 1), roi_crs=4326)


def test_sampling_is_seeded_and_reproducible(refl):
    a = make_chips(refl, size=32, sampling="random", n=10, seed=3)
    b = make_chips(refl, size=32, sampling="random", n=10, seed=3)
    c = make_chips(refl, size=32, sampling="random", n=10, seed=4)
    assert a.rows.tolist() == b.rows.tolist() and a.rows.tolist() != c.rows.tolist()
    assert all(not chip.padded for chip in a)
    sub = make_chips(refl, size=32, n=5, seed=1)
    assert (
        len(sub) == 5 and sub.rows.tolist() == make_chips(refl, size=32, n=5, seed=1).rows.tolist()
    )


def test_chips_align_to_storage_chunks(refl):
    lazy = refl.isel(time=0).chunk({"y": 60, "x": 50})
    chips = make_chips(lazy, size=20, align_to_chunks=True)
    y_edges, x_edges = {0, 60, 101}, {0, 50, 100}
    for chip in chips:
        r, c = chip.window
        assert not any(r.start < e < r.stop for e in y_edges)
        assert not any(c.start < e < c.stop for e in x_edges)
    with pytest.raises(ChipError, match="smaller than the chip"):
        make_chips(lazy.chunk({"y": 10}), size=20, align_to_chunks=True)


def test_stack_is_lazy_and_equals_extract(refl):
    chips = make_chips(refl.isel(time=slice(0, 2)), size=48, boundary="pad")
    stacked = chips.stack()
    assert stacked.dims == ("chip", "band", "y", "x") and stacked.shape == (len(chips), 13, 48, 48)
    assert hasattr(stacked.data, "dask")
    np.testing.assert_array_equal(stacked[5].values, chips.extract(5).values)


def test_dataframe_has_bounds_and_validity(refl):
    chips = make_chips(refl.isel(time=0), size=50, min_valid=0.1, boundary="shift")
    frame = chips.to_dataframe()
    assert len(frame) == len(chips)
    assert {
        "row",
        "col",
        "left",
        "bottom",
        "right",
        "top",
        "lon_min",
        "lat_max",
        "valid_fraction",
    } <= set(frame)
    np.testing.assert_allclose(
        frame.loc[0, ["left", "bottom", "right", "top"]].to_numpy(float), chips[0].bounds
    )


@pytest.mark.parametrize("size", [200, (50, 500)])
def test_chip_larger_than_array_is_an_error(refl, size):
    with pytest.raises(ChipError, match="larger than the array"):
        make_chips(refl, size=size)


def test_bad_sizes(refl):
    with pytest.raises(ChipError, match="positive"):
        make_chips(refl, size=0)
    with pytest.raises(ChipError, match="boundary"):
        make_chips(refl, size=30, boundary="wrap")
    with pytest.raises(ChipError, match="time"):
        make_chips(refl.isel(time=0), size=30, time=2)


def test_integer_nodata_pads_with_fill_value(data_dir):
    ds = xgeo.open_dataset(data_dir / "nrt_romania_32t.nc", mask_and_scale=False)
    chips = make_chips(ds, size=64, variables=["B4"])
    assert chips.fill_value == 0
    out = chips.extract(1)
    assert out.dtype == np.uint16 and (out.values[..., 36:] == 0).all()


def test_accessor_delegates(sample):
    assert len(sample.geo.chips(size=64, variable="reflectance")) == 20
    assert isinstance(sample.reflectance.geo.chips(64)[0].grid, xgeo.Grid)
    assert isinstance(xr.DataArray, type)


def test_the_chunk_reader_imports_without_torch():
    import subprocess
    import sys

    code = "import sys, xgeo._chunkread, xgeo.chips; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
