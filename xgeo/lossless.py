"""Exact storage of categorical variables: Zarr's Zstd or FFV1, whichever measures smaller.

When a video store is written lossily, the variables :mod:`xgeo.categorical` calls
categorical (class maps, masks) are coded losslessly instead. Two lossless codings are
candidates, and :func:`lossless_choice` picks one per variable by coding up to
:data:`TRIAL_CHUNKS` of its chunks (spread over the chunk grid, each cut to at most
:data:`TRIAL_VALUES` values) both ways:

* **Zstd** (Zarr's default compressor): any Zarr reader decodes it, without xgeo-codecs,
  and 8-25x faster than FFV1 (0.05 vs 0.7 ms for the eo-learn LULC chunk, 0.3 vs 2.7 ms for
  28 dates of Sentinel-2 SCL).
* **FFV1** (lossless video): predicts each pixel from its neighbours and the previous
  frame, so it wins on long, changing class series: 43 % smaller than Zstd on 28 dates of
  SCL (8,491 vs 14,842 bytes), 22 % on the 68-date eo-learn cloud mask; on the eo-learn
  LULC it is 8 % smaller, and on the 5-date masks 12-15x larger (a near-constant chunk
  costs Zstd 20-30 bytes and FFV1 its 230-byte header).

FFV1 is chosen when it saves at least :data:`FFV1_SAVING` of Zstd's bytes, a margin that
pays for Zstd's universal readability and speed. x265's lossless mode is no candidate: it
was larger than FFV1 on every class map measured (LULC 1,348 vs 1,017 bytes, 140 dates of
SCL 201,736 vs 55,552).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from xgeo_codecs import CODEC_ID

__all__ = ["LosslessChoice", "lossless_choice", "zstd_codec", "KIND_ATTR", "KIND_REASON_ATTR",
           "record_kinds", "kind_label", "FFV1_SAVING", "TRIAL_CHUNKS", "TRIAL_VALUES"]

FFV1_SAVING = 0.10
"""Share of Zstd's bytes FFV1 must save on the trial chunks to be chosen."""
TRIAL_CHUNKS = 3
"""Chunks coded both ways at most (first, middle and last of the chunk grid)."""
TRIAL_VALUES = 2**21
"""Values per trial chunk at most (a larger chunk is cut along its leading dims)."""
KIND_ATTR = "xgeo_kind"
"""Attribute in which a video store records ``categorical`` or ``continuous``."""
KIND_REASON_ATTR = "xgeo_kind_reason"
"""Attribute in which it records why (:attr:`xgeo.categorical.Decision.reason`)."""


@dataclass(frozen=True)
class LosslessChoice:
    """The lossless coding chosen for a variable and the trial sizes it was chosen on."""

    codec: str  # "zstd" or "ffv1"
    zstd_bytes: int
    ffv1_bytes: int | None  # None: FFV1 cannot code these values exactly

    def __str__(self) -> str:
        ffv1 = "cannot" if self.ffv1_bytes is None else f"{self.ffv1_bytes:,} B"
        return f"lossless {self.codec} (trial: Zstd {self.zstd_bytes:,} B, FFV1 {ffv1})"


def zstd_codec() -> Any:
    """Zarr v3's default compressor, as an explicit codec (level 0 = zstd's default)."""
    from zarr.codecs import ZstdCodec

    return ZstdCodec(level=0, checksum=False)


