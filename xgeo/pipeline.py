"""End-to-end jobs built from the plain functions: compress-and-measure, and the demo.

The CLI's ``compress`` and ``demo`` commands are thin wrappers over these.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .errors import MissingDependencyError
from .optional import install_hint

__all__ = ["compress_dataset", "compression_table", "demo_outputs", "demo_quicklooks", "run_demo"]

_DEMO_PICTURES = ("true_colour_before.png", "true_colour_after.png", "ndvi.png",
                  "difference_B04.png")


def compress_dataset(
    src: Any,
    out: str,
    *,
    codec: str = "hevc",
    codec_options: dict[str, Any] | None = None,
    chunks: dict[str, int] | None = None,
    variables: list[str] | None = None,
    progress: bool | None = None,
    mask: Any = None,
    categorical: Any = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Compress a Dataset into a video Zarr store and measure what it cost and what it lost.

    Returns ``{"variables": {name: {raw_bytes, stored_bytes, ratio, bpppb, psnr, max_error,
    encoder, kind, ...}}, "seconds": ...}``. PSNR and max error are measured by reading the
    store back and comparing with ``src`` (definitions in :mod:`xgeo.metrics`); pixels of
    ``mask`` (see :func:`xgeo.compression.resolve_mask`) are stored as missing and left out.
    Categorical variables (class maps, masks: decided per variable, or by ``categorical=``,
    see :mod:`xgeo.categorical`) are stored exactly whatever the codec options; ``kind``
    says which each variable was and how it was coded (``"categorical (lossless)"``,
    ``"continuous (psnr 50)"``). ``resume=True`` finishes an interrupted write of the same
    data (see :func:`xgeo.io.to_zarr`).

    Examples
    --------
    >>> import tempfile, os, xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()[["ndvi"]]
    >>> out = compress_dataset(ds, os.path.join(tempfile.mkdtemp(), "c.zarr"), codec_options={"crf": 10})
    >>> out["variables"]["ndvi"]["psnr"] > 40
    True
    """
    from .compression import apply_mask, compression_report, resolve_mask
    from .io import open_dataset, to_zarr
    from .metrics import error_stats
    from .nodata import raw_nodata

    options = dict(codec_options or {})
    if chunks:
        options["chunks"] = chunks
    if variables:
        options["variables"] = variables
    if mask is not None:
        src = apply_mask(src, resolve_mask(src, mask))
    started = time.perf_counter()
    to_zarr(src, out, codec=codec, codec_options=options, progress=progress,
            categorical=categorical, resume=resume)
    seconds = time.perf_counter() - started
    back = open_dataset(out, chunks={})
    result: dict[str, Any] = {"variables": {}, "seconds": seconds}
    for name, info in compression_report(out).items():
        if name not in src.data_vars or "kind" not in info:
            continue
        # a raw integer source holds its nodata value where the store reads back NaN
        stats = error_stats(src[name].data, back[name].data, nodata=raw_nodata(src[name]))
        result["variables"][name] = {**info, "psnr": stats["psnr"], "max_error": stats["max_error"]}
    return result


def compression_table(variables: dict[str, dict[str, Any]]) -> str:
    """The table ``xgeo compress`` and the demo print for :func:`compress_dataset` results;
    an ``angle deg`` column (mean spectral angle the chunks recorded, see
    :func:`xgeo.compression.compression_report`) when a variable has one."""
    from .info import format_table, human_bytes

    angles = {name: (v.get("quality") or {}).get("spectral_angle_mean")
              for name, v in variables.items()}
    shown = any(a is not None for a in angles.values())
    rows = [
        [
            name,
            human_bytes(v["raw_bytes"]),
            human_bytes(v["stored_bytes"]),
            f"{v['ratio']:.1f}x",
            f"{v['bpppb']:.3f}",
            f"{v['psnr']:.2f}",
            f"{v['max_error']:.6g}",
            *([] if not shown else ["" if angles[name] is None else f"{angles[name]:.3f}"]),
            v.get("encoder") or "+".join(c for c in v.get("codec", []) if c != "bytes"),
            v.get("kind", ""),
        ]
        for name, v in variables.items()
    ]
    header = ["variable", "raw", "stored", "ratio", "bpppb", "PSNR dB", "max error",
              *(["angle deg"] if shown else []), "encoder", "kind"]
    return format_table(rows, header)


def demo_outputs(out_dir: str | Path) -> list[Path]:
    """What :func:`run_demo` writes in ``out_dir`` (its Zarr store and PNGs), and nothing else."""
    out = Path(out_dir)
    return [out / "cube.zarr", *(out / name for name in _DEMO_PICTURES)]


def _warm_kernels(cube: Any, names: list[str]) -> float:
    """Seconds to get the demo's numba kernels ready (compiled on a first run, read from the
    disk cache afterwards), spent on an 8 x 8 corner so the step timings after it are run time."""
    from .indices import compute_indices
    from .reproject import reproject

    corner = cube[["reflectance"]].isel(time=[0], x=slice(0, 8), y=slice(0, 8))
    t = time.perf_counter()
    small = reproject(corner, "EPSG:4326", resampling="bilinear")
    compute_indices(small, names, variable="reflectance")
    return time.perf_counter() - t


