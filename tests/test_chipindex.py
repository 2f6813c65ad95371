"""Splits without leakage and the chip index as a GeoParquet file, on the real sample cube
(eo-learn's Sentinel-2 patch, its ``lulc`` raster as the label)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import xgeo
from xgeo.chips import ChipGrid, make_chips
from xgeo.chipsplit import shares_pixels, split_labels
from xgeo.errors import ChipError, MissingDependencyError

gpd = pytest.importorskip("geopandas")
pq = pytest.importorskip("pyarrow.parquet")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EOPATCH = SHARED / "eo-learn" / "s2_eopatch.nc"
FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


@pytest.fixture()
def cube():
    if not EOPATCH.exists():
        pytest.skip(f"shared test data not found at {EOPATCH}")
    return xgeo.open_dataset(EOPATCH)


def footprints(chips: ChipGrid, shape: tuple[int, int], pad: int = 0) -> dict[str, np.ndarray]:
    """Pixels each split's chips cover (grown by ``pad``), painted one chip at a time."""
    ny, nx = shape
    h, w = chips.size
    out: dict[str, np.ndarray] = {}
    for r, c, s in zip(chips.rows, chips.cols, chips.splits, strict=True):
        seen = out.setdefault(s, np.zeros((ny + 2 * h + 2 * pad, nx + 2 * w + 2 * pad), bool))
        seen[r : r + h + 2 * pad, c : c + w + 2 * pad] = True  # offset by pad on both axes
    return out


# ------------------------------------------------------------------ splits
@pytest.mark.parametrize("gap", [0, 5])
def test_block_split_shares_no_pixel_between_splits(sample, gap):
    chips = sample.geo.chips(24, stride=8, variable="reflectance")  # one chip per date
    parts = chips.split(FRACTIONS, block=40, seed=3, gap=gap)  # no place in two splits
    assert set(parts.splits) == {"train", "val", "test"} and len(parts) < len(chips)
    for name, fraction in parts.split_fractions().items():  # 13 x 13 places in 9 blocks
        assert abs(fraction - FRACTIONS[name]) < 0.06
    plain = footprints(parts, (101, 100))
    grown = footprints(parts, (101, 100), pad=gap)
    for a in plain:
        for b in plain:
            if a != b:  # a's pixels against b's grown by the gap (offsets line up: pad=gap)
                shifted = np.zeros_like(grown[b])
                shifted[gap : gap + plain[a].shape[0], gap : gap + plain[a].shape[1]] = plain[a]
                assert not (shifted & grown[b]).any(), (a, b, gap)
    # the buffer comes out of the larger splits: the first smallest ("val") keeps every chip
    labels, keep = split_labels(chips.rows, chips.cols, chips.t0, chips.t1, chips.size,
                                FRACTIONS, block=40, seed=3, gap=gap)
    assert keep[labels == "val"].all() and not keep[labels == "train"].all()
    assert list(parts.splits) == list(labels[keep])


def test_block_split_keeps_blocks_whole_and_reports_fractions(sample):
    chips = sample.geo.chips(10, variable="reflectance", time=5)  # 11 x 10 chips, no overlap
    parts = chips.split(FRACTIONS, block=30, seed=0)
    assert len(parts) == len(chips)  # nothing overlaps: nothing dropped
    frame = parts.to_dataframe()
    block = (frame["row"] + 5) // 30 * 100 + (frame["col"] + 5) // 30
    assert (frame.groupby(block)["split"].nunique() == 1).all()
    got = parts.split_fractions()
    counts = frame["split"].value_counts()
    assert got == {k: counts[k] / len(parts) for k in sorted(counts.index)}
    largest_block = block.value_counts().max() / len(parts)
    for name, want in FRACTIONS.items():
        assert abs(got[name] - want) <= largest_block


def test_few_large_blocks_still_give_every_split_a_block(sample):
    chips = sample.geo.chips(32, variable="reflectance", time=2)  # 4 x 4 places, 2 windows
    parts = chips.split(FRACTIONS, block=64, seed=1)  # 4 blocks of 8 chips for 3 splits
    assert parts.split_fractions() == {"test": 0.25, "train": 0.5, "val": 0.25}


def test_split_is_deterministic_and_seeded(sample):
    chips = sample.geo.chips(10, variable="reflectance")
    a = chips.split(FRACTIONS, block=20, seed=7)
    b = chips.split(FRACTIONS, block=20, seed=7)
    c = chips.split(FRACTIONS, block=20, seed=8)
    assert a.equals(b) and list(a.splits) == list(b.splits)
    assert list(a.splits) != list(c.splits)


