"""The ``xgeo`` command line's outputs (internal to :mod:`xgeo.cli`).

Which formats each command writes, the checks made on OUT before any work
(:func:`check_command_output`), and the write itself by OUT's extension (:func:`write_output`,
:func:`write_or_resume`): netCDF, Zarr or Cloud-Optimised GeoTIFF, with the source's
Zarr-only encodings dropped and a progress bar on a terminal.
"""

from __future__ import annotations

import sys
from typing import Any

import click

__all__ = [
    "COMMAND_OUTPUTS", "check_command_output", "netcdf_safe", "progress", "write_or_resume",
    "write_output", "zarr_plain",
]

#: The formats each command writes (by extension, see xgeo.outputs.output_format).
COMMAND_OUTPUTS = {
    "compress": ("zarr",),
    "decompress": ("netcdf", "zarr", "geotiff"),
    "reproject": ("netcdf", "zarr", "geotiff"),
    "indices": ("netcdf", "zarr", "geotiff"),
}

#: The encodings a plain Zarr output keeps (see :func:`zarr_plain`).
_CF_ENCODING = ("_FillValue", "missing_value", "dtype", "scale_factor", "add_offset", "units",
                "calendar", "grid_mapping")


def check_command_output(
    out: str, overwrite: bool, *inputs: str, resume: bool | None = None
) -> None:
    """Before any work: refuse an extension the command does not write, an output whose
    directory does not exist, an existing output unless --overwrite (naming --resume for an
    interrupted one where the command has it), and an output that is an input or a directory
    other than a Zarr store even with it; with --resume, check that OUT can be resumed (a Zarr
    store, or nothing yet). Nothing is removed yet.

    Parameters
    ----------
    out : str
        The output path.
    overwrite : bool
        Whether --overwrite was given.
    *inputs : str
        The command's input paths (OUT may not be one of them).
    resume : bool or None, optional
        Whether --resume was given; None for a command without the option.

    Raises
    ------
    click.UsageError
        --resume with --overwrite, or --resume of something that is not a Zarr store.
    xgeo.errors.XgeoError, FileExistsError, FileNotFoundError
        From :mod:`xgeo.outputs`: see :func:`xgeo.outputs.check_output`.

    Examples
    --------
    >>> import tempfile
    >>> check_command_output(tempfile.mkdtemp() + "/out.zarr", False, "in.nc")
    """
    from .outputs import check_output, check_parent, output_exists, output_format

    ctx = click.get_current_context(silent=True)
    formats = COMMAND_OUTPUTS.get(ctx.command.name if ctx is not None else "")
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
    from .store import progress_path

    if overwrite:
        raise click.UsageError("--resume finishes a write and --overwrite starts it over: "
                               "choose one")
    name = out.rstrip("/").lower()
    if not name.endswith(".zarr") and not output_exists(progress_path(out)):
        raise click.UsageError(f"--resume finishes an interrupted Zarr write; {out} is not a "
                               ".zarr store")
    check_output(out, overwrite=True, inputs=inputs, flag="--overwrite")  # removes nothing


def write_output(ds: Any, out: str, overwrite: bool, **zarr_kwargs: Any) -> None:
    """Write by OUT's extension: netCDF (.nc, .nc4), Zarr (.zarr) or GeoTIFF (.tif, .tiff: COG
    layout), grid and nodata kept, with a progress bar on a TTY; an existing OUT is removed
    (with --overwrite) only now, when the result is ready to write.

    Parameters
    ----------
    ds : xarray.Dataset
        The result to write.
    out : str
        The output path; its extension picks the format.
    overwrite : bool
        Whether --overwrite was given.
    **zarr_kwargs
        Passed on to :func:`xgeo.io.to_zarr` (``mode`` defaults to ``"w-"``).

    Examples
    --------
    >>> import tempfile, xarray as xr
    >>> out = tempfile.mkdtemp() + "/out.zarr"
    >>> write_output(xr.Dataset({"r": ("x", [1, 2])}), out, overwrite=False)
    >>> xr.open_zarr(out)["r"].values.tolist()
    [1, 2]
    """
    from .io import to_geotiff, to_netcdf, to_zarr
    from .outputs import output_format, prepare_output, removed_on_error

    kind = output_format(out)
    prepare_output(out, overwrite=overwrite, flag="--overwrite")
    with removed_on_error(out):
        if kind == "netcdf":
            ds = netcdf_safe(ds)
            with progress():
                to_netcdf(ds, out)
        elif kind == "geotiff":
            with progress():
                to_geotiff(ds, out)
        else:
            to_zarr(zarr_plain(ds), out, mode=zarr_kwargs.pop("mode", "w-"), **zarr_kwargs)


