"""The ``xgeo`` command line.

Errors users can fix (wrong path, bad CRS, undecodable file) print one line and
exit with status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import xgeo_codecs.errors

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
            xgeo_codecs.errors.CodecError,  # raised by the codec package (xgeo's subclasses it)
        ) as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(f"xgeo: error: {exc}", err=True)
            sys.exit(1)
        finally:
            warnings.formatwarning = original


@click.group(cls=_FriendlyErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="xgeo")
def main(debug: bool) -> None:
    """xgeo: satellite datacubes cheap to store and fast to learn from."""
    _spell_fixes_as_flags()


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


def _categorical_options(func: Any) -> Any:
    """``--categorical NAME`` / ``--continuous NAME`` (repeatable): override the per-variable
    decision of :mod:`xgeo.categorical` for those variables."""
    func = click.option(
        "--continuous", "continuous", multiple=True, metavar="NAME",
        help="Treat this variable as continuous data (interpolated, lossy); repeatable.",
    )(func)
    return click.option(
        "--categorical", "categorical", multiple=True, metavar="NAME",
        help="Treat this variable as classes/mask (nearest or mode, stored exactly); "
        "repeatable. Default: decided per variable (CF flags, dtype, measured values).",
    )(func)


def _categorical_spec(categorical: tuple[str, ...], continuous: tuple[str, ...]) -> Any:
    """The ``categorical=`` mapping of ``--categorical`` / ``--continuous`` (None: decide all)."""
    both = sorted(set(categorical) & set(continuous))
    if both:
        raise click.UsageError(f"{', '.join(both)} given to both --categorical and --continuous")
    spec = {**dict.fromkeys(categorical, True), **dict.fromkeys(continuous, False)}
    return spec or None


_resume = click.option(
    "--resume",
    is_flag=True,
    help="Finish an interrupted write of the Zarr store OUT (run the same command again with "
    "it): chunks already written are kept, the data must be the same.",
)


def _spell_fixes_as_flags() -> None:
    """For this command, messages that suggest a fix name --resume/--overwrite, not Python
    arguments (see xgeo.spelling)."""
    from .spelling import cli_spelling

    click.get_current_context().with_resource(cli_spelling())


def _write_or_resume(ds: Any, out: str, overwrite: bool, resume: bool) -> None:
    """:func:`_write`, or with --resume, finish (or start) the lazy Zarr write of OUT."""
    if not resume:
        _write(ds, out, overwrite)
        return
    from .io import to_zarr

    to_zarr(ds, out, resume=True)


def _check_chunk_dims(chunks: dict[str, int] | None, ds: Any, src: str) -> None:
    """--chunks may only name dims the data has (an unknown one would be ignored)."""
    from .errors import CodecError

    unknown = [d for d in chunks or {} if d not in ds.dims]
    if unknown:
        raise CodecError(
            f"--chunks {','.join(f'{d}={chunks[d]}' for d in unknown)}: {src} has no "
            f"dimension {', '.join(map(repr, unknown))}; its dimensions are "
            f"{', '.join(map(str, ds.dims))}"
        )


def _check_output(
    out: str, overwrite: bool, *inputs: str, resume: bool | None = None
) -> None:
    """Before any work: refuse an extension the command does not write, an output whose
    directory does not exist, an existing output unless --overwrite (naming --resume for an
    interrupted one where the command has it), and an output that is an input or a directory
    other than a Zarr store even with it; with --resume, check that OUT can be resumed (a Zarr
    store, or nothing yet). Nothing is removed yet."""
    from .outputs import check_output, check_parent, output_format

    ctx = click.get_current_context(silent=True)
    formats = _COMMAND_OUTPUTS.get(ctx.command.name if ctx is not None else "")
    if formats is not None:
        kind = output_format(out, formats)
        if kind == "geotiff":
            from .geotiff import require_gdal

            require_gdal(out)
    check_parent(out)
    if not resume:
        check_output(out, overwrite=overwrite, inputs=inputs, flag="--overwrite",
                     resume_flag="--resume" if resume is not None else None)
        return
    from pathlib import Path

    from .store import progress_path

    if overwrite:
        raise click.UsageError("--resume finishes a write and --overwrite starts it over: "
                               "choose one")
    name = out.rstrip("/").lower()
    if not name.endswith(".zarr") and not Path(progress_path(out)).exists():
        raise click.UsageError(f"--resume finishes an interrupted Zarr write; {out} is not a "
                               ".zarr store")
    check_output(out, overwrite=True, inputs=inputs, flag="--overwrite")  # removes nothing


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
@_categorical_options
@_overwrite
@_resume
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
    categorical: tuple[str, ...],
    continuous: tuple[str, ...],
    overwrite: bool,
    resume: bool,
) -> None:
    """Compress SRC (netCDF/Zarr/GeoTIFF) into the video-coded Zarr store OUT, then report.

    Categorical variables (class maps, masks) are stored exactly whatever the quality
    options; the table's kind column says what each variable was taken for."""
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
    spec = _categorical_spec(categorical, continuous)
    _check_output(out, overwrite, src, resume=resume)
    ds = _require_variables(_open(src, chunks={}), variables, src)
    _check_chunk_dims(parsed_chunks, ds, src)
    if not resume:
        prepare_output(out, overwrite=overwrite, flag="--overwrite")
    result = compress_dataset(
        ds,
        out,
        codec=codec,
        codec_options=options,
        chunks=parsed_chunks,
        variables=list(variables) or None,
        mask=mask,
        categorical=spec,
        resume=resume,
    )
    click.echo(compression_table(result["variables"]))
    click.echo(f"wrote {out} in {result['seconds']:.1f} s")


