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


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 API on 127.0.0.1 (a free port) for the session; skips without moto/s3fs."""
    pytest.importorskip("moto.moto_server.werkzeug_app", reason="needs moto[server]")
    pytest.importorskip("s3fs")
    from s3server import S3Server

    server = S3Server()
    yield server
    server.stop()


@pytest.fixture()
def s3(s3_server, monkeypatch):
    """``(server, bucket)``: a fresh bucket, request counts reset, the environment pointing
    botocore at the local server with dummy keys (so nothing can reach real AWS)."""
    from s3server import UNSET, dummy_credentials

    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in dummy_credentials(s3_server.endpoint).items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.new_bucket()
    s3_server.app.reset()
    return s3_server, bucket