def _trial_pieces(var: xr.DataArray, chunks: Sequence[int]) -> list[np.ndarray]:
    """Stored values (CF-encoded: dtype, _FillValue) of up to TRIAL_CHUNKS chunks."""
    counts = [math.ceil(n / c) for n, c in zip(var.shape, chunks, strict=True)]
    total = math.prod(counts)
    flat = sorted({round(k) for k in np.linspace(0, total - 1, min(TRIAL_CHUNKS, total))})
    pieces = []
    for f in flat:
        index = np.unravel_index(f, counts) if counts else ()
        box = {}
        budget = TRIAL_VALUES
        spans = [min(c, n - i * c) for n, c, i in zip(var.shape, chunks, index, strict=True)]
        # cut leading dims until the piece fits the budget (spatial dims are kept whole)
        for axis in range(len(spans) - 2):
            rest = math.prod(spans[axis + 1:])
            spans[axis] = max(1, min(spans[axis], budget // max(1, rest)))
        for d, c, i, s in zip(var.dims, chunks, index, spans, strict=True):
            box[d] = slice(i * c, i * c + s)
        piece = var.isel(box)
        pieces.append(piece)
    if any(p.chunks is not None for p in pieces):
        import dask

        pieces = list(dask.compute(*pieces))
    return [np.ascontiguousarray(xr.conventions.encode_cf_variable(p.variable).values)
            for p in pieces]


def lossless_choice(var: xr.DataArray, chunks: Sequence[int], params: Any) -> LosslessChoice:
    """Code a few chunks of ``var`` with Zstd and with FFV1 (``params``: the lossless
    :class:`xgeo_codecs.VideoParams` the variable would get) and keep the smaller one
    (FFV1 only if it saves :data:`FFV1_SAVING`).

    Examples
    --------
    >>> import xgeo
    >>> from xgeo_codecs import VideoParams
    >>> lulc = xgeo.datasets.sentinel2_cube().lulc
    >>> print(lossless_choice(lulc, (101, 100), VideoParams(codec="ffv1", lossless=True)))
    lossless ffv1 (trial: Zstd 1,022 B, FFV1 877 B)
    """
    import numcodecs
    from xgeo_codecs import CodecError, encode

    zstd = numcodecs.Zstd(level=0)  # what zarr's ZstdCodec(level=0) runs
    z = 0
    f: int | None = 0
    for piece in _trial_pieces(var, chunks):
        z += len(zstd.encode(piece))
        if f is not None:
            try:
                f += len(encode(piece, params))
            except CodecError:  # e.g. floats FFV1 cannot hold exactly: Zstd can
                f = None
    if f is None:
        return LosslessChoice("zstd", z, None)
    return LosslessChoice("ffv1" if f <= (1 - FFV1_SAVING) * z else "zstd", z, f)


def record_kinds(ds: xr.Dataset, kinds: Mapping[Hashable, Any]) -> xr.Dataset:
    """A shallow copy of ``ds`` whose variables in ``kinds`` (name -> Decision) carry the
    decision in :data:`KIND_ATTR` and :data:`KIND_REASON_ATTR`, for compression reports."""
    out = ds.copy()
    for name, decision in kinds.items():
        var = out[name]
        var.attrs = {**var.attrs, KIND_ATTR: decision.kind, KIND_REASON_ATTR: decision.reason}
        out[name] = var
    return out


def kind_label(attrs: Mapping[str, Any], codecs: Sequence[Mapping[str, Any]]) -> str | None:
    """``"categorical (lossless)"``, ``"continuous (psnr 50)"``... for a stored array, from
    its :data:`KIND_ATTR` and its codec chain (None for arrays neither video-coded nor
    marked, such as coordinates)."""
    kind = attrs.get(KIND_ATTR)
    video = next((c for c in codecs if c.get("name") == CODEC_ID), None)
    if kind is None and video is None:
        return None
    conf = dict(video.get("configuration", {})) if video else {}
    if video is None or conf.get("lossless") or conf.get("codec") == "ffv1":
        coding = "lossless"
    else:
        # a full config (config_version 2) lists every parameter, unset ones as null
        target = next((k for k in ("psnr", "max_error", "bpppb", "crf", "qp")
                       if conf.get(k) is not None), None)
        coding = f"{target} {conf[target]:g}" if target else "lossy"
    if kind is None:  # written without a record: a lossy coding was continuous data
        return coding if coding == "lossless" else f"continuous ({coding})"
    return f"{kind} ({coding})"