@main.command()
@click.argument("src", type=click.Path())
@click.argument("out", type=click.Path())
@_variables_option
@_overwrite
@_resume
def decompress(
    src: str, out: str, variables: tuple[str, ...], overwrite: bool, resume: bool
) -> None:
    """Decode the Zarr store SRC (video or not) into OUT: .nc/.nc4 netCDF, .zarr plain Zarr,
    .tif/.tiff Cloud-Optimised GeoTIFF (one dtype and nodata: choose with --variable)."""
    _check_output(out, overwrite, src, resume=resume)
    _write_or_resume(_pick_variables(_open(src, chunks={}), variables, src), out, overwrite,
                     resume)
    click.echo(f"wrote {out}")


@main.command()
@click.argument("src", type=click.Path())
@click.argument("out", type=click.Path())
@click.option("--crs", "dst_crs", required=True, help="Target CRS, e.g. EPSG:4326.")
@click.option("--resolution", type=float, help="Output pixel size in target CRS units.")
@click.option(
    "--resampling",
    default=None,
    help="Resampling of continuous variables [default: nearest]; categorical ones get "
    "nearest, or mode when the output is coarser.",
    type=click.Choice(
        ["nearest", "bilinear", "cubic", "lanczos", "average", "mode", "min", "max", "median"]
    ),
)
@click.option("--tap", is_flag=True, help="Target-aligned pixels (gdalwarp -tap).")
@_categorical_options
@_variables_option
@_overwrite
@_resume
def reproject(
    src: str, out: str, dst_crs: str, resolution: float | None, resampling: str | None, tap: bool,
    categorical: tuple[str, ...], continuous: tuple[str, ...], variables: tuple[str, ...],
    overwrite: bool, resume: bool,
) -> None:
    """Reproject every spatial variable of SRC (or those of --variable) to --crs and write OUT:
    .nc/.nc4 netCDF, .zarr Zarr, .tif/.tiff Cloud-Optimised GeoTIFF."""
    from .reproject import reproject as reproject_

    spec = _categorical_spec(categorical, continuous)
    _check_output(out, overwrite, src, resume=resume)
    ds = _pick_variables(_open(src, chunks={}), variables, src)
    result = reproject_(
        ds, dst_crs, resolution=resolution, resampling=resampling, target_aligned_pixels=tap,
        categorical=spec,
    )
    _write_or_resume(result, out, overwrite, resume)
    click.echo(f"wrote {out}: {result.geo.grid!r}")


