"""User formulas (issue 16): ``indices({"MY": "(N - R) / (N + R + 0.1)"})`` through the catalog's
safe compiler, in the same fused and cached kernel pass, checked against plain NumPy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from indices_reference import S2_BANDS
from indices_reference import evaluate as ref_evaluate

import xgeo
from xgeo.cli import main
from xgeo.errors import FormulaError, IndexNamesError, MissingConstantError, UnknownIndexError
from xgeo.indices import compute_index, compute_indices, evaluate
from xgeo.indices.core import build_plan
from xgeo.indices.custom import UserIndex
from xgeo.indices.formula import parse

MY = "(N - R) / (N + R + 0.1)"


@pytest.fixture(scope="module")
def cube():
    return xgeo.datasets.sentinel2_cube().load()


def _oracle(cube: xr.Dataset, formula: str, **constants: float) -> np.ndarray:
    """Plain NumPy on the cube's float32 bands (the test's own S2 mapping, not xgeo's presets)."""
    r = cube.reflectance
    values = {sym: r.sel(band=b).values for sym, b in S2_BANDS.items()}
    return ref_evaluate(formula, {**values, **constants}, dtype=np.float32)


def _same(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=2e-6, atol=1e-7, equal_nan=True)


# ------------------------------------------------------------------- results
@pytest.mark.parametrize("formula", [
    MY,
    "2.5 * (N - R) / (N + 6 * R - 7.5 * B + 1)",       # EVI written out
    "sqrt(abs(N - S1)) * exp(-G) + log(N / R) ** 2",   # whitelisted functions
    "(RE1 - R) / (RE1 + R) - N2 / (S2 + 1e-3)",
])
def test_user_formula_matches_numpy_on_the_real_cube(cube, formula):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the README path prints nothing
        out = cube.geo.indices({"MY": formula})
    assert list(out.data_vars) == ["MY"]
    assert out.MY.dims == ("time", "y", "x") and out.MY.dtype == np.float32
    assert out.MY.attrs["formula"] == formula and "user formula" in out.MY.attrs["long_name"]
    assert out.geo.crs == cube.geo.crs
    _same(out.MY.values, _oracle(cube, formula))


def test_catalog_names_and_formulas_mix_in_one_fused_pass(cube):
    out = compute_indices(cube, ["NDVI", {"MY": MY, "GREEN": "G / (N + R + G)"}, "NDWI"])
    assert list(out.data_vars) == ["NDVI", "MY", "GREEN", "NDWI"]
    np.testing.assert_array_equal(out.NDVI.values, cube.ndvi.values)  # the catalog is unchanged
    _same(out.MY.values, _oracle(cube, MY))
    _same(out.GREEN.values, _oracle(cube, "G / (N + R + G)"))
    plan = build_plan(["NDVI", UserIndex("MY", MY)])
    assert plan.names == ("NDVI", "MY") and "Outputs: MY, NDVI" in plan.source  # one kernel
    assert build_plan([UserIndex("MY", MY), "NDVI"]).source == plan.source  # order-free
    # a dict alongside names, and the same request as a plain list of dicts
    same = compute_indices(cube, [{"MY": MY}, "NDVI"])
    xr.testing.assert_identical(same.MY, out.MY)


def test_user_formula_is_lazy_on_dask_and_equal_to_eager(cube):
    lazy = compute_indices(cube.chunk({"time": 1, "y": 50}), {"MY": MY})
    assert lazy.MY.chunks is not None
    _same(lazy.MY.compute().values, _oracle(cube, MY))


