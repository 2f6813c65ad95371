"""Categorical variables through reprojection and lossy compression stay exact (issue 16)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import xgeo
from xgeo.cli import main
from xgeo.compression import apply_mask, compression_report, video_encoding
from xgeo.grid import Grid
from xgeo.lossless import FFV1_SAVING
from xgeo.nodata import declared_nodata
from xgeo.pipeline import compress_dataset
from xgeo.reproject import reproject

DATA = Path(__file__).parent / "data"
CATEGORICAL = ("lulc", "cloud_mask", "is_data")


@pytest.fixture(scope="module")
def cube() -> xr.Dataset:
    return xgeo.datasets.sentinel2_cube().load()


# ------------------------------------------------------------------------------ reprojection
def test_bilinear_tour_reprojection_keeps_classes(cube, caplog):
    with caplog.at_level(logging.INFO, logger="xgeo"):
        ll = cube.geo.reproject("EPSG:4326", resampling="bilinear")  # the README tour's call
    for name in CATEGORICAL:
        src, out = cube[name], ll[name]
        assert out.dtype == src.dtype, name
        fill = declared_nodata(out)  # outside the source's footprint
        assert fill not in np.unique(src.values), name
        assert set(np.unique(out.values)) - {fill} <= set(np.unique(src.values)), name
        alone = reproject(cube[[name]], "EPSG:4326", resampling="nearest")[name]
        np.testing.assert_array_equal(out.values, alone.values, err_msg=name)
        assert out.attrs["resampling"] == "nearest"
    # the continuous variables still get what was asked for
    for name in ("reflectance", "ndvi", "dem"):
        assert ll[name].attrs["resampling"] == "bilinear"
    bil = reproject(cube[["dem"]], "EPSG:4326", resampling="bilinear").dem
    np.testing.assert_array_equal(ll.dem.values, bil.values)
    line = next(r.getMessage() for r in caplog.records if "'lulc'" in r.getMessage())
    assert "categorical" in line and "nearest instead of bilinear" in line


def test_a_clear_mask_stays_clear(cube):
    """Class 0 of a mask is no fill: gdalwarp's nudge of valid values off a 0 fill made
    every clear pixel of the first date a cloud (0 -> 1)."""
    clear = cube.cloud_mask.isel(time=0)
    assert (clear.values == 0).all()
    out = clear.geo.reproject("EPSG:4326")
    fill = declared_nodata(out)
    assert fill == 255 and set(np.unique(out.values)) == {0, fill}
    lulc = cube.lulc.geo.reproject("EPSG:4326")  # class 0 ("no data" in eo-learn's legend)
    assert (lulc.values == 0).sum() >= 0.9 * (cube.lulc.values == 0).sum()
    lazy = cube[["cloud_mask"]].chunk({"time": 1}).geo.reproject("EPSG:4326").cloud_mask
    np.testing.assert_array_equal(lazy.values[0], out.values)
    # a declared nodata, or nodata=, is used as it is
    assert declared_nodata(cube.cloud_mask.geo.reproject("EPSG:4326", nodata=7)) == 7


def test_lazy_reprojection_decides_the_same(cube):
    eager = cube[["lulc", "ndvi"]].geo.reproject("EPSG:3857", resampling="cubic")
    lazy = cube[["lulc", "ndvi"]].chunk({"y": 50, "x": 50}).geo.reproject(
        "EPSG:3857", resampling="cubic")
    assert lazy.lulc.chunks is not None
    np.testing.assert_array_equal(lazy.lulc.values, eager.lulc.values)
    assert lazy.lulc.attrs["resampling"] == "nearest"


def _coarse_grid(var: xr.DataArray, factor: int) -> Grid:
    g = var.geo.grid
    return Grid(g.crs, g.transform @ g.transform.scale(factor),
                (g.height // factor, g.width // factor))


def _block_mode(a: np.ndarray, factor: int) -> np.ndarray:
    """gdalwarp's mode on aligned blocks: the most frequent value, ties to the value whose
    count is complete first in row-major scan order."""
    h, w = a.shape[0] // factor, a.shape[1] // factor
    out = np.empty((h, w), a.dtype)
    for i in range(h):
        for j in range(w):
            block = a[i * factor:(i + 1) * factor, j * factor:(j + 1) * factor].ravel()
            values, counts = np.unique(block, return_counts=True)
            best = values[counts == counts.max()]
            done = [np.flatnonzero(block == v)[-1] for v in best]
            out[i, j] = best[int(np.argmin(done))]
    return out


def test_downsampling_uses_mode(cube):
    grid = _coarse_grid(cube.lulc, 3)  # each output pixel is 3 x 3 source pixels
    out = cube[["lulc", "dem"]].geo.reproject(grid=grid, resampling="bilinear")
    assert out.lulc.attrs["resampling"] == "mode" and out.dem.attrs["resampling"] == "bilinear"
    expected = _block_mode(cube.lulc.values[: grid.height * 3, : grid.width * 3], 3)
    np.testing.assert_array_equal(out.lulc.values, expected)
    # a method that picks source values, asked for explicitly, is kept
    assert cube.lulc.geo.reproject(grid=grid, resampling="nearest").attrs["resampling"] == "nearest"
    assert cube.lulc.geo.reproject(grid=grid, resampling="max").attrs["resampling"] == "max"
    # the default (no resampling=): nearest for continuous data, mode for these classes
    default = cube[["lulc", "dem"]].geo.reproject(grid=grid)
    assert (default.lulc.attrs["resampling"], default.dem.attrs["resampling"]) == (
        "mode", "nearest")


def test_downsampling_mode_matches_gdal(cube):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.enums import Resampling
    from rasterio.warp import reproject as rio_reproject

    grid = _coarse_grid(cube.lulc, 4)
    src = cube.lulc.values
    ref = np.zeros(grid.shape, src.dtype)
    rio_reproject(src, ref, src_transform=cube.geo.transform, src_crs=cube.geo.crs.to_wkt(),
                  dst_transform=grid.transform, dst_crs=grid.crs.to_wkt(),
                  resampling=Resampling.mode)
    ours = cube.lulc.geo.reproject(grid=grid, resampling="average")
    assert rasterio is not None and ours.attrs["resampling"] == "mode"
    np.testing.assert_array_equal(ours.values, ref)


def test_reproject_override_both_ways(cube):
    forced = cube[["lulc"]].geo.reproject("EPSG:4326", resampling="bilinear",
                                          categorical={"lulc": False})
    assert forced.lulc.attrs["resampling"] == "bilinear"
    assert not set(np.unique(forced.lulc.values)) <= set(np.unique(cube.lulc.values))
    as_classes = cube[["dem"]].geo.reproject("EPSG:4326", resampling="bilinear",
                                             categorical=["dem"])
    assert as_classes.dem.attrs["resampling"] == "nearest"
    da_out = cube.lulc.geo.reproject("EPSG:4326", resampling="bilinear", categorical=False)
    assert da_out.attrs["resampling"] == "bilinear"
    matched = cube[["lulc"]].geo.reproject_match(forced, resampling="bilinear")
    assert matched.lulc.attrs["resampling"] == "nearest"
    with pytest.raises(xgeo.errors.CategoricalError, match="'nosuch'"):
        cube.geo.reproject("EPSG:4326", categorical=["nosuch"])


# ------------------------------------------------------------------------------- compression
def test_tour_to_zarr_keeps_categorical_variables_exact(cube, tmp_path, caplog):
    store = tmp_path / "cube.zarr"
    with caplog.at_level(logging.INFO, logger="xgeo"):
        cube.geo.to_zarr(store, codec="hevc", codec_options={"psnr": 50})  # the README tour
    back = xgeo.open_dataset(store)
    for name in CATEGORICAL:
        assert np.array_equal(back[name].values, cube[name].values), name
        assert back[name].dtype == cube[name].dtype
    report = compression_report(store)
    assert report["reflectance"]["codec"] == ["xgeo.video"]
    assert report["reflectance"]["encoder"] == "libx265"
    assert report["reflectance"]["kind"] == "continuous (psnr 50)"
    for name in CATEGORICAL:
        assert report[name]["kind"] == "categorical (lossless)", name
    assert back.lulc.attrs["xgeo_kind"] == "categorical"
    line = next(r.getMessage() for r in caplog.records if "'lulc'" in r.getMessage())
    assert "categorical" in line and "lossless" in line


def test_to_zarr_override_both_ways(cube, tmp_path):
    store = tmp_path / "o.zarr"
    cube[["lulc", "dem"]].geo.to_zarr(store, codec="hevc", codec_options={"psnr": 40},
                                      categorical={"lulc": False, "dem": True})
    back = xgeo.open_dataset(store)
    report = compression_report(store)
    assert report["lulc"]["kind"] == "continuous (psnr 40)" and report["lulc"]["encoder"]
    assert not np.array_equal(back.lulc.values, cube.lulc.values)  # lossy, as asked
    assert report["dem"]["kind"] == "categorical (lossless)"
    np.testing.assert_array_equal(back.dem.values, cube.dem.values)


def _real_store_bytes(ds: xr.Dataset, path: Path, **kwargs) -> int:
    xgeo.io.to_zarr(ds, path, **kwargs)
    name = next(iter(ds.data_vars))
    return compression_report(path)[name]["stored_bytes"]


@pytest.mark.parametrize("source, name", [("nrt", "SCL"), ("eo", "lulc"), ("eo", "cloud_mask")])
def test_lossless_coding_is_chosen_by_measuring(cube, tmp_path, source, name):
    """The coding picked for a categorical variable is never much bigger than the smaller
    of the two candidates written in full."""
    ds = xr.open_dataset(DATA / "nrt_romania_32t.nc") if source == "nrt" else cube
    ds = ds[[name, "spatial_ref"]] if source == "nrt" else ds[[name]]
    chosen = _real_store_bytes(ds, tmp_path / "chosen.zarr", codec="hevc",
                               codec_options={"crf": 20})
    zstd = _real_store_bytes(ds, tmp_path / "zstd.zarr")
    ffv1 = _real_store_bytes(ds, tmp_path / "ffv1.zarr", codec="ffv1")
    assert chosen <= min(zstd, ffv1) / (1 - FFV1_SAVING) + 64, (chosen, zstd, ffv1)
    back = xr.open_zarr(tmp_path / "chosen.zarr", consolidated=False)
    np.testing.assert_array_equal(back[name].values, ds[name].values)
    if source == "nrt":  # 32 dates of scene classification: FFV1's prediction pays
        assert video_encoding(ds, "hevc")[name]["serializer"].params.family == "ffv1"
        assert ffv1 < 0.8 * zstd


def test_apply_mask_leaves_measured_class_maps_alone(cube):
    masked = apply_mask(cube[["ndvi", "lulc", "cloud_mask"]].assign(
        lulc=cube.lulc.expand_dims(time=cube.time)), cube.cloud_mask)
    np.testing.assert_array_equal(masked.lulc.values[0], cube.lulc.values)


def test_compress_dataset_reports_kinds(cube, tmp_path):
    out = compress_dataset(cube[["ndvi", "lulc"]], str(tmp_path / "c.zarr"),
                           codec_options={"psnr": 45})
    rows = out["variables"]
    assert rows["lulc"]["kind"] == "categorical (lossless)" and rows["lulc"]["max_error"] == 0
    assert rows["ndvi"]["kind"] == "continuous (psnr 45)"


# ------------------------------------------------------------------------------------ CLI
def test_cli_compress_categorical_flags(tmp_path, cube):
    src = str(tmp_path / "small.nc")
    cube[["ndvi", "dem", "lulc", "cloud_mask"]].geo.to_netcdf(src)
    runner = CliRunner()
    r = runner.invoke(main, ["compress", src, str(tmp_path / "a.zarr"), "--psnr", "45"])
    assert r.exit_code == 0, r.output
    row = next(line for line in r.output.splitlines() if line.startswith("lulc"))
    assert "categorical (lossless)" in row and " 0 " in row
    r = runner.invoke(main, ["compress", src, str(tmp_path / "b.zarr"), "--psnr", "45",
                             "--continuous", "lulc", "--categorical", "dem"])
    assert r.exit_code == 0, r.output
    rows = {line.split()[0]: line for line in r.output.splitlines()[2:] if line.strip()}
    assert "continuous (psnr 45)" in rows["lulc"] and "categorical (lossless)" in rows["dem"]
    r = runner.invoke(main, ["compress", src, str(tmp_path / "c.zarr"), "--categorical", "nosuch"])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "'nosuch'" in r.output
    r = runner.invoke(main, ["compress", src, str(tmp_path / "d.zarr"),
                             "--categorical", "lulc", "--continuous", "lulc"])
    assert r.exit_code == 2 and "both --categorical and --continuous" in r.output


def test_cli_reproject_keeps_classes(tmp_path, cube):
    out = tmp_path / "ll.zarr"
    r = CliRunner().invoke(main, ["reproject", str(xgeo.datasets.sentinel2_cube_path()), str(out),
                                  "--crs", "EPSG:4326", "--resampling", "bilinear"])
    assert r.exit_code == 0, r.output
    back = xr.open_zarr(out, consolidated=False)
    assert back.lulc.attrs["resampling"] == "nearest"
    values = back.lulc.values
    assert set(np.unique(values[np.isfinite(values)])) <= set(np.unique(cube.lulc.values))