@main.command()
@click.argument("src", type=click.Path())
@click.argument("out", type=click.Path())
@click.option("--index", "names", multiple=True, help="Index name (repeatable), e.g. NDVI.")
@click.option(
    "--formula", "formulas", multiple=True, metavar="NAME=FORMULA",
    help="Your own index (repeatable), e.g. 'MY=(N - R) / (N + R + 0.1)': catalog band "
    "symbols (N, R, G, B, RE1, S1...), numbers, + - * / **, exp log sqrt abs tanh.",
)
@click.option("--sensor", help="Band preset: sentinel2, landsat8, landsat7, modis, rgbn, ...")
@click.option("--variable", help="Variable holding a band dim, if several.")
@_overwrite
@_resume
def indices(
    src: str, out: str, names: tuple[str, ...], formulas: tuple[str, ...], sensor: str | None,
    variable: str | None, overwrite: bool, resume: bool,
) -> None:
    """Compute spectral indices of SRC in one fused pass and write them to OUT: .nc/.nc4
    netCDF, .zarr Zarr, .tif/.tiff Cloud-Optimised GeoTIFF (one band per index and date)."""
    from .indices import compute_indices

    request = [*names, *_parse_formulas(formulas)]
    if not request:
        raise click.UsageError("give at least one --index NAME or --formula NAME=FORMULA "
                               "(e.g. --index NDVI --formula 'MY=(N - R) / (N + R + 0.1)')")
    _check_output(out, overwrite, src, resume=resume)
    result = compute_indices(_open(src, chunks={}), request, sensor=sensor, variable=variable)
    _write_or_resume(result, out, overwrite, resume)
    click.echo(f"wrote {out}: {', '.join(result.data_vars)}")


def _parse_formulas(formulas: tuple[str, ...]) -> list[dict[str, str]]:
    """``--formula NAME=FORMULA`` values as ``{name: formula}`` dicts, in the order given."""
    out = []
    for text in formulas:
        name, sep, formula = text.partition("=")
        if not sep or not name.strip() or not formula.strip():
            raise click.BadParameter(
                f"expected NAME=FORMULA (e.g. 'MY=(N - R) / (N + R + 0.1)'), got {text!r}",
                param_hint="--formula",
            )
        out.append({name.strip(): formula.strip()})
    return out


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


@main.command()
@click.argument("store", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="series.mp4 or series.gif")
@click.option("--variable", help="Variable to show (with a band dim, or a single band).")
@click.option("--index", "index_name", help="Show this spectral index (e.g. NDVI) instead.")
@click.option("--bands", help="Red,green,blue band labels [default: B04,B03,B02], or one band.")
@click.option("--cmap", default="viridis", show_default=True, help="Colormap of one band.")
@click.option("--fps", type=float, default=2.0, show_default=True, help="Dates per second.")
@click.option("--codec", type=click.Choice(["h264", "hevc"]), default="h264", show_default=True)
@_overwrite
def preview(
    store: str, out: str, variable: str | None, index_name: str | None, bands: str | None,
    cmap: str, fps: float, codec: str, overwrite: bool,
) -> None:
    """Write a video of the time series in STORE (any input xgeo reads): true colour, or one
    band/index with a colormap, stretched once over all dates, the date in each frame."""
    from .outputs import check_output
    from .preview import to_video

    check_output(out, overwrite=overwrite, inputs=(store,), flag="--overwrite")
    ds = _open(store, chunks={})
    if variable is not None and variable not in ds.data_vars:
        raise click.BadParameter(
            f"no variable {variable!r} in {store}; variables: {', '.join(map(str, ds.data_vars))}",
            param_hint="--variable",
        )
    kwargs: dict[str, Any] = {}
    if bands:
        kwargs["bands"] = [b.strip() for b in bands.split(",") if b.strip()]
    path = to_video(
        ds, out, variable=variable, index=index_name, cmap=cmap, fps=fps, codec=codec,
        overwrite=overwrite, **kwargs,
    )
    click.echo(f"wrote {path}: {ds.sizes.get('time', 0)} frames at {fps:g} fps")


if __name__ == "__main__":  # pragma: no cover
    main()