def test_constants_catalog_defaults_overrides_and_your_own(cube):
    savi = "(1.0 + L) * (N - R) / (N + R + L)"
    out = compute_indices(cube, ["SAVI", {"MYSAVI": savi}])  # L: the catalog default
    np.testing.assert_array_equal(out.MYSAVI.values, out.SAVI.values)
    assert out.MYSAVI.attrs["constants"] == out.SAVI.attrs["constants"]
    _same(compute_index(cube, {"MYSAVI": savi}, L=0.25).values, _oracle(cube, savi, L=0.25))
    own = "(N - R) / (N + R + eps)"
    _same(compute_index(cube, {"MY": own}, eps=0.1).values, _oracle(cube, MY))
    _same(compute_index(cube, {"MY": own}, constants={"MY": {"eps": 0.1}}).values,
          _oracle(cube, MY))
    with pytest.raises(FormulaError, match="unknown symbol 'eps'"):
        compute_index(cube, {"MY": own})
    with pytest.raises(MissingConstantError, match="PAR"):  # catalog constant without default
        compute_index(cube, {"MY": "N * PAR"})
    with pytest.raises(MissingConstantError, match="'epz'"):  # a typo is not silently unused
        compute_index(cube, {"MY": own}, eps=0.1, epz=0.2)


def test_kernel_symbols_work_in_user_formulas(cube):
    out = compute_indices(cube, ["kNDVI", {"MYK": "(1 - kNR) / (1 + kNR)"}])
    np.testing.assert_array_equal(out.MYK.values, out.kNDVI.values)


def test_numpy_evaluate_and_compute_index_take_formulas():
    b = {"N": np.array([0.5, 0.2, 0.0]), "R": np.array([0.1, 0.2, 0.0])}
    out = evaluate(b, {"MY": "(N - R) / (N + R)"})
    np.testing.assert_array_equal(out["MY"], evaluate(b, "NDVI")["NDVI"])  # 0/0 -> NaN too
    with pytest.raises(IndexNamesError, match="one index"):
        compute_index(b, {"A": "N", "B": "R"})


def test_unknown_name_points_at_the_formula_syntax(cube):
    with pytest.raises(UnknownIndexError, match=r"pass \{'MY': '\(N-R\)/\(N\+R\)'\}"):
        cube.geo.indices(["(N-R)/(N+R)"])


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize("formula, what", [
    ("N.real", "Attribute"),
    ("N.__class__.__base__", "Attribute"),
    ("__import__('os').system('true')", "__import__"),
    ("eval('N')", "'eval'"),
    ("exp(N, R)", "takes 1 argument"),
    ("(lambda: N)()", "lambda"),
    ("[n for n in N][0]", "Subscript|ListComp"),
    ("sum(x for x in (N, R))", "'sum'"),
    ("N[0]", "Subscript"),
    ("N if R else G", "IfExp"),
    ("(N > R) * 1", "Compare"),
    ("(x := N) + x", "NamedExpr"),
    ("'N' * 3", "only numbers"),
    ("f'{N}'", "JoinedStr"),
    ("N ** 99999999", "MAX_EXPONENT"),
    ("N ** (10 ** 400)", "overflows"),
    ("N * 1e999", "too large"),
    ("N * " + "9" * 400, "too large"),
    ("N * sqrt(-1)", "not a real number"),
    ("(N - R", "cannot parse"),
    ("", "cannot parse"),
])
def test_bad_user_formulas_are_a_formula_error_naming_the_formula(cube, formula, what):
    with pytest.raises(FormulaError, match=what) as info:
        cube.geo.indices({"MY": formula})
    msg = str(info.value)
    assert "'MY'" in msg and repr(formula.strip())[1:-1][:60] in msg


def test_too_deep_user_formula_names_the_limit(cube):
    with pytest.raises(FormulaError, match="MAX_FORMULA_DEPTH"):
        compute_indices(cube, {"MY": "+".join(["N"] * 200)})


def test_unknown_symbol_names_symbol_formula_and_the_datas_bands(cube):
    with pytest.raises(FormulaError) as info:
        cube.geo.indices({"MY": "(N - X) / (N + R)"})
    msg = str(info.value)
    assert "'X'" in msg and "'(N - X) / (N + R)'" in msg and "N (B08)" in msg and "R (B04)" in msg
    with pytest.raises(FormulaError, match="write R for it"):  # a band name, not a symbol
        cube.geo.indices({"MY": "(B08 - B04) / (B08 + B04)"})
    with pytest.raises(FormulaError, match=r"other indices; write NDVI's formula out"):
        cube.geo.indices({"MY": "NDVI * 2"})
    with pytest.raises(FormulaError, match="Did you mean 'R'"):
        cube.geo.indices({"MY": "N - r"})
    with pytest.raises(FormulaError, match="reads no band"):
        cube.geo.indices({"MY": "0.5 * L"})


