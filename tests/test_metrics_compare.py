"""``xgeo.metrics.compare``: every number checked against plain NumPy written here.

Real data: 16 dates x 64 x 64 of the nrt 10 m cube (B2 B3 B4 B8, uint16, nodata 0) coded by
``xgeo_codecs`` at 1 bpppb; synthetic cases pin exactly which pixels a classifier flips.
"""

from __future__ import annotations

import math
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo.errors import CompareError, InputTypeError, MissingBandError
from xgeo.metrics import compare

NRT = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nrt"
       / "sentinel2_cube_subset_romania_10m.nc")
BANDS = ["B2", "B3", "B4", "B8"]


def _ndvi_classes(bands: np.ndarray) -> np.ndarray:
    """Three classes from NDVI thresholds (bands: B2 B3 B4 B8 first)."""
    red, nir = bands[2], bands[3]
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (nir - red) / (nir + red)
    return np.digitize(np.nan_to_num(ndvi), [0.2, 0.5])


@pytest.fixture(scope="module")
def nrt_pair():
    """(original, decoded) Datasets of the crop, raw uint16 with _FillValue 0, and the same
    as (T, band, H, W) cubes."""
    if not NRT.is_file():
        pytest.skip("../shared/data is not beside this checkout")
    from xgeo_codecs import decode, encode

    ds = xr.open_dataset(NRT, mask_and_scale=False)[BANDS]
    ds = ds.isel(time=slice(40, 56), y=slice(0, 64), x=slice(0, 64)).load()
    ds.B2[3, :8, :8] = 0  # the crop has no nodata: make some, in one band only
    ds.B8[5, 10, 10:20] = 0
    cube = np.stack([ds[b].values for b in BANDS], axis=1)  # (T, P, H, W)
    back = decode(encode(cube, {"bpppb": 1.0, "nodata": 0}))
    dec = ds.copy(data={b: back[:, i] for i, b in enumerate(BANDS)})
    return ds, dec, cube, back


def _oracle(cube: np.ndarray, back: np.ndarray) -> dict:
    """The metrics from their definitions, bands on axis 1, nodata 0."""
    o, d = cube.astype(np.float64), back.astype(np.float64)
    valid = o != 0
    out = {"band_psnr": [], "band_max": [], "band_nrmse": []}
    standardised = []  # each band's errors in units of its std
    for b in range(o.shape[1]):
        ob, db = o[:, b][valid[:, b]], d[:, b][valid[:, b]]
        mse = np.mean((db - ob) ** 2)
        out["band_psnr"].append(10 * math.log10((ob.max() - ob.min()) ** 2 / mse))
        out["band_max"].append(np.abs(db - ob).max())
        out["band_nrmse"].append(math.sqrt(mse) / np.std(ob))
        standardised.append((db - ob) / np.std(ob))
    out["nrmse"] = math.sqrt(np.mean(np.concatenate(standardised) ** 2))
    mse = np.mean((d[valid] - o[valid]) ** 2)
    out["psnr"] = 10 * math.log10((o[valid].max() - o[valid].min()) ** 2 / mse)
    every = valid.all(axis=1)
    vo, vd = np.moveaxis(o, 1, -1)[every], np.moveaxis(d, 1, -1)[every]
    cos = (vo * vd).sum(-1) / (np.linalg.norm(vo, axis=-1) * np.linalg.norm(vd, axis=-1))
    out["angle"] = np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()
    both = valid[:, 2] & valid[:, 3]
    n_o = (o[:, 3] - o[:, 2]) / (o[:, 3] + o[:, 2])
    n_d = (d[:, 3] - d[:, 2]) / (d[:, 3] + d[:, 2])
    out["ndvi"] = np.abs(n_d - n_o)[both].mean()
    co = np.digitize(np.nan_to_num(n_o), [0.2, 0.5])
    cd = np.digitize(np.nan_to_num(n_d), [0.2, 0.5])
    out["classes"] = (co != cd)[every].mean()
    return out


