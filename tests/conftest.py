"""Shared fixtures: paths to the real test rasters and the bundled sample cube."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture()
def sample():
    """The bundled real Sentinel-2 cube (5 x 13 x 101 x 100, EPSG:32633)."""
    import xgeo

    return xgeo.datasets.sentinel2_cube()
