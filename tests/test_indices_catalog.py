"""Every catalog index against an independent NumPy evaluation, on real imagery."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from indices_reference import BANDS_TABLE, CATALOG, CONSTANTS, S2_BANDS, computable
from indices_reference import evaluate as ref_evaluate

import xgeo
from xgeo.indices import available_indices, catalog, compute_index, compute_indices, evaluate

GROUP = 30  # indices per fused kernel: compile time grows faster than linearly with size


def _reference_values(bands: dict, wavelengths: dict, dtype) -> dict:
    values = {k: v for k, v in CONSTANTS.items() if v is not None}
    values.update({f"lambda{s}": w for s, w in wavelengths.items()})
    values["PAR"] = 1.0
    values.update({s: a.astype(dtype) for s, a in bands.items()})
    return values


def _check_all(out: xr.Dataset, values: dict, names: list[str]) -> None:
    """float32 outputs vs the reference, within float32 rounding of the formula.

    The truth is the float64 evaluation. Where a formula is ill-conditioned (e.g. kEVI's
    denominator 1 + 6k - 7.5k + k close to 0) any float32 evaluation is off, so the allowed
    error scales with the formula's sensitivity: the spread of float64 results when every
    input is perturbed by a few float32 ulps (intermediate results are rounded too), and the error of plain float32 NumPy.
    """
    rng = np.random.default_rng(0)
    v64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v) for k, v in values.items()}
    perturbed = [{k: (v * (1 + rng.choice([-1, 1], v.shape) * 2.0 ** -21)
                      if isinstance(v, np.ndarray) else v) for k, v in v64.items()} for _ in range(3)]
    for name in names:
        formula = CATALOG[name]["formula"]
        ref64 = ref_evaluate(formula, v64, dtype=np.float64)
        ref32 = ref_evaluate(formula, values, dtype=np.float32).astype(np.float64)
        got = out[name].values
        assert got.dtype == np.float32, name
        # NaN exactly where float32 NumPy gives NaN (a float32 denominator can round to 0)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref32), err_msg=f"{name}: NaN pattern")
        ok = ~np.isnan(ref32) & ~np.isnan(ref64)
        assert ok.mean() > 0.5 or np.isnan(ref64).mean() > 0.5, name
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: no sensitivity
            sens = np.nanmax([np.abs(ref_evaluate(formula, p)[ok] - ref64[ok]) for p in perturbed], axis=0)
        err = np.abs(got[ok] - ref64[ok])
        allowed = 8 * sens + 4 * np.abs(ref32[ok] - ref64[ok]) + 1e-5 * np.abs(ref64[ok]) + 1e-6
        bad = err > allowed
        assert not bad.any(), (f"{name}: {bad.sum()} pixels off, e.g. got {got[ok][bad][:3]} "
                               f"expected {ref64[ok][bad][:3]}")


def _in_groups(obj, names, **kw) -> xr.Dataset:
    parts = [compute_indices(obj, names[i:i + GROUP], **kw) for i in range(0, len(names), GROUP)]
    return xr.merge(parts, compat="override", join="exact")


@pytest.fixture(scope="module")
def s2():
    return xgeo.datasets.sentinel2_cube().load()


def test_catalog_has_every_index_with_metadata():
    cat = catalog()
    assert set(cat) == set(CATALOG) and len(cat) >= 250
    for name, idx in cat.items():
        assert idx.formula == CATALOG[name]["formula"]
        assert idx.long_name and idx.reference and idx.application_domain


def test_every_s2_index_matches_numpy_reference(s2):
    wl = {s: p["platforms"]["sentinel2a"]["wavelength"] for s, p in BANDS_TABLE.items()
          if "sentinel2a" in p["platforms"]}
    names = available_indices(s2, PAR=1.0)
    # every index whose bands Sentinel-2 has (all but radar, thermal, yellow, G1) is computable
    assert names == computable(S2_BANDS, wavelengths=True, extra_constants=("PAR",))
    assert len(names) >= 240
    out = _in_groups(s2, names, PAR=1.0)
    bands = {s: s2.reflectance.sel(band=b).values for s, b in S2_BANDS.items()}
    _check_all(out, _reference_values(bands, wl, np.float32), names)


def test_ndvi_equals_the_files_own_ndvi(s2):
    ndvi = compute_index(s2, "NDVI")
    np.testing.assert_array_equal(ndvi.values, s2.ndvi.values)


@pytest.mark.parametrize("path,sensor,symbols", [
    ("RGB.byte.tif", "rgb", ("R", "G", "B")),      # Landsat 7 ETM+ subset, nodata 0
    ("rgbn.tif", "rgbn", ("R", "G", "B", "N")),    # 4-band R, G, B, NIR
])
def test_every_index_on_landsat_and_4band_files(data_dir, path, sensor, symbols):
    rioxarray = pytest.importorskip("rioxarray")
    da = rioxarray.open_rasterio(data_dir / path).load()
    assert da.dtype == np.uint8
    names = available_indices(da, sensor=sensor)
    assert names == computable(symbols) and len(names) >= 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CF scale_factor=1 is set: no "unscaled" warning
        out = _in_groups(da, names, sensor=sensor)
    raw = {s: da.sel(band=i + 1).values for i, s in enumerate(symbols)}
    fill = da.attrs.get("_FillValue")
    bands = {s: np.where(a == fill, np.nan, a.astype(np.float32)) if fill is not None
             else a.astype(np.float32) for s, a in raw.items()}
    _check_all(out, _reference_values(bands, {}, np.float32), names)
    if fill is not None:  # nodata pixels are NaN in every index
        nod = raw["R"] == fill
        assert nod.any() and np.isnan(out["VARI"].values[nod]).all()


def test_float64_output_matches_reference_tightly(s2):
    names = ["NDVI", "EVI", "SAVI", "kNDVI", "BAIS2", "CRSWIR", "RWI", "TTVI", "NIRvH2", "WDRVI"]
    out = compute_indices(s2, names, dtype="float64")
    wl = {s: p["platforms"]["sentinel2a"]["wavelength"] for s, p in BANDS_TABLE.items()
          if "sentinel2a" in p["platforms"]}
    bands = {s: s2.reflectance.sel(band=b).values for s, b in S2_BANDS.items()}
    values = _reference_values(bands, wl, np.float64)
    for name in names:
        ref = ref_evaluate(CATALOG[name]["formula"], values)
        np.testing.assert_allclose(out[name].values, ref, rtol=1e-12, atol=1e-14, err_msg=name)


def test_agrees_with_spyndex_on_common_indices(s2):
    spyndex = pytest.importorskip("spyndex")
    names = ["NDVI", "EVI", "SAVI", "NDWI", "MNDWI", "NDBI", "NBR", "GNDVI", "NDMI", "ARVI",
             "GCI", "NBR2", "NDREI", "MSAVI", "OSAVI", "VARI", "GLI", "NGRDI", "CIRE", "MCARI",
             "TCARI", "NDSI", "BAI", "IRECI", "S2REP", "MTCI", "PSRI", "RENDVI", "SIPI", "EVI2",
             "AFRI1600", "ANDWI", "AWEInsh", "BSI", "DVI", "RVI", "SR", "TVI", "NLI", "MCARI2"]
    names = [n for n in names if n in catalog()]
    assert len(names) >= 30
    out = compute_indices(s2, names, dtype="float64")
    params = {s: s2.reflectance.sel(band=b).values.astype(np.float64) for s, b in S2_BANDS.items()}
    params.update({k: v for k, v in CONSTANTS.items() if v is not None})
    for name in names:  # one call per index: spyndex shares one params dict across a list
        with np.errstate(all="ignore"):
            theirs = np.asarray(spyndex.computeIndex(name, params=dict(params)), dtype=np.float64)
        ok = np.isfinite(theirs)
        assert ok.mean() > 0.99, name
        np.testing.assert_allclose(out[name].values[ok], theirs[ok], rtol=1e-9, atol=1e-12, err_msg=name)


def test_kernel_indices_follow_their_kernel_definitions(s2):
    n = s2.reflectance.sel(band="B08").values.astype(np.float64)
    r = s2.reflectance.sel(band="B04").values.astype(np.float64)
    # per-pixel sigma = (N + R) / 2 turns RBF kNDVI into tanh(NDVI^2) (Camps-Valls et al. 2021)
    k = compute_index(s2, "kNDVI", sigma="0.5 * (N + R)", dtype="float64")
    np.testing.assert_allclose(k.values, np.tanh(((n - r) / (n + r)) ** 2), rtol=1e-12)
    lin = compute_index(s2, "kNDVI", kernel="linear", dtype="float64")
    np.testing.assert_allclose(lin.values, (n * n - n * r) / (n * n + n * r), rtol=1e-12)
    poly = compute_index(s2, "kRVI", kernel="poly", p=3.0, c=0.5, dtype="float64")
    np.testing.assert_allclose(poly.values, (n * n + 0.5) ** 3 / (n * r + 0.5) ** 3, rtol=1e-12)


def test_numpy_api_matches_xarray_api(s2):
    bands = {s: s2.reflectance.sel(band=b).values for s, b in S2_BANDS.items()}
    got = evaluate(bands, ["EVI", "NDVI"])
    ref = compute_indices(s2, ["NDVI", "EVI"])
    for n in ("NDVI", "EVI"):
        np.testing.assert_array_equal(got[n], ref[n].values)
