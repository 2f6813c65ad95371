"""xgeo.masks: quality bands decoded into masks that work as ``mask=`` everywhere.

The oracles are independent of the module: ``np.isin`` on the raw SCL codes of the real nrt
cube (read without xarray's decoding), ``QA_PIXEL`` words assembled field by field from the
USGS bit table, and example words from the USGS Landsat Collection-2 QA tables checked against
their documented meaning.
"""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr

import xgeo
from xgeo import masks
from xgeo.errors import QualityMaskError

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nrt"
NRT_FULL = SHARED / "sentinel2_cube_subset_romania_10m.nc"  # 140 dates, the real SCL band
NRT_32T = DATA / "nrt_romania_32t.nc"  # the repository's 32-date subset of it
CUBES = [
    pytest.param(NRT_FULL, marks=pytest.mark.skipif(
        not NRT_FULL.exists(), reason="../shared/data is not beside this checkout"), id="nrt"),
    pytest.param(NRT_32T, id="nrt_32t"),
]
BANDS = ["B2", "B3", "B4", "B8"]
SCL_DEFAULT = [0, 1, 3, 8, 9, 10]


def _raw_scl(path: Path) -> np.ndarray:
    """The stored SCL codes, with no CF decoding (the oracle's input)."""
    with xr.open_dataset(path, mask_and_scale=False) as ds:
        raw = ds.SCL.values
    assert raw.dtype == np.uint16
    return raw


class _NoCompute:
    """A dask scheduler that fails the test if anything is computed."""

    def __call__(self, *args, **kwargs):
        raise AssertionError("the mask was computed while being built: it must stay lazy")


# ------------------------------------------------------------------ Sentinel-2 SCL
@pytest.mark.parametrize("path", CUBES)
def test_scl_on_the_real_cube_equals_an_isin_oracle(path):
    raw = _raw_scl(path)
    assert set(np.unique(raw)) <= set(range(12))
    for opened in (xr.open_dataset(path), xr.open_dataset(path, mask_and_scale=False),
                   xgeo.open_dataset(path)):
        band = opened.SCL
        got = masks.scl(band)
        assert got.dtype == bool and got.dims == band.dims and got.shape == raw.shape
        np.testing.assert_array_equal(got.values, np.isin(raw, SCL_DEFAULT))
        for d in band.dims:
            np.testing.assert_array_equal(got[d].values, band[d].values)
        by_name = masks.scl(band, ["cloud_high", "snow", "water"])
        np.testing.assert_array_equal(by_name.values, np.isin(raw, [9, 11, 6]))
        np.testing.assert_array_equal(masks.scl(band, [4]).values, raw == 4)
    # the real cube has every class the default masks except 0 and 1, and some of each kept
    assert 0 < np.isin(raw, SCL_DEFAULT).mean() < 1


@pytest.mark.parametrize("path", CUBES)
def test_scl_is_lazy_on_dask_and_keeps_the_grid(path):
    ds = xgeo.open_dataset(path).chunk({"time": 8})
    with dask.config.set(scheduler=_NoCompute()):
        got = masks.scl(ds.SCL)
    assert got.chunks is not None and got.chunks == ds.SCL.chunks
    assert got.attrs["grid_mapping"] == "spatial_ref"
    assert got.geo.crs == ds.geo.crs and got.geo.grid == ds.SCL.geo.grid
    np.testing.assert_array_equal(got.values, np.isin(_raw_scl(path), SCL_DEFAULT))


def test_scl_nan_of_a_decoded_band_is_no_data():
    band = xr.DataArray(np.array([np.nan, 4.0, 9.0], dtype="float32"), dims="x", name="SCL")
    band.encoding["dtype"] = np.dtype("uint8")
    assert masks.scl(band).values.tolist() == [True, False, True]
    assert masks.scl(band, ["cloud_high"]).values.tolist() == [False, False, True]


