"""Many cubes in one dataset: real minicubes (Zarr and netCDF, four CRSs) cut from the bundled
Sentinel-2 cube and the shared eo-learn cube, read as one CubesDataset."""

from __future__ import annotations

import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from pyproj import CRS

import xgeo
from xgeo.cubemeta import cube_meta, list_cubes
from xgeo.errors import ChipError, CubeMismatchError, SkippedCubesWarning

torch = pytest.importorskip("torch")

from xgeo.torch import (  # noqa: E402
    ChipDataset,
    CubeMixSampler,
    CubesDataset,
    collate,
    to_dataloader,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EOLEARN = SHARED / "eo-learn" / "s2_eopatch.nc"

#: name -> (EPSG written, pieces): the six minicubes
EPSG = {"a.zarr": 32633, "b.nc": 32633, "c.zarr": 32634, "d.nc": 3035, "e.zarr": 32632,
        "f.nc": 32633}


def _write(ds, path):
    if path.suffix == ".zarr":
        ds.geo.to_zarr(path)
    else:
        ds.to_netcdf(path)


@pytest.fixture(scope="module")
def cubes_dir(tmp_path_factory):
    """Six minicubes: pieces of the bundled cube and of the shared eo-learn file, two of them
    reprojected to other UTM zones and one to EPSG:3035, as Zarr and netCDF."""
    folder = tmp_path_factory.mktemp("cubes")
    s2 = xgeo.datasets.sentinel2_cube()[["reflectance", "lulc"]]
    if EOLEARN.exists():
        eo = xgeo.open_dataset(EOLEARN)[["reflectance", "lulc"]].load()
    else:  # the same scene, bundled
        eo = s2
    pieces = {
        "a.zarr": s2.isel(y=slice(0, 50), x=slice(0, 50)),
        "b.nc": s2.isel(y=slice(50, 101), x=slice(0, 50)),
        "c.zarr": s2.isel(y=slice(0, 50), x=slice(50, 100)).geo.reproject(
            "EPSG:32634", categorical=["lulc"]),
        "d.nc": s2.isel(y=slice(50, 101), x=slice(50, 100)).geo.reproject(
            "EPSG:3035", categorical=["lulc"]),
        "e.zarr": eo.isel(y=slice(20, 70), x=slice(30, 80)).geo.reproject(
            "EPSG:32632", categorical=["lulc"]),
        "f.nc": eo.isel(y=slice(0, 40), x=slice(60, 100), time=slice(0, 3)),
    }
    for name, ds in pieces.items():
        _write(ds, folder / name)
    (folder / "README.txt").write_text("not a cube")
    return folder


def _paths(folder):
    return [folder / n for n in sorted(EPSG)]


def _same_sample(a, b):
    for key in b:
        if isinstance(b[key], torch.Tensor):
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
            np.testing.assert_array_equal(a[key].numpy(), b[key].numpy(), err_msg=key)
        else:
            assert a[key] == b[key], key


def test_directory_lists_its_cubes_sorted(cubes_dir):
    assert [Path(p).name for p in list_cubes(cubes_dir)] == sorted(EPSG)
    dset = CubesDataset(cubes_dir, 16, variable="reflectance")
    assert dset.names == sorted(EPSG)
    zarrs = CubesDataset(str(cubes_dir / "*.zarr"), 16, variable="reflectance")
    assert zarrs.names == ["a.zarr", "c.zarr", "e.zarr"]
    meta = cube_meta(cubes_dir / "b.nc")
    assert meta.variables["reflectance"][:2] == (("time", "band", "y", "x"), (5, 13, 51, 50))
    assert meta.bands == tuple(xgeo.datasets.sentinel2_cube().band.values.tolist())


def test_zarr_metadata_with_or_without_consolidation_and_v2_agree(cubes_dir, tmp_path):
    import json

    ref = cube_meta(cubes_dir / "c.zarr")
    plain = tmp_path / "plain.zarr"
    shutil.copytree(cubes_dir / "c.zarr", plain)
    doc = json.loads((plain / "zarr.json").read_text())
    del doc["consolidated_metadata"]  # read through zarr's API instead
    (plain / "zarr.json").write_text(json.dumps(doc))
    plain_meta = cube_meta(plain)
    assert plain_meta.bands == ref.bands
    assert plain_meta.variables.keys() == ref.variables.keys()
    for name, (dims, shape, dtype) in ref.variables.items():  # strings: named differently
        assert plain_meta.variables[name][:2] == (dims, shape)
        assert name == "band" or plain_meta.variables[name][2] == dtype
    v2 = tmp_path / "v2.zarr"
    xgeo.open_dataset(cubes_dir / "c.zarr").load().drop_encoding().to_zarr(
        v2, zarr_format=2, consolidated=True)
    meta = cube_meta(v2)
    assert meta.variables["reflectance"] == ref.variables["reflectance"]
    assert meta.bands == ref.bands
    assert CubesDataset([cubes_dir / "c.zarr", v2, plain], 16).counts.tolist() == [80] * 3


@pytest.mark.parametrize("return_mask", [False, True])
def test_samples_equal_the_cubes_own_chipdataset(cubes_dir, return_mask):
    kwargs = {"variable": "reflectance", "label": "lulc", "return_mask": return_mask}
    dset = CubesDataset(cubes_dir, 16, **kwargs)
    for k, path in enumerate(_paths(cubes_dir)):
        own = ChipDataset(path, 16, **kwargs)
        assert dset.counts[k] == len(own)
        for j in (0, len(own) // 2, len(own) - 1):  # the last one is padded
            sample = dset[int(dset.starts[k]) + j]
            assert sample["cube"] == k and sample["index"] == j
            assert set(sample) == {*own[j], "cube"}
            _same_sample(sample, own[j])
    assert len(dset) == int(dset.counts.sum())
    with pytest.raises(IndexError):
        dset[len(dset)]


def test_every_sample_keeps_its_own_crs_and_bounds(cubes_dir):
    dset = CubesDataset(cubes_dir, 16, variable="reflectance")
    crss = {}
    for k, path in enumerate(_paths(cubes_dir)):
        sample = dset[int(dset.starts[k])]
        assert CRS.from_wkt(sample["crs"]).to_epsg() == EPSG[path.name]
        left, bottom, right, top = xgeo.open_dataset(path).geo.bounds
        x0, y0, x1, y1 = sample["bounds"]  # the first chip starts at the top-left corner
        assert x0 == pytest.approx(left) and y1 == pytest.approx(top)
        assert x1 > x0 and y1 > y0 and bottom < y1 and right > x0
        crss[k] = sample["crs"]
    assert len(set(crss.values())) == 4  # 32633 (three cubes), 32634, 3035, 32632


def test_batch_of_several_crs_keeps_a_list_of_crs(cubes_dir):
    dset = CubesDataset(cubes_dir, 16, variable="reflectance")
    picks = [int(dset.starts[k]) + 1 for k in range(len(dset.names))]
    batch = collate(dset.__getitems__(picks))
    assert isinstance(batch["crs"], list) and len(set(batch["crs"])) == 4
    assert batch["cube"].tolist() == list(range(6)) and batch["index"].tolist() == [1] * 6
    assert batch["bounds"].shape == (6, 4) and batch["bounds"].dtype == torch.float64
    for row, i in enumerate(picks):
        np.testing.assert_array_equal(batch["image"][row].numpy(), dset[i]["image"].numpy())
        assert batch["crs"][row] == dset[i]["crs"]
    assert torch.utils.data.default_collate(dset.__getitems__(picks))["crs"] == batch["crs"]


def test_construction_reads_metadata_only(cubes_dir, tmp_path, monkeypatch):
    for k in range(30):
        shutil.copytree(cubes_dir / "a.zarr", tmp_path / f"m{k:03d}.zarr")
    built = []
    original = ChipDataset.__init__

    def counting(self, *args, **kwargs):
        built.append(args[0])
        original(self, *args, **kwargs)

    monkeypatch.setattr(ChipDataset, "__init__", counting)
    dset = CubesDataset(tmp_path, 16, variable="reflectance")
    assert len(built) == 1  # the template; the other 29 from their zarr.json alone
    assert dset.counts.tolist() == [80] * 30
    dset[len(dset) - 1]
    assert len(built) == 2  # a cube is opened when one of its chips is read


def test_sampler_yields_every_chip_once_and_mixes_cubes(cubes_dir):
    dset = CubesDataset(cubes_dir, 16, variable="reflectance")
    cube_of = np.repeat(np.arange(6), dset.counts)
    for block in (1, 4):
        sampler = CubeMixSampler(dset, block=block, seed=7)
        order = list(sampler)
        assert len(order) == len(sampler) == len(dset)
        assert sorted(order) == list(range(len(dset)))
        assert order == list(CubeMixSampler(dset, block=block, seed=7))  # seeded
        sampler.set_epoch(1)
        assert list(sampler) != order
        batches = cube_of[np.asarray(order)].reshape(-1, 8) if len(order) % 8 == 0 else \
            cube_of[np.asarray(order)[: len(order) // 8 * 8]].reshape(-1, 8)
        distinct = np.mean([len(set(b)) for b in batches])
        assert distinct >= (4 if block == 1 else 2)
        runs = np.flatnonzero(np.diff(cube_of[np.asarray(order)])).size + 1
        if block == 4:  # blocks of 4 chips of one cube: at most one run per block
            assert runs <= int(sum(-(-c // 4) for c in dset.counts))
    assert list(CubeMixSampler(dset, shuffle=False)) == list(range(len(dset)))


def test_uniform_weighting_draws_cubes_evenly(cubes_dir):
    dset = CubesDataset(cubes_dir, 16, variable="reflectance")
    cube_of = np.repeat(np.arange(6), dset.counts)
    order = np.asarray(list(CubeMixSampler(dset, weighting="uniform", block=2, seed=1,
                                           num_samples=1200)))
    assert order.size == 1200 and order.min() >= 0 and order.max() < len(dset)
    per_cube = np.bincount(cube_of[order], minlength=6)
    assert per_cube.min() > 120 and per_cube.max() < 300  # 200 each expected; counts differ 2x
    rr = list(CubeMixSampler(dset, weighting="uniform", shuffle=False, num_samples=12))
    assert cube_of[rr].tolist() == list(range(6)) * 2
    with pytest.raises(ChipError, match="num_samples"):
        CubeMixSampler(dset, num_samples=3)
    with pytest.raises(ChipError, match="block"):
        CubeMixSampler(dset, block=0)


@pytest.mark.parametrize(("workers", "context"), [(0, None), (2, "fork"), (2, "spawn")])
def test_dataloader_reads_every_chip_once(cubes_dir, workers, context):
    extra = {"multiprocessing_context": context} if workers else {}
    loader = to_dataloader(cubes_dir, 16, batch_size=8, seed=0, num_workers=workers,
                           dataset_kwargs={"variable": "reflectance"}, **extra)
    dset = loader.dataset
    assert isinstance(dset, CubesDataset) and isinstance(loader.sampler, CubeMixSampler)
    seen, mixed = [], 0
    for batch in loader:
        assert batch["image"].shape[1:] == (13, 16, 16)
        assert len(batch["crs"]) == batch["image"].shape[0]
        mixed += len(set(batch["cube"].tolist())) > 1
        seen += list(zip(batch["cube"].tolist(), batch["index"].tolist(), strict=True))
        k, j = seen[-1]
        i = int(dset.starts[k]) + j
        np.testing.assert_array_equal(batch["image"][-1].numpy(), dset[i]["image"].numpy())
        assert batch["crs"][-1] == dset[i]["crs"]
    assert sorted(seen) == sorted((k, j) for k in range(6) for j in range(dset.counts[k]))
    assert mixed > 0
    clone = pickle.loads(pickle.dumps(dset))
    assert not clone._open and len(pickle.dumps(dset)) < 20_000


def test_cubes_with_other_bands_or_variables_are_named(cubes_dir, tmp_path):
    s2 = xgeo.datasets.sentinel2_cube()
    odd = tmp_path / "odd.zarr"
    s2[["reflectance"]].isel(band=slice(0, 12), y=slice(0, 40), x=slice(0, 40)).geo.to_zarr(odd)
    with pytest.raises(CubeMismatchError, match=r"odd\.zarr.*missing \['B12'\]"):
        CubesDataset([*_paths(cubes_dir), odd], 16, variable="reflectance")
    # bands= picks the 12 bands every cube has
    picked = CubesDataset([*_paths(cubes_dir)[:2], odd], 16, variable="reflectance",
                          bands=["B02", "B03", "B04"])
    assert picked[len(picked) - 1]["bands"] == ["B02", "B03", "B04"]
    renamed = tmp_path / "renamed.nc"
    s2[["reflectance"]].rename(reflectance="refl").isel(y=slice(0, 40)).to_netcdf(renamed)
    with pytest.raises(CubeMismatchError, match=r"renamed\.nc has no variable 'reflectance'"):
        CubesDataset([_paths(cubes_dir)[0], renamed], 16, variable="reflectance")
    with pytest.raises(CubeMismatchError, match="stored as"):
        CubesDataset([_paths(cubes_dir)[0], _as_int16(s2, tmp_path)], 16,
                     variable="reflectance", dtype=None)


def _as_int16(s2, folder):
    path = folder / "int.nc"
    (s2[["reflectance"]] * 10000).astype("int16").isel(y=slice(0, 40)).to_netcdf(path)
    return path


def test_labels_with_forked_workers_after_dask_ran_in_the_parent(cubes_dir):
    """Each worker aligns its cubes' labels with dask; forked after the parent had used
    dask, they hung forever in dask's inherited pool (xgeo.forksafe)."""
    import dask.array as da

    da.ones(8, chunks=2).sum().compute()  # the parent's dask pool exists before the fork
    loader = to_dataloader(cubes_dir, 16, batch_size=8, seed=0, num_workers=2,
                           multiprocessing_context="fork",
                           dataset_kwargs={"variable": "reflectance", "label": "lulc"})
    dset, n = loader.dataset, 0
    for batch in loader:
        k, j = batch["cube"][0].item(), batch["index"][0].item()
        np.testing.assert_array_equal(batch["label"][0].numpy(),
                                      dset[int(dset.starts[k]) + j]["label"].numpy())
        n += len(batch["index"])
    assert n == len(dset)


def test_too_small_cubes_are_skipped_with_one_warning(cubes_dir, tmp_path):
    s2 = xgeo.datasets.sentinel2_cube()[["reflectance"]]
    tiny = [tmp_path / "tiny1.zarr", tmp_path / "tiny2.nc"]
    _write(s2.isel(y=slice(0, 10), x=slice(0, 10)), tiny[0])
    _write(s2.isel(y=slice(0, 40), x=slice(0, 12)), tiny[1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dset = CubesDataset([tiny[0], *_paths(cubes_dir)[:2], tiny[1]], 16,
                            variable="reflectance")
    skipped = [w for w in caught if issubclass(w.category, SkippedCubesWarning)]
    assert len(skipped) == 1 and "tiny1.zarr" in str(skipped[0].message)
    assert "tiny2.nc" in str(skipped[0].message) and "10x10 pixels" in str(skipped[0].message)
    assert set(dset.skipped) == {"tiny1.zarr", "tiny2.nc"}
    assert dset.counts.tolist() == [0, 80, 80, 0]
    assert dset[0]["cube"] == 1 and dset[len(dset) - 1]["cube"] == 2
    assert sorted(CubeMixSampler(dset, seed=0)) == list(range(160))
    with pytest.raises(ChipError, match=r"cannot make chips of cube tiny1\.zarr.*10 pixels"):
        CubesDataset(tiny, 16, variable="reflectance")
    with pytest.raises(ChipError, match=r"no cube holds a chip: tiny1\.zarr"):
        CubesDataset(tiny, 16, variable="reflectance", min_valid=0.5)


def test_filters_make_each_cubes_index_at_construction(cubes_dir):
    paths = _paths(cubes_dir)
    dset = CubesDataset(paths, 16, variable="reflectance", min_valid=0.9)
    for k, path in enumerate(paths):
        own = ChipDataset(path, 16, variable="reflectance", min_valid=0.9)
        assert dset.counts[k] == len(own)
        _same_sample(dset[int(dset.starts[k]) + len(own) - 1], own[len(own) - 1])
    assert dset.counts.sum() < CubesDataset(paths, 16, variable="reflectance").counts.sum()


def test_time_windows_are_counted_like_make_chips(cubes_dir):
    paths = _paths(cubes_dir)
    with pytest.warns(SkippedCubesWarning, match=r"f\.nc.*3 steps"):
        dset = CubesDataset(paths, 16, variable="reflectance", time=4, time_stride=1)
    for k, path in enumerate(paths[:5]):
        own = ChipDataset(path, 16, variable="reflectance", time=4, time_stride=1)
        assert dset.counts[k] == len(own)
        _same_sample(dset[int(dset.starts[k]) + len(own) - 1], own[len(own) - 1])
    assert dset.counts[5] == 0


def test_bad_input_errors(cubes_dir, tmp_path):
    with pytest.raises(ChipError, match="no cube in"):
        CubesDataset(tmp_path, 16)
    with pytest.raises(ChipError, match="no cube matches"):
        CubesDataset(str(tmp_path / "*.zarr"), 16)
    with pytest.raises(ChipError, match="empty list"):
        CubesDataset([], 16)
    for many in (_paths(cubes_dir), cubes_dir, str(cubes_dir / "*.nc")):
        with pytest.raises(ChipError, match="CubesDataset"):
            ChipDataset(many, 16)
    label = xgeo.datasets.sentinel2_cube()["lulc"]
    with pytest.raises(ChipError, match="name of a variable"):
        CubesDataset(cubes_dir, 16, label=label)
    with pytest.raises(ChipError, match="max_open"):
        CubesDataset(cubes_dir, 16, max_open=0)


def test_open_cubes_stay_bounded(cubes_dir):
    dset = CubesDataset(cubes_dir, 16, variable="reflectance", max_open=2)
    for k in range(6):
        dset[int(dset.starts[k])]
        assert len(dset._open) <= 2
    assert list(dset._open) == [4, 5]


def test_cache_dir_serves_the_zarr_cubes_and_netcdf_ones_read_without_it(cubes_dir, tmp_path):
    from xgeo.errors import ChunkCacheWarning

    plain = CubesDataset(cubes_dir, 16, variable="reflectance")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChunkCacheWarning)
        cached = CubesDataset(cubes_dir, 16, variable="reflectance", cache_dir=tmp_path / "c")
        for k in range(6):  # a.zarr, b.nc, ...: no "cache_dir is used for Zarr stores" warning
            i = int(cached.starts[k]) + 3
            _same_sample(cached[i], plain[i])
            assert cached.cube(k).cache_dir == (str(tmp_path / "c") if k % 2 == 0 else None)
