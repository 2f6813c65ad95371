"""The decoder: one container (any format version up to 7) -> the chunk's array, or some of
its frames.

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
from .mask import unpack_mask_coded

DECODER_ENV = "XGEO_CODECS_DECODER"


def decode_chunk(buf: bytes | bytearray | memoryview, *, decoder: str | None = None,
                 max_bytes: int | None = None, frames: Any = None) -> np.ndarray:
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
        return _decode(bytes(buf), decoder, limit, frames)
    except CodecError:
        raise
    except MemoryError:
        raise
    except Exception as err:  # any other failure on a checksummed blob means corruption
        raise CodecError(f"corrupt or unsupported chunk ({type(err).__name__}: {err})") from None


def frame_selection(frames: Any, t: int) -> np.ndarray | None:
    """``frames=`` as indices into a chunk's ``t`` frames (``None``: all of them, in order).

    Takes an integer, a slice, a sequence of integers (negative ones count from the end,
    repeats allowed) or a boolean mask of length ``t``.

    Examples
    --------
    >>> frame_selection(slice(2, None, 3), 10).tolist(), frame_selection(-1, 10).tolist()
    ([2, 5, 8], [9])
    >>> frame_selection([0, 10], 10)
    Traceback (most recent call last):
    ...
    xgeo_codecs.errors.CodecError: frames=[0, 10] selects frames outside the chunk's 0..9
    """
    if frames is None:
        return None
    if isinstance(frames, slice):
        return np.arange(t)[frames]
    idx = np.asarray(frames)
    if idx.size == 0 and idx.ndim == 1:  # [] is float to NumPy: no frames, as slice(0, 0)
        idx = idx.astype(np.int64)
    if idx.dtype == bool:
        if idx.shape != (t,):
            raise CodecError(f"frames= as a boolean mask needs {t} entries (one per frame), "
                             f"got shape {idx.shape}")
        return np.flatnonzero(idx)
    if idx.dtype.kind not in "iu" or idx.ndim > 1:
        raise CodecError(f"frames={frames!r} must be an integer, a slice, a sequence of "
                         "integers or a boolean mask")
    idx = idx.reshape(-1).astype(np.int64)
    if idx.size and (idx.min() < -t or idx.max() >= t):
        raise CodecError(f"frames={frames!r} selects frames outside the chunk's 0..{t - 1}")
    return np.where(idx < 0, idx + t, idx)


def _plan(meta: dict[str, Any], want: np.ndarray | None, t: int,
          order: np.ndarray | None) -> tuple[int, dict[int, int]]:
    """Frames per group and, per group needed, how many of its first (coded) frames."""
    k = meta["keyint"]["frames"] if "keyint" in meta else max(t, 1)
    if want is None:
        return k, {g: min(k, t - g * k) for g in range(-(-t // k))}
    pos = want if order is None else np.argsort(order)[want]  # coded positions
    need: dict[int, int] = {}
    for p in np.unique(pos).tolist():
        need[p // k] = p % k + 1  # ascending: the last one of a group is its furthest
    return k, need


def _decode(buf: bytes, decoder: str, max_bytes: int, frames: Any) -> np.ndarray:
    meta, off = header.parse(buf)  # validated: every key below has its type, range and length
    header.check_size(meta, max_bytes)
    dtype = np.dtype(meta["dtype"])
    shape = tuple(meta["shape"])
    fa = meta.get("frame_axis", 0)
    t, n_planes, h, w = header.cube_shape(meta["shape"], fa)
    want = frame_selection(frames, t)
    if want is not None and len(shape) > 2:
        shape = shape[:fa] + (len(want),) + shape[fa + 1:]
    elif want is not None:
        if want.tolist() != [0]:
            raise CodecError(f"frames={frames!r}: a {len(shape)}-d chunk has no frame axis "
                             "(it is one frame); pass frames=None")
        want = None
    if 0 in shape:
        return np.zeros(shape, dtype)
    order = frame_order.check_order(meta.get("frame_order"), t)
    residual = meta.get("residual")
    # the residual covers the chunk in original frame order: such chunks decode whole
    k, need = _plan(meta, None if residual else want, t, order)
    coded_idx = np.concatenate([np.arange(g * k, g * k + n) for g, n in need.items()])
    whole = len(coded_idx) == t
    planes = meta["planes"]
    masks = []
    for length, val, *coder in meta["masks"]:
        # a context-coded mask is decoded up to the last frame the read needs
        mk = unpack_mask_coded(buf[off: off + length], (t, n_planes, h, w), *coder,
                               frames=None if whole else int(coded_idx.max()) + 1)
        masks.append((mk if whole else mk[coded_idx], val))
        off += length
    bd = meta["bit_depth"]
    fam = meta["family"]
    hw = probe.hardware_decoder(fam) if decoder == "auto" else None
    cube = np.empty((len(coded_idx), n_planes, h, w), dtype)
    first_of = {g[0]: g for g in meta.get("groups", [])}
    pending: dict[int, np.ndarray] = {}  # codes of packed planes decoded with their group
    rot = meta.get("klt")
    vec = None if rot is None else klt.unpack(rot["basis"], n_planes)
    kcodes: list[np.ndarray | None] = []  # KLT: each component's codes, mapped frame by frame
    prev: np.ndarray | None = None
    maxcode = (1 << bd) - 1
    parts = meta["keyint"]["bytes"] if "keyint" in meta else [[pl[0]] for pl in planes]
    for j, (length, m) in enumerate(planes):
        seg = buf[off: off + length]
        off += length
        if m["k"] == "const":
            if vec is None:
                cube[:, j] = np.asarray(m["v"]).astype(dtype)
            kcodes.append(None)
            prev = None
            continue
        if j in pending:
            codes = pending.pop(j)
        else:
            n_in = 3 if j in first_of else 1
            codes = _group_codes(seg, parts[j], need, k, t, meta, m.get("bd", bd), hw, n_in)
            if n_in == 3:
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
    if whole:
        if order is not None:  # back to the original frame order, masks with the values
            frame_order.unorder_inplace(cube, order)
            for mk, _ in masks:
                frame_order.unorder_inplace(mk, order)
        if residual:
            apply_residual(cube, buf[off: off + residual[0]], residual[1])
    for mk, val in masks:
        fill = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}.get(val, val)
        np.copyto(cube, np.asarray(fill).astype(dtype), where=mk)
    if want is not None:  # the wanted frames, from the decoded ones (original order if whole)
        row = np.empty(t, np.int64)
        row[coded_idx if whole or order is None else order[coded_idx]] = np.arange(len(coded_idx))
        if not (whole and np.array_equal(want, np.arange(t))):
            cube = cube[row[want]]
    out = from_cube(cube, shape, fa)
    return np.asfortranarray(out) if meta.get("order") == "F" else out


def _group_codes(seg: bytes, parts: list[int], need: dict[int, int], k: int, t: int,
                 meta: dict[str, Any], bd: int, hw: str | None, n_in: int) -> np.ndarray:
    """A plane's (or 4:4:4 group's) codes of the needed frames: the first ``need[g]`` frames
    of each needed group ``g``, groups in order (one stream per group, ``parts`` bytes each)."""
    hc, wc = meta["coded"]
    h, w = header.cube_shape(meta["shape"], meta["frame_axis"])[2:]
    starts = np.concatenate([[0], np.cumsum(parts)]).tolist()
    out = []
    for g, n in need.items():
        part = seg[starts[g]: starts[g + 1]]
        glen = min(k, t - g * k)
        codes = None
        if (hw is not None and (n_in == 3 or meta.get("chroma") == "420")
                and min(hc, wc) >= _stream.HARDWARE_MIN_SIZE):
            # NVDEC has no monochrome HEVC: older grey streams go to software directly
            try:
                codes = _stream.decode_stream(part, meta["family"], bd, glen, h, w, hw,
                                              (hc, wc), n_in, first=n)
            except Exception:  # noqa: BLE001 - fall back to software, which reports errors
                codes = None
        if codes is None:
            codes = _stream.decode_stream(part, meta["family"], bd, glen, h, w, None,
                                          (hc, wc), n_in, first=n)
        out.append(codes)
    return out[0] if len(out) == 1 else np.concatenate(out, axis=-3)


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
