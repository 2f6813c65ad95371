"""Spectral-index API: band layouts, metadata, dask laziness, scaling, nodata, errors, caching."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo.errors import (
    BandMappingError,
    FormulaError,
    MissingBandError,
    MissingConstantError,
    UnknownIndexError,
)
from xgeo.indices import available_indices, compute_index, compute_indices, evaluate


@pytest.fixture(scope="module")
def s2():
    return xgeo.datasets.sentinel2_cube().load()


def _ndvi(n, r):
    with np.errstate(all="ignore"):
        return ((n - r) / (n + r)).astype(np.float32)


# ----------------------------------------------------------------------------- layouts
def test_dataarray_with_band_dim_keeps_dims_coords_and_crs(s2):
    out = compute_index(s2.reflectance, "NDVI")
    assert out.name == "NDVI" and out.dims == ("time", "y", "x") and out.dtype == np.float32
    for c in ("time", "y", "x", "spatial_ref", "source_time_index"):
        assert c in out.coords
    assert "band" not in out.coords and "wavelength" not in out.coords
    assert out.encoding["grid_mapping"] == "spatial_ref"
    assert out.geo.crs.to_epsg() == 32633  # the CRS survives through the grid mapping
    assert out.attrs["long_name"] == "Normalized Difference Vegetation Index"
    assert out.attrs["formula"] == "(N - R)/(N + R)" and out.attrs["reference"].startswith("https://")
    np.testing.assert_array_equal(out.values, s2.ndvi.values)


def test_dataset_with_one_variable_per_band(s2):
    ds = xr.Dataset({b: s2.reflectance.sel(band=b, drop=True) for b in ("B02", "B04", "B08")})
    out = compute_indices(ds, ["NDVI", "EVI"])
    assert list(out.data_vars) == ["NDVI", "EVI"]
    np.testing.assert_array_equal(out.NDVI.values, s2.ndvi.values)
    # bands given in another dim order are aligned, not misread
    ds["B04"] = ds["B04"].transpose("x", "time", "y")
    np.testing.assert_array_equal(compute_index(ds, "NDVI").values, s2.ndvi.values)


def test_banded_variable_found_among_others_or_chosen(s2):
    out = compute_index(s2, "NDVI")  # 'reflectance' is the only band-dimensioned variable
    np.testing.assert_array_equal(out.values, s2.ndvi.values)
    two = s2.assign(other=s2.reflectance * 2)
    with pytest.raises(BandMappingError, match="variable="):
        compute_index(two, "NDVI")
    np.testing.assert_array_equal(compute_index(two, "NDVI", variable="reflectance").values, s2.ndvi.values)


def test_dict_of_arrays_and_numpy_api():
    rng = np.random.default_rng(1)
    n, r = rng.random((2, 7, 9), dtype=np.float32)
    out = compute_index({"nir": n, "red": r}, "NDVI")  # common names need no sensor
    np.testing.assert_allclose(out.values, _ndvi(n, r), rtol=1e-6)
    got = evaluate({"N": n, "R": r}, ["NDVI"])["NDVI"]
    assert got.shape == (7, 9) and got.dtype == np.float32
    np.testing.assert_allclose(got, _ndvi(n, r), rtol=1e-6)


def test_leading_dims_carried_and_band_dim_anywhere(s2):
    arr = s2.reflectance.transpose("y", "band", "time", "x")  # not C-contiguous for the band
    out = compute_index(arr, "NDVI")
    assert out.dims == ("y", "time", "x")
    np.testing.assert_array_equal(out.transpose("time", "y", "x").values, s2.ndvi.values)


def test_request_order_and_permutations_share_results(s2):
    a = compute_indices(s2, ["SAVI", "NDVI"])
    b = compute_indices(s2, ["NDVI", "SAVI", "NDVI"])
    assert list(a.data_vars) == ["SAVI", "NDVI"] and list(b.data_vars) == ["NDVI", "SAVI"]
    xr.testing.assert_identical(a.NDVI, b.NDVI)


# -------------------------------------------------------------------------------- dask
def test_dask_is_lazy_keeps_chunks_and_matches_numpy(s2):
    lazy = s2.chunk({"time": 2, "y": 50, "x": 60})
    calls = []

    def forbid(dsk, keys, **kw):
        calls.append(1)
        raise AssertionError("computed too early")

    with dask.config.set(scheduler=forbid):
        out = compute_indices(lazy, ["NDVI", "EVI", "kNDVI"])
    assert not calls
    for v in out.data_vars.values():
        assert isinstance(v.data, da.Array)
        assert v.chunks == ((2, 2, 1), (50, 50, 1), (60, 40))
    eager = compute_indices(s2, ["NDVI", "EVI", "kNDVI"])
    computed = out.compute()
    for n in eager.data_vars:
        np.testing.assert_array_equal(computed[n].values, eager[n].values)


def test_dask_band_chunks_and_separate_variables(s2):
    per_band = s2.reflectance.chunk({"band": 1, "y": 64})
    np.testing.assert_array_equal(compute_index(per_band, "NDVI").values, s2.ndvi.values)
    ds = xr.Dataset({b: s2.reflectance.sel(band=b, drop=True).chunk({"x": 30}) for b in ("B04", "B08")})
    ds["B04"] = ds["B04"].chunk({"x": 50})  # different chunks are unified
    out = compute_index(ds, "NDVI")
    assert isinstance(out.data, da.Array)
    np.testing.assert_array_equal(out.values, s2.ndvi.values)


# ---------------------------------------------------------------- integers, nodata, NaN
def test_integer_scaling_user_and_cf(data_dir):
    ds = xr.open_dataset(data_dir / "nrt_romania_32t.nc", mask_and_scale=False).load()
    ds["B4"][0, :3, :5] = 0  # the file's _FillValue; the subset itself has no gaps
    b4, b8 = ds["B4"].values, ds["B8"].values
    assert b4.dtype == np.uint16
    fill = ds["B4"].attrs["_FillValue"]
    refl = {k: np.where(v == fill, np.nan, v * 1e-4) for k, v in (("R", b4), ("N", b8))}
    savi = compute_index(ds, "SAVI", scale=1e-4, sensor="sentinel2")
    with np.errstate(all="ignore"):
        ref = 2.0 * (refl["N"] - refl["R"]) / (refl["N"] + refl["R"] + 1.0)  # catalog L = 1
    np.testing.assert_allclose(savi.values, ref, rtol=1e-5, atol=1e-6)
    assert np.isnan(savi.values[b4 == fill]).all() and (b4 == fill).any()  # _FillValue -> NaN
    # CF packing attributes are honoured when the data are not decoded
    packed = ds.copy()
    for b in ("B2", "B3", "B4", "B8"):
        packed[b].attrs.update(scale_factor=1e-4, add_offset=0.0)
    np.testing.assert_allclose(compute_index(packed, "SAVI", sensor="sentinel2").values, savi.values)
    # raw integers without a scale: computed on raw values, with a warning
    with pytest.warns(UserWarning, match="scale"):
        raw = compute_index(ds, "NDVI", sensor="sentinel2")
    assert raw.dtype == np.float32 and np.nanmax(np.abs(raw.values)) <= 1


def test_uint16_arithmetic_does_not_wrap():
    n = np.array([[1000, 200]], dtype=np.uint16)
    r = np.array([[2000, 100]], dtype=np.uint16)
    got = evaluate({"N": n, "R": r}, "NDVI", scale=1e-4)["NDVI"]
    np.testing.assert_allclose(got, [[-1 / 3, 1 / 3]], rtol=1e-6)


def test_zero_denominator_nan_and_nodata_propagation():
    n = np.array([0.0, 0.5, np.nan, 0.3, 0.2, 0.4], dtype=np.float32)
    r = np.array([0.0, 0.1, 0.2, -9999.0, -0.2, 0.0], dtype=np.float32)
    with np.errstate(all="raise"):  # no floating-point warnings escape either
        out = evaluate({"N": n, "R": r}, ["NDVI", "SR", "GEMI"], nodata={"R": -9999.0})
    ndvi = out["NDVI"]
    assert np.isnan(ndvi[0]) and np.isnan(ndvi[2]) and np.isnan(ndvi[3]) and np.isnan(ndvi[4])
    assert ndvi[1] == pytest.approx(2 / 3, rel=1e-6)
    sr = out["SR"]  # N / R
    assert np.isnan(sr[5]) and np.isnan(sr[0]) and sr[1] == pytest.approx(5.0)  # x/0 -> NaN, never inf
    assert np.isnan(out["GEMI"][[2, 3]]).all() and np.isfinite(out["GEMI"][1])


def test_constants_defaults_overrides_per_index_and_formula_strings(s2):
    n = s2.reflectance.sel(band="B08").values.astype(np.float64)
    r = s2.reflectance.sel(band="B04").values.astype(np.float64)

    def savi(L):
        return (1 + L) * (n - r) / (n + r + L)

    d = compute_indices(s2, ["SAVI", "EVI"], dtype="float64")
    np.testing.assert_allclose(d.SAVI.values, savi(1.0), rtol=1e-12)  # catalog default L = 1
    o = compute_indices(s2, ["SAVI", "EVI"], L=0.5, constants={"EVI": {"L": 1.0}}, dtype="float64")
    np.testing.assert_allclose(o.SAVI.values, savi(0.5), rtol=1e-12)
    np.testing.assert_allclose(o.EVI.values, d.EVI.values, rtol=1e-12)  # EVI kept its own L
    assert o.SAVI.attrs["constants"] == "L=0.5" and "L=1.0" in o.EVI.attrs["constants"]
    assert d.EVI.attrs["constants"] == "C1=6.0, C2=7.5, L=1.0, g=2.5"  # catalog defaults, recorded
    with pytest.raises(MissingConstantError, match="PAR"):
        compute_index(s2, "NIRvP")
    np.testing.assert_allclose(compute_index(s2, "NIRvP", PAR=2.0, dtype="float64").values,
                               2.0 * n * (n - r) / (n + r), rtol=1e-12)
    with pytest.raises(MissingConstantError, match="Lx"):
        compute_index(s2, "SAVI", Lx=0.5)


# ----------------------------------------------------------------------------- errors
def test_unknown_index_suggests_close_names(s2):
    with pytest.raises(UnknownIndexError, match="NDVI") as e:
        compute_index(s2, "NDVII")
    assert "did you mean" in str(e.value)
    with pytest.raises(UnknownIndexError, match="'NDVI'"):
        compute_index(s2, "ndvi")


def test_missing_band_names_index_band_and_found_bands(s2):
    bands = ("B02", "B03", "B04", "B8A", "B11")  # Sentinel-2 by B8A, but B08 is absent
    ds = xr.Dataset({b: s2.reflectance.sel(band=b, drop=True) for b in bands})
    with pytest.raises(MissingBandError) as e:
        compute_index(ds, "NDVI")
    msg = str(e.value)
    assert "NDVI" in msg and "N (nir" in msg and "'B04'" in msg and "'B03'" in msg
    assert "NDVI" not in available_indices(ds) and "NDMI" not in available_indices(ds)
    assert "NBR" not in available_indices(ds) and "MNDWI" in available_indices(ds)


def test_ambiguous_band_mapping_asks_for_sensor_or_bands(data_dir):
    rioxarray = pytest.importorskip("rioxarray")
    da4 = rioxarray.open_rasterio(data_dir / "rgbn.tif")  # bands labelled 1, 2, 3, 4
    with pytest.raises(BandMappingError) as e:
        compute_index(da4, "NDVI")
    assert "sensor=" in str(e.value) and "bands=" in str(e.value)
    a = compute_index(da4, "NDVI", sensor="rgbn")
    b = compute_index(da4, "NDVI", bands={"N": 4, "R": 1})
    xr.testing.assert_identical(a, b)
    with pytest.raises(BandMappingError, match="no band"):
        compute_index(da4, "NDVI", bands={"N": 7, "R": 1})
    with pytest.raises(BandMappingError, match="unknown sensor"):
        compute_index(da4, "NDVI", sensor="sentinel3")


def test_sensor_presets_and_detection():
    rng = np.random.default_rng(2)
    l8 = xr.Dataset({f"SR_B{i}": (("y", "x"), rng.random((4, 5))) for i in range(1, 8)})
    l7 = xr.Dataset({f"SR_B{i}": (("y", "x"), rng.random((4, 5))) for i in (1, 2, 3, 4, 5, 7)})
    l7["ST_B6"] = (("y", "x"), rng.random((4, 5)))
    np.testing.assert_allclose(compute_index(l8, "NDVI").values,
                               _ndvi(l8.SR_B5.values, l8.SR_B4.values), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(compute_index(l7, "NDVI").values,
                               _ndvi(l7.SR_B4.values, l7.SR_B3.values), rtol=1e-6, atol=1e-7)
    modis = xr.Dataset({f"sur_refl_b0{i}": (("y", "x"), rng.random((4, 5))) for i in range(1, 8)})
    np.testing.assert_allclose(compute_index(modis, "NDVI").values,
                               _ndvi(modis.sur_refl_b02.values, modis.sur_refl_b01.values),
                               rtol=1e-6, atol=1e-7)
    # the same Landsat names, read as Sentinel-2 when the user says so
    np.testing.assert_allclose(compute_index(l8, "NDVI", sensor="landsat7").values,
                               _ndvi(l8.SR_B4.values, l8.SR_B3.values), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad", ["__import__('os').system('true')", "N.real", "N[0]", "N if R else 1",
                                 "lambda: 1", "'a'", "(N > R) * 1"])
def test_formula_strings_are_parsed_never_evaluated(s2, bad):
    with pytest.raises(FormulaError):
        compute_index(s2, "kNDVI", sigma=bad)


def test_bad_dtype(s2):
    with pytest.raises(ValueError, match="float32"):
        compute_index(s2, "NDVI", dtype="int16")


# ---------------------------------------------------------------------- kernel cache
def test_second_process_reuses_the_compiled_kernel(tmp_path):
    script = textwrap.dedent("""
        import json, numpy as np
        from xgeo.indices.core import build_plan, evaluate
        rng = np.random.default_rng(0)
        b = {k: rng.random(1000, dtype=np.float32) for k in ("N", "R", "B", "G", "S1", "S2")}
        names = ["NDVI", "EVI", "SAVI", "NDWI", "MNDWI", "NDBI", "NBR", "GNDVI", "NDMI", "ARVI"]
        out = evaluate(b, names)
        st = build_plan(names).kernels.kernel.stats
        print(json.dumps({"hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values()),
                          "sum": float(np.nansum(out["EVI"]))}))
    """)
    env = {**os.environ, "XGEO_CACHE_DIR": str(tmp_path)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                      capture_output=True, text=True).stdout) for _ in range(2)]
    assert runs[0]["misses"] == 1 and runs[0]["hits"] == 0  # compiled in the first process
    assert runs[1]["hits"] == 1 and runs[1]["misses"] == 0  # loaded from disk in the second
    assert runs[0]["sum"] == runs[1]["sum"]
    assert len(list((tmp_path / "indices").glob("xgeo_indices_*.py"))) == 1


def test_accessor_delegates(s2):
    xr.testing.assert_identical(s2.geo.index("NDVI"), compute_index(s2, "NDVI"))
    xr.testing.assert_identical(s2.reflectance.geo.indices(["EVI", "NDWI"], L=0.5),
                                compute_indices(s2.reflectance, ["EVI", "NDWI"], L=0.5))
    assert s2.geo.available_indices() == available_indices(s2)


def test_dask_graphs_of_different_inputs_do_not_collide(s2):
    a = s2.reflectance.chunk({"time": 1})
    b = (s2.reflectance * 0.5 + 0.01).chunk({"time": 1})
    ra, rb = dask.compute(compute_index(a, "NDVI"), compute_index(b, "NDVI"))
    np.testing.assert_array_equal(ra.values, s2.ndvi.values)
    assert not np.array_equal(ra.values, rb.values)
    c1, c2 = dask.compute(compute_index(a, "SAVI", L=0.5), compute_index(a, "SAVI", L=1.0))
    assert not np.array_equal(c1.values, c2.values)


def test_outputs_in_request_order_and_into_a_given_buffer():
    rng = np.random.default_rng(3)
    b = {k: rng.random((6, 7), dtype=np.float32) + 0.1 for k in ("N", "R", "G")}
    fresh = evaluate(b, ["SR", "NDVI", "GNDVI"])
    buf = np.full((3, 6, 7), -1, np.float32)
    into = evaluate(b, ["SR", "NDVI", "GNDVI"], out=buf)
    for i, n in enumerate(["SR", "NDVI", "GNDVI"]):
        np.testing.assert_array_equal(into[n], fresh[n])
        np.testing.assert_array_equal(buf[i], fresh[n])  # plane i holds the i-th requested index
    np.testing.assert_allclose(fresh["SR"], b["N"] / b["R"], rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        evaluate(b, ["SR", "NDVI"], out=buf)


def test_bands_skipped_for_their_dtype_are_named_in_the_missing_band_error():
    """Bool or complex B04/B08 were skipped silently: 'Found bands: none' hid why."""
    a = xr.DataArray(np.zeros((2, 3), bool), dims=("y", "x"))
    ds = xr.Dataset({"B04": a, "B08": a.astype("complex64")})
    with pytest.raises(MissingBandError, match=r"not read, as they are not integer or float: "
                                               r"'B04' \(bool\), 'B08' \(complex64\)"):
        ds.geo.indices(["NDVI"])
    out = ds.astype("float32").geo.indices(["NDVI"])  # cast as the message says
    assert out["NDVI"].shape == (2, 3)
