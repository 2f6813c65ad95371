"""Preview videos of a time series: true colour or one band/index, with the date in each frame.

:func:`to_video` renders one frame per ``time`` step and writes an H.264 (or HEVC) MP4
through PyAV, or an animated GIF. What a frame shows:

* **true colour** from three bands (default ``B04, B03, B02``) chosen as
  :func:`xgeo.quicklook.quicklook` chooses them (:func:`xgeo.bands.band_array`), or
  **one band / variable / spectral index** mapped through a colormap;
* a **robust stretch computed once over the whole series** (the ``percentiles`` of every
  finite value of a band across all dates, :func:`xgeo.quicklook.stretch`), so brightness
  is comparable from frame to frame; missing (NaN) pixels are black;
* the **date** of the frame in its top-left corner, drawn with a built-in 5x7 bitmap font:
  no font files and no matplotlib needed, and the same pixels everywhere.

Frames smaller than 320 pixels are enlarged by a whole factor (nearest neighbour) and
larger than 1920 decimated, so that the video is watchable; H.264/HEVC in ``yuv420p``
need even sizes, so an odd row or column of black is added. The selected bands of the
(decimated) series are loaded into memory at once: subset very long series first.
Colormaps ``viridis``, ``magma``, ``gray`` and ``RdYlGn`` are built in; other names need
matplotlib.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .bands import BAND_DIM, band_array
from .crs import find_spatial_dims
from .errors import MissingBandError, PreviewError
from .optional import require
from .outputs import check_output, prepare_output
from .quicklook import stretch

__all__ = ["render_frames", "to_video"]

TIME_DIM = "time"
_CODECS = {"h264": "libx264", "hevc": "libx265"}
_MIN_SIDE, _MAX_SIDE = 320, 1920

# 5x7 glyphs: seven rows of five pixels per character ("#" = ink)
_GLYPHS = {
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    "-": "..... ..... ..... ##### ..... ..... .....",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    "/": "....# ....# ...#. ..#.. .#... #.... #....",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    " ": "..... ..... ..... ..... ..... ..... .....",
}

# colormaps as evenly spaced anchors (sRGB), interpolated linearly to 256 entries
_COLORMAPS = {
    "viridis": ["440154", "472c7a", "3b518b", "2c718e", "21908d", "27ad81", "5cc863",
                "aadc32", "fde725"],
    "magma": ["000004", "1c1044", "4f127b", "812581", "b5367a", "e55064", "fb8761",
              "fec287", "fcfdbf"],
    "RdYlGn": ["a50026", "d73027", "f46d43", "fdae61", "fee08b", "ffffbf", "d9ef8b",
               "a6d96a", "66bd63", "1a9850", "006837"],
    "gray": ["000000", "ffffff"],
}


def to_video(
    obj: xr.Dataset | xr.DataArray,
    path: str | os.PathLike,
    *,
    bands: Sequence[Hashable] | None = ("B04", "B03", "B02"),
    variable: Hashable | None = None,
    index: str | None = None,
    cmap: str = "viridis",
    percentiles: tuple[float, float] = (2.0, 98.0),
    fps: float = 2.0,
    codec: str = "h264",
    crf: int = 18,
    scale: int | None = None,
    date_format: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a video of the time series ``obj``: one frame per date, the date drawn in it.

    Parameters
    ----------
    obj
        A Dataset or DataArray with a ``time`` dim, in any band layout
        (:func:`xgeo.bands.band_array`).
    path
        ``.mp4`` (H.264 or HEVC, ``yuv420p``) or ``.gif``.
    bands
        Three band labels for red, green, blue (true colour), or one label (or None, when
        ``variable`` has no band dim) for a single-band video with ``cmap``.
    variable
        In a Dataset, the variable to show (one with a band dim, or a single-band one).
    index
        Show this spectral index (e.g. ``"NDVI"``, :func:`xgeo.indices.compute_index`)
        with ``cmap`` instead of bands.
    cmap
        Colormap of single-band videos.
    percentiles
        Robust stretch, computed once per band over all dates.
    fps
        Frames (dates) per second.
    codec
        ``"h264"`` (plays everywhere) or ``"hevc"``; ignored for GIF.
    crf
        Quality of the MP4 (lower is better and bigger; 18 is visually lossless).
    scale
        Whole enlargement factor of each pixel; default: enough for a 320-pixel side
        (1 when larger; frames above 1920 pixels are decimated instead).
    date_format
        :meth:`pandas.Timestamp.strftime` format of the date label; default
        ``%Y-%m-%d``, with ``%H:%M`` added when two dates fall on one day.
    overwrite
        Replace ``path`` if it exists (else :class:`~xgeo.errors.OutputExistsError`).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    PreviewError
        If there is no ``time`` dim, no three bands (or one) to show, an unknown codec or
        extension.
    OutputExistsError
        If ``path`` exists and ``overwrite`` is false.

    Examples
    --------
    >>> import os, tempfile, xgeo
    >>> out = os.path.join(tempfile.mkdtemp(), "series.mp4")
    >>> xgeo.datasets.sentinel2_cube().geo.to_video(out, fps=2).name
    'series.mp4'
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise PreviewError(f"{out}: a preview is written as .mp4 or .gif, not {suffix or 'no extension'!r}")
    if suffix == ".mp4" and codec not in _CODECS:
        raise PreviewError(f"codec {codec!r} is not one of {sorted(_CODECS)}")
    rate = _rate(fps)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"the folder of {out} does not exist; create it first")
    check_output(out, overwrite=overwrite)  # refuse before any work
    frames = render_frames(
        obj, bands=bands, variable=variable, index=index, cmap=cmap, percentiles=percentiles,
        scale=scale, date_format=date_format,
    )
    partial = out.with_name(f".{out.name}.partial")  # a failed write leaves no half a video
    try:
        if suffix == ".gif":
            _write_gif(frames, partial, rate)
        else:
            _write_mp4(frames, partial, rate, _CODECS[codec], crf)
        prepare_output(out, overwrite=overwrite)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def render_frames(
    obj: xr.Dataset | xr.DataArray,
    *,
    bands: Sequence[Hashable] | None = ("B04", "B03", "B02"),
    variable: Hashable | None = None,
    index: str | None = None,
    cmap: str = "viridis",
    percentiles: tuple[float, float] = (2.0, 98.0),
    scale: int | None = None,
    date_format: str | None = None,
) -> np.ndarray:
    """The frames :func:`to_video` writes: ``(time, height, width, 3)`` uint8 RGB, even sizes.

    Examples
    --------
    >>> import xgeo
    >>> render_frames(xgeo.datasets.sentinel2_cube()).shape
    (5, 404, 400, 3)
    """
    arr, single = _selection(obj, bands=bands, variable=variable, index=index)
    y_dim, x_dim = find_spatial_dims(arr)
    extra = [d for d in arr.dims if d not in (TIME_DIM, BAND_DIM, y_dim, x_dim)]
    if extra:
        raise PreviewError(
            f"dims {extra} besides time, band and the grid: select one value of each first "
            f"(e.g. .isel({extra[0]}=0))"
        )
    height, width = arr.sizes[y_dim], arr.sizes[x_dim]
    step = max(1, -(-max(height, width) // _MAX_SIDE))  # decimate before loading
    if step > 1:
        arr = arr.isel({y_dim: slice(None, None, step), x_dim: slice(None, None, step)})
    order = [TIME_DIM] + ([] if single else [BAND_DIM]) + [y_dim, x_dim]
    values = np.asarray(arr.transpose(*order).values, dtype="float64")
    if single:
        levels = stretch(values, percentiles)  # once over all dates
        lut = _colormap(cmap)
        finite = np.isfinite(levels)
        rgb = lut[np.where(finite, np.round(levels * 255), 0).astype(np.intp)]
        rgb[~finite] = 0
    else:
        planes = [stretch(values[:, b], percentiles) for b in range(3)]  # once per band
        rgb = np.round(np.nan_to_num(np.stack(planes, axis=-1), nan=0.0) * 255).astype(np.uint8)
    if scale is None:
        scale = max(1, -(-_MIN_SIDE // max(rgb.shape[1:3])))
    if not isinstance(scale, int | np.integer) or scale < 1:
        raise PreviewError(f"scale must be a whole number >= 1, got {scale!r}")
    if scale > 1:
        rgb = rgb.repeat(scale, axis=1).repeat(scale, axis=2)
    t, h, w, _ = rgb.shape
    frames = np.zeros((t, h + h % 2, w + w % 2, 3), dtype=np.uint8)
    frames[:, :h, :w] = rgb
    for frame, label in zip(frames, _date_labels(arr[TIME_DIM].values, date_format), strict=True):
        _draw_text(frame, label)
    return frames


def _selection(
    obj: xr.Dataset | xr.DataArray,
    *,
    bands: Sequence[Hashable] | None,
    variable: Hashable | None,
    index: str | None,
) -> tuple[xr.DataArray, bool]:
    """The DataArray to show and whether it is one band (colormap) rather than three."""
    dims = tuple(obj.dims)
    if TIME_DIM not in dims:
        raise PreviewError(
            f"a video needs a time series, but the data has no {TIME_DIM!r} dim (dims: "
            f"{list(map(str, dims))}); for one date use .geo.quicklook()"
        )
    if obj.sizes[TIME_DIM] == 0:
        raise PreviewError("the time series is empty: no frame to write")
    if index is not None:
        from .indices import compute_index

        return compute_index(obj, index, variable=variable), True
    if isinstance(obj, xr.DataArray) and BAND_DIM not in obj.dims:
        return obj, True
    if isinstance(obj, xr.Dataset) and variable is not None and variable in obj.data_vars:
        if BAND_DIM not in obj[variable].dims:
            return obj[variable], True
    labels = None if bands is None else list(bands)
    try:
        arr = band_array(obj, variable=variable, bands=labels)
    except MissingBandError as err:
        raise PreviewError(
            f"no bands to make the video from: {err}. Pass bands=(red, green, blue) or one "
            "band from those, a single-band variable=, or index='NDVI'"
        ) from err
    if TIME_DIM not in arr.dims:
        raise PreviewError(f"the bands shown have no {TIME_DIM!r} dim (dims: {list(arr.dims)})")
    if arr.sizes[BAND_DIM] == 1:
        return arr.isel({BAND_DIM: 0}), True
    if arr.sizes[BAND_DIM] != 3:
        present = [str(b) for b in arr[BAND_DIM].values]
        raise PreviewError(
            f"a true-colour video needs 3 bands, got {len(present)} ({present[:6]}...): pass "
            "bands=(red, green, blue), one band, or index="
        )
    return arr, False


def _colormap(name: str) -> np.ndarray:
    """256 x 3 uint8 colours of colormap ``name`` (built in, else matplotlib's)."""
    anchors = _COLORMAPS.get(name)
    if anchors is not None:
        rgb = np.array([[int(a[i : i + 2], 16) for i in (0, 2, 4)] for a in anchors], float)
        where = np.linspace(0.0, 1.0, len(anchors))
        x = np.linspace(0.0, 1.0, 256)
        lut = np.stack([np.interp(x, where, rgb[:, c]) for c in range(3)], axis=-1)
        return np.round(lut).astype(np.uint8)
    matplotlib = require("matplotlib", f"colormap {name!r} (built in: {sorted(_COLORMAPS)})")
    try:
        colors = matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3]
    except (KeyError, ValueError) as err:
        raise PreviewError(f"unknown colormap {name!r}; built in: {sorted(_COLORMAPS)}") from err
    return np.round(colors * 255).astype(np.uint8)