# ------------------------------------------------------------------ Fmask
def test_fmask_classes_defaults_and_names():
    codes = np.array([[0, 1, 2], [3, 4, 255]], dtype="uint8")
    band = xr.DataArray(codes, dims=("y", "x"), name="fmask")
    np.testing.assert_array_equal(masks.fmask(band).values, np.isin(codes, [2, 4, 255]))
    np.testing.assert_array_equal(masks.fmask(band, ["snow", "cloud"]).values,
                                  np.isin(codes, [3, 4]))
    decoded = xr.DataArray(np.array([np.nan, 0.0, 3.0]), dims="x", name="fmask")
    decoded.encoding["dtype"] = np.dtype("uint8")
    assert masks.fmask(decoded).values.tolist() == [True, False, False]  # NaN: no data
    lazy = band.chunk({"y": 1})
    np.testing.assert_array_equal(masks.fmask(lazy).values, np.isin(codes, [2, 4, 255]))


# ------------------------------------------------------------------ Landsat QA_PIXEL
def _word(fill=0, dilated=0, cirrus=0, cloud=0, shadow=0, snow=0, clear=0, water=0,
          cloud_conf=0, shadow_conf=0, snow_conf=0, cirrus_conf=0) -> int:
    """A QA_PIXEL word from the USGS table: bits 0-7 single flags, then 2-bit confidences."""
    return (fill * 2**0 + dilated * 2**1 + cirrus * 2**2 + cloud * 2**3 + shadow * 2**4
            + snow * 2**5 + clear * 2**6 + water * 2**7 + cloud_conf * 2**8
            + shadow_conf * 2**10 + snow_conf * 2**12 + cirrus_conf * 2**14)


def _random_fields(rng, n, l47=False):
    fields = []
    for _ in range(n):
        f = {k: int(rng.integers(0, 2)) for k in
             ("fill", "dilated", "cirrus", "cloud", "shadow", "snow", "clear", "water")}
        f["cloud_conf"] = int(rng.integers(0, 4))
        for k in ("shadow_conf", "snow_conf", "cirrus_conf"):  # 2 is reserved
            f[k] = int(rng.choice([0, 1, 3]))
        if l47:
            f["cirrus"] = f["cirrus_conf"] = 0
        fields.append(f)
    return fields


@pytest.mark.parametrize("dtype", ["uint16", "int32", "uint32", "int64"])
def test_qa_pixel_flags_and_confidence_against_the_usgs_table(dtype):
    rng = np.random.default_rng(21)
    fields = _random_fields(rng, 4000)
    words = np.array([_word(**f) for f in fields], dtype=dtype)
    band = xr.DataArray(words.reshape(40, 100), dims=("y", "x"), name="QA_PIXEL")

    def expect(flags, level=None):
        names = {"fill": "fill", "dilated_cloud": "dilated", "cirrus": "cirrus", "cloud": "cloud",
                 "shadow": "shadow", "snow": "snow", "water": "water"}
        conf = {"cloud": "cloud_conf", "shadow": "shadow_conf", "snow": "snow_conf",
                "cirrus": "cirrus_conf"}
        need = {"low": 1, "medium": 2, "high": 3}.get(level)
        out = []
        for f in fields:
            hit = any(f[names[k]] == 1 for k in flags)
            if need is not None:
                hit = hit or any(f[conf[k]] >= need for k in flags if k in conf)
            out.append(hit)
        return np.array(out).reshape(40, 100)

    default = ["fill", "dilated_cloud", "cirrus", "cloud", "shadow"]
    np.testing.assert_array_equal(masks.qa_pixel(band).values, expect(default))
    for flags in (["cloud"], ["shadow", "snow"], ["water"], ["fill"], ["cirrus", "cloud"]):
        np.testing.assert_array_equal(masks.qa_pixel(band, flags).values, expect(flags))
        for level in ("low", "medium", "high"):
            got = masks.qa_pixel(band, flags, confidence=level)
            np.testing.assert_array_equal(got.values, expect(flags, level), err_msg=level)
    lazy = masks.qa_pixel(band.chunk({"y": 7}), ["cloud", "shadow"], confidence="medium")
    assert lazy.chunks is not None
    np.testing.assert_array_equal(lazy.values, expect(["cloud", "shadow"], "medium"))