def run_demo(
    out_dir: str | Path = "xgeo-demo", *, crf: float | None = None, overwrite: bool = False
) -> str:
    """Run the whole pipeline on the bundled Sentinel-2 cube and return a printable summary.

    Steps: reproject to lon/lat (bilinear), fused spectral indices, video compression of
    the reflectance into Zarr, read-back through the torch DataLoader bridge (if torch is
    installed), and quicklook PNGs (true colour before/after, NDVI, difference) in ``out_dir``.

    Other files in ``out_dir`` are never touched. If a file the demo writes
    (:func:`demo_outputs`) exists, :class:`~xgeo.errors.OutputExistsError` is raised before
    any work, unless ``overwrite=True``, which replaces those files only.
    """
    import numpy as np

    from . import datasets
    from .indices import compute_indices
    from .info import format_table
    from .io import open_dataset
    from .outputs import prepare_output
    from .reproject import reproject

    out = Path(out_dir)
    store, *_ = outputs = demo_outputs(out)
    prepare_output(*outputs, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    lines = [
        "xgeo demo — bundled Sentinel-2 L1C cube (eo-learn, MIT): 5 dates x 13 bands x 101 x 100",
        "",
    ]

    t = time.perf_counter()
    cube = datasets.sentinel2_cube().load()
    timings["open"] = time.perf_counter() - t

    names = ["NDVI", "NDWI", "EVI", "SAVI", "NBR"]
    timings["numba kernels: compile, or load from the disk cache"] = _warm_kernels(cube, names)

    t = time.perf_counter()
    lonlat = reproject(cube[["reflectance"]], "EPSG:4326", resampling="bilinear")
    timings["reproject to EPSG:4326 (bilinear)"] = time.perf_counter() - t

    t = time.perf_counter()
    idx = compute_indices(lonlat, names, variable="reflectance")
    timings[f"{len(names)} indices, one fused pass"] = time.perf_counter() - t

    codec_options = {} if crf is None else {"crf": crf}
    t = time.perf_counter()
    result = compress_dataset(
        lonlat, str(store), codec="hevc", codec_options=codec_options, progress=False
    )
    timings["video compression (HEVC) + check"] = time.perf_counter() - t
    info = result["variables"]["reflectance"]

    back = open_dataset(store)
    chips_line = f"DataLoader: skipped, torch is not installed ({install_hint('torch')})"
    try:
        from .torch import ChipDataset, ChunkAwareSampler

        dataset = ChipDataset(store, size=32, variable="reflectance")
        order = list(ChunkAwareSampler(dataset, seed=0))
        t = time.perf_counter()
        for i in order:
            dataset[i]
        dt = time.perf_counter() - t
        chips_line = f"DataLoader: {len(order)} chips of 13x32x32 float32 in {dt:.2f} s = {len(order) / dt:.0f} chips/s"
    except MissingDependencyError:
        pass

    date = int(np.argmin(cube.cloud_coverage.values))
    pictures_line = demo_quicklooks(
        out, lonlat.isel(time=date), back.isel(time=date), idx.NDVI.isel(time=date)
    )

    lines.append(compression_table({"reflectance (reprojected)": info}))
    lines.append("")
    lines.append(
        format_table([[k, f"{v * 1e3:.0f} ms"] for k, v in timings.items()], ["step", "time"])
    )
    lines.append("")
    lines.append(f"grid after reprojection: {lonlat.geo.grid!r}")
    lines.append(
        f"indices: {', '.join(names)}; NDVI median {float(np.nanmedian(idx.NDVI.values)):.3f}"
    )
    lines.append(chips_line)
    lines.append(f"store: {store}")
    lines.append(pictures_line)
    return "\n".join(lines)


def demo_quicklooks(out_dir: str | Path, before: Any, after: Any, ndvi: Any) -> str:
    """Write the demo's quicklook PNGs into ``out_dir`` and return the demo's line about them.

    ``before``/``after``: one date of the reflectance before and after compression (on the
    same grid); ``ndvi``: that date's NDVI. Without matplotlib nothing is written and the
    line says that the quicklooks were skipped and how to get them.
    """
    import numpy as np

    from .optional import require

    out = Path(out_dir)
    try:
        require("matplotlib", "drawing the demo's quicklooks")
    except MissingDependencyError as err:
        return (
            f"quicklooks: SKIPPED ({', '.join(_DEMO_PICTURES)} not written): {err}; then run "
            "`xgeo demo --overwrite` again"
        )
    import matplotlib.pyplot as plt

    from .quicklook import quicklook

    diff = np.abs(
        after.reflectance.sel(band="B04") - before.reflectance.sel(band="B04")
    ).rename("|after - before| B04")
    names = iter(_DEMO_PICTURES)
    for obj, kwargs in (
        (before, {"title": "true colour, original"}),
        (after, {"title": "true colour, after HEVC"}),
        (ndvi, {"bands": None, "cmap": "RdYlGn"}),
        (diff, {"bands": None, "cmap": "magma"}),
    ):
        plt.close(quicklook(obj, path=out / next(names), **kwargs))
    return f"quicklooks: {', '.join(sorted(_DEMO_PICTURES))} in {out}/"