def test_compare_on_the_real_cube_matches_numpy(nrt_pair):
    ds, dec, cube, back = nrt_pair
    assert ((back == 0) == (cube == 0)).all() and (back != cube).any()  # nodata kept; lossy
    ref = _oracle(cube, back)
    r = compare(ds, dec, classify=_ndvi_classes)  # nodata 0 from _FillValue, B4/B8 by name
    assert r["psnr"] == pytest.approx(ref["psnr"], rel=1e-9)
    assert list(r["psnr_per_band"]) == BANDS
    assert list(r["psnr_per_band"].values()) == pytest.approx(ref["band_psnr"], rel=1e-9)
    assert list(r["max_error_per_band"].values()) == pytest.approx(ref["band_max"], rel=1e-12)
    assert r["max_error"] == max(ref["band_max"])
    assert list(r["nrmse_per_band"].values()) == pytest.approx(ref["band_nrmse"], rel=1e-9)
    assert r["nrmse"] == pytest.approx(ref["nrmse"], rel=1e-9)
    assert r["spectral_angle"] == pytest.approx(ref["angle"], rel=1e-9)
    assert r["ndvi_mae"] == pytest.approx(ref["ndvi"], rel=1e-9)
    assert r["class_change"] == pytest.approx(ref["classes"], abs=1e-12)
    assert 0 < r["class_change"] < 0.2 and 0 < r["spectral_angle"] < 10


def test_lazy_and_numpy_inputs_give_the_same_numbers_in_one_compute(nrt_pair):
    ds, dec, cube, back = nrt_pair
    eager = compare(ds, dec, classify=_ndvi_classes)
    lazy_ds, lazy_dec = (x.chunk({"time": 4, "y": 32}) for x in (ds, dec))
    calls = []
    original_compute = dask.compute

    def counting(*args, **kwargs):
        calls.append(1)
        return original_compute(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dask, "compute", counting)
        lazy = compare(lazy_ds, lazy_dec, classify=_ndvi_classes)
    assert len(calls) == 1
    arr = compare(da.from_array(cube, chunks=(4, 4, 32, 32)), back, band_dim=1, nodata=0,
                  red=2, nir=3, classify=_ndvi_classes)
    for r in (lazy, arr):
        assert r["psnr"] == pytest.approx(eager["psnr"], rel=1e-12)
        assert list(r["psnr_per_band"].values()) == pytest.approx(
            list(eager["psnr_per_band"].values()), rel=1e-12)
        for k in ("spectral_angle", "ndvi_mae", "class_change", "nrmse"):
            assert r[k] == pytest.approx(eager[k], rel=1e-9), k
    assert list(arr["psnr_per_band"]) == [0, 1, 2, 3]


def test_a_threshold_classifier_flips_exactly_the_pixels_pushed_across_it():
    rng = np.random.default_rng(1)
    red = rng.uniform(100, 200, (10, 10))
    nir = red * 3.0  # NDVI 0.5 everywhere: class 1 under "ndvi > 0.4"
    orig = np.stack([red, nir])
    dec = orig.copy()
    flipped = [(0, 0), (3, 7), (9, 9)]
    for y, x in flipped:
        dec[1, y, x] = red[y, x] * 2.0  # NDVI 1/3: class 0
    orig[0, 5, 5] = np.nan  # an invalid pixel, not counted (and not flipped)
    dec[1, 5, 5] = 0.0

    def classify(b):
        return ((b[1] - b[0]) / (b[1] + b[0]) > 0.4).astype(int)

    r = compare(orig, dec, band_dim=0, classify=classify)
    assert r["class_change"] == len(flipped) / 99
    assert r["ndvi_mae"] is None  # positions are not names: no red/nir guessed
    mask = np.zeros((10, 10), bool)
    mask[0, 0] = True
    assert compare(orig, dec, band_dim=0, classify=classify, mask=mask)["class_change"] == 2 / 98


def test_each_band_has_its_own_peak_and_names_find_red_and_nir():
    rng = np.random.default_rng(2)
    a = np.stack([rng.uniform(0, 10, (6, 6)), rng.uniform(0, 1000, (6, 6))])
    noise = rng.normal(0, 0.5, a.shape)
    arr = xr.DataArray(a, dims=("band", "y", "x"), coords={"band": ["red", "nir"]})
    r = compare(arr, arr + noise)
    for i, name in enumerate(["red", "nir"]):
        peak = a[i].max() - a[i].min()
        want = 10 * math.log10(peak**2 / np.mean(noise[i] ** 2))
        assert r["psnr_per_band"][name] == pytest.approx(want, rel=1e-12)
    whole = 10 * math.log10((a.max() - a.min()) ** 2 / np.mean(noise**2))
    assert r["psnr"] == pytest.approx(whole, rel=1e-12)
    nd_o, nd_d = ((x[1] - x[0]) / (x[1] + x[0]) for x in (a, a + noise))
    assert r["ndvi_mae"] == pytest.approx(np.abs(nd_d - nd_o).mean(), rel=1e-12)
    # band dim last, decoded in another dim order: the same numbers
    moved = compare(arr.transpose("y", "x", "band"), (arr + noise).transpose("band", "x", "y"))
    assert moved["psnr_per_band"] == pytest.approx(r["psnr_per_band"], rel=1e-12)


