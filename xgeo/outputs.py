"""Output paths: never replace what exists unless asked, and then remove only that.

The CLI commands and :func:`xgeo.pipeline.run_demo` call :func:`prepare_output` before any
work. An existing output is refused with :class:`~xgeo.errors.OutputExistsError` unless
``overwrite``; with it, the file, or the Zarr store and the progress sidecar xgeo keeps
beside it, is removed, and nothing else: a directory that is not a Zarr store is never
deleted, and an output that is (or holds, or lies inside) an input is refused.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from .errors import OutputExistsError
from .store import progress_path

__all__ = ["check_output", "prepare_output"]

_ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")


def _is_zarr_store(path: Path) -> bool:
    return any((path / marker).is_file() for marker in _ZARR_MARKERS)


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
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _exists(out: Path, found: Path, flag: str, resume_flag: str | None) -> str:
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
    doomed: list[Path] = []
    for path in paths:
        out = Path(path)
        for source in inputs:
            if "://" not in str(source) and _overlaps(out, Path(source)):
                raise OutputExistsError(
                    f"output {out} is the input {source} (or holds it, or lies in it); "
                    "write to another path"
                )
        found = [p for p in (out, Path(progress_path(str(out)))) if p.exists() or p.is_symlink()]
        if found and not overwrite:
            raise OutputExistsError(_exists(out, found[0], flag, resume_flag))
        if out.is_dir() and not out.is_symlink() and not _is_zarr_store(out):
            raise OutputExistsError(
                f"output {out} is a directory that is not a Zarr store; xgeo removes only "
                "files and stores it can replace, so it will not delete it: choose another path"
            )
        doomed += found
    return doomed
