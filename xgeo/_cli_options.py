"""The ``xgeo`` command line's inputs and shared options (internal to :mod:`xgeo.cli`).

Opening SRC, the click options several commands share (``--overwrite``, ``--resume``,
``--variable``, ``--categorical``/``--continuous``) and the parsing and checks of option
values (``--chunks``, ``--formula``, ``--variable``) against the input. Bad values are
click usage errors or typed :mod:`xgeo.errors`, which :mod:`xgeo.cli` prints as one line.
"""

from __future__ import annotations

from typing import Any

import click

__all__ = [
    "categorical_options", "categorical_spec", "check_chunk_dims", "open_input",
    "overwrite_option", "parse_chunks", "parse_formulas", "pick_variables",
    "require_variables", "resume_option", "variables_option",
]

overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace the output if it exists (only the output itself)."
)
variables_option = click.option(
    "--variable", "variables", multiple=True,
    help="Variable to write (repeatable; default all). A GeoTIFF holds one dtype and nodata.",
)
resume_option = click.option(
    "--resume",
    is_flag=True,
    help="Finish an interrupted write of the Zarr store OUT (run the same command again with "
    "it): chunks already written are kept, the data must be the same.",
)


def categorical_options(func: Any) -> Any:
    """``--categorical NAME`` / ``--continuous NAME`` (repeatable): override the per-variable
    decision of :mod:`xgeo.categorical` for those variables.

    Parameters
    ----------
    func : callable
        The click command (or a function on its way to becoming one).

    Returns
    -------
    callable
        ``func`` with both options added; read them with :func:`categorical_spec`.

    Examples
    --------
    >>> @click.command()
    ... @categorical_options
    ... def cmd(categorical, continuous):
    ...     pass
    >>> sorted(p.name for p in cmd.params)
    ['categorical', 'continuous']
    """
    func = click.option(
        "--continuous", "continuous", multiple=True, metavar="NAME",
        help="Treat this variable as continuous data (interpolated, lossy); repeatable.",
    )(func)
    return click.option(
        "--categorical", "categorical", multiple=True, metavar="NAME",
        help="Treat this variable as classes/mask (nearest or mode, stored exactly); "
        "repeatable. Default: decided per variable (CF flags, dtype, measured values).",
    )(func)


def categorical_spec(categorical: tuple[str, ...], continuous: tuple[str, ...]) -> Any:
    """The ``categorical=`` mapping of ``--categorical`` / ``--continuous`` (None: decide all).

    Parameters
    ----------
    categorical, continuous : tuple of str
        The names given to ``--categorical`` and to ``--continuous``.

    Returns
    -------
    dict of str to bool or None
        ``{name: True}`` for categorical names, ``{name: False}`` for continuous ones; None
        when neither option was given.

    Raises
    ------
    click.UsageError
        A name given to both options.

    Examples
    --------
    >>> categorical_spec(("SCL",), ("B04",))
    {'SCL': True, 'B04': False}
    >>> categorical_spec((), ()) is None
    True
    """
    both = sorted(set(categorical) & set(continuous))
    if both:
        raise click.UsageError(f"{', '.join(both)} given to both --categorical and --continuous")
    spec = {**dict.fromkeys(categorical, True), **dict.fromkeys(continuous, False)}
    return spec or None


def parse_chunks(text: str | None) -> dict[str, int] | None:
    """The ``--chunks dim=size,...`` value as a mapping (None when not given).

    Parameters
    ----------
    text : str or None
        The option's value, e.g. ``"time=32,y=256,x=256"``.

    Returns
    -------
    dict of str to int or None
        Chunk size per dimension name.

    Raises
    ------
    click.BadParameter
        A value that is not ``dim=size,...`` or a size that is not a positive integer.

    Examples
    --------
    >>> parse_chunks("time=32, y=256,x=256")
    {'time': 32, 'y': 256, 'x': 256}
    >>> parse_chunks(None) is None
    True
    """
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


def parse_formulas(formulas: tuple[str, ...]) -> list[dict[str, str]]:
    """``--formula NAME=FORMULA`` values as ``{name: formula}`` dicts, in the order given.

    Parameters
    ----------
    formulas : tuple of str
        The values of the repeatable ``--formula`` option.

    Returns
    -------
    list of dict
        One ``{name: formula}`` per value, stripped of surrounding blanks.

    Raises
    ------
    click.BadParameter
        A value without ``=``, or with an empty name or formula.

    Examples
    --------
    >>> parse_formulas(("MY = (N - R) / (N + R + 0.1)",))
    [{'MY': '(N - R) / (N + R + 0.1)'}]
    """
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


