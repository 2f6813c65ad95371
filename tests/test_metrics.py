"""Metrics follow BENCHMARKS.md exactly; checked against direct formulas on real data."""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest

from xgeo.metrics import bpppb, error_stats, spectral_angle


def test_psnr_uses_valid_values_and_the_data_range(data_dir):
    import xgeo

    b4 = xgeo.open_dataset(data_dir / "nrt_romania_32t.nc", mask_and_scale=False).B4.values.astype("float64")
    rng = np.random.default_rng(0)
    noisy = b4 + rng.normal(0, 20, b4.shape)
    valid = b4 != 0
    mse = np.mean((noisy[valid] - b4[valid]) ** 2)
    peak = b4[valid].max() - b4[valid].min()
    stats = error_stats(b4, noisy, nodata=0)
    assert stats["psnr"] == pytest.approx(10 * math.log10(peak**2 / mse))
    assert stats["max_error"] == pytest.approx(np.abs(noisy - b4)[valid].max())
    lazy = error_stats(da.from_array(b4, chunks=(8, 50, 50)), da.from_array(noisy, chunks=(8, 50, 50)), nodata=0)
    assert lazy["psnr"] == pytest.approx(stats["psnr"])


def test_nan_where_data_was_valid_is_an_infinite_error():
    a = np.array([1.0, 2.0, 3.0])
    stats = error_stats(a, np.array([1.0, np.nan, 3.0]))
    assert stats["max_error"] == math.inf and stats["psnr"] == -math.inf
    assert error_stats(a, a)["psnr"] == math.inf


def test_mask_excludes_values():
    a = np.array([0.0, 10.0, 5.0])
    b = np.array([0.0, 10.0, 9.0])
    assert error_stats(a, b, mask=np.array([False, False, True]))["max_error"] == 0.0


def test_spectral_angle_and_bpppb():
    a = np.stack([np.ones((2, 2)), np.zeros((2, 2))])
    b = np.stack([np.ones((2, 2)), np.ones((2, 2))])
    assert spectral_angle(a, b) == pytest.approx(45.0)
    assert bpppb(125, 1000) == 1.0
