"""Bad index requests get typed errors (issue 15, items 11 and 12)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from pyproj import CRS

import xgeo
from xgeo.errors import FormulaError, GridMappingConflictError, IndexNamesError
from xgeo.indices import compute_index, compute_indices, evaluate
from xgeo.indices.formula import MAX_FORMULA_DEPTH, parse

BANDS = {"N": np.array([0.5, 0.6]), "R": np.array([0.1, 0.2]), "G": np.array([0.2, 0.1])}


@pytest.fixture(scope="module")
def cube():
    return xgeo.datasets.sentinel2_cube()


# -------------------------------------------------------------- formula depth
@pytest.mark.parametrize("terms", [300, 1300, 1999])
def test_a_very_long_formula_is_a_formula_error_naming_the_limit(terms):
    long = "+".join(["N"] * terms)  # (((N + N) + N) + ...): `terms` deep
    with pytest.raises(FormulaError, match=f"{terms} deep; the limit is MAX_FORMULA_DEPTH = 64"):
        parse(long)
    with pytest.raises(FormulaError, match="MAX_FORMULA_DEPTH"):
        evaluate(BANDS, "SAVI", constants={"L": long})


def test_depth_limit_bounds_composed_formulas_and_accepts_what_fits():
    ok = "+".join(["N"] * (MAX_FORMULA_DEPTH - 8))
    assert np.isfinite(evaluate(BANDS, "SAVI", constants={"L": ok})["SAVI"]).all()
    group = "(" + "+".join(["N"] * 25) + ")"
    grouped = "+".join([group] * 25)  # 625 terms, 50 deep
    evaluate(BANDS, "SAVI", constants={"L": grouped})
    # each formula fits on its own; substituted into SAVI they are too deep together
    with pytest.raises(FormulaError, match="SAVI with its constant formulas"):
        evaluate(BANDS, "SAVI", constants={"L": "+".join(["N"] * (MAX_FORMULA_DEPTH - 1))})


# -------------------------------------------------------------------- names
@pytest.mark.parametrize("names", [[], (), None, [1], ["NDVI", None]])
def test_bad_names_are_an_index_names_error(cube, names):
    with pytest.raises(IndexNamesError):
        cube.geo.indices(names)
    with pytest.raises(IndexNamesError):
        compute_indices(cube, names)
    with pytest.raises(IndexNamesError):
        evaluate(BANDS, names)


# ------------------------------------------------------------- mixed CRSs
def _two_crs(cube) -> xr.Dataset:
    """One variable per band; B08 (N) points at a second grid mapping in EPSG:32634."""
    r = cube.reflectance.isel(time=0)
    ds = xr.Dataset({str(b): r.sel(band=b, drop=True) for b in r.band.values})
    for name in ds.data_vars:
        ds[name].encoding["grid_mapping"] = "spatial_ref"
    other = xr.DataArray(0, attrs={"crs_wkt": CRS.from_epsg(32634).to_wkt()})
    ds = ds.assign_coords(spatial_ref_b=other)
    ds["B08"].encoding["grid_mapping"] = "spatial_ref_b"
    return ds


def test_bands_on_different_crss_are_refused(cube):
    ds = _two_crs(cube)
    with pytest.raises(GridMappingConflictError, match="spatial_ref_b"):
        ds.geo.indices(["NDVI"])  # reads B04 and B08
    with pytest.raises(GridMappingConflictError):
        compute_index(ds, "NDWI")  # B03 and B08
    with pytest.raises(GridMappingConflictError):  # as to_zarr and reproject do
        ds.geo.reproject("EPSG:4326")
    # an index that reads no band of the other grid is fine
    out = compute_index(ds, "MNDWI")  # B03 and B11
    assert out.encoding["grid_mapping"] == "spatial_ref"
