"""The on-disk cache of compiled index kernels never loads what another user could plant.

numba unpickles ``<module>.kernel-<line>.pyXY.nbi`` from the cache directory before anything
else, so each test plants there a pickle that creates a sentinel file when loaded: the
sentinel appearing means the planted file was read. Tests run as root, so "another user" is
simulated with chown to an unused uid, group/other-writable modes and symbolic links.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
import warnings
from pathlib import Path

import numba
import numpy as np
import pytest

from xgeo.errors import KernelCacheWarning
from xgeo.indices import cachedir, codegen, evaluate
from xgeo.indices.core import build_plan

OTHER_UID = 12345
UID = os.getuid() if hasattr(os, "getuid") else 0
pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX owners and modes")


class _Plant:
    """Unpickling this creates ``path``: proof that a planted cache file was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _source() -> str:
    return build_plan(["NDVI"]).source


def _index_name(source: str) -> str:
    key = hashlib.sha256(source.encode()).hexdigest()[:24]
    line = source.splitlines().index(codegen._CACHED) + 1
    return f"xgeo_indices_{key}.kernel-{line}.py{sys.version_info[0]}{sys.version_info[1]}{sys.abiflags}.nbi"


def _plant(pycache: Path, sentinel: Path) -> None:
    pycache.mkdir(parents=True, exist_ok=True)
    (pycache / _index_name(_source())).write_bytes(pickle.dumps(_Plant(sentinel)))


@pytest.fixture()
def fresh(monkeypatch, tmp_path):
    """No kernel module loaded, no cache directory resolved; HOME, TMPDIR under tmp_path."""
    monkeypatch.setattr(codegen, "_MODULES", {})
    monkeypatch.setattr(cachedir, "_RESOLVED", {})
    monkeypatch.setattr(cachedir, "_WARNED", set())
    for var in ("XGEO_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    os.chmod(tmp, 0o1777)  # like /tmp: world-writable with the sticky bit
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp_path


def _ndvi() -> np.ndarray:
    return evaluate({"N": np.array([0.75, 0.5], "f4"), "R": np.array([0.25, 0.5], "f4")}, "NDVI")["NDVI"]


def _assert_refused(root: Path, sentinel: Path, where: str) -> None:
    with pytest.warns(KernelCacheWarning, match=where) as rec:
        out = _ndvi()
    np.testing.assert_array_equal(out, [0.5, 0.0])
    assert not sentinel.exists(), "a planted cache file was loaded"
    assert len([w for w in rec if w.category is KernelCacheWarning]) == 1
    assert codegen.cache_dir() is None
    mod = build_plan(["NDVI"]).kernels
    assert mod.__file__.startswith("<") and mod.kernel.stats.cache_path is None
    assert not list(root.rglob("xgeo_indices_*.py")), "a kernel module was written"


def _tmp_chain(root: Path, monkeypatch) -> Path:
    """Make the home cache impossible (XDG_CACHE_HOME under a file): the tmp fallback is used."""
    (root / "afile").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "afile" / "cache"))
    return root / "tmp" / f"xgeo-{UID}"


def _chown(path: Path) -> None:
    os.chown(path, OTHER_UID, OTHER_UID)


@pytest.mark.parametrize("case", ["top-owner", "top-mode", "top-symlink", "indices-owner",
                                  "pycache-owner", "pycache-mode", "tmp-not-sticky"])
def test_tmp_fallback_refuses_a_directory_another_user_controls(fresh, monkeypatch, case):
    top = _tmp_chain(fresh, monkeypatch)
    sentinel = fresh / "sentinel"
    if case == "top-symlink":
        elsewhere = fresh / "elsewhere"
        _plant(elsewhere / "indices" / "__pycache__", sentinel)
        os.chmod(elsewhere, 0o700)
        top.symlink_to(elsewhere)
    else:
        _plant(top / "indices" / "__pycache__", sentinel)
        for d in (top, top / "indices", top / "indices" / "__pycache__"):
            os.chmod(d, 0o700)
    if case == "top-owner":
        _chown(top)
    elif case == "top-mode":
        os.chmod(top, 0o777)
    elif case == "indices-owner":
        _chown(top / "indices")
    elif case == "pycache-owner":
        _chown(top / "indices" / "__pycache__")
    elif case == "pycache-mode":
        os.chmod(top / "indices" / "__pycache__", 0o757)
    elif case == "tmp-not-sticky":
        os.chmod(fresh / "tmp", 0o777)
    _assert_refused(fresh, sentinel, "xgeo-")


