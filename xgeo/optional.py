"""Optional dependencies: imported on first use, or an error that says how to install them.

Each feature that needs a package outside xgeo's requirements imports it through
:func:`require`, which raises :class:`~xgeo.errors.MissingDependencyError` (an
``ImportError``) naming the feature and the exact pip command, never a bare
``ModuleNotFoundError``. Reading a video-coded Zarr store without ``xgeo-codecs`` fails
inside Zarr with "Unknown codec: 'xgeo.video'"; :func:`missing_codec` turns that into
the same kind of hint.

Examples
--------
>>> install_hint("matplotlib")
"pip install 'xgeo[plot]'"
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["check_store_codecs", "install_hint", "missing", "missing_codec", "require"]

# import name -> (what to install, the pip command(s))
_PACKAGES: dict[str, tuple[str, str]] = {
    "torch": (
        "torch",
        "pip install torch==2.13.0 (the CPU wheel), then pip install 'xgeo[torch]'",
    ),
    "matplotlib": ("matplotlib", "pip install 'xgeo[plot]'"),
    "rioxarray": ("rioxarray", "pip install 'xgeo[geotiff]'"),
    "rasterio": ("rasterio", "pip install 'xgeo[geotiff]'"),
    "pystac": ("pystac", "pip install 'xgeo[stac]'"),
    "geopandas": ("geopandas", "pip install 'xgeo[vector]'"),
    "av": ("PyAV", "pip install av"),
    "torchgeo": (
        "torchgeo",
        "pip install torchgeo, with the torchvision built for your torch (CPU: pip install "
        "torch==2.13.0 torchvision==0.28.0 --index-url https://download.pytorch.org/whl/cpu); "
        "see the README",
    ),
    "xgeo_codecs": ("xgeo-codecs", "pip install xgeo-codecs"),
    "pyarrow": ("pyarrow", "pip install 'xgeo[vector]'"),
}

_VIDEO_CODEC_ID = "xgeo.video"  # xgeo_codecs.CODEC_ID, spelled here: the point is its absence


def install_hint(module: str) -> str:
    """The pip command that installs the package providing ``module``."""
    return _PACKAGES.get(module, (module, f"pip install {module}"))[1]


def missing(module: str, feature: str) -> MissingDependencyError:
    """The error for ``feature`` when ``module`` cannot be imported (to raise ``from`` it)."""
    package, hint = _PACKAGES.get(module, (module, f"pip install {module}"))
    return MissingDependencyError(f"{feature} needs {package}, which is not installed: {hint}")


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or raise :class:`~xgeo.errors.MissingDependencyError`.

    Examples
    --------
    >>> require("numpy", "xgeo").__name__
    'numpy'
    >>> try:
    ...     require("no_such_module_xgeo", "the frobnicator")
    ... except ImportError as err:
    ...     print(err)
    the frobnicator needs no_such_module_xgeo, which is not installed: pip install no_such_module_xgeo
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing(module, feature) from exc


def missing_codec(exc: BaseException, where: str) -> MissingDependencyError | None:
    """The install hint when ``exc`` (from opening ``where``) is Zarr failing to find xgeo's
    video codec, i.e. ``xgeo-codecs`` is not installed; None for any other error."""
    seen: BaseException | None = exc
    while seen is not None:
        unknown = type(seen).__name__ == "UnknownCodecError" and _VIDEO_CODEC_ID in str(seen)
        if unknown or (isinstance(seen, KeyError) and seen.args[:1] == (_VIDEO_CODEC_ID,)):
            return missing(
                "xgeo_codecs", f"reading the video-coded Zarr store {where} ({_VIDEO_CODEC_ID})"
            )
        seen = seen.__cause__ or seen.__context__
    return None


def check_store_codecs(path: str | os.PathLike) -> None:
    """Raise the install hint before opening the local Zarr store ``path`` when it is
    video-coded and ``xgeo-codecs`` is not installed (Zarr would fail array by array, each
    with "Unknown codec"). Costs nothing when it is installed: nothing is imported."""
    if importlib.util.find_spec("xgeo_codecs") is not None:
        return
    root = Path(path)
    docs = [root / "zarr.json"]  # consolidated metadata holds every array's codecs
    if root.is_dir():
        docs += [p / name for p in root.iterdir() if p.is_dir() for name in ("zarr.json", ".zarray")]
    needle = f'"{_VIDEO_CODEC_ID}"'.encode()
    for doc in docs:
        try:
            if needle in doc.read_bytes():
                raise missing(
                    "xgeo_codecs", f"reading the video-coded Zarr store {path} ({_VIDEO_CODEC_ID})"
                )
        except OSError:
            continue
