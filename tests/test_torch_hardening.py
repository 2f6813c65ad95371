"""ChipDataset on hostile or careless input: lazy chip index, corrupt chunks, typed errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo.chips import make_chips
from xgeo.crs import set_crs
from xgeo.errors import ChipError, CodecError, GridMappingConflictError

torch = pytest.importorskip("torch")

from xgeo.torch import ChipDataset  # noqa: E402

VARS = ["B4", "B8"]


@pytest.fixture(scope="module")
def video_store(tmp_path_factory, data_dir):
    """The real nrt uint16 bands as a HEVC Zarr store of 2 x 2 x 2 chunks (time 16, 50 x 50)."""
    path = tmp_path_factory.mktemp("zarr") / "nrt_video.zarr"
    ds = xgeo.open_dataset(data_dir / "nrt_romania_32t.nc")[[*VARS, "SCL"]].load()
    chunks = {"time": 16, "y": 50, "x": 50}
    ds.geo.to_zarr(path, codec="hevc", codec_options={"crf": 20, "chunks": chunks})
    return path


def _corrupt(path, name, key):
    """Flip one byte in the middle of a stored chunk (its CRC no longer matches)."""
    chunk = path / name / "c" / "/".join(map(str, key))
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))


def test_construction_decodes_no_chunk_unless_a_filter_needs_one(video_store, decodes):
    dset = ChipDataset(video_store, size=50, variables=VARS, time=16)
    masked = ChipDataset(video_store, size=50, variables=VARS, time=16, mask="SCL")
    assert decodes == [], f"construction decoded {len(decodes)} chunks"
    assert len(dset) == len(masked) == 8
    dset[0]
    assert len(decodes) == 2  # the spy sees reads: one chunk per variable for chip 0


def test_a_valid_fraction_filter_reads_lazily_and_keeps_the_same_chips(video_store, decodes):
    clouds = xgeo.open_dataset(video_store).SCL.isin([3, 8, 9, 10]).load()  # shadow, clouds
    decodes.clear()
    kwargs = dict(size=25, variables=VARS, time=16, mask=clouds, min_valid=0.77)
    dset = ChipDataset(video_store, **kwargs)
    assert len(decodes) == 16  # the filter needs pixels: each chunk of B4, B8 decoded once
    oracle = make_chips(xgeo.open_dataset(video_store).load(), **kwargs)
    assert 0 < len(dset) < 32
    np.testing.assert_array_equal(dset.rows, oracle.rows)
    np.testing.assert_array_equal(dset.cols, oracle.cols)
    np.testing.assert_array_equal(dset.t0, oracle.t0)


def test_a_mask_without_min_valid_computes_fractions_when_asked(sample):
    mask = sample.cloud_mask.astype(bool)
    chips = make_chips(sample, size=32, variable="reflectance", mask=mask)
    eager = make_chips(sample, size=32, variable="reflectance", mask=mask, min_valid=1e-12)
    valid = eager.valid
    assert len(chips) == 80 and (valid < 1).any()
    lazy = np.array([chips[i].valid_fraction for i in range(len(chips))])
    np.testing.assert_array_equal(lazy[lazy > 0], valid)
    np.testing.assert_array_equal(chips.subset([3, 1]).valid, chips.valid[[3, 1]])


def test_a_corrupt_chunk_in_the_last_row_fails_only_the_chips_that_read_it(tmp_path, video_store):
    import shutil

    store = tmp_path / "corrupt.zarr"
    shutil.copytree(video_store, store)
    _corrupt(store, "B8", (1, 1, 1))  # last time block, last row, last column
    dset = ChipDataset(store, size=50, variables=VARS, time=16)  # built from metadata only
    assert len(dset) == 8
    bad = [
        i for i in range(len(dset))
        if (dset.t0[i], dset.rows[i], dset.cols[i]) == (16, 50, 50)
    ]
    assert len(bad) == 1
    for i in range(len(dset)):
        if i != bad[0]:
            assert torch.isfinite(dset[i]["image"]).any()
    with pytest.raises(CodecError, match=r"'B8', chunk \(1, 1, 1\)") as err:
        dset[bad[0]]
    assert str(store) in str(err.value)


def test_complex_data_is_a_typed_error_naming_variable_and_dtype(sample):
    ds = sample[["ndvi"]].copy()
    ds["ndvi"] = ds.ndvi.astype("complex64")
    with pytest.raises(ChipError, match="'ndvi' has dtype complex64"):
        ChipDataset(ds, size=32, variables=["ndvi"])
    kept = ChipDataset(ds, size=32, variables=["ndvi"], dtype=None)
    assert kept[0]["image"].dtype == torch.complex64


def test_variable_without_a_band_dim_is_one_channel(sample):
    """variable= named a variable with no band dim: it was looked up as a band (KeyError)."""
    one = ChipDataset(sample[["ndvi"]], size=32, variable="ndvi")
    same = ChipDataset(sample[["ndvi"]], size=32, variables=["ndvi"])
    assert one[0]["image"].shape == same[0]["image"].shape
    assert torch.equal(one[0]["image"], same[0]["image"])
    with pytest.raises(ChipError, match="'ndvi' has dtype complex64"):
        ChipDataset(sample[["ndvi"]].astype("complex64"), size=32, variable="ndvi")


def _two_crs_dataset(sample):
    a = sample[["ndvi"]]
    b = set_crs(sample.ndvi.rename("ndvi_b").drop_vars("spatial_ref"), 32634)
    b = b.to_dataset().rename_vars(spatial_ref="crs_b")
    b["ndvi_b"].encoding["grid_mapping"] = "crs_b"
    return xr.merge([a, b], compat="no_conflicts")


def test_variables_on_different_crss_are_refused(sample):
    ds = _two_crs_dataset(sample)
    with pytest.raises(GridMappingConflictError, match="different grid mappings"):
        ChipDataset(ds, size=32, variables=["ndvi", "ndvi_b"])
    with pytest.raises(GridMappingConflictError):
        make_chips(ds, size=32, variables=["ndvi"], mask="ndvi_b")
    assert len(ChipDataset(ds, size=32, variables=["ndvi"])) == 80  # one CRS: fine


@pytest.mark.parametrize(
    "kwargs, name",
    [({"time": 0}, "time"), ({"time": 2, "time_stride": 0}, "time_stride"),
     ({"time": -1}, "time"), ({"size": 0}, "size"), ({"stride": 0}, "stride")],
)
def test_zero_sizes_and_strides_name_the_argument(sample, kwargs, name):
    kwargs = {"size": 32, **kwargs}
    with pytest.raises(ChipError, match=f"^{name} must be a positive int"):
        ChipDataset(sample, variable="reflectance", **kwargs)