@pytest.mark.parametrize("case", ["xgeo-owner", "xgeo-symlink", "indices-mode"])
def test_home_cache_refuses_a_directory_another_user_controls(fresh, monkeypatch, case):
    base = fresh / "home" / ".cache"
    sentinel = fresh / "sentinel"
    target = fresh / "elsewhere" if case == "xgeo-symlink" else base / "xgeo"
    _plant(target / "indices" / "__pycache__", sentinel)
    for d in (target, target / "indices", target / "indices" / "__pycache__"):
        os.chmod(d, 0o700)
    if case == "xgeo-owner":
        _chown(base / "xgeo")
    elif case == "xgeo-symlink":
        base.mkdir(parents=True, exist_ok=True)
        (base / "xgeo").symlink_to(target)
    else:
        os.chmod(base / "xgeo" / "indices", 0o770)
    _assert_refused(fresh, sentinel, "xgeo/indices")


@pytest.mark.parametrize("case", ["owner", "mode", "symlink-to-other-user"])
def test_user_set_cache_dir_owned_by_another_user_is_refused(fresh, monkeypatch, case):
    env = fresh / "mine"
    real = fresh / "theirs" if case == "symlink-to-other-user" else env
    sentinel = fresh / "sentinel"
    _plant(real / "indices" / "__pycache__", sentinel)
    for d in (real, real / "indices", real / "indices" / "__pycache__"):
        os.chmod(d, 0o700)
    if case == "owner":
        _chown(env)
    elif case == "mode":
        os.chmod(env, 0o777)
    else:
        _chown(real)
        env.symlink_to(real)
    monkeypatch.setenv("XGEO_CACHE_DIR", str(env))
    _assert_refused(fresh, sentinel, "mine")


def test_numba_cache_dir_is_checked_too(fresh, monkeypatch):
    """With NUMBA_CACHE_DIR set, numba caches the kernel there, not next to the module."""
    monkeypatch.setenv("XGEO_CACHE_DIR", str(fresh / "mine"))
    shared = fresh / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # anyone may create the subdirectory numba will use
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(shared))
    module_dir = (fresh / "mine" / "indices").resolve()
    sub = f"indices_{hashlib.sha1(str(module_dir).encode()).hexdigest()}"
    sentinel = fresh / "sentinel"
    _plant(shared / sub, sentinel)
    with pytest.warns(KernelCacheWarning, match="shared"):
        out = _ndvi()
    np.testing.assert_array_equal(out, [0.5, 0.0])
    assert not sentinel.exists()
    assert build_plan(["NDVI"]).kernels.kernel.stats.cache_path is None


def test_trusted_cache_is_created_private_and_used(fresh, monkeypatch):
    """Happy path: directories created 0700, the kernel cached there and read back from it
    (the planted index is loaded there, which shows the other tests plant the right file)."""
    env = fresh / "new" / "cache"
    monkeypatch.setenv("XGEO_CACHE_DIR", str(env))
    with warnings.catch_warnings():
        warnings.simplefilter("error", KernelCacheWarning)
        np.testing.assert_array_equal(_ndvi(), [0.5, 0.0])
    d = codegen.cache_dir()
    assert d == env.resolve() / "indices"
    for p in (env, d, d / "__pycache__"):
        assert stat.S_IMODE(os.lstat(p).st_mode) == 0o700, p
    assert len(list(d.glob("xgeo_indices_*.py"))) == 1
    index = d / "__pycache__" / _index_name(_source())
    assert index.exists()
    sentinel = fresh / "sentinel"
    index.write_bytes(pickle.dumps(_Plant(sentinel)))  # only we could do this: the dir is ours
    monkeypatch.setattr(codegen, "_MODULES", {})
    _ndvi()
    assert sentinel.exists()
