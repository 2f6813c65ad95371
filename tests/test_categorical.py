"""The categorical-or-continuous decision (xgeo.categorical), on synthetic cases built to
favour each outcome and on the real rasters, plus the categorical= overrides."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from scipy import ndimage

import xgeo
from xgeo.categorical import (
    MIN_RAMP_LEVELS,
    Decision,
    categorical_variables,
    is_categorical,
    measure,
    name_hint,
)
from xgeo.errors import CategoricalError

DATA = Path(__file__).parent / "data"


def _da(values: np.ndarray, name: str = "band_data", **attrs) -> xr.DataArray:
    dims = ("time", "y", "x")[-values.ndim:]
    return xr.DataArray(values, dims=dims, name=name, attrs=attrs)


def _label_map(n_classes: int, shape=(200, 200), regions: int = 60, seed: int = 0) -> np.ndarray:
    """A Voronoi map: ``regions`` patches, each one of ``n_classes`` class codes."""
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0, 1, (regions, 2)) * shape
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    nearest = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2,
                        axis=-1)
    codes = rng.permutation(np.arange(n_classes).repeat(regions // n_classes + 1))[:regions]
    return (codes[nearest] * 10 + 10).astype(np.uint8)  # legend codes 10, 20, ... 120


def _smooth_field(shape=(200, 200), sigma: float = 6.0, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = ndimage.gaussian_filter(rng.normal(size=shape), sigma)
    return (f - f.min()) / (f.max() - f.min())


# ----------------------------------------------------------------- built to be categorical
def test_twelve_class_label_map_is_categorical():
    labels = _label_map(12)
    assert np.unique(labels).size == 12
    d = is_categorical(_da(labels))  # a neutral name: the measurement alone decides
    assert d.categorical, d
    assert "12 distinct values" in d.reason


def test_binary_mask_is_categorical():
    mask = (_smooth_field() > 0.6).astype(np.uint8) * 255
    d = is_categorical(_da(mask))
    assert d.categorical and "mask" in d.reason


def test_cf_flags_make_even_floats_categorical():
    values = _label_map(4).astype(np.float32)
    d = is_categorical(_da(values, flag_values=np.unique(values), flag_meanings="a b c d"))
    assert d == Decision(True, "CF flag_values attribute")
    assert is_categorical(_da(values, flag_masks=[1, 2])).categorical
    assert not is_categorical(_da(values)).categorical  # without flags: a float measurement


def test_boolean_is_categorical():
    assert is_categorical(_da(_smooth_field() > 0.5)).categorical


# ---------------------------------------------------------------- built to be continuous
def test_twelve_bit_smooth_reflectance_is_continuous():
    rng = np.random.default_rng(2)
    dn = np.round(200 + 3600 * _smooth_field() + rng.normal(0, 15, (200, 200)))
    dn = np.clip(dn, 0, 4095).astype(np.uint16)  # 12-bit DN in uint16, as L1C/L2A products
    d = is_categorical(_da(dn))
    assert not d.categorical, d
    assert "too many values" in d.reason


def test_uint8_rgb_photo_is_continuous():
    ds = xgeo.open_dataset(DATA / "RGB.byte.tif")
    var = ds[next(iter(ds.data_vars))]
    assert var.dtype == np.uint8  # at most 256 values: the count alone cannot tell
    d = is_categorical(var)
    assert not d.categorical and "not piecewise constant" in d.reason, d


def test_quantised_ramp_is_continuous_though_piecewise_constant():
    # elevations in whole metres over gentle terrain: few values, large flat runs, but
    # each level only ever meets the next one
    dem = np.round(40 * _smooth_field(sigma=20)).astype(np.int16)
    m = measure(_da(dem))
    assert m.distinct <= 41 and m.equal > 0.8 and m.ramp > 0.95
    d = is_categorical(_da(dem))
    assert not d.categorical and "ramp" in d.reason, d


def test_a_few_consecutive_class_codes_are_not_taken_for_a_ramp():
    """One date of the nrt SCL (clouds and snow: codes 7-11) changes mostly by one code
    between neighbours; the ramp test called 9 of its 140 dates (and windows of 2-5 dates)
    continuous, and a lossy codec then changed 37 % of the classes."""
    scl = xr.open_dataset(DATA / "nrt_romania_32t.nc", mask_and_scale=False).SCL
    continuous = [t for t in range(scl.sizes["time"])
                  if not is_categorical(scl.isel(time=[t])).categorical]
    assert continuous == []
    # a ramp of a few levels is kept exact too (it cannot be told from such classes); one
    # of many levels stays a ramp
    few = np.round(5 * _smooth_field(sigma=20)).astype(np.int16)
    many = np.round(40 * _smooth_field(sigma=20)).astype(np.int16)
    assert len(np.unique(few)) < MIN_RAMP_LEVELS <= len(np.unique(many))
    assert measure(_da(few)).ramp > 0.9 and is_categorical(_da(few)).categorical
    assert not is_categorical(_da(many)).categorical


def test_packed_integers_are_measurements():
    labels = _label_map(5).astype(np.int16)
    assert is_categorical(_da(labels)).categorical
    d = is_categorical(_da(labels, scale_factor=0.01, add_offset=0.0))
    assert not d.categorical and "packed" in d.reason
    # rioxarray writes scale_factor=1, add_offset=0 on every GeoTIFF band: not packing
    assert is_categorical(_da(labels, scale_factor=1.0, add_offset=0.0)).categorical


# ------------------------------------------------------------------ the name as evidence
def test_name_hint_tips_a_noisy_class_map():
    # a per-pixel classifier's output: 40 % of the pixels flipped to a random class
    rng = np.random.default_rng(3)
    labels = _label_map(8).astype(np.uint8)
    noisy = np.where(rng.random(labels.shape) < 0.4, rng.integers(1, 9, labels.shape) * 10,
                     labels).astype(np.uint8)
    eq = measure(_da(noisy)).equal
    assert 0.3 <= eq < 0.5, eq  # between the two bars
    assert not is_categorical(_da(noisy, name="b1")).categorical
    d = is_categorical(_da(noisy, name="landcover"))
    assert d.categorical and "landcover" in d.reason


def test_name_hints_match_whole_words():
    assert name_hint("lulc") == "lulc" and name_hint("SCL") == "scl"
    assert name_hint("cloud_mask") == "mask" and name_hint("cloudMask") == "mask"
    assert name_hint("QA_PIXEL") == "qa*" and name_hint("qa60") == "qa*"
    assert name_hint("classification") == "class*" and name_hint("is_valid") == "is_*"
    for other in ("masked_reflectance", "LC08_L1TP_B2", "reflectance", "B04", None):
        assert name_hint(other) is None, other


def test_name_alone_never_makes_smooth_data_categorical():
    rng = np.random.default_rng(4)
    dn = np.clip(np.round(1000 + 2000 * _smooth_field() + rng.normal(0, 20, (200, 200))),
                 0, 4095).astype(np.uint16)
    d = is_categorical(_da(dn, name="label"))
    assert not d.categorical and "although the name" in d.reason


# ------------------------------------------------------------------------ sampling, nodata
def test_nodata_is_left_out_of_the_measurement():
    labels = _label_map(6).astype(np.uint16)
    labels[:, :120] = 65535  # a wide nodata collar
    d = is_categorical(_da(labels, _FillValue=65535))
    assert "6 distinct values" in d.reason, d


def test_decoded_integers_are_judged_as_integers():
    """xarray decodes uint16 with a _FillValue to float32 + NaN: SCL stays classes."""
    nrt = xr.open_dataset(DATA / "nrt_romania_32t.nc")
    assert nrt.SCL.dtype == np.float32 and nrt.SCL.encoding["dtype"] == np.uint16
    assert is_categorical(nrt.SCL.rename("v")).categorical  # measured, no name hint
    assert not is_categorical(nrt.B2).categorical


class _Recording:
    """An array-like that builds a label map on the fly and records each read."""

    def __init__(self, shape):
        self.shape, self.dtype, self.ndim, self.reads = shape, np.dtype("uint8"), len(shape), []

    def __getitem__(self, key):
        key = np.index_exp[key] + (slice(None),) * (3 - len(np.index_exp[key]))
        t, r, c = (np.atleast_1d(np.arange(n)[k]) for n, k in zip(self.shape, key, strict=True))
        if t.size and r.size and c.size:
            self.reads.append(key)
        out = ((r[None, :, None] // 97) * 7 + (c[None, None, :] // 89) * 3 + t[:, None, None]) % 11
        drop = tuple(i for i, k in enumerate(key) if not isinstance(k, slice))
        return out.astype(np.uint8).squeeze(axis=drop) if drop else out.astype(np.uint8)


def test_dask_input_reads_only_the_sample():
    src = _Recording((16, 4096, 4096))  # 256 Mi values in 1,024 chunks
    lazy = xr.DataArray(da.from_array(src, chunks=(1, 512, 512)), dims=("time", "y", "x"))
    d = is_categorical(lazy)
    assert d.categorical, d
    # 4 planes x 3 x 3 windows, each across at most 4 chunks: 64 of the 1,024 chunks here
    assert 0 < len(src.reads) <= 4 * 9 * 4


# ---------------------------------------------------------------------------- real rasters
def test_real_cube_decisions(sample):
    decisions = categorical_variables(sample)
    assert {n for n, d in decisions.items() if d.categorical} == {"lulc", "cloud_mask", "is_data"}
    # lulc without its telling name: the measurement alone decides
    assert is_categorical(sample.lulc.rename("v")).categorical
    for name in ("reflectance", "ndvi", "dem", "cloud_probability"):
        assert not decisions[name].categorical, name


@pytest.mark.parametrize("name", ["cogeo.tif", "rgbn.tif", "goes.tif", "MODIS_ARRAY.nc"])
def test_real_integer_imagery_is_continuous(name):
    ds = xgeo.open_dataset(DATA / name)
    for var, d in categorical_variables(ds).items():
        if ds[var].ndim >= 2:
            assert not d.categorical, (var, d)


# -------------------------------------------------------------------------------- overrides
def test_override_forms(sample):
    names = ["lulc", "ndvi", "cloud_mask"]
    listed = categorical_variables(sample, ["ndvi"], variables=names)
    assert {n: d.categorical for n, d in listed.items()} == {
        "lulc": False, "ndvi": True, "cloud_mask": False}  # a list is the whole answer
    assert categorical_variables(sample, "ndvi", variables=names) == listed
    none = categorical_variables(sample, [], variables=names)
    assert not any(d.categorical for d in none.values())
    mapped = categorical_variables(sample, {"lulc": False, "ndvi": True}, variables=names)
    assert {n: d.categorical for n, d in mapped.items()} == {
        "lulc": False, "ndvi": True, "cloud_mask": True}  # a mapping: the rest decided
    assert mapped["lulc"].reason == "categorical= says continuous"
    assert all(d.categorical for d in categorical_variables(sample, True).values())
    assert not any(d.categorical for d in categorical_variables(sample, False).values())
    # a DataArray is keyed by its name
    assert not categorical_variables(sample.lulc, False)["lulc"].categorical


def test_bad_overrides_name_the_problem(sample):
    with pytest.raises(CategoricalError, match="'nosuch'.*variables: \\['cloud_coverage'"):
        categorical_variables(sample, ["nosuch"])
    with pytest.raises(CategoricalError, match="True \\(categorical\\) or False"):
        categorical_variables(sample, {"lulc": "yes"})
    with pytest.raises(CategoricalError, match="a list of names"):
        categorical_variables(sample, 3)
    with pytest.raises(ValueError):  # CategoricalError is a ValueError too
        categorical_variables(sample, ["nosuch"])
