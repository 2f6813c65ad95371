"""Temporal composites (xgeo.composite) on real cubes, against NumPy oracles.

The nrt cube (Sentinel-2 L2A, 140 dates, SCL) gives a cloud mask from its scene
classification; the eo-learn cubes give their own cloud masks (CLM). Oracles are computed
here with np.nanmedian / np.nanmean / an argmax of NDVI over the groups pandas makes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgeo
from xgeo import _composite_kernels as kern
from xgeo.composite import composite, time_groups
from xgeo.errors import BandMappingError, CompositeError, MissingBandError, MissingVariableError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NRT = SHARED / "nrt" / "sentinel2_cube_subset_romania_10m.nc"
EOPATCH = SHARED / "eo-learn" / "s2_eopatch.nc"
EOPATCH68 = SHARED / "eo-learn" / "s2_eopatch_ndvi_clouds_68t.nc"
CLOUD_CLASSES = [3, 8, 9, 10]  # SCL: cloud shadow, cloud medium / high probability, cirrus
BANDS = ["B2", "B3", "B4", "B8"]

pytestmark = pytest.mark.skipif(not NRT.is_file(), reason="../shared/data is not beside this checkout")


@pytest.fixture(scope="module")
def nrt() -> xr.Dataset:
    with xr.open_dataset(NRT) as ds:
        return ds.load()


@pytest.fixture(scope="module")
def nrt_raw() -> xr.Dataset:
    """The same cube as stored: uint16 with ``_FillValue`` 0 in attrs (raw layout)."""
    with xr.open_dataset(NRT, mask_and_scale=False) as ds:
        return ds.load()


def cloud(ds: xr.Dataset) -> xr.DataArray:
    return xr.DataArray(np.isin(ds.SCL.values, CLOUD_CLASSES), dims=ds.SCL.dims)


def oracle_groups(times, freq):
    """Group positions straight from pandas (labels checked against xarray below)."""
    s = pd.Series(np.arange(len(times)), index=pd.DatetimeIndex(times)).resample(freq)
    return [sub.to_numpy() for _, sub in s]


def nan_reduce(fn, values, groups):
    """fn (np.nanmedian / np.nanmean) over axis 0 of each group; NaN for empty/all-NaN."""
    out = []
    for g in groups:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: the oracle's own
            out.append(fn(values[g], axis=0) if len(g) else np.full(values.shape[1:], np.nan))
    return np.stack(out)


def ndvi_argmax(red, nir, invalid, groups):
    """Per group: the position (in the group) of the largest NDVI, -1 if none, and counts."""
    r, q = red.astype(np.float64), nir.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (q - r) / (q + r)
    ndvi[invalid | ~np.isfinite(ndvi)] = np.nan
    best, counts = [], []
    for g in groups:
        sub = ndvi[g]
        n = (~np.isnan(sub)).sum(axis=0)
        arg = np.argmax(np.where(np.isnan(sub), -np.inf, sub), axis=0) if len(g) else n * 0
        best.append(np.where(n > 0, arg, -1))
        counts.append(n)
    return np.stack(best), np.stack(counts)


# -- groups ---------------------------------------------------------------------------------


@pytest.mark.parametrize("freq", ["1MS", "QS", "1YS", "16D"])
def test_group_labels_are_xarray_resample_labels(nrt, freq):
    labels, groups = time_groups(nrt.time.values, freq)
    expected = nrt.B2.resample(time=freq).first().time.values
    np.testing.assert_array_equal(labels.values, expected)
    assert sum(map(len, groups)) == nrt.sizes["time"]


# -- kernels against the NumPy references -----------------------------------------------------


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("raw", [False, True])
def test_kernels_equal_the_numpy_references_on_the_nrt_cube(nrt, nrt_raw, raw, parallel):
    ds = nrt_raw if raw else nrt
    fill = 0.0 if raw else np.nan
    t = slice(0, 30)
    m = np.isin(ds.SCL.values[t], CLOUD_CLASSES).reshape(30, -1)
    red = np.ascontiguousarray(ds.B4.values[t].reshape(30, -1))
    nir = np.ascontiguousarray(ds.B8.values[t].reshape(30, -1))
    n = red.shape[1]
    for kernel, reference in ((kern.median, kern.median_reference), (kern.mean, kern.mean_reference)):
        out, cnt = np.empty(n), np.empty(n, np.int64)
        kernel(red, m, fill, out, cnt, parallel)
        ref, rcnt = reference(red, m, fill)
        np.testing.assert_allclose(out, ref, rtol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(cnt, rcnt)
    best, cnt = np.empty(n, np.int64), np.empty(n, np.int64)
    kern.best_ndvi(red, nir, m, fill, fill, best, cnt, parallel)
    rbest, rcnt = kern.best_ndvi_reference(red, nir, m, fill, fill)
    np.testing.assert_array_equal(best, rbest)
    np.testing.assert_array_equal(cnt, rcnt)
    assert (cnt > 0).any() and (cnt < 30).any()  # the mask does mask something


def test_median_kernel_sorts_long_groups_too(nrt):
    values = np.ascontiguousarray(nrt.B8.values.reshape(140, -1))  # > 48 values per pixel
    out, cnt = np.empty(values.shape[1]), np.empty(values.shape[1], np.int64)
    kern.median(values, kern.NO_MASK, np.nan, out, cnt, True)
    ref, rcnt = kern.median_reference(values, kern.NO_MASK, np.nan)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(cnt, rcnt)


# -- composite() on the nrt cube, against oracles ----------------------------------------------


@pytest.mark.parametrize("freq", ["1MS", "QS"])
def test_median_with_the_scl_cloud_mask_equals_nanmedian(nrt, freq):
    mask = cloud(nrt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing leaks from all-NaN groups
        out = composite(nrt[BANDS], freq, "median", mask=mask)
    groups = oracle_groups(nrt.time.values, freq)
    assert set(out.data_vars) == set(BANDS)
    assert out.B2.dims == ("time", "y", "x")
    for b in BANDS:
        values = nrt[b].where(~mask).values
        expected = nan_reduce(np.nanmedian, values, groups).astype(np.float32)
        np.testing.assert_array_equal(out[b].values, expected)
        assert out[b].dtype == np.float32
    valid = ~mask.values & np.all([nrt[b].notnull().values for b in BANDS], axis=0)
    np.testing.assert_array_equal(out["count"].values, [valid[g].sum(axis=0) for g in groups])
    assert np.isnan(out.B2.values[(out["count"] == 0).values]).all()
    assert (out["count"] == 0).any()  # some months have no clear observation at all


def test_a_mask_by_name_equals_the_mask_array_and_leaves_the_mask_variable_out(nrt):
    by_name = composite(nrt, "QS", "median", mask="SCL=3,8,9,10")
    by_array = composite(nrt[BANDS], "QS", "median", mask=cloud(nrt))
    assert "SCL" not in by_name.data_vars
    xr.testing.assert_identical(by_name[BANDS], by_array[BANDS])


def test_mean_equals_nanmean(nrt):
    mask = cloud(nrt)
    out = composite(nrt[BANDS], "1YS", "mean", mask=mask)
    groups = oracle_groups(nrt.time.values, "1YS")
    for b in BANDS:
        expected = nan_reduce(np.nanmean, nrt[b].where(~mask).values.astype(np.float64), groups)
        np.testing.assert_allclose(out[b].values, expected.astype(np.float32), rtol=1e-6,
                                   equal_nan=True)


def test_max_ndvi_picks_the_date_of_the_largest_ndvi_and_all_its_bands(nrt):
    mask = cloud(nrt)
    out = composite(nrt, "QS", "max_ndvi", mask=mask)
    groups = oracle_groups(nrt.time.values, "QS")
    invalid = mask.values | nrt.B4.isnull().values | nrt.B8.isnull().values
    best, counts = ndvi_argmax(nrt.B4.values, nrt.B8.values, invalid, groups)
    np.testing.assert_array_equal(out["count"].values, counts)
    yy, xx = np.indices(best.shape[1:])
    for b in [*BANDS, "SCL"]:  # SCL is a band too: the classes of the chosen dates
        values = nrt[b].values
        expected = np.stack([
            np.where(bg >= 0, values[g][np.maximum(bg, 0), yy, xx] if len(g) else np.nan, np.nan)
            for g, bg in zip(groups, best, strict=True)]).astype(values.dtype)
        np.testing.assert_array_equal(out[b].values, expected)
        assert out[b].dtype == values.dtype
    assert not np.isin(out.SCL.values, CLOUD_CLASSES).any()  # no cloudy date was picked
    times = nrt.time.values
    expected = np.stack([np.where(bg >= 0, times[g][np.maximum(bg, 0)] if len(g) else
                                  np.datetime64("NaT"), np.datetime64("NaT"))
                         for g, bg in zip(groups, best, strict=True)])
    np.testing.assert_array_equal(out["best_time"].values, expected.astype("datetime64[ns]"))
    lazy = composite(nrt.chunk({"y": 50, "x": 50}), "QS", "max_ndvi", mask=mask.chunk())
    np.testing.assert_array_equal(lazy["best_time"].values, out["best_time"].values)


def test_integer_bands_with_a_fill_value_treat_it_as_missing(nrt, nrt_raw):
    assert nrt_raw.B4.dtype == np.uint16 and nrt_raw.B4.attrs["_FillValue"] == 0
    decoded = composite(nrt, "QS", "median", mask="SCL=3,8,9,10")
    raw = composite(nrt_raw, "QS", "median", mask="SCL=3,8,9,10")
    for b in BANDS:
        assert raw[b].dtype == np.float32 and "_FillValue" not in raw[b].attrs
        np.testing.assert_array_equal(raw[b].values, decoded[b].values)
    best_raw = composite(nrt_raw, "QS", "max_ndvi", mask="SCL=3,8,9,10")
    best = composite(nrt, "QS", "max_ndvi", mask="SCL=3,8,9,10")
    for b in BANDS:
        assert best_raw[b].dtype == np.uint16
        empty = (best_raw["count"] == 0).values
        assert (best_raw[b].values[empty] == 0).all() and empty.any()
        np.testing.assert_array_equal(best_raw[b].values[~empty], best[b].values[~empty])


# -- dask ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["median", "mean", "max_ndvi"])
def test_dask_equals_eager_with_one_task_per_group_and_chunk(nrt, method):
    eager = composite(nrt, "QS", method, mask="SCL=3,8,9,10")
    lazy = composite(nrt.chunk(time=16, y=50, x=40), "QS", method, mask="SCL=3,8,9,10")
    data = lazy.B8.data
    assert data.numblocks == (eager.sizes["time"], 2, 3)
    kernel = "_select_block" if method == "max_ndvi" else "_reduce_block"
    keys = [k for k in dict(data.__dask_graph__()) if str(k[0]).startswith(kernel)]
    assert len(keys) == eager.sizes["time"] * 2 * 3
    computed = lazy.compute()
    xr.testing.assert_identical(computed, eager)


def test_building_the_dask_composite_computes_nothing(nrt):
    import dask

    def refuse(*args, **kwargs):
        raise AssertionError("computed while building the graph")

    lazy_in = nrt.chunk(time=16, y=50, x=50)
    with dask.config.set(scheduler=refuse):
        best = composite(lazy_in, "16D", "max_ndvi", mask="SCL=3,8,9,10")
        med = composite(lazy_in, "16D", "median", mask="SCL=3,8,9,10", variables=BANDS)
    eager = composite(nrt, "16D", "median", mask="SCL=3,8,9,10", variables=BANDS)
    xr.testing.assert_identical(med.compute(), eager)
    assert best.B8.chunks is not None


def test_dask_band_dim_and_dataarray_input_on_the_eopatch(sample):
    arr = sample.reflectance
    clm = sample.cloud_mask
    eager = composite(arr, "1MS", "max_ndvi", mask=clm)
    lazy = composite(arr.chunk(time=2, band=5, y=60), "1MS", "max_ndvi", mask=clm.chunk(time=1))
    assert isinstance(lazy, xr.DataArray) and lazy.dims == arr.dims
    xr.testing.assert_identical(lazy.compute(), eager)


# -- layouts: a DataArray with a band dim, the eo-learn cubes ------------------------------------


def test_max_ndvi_on_a_band_dataarray_finds_b04_b08(sample):
    arr, clm = sample.reflectance, sample.cloud_mask.astype(bool)
    out = composite(arr, "1MS", "max_ndvi", mask=clm)
    groups = oracle_groups(arr.time.values, "1MS")
    red, nir = arr.sel(band="B04").values, arr.sel(band="B08").values
    best, counts = ndvi_argmax(red, nir, clm.values, groups)
    np.testing.assert_array_equal(out["count"].values, counts)
    yy, xx = np.indices(best.shape[1:])
    for k, band in enumerate(arr.band.values):
        values = arr.values[:, k]
        expected = np.stack([values[g][bg, yy, xx] for g, bg in zip(groups, best, strict=True)])
        np.testing.assert_array_equal(out.sel(band=band).values, expected)
    # the NDVI of the composite is the clear-sky monthly maximum of the stored ndvi variable
    # (PROVENANCE: NDVI recomputed from B08/B04 equals it exactly)
    r, n = out.sel(band="B04").values, out.sel(band="B08").values
    top = sample.ndvi.where(sample.cloud_mask == 0).resample(time="1MS").max().values
    np.testing.assert_array_equal((n - r) / (n + r), top)


def test_median_on_a_band_dataarray_equals_nanmedian_per_band(sample):
    arr = sample.reflectance
    out = composite(arr, "1YS", "median", mask=sample.cloud_mask)
    values = arr.where(sample.cloud_mask == 0).values
    expected = nan_reduce(np.nanmedian, values, [np.arange(5)]).astype(np.float32)
    np.testing.assert_array_equal(out.values, expected)
    assert out.dims == arr.dims and list(out.band.values) == list(arr.band.values)
    assert "wavelength" in out.coords


@pytest.mark.skipif(not EOPATCH68.is_file(), reason="needs the 68-date eo-learn cube")
def test_68_date_ndvi_cube_monthly_median_with_its_clm():
    with xr.open_dataset(EOPATCH68) as ds:
        ds = ds.load()
    with pytest.warns(UserWarning, match="categorical variable"):
        out = composite(ds, "1MS", "median", mask="cloud_mask")
    assert "ndvi" in out and "is_data" not in out  # categorical masks are left out, said so
    groups = oracle_groups(ds.time.values, "1MS")
    values = ds.ndvi.where(ds.cloud_mask == 0).values
    np.testing.assert_array_equal(out.ndvi.values, nan_reduce(np.nanmedian, values, groups))
    fully_cloudy = [i for i, g in enumerate(groups) if len(g) and ds.cloud_mask.values[g].all()]
    for i in fully_cloudy:
        assert np.isnan(out.ndvi.values[i]).all()


def test_explicit_red_nir_and_variables(nrt):
    out = composite(nrt, "1YS", "max_ndvi", red="B4", nir="B8", variables=["B4", "B8"])
    assert set(out.data_vars) == {"B4", "B8", "spatial_ref"}


def test_accessor_delegates(nrt):
    xr.testing.assert_identical(nrt.geo.composite("QS", "mean", mask="SCL=3,8,9,10"),
                                composite(nrt, "QS", "mean", mask="SCL=3,8,9,10"))
    assert xgeo.composite.composite is composite


def test_median_leaves_categorical_variables_out_with_a_warning(nrt):
    with pytest.warns(UserWarning, match=r"\['SCL'\] left out"):
        out = composite(nrt, "1YS", "median")
    assert "SCL" not in out


# -- errors -------------------------------------------------------------------------------------


def test_no_time_dimension_is_a_composite_error(nrt):
    with pytest.raises(CompositeError, match="time_dim="):
        composite(nrt.isel(time=0), "1MS")


def test_a_time_axis_of_numbers_is_a_composite_error(nrt):
    with pytest.raises(CompositeError, match="not datetimes"):
        composite(nrt.assign_coords(time=np.arange(nrt.sizes["time"])), "1MS")


def test_unknown_freq_names_the_argument(nrt):
    with pytest.raises(CompositeError, match="freq='bogus'"):
        composite(nrt, "bogus")


def test_unknown_method_names_the_argument(nrt):
    with pytest.raises(CompositeError, match="method='min'"):
        composite(nrt, "1MS", "min")


def test_max_ndvi_without_red_or_nir_names_the_argument(nrt, sample):
    with pytest.raises(MissingBandError, match="nir="):
        composite(nrt[["B2", "B4"]], "1MS", "max_ndvi", sensor="sentinel2")
    with pytest.raises(BandMappingError, match="red= and nir="):  # B4 is NIR on Landsat 7
        composite(nrt[["B2", "B4"]], "1MS", "max_ndvi")
    with pytest.raises(MissingBandError, match="red="):
        composite(sample[["ndvi"]], "1MS", "max_ndvi")
    with pytest.raises(MissingBandError, match="red='B5'"):
        composite(nrt, "1MS", "max_ndvi", red="B5")


def test_bad_masks_are_typed_errors(nrt):
    with pytest.raises(MissingVariableError, match="mask='CLM'"):
        composite(nrt, "1MS", mask="CLM")
    with pytest.raises(CompositeError, match="mask= disagrees"):
        composite(nrt, "1MS", mask=cloud(nrt).isel(time=slice(0, 10)))
    with pytest.raises(CompositeError, match="mask= has dims"):
        composite(nrt, "1MS", mask=cloud(nrt).expand_dims(band=2))
    with pytest.raises(MissingVariableError, match="variables="):
        composite(nrt, "1MS", variables=["B5"])
    with pytest.raises(CompositeError, match="a DataArray has none"):
        composite(nrt.B2, "1MS", mask="SCL")
