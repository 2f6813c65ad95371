"""Real Sentinel-2 chunks for the codec tests (read with netCDF4, never xarray/xgeo)."""

from __future__ import annotations

import numpy as np
import pytest
from codec_testdata import EOPATCH, NRT, raw


@pytest.fixture(scope="session")
def nrt_b2() -> np.ndarray:
    """B2 of the nrt cube: (32, 100, 100) uint16 DN, 0 = nodata."""
    return raw(NRT, "B2")


@pytest.fixture(scope="session")
def nrt_bands() -> np.ndarray:
    """B2 B3 B4 B8 of the nrt cube as (32, 4, 100, 100) uint16."""
    return np.stack([raw(NRT, v) for v in ("B2", "B3", "B4", "B8")], axis=1)


@pytest.fixture(scope="session")
def eo_reflectance() -> np.ndarray:
    """eo-learn TOA reflectance (5, 13, 101, 100) float32 on a 1e-4 grid."""
    return raw(EOPATCH, "reflectance").astype(np.float32)


@pytest.fixture(scope="session")
def nrt_scl() -> np.ndarray:
    """Scene classification of the nrt cube (32, 100, 100); 3 shadow, 8-10 cloud/cirrus."""
    return raw(NRT, "SCL")


@pytest.fixture(scope="session")
def cloudy_reflectance(nrt_b2, nrt_scl) -> np.ndarray:
    """nrt B2 reflectance (DN / 10000, float32) with NaN where SCL says cloud or shadow."""
    cloud = np.isin(nrt_scl, [3, 8, 9, 10])
    return np.where(cloud, np.nan, nrt_b2 / 10000.0).astype(np.float32)