def test_qa_pixel_per_flag_confidence():
    words = np.array([_word(cloud_conf=2), _word(shadow_conf=1), _word(shadow_conf=3)], "uint16")
    band = xr.DataArray(words, dims="x", name="QA_PIXEL")
    got = masks.qa_pixel(band, ["cloud", "shadow"], confidence={"cloud": "medium", "shadow": "low"})
    assert got.values.tolist() == [True, True, True]
    got = masks.qa_pixel(band, ["cloud", "shadow"], confidence={"shadow": "high"})
    assert got.values.tolist() == [False, False, True]


# Example words of the USGS Landsat Collection-2 QA_PIXEL value tables, with their meaning.
L89_EXAMPLES = {
    1: "fill",
    21824: "clear land, low confidences",
    21952: "clear water, low confidences",
    22080: "medium confidence cloud",
    22280: "high confidence cloud",
    23888: "high confidence cloud shadow",
    30048: "high confidence snow/ice",
    54596: "high confidence cirrus",
    55052: "high confidence cirrus and cloud",
}
L47_EXAMPLES = {
    1: "fill",
    5440: "clear land, low confidences",
    5504: "water, low confidences",
    5696: "medium confidence cloud",
    5896: "high confidence cloud",
    7440: "high confidence cloud shadow",
    13664: "high confidence snow/ice",
}


def _examples(table, flags=None, **kwargs):
    band = xr.DataArray(np.array(list(table), dtype="uint16"), dims="x", name="QA_PIXEL")
    got = masks.qa_pixel(band, flags, **kwargs).values
    return {table[w]: bool(m) for w, m in zip(table, got, strict=True)}


def test_qa_pixel_documented_landsat_8_9_values():
    assert _word(clear=1, cloud_conf=1, shadow_conf=1, snow_conf=1, cirrus_conf=1) == 21824
    got = _examples(L89_EXAMPLES, sensor="L8-9")
    masked = {k for k, v in got.items() if v}
    assert masked == {"fill", "high confidence cloud", "high confidence cloud shadow",
                      "high confidence cirrus", "high confidence cirrus and cloud"}
    medium = _examples(L89_EXAMPLES, ["cloud"], confidence="medium")
    assert {k for k, v in medium.items() if v} == {
        "medium confidence cloud", "high confidence cloud", "high confidence cirrus and cloud"}
    assert {k for k, v in _examples(L89_EXAMPLES, ["snow"]).items() if v} == {
        "high confidence snow/ice"}
    assert {k for k, v in _examples(L89_EXAMPLES, ["water"]).items() if v} == {
        "clear water, low confidences"}
    low = _examples(L89_EXAMPLES, ["cloud"], confidence="low")  # low: all but fill
    assert {k for k, v in low.items() if not v} == {"fill"}


def test_qa_pixel_documented_landsat_4_7_values():
    got = _examples(L47_EXAMPLES, sensor="L4-7")
    assert {k for k, v in got.items() if v} == {
        "fill", "high confidence cloud", "high confidence cloud shadow"}
    medium = _examples(L47_EXAMPLES, ["cloud", "snow", "water"], confidence="medium",
                       sensor="L4-7")
    assert {k for k, v in medium.items() if not v} == {
        "fill", "clear land, low confidences", "high confidence cloud shadow"}
    with pytest.raises(QualityMaskError, match="no cirrus"):
        _examples(L47_EXAMPLES, ["cirrus"], sensor="L4-7")
    with pytest.raises(QualityMaskError, match="Landsat 8-9"):  # an L8 word called L4-7
        _examples({54596: "cirrus"}, sensor="L4-7")


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("decoder, dtype, expected", [
    (masks.qa_pixel, "int16", "cannot hold"),
    (masks.qa_pixel, "uint8", "cannot hold"),
    (masks.qa_pixel, "float32", "integer codes"),
    (masks.scl, "float64", "integer codes"),
    (masks.fmask, "int8", "cannot hold"),
    (masks.scl, "bool", "boolean"),
    (masks.scl, "complex64", "integer codes"),
])
def test_a_quality_band_of_the_wrong_dtype_is_a_typed_error(decoder, dtype, expected):
    band = xr.DataArray(np.zeros(4, dtype=dtype), dims="x", name="my_qa")
    with pytest.raises(QualityMaskError, match=expected) as err:
        decoder(band)
    assert "my_qa" in str(err.value)