def _date_labels(times: np.ndarray, date_format: str | None) -> list[str]:
    if not np.issubdtype(times.dtype, np.datetime64):
        return [str(t) for t in times]
    stamps = pd.DatetimeIndex(times)
    if date_format is None:
        days = stamps.strftime("%Y-%m-%d")
        date_format = "%Y-%m-%d %H:%M" if len(set(days)) < len(days) else "%Y-%m-%d"
    return list(stamps.strftime(date_format))


def _draw_text(frame: np.ndarray, text: str) -> None:
    """``text`` in white on a black box in the top-left corner of ``frame`` (in place);
    characters without a glyph are drawn as spaces, and what does not fit is cut."""
    s = max(1, frame.shape[1] // 200)  # glyph pixel size
    pad = s
    ink = np.zeros((7 * s, max(1, len(text)) * 6 * s), dtype=bool)
    for k, char in enumerate(text):
        rows = _GLYPHS.get(char, _GLYPHS[" "]).split()
        glyph = np.array([[c == "#" for c in row] for row in rows])
        ink[:, k * 6 * s : (k * 6 + 5) * s] = glyph.repeat(s, axis=0).repeat(s, axis=1)
    h = min(ink.shape[0] + 2 * pad, frame.shape[0])
    w = min(ink.shape[1] + 2 * pad, frame.shape[1])
    frame[:h, :w] = 0
    box = frame[pad : pad + ink.shape[0], pad : pad + ink.shape[1]]
    box[ink[: box.shape[0], : box.shape[1]]] = 255


def _write_mp4(frames: np.ndarray, path: Path, rate: Fraction, encoder: str, crf: int) -> None:
    av = require("av", "writing an MP4 preview")
    options = {"crf": str(crf)}
    if encoder == "libx265":
        options["x265-params"] = "log-level=error"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream(encoder, rate=rate, options=options)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if encoder == "libx265":
            stream.codec_context.codec_tag = "hvc1"  # what Apple players look for
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_gif(frames: np.ndarray, path: Path, rate: Fraction) -> None:
    """An endless GIF: Pillow's adaptive palette when installed, else PyAV's 3-3-2 one."""
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        images = [Image.fromarray(f).quantize(256) for f in frames]
        images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                       duration=round(1000 / rate), loop=0)
        return
    av = require("av", "writing a GIF preview")
    with av.open(str(path), "w", format="gif") as container:
        stream = container.add_stream("gif", rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "rgb8"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _rate(fps: Any) -> Fraction:
    try:
        rate = Fraction(fps).limit_denominator(1000)
    except (TypeError, ValueError) as err:
        raise PreviewError(f"fps must be a positive number, got {fps!r}") from err
    if rate <= 0:
        raise PreviewError(f"fps must be a positive number, got {fps!r}")
    return rate
