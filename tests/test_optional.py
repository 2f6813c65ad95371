"""A missing optional package is an install hint (MissingDependencyError, an ImportError that
names the feature and the pip command), never a bare ModuleNotFoundError. Absence is
simulated: ``sys.modules[name] = None`` makes ``import name`` raise ImportError."""

from __future__ import annotations

import importlib
import sys

import pytest
from click.testing import CliRunner

import xgeo
from xgeo.cli import main
from xgeo.errors import MissingDependencyError


def _absent(monkeypatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture(scope="module")
def video_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "ndvi.zarr"
    xgeo.datasets.sentinel2_cube()[["ndvi"]].geo.to_zarr(path, codec="hevc")
    return path


def test_torch_missing_names_the_cpu_wheel_and_the_extra(monkeypatch, sample):
    pytest.importorskip("torch")  # the real module must be restorable afterwards
    _absent(monkeypatch, "torch")
    monkeypatch.delitem(sys.modules, "xgeo.torch", raising=False)
    with pytest.raises(MissingDependencyError, match=r"pip install torch==2\.13\.0") as err:
        importlib.import_module("xgeo.torch")
    assert "pip install 'xgeo[torch]'" in str(err.value) and "ChipDataset" in str(err.value)
    assert isinstance(err.value, ImportError)
    with pytest.raises(MissingDependencyError, match="to_dataloader"):
        sample.geo.to_dataloader(size=32, dataset_kwargs={"variable": "reflectance"})


def test_matplotlib_missing_for_quicklook(monkeypatch, sample):
    _absent(monkeypatch, "matplotlib", "matplotlib.pyplot")
    with pytest.raises(MissingDependencyError, match=r"quicklook.*pip install 'xgeo\[plot\]'"):
        sample.geo.quicklook()


def test_demo_says_quicklooks_were_skipped_and_how_to_get_them(monkeypatch, tmp_path, sample):
    from xgeo.pipeline import demo_outputs, demo_quicklooks

    one = sample.isel(time=0)
    _absent(monkeypatch, "matplotlib", "matplotlib.pyplot")
    line = demo_quicklooks(tmp_path, one, one, one.ndvi)
    assert line.startswith("quicklooks: SKIPPED") and "pip install 'xgeo[plot]'" in line
    assert "true_colour_before.png" in line and "xgeo demo --overwrite" in line
    assert not any(p.exists() for p in demo_outputs(tmp_path)[1:])


def test_demo_quicklooks_written_with_matplotlib(tmp_path, sample):
    pytest.importorskip("matplotlib")
    from xgeo.pipeline import demo_outputs, demo_quicklooks

    one = sample.isel(time=0)
    line = demo_quicklooks(tmp_path, one, one, one.ndvi)
    assert all(p.stat().st_size > 0 for p in demo_outputs(tmp_path)[1:])
    assert line.startswith("quicklooks: ") and "SKIPPED" not in line


def test_video_store_without_xgeo_codecs_installed(monkeypatch, video_store):
    _absent(monkeypatch, "xgeo_codecs")
    with pytest.raises(MissingDependencyError, match="pip install xgeo-codecs") as err:
        xgeo.open_dataset(video_store)
    assert str(video_store) in str(err.value) and "xgeo.video" in str(err.value)
    result = CliRunner().invoke(main, ["info", str(video_store)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"xgeo: error: {err.value}"]


def test_video_codec_unknown_to_zarr_gets_the_hint(monkeypatch, video_store):
    """Installed but not registered (what Zarr sees when the distribution is absent):
    Zarr's "Unknown codec: 'xgeo.video'" becomes the install hint."""
    import zarr.core.metadata.v3 as v3

    lookup = v3.get_codec_class

    def unregistered(key, *args, **kwargs):
        if key == "xgeo.video":
            raise KeyError(key)
        return lookup(key, *args, **kwargs)

    monkeypatch.setattr(v3, "get_codec_class", unregistered)
    with pytest.raises(MissingDependencyError, match="pip install xgeo-codecs"):
        xgeo.open_dataset(video_store)


def test_a_plain_store_opens_without_xgeo_codecs(monkeypatch, tmp_path, sample):
    path = tmp_path / "plain.zarr"
    sample[["ndvi"]].geo.to_zarr(path)
    _absent(monkeypatch, "xgeo_codecs")
    assert xgeo.open_dataset(path).ndvi.shape == sample.ndvi.shape


def test_av_missing_for_a_video_preview(monkeypatch, tmp_path, sample):
    _absent(monkeypatch, "av")
    with pytest.raises(MissingDependencyError, match="pip install av"):
        sample.geo.to_video(tmp_path / "s.mp4")
    assert not list(tmp_path.iterdir())  # nothing half-written
