"""The ``xgeo`` command line.

Errors users can fix (wrong path, bad CRS, undecodable file) print one line and
exit with status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click
import xgeo_codecs.errors

from ._cli_options import (
    categorical_options,
    categorical_spec,
    check_chunk_dims,
    open_input,
    overwrite_option,
    parse_chunks,
    parse_formulas,
    pick_variables,
    require_variables,
    resume_option,
    variables_option,
)
from ._cli_output import check_command_output, progress, write_or_resume
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


def _spell_fixes_as_flags() -> None:
    """For this command, messages that suggest a fix name --resume/--overwrite, not Python
    arguments (see xgeo.spelling)."""
    from .spelling import cli_spelling

    click.get_current_context().with_resource(cli_spelling())


def _band_weights(value: str) -> str | list[float] | None:
    """``--band-weights``: robust, range, none, or comma-separated numbers (one per band)."""
    if value in ("robust", "range"):
        return value
    if value == "none":
        return None
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: use robust, range, none, or one number per band separated by "
            "commas (e.g. 40,35,22,20)", param_hint="--band-weights") from None


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
    "--klt/--no-klt",
    default=None,
    help="Lossy: code the bands of a chunk as principal components, or never (default: "
    "measured per chunk).",
)
@click.option(
    "--band-weights",
    default="robust",
    show_default=True,
    callback=lambda ctx, param, value: _band_weights(value),
    help="How the KLT weighs bands: robust (1 / the spread of their 1st-99th percentiles: "
    "each band keeps its own relative error; a few extreme pixels do not count), range "
    "(1 / their range), none (data units: lowest whole-cube MSE), or one number per band, "
    "comma-separated, e.g. 1 / the std your model normalises each band by.",
)
@click.option(
    "--reorder-frames/--no-reorder-frames",
    default=None,
    help="Code the dates of a chunk in similarity order, or never (default: measured per "
    "chunk).",
)
@click.option(
    "--effort",
    type=click.Choice(["fast", "default", "max"]),
    default="default",
    show_default=True,
    help="Encoder effort (x265 preset faster / medium / slower; max measures more).",
)
@click.option(
    "--keyint",
    type=click.IntRange(min=1),
    help="Code the dates of a chunk as independent groups of N frames, so a read of a few "
    "dates decodes only their groups (a few per cent more bytes; default: one group).",
)
@click.option(
    "--mask",
    help="Store these pixels as missing, e.g. cloud_mask (non-zero) or SCL=3,8,9,10 (classes).",
)
@click.option(
    "--variable", "variables", multiple=True, help="Variable to compress (repeatable; default all)."
)
@categorical_options
@overwrite_option
@resume_option
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
    klt: bool | None,
    band_weights: str | list[float] | None,
    reorder_frames: bool | None,
    effort: str,
    keyint: int | None,
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
    if klt is not None:
        if lossless and klt:
            raise click.UsageError("--klt is a lossy transform; drop --lossless or --klt")
        options["decorrelate"] = "klt" if klt else None
    options["band_weights"] = band_weights
    if reorder_frames is not None:
        options["reorder_frames"] = reorder_frames
    if effort != "default":
        options["effort"] = effort
    if keyint is not None:
        options["keyint"] = keyint
    if lossless:
        options["lossless"] = True
        if codec == "hevc":
            codec = "ffv1"
    from .outputs import prepare_output, removed_on_error
    from .pipeline import compress_dataset, compression_table

    parsed_chunks = parse_chunks(chunks)
    spec = categorical_spec(categorical, continuous)
    check_command_output(out, overwrite, src, resume=resume)
    ds = require_variables(open_input(src, chunks={}), variables, src)
    check_chunk_dims(parsed_chunks, ds, src)
    if not resume:
        prepare_output(out, overwrite=overwrite, flag="--overwrite")
    with contextlib.nullcontext() if resume else removed_on_error(out):
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
@variables_option
@overwrite_option
@resume_option
def decompress(
    src: str, out: str, variables: tuple[str, ...], overwrite: bool, resume: bool
) -> None:
    """Decode the Zarr store SRC (video or not) into OUT: .nc/.nc4 netCDF, .zarr plain Zarr,
    .tif/.tiff Cloud-Optimised GeoTIFF (one dtype and nodata: choose with --variable)."""
    check_command_output(out, overwrite, src, resume=resume)
    write_or_resume(pick_variables(open_input(src, chunks={}), variables, src), out, overwrite,
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
@categorical_options
@variables_option
@overwrite_option
@resume_option
def reproject(
    src: str, out: str, dst_crs: str, resolution: float | None, resampling: str | None, tap: bool,
    categorical: tuple[str, ...], continuous: tuple[str, ...], variables: tuple[str, ...],
    overwrite: bool, resume: bool,
) -> None:
    """Reproject every spatial variable of SRC (or those of --variable) to --crs and write OUT:
    .nc/.nc4 netCDF, .zarr Zarr, .tif/.tiff Cloud-Optimised GeoTIFF."""
    from .reproject import reproject as reproject_

    spec = categorical_spec(categorical, continuous)
    check_command_output(out, overwrite, src, resume=resume)
    ds = pick_variables(open_input(src, chunks={}), variables, src)
    result = reproject_(
        ds, dst_crs, resolution=resolution, resampling=resampling, target_aligned_pixels=tap,
        categorical=spec,
    )
    write_or_resume(result, out, overwrite, resume)
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
@overwrite_option
@resume_option
def indices(
    src: str, out: str, names: tuple[str, ...], formulas: tuple[str, ...], sensor: str | None,
    variable: str | None, overwrite: bool, resume: bool,
) -> None:
    """Compute spectral indices of SRC in one fused pass and write them to OUT: .nc/.nc4
    netCDF, .zarr Zarr, .tif/.tiff Cloud-Optimised GeoTIFF (one band per index and date)."""
    from .indices import compute_indices

    request = [*names, *parse_formulas(formulas)]
    if not request:
        raise click.UsageError("give at least one --index NAME or --formula NAME=FORMULA "
                               "(e.g. --index NDVI --formula 'MY=(N - R) / (N + R + 0.1)')")
    check_command_output(out, overwrite, src, resume=resume)
    result = compute_indices(open_input(src, chunks={}), request, sensor=sensor, variable=variable)
    write_or_resume(result, out, overwrite, resume)
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
@overwrite_option
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
    check_command_output(out, overwrite, src)
    grid = make_chips(
        open_input(src),
        size,
        stride,
        boundary=boundary,
        min_valid=min_valid,
        time=time_window,
        variable=variable,
    )
    import pandas as pd

    prepare_output(out, overwrite=overwrite, flag="--overwrite")
    if out.lower().endswith(".parquet"):  # the GeoParquet chip index (xgeo.chipindex)
        grid.to_parquet(out)
    else:
        frame = grid.to_dataframe()
        if "geometry" in frame:  # WKT text in a plain table (a GeoDataFrame warns on text)
            frame = pd.DataFrame(frame).assign(geometry=frame.geometry.to_wkt())
        frame.to_csv(out, index=False)
    click.echo(f"wrote {len(grid)} chips to {out}")


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
    when anything is wrong. Stores without records (written by other tools, appended to, or by older xgeo)
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
@overwrite_option
def preview(
    store: str, out: str, variable: str | None, index_name: str | None, bands: str | None,
    cmap: str, fps: float, codec: str, overwrite: bool,
) -> None:
    """Write a video of the time series in STORE (any input xgeo reads): true colour, or one
    band/index with a colormap, stretched once over all dates, the date in each frame."""
    from .outputs import check_output
    from .preview import to_video

    check_output(out, overwrite=overwrite, inputs=(store,), flag="--overwrite")
    ds = open_input(store, chunks={})
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


@main.command()
@click.argument("scenes", nargs=-1, required=True)
@click.option("--out", required=True, type=click.Path(), help="Output folder.")
@click.option("--labels", type=click.Path(), help="Vector labels (GeoPackage, GeoJSON, ...).")
@click.option("--label-column", default="name", show_default=True, help="Column of the class.")
@click.option("--mask", type=click.Choice(["qa", "scl", "fmask"]),
              help="Leave out pixels flagged by this quality band (QA_PIXEL, SCL, Fmask).")
@click.option("--mask-band", help="Name of the quality band, if not the usual one.")
@click.option("--composite", help="Composite per period, e.g. 1MS (monthly), QS, 1YS.")
@click.option("--composite-method", type=click.Choice(["median", "mean", "max_ndvi"]),
              default="median", show_default=True)
@click.option("--chip", type=int, default=256, show_default=True, help="Chip size in pixels.")
@click.option("--stride", type=int, help="Chip step in pixels [default: the chip size].")
@click.option("--min-valid", type=float, default=0.0, show_default=True)
@click.option("--split", default="0.7,0.15,0.15", show_default=True,
              help="train,val,test fractions (spatially blocked).")
@click.option("--block", type=int, help="Split block size in pixels [default: 4 chips].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--codec", type=click.Choice(["hevc", "av1", "vp9", "ffv1"]), default="hevc",
              show_default=True)
@click.option("--psnr", type=float, default=50.0, show_default=True,
              help="Target PSNR in dB every chunk meets (labels are stored exactly).")
@click.option("--pattern", help="Regex with named groups time and band, matched on file names.")
@click.option("--time-format", help="strptime format of the pattern's time group, e.g. %Y%j.")
@click.option("--time", "when", help="One date for scenes that carry none (ISO, e.g. 2020-05-18).")
@click.option("--crs", help="Output CRS [default: the scenes' most common].")
@click.option("--resolution", type=float, help="Output pixel size [default: the finest band's].")
@overwrite_option
def prepare(scenes: tuple[str, ...], out: str, labels: str | None, label_column: str,
            mask: str | None, mask_band: str | None, composite: str | None,
            composite_method: str, chip: int, stride: int | None, min_valid: float, split: str,
            block: int | None, seed: int, codec: str, psnr: float, pattern: str | None,
            time_format: str | None, when: str | None, crs: str | None,
            resolution: float | None, overwrite: bool) -> None:
    """Stack SCENES (files, globs, STAC JSON), mask, composite, label, chip and split them,
    and write the compressed store, chips.parquet and a dataset card into --out."""
    from .outputs import prepare_output
    from .prepare import OUTPUT_NAMES
    from .prepare import prepare as run_prepare

    try:
        fractions = [float(v) for v in split.split(",")]
    except ValueError:
        raise click.BadParameter(f"{split!r} is not numbers separated by commas",
                                 param_hint="--split") from None
    stack_options = {k: v for k, v in {"pattern": pattern, "time_format": time_format,
                                        "time": when, "crs": crs,
                                        "resolution": resolution}.items() if v is not None}
    prepare_output(*(f"{out}/{name}" for name in OUTPUT_NAMES), overwrite=overwrite,
                   flag="--overwrite")
    with progress():
        card = run_prepare(
            list(scenes), out, labels=labels, label_column=label_column, mask=mask,
            mask_band=mask_band, composite=composite, composite_method=composite_method,
            chip=chip, stride=stride, split=fractions, block=block, seed=seed,
            min_valid=min_valid, codec=codec, codec_options={"psnr": psnr},
            stack_options=stack_options, overwrite=overwrite, progress=False,
            command=" ".join(["xgeo", *sys.argv[1:]]),
            log=lambda line: click.echo(f"xgeo prepare: {line}", err=True),
        )
    counts = ", ".join(f"{k} {v}" for k, v in card["chips"]["count"].items())
    click.echo(f"wrote {out}: {counts} chips; dataset card {out}/README.md")


if __name__ == "__main__":  # pragma: no cover
    main()