def test_one_band_has_no_spectral_angle_and_no_ndvi():
    a = np.arange(12.0).reshape(3, 4)
    r = compare(a, a + 0.5)
    assert r["spectral_angle"] is None and r["ndvi_mae"] is None and r["class_change"] is None
    assert r["max_error"] == 0.5 and r["psnr_per_band"] == {0: r["psnr"]}
    assert r["nrmse"] == pytest.approx(0.5 / np.std(a), rel=1e-12)


def test_nrmse_is_the_error_in_units_of_each_band_s_spread():
    # two bands, same absolute error, one ten times narrower: ten times the standardised
    # error there; a constant band has no spread to be measured in (NaN, left out)
    rng = np.random.default_rng(0)
    wide = rng.normal(0, 10, (8, 8))
    a = np.stack([wide, wide / 10, np.full((8, 8), 3.0)])
    r = compare(a, a + 0.5, band_dim=0)
    per = r["nrmse_per_band"]
    assert per[0] == pytest.approx(0.5 / wide.std(), rel=1e-12)
    assert per[1] == pytest.approx(10 * per[0], rel=1e-9) and math.isnan(per[2])
    assert r["nrmse"] == pytest.approx(math.sqrt((per[0] ** 2 + per[1] ** 2) / 2), rel=1e-9)


def test_bad_inputs_raise_typed_errors_naming_the_argument():
    a = np.ones((2, 4, 4))
    with pytest.raises(CompareError, match="decoded has shape"):
        compare(a, np.ones((2, 4, 5)), band_dim=0)
    with pytest.raises(CompareError, match="band_dim=3"):
        compare(a, a, band_dim=3)
    arr = xr.DataArray(a, dims=("band", "y", "x"), coords={"band": ["B04", "B08"]})
    with pytest.raises(CompareError, match="band_dim='wavelength'"):
        compare(arr, arr, band_dim="wavelength")
    with pytest.raises(CompareError, match="decoded has dims"):
        compare(arr, arr.rename(y="lat"))
    with pytest.raises(CompareError, match="classify returned labels of shape"):
        compare(a, a, band_dim=0, classify=lambda b: b.sum())
    with pytest.raises(CompareError, match="classify returned"):
        compare(da.from_array(a, chunks=2), a, band_dim=0, classify=lambda b: b[:, 0])
    with pytest.raises(MissingBandError, match="red='B05'"):
        compare(arr, arr, red="B05")
    with pytest.raises(CompareError, match="mask has shape"):
        compare(a, a, band_dim=0, mask=np.zeros(3, bool))
    with pytest.raises(InputTypeError, match="original is a list"):
        compare([1, 2], [1, 2])
    ds = arr.to_dataset("band")
    with pytest.raises(CompareError, match="decoded has no variable"):
        compare(ds, ds[["B04"]])


def test_the_accessor_is_the_same_compare(nrt_pair):
    ds, dec, _, _ = nrt_pair
    assert ds.geo.compare(dec, classify=_ndvi_classes) == compare(ds, dec, classify=_ndvi_classes)


def test_compare_aligns_labels_and_refuses_other_ones():
    """compare() took the arrays by position: the same data with y the other way round gave
    20 dB, a copy labelled with other dates gave inf."""
    ds = xgeo.datasets.sentinel2_cube()[["ndvi"]].load()
    assert xgeo.metrics.compare(ds, ds.sortby("y"))["psnr"] == float("inf")
    assert xgeo.metrics.compare(ds.ndvi, ds.ndvi.sortby("y").transpose("x", "y", "time"))[
        "psnr"] == float("inf")
    other = ds.assign_coords(time=ds.time.values + np.timedelta64(3650, "D"))
    with pytest.raises(CompareError, match="'time' labels differ"):
        xgeo.metrics.compare(ds, other)
    # arrays carry no labels: compared by position, as documented
    flipped = ds.ndvi.values[:, ::-1]
    assert xgeo.metrics.compare(ds.ndvi.values, flipped)["psnr"] < 40
