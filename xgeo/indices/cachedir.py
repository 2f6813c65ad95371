"""Where generated index kernels are cached on disk, and whether that place can be trusted.

numba unpickles its cache index (``*.nbi``) and data (``*.nbc``) from the cache directory, so
a file that another user can plant there runs as the caller. A directory is therefore used
only when nobody else can write into it, now or later:

- the directories xgeo creates (``xgeo/``, ``indices/``, ``xgeo-<uid>/``, ``__pycache__/``) and
  a user-set ``$XGEO_CACHE_DIR`` are created with mode 0700 and must be real directories (not
  symbolic links), owned by the effective user and not writable by group or others;
- every directory above them (after resolving symbolic links once, so nothing can be
  re-pointed later) must be owned by the user or root and not writable by group or others,
  unless it has the sticky bit (``/tmp``), which stops others from renaming what is inside.

The checks use ``lstat`` owner and mode bits, never ``os.access`` (which says yes to root for
everything). A directory that fails them is refused with one :class:`KernelCacheWarning`
naming it and the reason, and kernels are compiled in memory (each process compiles once);
a directory that merely cannot be created moves on to the next place in the chain.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
import warnings
from pathlib import Path

from ..errors import KernelCacheWarning

__all__ = ["kernel_cache_dir", "untrusted_reason"]

_LOCK = threading.Lock()
_RESOLVED: dict[tuple, Path | None] = {}
_WARNED: set[str] = set()


def _euid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None  # no POSIX owners on Windows


def _mode(st: os.stat_result) -> str:
    return oct(stat.S_IMODE(st.st_mode))


def _own_dir_reason(path: Path) -> str | None:
    """Why ``path`` (a directory xgeo uses as its own) cannot be trusted; None if it can."""
    euid = _euid()
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link (to {os.path.realpath(path)}), not a directory xgeo created"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if euid is None:
        return None
    if st.st_uid != euid:
        return f"{path} is owned by uid {st.st_uid}, not by you (uid {euid})"
    if st.st_mode & 0o022:
        return f"{path} is writable by group or others (mode {_mode(st)})"
    return None


def _ancestor_reason(path: Path) -> str | None:
    """Why a directory above the cache lets another user replace what is below it, or None."""
    euid = _euid()
    if euid is None:
        return None
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):  # cannot happen after realpath, unless raced
        return f"{path} is a symbolic link"
    if st.st_uid not in (euid, 0):
        return f"{path} is owned by uid {st.st_uid} (neither you, uid {euid}, nor root)"
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        return f"{path} is writable by group or others without the sticky bit (mode {_mode(st)})"
    return None


def untrusted_reason(path: str | os.PathLike[str]) -> str | None:
    """Why another user could plant files in directory ``path`` (used as is), or None.

    ``path`` itself must pass the rules for directories xgeo owns, every directory above it
    (symbolic links resolved) the rules for ancestors; see the module docstring.
    """
    p = Path(os.path.abspath(path))
    reason = _own_dir_reason(p)
    if reason is not None:
        return reason
    real = Path(os.path.realpath(p.parent))
    for anc in (real, *real.parents):
        reason = _ancestor_reason(anc)
        if reason is not None:
            return reason
    return None


def _prepare(base: Path, parts: tuple[str, ...], base_is_own: bool) -> Path | str:
    """Create and verify ``base/parts.../__pycache__``: the ``base/parts`` directory if it can
    be trusted, else the reason it cannot. Raises OSError when it cannot be created/written."""
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    real = Path(os.path.realpath(base))
    for anc in (real.parents if base_is_own else (real, *real.parents)):
        reason = _ancestor_reason(anc)
        if reason is not None:
            return reason
    if base_is_own:
        reason = _own_dir_reason(real)
        if reason is not None:
            return reason
    d = real
    for part in (*parts, "__pycache__"):  # __pycache__: numba's in-tree cache of the modules
        d = d / part
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        reason = _own_dir_reason(d)
        if reason is not None:
            return reason
    if not os.access(d, os.W_OK | os.X_OK):  # writability only: ownership was checked above
        raise PermissionError(f"{d} is not writable")
    return d.parent


def _candidates() -> list[tuple[Path, tuple[str, ...], bool]]:
    env = os.environ.get("XGEO_CACHE_DIR")
    tmp = (Path(tempfile.gettempdir()), (f"xgeo-{os.getuid() if hasattr(os, 'getuid') else 'user'}",
                                         "indices"), False)
    if env:
        return [(Path(env), ("indices",), True), tmp]
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [(home, ("xgeo", "indices"), False), tmp]


def warn_once(where: str, why: str) -> None:
    """One :class:`KernelCacheWarning` per refused place and process."""
    if where in _WARNED:
        return
    _WARNED.add(where)
    warnings.warn(
        f"xgeo does not use {where} for its compiled index kernels: {why}. Kernels are compiled "
        "in memory instead (once per process). Set XGEO_CACHE_DIR to a directory only you can "
        "write (mode 0700) to cache them on disk.",
        KernelCacheWarning, stacklevel=4)


def kernel_cache_dir() -> Path | None:
    """Trusted directory of generated kernel modules, or None when caching on disk is off.

    ``$XGEO_CACHE_DIR/indices`` if set, else ``$XDG_CACHE_HOME/xgeo/indices`` (default
    ``~/.cache/xgeo/indices``); when that cannot be created or written,
    ``$TMPDIR/xgeo-<uid>/indices``. A place that fails the ownership/mode checks (module
    docstring) ends the search: None, with one :class:`KernelCacheWarning`. Resolved once per
    process and environment.
    """
    key = (os.environ.get("XGEO_CACHE_DIR"), os.environ.get("XDG_CACHE_HOME"),
           os.environ.get("HOME"), tempfile.gettempdir(), _euid())
    with _LOCK:
        if key in _RESOLVED:
            return _RESOLVED[key]
        found: Path | None = None
        failures = []
        for base, parts, own in _candidates():
            where = str(base.joinpath(*parts))
            try:
                got = _prepare(base, parts, own)
            except OSError as exc:
                failures.append(f"{where}: {exc.strerror or exc}")
                continue
            if isinstance(got, str):
                warn_once(where, got)
            else:
                found = got
            break
        else:
            warn_once("any cache directory", "none could be created or written ("
                      + "; ".join(failures) + ")")
        _RESOLVED[key] = found
        return found
