"""The decoder: one container (any format version up to 5) -> the chunk's array.

Steps, in the order the container dictates (``codecs/SPEC.md``): parse and validate the
header, inflate the masks, decode each plane stream to codes (4:4:4 groups once per group,
FFV1-predicted planes added to their predecessor), map codes to values (KLT chunks: map the
components and rotate them back), put the frames back in their original order, add the
residual, write the masked values, reshape (Fortran order for format 5).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import _stream, frame_order, header, klt, probe
from ._residual import apply_residual
from ._values import cast, from_codes, from_cube
from .errors import CodecError
from .mask import unpack_mask

DECODER_ENV = "XGEO_CODECS_DECODER"


def decode_chunk(buf: bytes | bytearray | memoryview, *, decoder: str | None = None,
                 max_bytes: int | None = None) -> np.ndarray:
    """Decode a chunk: the body of :func:`xgeo_codecs.decode`, which documents the
    arguments; the quality search calls it too (same decoder choice and size limit).

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo_codecs import encode
    >>> decode_chunk(encode(np.full((3, 4, 4), np.nan, "float32"))).shape
    (3, 4, 4)
    """
    if decoder is None:
        decoder = os.environ.get(DECODER_ENV) or "software"
    if decoder not in ("software", "auto"):
        raise CodecError(f"decoder={decoder!r} (argument or ${DECODER_ENV}); use 'software' "
                         "or 'auto'")
    limit = header.max_bytes_limit(max_bytes)
    try:
        return _decode(bytes(buf), decoder, limit)
    except CodecError:
        raise
    except MemoryError:
        raise
    except Exception as err:  # any other failure on a checksummed blob means corruption
        raise CodecError(f"corrupt or unsupported chunk ({type(err).__name__}: {err})") from None


def _decode(buf: bytes, decoder: str, max_bytes: int) -> np.ndarray:
    meta, off = header.parse(buf)  # validated: every key below has its type, range and length
    header.check_size(meta, max_bytes)
    dtype = np.dtype(meta["dtype"])
    shape = tuple(meta["shape"])
    if 0 in shape:
        return np.zeros(shape, dtype)
    fa = meta["frame_axis"]
    t, n_planes, h, w = header.cube_shape(meta["shape"], fa)
    planes = meta["planes"]
    residual = meta.get("residual")
    masks = []
    for length, val in meta["masks"]:
        masks.append((unpack_mask(buf[off: off + length], (t, n_planes, h, w)), val))
        off += length
    bd = meta["bit_depth"]
    hc, wc = meta["coded"]
    fam = meta["family"]
    hw = probe.hardware_decoder(fam) if decoder == "auto" else None
    cube = np.empty((t, n_planes, h, w), dtype)
    first_of = {g[0]: g for g in meta.get("groups", [])}
    pending: dict[int, np.ndarray] = {}  # codes of packed planes decoded with their group
    rot = meta.get("klt")
    vec = None if rot is None else klt.unpack(rot["basis"], n_planes)
    kcodes: list[np.ndarray | None] = []  # KLT: each component's codes, mapped frame by frame
    prev: np.ndarray | None = None
    maxcode = (1 << bd) - 1
    for j, (length, m) in enumerate(planes):
        seg = buf[off: off + length]
        off += length
        if m["k"] == "const":
            if vec is None:
                cube[:, j] = np.asarray(m["v"]).astype(dtype)
            kcodes.append(None)
            prev = None
            continue
        pbd = m.get("bd", bd)
        if j in pending:
            codes = pending.pop(j)
        else:
            k = 3 if j in first_of else 1
            codes = None
            if (hw is not None and (k == 3 or meta.get("chroma") == "420")
                    and min(hc, wc) >= _stream.HARDWARE_MIN_SIZE):
                # NVDEC has no monochrome HEVC: older grey streams go to software directly
                try:
                    codes = _stream.decode_stream(seg, fam, pbd, t, h, w, hw, (hc, wc), k)
                except Exception:  # noqa: BLE001 - fall back to software, which reports errors
                    codes = None
            if codes is None:
                codes = _stream.decode_stream(seg, fam, pbd, t, h, w, None, (hc, wc), k)
            if k == 3:
                pending.update({g: codes[i] for i, g in enumerate(first_of[j]) if i})
                codes = codes[0]
        if m.get("pred"):
            if prev is None:
                raise CodecError("predicted plane without a reference; the chunk is corrupt")
            # int32 holds code + rbase + previous code (each below 2**17)
            codes = codes.astype(np.int32) + np.int32(m["rbase"]) + prev
            if codes.min() < 0 or codes.max() > maxcode:
                raise CodecError("predicted plane out of range; the chunk is corrupt")
            codes = codes.astype(np.uint16 if maxcode > 255 else np.uint8)
        prev = codes
        if vec is None:
            cube[:, j] = from_codes(codes, m, dtype, maxcode)
        else:
            kcodes.append(codes)
    if vec is not None:
        _unrotate(cube, kcodes, planes, rot, vec, maxcode)
        del kcodes
    order = frame_order.check_order(meta.get("frame_order"), t)
    if order is not None:  # back to the original frame order, masks with the values
        frame_order.unorder_inplace(cube, order)
        for mk, _ in masks:
            frame_order.unorder_inplace(mk, order)
    if residual:
        apply_residual(cube, buf[off: off + residual[0]], residual[1])
    for mk, val in masks:
        fill = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}.get(val, val)
        np.copyto(cube, np.asarray(fill).astype(dtype), where=mk)
    out = from_cube(cube, shape, fa)
    return np.asfortranarray(out) if meta.get("order") == "F" else out


def _unrotate(cube: np.ndarray, kcodes: list[np.ndarray | None], planes: list[list[Any]],
              rot: dict[str, Any], vec: np.ndarray, maxcode: int) -> None:
    """KLT chunks: the components' codes mapped and rotated back into ``cube``'s bands."""
    t, n_planes, h, w = cube.shape
    dtype = cube.dtype
    # components mapped to float64 and rotated back one frame at a time (float64: the
    # committed format-3 fixtures decode to the same values; per frame: the chunk never
    # has a float64 copy)
    lo, hi = (np.asarray(rot[k], np.float64)[None, :, None, None] for k in ("lo", "hi"))
    back = np.linalg.inv(vec)  # the exact inverse of the stored basis, once per chunk
    rows = max(1, (1 << 16) // w)  # a slab of rows at a time: small float64 buffers
    for f in range(t):
        for y in range(0, h, rows):
            comp = np.empty((1, n_planes, min(rows, h - y), w), np.float64)
            for j, (c, (_, m)) in enumerate(zip(kcodes, planes, strict=True)):
                comp[0, j] = (m["v"] if c is None
                              else from_codes(c[f, y: y + rows], m, comp.dtype, maxcode))
            bands = klt.rotate(comp, back)
            np.clip(bands, lo, hi, out=bands)
            cube[f: f + 1, :, y: y + rows] = cast(bands, dtype)
