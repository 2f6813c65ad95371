"""Stores on an S3 API (moto's server on 127.0.0.1, see s3server.py): resumable writes after a
killed writer, opening, the CLI's info, and typed errors naming the URL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import zarr

import xgeo
from xgeo.errors import IncompleteStoreError, StoreAccessError, StoreNotFoundError
from xgeo.store import missing_chunks

# A writer in its own process, slowed after each chunk's data (before its marker), so the
# test can kill it mid-write: argv = url, storage options (JSON), codec ("" for none).
WRITER = textwrap.dedent(
    """
    import json, sys, time, dask, xgeo, xgeo.store
    real = xgeo.store._checkpoint
    def slow(step):
        if step == "chunk-data":
            time.sleep(0.3)
        real(step)
    xgeo.store._checkpoint = slow
    url, options, codec = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] or None
    ds = xgeo.datasets.sentinel2_cube(chunks={})[["reflectance"]].chunk({"band": 1})
    with dask.config.set(scheduler="synchronous"):
        ds.geo.to_zarr(url, storage_options=options, resume=True,
                       **({"codec": codec, "codec_options": {"chunks": {"band": 1}}} if codec else {}))
    """
)
N_CHUNKS = 13  # reflectance: 5 dates x 13 bands x 101 x 100, one chunk per band


def _cube():
    return xgeo.datasets.sentinel2_cube(chunks={})[["reflectance"]].chunk({"band": 1})


def _write(url, options, codec, **kwargs):
    extra = {"codec": codec, "codec_options": {"chunks": {"band": 1}}} if codec else {}
    return _cube().geo.to_zarr(url, storage_options=options, **extra, **kwargs)


def _markers_put(server, prefix):
    return sum(n for (method, path), n in server.app.counts.items()
               if method == "PUT" and path.startswith(f"/{prefix}.progress/reflectance@"))


@pytest.mark.parametrize("codec", [None, "hevc"], ids=["zstd", "hevc"])
def test_a_killed_writer_resumes_on_s3_to_an_uninterrupted_write(s3, codec):
    server, bucket = s3
    options = server.storage_options()
    url = f"s3://{bucket}/cube.zarr"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url, json.dumps(options), codec or ""])
    try:
        deadline = time.time() + 180
        while _markers_put(server, f"{bucket}/cube.zarr") < 3 and time.time() < deadline:
            assert proc.poll() is None, "the writer ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    missing = missing_chunks(url, options)
    assert missing is not None and 0 < len(missing["reflectance"]) < N_CHUNKS
    n_missing = len(missing["reflectance"])
    with pytest.raises(IncompleteStoreError, match="resume=True"):
        xgeo.open_dataset(url, storage_options=options)

    with pytest.warns(UserWarning, match="taking over the stale lock"):  # the killed writer's
        written = _write(url, options, codec, resume=True)
    assert len(written) == n_missing  # what the killed writer finished was not redone
    assert missing_chunks(url, options) is None

    fresh = f"s3://{bucket}/fresh.zarr"  # the same write, never interrupted
    _write(url=fresh, options=options, codec=codec)
    back = xgeo.open_dataset(url, storage_options=options)
    once = xgeo.open_dataset(fresh, storage_options=options)
    np.testing.assert_array_equal(back.reflectance.values, once.reflectance.values)
    if codec is None:  # lossless: the source's values
        np.testing.assert_array_equal(
            back.reflectance.values, xgeo.datasets.sentinel2_cube().reflectance.values)
    assert back.geo.crs.to_epsg() == 32633
    store = zarr.open_group(url, mode="r", storage_options=options)
    assert store["reflectance"].metadata.codecs[0].to_dict()["name"] == (
        "bytes" if codec is None else "xgeo.video")


def test_open_dataset_reads_an_s3_store_and_xgeo_info_shows_it(s3):
    from click.testing import CliRunner

    from xgeo.cli import main

    server, bucket = s3
    options = server.storage_options()
    url = f"s3://{bucket}/ndvi.zarr"
    sample = xgeo.datasets.sentinel2_cube()
    sample[["ndvi"]].geo.to_zarr(url, storage_options=options)
    back = xgeo.open_dataset(url, storage_options=options)
    np.testing.assert_array_equal(back.ndvi.values, sample.ndvi.values)
    # the CLI has no storage options: the AWS_* environment (the fixture's) reaches the store
    result = CliRunner().invoke(main, ["info", url])
    assert result.exit_code == 0, result.output
    assert "ndvi" in result.output and "32633" in result.output


def test_the_cli_takes_storage_options_from_fsspec_environment_variables(s3):
    """No AWS_* at all: the endpoint and keys reach the CLI as ``FSSPEC_S3`` (JSON), fsspec's
    own configuration, which the scale-out guide documents for the command line."""
    import json
    import os
    import subprocess
    import sys

    server, bucket = s3
    url = f"s3://{bucket}/ndvi.zarr"
    xgeo.datasets.sentinel2_cube()[["ndvi"]].geo.to_zarr(url,
                                                         storage_options=server.storage_options())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSPEC_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/xgeo-aws"
    cmd = [sys.executable, "-m", "xgeo.cli", "info", url]
    refused = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0  # without the options the store cannot be reached
    env["FSSPEC_S3"] = json.dumps(server.storage_options())
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ndvi" in done.stdout and "32633" in done.stdout


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_bucket_a_wrong_endpoint_and_no_credentials_are_typed_errors_naming_the_url(
        s3, monkeypatch):
    server, bucket = s3
    options = server.storage_options()
    url = f"s3://{bucket}/ndvi.zarr"
    xgeo.datasets.sentinel2_cube()[["ndvi"]].geo.to_zarr(url, storage_options=options)

    nowhere = "s3://xgeo-no-such-bucket/ndvi.zarr"
    with pytest.raises(StoreNotFoundError, match=f"no Zarr store at {nowhere}.*bucket"):
        xgeo.open_dataset(nowhere, storage_options=options)
    with pytest.raises(FileNotFoundError):  # and still what a missing path raises
        xgeo.open_dataset(f"s3://{bucket}/nothing.zarr", storage_options=options)

    # nothing listens there; one attempt (botocore and s3fs otherwise retry for ~30 s)
    wrong = {**options, "endpoint_url": f"http://127.0.0.1:{_closed_port()}",
             "config_kwargs": {"retries": {"max_attempts": 1}}}
    with pytest.raises(StoreAccessError, match=f"cannot access {url}.*endpoint_url"):
        xgeo.open_dataset(url, storage_options=wrong)
    with pytest.raises(StoreAccessError, match=f"cannot access s3://{bucket}/other.zarr"):
        xgeo.datasets.sentinel2_cube()[["ndvi"]].geo.to_zarr(
            f"s3://{bucket}/other.zarr", storage_options=wrong)

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    no_keys = {"endpoint_url": server.endpoint}
    with pytest.raises(StoreAccessError, match=f"cannot access {url}.*credentials"):
        xgeo.open_dataset(url, storage_options=no_keys)


def test_a_second_writer_of_an_s3_store_is_locked_out(s3):
    from xgeo.errors import StoreLockedError
    from xgeo.lock import StoreLock

    server, bucket = s3
    options = server.storage_options()
    url = f"s3://{bucket}/ndvi.zarr"
    with StoreLock(url, options):  # the lock object is created with a conditional PUT
        with pytest.raises(StoreLockedError, match="being written by another process"):
            xgeo.datasets.sentinel2_cube()[["ndvi"]].chunk().geo.to_zarr(
                url, storage_options=options)
    xgeo.datasets.sentinel2_cube()[["ndvi"]].chunk().geo.to_zarr(url, storage_options=options)
    assert missing_chunks(url, options) is None


def test_cli_overwrite_replaces_s3_stores_and_refuses_other_files_before_any_work(s3):
    """--overwrite on an s3:// output was refused asking for --overwrite (the check looked at
    a local path); .nc/.tif/.parquet/.gif outputs failed after the work with tracebacks."""
    from click.testing import CliRunner

    from xgeo.cli import main

    server, bucket = s3
    src = xgeo.datasets.sentinel2_cube_path()
    url = f"s3://{bucket}/out.zarr"
    run = CliRunner().invoke
    for _ in range(2):
        result = run(main, ["decompress", str(src), url, "--overwrite"])
        assert result.exit_code == 0, result.output
    refused = run(main, ["decompress", str(src), url])
    assert refused.exit_code == 1 and "already exists; pass --overwrite" in refused.output
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **server.storage_options())
    before = sorted(fs.find(bucket))
    for out in ("x.nc", "x.tif", "chips.parquet"):
        args = (["chips", str(src), "--size", "32", "--out", f"s3://{bucket}/{out}"]
                if out.endswith(".parquet") else ["decompress", str(src), f"s3://{bucket}/{out}"])
        result = run(main, args)
        assert result.exit_code == 1, result.output
        assert "to an object store xgeo writes Zarr stores (.zarr) and CSV" in result.output
        assert "Traceback" not in result.output
    fs.invalidate_cache()
    assert sorted(fs.find(bucket)) == before
    np.testing.assert_array_equal(
        xgeo.open_dataset(url, storage_options=server.storage_options()).ndvi.values,
        xgeo.datasets.sentinel2_cube().ndvi.values)


def test_a_store_another_process_changed_is_seen_by_this_one(s3):
    """s3fs caches listings per filesystem: a store this process had listed as complete, then
    marked interrupted by another process, opened as complete (and the reverse: a store
    another process finished stayed 'incomplete' until a new process)."""
    import s3fs

    server, bucket = s3
    options = server.storage_options()
    url = f"s3://{bucket}/cube.zarr"
    xgeo.datasets.sentinel2_cube()[["dem"]].geo.to_zarr(url, storage_options=options)
    xgeo.open_dataset(url, storage_options=options)  # lists the bucket: no progress folder
    other = s3fs.S3FileSystem(skip_instance_cache=True, **options)  # "another process"
    other.pipe(f"{bucket}/cube.zarr.progress/manifest.json",
               json.dumps({"version": 2, "token": "t", "phase": "prepared"}).encode())
    with pytest.raises(IncompleteStoreError):
        xgeo.open_dataset(url, storage_options=options)
    other.rm(f"{bucket}/cube.zarr.progress", recursive=True)
    assert xgeo.open_dataset(url, storage_options=options).dem.shape == (101, 100)


def test_a_misspelt_storage_option_is_a_store_access_error_naming_it(s3):
    server, bucket = s3
    options = {**server.storage_options(), "endpoint": server.endpoint}  # not endpoint_url
    with pytest.raises(StoreAccessError, match=r"does not take an option of storage_options.*'endpoint'"):
        xgeo.datasets.sentinel2_cube()[["dem"]].geo.to_zarr(f"s3://{bucket}/a.zarr",
                                                             storage_options=options)