def test_a_float_reflectance_band_given_as_scl_names_the_variable():
    ds = xgeo.open_dataset(NRT_32T)
    ds["B4"].encoding.pop("dtype", None)
    with pytest.raises(QualityMaskError, match=r"'B4'.*float32"):
        masks.scl(ds.B4)


@pytest.mark.parametrize("decoder, values, expected", [
    (masks.scl, [4, 12], r"\[12\].*SCL"),
    (masks.fmask, [0, 5, 7], r"\[5, 7\].*Fmask"),
    (masks.qa_pixel, [21824, 70000], "outside 0..65535"),
    (masks.qa_pixel, [_word(shadow_conf=2)], "reserved"),
])
def test_values_outside_the_known_codes_are_a_typed_error(decoder, values, expected):
    band = xr.DataArray(np.array(values, dtype="int32"), dims="x", name="quality")
    with pytest.raises(QualityMaskError, match=expected) as err:
        decoder(band)
    assert "'quality'" in str(err.value)
    lazy = decoder(band.chunk({"x": 1}))  # lazy: raised when computed, still typed
    with pytest.raises(QualityMaskError, match="'quality'"):
        lazy.compute()
    decoder(band, check=False)  # the check can be skipped


def test_non_integer_values_of_a_decoded_band_are_refused():
    for bad in (4.5, np.inf):
        band = xr.DataArray(np.array([4.0, bad]), dims="x", name="SCL")
        band.encoding["dtype"] = np.dtype("uint8")
        with pytest.raises(QualityMaskError, match="not integer"):
            masks.scl(band)


@pytest.mark.parametrize("call, expected", [
    (lambda b: masks.scl(b, ["clouds"]), "'clouds' is not a Sentinel-2 SCL class"),
    (lambda b: masks.scl(b, [12]), "12 is not"),
    (lambda b: masks.fmask(b, ["cirrus"]), "not a Fmask class"),
    (lambda b: masks.qa_pixel(b, ["cloudy"]), "unknown QA_PIXEL flags"),
    (lambda b: masks.qa_pixel(b, confidence="certain"), "levels"),
    (lambda b: masks.qa_pixel(b, confidence={"water": "high"}), "flags with a confidence"),
    (lambda b: masks.qa_pixel(b, sensor="L9"), "sensor"),
])
def test_unknown_classes_flags_levels_are_typed_errors(call, expected):
    band = xr.DataArray(np.zeros(3, dtype="uint16"), dims="x", name="q")
    with pytest.raises(QualityMaskError, match=expected):
        call(band)


def test_as_mask():
    ds = xgeo.open_dataset(NRT_32T)
    m = masks.as_mask(ds, "SCL=3,8,9,10")
    np.testing.assert_array_equal(m.values, np.isin(_raw_scl(NRT_32T), [3, 8, 9, 10]))
    assert masks.as_mask(ds, m) is m
    numeric = masks.as_mask(ds, xr.DataArray([0.0, 1.0, np.nan], dims="x"))
    assert numeric.values.tolist() == [False, True, False]
    with pytest.raises(QualityMaskError, match="'cloud' is not a variable"):
        masks.as_mask(ds, "cloud")
    with pytest.raises(QualityMaskError, match="not list"):
        masks.as_mask(ds, [1, 2])


# ------------------------------------------------------------------ end to end: mask= everywhere
@pytest.fixture(scope="module")
def nrt():
    ds = xgeo.open_dataset(NRT_32T)
    raw = _raw_scl(NRT_32T)
    bad = np.isin(raw, SCL_DEFAULT)
    data_ok = np.all([np.isfinite(ds[b].values) for b in BANDS], axis=0)
    return ds, bad, data_ok