def test_random_split_meets_counts_and_per_step_chips_share_location(sample):
    chips = sample.geo.chips(25, variable="reflectance", time=5)  # 5 x 4 chips, one window
    assert len(chips) == 20
    parts = chips.split({"a": 0.5, "b": 0.25, "c": 0.25}, by="random", seed=1)
    assert parts.split_fractions() == {"a": 0.5, "b": 0.25, "c": 0.25}
    # with one chip per date, a random split may put the same place in two splits (its
    # dates differ, so no pixel of the cube is shared): that is what by="block" prevents
    steps = sample.geo.chips(20, variable="reflectance").split(FRACTIONS, by="random", seed=1)
    blocked = sample.geo.chips(20, variable="reflectance").split(FRACTIONS, block=40, seed=1)
    where = steps.to_dataframe().groupby(["row", "col"])["split"].nunique()
    assert where.max() > 1
    assert blocked.to_dataframe().groupby(["row", "col"])["split"].nunique().max() == 1


def test_time_split_is_chronological_without_shared_steps(sample):
    chips = sample.geo.chips(50, variable="reflectance", time=1)  # 5 dates
    parts = chips.split({"train": 0.6, "val": 0.2, "test": 0.2}, by="time")
    assert len(parts) == len(chips)
    frame = parts.to_dataframe()
    assert frame.groupby("split")["time_start"].unique().map(list).to_dict() == {
        "train": [0, 1, 2], "val": [3], "test": [4]}
    # overlapping windows [0, 2) [1, 3) [2, 4) [3, 5): a window sharing a date with the
    # other split is dropped, from the split asked for later when the fractions tie
    windows = sample.geo.chips(50, variable="reflectance", time=2, time_stride=1)
    parts = windows.split({"train": 0.5, "test": 0.5}, by="time")
    steps = {s: set() for s in parts.splits}
    for t0, t1, s in zip(parts.t0, parts.t1, parts.splits, strict=True):
        steps[s] |= set(range(t0, t1))
    assert steps == {"train": {0, 1, 2}, "test": {3, 4}}
    parts = windows.split({"train": 0.5, "test": 0.5}, by="time", gap=1)  # a date between
    assert parts.split_fractions() == {"test": 0.5, "train": 0.5}
    assert set(parts.where(split="train").t1) == {2} and set(parts.where(split="test").t0) == {3}
    with pytest.raises(ChipError, match="'test' (lost all its|got no) chips"):
        windows.split({"train": 0.5, "test": 0.5}, by="time", gap=3)


def test_split_survives_subset_sample_and_selection(sample):
    parts = sample.geo.chips(10, variable="reflectance").split(FRACTIONS, block=30, seed=2)
    train = parts.where(split="train")
    assert len(train) and set(train.splits) == {"train"}
    both = parts.where(split=["val", "test"])
    assert len(both) + len(train) == len(parts)
    drawn = parts.sample(20, seed=4)
    idx = np.sort(np.random.default_rng(4).choice(len(parts), 20, replace=False))
    assert list(drawn.splits) == list(parts.splits[idx])
    assert list(parts[5:9].splits) == list(parts.splits[5:9])
    assert list(parts.to_dataframe()["split"]) == list(parts.splits)
    assert "split" not in sample.geo.chips(10, variable="reflectance").to_dataframe()


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"fractions": {"train": -0.1, "test": 1.1}}, "fractions['train']"),
        ({"fractions": {"train": 0.7, "test": 0.2}}, "fractions must sum to 1"),
        ({"fractions": [0.7, 0.3]}, "fractions must be a non-empty dict"),
        ({"fractions": {"train": "0.7", "test": 0.3}}, "fractions['train']"),
        ({"by": "space"}, "by must be one of"),
        ({"block": 0}, "block must be"),
        ({"block": (10, 2.5)}, "block must be"),
        ({"by": "random", "block": 10}, "block= applies to by='block'"),
        ({"gap": -1}, "gap must be"),
        ({"block": 1000}, "only 1 blocks for 2 splits"),
    ],
)
def test_bad_split_arguments_are_chip_errors_naming_them(sample, kwargs, names):
    chips = sample.geo.chips(10, variable="reflectance")
    kwargs = {"fractions": {"train": 0.5, "test": 0.5}, **kwargs}
    with pytest.raises(ChipError, match=names.replace("[", r"\[").replace("]", r"\]")):
        chips.split(kwargs.pop("fractions"), **kwargs)