def write_or_resume(ds: Any, out: str, overwrite: bool, resume: bool) -> None:
    """:func:`write_output`, or with --resume, finish (or start) the lazy Zarr write of OUT.

    Parameters
    ----------
    ds : xarray.Dataset
        The result to write.
    out : str
        The output path.
    overwrite, resume : bool
        Whether --overwrite and --resume were given.

    Examples
    --------
    >>> import tempfile, xarray as xr
    >>> out = tempfile.mkdtemp() + "/out.zarr"
    >>> lazy = xr.Dataset({"r": ("x", [1, 2])}).chunk()
    >>> write_or_resume(lazy, out, overwrite=False, resume=True)
    >>> xr.open_zarr(out)["r"].values.tolist()
    [1, 2]
    """
    if not resume:
        write_output(ds, out, overwrite)
        return
    from .io import to_zarr

    to_zarr(ds, out, resume=True)


def progress() -> Any:
    """dask's progress bar on a terminal, nothing otherwise.

    Returns
    -------
    contextlib.AbstractContextManager
        A :class:`dask.diagnostics.ProgressBar` when stderr is a TTY, else a null context.

    Examples
    --------
    >>> with progress():
    ...     pass
    """
    from contextlib import nullcontext

    if sys.stderr.isatty():
        from dask.diagnostics import ProgressBar

        return ProgressBar()
    return nullcontext()


def netcdf_safe(ds: Any) -> Any:
    """Drop Zarr-only encodings (serializers, compressors) that the netCDF writer rejects, and
    spell a native byte order as native (Zarr v3 reports ``<u2``; netCDF4 warns about it).

    Parameters
    ----------
    ds : xarray.Dataset

    Returns
    -------
    xarray.Dataset
        A shallow copy with the netCDF-safe encodings only.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"r": ("x", [1, 2])})
    >>> ds["r"].encoding = {"compressors": ("zstd",), "_FillValue": 0}
    >>> netcdf_safe(ds)["r"].encoding
    {'_FillValue': 0}
    """
    import numpy as np

    keep = ("_FillValue", "dtype", "scale_factor", "add_offset", "units", "calendar",
            "_Unsigned", "grid_mapping")  # (without _Unsigned packed data decode wrong,
    # without grid_mapping the CRS is lost)
    out = ds.copy()
    for var in out.variables.values():
        var.encoding = {k: v for k, v in var.encoding.items() if k in keep}
        dtype = var.encoding.get("dtype")
        if isinstance(dtype, np.dtype) and dtype.isnative and dtype.byteorder not in "=|":
            var.encoding["dtype"] = dtype.newbyteorder("=")
    return out


def zarr_plain(ds: Any) -> Any:
    """Keep only the CF part of the encodings: a decompressed store must not inherit the
    source's video serializer, compressors or chunking.

    Parameters
    ----------
    ds : xarray.Dataset

    Returns
    -------
    xarray.Dataset
        A shallow copy with the CF encodings only.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"r": ("x", [1, 2])})
    >>> ds["r"].encoding = {"serializer": "video", "chunks": (1,), "units": "m"}
    >>> zarr_plain(ds)["r"].encoding
    {'units': 'm'}
    """
    from .nodata import as_unsigned

    out = ds.copy()
    for var in out.variables.values():  # Zarr has no _Unsigned: the unsigned type instead
        var.encoding = {k: v for k, v in as_unsigned(var.encoding, var.dtype).items()
                        if k in _CF_ENCODING}
    return out
