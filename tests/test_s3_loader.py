"""ChipDataset and to_dataloader over a store on an S3 API (moto's server, see s3server.py):
the same samples as from a local copy, and each chunk object read once per cache lifetime,
counted on the server, with DataLoader workers under fork and spawn."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
import zarr

import xgeo

torch = pytest.importorskip("torch")
from xgeo.errors import StoreNotFoundError  # noqa: E402
from xgeo.torch import ChipDataset, to_dataloader  # noqa: E402

CHUNKS = {"time": 5, "band": 1, "y": 64, "x": 64}  # 13 x 2 x 2 chunk objects
SIZE = 32


def _cube():
    return xgeo.datasets.sentinel2_cube()[["reflectance"]]


@pytest.fixture(scope="module")
def cube_stores(s3_server, tmp_path_factory):
    """The same zstd cube on S3 and on local disk: (url, local path), written once."""
    options = s3_server.storage_options()
    url = f"s3://{s3_server.new_bucket()}/cube.zarr"
    cube = _cube().load()
    encoding = {"reflectance": {"chunks": tuple(CHUNKS.values())}}
    cube.geo.to_zarr(url, storage_options=options, encoding=encoding)
    local = tmp_path_factory.mktemp("s3loader") / "cube.zarr"
    cube.geo.to_zarr(local, encoding=encoding)
    return url, local


@pytest.fixture()
def stores(s3_server, cube_stores):
    """(server, url, options, local path), request counts reset."""
    s3_server.app.reset()
    return s3_server, cube_stores[0], s3_server.storage_options(), cube_stores[1]


def _chunk_objects(server, url):
    """Every chunk object of reflectance in the store: {bucket/.../c/0/b/y/x}."""
    prefix = url.removeprefix("s3://") + "/reflectance/c/"
    arr = zarr.open_group(str(url), mode="r",
                          storage_options=server.storage_options())["reflectance"]
    keys = np.ndindex(*arr.cdata_shape)
    return {prefix + "/".join(map(str, k)) for k in keys}


def _needed(dset, url):
    """The chunk objects the dataset's chips cover."""
    prefix = url.removeprefix("s3://") + "/reflectance/c/"
    out = set()
    for r, c in zip(dset.rows, dset.cols, strict=True):
        for band in range(13):
            for cy in range(r // 64, (r + SIZE - 1) // 64 + 1):
                for cx in range(c // 64, (c + SIZE - 1) // 64 + 1):
                    out.add(f"{prefix}0/{band}/{cy}/{cx}")
    return out


def _gets(server, url):
    return server.app.object_gets(url.removeprefix("s3://") + "/reflectance/c/")


@pytest.mark.parametrize("threads", [1, 4])
def test_an_epoch_from_s3_reads_each_needed_chunk_object_once(stores, threads):
    server, url, options, local = stores
    dset = ChipDataset(url, size=SIZE, variable="reflectance", storage_options=options,
                       decode_threads=threads, cache_bytes=64 * 2**20)
    assert dset.kind == "zarr"
    ref = ChipDataset(local, size=SIZE, variable="reflectance")
    server.app.reset()
    for _ in range(2):  # two epochs: the second from the decoded-chunk cache
        for i in range(len(dset)):
            np.testing.assert_array_equal(dset[i]["image"].numpy(), ref[i]["image"].numpy())
    gets = _gets(server, url)
    assert set(gets) == _needed(dset, url) == _chunk_objects(server, url)
    assert set(gets.values()) == {1}, gets  # one GET per chunk object for the whole run
    # a batch read (what the DataLoader asks for) fetches its chunks ahead, still once each
    server.app.reset()
    fresh = ChipDataset(url, size=SIZE, variable="reflectance", storage_options=options,
                        decode_threads=threads)
    batch = fresh.__getitems__(list(range(len(fresh))))
    np.testing.assert_array_equal(np.stack([b["image"].numpy() for b in batch]),
                                  np.stack([ref[i]["image"].numpy() for i in range(len(ref))]))
    assert set(_gets(server, url).values()) == {1}


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_from_s3_read_each_chunk_object_once_per_worker(stores, context):
    if context not in mp.get_all_start_methods():
        pytest.skip(f"no {context} start method here")
    server, url, options, local = stores
    kwargs = {"variable": "reflectance", "cache_bytes": 64 * 2**20}
    loader = to_dataloader(url, size=SIZE, batch_size=2, shuffle=False, num_workers=2,
                           multiprocessing_context=context,
                           dataset_kwargs={**kwargs, "storage_options": options})
    ref = to_dataloader(local, size=SIZE, batch_size=2, shuffle=False,
                        dataset_kwargs=kwargs)
    loader.dataset[0]  # the parent holds a reader, an s3fs instance and its loop: forked too
    server.app.reset()
    got = [b["image"] for b in loader]
    want = [b["image"] for b in ref]
    assert len(got) == len(want) >= 2
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, equal_nan=True)
    gets = _gets(server, url)
    assert set(gets) == _needed(loader.dataset, url)
    # each worker process opened its own filesystem and cache: a chunk object is read at
    # most once per worker (each worker's cache outlives its batches), never once per batch
    assert max(gets.values()) <= 2, gets
    assert sum(gets.values()) < sum(len(_needed_of_batch(loader.dataset, url, idx))
                                    for idx in loader.batch_sampler)


def _needed_of_batch(dset, url, indices):
    sub = type("Chips", (), {"rows": dset.rows[list(indices)], "cols": dset.cols[list(indices)]})
    return _needed(sub, url)


def test_a_missing_s3_store_is_a_typed_error_naming_the_url(s3):
    server, bucket = s3
    url = f"s3://{bucket}/nothing.zarr"
    with pytest.raises(StoreNotFoundError, match=f"no Zarr store at {url}"):
        ChipDataset(url, size=SIZE, storage_options=server.storage_options())


def test_any_fsspec_url_reads_through_the_direct_chunk_reader(tmp_path):
    """memory:// (no moto needed): the same chunk objects, fetched ahead, decoded directly."""
    url = "memory://xgeo-loader-test/cube.zarr"
    encoding = {"reflectance": {"chunks": tuple(CHUNKS.values())}}
    _cube().geo.to_zarr(url, encoding=encoding, mode="w")
    _cube().geo.to_zarr(tmp_path / "cube.zarr", encoding=encoding)
    dset = ChipDataset(url, size=SIZE, variable="reflectance", decode_threads=1)
    ref = ChipDataset(tmp_path / "cube.zarr", size=SIZE, variable="reflectance")
    batch = dset.__getitems__(list(range(len(dset))))
    for i, sample in enumerate(batch):
        np.testing.assert_array_equal(sample["image"].numpy(), ref[i]["image"].numpy())
    reader = dset._get_reader()
    assert reader.direct["reflectance"] is not None  # not zarr's indexing
    assert dict(reader.objects["reflectance"].stamp((0, 0, 0, 0)))["size"] > 0
    assert reader.objects["reflectance"].stamp((0, 0, 9, 9)) is None


@pytest.mark.parametrize("context", ["fork"])
def test_a_video_store_on_s3_with_a_disk_cache_is_read_once_per_cache_lifetime(
        s3_server, tmp_path, context):
    """ChipDataset(s3://..., cache_dir=...): each chunk object is fetched once for the cache's
    whole life — across epochs, DataLoader workers and a later run — counted on the server."""
    options = s3_server.storage_options()
    url = f"s3://{s3_server.new_bucket()}/video.zarr"
    cube = _cube().load().isel(band=slice(0, 3))
    cube.geo.to_zarr(url, storage_options=options, codec="hevc", codec_options={
        "crf": 16, "chunks": {"time": 5, "band": 3, "y": 64, "x": 64}})
    plain = [s["image"] for s in ChipDataset(url, size=SIZE, variable="reflectance",
                                             storage_options=options)]
    s3_server.app.reset()
    kwargs = {"variable": "reflectance", "storage_options": options, "cache_dir": tmp_path,
              "cache_bytes": 1 << 30}
    for _ in range(2):  # two runs, each two epochs with two worker processes
        loader = to_dataloader(url, size=SIZE, batch_size=2, shuffle=False, num_workers=2,
                               multiprocessing_context=context, dataset_kwargs=kwargs)
        for _ in range(2):
            got = {int(i): img for b in loader for i, img in zip(b["index"], b["image"],
                                                                 strict=True)}
            assert sorted(got) == list(range(len(plain)))
            for i, img in got.items():
                torch.testing.assert_close(img, plain[i], equal_nan=True)
    gets = _gets(s3_server, url)
    assert gets and set(gets.values()) == {1}, gets
    # a reader with no memory cache reads every chunk from the disk cache each time: the
    # stamps (HEADs) that key it are asked once per chunk in a process, not once per read
    from xgeo._chunkread import ZarrReader

    s3_server.app.reset()
    reader = ZarrReader(url, 0, 1, options, str(tmp_path), 1 << 30)
    whole = tuple(slice(0, n) for n in reader.array("reflectance").shape)
    first = reader.read("reflectance", whole)
    for _ in range(3):
        np.testing.assert_array_equal(reader.read("reflectance", whole), first)
    prefix = url.removeprefix("s3://") + "/reflectance/c/"
    heads = s3_server.app.object_gets(prefix, "HEAD")
    assert heads and set(heads.values()) == {1}, heads
    assert not s3_server.app.object_gets(prefix)  # and no GET: the files were there