def test_selection_errors(sample):
    chips = sample.geo.chips(10, variable="reflectance")
    with pytest.raises(ChipError, match="no splits"):
        chips.where(split="train")
    with pytest.raises(ChipError, match="by='time' needs"):
        make_chips(sample.reflectance.isel(time=0), 10).split(FRACTIONS, by="time")
    parts = chips.split(FRACTIONS, block=30)
    with pytest.raises(ChipError, match=r"split='tset' is not a split.*\['test', 'train', 'val'\]"):
        parts.where(split="tset")


def test_shares_pixels_in_three_dims():
    lo = np.array([[0, 0, 0], [1, 5, 5], [0, 9, 9]])
    hi = np.array([[2, 10, 10], [3, 15, 15], [1, 12, 12]])
    # box 1 overlaps box 0 in time (step 1) and space: dropped; box 2 meets box 0 only in
    # its corner pixel (9, 9) at step 0: dropped too; with box 0 gone nothing is dropped
    assert shares_pixels(lo, hi, np.array([0, 1, 1]), [0, 1], np.zeros(3, int)).tolist() == [
        True, False, False]
    assert shares_pixels(lo, hi, np.array([1, 0, 0]), [0, 1], np.zeros(3, int)).tolist() == [
        False, True, True]


# ------------------------------------------------------------------ the index file
def test_round_trip_reopens_the_recorded_source(cube, tmp_path):
    chips = cube.geo.chips(32, stride=16, variable="reflectance", mask="cloud_mask")
    parts = chips.split(FRACTIONS, block=48, seed=5, gap=2)
    path = tmp_path / "chips.parquet"
    parts.to_parquet(path, label=cube.lulc)
    back = ChipGrid.from_parquet(path)
    assert back.equals(parts) and parts.equals(back)
    assert list(back.splits) == list(parts.splits)
    np.testing.assert_array_equal(back.valid, parts.valid)
    assert back.source.encoding["source"] == str(EOPATCH)
    np.testing.assert_array_equal(back.read(7), parts.read(7))
    assert not back.equals(parts.sample(10)) and not back.equals(chips)


def test_round_trip_from_a_zarr_store_and_with_obj(sample, tmp_path):
    store = tmp_path / "cube.zarr"
    sample[["reflectance", "lulc"]].geo.to_zarr(store)
    opened = xgeo.open_dataset(store)
    chips = opened.geo.chips(20, variable="reflectance", bands=["B02", "B03", "B04"], time=3,
                             time_stride=2, min_valid=0.5).split(FRACTIONS, block=40)
    chips.to_parquet(tmp_path / "z.parquet")
    back = ChipGrid.from_parquet(tmp_path / "z.parquet")
    assert back.equals(chips) and back.source.band.values.tolist() == ["B02", "B03", "B04"]
    assert ChipGrid.from_parquet(tmp_path / "z.parquet", obj=sample).equals(chips)
    frame = gpd.read_parquet(tmp_path / "z.parquet")
    times = sample.time.values
    assert (frame["time"].to_numpy() == times[chips.t0]).all()
    assert (frame["time_end"].to_numpy() == times[chips.t1 - 1]).all()


def test_geoparquet_geometry_crs_and_lonlat_match_the_chips(cube, tmp_path):
    chips = cube.geo.chips(32, variable="reflectance", time=5).split(FRACTIONS, block=32)
    chips.to_parquet(tmp_path / "c.parquet")
    frame = gpd.read_parquet(tmp_path / "c.parquet")
    assert frame.crs.to_epsg() == 32633 and len(frame) == len(chips)
    meta = pq.read_schema(tmp_path / "c.parquet").metadata
    assert b"geo" in meta and b"xgeo:chipindex" in meta
    for row, chip in zip(frame.itertuples(), chips, strict=True):
        np.testing.assert_allclose(row.geometry.bounds, chip.bounds, rtol=0, atol=1e-6)
        np.testing.assert_allclose((row.lon_min, row.lat_min, row.lon_max, row.lat_max),
                                   chip.lonlat_bounds, rtol=0, atol=1e-9)
        assert row.split == chips.splits[chip.index]
    assert frame.geometry.geom_type.eq("Polygon").all()


def test_label_counts_match_an_independent_bincount(cube, tmp_path):
    chips = cube.geo.chips(30, stride=25, variable="reflectance", time=5)  # padded edges too
    chips.to_parquet(tmp_path / "l.parquet", label=cube.lulc)
    frame = gpd.read_parquet(tmp_path / "l.parquet")
    lulc = cube.lulc.values
    classes = np.unique(lulc)
    assert [c for c in frame.columns if c.startswith("count_")] == [f"count_{v}" for v in classes]
    for row in frame.itertuples():
        window = lulc[row.row : row.row + row.height, row.col : row.col + row.width]
        expected = np.bincount(window.ravel(), minlength=classes.max() + 1)[classes]
        got = [getattr(row, f"count_{v}") for v in classes]
        assert got == expected.tolist()
    assert frame.filter(like="count_").sum(axis=1).max() == 30 * 30
    assert frame.filter(like="count_").sum(axis=1).min() < 30 * 30  # a padded chip


