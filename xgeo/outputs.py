"""Output paths: never replace what exists unless asked, and then remove only that.

:func:`output_format` tells what an output path's extension asks for (netCDF, Zarr or
GeoTIFF) and refuses any other, before any work is done; :func:`check_parent` refuses an
output whose directory does not exist.

The CLI commands and :func:`xgeo.pipeline.run_demo` call :func:`prepare_output` before any
work, and write inside :func:`removed_on_error`, so a run refused on its input or options
leaves no half-made output behind. An existing output is refused with :class:`~xgeo.errors.OutputExistsError` unless
``overwrite``; with it, the file, or the Zarr store and the progress sidecar xgeo keeps
beside it, is removed, and nothing else: a directory that is not a Zarr store is never
deleted, and an output that is (or holds, or lies inside) an input is refused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import OutputExistsError, OutputFormatError
from .store import progress_path

__all__ = ["OUTPUT_FORMATS", "URL_OUTPUTS", "check_output", "check_parent", "output_exists",
           "output_format", "prepare_output", "removed_on_error"]

#: Extension -> format of the rasters xgeo writes (``.cog.tif`` is a ``.tif``: always COG).
OUTPUT_FORMATS = {
    ".nc": "netcdf", ".nc4": "netcdf", ".zarr": "zarr", ".tif": "geotiff", ".tiff": "geotiff",
}

_ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")


#: what xgeo writes to object-store URLs (s3://, gs://, ...): Zarr stores, and CSV through
#: pandas; other files are written locally and copied
URL_OUTPUTS = (".zarr", ".csv")


class _Output:
    """An output location: a local path, or an object-store URL through fsspec (the storage
    options from fsspec's configuration, as the writers take them)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.text = str(path)
        self.url = "://" in self.text
        if self.url:
            import fsspec

            self.fs, self.key = fsspec.core.url_to_fs(self.text.rstrip("/"))
        self.path = Path(self.text)

    def __str__(self) -> str:
        return self.text

    def exists(self) -> bool:
        if self.url:
            return bool(self.fs.exists(self.key))
        return self.path.exists() or self.path.is_symlink()

    def is_dir(self) -> bool:
        if self.url:
            return bool(self.fs.isdir(self.key))
        return self.path.is_dir() and not self.path.is_symlink()

    def is_zarr_store(self) -> bool:
        if self.url:
            return any(self.fs.exists(f"{self.key}/{m}") for m in _ZARR_MARKERS)
        return any((self.path / marker).is_file() for marker in _ZARR_MARKERS)

    def remove(self, strict: bool = True) -> None:
        """Remove the file or folder (``strict``: raise when that fails)."""
        try:
            if self.url:
                self.fs.rm(self.key, recursive=True)
                self.fs.invalidate_cache()
            elif self.is_dir():
                shutil.rmtree(self.path)
            elif self.exists():
                self.path.unlink()
        except OSError:
            if strict:
                raise


def _locations(path: str | os.PathLike) -> list[_Output]:
    """The output and the progress sidecar xgeo keeps beside a store."""
    return [_Output(path), _Output(progress_path(str(path).rstrip("/")))]


def _overlaps(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def prepare_output(
    *paths: str | os.PathLike,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike] = (),
    flag: str = "overwrite=True",
) -> None:
    """Make the outputs ``paths`` ready to be written, touching nothing unless ``overwrite``.

    Every path is checked before anything is removed, so a refusal leaves all of them as
    they were.

    Parameters
    ----------
    *paths
        The files or Zarr stores about to be written.
    overwrite
        Replace existing outputs: remove the file, or the Zarr store and its ``.progress``
        sidecar. A directory that is not a Zarr store is never removed.
    inputs
        Paths the command reads; an output that is one of them, holds one or lies in one
        is refused (replacing it would destroy the data being read).
    flag
        How the caller spells the option in messages (``"--overwrite"`` in the CLI).

    Raises
    ------
    OutputExistsError
        If an output exists and ``overwrite`` is false, if it is a directory that is not
        a Zarr store, or if it overlaps an input.

    Examples
    --------
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "x.nc")
    >>> open(out, "w").close()
    >>> try:
    ...     prepare_output(out)
    ... except FileExistsError as err:
    ...     print(str(err).endswith("pass overwrite=True to replace it"))
    True
    >>> prepare_output(out, overwrite=True); os.path.exists(out)
    False
    """
    for p in check_output(*paths, overwrite=overwrite, inputs=inputs, flag=flag):
        p.remove()


@contextlib.contextmanager
def removed_on_error(*paths: str | os.PathLike) -> Iterator[None]:
    """Remove the outputs the block creates when it fails on its input or arguments.

    An output (file, or Zarr store and its ``.progress`` sidecar) that did not exist when the
    block began is removed if the block raises a ``ValueError`` or ``TypeError`` (xgeo's
    errors for bad data or options, e.g. a lossless request for data off any grid): running
    again with the same input would fail the same way, so keeping it would only make the
    next run, with other options, refuse it as an interrupted write. An interrupt, a full
    disk or a lost connection (``KeyboardInterrupt``, ``OSError``) leaves it for ``--resume``.

    Examples
    --------
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "x.nc")
    >>> try:
    ...     with removed_on_error(out):
    ...         open(out, "w").close()
    ...         raise ValueError("no grid")
    ... except ValueError:
    ...     pass
    >>> os.path.exists(out)
    False
    """
    new = [q for p in paths for q in _locations(p) if not q.exists()]
    try:
        yield
    except (ValueError, TypeError):
        for q in new:
            q.remove(strict=False)  # (the error being raised is the one to see)
        raise


def output_exists(path: str | os.PathLike) -> bool:
    """Whether a local path or an object-store URL exists (a file, a folder or a prefix).

    Examples
    --------
    >>> output_exists("no-such-file-xgeo.nc")
    False
    """
    return _Output(path).exists()


def _exists(out: _Output, found: _Output, flag: str, resume_flag: str | None) -> str:
    """Why an existing output is refused, and what to pass instead."""
    from .store import missing_chunks

    if missing_chunks(str(out)) is None:  # not an interrupted xgeo write
        return f"output {found} already exists; pass {flag} to replace it"
    finish = f"pass {resume_flag} to finish it, or " if resume_flag else "pass "
    return (f"output {out} is an interrupted write (its progress folder "
            f"{progress_path(str(out))} remains); {finish}{flag} to start over")


def check_output(
    *paths: str | os.PathLike,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike] = (),
    flag: str = "overwrite=True",
    resume_flag: str | None = None,
) -> list[Path]:
    """What :func:`prepare_output` would remove (raising as it does), removing nothing.

    Call it before long work so a refusal comes first, and :func:`prepare_output` right
    before writing, so an input or argument error found on the way leaves the old output.
    ``resume_flag``: how the caller spells "finish an interrupted write" (``"--resume"``),
    named in the refusal of an interrupted Zarr store; None where there is no such option.
    """
    doomed: list[_Output] = []
    for path in paths:
        out, side = _locations(path)
        if out.url and not out.text.rstrip("/").lower().endswith(URL_OUTPUTS):
            raise OutputFormatError(
                f"output {out}: to an object store xgeo writes Zarr stores (.zarr) and CSV "
                "files; write this file to a local path and copy it")
        for source in inputs:
            same = (out.text.rstrip("/") == str(source).rstrip("/")) if out.url else (
                "://" not in str(source) and _overlaps(out.path, Path(source)))
            if same:
                raise OutputExistsError(
                    f"output {out} is the input {source} (or holds it, or lies in it); "
                    "write to another path"
                )
        found = [p for p in (out, side) if p.exists()]
        if found and not overwrite:
            raise OutputExistsError(_exists(out, found[0], flag, resume_flag))
        if out.is_dir() and not out.is_zarr_store():
            raise OutputExistsError(
                f"output {out} is a directory that is not a Zarr store; xgeo removes only "
                "files and stores it can replace, so it will not delete it: choose another path"
            )
        doomed += found
    return doomed


