"""ChipDataset's API: a prepared ChipGrid, from_source, transforms=, stacked band variables,
samples that torch's default_collate batches."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo.chips import make_chips
from xgeo.errors import BandMappingError, ChannelError, ChipError

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, default_collate  # noqa: E402

from xgeo.torch import ChipDataset, Indices, collate  # noqa: E402


@pytest.fixture(scope="module")
def cube():
    return xgeo.datasets.sentinel2_cube()


@pytest.fixture(scope="module")
def s2_store(tmp_path_factory, cube):
    path = tmp_path_factory.mktemp("api") / "s2.zarr"
    cube[["reflectance", "ndvi"]].chunk({"time": 1, "band": 13, "y": 64, "x": 64}).geo.to_zarr(path)
    return path


def _images(dset, picks=(0, 1, -1)):
    return [dset[i % len(dset)]["image"].numpy() for i in picks]


def test_a_chip_grid_is_read_from_the_store_it_was_made_from(s2_store):
    chips = make_chips(xgeo.open_dataset(s2_store), size=48, variable="reflectance", time=2)
    dset = ChipDataset(chips)
    assert dset.kind == "zarr" and len(dset) == len(chips)
    same = ChipDataset.from_source(s2_store, 48, variable="reflectance", time=2)
    for a, b in zip(_images(dset), _images(same), strict=True):
        np.testing.assert_array_equal(a, b)
    for i in (0, len(dset) - 1):  # bounds asked of the grid: the chip's own grid's bounds
        np.testing.assert_allclose(dset[i]["bounds"], chips[i].bounds, rtol=0, atol=1e-6)
    memory = ChipDataset(chips.subset([1, 0]))  # a subset keeps its origin
    assert memory.kind == "zarr"
    np.testing.assert_array_equal(memory[1]["image"].numpy(), dset[0]["image"].numpy())
    with pytest.raises(ChipError, match=r"\['size', 'time'\].*from_source"):
        ChipDataset(chips, 32, time=2)


def test_transforms_is_the_sample_callable_and_transform_warns(cube):
    dset = ChipDataset(cube, size=32, variable="reflectance", transforms=Indices(["NDVI"]))
    assert dset[0]["bands"][-1] == "NDVI"
    with pytest.warns(DeprecationWarning, match="transforms="):
        old = ChipDataset(cube, size=32, variable="reflectance", transform=Indices(["NDVI"]))
    torch.testing.assert_close(old[0]["image"], dset[0]["image"], equal_nan=True)


@pytest.mark.parametrize("where", ["memory", "zarr"])
def test_a_list_of_band_variables_stacks_their_bands(cube, s2_store, where):
    source = cube if where == "memory" else s2_store
    listed = ChipDataset(source, size=32, variables=["reflectance"])
    named = ChipDataset(source, size=32, variable="reflectance")
    assert listed.kind == where and listed.band_labels == named.band_labels
    for a, b in zip(_images(listed), _images(named), strict=True):
        np.testing.assert_array_equal(a, b)
    both = ChipDataset(source, size=32, variables=["reflectance", "ndvi"], bands=["ndvi", "B04"])
    assert both.band_labels == ["ndvi", "B04"]
    image = both[5]["image"].numpy()
    np.testing.assert_array_equal(image[0], named[5]["image"].numpy()[0] * 0 + image[0])
    oracle = make_chips(cube, size=32, variables=["reflectance", "ndvi"], bands=["ndvi", "B04"])
    np.testing.assert_array_equal(image, oracle.read(5).astype("float32"))


def _two_variables() -> xr.Dataset:
    """Two variables with a band dim (in one Dataset they share its labels) and a plain one."""
    rng = np.random.default_rng(0)
    coords = {"time": np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[ns]"),
              "y": 100.0 - np.arange(40.0), "x": np.arange(40.0), "band": ["B1", "B2"]}
    a = xr.DataArray(rng.integers(0, 500, (2, 2, 40, 40)).astype("uint16"),
                     dims=("time", "band", "y", "x"), coords=coords)
    a.encoding = {"_FillValue": 0}
    b = xr.DataArray(rng.random((2, 2, 40, 40), dtype="float32"),  # band first: transposed
                     dims=("band", "time", "y", "x"), coords=coords)
    c = xr.DataArray(rng.random((2, 40, 40)), dims=("time", "y", "x"),
                     coords={k: v for k, v in coords.items() if k != "band"})
    return xgeo.crs.set_crs(xr.Dataset({"a": a, "b": b, "c": c}), 32633)


@pytest.mark.parametrize("where", ["memory", "zarr"])
def test_two_synthetic_band_variables_and_a_plain_one(tmp_path, where):
    ds = raw = _two_variables()  # raw: the stored values (dtype=None reads them undecoded)
    if where == "zarr":
        ds.chunk({"time": 1, "y": 16, "x": 16}).geo.to_zarr(tmp_path / "two.zarr")
        ds = xgeo.open_dataset(tmp_path / "two.zarr")
    dset = ChipDataset(ds, size=16, variables=["a", "b", "c"], dtype=None, time=2)
    assert dset.kind == where and dset.band_labels == ["a:B1", "a:B2", "b:B1", "b:B2", "c"]
    assert [(ch.variable, ch.band_index) for ch in dset.channels] == [
        ("a", (0, 1)), ("b", (0, 1)), ("c", None)]
    want = np.concatenate([raw.a.values, raw.b.transpose("time", "band", ...).values.astype(float),
                           raw.c.values[:, None]], axis=1)[:, :, :16, :16]
    image = dset[0]["image"].numpy()
    assert image.shape == (2, 5, 16, 16) and image.dtype == np.float64  # NumPy's promotion
    np.testing.assert_array_equal(image, want)
    floats = ChipDataset(ds, size=16, variables=["a", "b", "c"], time=2)
    np.testing.assert_array_equal(floats[0]["image"].numpy()[:, 0],
                                  np.where(want[:, 0] == 0, np.nan, want[:, 0]).astype("float32"))
    picked = ChipDataset(ds, size=16, variables=["a", "b"], bands=["b:B2", "a:B1"], dtype=None,
                         time=2)
    np.testing.assert_array_equal(picked[3]["image"].numpy(), dset[3]["image"].numpy()[:, [3, 0]])
    with pytest.raises(ChannelError, match=r"\['B1'\] are in several.*'variable:band'.*variable="):
        ChipDataset(ds, size=16, variables=["a", "b"], bands=["B1"])


def test_ambiguous_band_variables_name_the_argument(cube):
    ds = cube[["reflectance"]].assign(again=cube.reflectance)
    with pytest.raises(ChannelError, match="repeat a channel.*variable=") as err:
        ChipDataset(ds, size=32, variables=["reflectance", "reflectance"])
    assert isinstance(err.value, ChipError) and isinstance(err.value, BandMappingError)
    with pytest.raises(ChannelError, match="variable=.*variables=.*not both"):
        ChipDataset(ds, size=32, variable="reflectance", variables=["again"])
    both = ChipDataset(ds, size=32, variables=["reflectance", "again"])
    assert len(both.band_labels) == 26 and both.band_labels[13] == "again:B01"
    torch.testing.assert_close(both[7]["image"][13:], both[7]["image"][:13], equal_nan=True)


def _same_batches(mine: dict, theirs: dict) -> None:
    assert set(mine) == set(theirs)
    torch.testing.assert_close(mine["image"], theirs["image"], equal_nan=True)
    assert torch.equal(mine["index"], theirs["index"]) and torch.equal(mine["mask"], theirs["mask"])
    torch.testing.assert_close(mine["bounds"], torch.stack(theirs["bounds"], dim=1))
    assert mine["crs"] == theirs["crs"]
    assert mine["bands"] == [labels[0] for labels in theirs["bands"]]
    if "time" in mine:  # default_collate transposes lists (T lists of B), keeps strings
        mine_t = mine["time"]
        assert mine_t == theirs["time"] or mine_t == [list(t) for t in zip(*theirs["time"], strict=True)]


@pytest.mark.parametrize("case", ["no time axis", "one step", "time windows"])
def test_default_collate_and_xgeo_collate_give_equal_batches(cube, case):
    source = cube.isel(time=0) if case == "no time axis" else cube
    kwargs = {"time": 2} if case == "time windows" else {}
    dset = ChipDataset(source, size=32, variable="reflectance", return_mask=True, **kwargs)
    assert ("time" in dset[0]) == (case != "no time axis")
    assert None not in dset[0].values()
    plain = DataLoader(dset, batch_size=4)
    fast = DataLoader(dset, batch_size=4, collate_fn=collate)
    for n, (theirs, mine) in enumerate(zip(plain, fast, strict=True)):
        _same_batches(mine, theirs)
        if n == 2:
            break
    _same_batches(collate([dset[i] for i in range(3)]), default_collate([dset[i] for i in range(3)]))
