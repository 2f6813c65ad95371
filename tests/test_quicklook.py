"""Quicklooks render real data to PNG with a robust stretch and transparent nodata."""

from __future__ import annotations

import numpy as np
import pytest

import xgeo

pytest.importorskip("matplotlib")
from xgeo.quicklook import quicklook, stretch  # noqa: E402


def test_true_colour_png(tmp_path, sample):
    path = tmp_path / "rgb.png"
    fig = quicklook(sample, path=path, time=2)
    assert path.stat().st_size > 10_000
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (101, 100, 4)
    assert 0.0 <= float(np.min(image[..., :3])) and float(np.max(image[..., :3])) <= 1.0
    left, right, bottom, top = fig.axes[0].images[0].get_extent()
    assert (left, bottom, right, top) == pytest.approx(sample.geo.bounds)


def test_single_band_map_masks_nan(tmp_path, sample):
    ndvi = sample.ndvi.isel(time=0).copy()
    ndvi[:10, :10] = np.nan
    fig = quicklook(ndvi, bands=None, path=tmp_path / "ndvi.png")
    data = fig.axes[0].images[0].get_array()
    assert data.mask[:10, :10].all() and not data.mask[20:, 20:].any()


def test_stretch_is_robust_to_outliers():
    values = np.concatenate([np.linspace(0, 1, 1000), [1e6]])
    out = stretch(values)
    assert out[-1] == 1.0 and 0.4 < out[500] < 0.6


def test_missing_band_is_named(sample):
    with pytest.raises(xgeo.errors.MissingBandError, match="B99"):
        quicklook(sample, bands=("B99", "B03", "B02"))


def test_accessor_quicklook(tmp_path, sample):
    fig = sample.geo.quicklook(path=tmp_path / "a.png")
    assert (tmp_path / "a.png").exists() and fig.axes[0].get_title() == "B04 / B03 / B02"