def output_format(path: str | os.PathLike, accepted: Sequence[str] = ("netcdf", "zarr", "geotiff")
                  ) -> str:
    """``"netcdf"``, ``"zarr"`` or ``"geotiff"``: the format the extension of ``path`` asks for.

    Parameters
    ----------
    path
        The output path (a Zarr store is a directory ending in ``.zarr``).
    accepted
        The formats the caller writes; another extension is refused.

    Raises
    ------
    OutputFormatError
        If the extension (case-insensitive) is none of the accepted ones; the message names
        the path and lists the extensions that are.

    Examples
    --------
    >>> output_format("out.TIF"), output_format("cube.zarr"), output_format("a.b.nc")
    ('geotiff', 'zarr', 'netcdf')
    >>> output_format("out.zarr/", accepted=["zarr"])
    'zarr'
    >>> output_format("out.png")
    Traceback (most recent call last):
    ...
    xgeo.errors.OutputFormatError: output out.png: xgeo cannot tell which format to write from its extension '.png'; use one of .nc, .nc4 (netCDF); .zarr (Zarr); .tif, .tiff (GeoTIFF, COG layout)
    """
    text = str(path).rstrip("/\\")
    suffix = Path(text).suffix.lower()
    kind = OUTPUT_FORMATS.get(suffix)
    if kind in accepted:
        return kind
    names = {"netcdf": "netCDF", "zarr": "Zarr", "geotiff": "GeoTIFF, COG layout"}
    listed = "; ".join(
        f"{', '.join(e for e, k in OUTPUT_FORMATS.items() if k == fmt)} ({names[fmt]})"
        for fmt in ("netcdf", "zarr", "geotiff") if fmt in accepted)
    what = f"its extension {suffix!r}" if suffix else "a path without an extension"
    hint = f" (this command writes only {', '.join(accepted)})" if kind is not None else ""
    raise OutputFormatError(
        f"output {path}: xgeo cannot tell which format to write from {what}{hint}; use one of "
        f"{listed}")


def check_parent(path: str | os.PathLike) -> None:
    """Refuse an output whose directory does not exist (writers would fail late and vaguely).

    Raises
    ------
    FileNotFoundError
        Naming the missing directory; ``NotADirectoryError`` if it is a file.

    Examples
    --------
    >>> check_parent("no-such-dir-xgeo/out.nc")
    Traceback (most recent call last):
    ...
    FileNotFoundError: output no-such-dir-xgeo/out.nc: its directory no-such-dir-xgeo does not exist; create it first (mkdir -p no-such-dir-xgeo)
    """
    if "://" in str(path):
        return
    parent = Path(str(path).rstrip("/\\")).parent
    if parent.is_dir():
        return
    if parent.exists():
        raise NotADirectoryError(f"output {path}: {parent} is a file, not a directory")
    raise FileNotFoundError(f"output {path}: its directory {parent} does not exist; create it "
                            f"first (mkdir -p {parent})")