def open_input(path: str, chunks: Any = None) -> Any:
    """The dataset at SRC ``path`` (netCDF, Zarr or GeoTIFF), via :func:`xgeo.io.open_dataset`.

    Parameters
    ----------
    path : str
        The input path or URL.
    chunks : dict or None, optional
        Passed on to :func:`xgeo.io.open_dataset` (``{}``: lazy, the file's own chunks).

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> import tempfile, xarray as xr
    >>> src = tempfile.mkdtemp() + "/in.zarr"
    >>> xr.Dataset({"r": ("x", [1, 2])}).to_zarr(src, consolidated=False)  # doctest: +ELLIPSIS
    <...>
    >>> list(open_input(src, chunks={}).data_vars)
    ['r']
    """
    from .io import open_dataset

    return open_dataset(path, chunks=chunks)


def require_variables(ds: Any, names: tuple[str, ...] | list[str], src: str) -> Any:
    """``ds`` itself, once every name of --variable is one of its variables: a missing one
    is one typed line naming the variables there are.

    Parameters
    ----------
    ds : xarray.Dataset
        The opened input.
    names : sequence of str
        The ``--variable`` names (empty: nothing to check).
    src : str
        The input's path, for the message.

    Returns
    -------
    xarray.Dataset
        ``ds``, unchanged.

    Raises
    ------
    xgeo.errors.MissingVariableError
        A name that is not one of ``ds``'s data variables.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"r": ("x", [1]), "g": ("x", [2])})
    >>> require_variables(ds, ["r"], "in.nc") is ds
    True
    >>> require_variables(ds, ["b"], "in.nc")
    Traceback (most recent call last):
    ...
    xgeo.errors.MissingVariableError: --variable b: in.nc has no such variable; its variables are g, r
    """
    from .errors import MissingVariableError

    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise MissingVariableError(
            f"--variable {missing[0]}: {src} has no such variable; its variables are "
            f"{', '.join(sorted(map(str, ds.data_vars)))}")
    return ds


def pick_variables(ds: Any, names: tuple[str, ...] | list[str], src: str) -> Any:
    """``ds`` limited to the variables of --variable (all of it when none).

    Parameters
    ----------
    ds : xarray.Dataset
        The opened input.
    names : sequence of str
        The ``--variable`` names.
    src : str
        The input's path, for the message of :func:`require_variables`.

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    xgeo.errors.MissingVariableError
        A name that is not one of ``ds``'s data variables.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"r": ("x", [1]), "g": ("x", [2])})
    >>> list(pick_variables(ds, ("g",), "in.nc").data_vars)
    ['g']
    >>> pick_variables(ds, (), "in.nc") is ds
    True
    """
    require_variables(ds, names, src)
    return ds[list(names)] if names else ds


def check_chunk_dims(chunks: dict[str, int] | None, ds: Any, src: str) -> None:
    """--chunks may only name dims the data has (an unknown one would be ignored).

    Parameters
    ----------
    chunks : dict of str to int or None
        The parsed ``--chunks`` (see :func:`parse_chunks`).
    ds : xarray.Dataset
        The opened input.
    src : str
        The input's path, for the message.

    Raises
    ------
    xgeo.errors.CodecError
        A dimension that ``ds`` does not have.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"r": (("y", "x"), [[1]])})
    >>> check_chunk_dims({"y": 1}, ds, "in.nc")
    >>> check_chunk_dims({"time": 4}, ds, "in.nc")
    Traceback (most recent call last):
    ...
    xgeo.errors.CodecError: --chunks time=4: in.nc has no dimension 'time'; its dimensions are y, x
    """
    from .errors import CodecError

    unknown = [d for d in chunks or {} if d not in ds.dims]
    if unknown:
        raise CodecError(
            f"--chunks {','.join(f'{d}={chunks[d]}' for d in unknown)}: {src} has no "
            f"dimension {', '.join(map(repr, unknown))}; its dimensions are "
            f"{', '.join(map(str, ds.dims))}"
        )
