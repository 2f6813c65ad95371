"""Preview videos: the frames decode back to the stretched data, one per date, the date drawn
in each; typed errors for what cannot become a video."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import xgeo
from xgeo.cli import main
from xgeo.errors import OutputExistsError, PreviewError
from xgeo.preview import render_frames

av = pytest.importorskip("av")

BOX = (slice(0, 18), slice(0, 124))  # the date label's box in a 400-pixel-wide frame


def _decode(path):
    """The frames and the stream's codec, pixel format and rate (read while the container is
    open: PyAV 18.1.1 refuses a closed container's stream properties)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        info = {"codec": stream.codec_context.name, "pix_fmt": stream.codec_context.pix_fmt,
                "rate": stream.average_rate}
        return np.stack(frames), info


def _stretched_rgb(sample, bands=("B04", "B03", "B02")):
    """What a frame should show, computed here: per band, the 2-98 % range over all dates."""
    out = []
    for band in bands:
        v = sample.reflectance.sel(band=band).values.astype("float64")
        lo, hi = np.nanpercentile(v, [2, 98])
        out.append(np.nan_to_num(np.clip((v - lo) / (hi - lo), 0, 1)) * 255)
    return np.stack(out, axis=-1)  # (time, y, x, 3)


def test_mp4_decodes_to_one_frame_per_date_showing_the_data(tmp_path, sample):
    path = sample.geo.to_video(tmp_path / "series.mp4", fps=3)
    frames, info = _decode(path)
    assert frames.shape == (5, 404, 400, 3)  # 101 x 100 pixels enlarged 4x, made even
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["rate"] == 3
    want = _stretched_rgb(sample)
    # below the date label: decoded frame means follow the data's, date by date
    got_means = frames[:, 200:400].reshape(5, -1, 3).mean(axis=1)
    want_means = want[:, 50:100].reshape(5, -1, 3).mean(axis=1)
    for c in range(3):
        assert np.corrcoef(got_means[:, c], want_means[:, c])[0, 1] > 0.99
    assert np.abs(got_means - want_means).max() < 6  # of 255: H.264 at crf 18
    # and pixel by pixel (a frame is the data enlarged 4x)
    pixels = frames[:, 200:400:4, ::4].astype("float64")
    assert np.abs(pixels - want[:, 50:100]).mean() < 6


def test_the_date_is_drawn_in_each_frame(tmp_path, sample):
    frames = render_frames(sample)
    boxes = frames[:, BOX[0], BOX[1]].astype(int)
    for a in range(5):
        for b in range(a + 1, 5):  # five different dates: five different labels
            assert np.abs(boxes[a] - boxes[b]).sum() > 255 * 20
    same = sample.assign_coords(time=sample.time.values[[0, 0, 1, 2, 3]])
    labels = render_frames(same)[:, BOX[0], BOX[1]]
    np.testing.assert_array_equal(labels[0], labels[1])  # the same instant: the same label
    assert not np.array_equal(labels[1], labels[2])
    decoded, _ = _decode(sample.geo.to_video(tmp_path / "s.mp4"))
    label_area = decoded[:, BOX[0], BOX[1]].astype(int)
    for t in range(5):  # each decoded label is its own date's, not another's
        distance = [np.abs(label_area[t] - boxes[u]).mean() for u in range(5)]
        assert int(np.argmin(distance)) == t and distance[t] < 10


def test_index_and_single_band_videos_use_a_colormap(tmp_path, sample):
    frames, _ = _decode(sample.geo.to_video(tmp_path / "ndvi.mp4", index="NDVI", cmap="RdYlGn"))
    assert frames.shape == (5, 404, 400, 3)
    body = frames[:, 100:].astype(int)
    assert np.abs(body[..., 0] - body[..., 1]).mean() > 20  # coloured, not grey
    grey, _ = _decode(sample.geo.to_video(tmp_path / "grey.mp4", index="NDVI", cmap="gray"))
    ndvi = sample.ndvi.values.astype("float64")  # the index, as the file has it
    lo, hi = np.nanpercentile(ndvi, [2, 98])  # once over all dates
    want = np.nan_to_num(np.clip((ndvi - lo) / (hi - lo), 0, 1)) * 255
    got = grey[:, 200:400:4, ::4, 1].astype("float64")
    assert np.abs(got - want[:, 50:100]).mean() < 6
    one, _ = _decode(sample.ndvi.geo.to_video(tmp_path / "one.mp4", codec="hevc"))
    assert one.shape == (5, 404, 400, 3)
    band, _ = _decode(sample.geo.to_video(tmp_path / "b08.mp4", bands=["B08"], cmap="gray"))
    assert np.abs(band[..., 0].astype(int) - band[..., 2]).mean() < 3  # grey


def test_gif(tmp_path, sample):
    frames, _ = _decode(sample.geo.to_video(tmp_path / "series.gif", fps=2))
    assert frames.shape == (5, 404, 400, 3)
    want = _stretched_rgb(sample)[:, 50:100].reshape(5, -1, 3).mean(axis=1)
    got = frames[:, 200:400].reshape(5, -1, 3).mean(axis=1)
    assert np.abs(got - want).max() < 10


def test_typed_errors(tmp_path, sample):
    with pytest.raises(PreviewError, match="no 'time' dim.*quicklook"):
        sample.isel(time=0).geo.to_video(tmp_path / "a.mp4")
    with pytest.raises(PreviewError, match=r"no bands to make the video.*B04.*bands=\(red, green"):
        sample[["ndvi", "cloud_probability"]].geo.to_video(tmp_path / "a.mp4")
    with pytest.raises(PreviewError, match="needs 3 bands"):
        sample.geo.to_video(tmp_path / "a.mp4", bands=["B04", "B03"])
    with pytest.raises(PreviewError, match=r"\.mp4 or \.gif"):
        sample.geo.to_video(tmp_path / "a.avi")
    with pytest.raises(PreviewError, match="fps"):
        sample.geo.to_video(tmp_path / "a.mp4", fps=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sample.geo.to_video(tmp_path / "nowhere" / "a.mp4")
    assert not list(tmp_path.iterdir())
    out = tmp_path / "a.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        sample.geo.to_video(out)
    assert out.read_bytes() == b"precious"
    sample.geo.to_video(out, overwrite=True)
    assert _decode(out)[0].shape[0] == 5 and sorted(tmp_path.iterdir()) == [out]


def test_cli_preview(tmp_path):
    src = str(xgeo.datasets.sentinel2_cube_path())
    out = tmp_path / "series.mp4"
    runner = CliRunner()
    result = runner.invoke(main, ["preview", src, "--out", str(out), "--fps", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {out}: 5 frames at 2 fps"
    assert _decode(out)[0].shape == (5, 404, 400, 3)
    again = runner.invoke(main, ["preview", src, "--out", str(out)])
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert len(again.output.strip().splitlines()) == 1
    ndvi = runner.invoke(main, ["preview", src, "--out", str(out), "--index", "NDVI",
                                "--cmap", "RdYlGn", "--overwrite"])
    assert ndvi.exit_code == 0, ndvi.output
    bad = runner.invoke(main, ["preview", src, "--out", str(tmp_path / "b.mp4"),
                               "--variable", "nosuch"])
    assert bad.exit_code == 2 and "no variable 'nosuch'" in bad.output
    single = runner.invoke(main, ["preview", src, "--out", str(tmp_path / "d.gif"),
                                  "--variable", "cloud_probability"])
    assert single.exit_code == 0, single.output
