"""Paths and a raw reader for the real data the codec tests use (netCDF4 only).

A uniquely named module (not ``conftest``) so that test files can import it even when
pytest collects xgeo's own ``tests/conftest.py`` in the same run.
"""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
NRT = ROOT / "tests" / "data" / "nrt_romania_32t.nc"
EOPATCH = ROOT / "xgeo" / "data" / "s2_eopatch.nc"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "video"


def raw(path: Path, var: str) -> np.ndarray:
    """A variable as stored (no CF masking or scaling)."""
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(False)
        return np.asarray(ds[var][:])


def write_fixture_case(folder: Path, codec, arrays) -> None:  # noqa: ANN001 - a VideoCodec
    """One committed fixture case: the codec's config, and per array its encoded bytes and the
    values they decode to (run by hand when a format version or case is added)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(codec.get_config(), sort_keys=True, indent=4))
    for i, a in enumerate(arrays):
        blob = codec.encode(a)
        (folder / f"encoded.{i:02d}.dat").write_bytes(blob)
        np.save(folder / f"decoded.{i:02d}.npy", codec.decode(blob))


def assert_fixture_case_decodes(folder: Path, version: int, min_blobs: int = 1) -> None:
    """A committed fixture case (never regenerated) still decodes to its stored values, and
    every blob says it is of format ``version``."""
    import json

    from xgeo_codecs import VideoCodec, chunk_info

    codec = VideoCodec.from_config(json.loads((folder / "config.json").read_text()))
    blobs = sorted(folder.glob("encoded.*.dat"))
    assert len(blobs) >= min_blobs, f"committed fixtures are missing in {folder}"
    for enc in blobs:
        i = enc.name.split(".")[1]
        np.testing.assert_array_equal(codec.decode(enc.read_bytes()),
                                      np.load(folder / f"decoded.{i}.npy"))
        assert chunk_info(enc.read_bytes())["format_version"] == version


def stamped(info: dict, needed: int) -> bool:
    """Whether a chunk (its ``chunk_info``) carries the format version it must: the lowest
    that holds its header keys (``needed``), 9 when a mask is context-coded, or at least 8
    when its header is stored deflated."""
    if any(len(m) == 3 and m[2] == "ctx" for m in info.get("masks", [])):
        needed = max(needed, 9)
    return info["format_version"] == (max(8, needed) if info["header_deflated"] else needed)
