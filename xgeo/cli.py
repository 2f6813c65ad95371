"""The ``xgeo`` command line.

Errors users can fix (wrong path, bad CRS, undecodable file) print one line and
exit with status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .errors import XgeoError

__all__ = ["main"]


class _FriendlyErrors(click.Group):
    """A click group that turns expected failures into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        import warnings

        original = warnings.formatwarning
        if "--debug" not in sys.argv[1:] and not ctx.params.get("debug"):
            # One line per warning: the library's source line is noise to a CLI user.
            warnings.formatwarning = lambda message, *args, **kwargs: f"xgeo: warning: {message}\n"
        try:
            return super().invoke(ctx)
        except (
            XgeoError,
            FileNotFoundError,
            FileExistsError,
            PermissionError,
            ImportError,
            *_codec_errors(),
        ) as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(f"xgeo: error: {exc}", err=True)
            sys.exit(1)
        finally:
            warnings.formatwarning = original


def _codec_errors() -> tuple[type[Exception], ...]:
    try:
        from xgeo_codecs import CodecError
    except ImportError:  # pragma: no cover - xgeo depends on xgeo-codecs
        return ()
    return (CodecError,)


@click.group(cls=_FriendlyErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="xgeo")
def main(debug: bool) -> None:
    """xgeo: satellite datacubes cheap to store and fast to learn from."""


