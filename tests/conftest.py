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
def nrt_store(tmp_path_factory, data_dir):
    """The real nrt uint16 time series (one variable per band, _FillValue 0) as a zstd Zarr
    store, chunked (16 dates, 50, 50). Read-only for the tests that share it."""
    import xgeo

    path = tmp_path_factory.mktemp("zarr") / "nrt.zarr"
    ds = xgeo.open_dataset(data_dir / "nrt_romania_32t.nc", mask_and_scale=False)
    ds.chunk({"time": 16, "y": 50, "x": 50}).geo.to_zarr(path)
    return path


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 API on 127.0.0.1 (a free port) for the session, and the environment pointing
    botocore at it with dummy keys (so nothing can reach real AWS); skips without
    moto[server] or s3fs. Its ``app`` counts the requests it serves (see tests/s3server.py)."""
    pytest.importorskip("moto.moto_server.werkzeug_app", reason="needs moto[server]")
    pytest.importorskip("s3fs")
    from s3server import UNSET, S3Server, dummy_credentials

    server = S3Server()
    with pytest.MonkeyPatch.context() as env:
        for name in UNSET:
            env.delenv(name, raising=False)
        for name, value in dummy_credentials(server.endpoint).items():
            env.setenv(name, value)
        yield server
    server.stop()


@pytest.fixture()
def s3(s3_server):
    """``(server, bucket)``: a fresh bucket on the session's S3 server, counts reset."""
    bucket = s3_server.new_bucket()
    s3_server.app.reset()
    return s3_server, bucket


@pytest.fixture()
def decodes(monkeypatch):
    """Count the video chunks decoded, on both the direct and the zarr read paths."""
    import xgeo_codecs
    import xgeo_codecs.zarr_codec

    calls = []
    real = xgeo_codecs.decode

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(xgeo_codecs, "decode", spy)
    monkeypatch.setattr(xgeo_codecs.zarr_codec, "decode", spy)
    return calls