def test_label_with_cf_flags_names_its_columns(sample, tmp_path):
    label = sample.lulc.copy()
    label.attrs.update(flag_values=[2, 3], flag_meanings="cultivated forest")
    chips = sample.geo.chips(50, variable="reflectance", time=5)
    chips.to_parquet(tmp_path / "f.parquet", label=label)
    frame = gpd.read_parquet(tmp_path / "f.parquet")
    assert frame["count_cultivated"].sum() == (sample.lulc.values == 2).sum()
    assert frame["count_forest"].sum() == (sample.lulc.values == 3).sum()


def test_index_file_errors(sample, cube, tmp_path):
    chips = sample.geo.chips(32, variable="reflectance", time=5)
    with pytest.raises(ChipError, match="must be 2-D"):
        chips.to_parquet(tmp_path / "x.parquet", label=sample.cloud_mask)
    with pytest.raises(ChipError, match="pixels, the chips' grid"):
        chips.to_parquet(tmp_path / "x.parquet", label=sample.lulc.isel(y=slice(1, None)))
    with pytest.raises(ChipError, match="must be a DataArray"):
        chips.to_parquet(tmp_path / "x.parquet", label=sample.lulc.values)
    gpd.GeoDataFrame({"a": [1]}, geometry=gpd.points_from_xy([0], [0])).to_parquet(
        tmp_path / "plain.parquet")
    with pytest.raises(ChipError, match="not an xgeo chip index"):
        ChipGrid.from_parquet(tmp_path / "plain.parquet")
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(ChipError, match="cannot read chip index .*text.parquet"):
        ChipGrid.from_parquet(tmp_path / "text.parquet")
    with pytest.raises(FileNotFoundError, match="no chip index file at .*none.parquet"):
        ChipGrid.from_parquet(tmp_path / "none.parquet")
    memory = make_chips(sample.reflectance.load() * 1, 32, time=5)
    memory.to_parquet(tmp_path / "m.parquet")
    with pytest.raises(ChipError, match="records no source file"):
        ChipGrid.from_parquet(tmp_path / "m.parquet")
    assert ChipGrid.from_parquet(tmp_path / "m.parquet", obj=sample.reflectance).equals(memory)
    chips.to_parquet(tmp_path / "s.parquet")
    with pytest.raises(ChipError, match="not the one the chip index was made from"):
        ChipGrid.from_parquet(tmp_path / "s.parquet", obj=cube.isel(y=slice(0, 90)))
    with pytest.raises(ChipError, match="or other dates"):
        ChipGrid.from_parquet(tmp_path / "s.parquet",
                              obj=cube.assign_coords(time=cube.time + np.timedelta64(1, "D")))
    with pytest.raises(ChipError, match="bands"):
        ChipGrid.from_parquet(tmp_path / "s.parquet", obj=cube.sel(band=["B02", "B03"]))
    assert not (tmp_path / "x.parquet").exists()


def test_missing_vector_extra_says_how_to_install(sample, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "geopandas", None)
    chips = sample.geo.chips(32, variable="reflectance", time=5)
    with pytest.raises(MissingDependencyError, match=r"pip install 'xgeo\[vector\]'"):
        chips.to_parquet(tmp_path / "c.parquet")


def test_a_split_read_back_from_the_index_feeds_a_chip_dataset(sample, tmp_path):
    torch = pytest.importorskip("torch")
    from xgeo.torch import ChipDataset

    store = tmp_path / "s2.zarr"
    sample[["reflectance"]].geo.to_zarr(store)
    chips = xgeo.open_dataset(store).geo.chips(32, variable="reflectance", time=2)
    chips.split(FRACTIONS, block=64, seed=1).to_parquet(tmp_path / "chips.parquet")
    train = ChipGrid.from_parquet(tmp_path / "chips.parquet").where(split="train")
    dset = ChipDataset(train)
    assert dset.kind == "zarr" and len(dset) == len(train) > 0
    sample0 = dset[0]
    assert isinstance(sample0["image"], torch.Tensor)
    np.testing.assert_array_equal(sample0["image"].numpy(), train.read(0))
    np.testing.assert_allclose(sample0["bounds"], train[0].bounds, rtol=0, atol=1e-6)
