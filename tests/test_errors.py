"""One error story: typed errors, and one class that catches every codec failure.

``xgeo_codecs`` never imports xgeo, so a chunk read without xgeo (plain ``xr.open_zarr``,
``zarr``, a dask worker) fails with :class:`xgeo_codecs.CodecError`; reads through xgeo
raise :class:`xgeo.errors.CodecError`, a subclass that names store, variable and chunk.
``except xgeo_codecs.CodecError`` therefore catches a corrupt chunk on every read path.
"""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import xgeo_codecs
import zarr

import xgeo
import xgeo.errors
import xgeo.store
from xgeo.errors import (
    CodecError,
    IncompleteStoreError,
    IndexArgumentError,
    InputTypeError,
    ResumeError,
    XgeoError,
    codec_errors_as_xgeo,
)


@pytest.fixture(scope="module")
def video_store(tmp_path_factory) -> Path:
    """Two dates of the real cube's reflectance, lossless FFV1 (fast), 16 chunks."""
    store = tmp_path_factory.mktemp("errors") / "cube.zarr"
    ds = xgeo.datasets.sentinel2_cube(chunks={}).chunk({"time": 1})
    ds = ds[["reflectance"]].isel(time=slice(0, 2))
    xgeo.io.to_zarr(ds, store, codec="ffv1", codec_options={"band_chunk": 4, "tile": 64})
    return store


@pytest.fixture()
def corrupt(video_store, tmp_path) -> Path:
    """A copy of the store with one flipped bit in chunk c/0/1/1/0 of ``reflectance``."""
    out = tmp_path / "cube.zarr"
    shutil.copytree(video_store, out)
    path = out / "reflectance" / "c" / "0" / "1" / "1" / "0"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    return out


def test_xgeo_codec_error_is_the_codec_packages_error_and_an_xgeo_error():
    assert issubclass(CodecError, xgeo_codecs.CodecError)
    assert issubclass(CodecError, XgeoError) and issubclass(CodecError, ValueError)
    from xgeo_codecs.errors import CodecError as base

    assert base is xgeo_codecs.CodecError


def test_every_error_class_is_an_xgeo_error():
    for name in xgeo.errors.__all__:
        obj = getattr(xgeo.errors, name)
        if inspect.isclass(obj) and not issubclass(obj, Warning):
            assert issubclass(obj, XgeoError), name


def test_incomplete_store_error_lives_in_xgeo_errors_and_is_still_in_xgeo_store():
    assert xgeo.store.IncompleteStoreError is IncompleteStoreError
    assert IncompleteStoreError.__module__ == "xgeo.errors"
    assert issubclass(IncompleteStoreError, OSError)


def test_a_plain_xarray_read_of_a_corrupt_video_chunk_is_the_codec_packages_error(corrupt):
    ds = xr.open_zarr(corrupt, consolidated=True)  # no xgeo on this path
    with pytest.raises(xgeo_codecs.CodecError) as err:
        _ = ds.reflectance.values
    # The codec package cannot raise xgeo's subclass (it never imports xgeo).
    assert not isinstance(err.value, CodecError)


def test_a_plain_zarr_read_of_a_corrupt_video_chunk_is_the_codec_packages_error(corrupt):
    arr = zarr.open_array(corrupt / "reflectance", mode="r")
    with pytest.raises(xgeo_codecs.CodecError):
        arr[...]


@pytest.mark.parametrize("chunks", [None, {}])
def test_an_xgeo_read_of_a_corrupt_video_chunk_is_both_classes_and_names_the_chunk(
        corrupt, chunks):
    ds = xgeo.open_dataset(corrupt, chunks=chunks)
    with pytest.raises(xgeo_codecs.CodecError) as err:  # the one class users catch
        _ = ds.reflectance.values
    assert isinstance(err.value, CodecError) and isinstance(err.value, XgeoError)
    message = str(err.value)
    assert str(corrupt) in message and "'reflectance'" in message and "c/0/1/1/0" in message
    assert isinstance(err.value.__cause__, xgeo_codecs.CodecError)


def test_a_chip_read_of_a_corrupt_video_chunk_is_both_classes(corrupt):
    pytest.importorskip("torch")
    from xgeo.torch import ChipDataset

    dset = ChipDataset(corrupt, size=50, time=2)
    failed = []
    for i in range(len(dset)):
        try:
            dset[i]
        except xgeo_codecs.CodecError as exc:  # the one class users catch
            failed.append(exc)
    assert failed and all(isinstance(e, CodecError) for e in failed)


def test_codec_errors_as_xgeo_wraps_once_and_keeps_xgeo_errors():
    with pytest.raises(CodecError, match=r"^variable 'x': ") as err:
        with codec_errors_as_xgeo("variable 'x'"):
            xgeo_codecs.decode(b"not a chunk")
    assert type(err.value.__cause__) is xgeo_codecs.CodecError
    mine = CodecError("already xgeo's")
    with pytest.raises(CodecError) as err:
        with codec_errors_as_xgeo("variable 'x'"):
            raise mine
    assert err.value is mine
    with pytest.raises(KeyError), codec_errors_as_xgeo():  # other errors pass untouched
        raise KeyError("k")


# -- typed errors where bare builtins were raised (still the builtin for old callers) ------

def test_clip_of_a_non_xarray_object_is_an_input_type_error():
    with pytest.raises(InputTypeError, match="DataArray or Dataset") as err:
        xgeo.clip.clip(np.zeros((2, 2)), {"type": "Point", "coordinates": (0, 0)})
    assert isinstance(err.value, TypeError)


def test_loader_source_of_a_number_is_an_input_type_error():
    from xgeo.loader_source import resolve_source

    with pytest.raises(InputTypeError, match="path or an xarray") as err:
        resolve_source(3)
    assert isinstance(err.value, TypeError)


def test_index_arguments_are_typed():
    ds = xgeo.datasets.sentinel2_cube()
    with pytest.raises(IndexArgumentError, match="float32") as err:
        xgeo.indices.compute_indices(ds, ["NDVI"], dtype="int8")
    assert isinstance(err.value, ValueError)
    from xgeo.indices import evaluate

    with pytest.raises(IndexArgumentError, match="shape"):
        evaluate({"N": np.ones(3), "R": np.ones(4)}, ["NDVI"])
    with pytest.raises(IndexArgumentError, match="scale for band"):
        evaluate({"N": np.ones(3), "R": np.ones(3)}, ["NDVI"], scale={"N": "x"})
    with pytest.raises(InputTypeError, match="numeric") as terr:
        evaluate({"N": np.array(["a"]), "R": np.array(["b"])}, ["NDVI"])
    assert isinstance(terr.value, TypeError)


def test_resume_of_an_append_is_a_resume_error(tmp_path):
    ds = xgeo.datasets.sentinel2_cube()[["ndvi"]]
    xgeo.io.to_zarr(ds, tmp_path / "ndvi.zarr")
    with pytest.raises(ResumeError, match="does not apply to appends") as err:
        xgeo.io.to_zarr(ds, tmp_path / "ndvi.zarr", resume=True, mode="a", append_dim="time")
    assert isinstance(err.value, ValueError)