@pytest.mark.parametrize("request_, what", [
    ({"NDVI": "(N - R) / (N + R + 0.1)"}, "'NDVI' is a catalog index.*another name"),
    (["NDVI", {"NDVI": "N - R"}], "catalog index"),
    ([{"MY": "N - R"}, {"MY": "N + R"}], "two different formulas are named 'MY'"),
    ({"": "N"}, "name"),
    ({"my index": "N"}, "name"),
    ({"_v0": "N"}, "name"),
    ([{}], "empty"),
    ({}, "empty"),
])
def test_bad_user_index_names_are_an_index_names_error(cube, request_, what):
    with pytest.raises(IndexNamesError, match=what):
        cube.geo.indices(request_)


def test_formula_that_is_not_a_string_is_refused(cube):
    with pytest.raises(FormulaError, match="must be a string"):
        cube.geo.indices({"MY": 0.5})
    with pytest.raises(FormulaError):  # parse() itself, as the catalog uses it
        parse("N ** 1e400")


# ------------------------------------------------------------------ caching
def test_second_process_reuses_the_compiled_user_kernel(tmp_path):
    script = textwrap.dedent(f"""
        import json, numpy as np
        from xgeo.indices.core import build_plan, evaluate
        from xgeo.indices.custom import UserIndex
        rng = np.random.default_rng(0)
        b = {{k: rng.random(1000, dtype=np.float32) for k in ("N", "R")}}
        out = evaluate(b, ["NDVI", {{"MY": {MY!r}}}])
        st = build_plan(["NDVI", UserIndex("MY", {MY!r})]).kernels.kernel.stats
        print(json.dumps({{"hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values()),
                          "sum": float(np.nansum(out["MY"]))}}))
    """)
    env = {**os.environ, "XGEO_CACHE_DIR": str(tmp_path)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                      capture_output=True, text=True).stdout) for _ in range(2)]
    assert runs[0]["misses"] == 1 and runs[0]["hits"] == 0
    assert runs[1]["hits"] == 1 and runs[1]["misses"] == 0
    assert runs[0]["sum"] == runs[1]["sum"]
    assert len(list((tmp_path / "indices").glob("xgeo_indices_*.py"))) == 1


# ----------------------------------------------------------------------- CLI
def test_cli_formula_option(tmp_path, cube):
    src = str(xgeo.datasets.sentinel2_cube_path())
    out = tmp_path / "idx.nc"
    res = CliRunner().invoke(main, ["indices", src, str(out), "--index", "NDVI",
                                    "--formula", f"MY={MY}", "--formula", "G2 = G / (N + R + G)"])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out) as ds:
        assert [v for v in ds.data_vars if v != "spatial_ref"] == ["NDVI", "MY", "G2"]
        _same(ds.MY.values, _oracle(cube, MY))
        assert ds.MY.attrs["formula"] == MY
    # formulas alone are enough; --index is no longer required
    res = CliRunner().invoke(main, ["indices", src, str(tmp_path / "a.nc"), "--formula", "A=N-R"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("args, code, what", [
    (["--formula", "MY"], 2, "NAME=FORMULA"),
    (["--formula", "=N-R"], 2, "NAME=FORMULA"),
    ([], 2, "--index NAME or --formula"),
    (["--formula", "MY=(N - X) / (N + R)"], 1, "unknown symbol 'X'"),
    (["--formula", "NDVI=N-R"], 1, "catalog index"),
    (["--formula", "MY=N.real"], 1, "Attribute"),
])
def test_cli_bad_formula_is_one_line(tmp_path, args, code, what):
    src = str(xgeo.datasets.sentinel2_cube_path())
    res = CliRunner().invoke(main, ["indices", src, str(tmp_path / "x.nc"), *args])
    assert res.exit_code == code and what in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "x.nc").exists()