@main.command()
@click.argument("path", type=click.Path(exists=False, dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(path: str, as_json: bool) -> None:
    """Describe the datacube at PATH (netCDF, Zarr or GeoTIFF): grid, CRS, bands, time, storage."""
    from .info import format_summary, summarize

    summary = summarize(path)
    if as_json:
        import json

        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        click.echo(format_summary(summary))


def _open(path: str, chunks: Any = None) -> Any:
    from .io import open_dataset

    return open_dataset(path, chunks=chunks)


def _write(ds: Any, out: str, overwrite: bool, **zarr_kwargs: Any) -> None:
    """Write by OUT's extension: netCDF (.nc, .nc4), Zarr (.zarr) or GeoTIFF (.tif, .tiff: COG
    layout), grid and nodata kept, with a progress bar on a TTY; an existing OUT is removed
    (with --overwrite) only now, when the result is ready to write."""
    from .io import to_geotiff, to_netcdf, to_zarr
    from .outputs import output_format, prepare_output

    kind = output_format(out)
    prepare_output(out, overwrite=overwrite, flag="--overwrite")
    if kind == "netcdf":
        ds = _netcdf_safe(ds)
        with _progress():
            to_netcdf(ds, out)
    elif kind == "geotiff":
        with _progress():
            to_geotiff(ds, out)
    else:
        to_zarr(_zarr_plain(ds), out, mode=zarr_kwargs.pop("mode", "w-"), **zarr_kwargs)


def _progress() -> Any:
    """dask's progress bar on a terminal, nothing otherwise."""
    from contextlib import nullcontext

    if sys.stderr.isatty():
        from dask.diagnostics import ProgressBar

        return ProgressBar()
    return nullcontext()


_CF_ENCODING = ("_FillValue", "missing_value", "dtype", "scale_factor", "add_offset", "units",
                "calendar", "grid_mapping")


def _netcdf_safe(ds: Any) -> Any:
    """Drop Zarr-only encodings (serializers, compressors) that the netCDF writer rejects, and
    spell a native byte order as native (Zarr v3 reports ``<u2``; netCDF4 warns about it)."""
    import numpy as np

    keep = ("_FillValue", "dtype", "scale_factor", "add_offset", "units", "calendar")
    out = ds.copy()
    for var in out.variables.values():
        var.encoding = {k: v for k, v in var.encoding.items() if k in keep}
        dtype = var.encoding.get("dtype")
        if isinstance(dtype, np.dtype) and dtype.isnative and dtype.byteorder not in "=|":
            var.encoding["dtype"] = dtype.newbyteorder("=")
    return out


def _zarr_plain(ds: Any) -> Any:
    """Keep only the CF part of the encodings: a decompressed store must not inherit the
    source's video serializer, compressors or chunking."""
    out = ds.copy()
    for var in out.variables.values():
        var.encoding = {k: v for k, v in var.encoding.items() if k in _CF_ENCODING}
    return out


def _require_variables(ds: Any, names: tuple[str, ...] | list[str], src: str) -> Any:
    """``ds`` itself, once every name of --variable is one of its variables: a missing one
    is one typed line naming the variables there are."""
    from .errors import MissingVariableError

    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise MissingVariableError(
            f"--variable {missing[0]}: {src} has no such variable; its variables are "
            f"{', '.join(sorted(map(str, ds.data_vars)))}")
    return ds


def _pick_variables(ds: Any, names: tuple[str, ...] | list[str], src: str) -> Any:
    """``ds`` limited to the variables of --variable (all of it when none)."""
    _require_variables(ds, names, src)
    return ds[list(names)] if names else ds


def _parse_chunks(text: str | None) -> dict[str, int] | None:
    if not text:
        return None
    try:
        chunks = {k.strip(): int(v) for k, v in (item.split("=") for item in text.split(","))}
    except ValueError as exc:
        raise click.BadParameter(
            f"expected dim=size,... (e.g. time=32,y=256,x=256), got {text!r}",
            param_hint="--chunks",
        ) from exc
    bad = [f"{k}={v}" for k, v in chunks.items() if v <= 0]
    if bad:
        raise click.BadParameter(
            f"chunk sizes must be positive integers, got {', '.join(bad)}", param_hint="--chunks"
        )
    return chunks


_overwrite = click.option(
    "--overwrite", is_flag=True, help="Replace the output if it exists (only the output itself)."
)
_variables_option = click.option(
    "--variable", "variables", multiple=True,
    help="Variable to write (repeatable; default all). A GeoTIFF holds one dtype and nodata.",
)


#: The formats each command writes (by extension, see xgeo.outputs.output_format).
_COMMAND_OUTPUTS = {
    "compress": ("zarr",),
    "decompress": ("netcdf", "zarr", "geotiff"),
    "reproject": ("netcdf", "zarr", "geotiff"),
    "indices": ("netcdf", "zarr", "geotiff"),
}


def _check_output(out: str, overwrite: bool, *inputs: str) -> None:
    """Before any work: refuse an extension the command does not write, an output whose
    directory does not exist, an existing output unless --overwrite, and an output that is
    an input or a directory other than a Zarr store even with it. Nothing is removed yet."""
    from .outputs import check_output, check_parent, output_format

    ctx = click.get_current_context(silent=True)
    formats = _COMMAND_OUTPUTS.get(ctx.command.name if ctx is not None else "")
    if formats is not None:
        kind = output_format(out, formats)
        if kind == "geotiff":
            from .geotiff import require_gdal

            require_gdal(out)
    check_parent(out)
    check_output(out, overwrite=overwrite, inputs=inputs, flag="--overwrite")


@main.command()
@click.argument("src", type=click.Path())
@click.argument("out", type=click.Path())
@click.option(
    "--codec", type=click.Choice(["hevc", "av1", "vp9", "ffv1"]), default="hevc", show_default=True
)
@click.option(
    "--lossless", is_flag=True, help="Bit-exact (FFV1, or x265 lossless for <= 12-bit data)."
)
@click.option("--crf", type=float, help="Constant rate factor (lower = better quality, bigger).")
@click.option("--psnr", type=float, help="Target PSNR in dB that every chunk meets.")
@click.option("--max-error", type=float, help="Guaranteed absolute error bound, in data units.")
@click.option("--bpppb", type=float, help="Target rate in bits per pixel per band.")
@click.option("--chunks", help="Chunk sizes, e.g. time=32,y=256,x=256.")
@click.option(
    "--klt", is_flag=True, help="Lossy: code the bands of a chunk as principal components."
)
@click.option(
    "--reorder-frames",
    is_flag=True,
    help="Code the dates of a chunk in similarity order (cloudy series in long time chunks).",
)
@click.option(
    "--mask",
    help="Store these pixels as missing, e.g. cloud_mask (non-zero) or SCL=3,8,9,10 (classes).",
)
@click.option(
    "--variable", "variables", multiple=True, help="Variable to compress (repeatable; default all)."
)
@_overwrite
def compress(
    src: str,
    out: str,
    codec: str,
    lossless: bool,
    crf: float | None,
    psnr: float | None,
    max_error: float | None,
    bpppb: float | None,
    chunks: str | None,
    klt: bool,
    reorder_frames: bool,
    mask: str | None,
    variables: tuple[str, ...],
    overwrite: bool,
) -> None:
    """Compress SRC (netCDF/Zarr/GeoTIFF) into the video-coded Zarr store OUT, then report."""
    targets = {
        k: v
        for k, v in {"crf": crf, "psnr": psnr, "max_error": max_error, "bpppb": bpppb}.items()
        if v is not None
    }
    if lossless and targets or len(targets) > 1:
        raise click.UsageError("choose one of --lossless, --crf, --psnr, --max-error, --bpppb")
    options: dict[str, Any] = dict(targets)
    if klt:
        if lossless:
            raise click.UsageError("--klt is a lossy transform; drop --lossless or --klt")
        options["decorrelate"] = "klt"
    if reorder_frames:
        options["reorder_frames"] = True
    if lossless:
        options["lossless"] = True
        if codec == "hevc":
            codec = "ffv1"
    from .outputs import prepare_output
    from .pipeline import compress_dataset, compression_table

    parsed_chunks = _parse_chunks(chunks)
    _check_output(out, overwrite, src)
    ds = _require_variables(_open(src, chunks={}), variables, src)
    prepare_output(out, overwrite=overwrite, flag="--overwrite")
    result = compress_dataset(
        ds,
        out,
        codec=codec,
        codec_options=options,
        chunks=parsed_chunks,
        variables=list(variables) or None,
        mask=mask,
    )
    click.echo(compression_table(result["variables"]))
    click.echo(f"wrote {out} in {result['seconds']:.1f} s")


@main.command()
@click.argument("src", type=click.Path())
@click.argument("out", type=click.Path())
@_variables_option
@_overwrite
def decompress(src: str, out: str, variables: tuple[str, ...], overwrite: bool) -> None:
    """Decode the Zarr store SRC (video or not) into OUT: .nc/.nc4 netCDF, .zarr plain Zarr,
    .tif/.tiff Cloud-Optimised GeoTIFF (one dtype and nodata: choose with --variable)."""
    _check_output(out, overwrite, src)
    _write(_pick_variables(_open(src, chunks={}), variables, src), out, overwrite)
    click.echo(f"wrote {out}")


@main.command()
@click.argument("src", type=click.Path())
@click.argument("out", type=click.Path())
@click.option("--crs", "dst_crs", required=True, help="Target CRS, e.g. EPSG:4326.")
@click.option("--resolution", type=float, help="Output pixel size in target CRS units.")
@click.option(
    "--resampling",
    default="nearest",
    show_default=True,
    type=click.Choice(
        ["nearest", "bilinear", "cubic", "lanczos", "average", "mode", "min", "max", "median"]
    ),
)
@click.option("--tap", is_flag=True, help="Target-aligned pixels (gdalwarp -tap).")
@_variables_option
@_overwrite
def reproject(
    src: str, out: str, dst_crs: str, resolution: float | None, resampling: str, tap: bool,
    variables: tuple[str, ...], overwrite: bool,
) -> None:
    """Reproject every spatial variable of SRC (or those of --variable) to --crs and write OUT:
    .nc/.nc4 netCDF, .zarr Zarr, .tif/.tiff Cloud-Optimised GeoTIFF."""
    from .reproject import reproject as reproject_

    _check_output(out, overwrite, src)
    ds = _pick_variables(_open(src, chunks={}), variables, src)
    result = reproject_(
        ds, dst_crs, resolution=resolution, resampling=resampling, target_aligned_pixels=tap
    )
    _write(result, out, overwrite)
    click.echo(f"wrote {out}: {result.geo.grid!r}")


@main.command()
@click.argument("src", type=click.Path())
@click.argument("out", type=click.Path())
@click.option(
    "--index", "names", multiple=True, required=True, help="Index name (repeatable), e.g. NDVI."
)
@click.option("--sensor", help="Band preset: sentinel2, landsat8, landsat7, modis, rgbn, ...")
@click.option("--variable", help="Variable holding a band dim, if several.")
@_overwrite
def indices(
    src: str, out: str, names: tuple[str, ...], sensor: str | None, variable: str | None,
    overwrite: bool,
) -> None:
    """Compute spectral indices of SRC in one fused pass and write them to OUT: .nc/.nc4
    netCDF, .zarr Zarr, .tif/.tiff Cloud-Optimised GeoTIFF (one band per index and date)."""
    from .indices import compute_indices

    _check_output(out, overwrite, src)
    result = compute_indices(_open(src, chunks={}), list(names), sensor=sensor, variable=variable)
    _write(result, out, overwrite)
    click.echo(f"wrote {out}: {', '.join(result.data_vars)}")


@main.command()
@click.argument("src", type=click.Path())
@click.option("--size", type=int, default=256, show_default=True)
@click.option("--stride", type=int)
@click.option(
    "--boundary", type=click.Choice(["pad", "shift", "drop"]), default="pad", show_default=True
)
@click.option("--min-valid", type=float, default=0.0, show_default=True)
@click.option("--time", "time_window", type=int, help="Time-series chips of this many steps.")
@click.option("--variable", help="Variable holding a band dim, if several.")
@click.option("--out", required=True, type=click.Path(), help="chips.csv or chips.parquet")
@_overwrite
def chips(
    src: str,
    size: int,
    stride: int | None,
    boundary: str,
    min_valid: float,
    time_window: int | None,
    variable: str | None,
    out: str,
    overwrite: bool,
) -> None:
    """Index the chips of SRC and write one row per chip (window, bounds, validity) to --out."""
    from .chips import make_chips
    from .outputs import prepare_output

    if not out.lower().endswith((".csv", ".parquet")):
        raise click.BadParameter("--out must end in .csv or .parquet")
    _check_output(out, overwrite, src)
    grid = make_chips(
        _open(src),
        size,
        stride,
        boundary=boundary,
        min_valid=min_valid,
        time=time_window,
        variable=variable,
    )
    frame = grid.to_dataframe()
    prepare_output(out, overwrite=overwrite, flag="--overwrite")
    if out.lower().endswith(".parquet"):
        try:
            frame.to_parquet(out)
        except ImportError as exc:
            raise ImportError(
                f"writing Parquet needs pyarrow (pip install pyarrow), or use a .csv path: {exc}"
            ) from exc
    else:
        if "geometry" in frame:
            frame = frame.assign(geometry=frame.geometry.to_wkt())
        frame.to_csv(out, index=False)
    click.echo(f"wrote {len(frame)} chips to {out}")


@main.command()
@click.option(
    "--out",
    "out_dir",
    default="xgeo-demo",
    show_default=True,
    type=click.Path(),
    help="Folder for the Zarr store and the quicklook PNGs.",
)
@click.option("--crf", type=float, default=None, help="Video quality (default: the codec's).")
@click.option(
    "--overwrite", is_flag=True, help="Replace the demo's own store and PNGs if they exist."
)
def demo(out_dir: str, crf: float | None, overwrite: bool) -> None:
    """The whole pipeline on the bundled real Sentinel-2 cube, with a summary and quicklooks.

    Writes OUT/cube.zarr and four PNGs; other files in OUT are never touched.
    """
    from .outputs import check_output
    from .pipeline import demo_outputs, run_demo

    check_output(*demo_outputs(out_dir), overwrite=overwrite, flag="--overwrite")
    click.echo(run_demo(out_dir, crf=crf, overwrite=overwrite))


@main.command()
@click.argument("store", type=click.Path())
def verify(store: str) -> None:
    """Check every chunk of the Zarr STORE against the sizes and digests its writer recorded.

    Prints one line per missing or changed chunk, then a summary; exits with status 1
    when anything is wrong. Stores without records (written in memory, or by older xgeo)
    are checked as far as possible and the notes say what was not.
    """
    from pathlib import Path

    from .verify import verify_store

    if "://" not in store and not Path(store).exists() and not Path(store + ".progress").exists():
        raise FileNotFoundError(f"no such Zarr store: {store}")
    report = verify_store(store)
    for line in report.problems:
        click.echo(line)
    for line in report.notes:
        click.echo(f"note: {line}")
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
