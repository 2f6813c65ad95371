"""Real Sentinel-2 chunks for the codec tests (read with netCDF4, never xarray/xgeo)."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
NRT = ROOT / "tests" / "data" / "nrt_romania_32t.nc"
EOPATCH = ROOT / "xgeo" / "data" / "s2_eopatch.nc"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "video"


def _raw(path: Path, var: str) -> np.ndarray:
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(False)
        return np.asarray(ds[var][:])


@pytest.fixture(scope="session")
def nrt_b2() -> np.ndarray:
    """B2 of the nrt cube: (32, 100, 100) uint16 DN, 0 = nodata."""
    return _raw(NRT, "B2")


@pytest.fixture(scope="session")
def nrt_bands() -> np.ndarray:
    """B2 B3 B4 B8 of the nrt cube as (32, 4, 100, 100) uint16."""
    return np.stack([_raw(NRT, v) for v in ("B2", "B3", "B4", "B8")], axis=1)


@pytest.fixture(scope="session")
def eo_reflectance() -> np.ndarray:
    """eo-learn TOA reflectance (5, 13, 101, 100) float32 on a 1e-4 grid."""
    return _raw(EOPATCH, "reflectance").astype(np.float32)


@pytest.fixture(scope="session")
def nrt_scl() -> np.ndarray:
    """Scene classification of the nrt cube (32, 100, 100); 3 shadow, 8-10 cloud/cirrus."""
    return _raw(NRT, "SCL")


@pytest.fixture(scope="session")
def cloudy_reflectance(nrt_b2, nrt_scl) -> np.ndarray:
    """nrt B2 reflectance (DN / 10000, float32) with NaN where SCL says cloud or shadow."""
    cloud = np.isin(nrt_scl, [3, 8, 9, 10])
    return np.where(cloud, np.nan, nrt_b2 / 10000.0).astype(np.float32)