def test_scl_mask_in_to_zarr(nrt, tmp_path):
    ds, bad, _ = nrt
    store = tmp_path / "masked.zarr"
    ds[BANDS].chunk({"time": 8}).geo.to_zarr(store, mask=masks.scl(ds.SCL))
    out = xgeo.open_dataset(store)
    for b in BANDS:
        expected = np.where(bad, np.nan, ds[b].values)
        np.testing.assert_array_equal(out[b].values, expected)


def test_scl_mask_in_chips_min_valid(nrt):
    ds, bad, data_ok = nrt
    chips = ds[BANDS].geo.chips(20, min_valid=0.6, mask=masks.scl(ds.SCL))
    everything = ds[BANDS].geo.chips(20)
    usable = data_ok & ~bad
    fractions = np.array([usable[t, r:r + 20, c:c + 20].mean()
                          for t, r, c in zip(everything.t0, everything.rows, everything.cols,
                                             strict=True)])
    assert 0 < len(chips) < len(everything)
    assert len(chips) == int((fractions >= 0.6).sum())
    np.testing.assert_allclose(np.sort(chips.valid), np.sort(fractions[fractions >= 0.6]))


def test_scl_mask_in_chip_dataset(nrt):
    pytest.importorskip("torch")
    from xgeo.torch import ChipDataset

    ds, bad, data_ok = nrt
    m = masks.scl(ds.SCL)
    per_step = ChipDataset(ds[BANDS].geo.chips(25), return_mask=m)
    windows = ChipDataset(ds[BANDS].geo.chips(25, time=4), return_mask=m)
    named = ChipDataset.from_source(ds.assign(cloudy=m), 25, variables=BANDS,
                                    return_mask="cloudy")
    from_chip_kwargs = ChipDataset.from_source(ds, 25, variables=BANDS, min_valid=0.5, mask=m,
                                               return_mask=True)
    plain = ChipDataset(ds[BANDS].geo.chips(25), return_mask=True)
    usable = data_ok & ~bad
    for dataset in (per_step, windows, named, from_chip_kwargs, plain):
        expected_of = data_ok if dataset is plain else usable
        picks = [0, len(dataset) // 2, len(dataset) - 1]
        for i, sample in zip(picks, [dataset[i] for i in picks[:2]]
                             + dataset.__getitems__(picks[2:]), strict=True):
            r, c = int(dataset.rows[i]), int(dataset.cols[i])
            t0, t1 = int(dataset.t0[i]), int(dataset.t1[i])
            expected = expected_of[t0:t1, r:r + 25, c:c + 25]
            got = sample["mask"].numpy()
            np.testing.assert_array_equal(got, expected[0] if got.ndim == 2 else expected)
    assert bad.any() and (data_ok & bad).any()  # the user mask clears pixels that hold data


def test_chip_dataset_mask_of_the_wrong_length_is_a_chip_error(nrt):
    pytest.importorskip("torch")
    from xgeo.errors import ChipError
    from xgeo.torch import ChipDataset

    ds, _, _ = nrt
    with pytest.raises(ChipError, match="mask"):
        ChipDataset(ds[BANDS].geo.chips(25), return_mask=masks.scl(ds.SCL.isel(time=slice(0, 3))))


def test_from_dataset_finds_the_quality_band_by_name():
    ds = xgeo.open_dataset(NRT_32T)
    np.testing.assert_array_equal(masks.from_dataset(ds, "scl").values,
                                  np.isin(_raw_scl(NRT_32T), SCL_DEFAULT))
    np.testing.assert_array_equal(masks.from_dataset(ds, "scl", invalid=[9]).values,
                                  _raw_scl(NRT_32T) == 9)
    qa = xr.Dataset({"qa_pixel": ("x", np.array([21824, 22280], dtype="uint16")),
                     "red": ("x", np.array([0.1, 0.2]))})
    assert masks.from_dataset(qa, "qa").values.tolist() == [False, True]
    with pytest.raises(QualityMaskError, match="no fmask band"):
        masks.from_dataset(qa, "fmask")
    with pytest.raises(QualityMaskError, match="'red'.*float64"):
        masks.from_dataset(qa, "fmask", variable="red")
    with pytest.raises(QualityMaskError, match="not one of"):
        masks.from_dataset(qa, "clouds")
