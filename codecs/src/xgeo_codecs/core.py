"""The pure core: ``encode(ndarray, params) -> bytes`` and ``decode(bytes) -> ndarray``.

Container, format version 1 (little endian)::

    b"XGVC" | u8 version | u8 flags (0) | u16 meta_len | meta (UTF-8 JSON, meta_len bytes)
    | mask sections ... | plane streams ... | u32 crc32 of every preceding byte

``meta`` holds the chunk's shape, dtype, frame axis, encoder (name, family, bit depth, coded
frame size, the options it was given), one ``[length, value]`` entry per mask section (value:
a number, ``"nan"``, ``"inf"`` or ``"-inf"``; every reader since format 1 fills a mask with
``np.asarray(value).astype(dtype)``, so infinity masks need no new version) and one
``[length, mapping]`` entry per plane. A plane stream is a packet table plus raw codec packets
(see :mod:`xgeo_codecs._stream`). The checksum is verified before any byte reaches libav, so a
damaged chunk is reported as :class:`CodecError` instead of decoding to garbage; the header
is then validated against its format version's schema (:mod:`xgeo_codecs.header`).

Format version 2 (written only when a quality target or ``stats=True`` is asked for) is
version 1 plus two meta keys: ``quality`` (achieved psnr, max_error, bpppb, crf, encodes
spent) and optionally ``residual`` = ``[length, {"step", "dtype"}]``, a zlib-compressed
integer residual section after the plane streams; decoded values are the video's values
plus ``step * residual`` on valid pixels (this is what guarantees ``max_error``). Version-1
blobs keep decoding through this reader, as the fixtures in ``tests/fixtures/video`` check.

Format version 3 is version 2 plus three things older readers cannot decode, so they refuse
such chunks by version: the meta key ``groups`` (lists of three plane indices coded together
as one 4:4:4 stream, stored at the first plane's place; the other two have empty sections),
the meta key ``klt`` (``decorrelate="klt"``: the chunk's planes were
rotated by a stored basis, see :mod:`xgeo_codecs.klt`, and each plane stream holds one
component; decoding inverts the rotation before the residual and the masks are applied),
and residual sections coded with raw LZMA2 (``"z": "lzma"`` in the residual entry).

Format version 4 is version 3 plus the meta key ``frame_order`` (``reorder_frames=True``): the
original index of each coded frame; masks and plane streams are in coding order, the
residual in the original order, and decoding puts the frames back before the residual.

Format version 5 is any earlier version plus the meta key ``order`` = ``"F"``: the chunk was
given in Fortran memory order (Zarr format 2 ``order="F"``, whose reader takes the decoded
bytes in that order) and decodes to a Fortran-ordered array with the same values. Older
readers would return C order, which such a reader reads transposed, so they refuse it by
version; chunks given in C order keep versions 1-4.
"""

from __future__ import annotations

import json
import os
import zlib
from typing import Any

import numpy as np

from . import _stream, encoder_options, frame_order, header, klt, probe
from .errors import CodecError
from .header import MAGIC
from .mask import fill_invalid, pack_mask, unpack_mask
from .params import DEFAULT_BIT_DEPTH, DEFAULT_CRF, DEFAULT_PRESET, VideoParams, coerce

_PREFIX, _CRC = header.PREFIX, header.CRC
_LOSSLESS_DEPTHS = (8, 9, 10, 12, 14, 16)


def _dtype_error(dtype: np.dtype) -> CodecError:
    return CodecError(
        f"dtype {dtype} is not supported by the video codec; use (u)int8/16/32 or "
        "float32/float64 (cast bool masks to uint8, 64-bit integers to int32 if their range "
        "allows; split complex into real and imaginary variables)")


def _check_dtype(dtype: np.dtype) -> np.dtype:
    # 64-bit integers are refused: their values do not survive the float64 value mapping
    if (dtype.kind not in "uif" or dtype.kind == "f" and dtype.itemsize not in (4, 8)
            or dtype.kind in "ui" and dtype.itemsize > 4):
        raise _dtype_error(dtype)
    return dtype.newbyteorder("<")


def _to_cube(a: np.ndarray, frame_axis: int) -> tuple[np.ndarray, int]:
    """View ``a`` as (T, P, H, W); returns the cube and the normalised frame axis."""
    if a.ndim <= 2:
        return a.reshape((1, 1) + (1,) * (2 - a.ndim) + a.shape), 0
    fa = frame_axis + a.ndim if frame_axis < 0 else frame_axis
    if not 0 <= fa < a.ndim - 2:
        raise CodecError(
            f"frame_axis={frame_axis} is not valid for a {a.ndim}-d chunk: the last two axes "
            f"are (y, x); use an axis in 0..{a.ndim - 3}")
    m = np.moveaxis(a, fa, 0)
    return m.reshape(m.shape[0], -1, m.shape[-2], m.shape[-1]), fa


def _from_cube(cube: np.ndarray, shape: tuple[int, ...], fa: int) -> np.ndarray:
    if len(shape) <= 2:
        return cube.reshape(shape)
    moved = (shape[fa],) + shape[:fa] + shape[fa + 1:]
    return np.moveaxis(cube.reshape(moved), 0, fa)


def _py(v: Any) -> Any:
    """NumPy scalar -> exact JSON-able Python number."""
    return int(v) if isinstance(v, np.integer) else float(v)


def _grid_values(k: np.ndarray, m: dict[str, Any]) -> np.ndarray:
    v = k.astype(np.float64)
    if m.get("div", 1) != 1:
        v = v / m["div"]
    if m.get("mul", 1.0) != 1.0:
        v = v * m["mul"]
    if m.get("add", 0.0) != 0.0:
        v = v + m["add"]
    return v


def _bits(v: np.ndarray) -> np.ndarray:
    """Float values as their bit patterns (so -0.0 and 0.0 differ, as a round trip must)."""
    return v.view(np.uint32 if v.dtype.itemsize == 4 else np.uint64)


def _float_grid(v: np.ndarray, p: VideoParams, maxspan: int) -> dict[str, Any] | None:
    """Find an exact integer grid ``k`` for float values ``v`` (bitwise round trip) or None."""
    if p.scale_factor is not None or p.add_offset is not None:
        cands = [(float(p.scale_factor or 1.0), 1, float(p.add_offset or 0.0))]
    else:
        cands = [(1.0, 10**d, 0.0) for d in range(7)]
    for mul, div, add in cands:
        with np.errstate(all="ignore"):
            k = np.rint((v.astype(np.float64) - add) / mul * div)
        if not np.all(np.isfinite(k)) or np.abs(k).max() > 2**52:
            continue
        kmin, kmax = k.min(), k.max()
        if kmax - kmin > maxspan:
            continue
        m = {"k": "grid", "base": int(kmin), "mul": mul, "div": div, "add": add}
        back = _grid_values(k - kmin + m["base"], m)
        if v.dtype.kind in "iu":
            if np.array_equal(np.rint(back), v):
                return m
        elif np.array_equal(_bits(back.astype(v.dtype)), _bits(v)):
            return m
    return None


def _encoder_options(p: VideoParams, enc: str, t: int, hc: int, wc: int) -> dict[str, str]:
    fam = p.family
    o: dict[str, str] = {}
    if enc == "ffv1":
        # g=T keeps the range coder's adapted states across the GOP: 6.2-6.5 instead of
        # 7.0-7.5 bits per value on the nrt cube; context=0 beats 1 on 100x100 frames.
        o = {"level": "3", "g": str(max(t, 1)), "slicecrc": "0", "context": "0"}
    elif enc == "libx265":
        xp = ["info=0", "log-level=none"]
        if min(hc, wc) < 128:
            # measured with libx265 4.x: a frame only one 64x64 CTU wide/high makes inter
            # prediction drift (non-deterministic blocks off by up to half the range);
            # 32x32 CTUs on frames >= 64 are exact and deterministic
            xp.append("ctu=32")
        if p.threads:
            xp += [f"pools={p.threads}", "frame-threads=1"]
        if p.lossless:
            xp.append("lossless=1")
        else:
            # measured on the nrt and NDVI cubes at equal rate (preset medium): rate-distortion
            # optimised quantisation level 2 +0.3 to +1.0 dB, no scene-cut I-frames (cloudy
            # dates are not scene changes worth a key frame) +0.15 dB; ~20 % slower encode
            xp += ["rdoq-level=2", "scenecut=0"]
        # tune=psnr: no psycho-visual tricks, which trade fidelity for perceived texture
        o = {"preset": p.preset or DEFAULT_PRESET["hevc"], "tune": "psnr",
             "x265-params": ":".join(xp)}
        if not p.lossless:
            if p.qp is not None:
                o["qp"] = str(int(p.qp))
            else:
                o["crf"] = str(p.crf if p.crf is not None else DEFAULT_CRF[fam])
    elif enc == "libsvtav1":
        o = {"preset": p.preset or DEFAULT_PRESET["av1"]}
        if p.qp is not None:
            o["qp"] = str(int(p.qp))
        else:
            o["crf"] = str(int(p.crf if p.crf is not None else DEFAULT_CRF["av1"]))
        if p.threads:
            o["svtav1-params"] = f"lp={p.threads}"
    elif enc == "libvpx-vp9":
        o = {"deadline": "good", "cpu-used": p.preset or "4", "b": "0", "row-mt": "1"}
        if p.lossless:
            o["lossless"] = "1"
        elif p.qp is not None:
            o.update({"qmin": str(int(p.qp)), "qmax": str(int(p.qp))})
        else:
            o["crf"] = str(int(p.crf if p.crf is not None else DEFAULT_CRF["vp9"]))
    elif enc.endswith("_nvenc"):
        o = {"preset": p.preset or "p4", "rc": "constqp",
             "qp": str(int(p.qp if p.qp is not None else (p.crf or 20)))}
    elif enc.endswith(("_qsv", "_vaapi")):
        o = {"global_quality": str(int(p.crf if p.crf is not None else 25))}
    return encoder_options.merge(o, encoder_options.checked(p.options, enc))


def _plane_mapping(x: np.ndarray, inv: np.ndarray, p: VideoParams, maxcode: int,
                   lossless: bool) -> dict[str, Any]:
    v = x[~inv]
    if v.size == 0:
        return {"k": "const", "v": 0}
    lo, hi = v.min(), v.max()
    if lo == hi:
        return {"k": "const", "v": _py(lo)}
    if lossless:
        if x.dtype.kind in "iu" and p.scale_factor is not None:
            # integers snapped to a coarser grid (max_error's near-lossless candidate)
            m = _float_grid(v, p, maxcode)
            if m is not None:
                return m
        if x.dtype.kind in "iu":
            if int(hi) - int(lo) > maxcode:
                raise CodecError(
                    f"lossless needs each plane to span at most {maxcode + 1} values, this one "
                    f"spans {int(hi) - int(lo) + 1}; use codec='ffv1' (16 bit), lossy mode, or a "
                    "general-purpose compressor (numcodecs Blosc/Zstd) for this variable")
            return {"k": "int", "base": int(lo)}
        m = _float_grid(v, p, maxcode)
        if m is None:
            raise CodecError(
                "lossless=True for float data needs values on an exact grid k * scale + offset "
                f"with at most {maxcode + 1} steps per plane (like reflectance = DN / 10000); "
                "this chunk is not. Fix: pass scale_factor/add_offset that match how the data "
                "was made, store the integers (CF packing), use lossy mode, or a "
                "general-purpose compressor (Blosc/Zstd) for this variable")
        return m
    # lossy: spread the valid range over every code (a 1000-value span at 12 bit would
    # otherwise waste two bits of precision at the same rate)
    lo, hi = p.value_range if p.value_range is not None else (float(lo), float(hi))
    if not np.isfinite(hi - lo):
        raise CodecError(
            f"the plane's values span {lo:g}..{hi:g}, a range float64 arithmetic cannot "
            "hold (hi - lo overflows); lossy coding would turn it into NaN. Scale the "
            "variable (e.g. store it in other units), or use a general-purpose compressor "
            "(numcodecs Blosc/Zstd) for it")
    return {"k": "lin", "lo": lo, "hi": hi}


def _to_codes(xf: np.ndarray, m: dict[str, Any], maxcode: int) -> np.ndarray:
    if m["k"] == "int":
        c = xf - m["base"]
    elif m["k"] == "grid":
        c = np.rint((xf - m["add"]) / m["mul"] * m["div"]) - m["base"]
    else:
        c = (xf - m["lo"]) * (maxcode / (m["hi"] - m["lo"]))
    return np.clip(np.rint(c), 0, maxcode).astype(np.uint16)


def _from_codes(c: np.ndarray, m: dict[str, Any], dtype: np.dtype, maxcode: int) -> np.ndarray:
    if c.dtype in (np.uint8, np.uint16) and c.size > 4 << (8 * c.itemsize):
        # the mapping is per code value: map every possible code once, then gather (the
        # float arithmetic, rounding and clipping were ~17 % of a 12x512x512 chunk's decode)
        every = np.arange(1 << (8 * c.itemsize), dtype=c.dtype)
        return _code_values(every, m, dtype, maxcode)[c]
    return _code_values(c, m, dtype, maxcode)


def _code_values(c: np.ndarray, m: dict[str, Any], dtype: np.dtype, maxcode: int) -> np.ndarray:
    k = m["k"]
    if k == "int":
        return (c.astype(np.int64) + m["base"]).astype(dtype)
    if k == "grid":
        return _cast(_grid_values(c.astype(np.int64) + m["base"], m), dtype)
    if k == "lin":
        return _cast(m["lo"] + c.astype(np.float64) * ((m["hi"] - m["lo"]) / maxcode), dtype)
    raise CodecError(f"unknown value mapping {k!r}; the chunk is corrupt or from a newer version")


def _cast(v: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float64 values -> ``dtype`` (integers rounded and clipped to the type's range)."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        v = np.clip(np.rint(v), info.min, info.max)
    return v.astype(dtype)


def _valid_bounds(cube: np.ndarray, inv: np.ndarray) -> dict[str, list[float]]:
    """Each plane's valid min and max: decoded KLT values are clipped back into them, so a
    rotated error can never push a valid value onto ``nodata`` or outside the data's range."""
    lo, hi = [], []
    for j in range(cube.shape[1]):
        v = cube[:, j][~inv[:, j]]
        lo.append(_py(v.min()) if v.size else 0.0)
        hi.append(_py(v.max()) if v.size else 0.0)
    return {"lo": lo, "hi": hi}


def _shared_step_maps(comps: np.ndarray, maxcode: int) -> list[dict[str, Any]]:
    """Code mappings of KLT components: one step in data units for all of them.

    Equal steps give every component the same quantisation error, the allocation that
    minimises the chunk's MSE; the weak components then span few codes and cost few bits.
    """
    lo = comps.min(axis=(0, 2, 3))
    hi = comps.max(axis=(0, 2, 3))
    step = float((hi - lo).max()) / maxcode
    return [{"k": "const", "v": float(a)} if not b > a or step == 0 else
            {"k": "lin", "lo": float(a), "hi": float(a) + step * maxcode}
            for a, b in zip(lo, hi, strict=True)]


def encode(arr: np.ndarray, params: VideoParams | dict[str, Any] | None = None) -> bytes:
    """Encode one chunk to a self-describing byte string.

    Parameters
    ----------
    arr
        Any-dimensional array; the last two axes are (y, x), ``params.frame_axis`` is time,
        all other axes are separate planes.
    params
        :class:`VideoParams` or its config dict. Default: lossy HEVC 12 bit, CRF 6 (about 1
        bit per value on Sentinel-2). ``psnr=``, ``max_error=``, ``bpppb=`` or
        ``stats=True`` write format 2 (see :mod:`xgeo_codecs.quality`).

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo_codecs import encode, decode
    >>> a = np.arange(2 * 3 * 5, dtype="uint16").reshape(2, 3, 5)
    >>> bool((decode(encode(a, {"lossless": True})) == a).all())
    True
    """
    p = coerce(params)
    a = np.asarray(arr)
    if p.psnr is None and p.max_error is None and p.bpppb is None and not p.stats:
        blob = _encode_v1(a, p)
    else:
        from .quality import encode_quality
        blob = encode_quality(a, p)
    if a.ndim > 1 and a.size > 1 and a.flags.f_contiguous and not a.flags.c_contiguous:
        # numcodecs and Zarr format 2 read a chunk's bytes in its array's memory order
        # (order="F"): the decoder must hand back the memory order it was given (format 5)
        blob = _repack(blob, {"order": "F"}, version=5)
    return blob


def _repack(blob: bytes, extra_meta: dict[str, Any], extra: bytes = b"",
            version: int = 2) -> bytes:
    """Add ``extra_meta`` keys and a trailing section to a plain blob (format >= ``version``)."""
    meta, off = _parse(blob)
    version = max(version, int(meta.pop("format_version")))
    meta.update(extra_meta)
    body = json.dumps(meta, separators=(",", ":")).encode()
    if len(body) > 0xFFFF:
        raise CodecError("chunk header too large (too many planes in one chunk); use smaller "
                         "chunks along the non-frame axes (e.g. one band per chunk)")
    out = b"".join([_PREFIX.pack(MAGIC, version, 0, len(body)), body,
                    blob[off: len(blob) - _CRC.size], extra])
    return out + _CRC.pack(zlib.crc32(out))


def _encode_v1(arr: np.ndarray, params: VideoParams | dict[str, Any] | None = None) -> bytes:
    """Format-1 encoding (no quality target): the container described above."""
    p = coerce(params)
    a = np.asarray(arr)
    dtype = _check_dtype(a.dtype)
    a = a.astype(dtype, copy=False)
    meta: dict[str, Any] = {"shape": list(a.shape), "dtype": dtype.str}
    masks: list[bytes] = []
    streams: list[bytes] = []
    if a.size:
        cube, fa = _to_cube(a, p.frame_axis)
        meta["frame_axis"] = fa
        t, n_planes, h, w = cube.shape
        # NaN and +-inf are stored exactly in mask sections ("nan", "inf", "-inf": readers
        # of every format fill a mask with np.asarray(value).astype(dtype)) and kept out of
        # the value range, so one infinity cannot spread over the chunk
        special = ({"nan": np.isnan(cube), "inf": np.isposinf(cube), "-inf": np.isneginf(cube)}
                   if dtype.kind == "f" else {})
        nod = None
        if p.nodata is not None and not np.isnan(p.nodata):
            nod = cube == np.asarray(p.nodata).astype(dtype)
        inv = np.zeros(cube.shape, bool)
        for mk in (*special.values(), nod):
            if mk is not None:
                inv |= mk
        if p.reorder_frames and t > 2:
            order = frame_order.similarity_order(cube, inv)
            meta["frame_order"] = order.tolist()
            cube, inv = cube[order], inv[order]
            special = {k: mk[order] for k, mk in special.items()}
            nod = None if nod is None else nod[order]
        meta["masks"] = []
        for val, mk in (*special.items(), (p.nodata, nod)):
            if mk is not None and mk.any():
                masks.append(pack_mask(mk))
                meta["masks"].append([len(masks[-1]), val if isinstance(val, str) else _py(
                    np.asarray(val).astype(dtype)[()])])
        fam = p.family
        enc = "ffv1" if fam == "ffv1" else probe.resolve_encoder(
            fam, "auto" if p.encoder == "auto" and not p.lossless else
            (probe.SOFTWARE_ENCODERS[fam] if p.encoder == "auto" else p.encoder))
        hardware = enc not in probe.SOFTWARE_ENCODERS.values()
        if p.lossless:
            maxbits = 16 if enc == "ffv1" else (12 if enc == "libx265" else 8)
        else:
            maxbits = p.bit_depth or (10 if hardware else DEFAULT_BIT_DEPTH[fam])
            if hardware:
                maxbits = min(maxbits, 10)
        maxcode = (1 << maxbits) - 1
        comps = None
        if p.decorrelate == "klt" and n_planes > 1:
            filled = np.stack([fill_invalid(cube[:, j].astype(np.float64), inv[:, j])
                               .astype(np.float32) for j in range(n_planes)], axis=1)
            vec = klt.basis(filled, inv)
            comps = klt.forward(filled, vec)
            del filled
            if not np.isfinite(comps).all():
                raise CodecError(
                    "decorrelate='klt': the band rotation overflows for this chunk's values "
                    "(beyond float32 range); use decorrelate=None")
            maps = _shared_step_maps(comps, maxcode)
            meta["klt"] = {"basis": klt.pack(vec), **_valid_bounds(cube, inv)}
        else:
            maps = [_plane_mapping(cube[:, j], inv[:, j], p, maxcode, p.lossless)
                    for j in range(n_planes)]
        bd = maxbits
        if p.lossless:
            span = max([0] + [_span(cube[:, j], inv[:, j], m) for j, m in enumerate(maps)])
            bd = next(b for b in (_LOSSLESS_DEPTHS if enc == "ffv1" else (8, 10, 12))
                      if (1 << b) > span and b <= maxbits)
        lay = _stream.layout_for(enc, bd, lossless=p.lossless)
        hc, wc = _stream.padded_size(h, w, lay)
        opts = _encoder_options(p, enc, t, hc, wc)
        meta.update({"encoder": enc, "family": fam, "bit_depth": bd, "coded": [hc, wc],
                     "options": opts})
        def code(codes: np.ndarray, depth: int) -> bytes:
            if (hc, wc) != (h, w):
                lead = ((0, 0),) * (codes.ndim - 2)
                codes = np.pad(codes, (*lead, (0, hc - h), (0, wc - w)), mode="edge")
            try:
                return _stream.encode_stream(codes, enc, depth, opts, p.threads, p.lossless)
            except CodecError:
                raise
            except Exception as err:  # libav reports option/encoder problems as OSError etc.
                raise CodecError(f"encoder {enc} failed ({err}); check the encoder options "
                                 f"{opts} or pick another codec/encoder") from err

        def codes_of(j: int) -> np.ndarray:
            m = maps[j]
            xf = (comps[:, j] if comps is not None
                  else fill_invalid(cube[:, j].astype(np.float64), inv[:, j]))
            return _to_codes(xf, m, (1 << bd) - 1 if m["k"] == "lin" else maxcode)

        # lossy x265: planes three at a time as one 4:4:4 stream, sharing motion vectors and
        # partitions (measured at equal rate: +0.4 to +5.4 dB over one grey stream per band
        # with per-band ranges, +0.1 to +1.2 dB on KLT components)
        live = [j for j, m in enumerate(maps) if m["k"] != "const"]
        groups = ([live[i:i + 3] for i in range(0, len(live) - len(live) % 3, 3)]
                  if p.pack_planes and not p.lossless and enc == "libx265" else [])
        in_group = {j for g in groups for j in g}
        if enc == "libx265" and lay.kind == "yuv420" and set(live) - in_group:
            meta["chroma"] = "420"  # grey planes in 4:2:0 streams: NVDEC takes them too
        packed = {g[0]: code(np.stack([codes_of(j) for j in g]), bd) for g in groups}
        if groups:
            meta["groups"] = groups
        prev: np.ndarray | None = None  # codes of the previous plane (inter-plane prediction)
        for j, m in enumerate(maps):
            if m["k"] == "const" or j in in_group:
                streams.append(packed.get(j, b""))
                prev = None
                continue
            codes = codes_of(j)
            stream = code(codes, bd)
            if p.plane_prediction and enc == "ffv1" and prev is not None:
                # neighbouring bands are alike: code the difference to the previous plane
                # when that is smaller (measured: -3 % on the 13-band eo-learn cube)
                r = codes.astype(np.int64) - prev
                rbase = int(r.min())
                span = int(r.max()) - rbase
                if span < 1 << 16:
                    rbd = next(b for b in _LOSSLESS_DEPTHS if (1 << b) > span)
                    alt = code((r - rbase).astype(np.uint16), rbd)
                    if len(alt) < len(stream):
                        stream = alt
                        maps[j] = {**m, "pred": 1, "rbase": rbase, "bd": rbd}
            prev = codes.astype(np.int64)
            streams.append(stream)
        meta["planes"] = [[len(s), m] for s, m in zip(streams, maps, strict=True)]
    body = json.dumps(meta, separators=(",", ":")).encode()
    if len(body) > 0xFFFF:
        raise CodecError("chunk header too large (too many planes in one chunk); use smaller "
                         "chunks along the non-frame axes (e.g. one band per chunk)")
    version = (4 if "frame_order" in meta else 3 if "klt" in meta or "groups" in meta
               else 1)
    out = b"".join([_PREFIX.pack(MAGIC, version, 0, len(body)), body, *masks, *streams])
    return out + _CRC.pack(zlib.crc32(out))


def _span(x: np.ndarray, inv: np.ndarray, m: dict[str, Any]) -> int:
    if m["k"] == "const":
        return 0
    v = x[~inv]
    if m["k"] == "int":
        return int(v.max()) - m["base"]
    return int(np.rint((v.astype(np.float64) - m["add"]) / m["mul"] * m["div"]).max()) - m["base"]


def _parse(buf: bytes) -> tuple[dict[str, Any], int]:
    """Validate prefix, checksum and meta; return (meta, offset of first section)."""
    return header.parse(buf)


def chunk_info(buf: bytes) -> dict[str, Any]:
    """Header of an encoded chunk plus its byte breakdown (header/mask/stream bytes).

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo_codecs import encode, chunk_info
    >>> info = chunk_info(encode(np.zeros((2, 4, 4), "uint8"), {"lossless": True}))
    >>> info["dtype"], info["stream_bytes"]
    ('|u1', 0)
    """
    buf = bytes(buf)
    meta, off = _parse(buf)
    mask_bytes = sum(int(m[0]) for m in meta.get("masks", []))
    stream_bytes = sum(int(pl[0]) for pl in meta.get("planes", []))
    if meta.get("residual"):
        meta["residual_bytes"] = int(meta["residual"][0])
        stream_bytes += meta["residual_bytes"]
    meta.update({"total_bytes": len(buf), "mask_bytes": mask_bytes, "stream_bytes": stream_bytes,
                 "header_bytes": len(buf) - mask_bytes - stream_bytes})
    return meta


DECODER_ENV = "XGEO_CODECS_DECODER"


def decode(buf: bytes | bytearray | memoryview, *, decoder: str | None = None,
           max_bytes: int | None = None) -> np.ndarray:
    """Decode a chunk produced by :func:`encode`.

    ``decoder``: ``"software"``, or ``"auto"`` to decode the streams NVDEC can take (4:4:4
    plane groups and 4:2:0 grey planes, frames of at least 144x144) on the GPU when one works
    here, the rest in software; the output is identical either way. ``None`` reads the environment variable
    ``XGEO_CODECS_DECODER`` (a property of the machine reading the data, not of the data),
    else software.

    ``max_bytes``: refuse (:class:`CodecError`) a chunk whose header announces a decoded
    array of more bytes; ``None`` reads ``XGEO_CODECS_MAX_BYTES``, else 2 GiB. Decoding
    needs at most about the output plus 8 bytes per value (3x the output for float32,
    9x for uint8) plus a few frames, whatever the chunk holds.

    Raises :class:`CodecError` (never crashes or returns a wrong shape) for any input that is
    not an intact chunk.

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo_codecs import encode, decode
    >>> a = np.full((3, 4, 4), np.nan, "float32")
    >>> decode(encode(a)).shape
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
    meta, off = _parse(buf)  # validated: every key below has its type, range and length
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
            cube[:, j] = _from_codes(codes, m, dtype, maxcode)
        else:
            kcodes.append(codes)
    if vec is not None:
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
                                  else _from_codes(c[f, y: y + rows], m, comp.dtype, maxcode))
                bands = klt.rotate(comp, back)
                np.clip(bands, lo, hi, out=bands)
                cube[f: f + 1, :, y: y + rows] = _cast(bands, dtype)
        del kcodes
    order = frame_order.check_order(meta.get("frame_order"), t)
    if order is not None:  # back to the original frame order, masks with the values
        frame_order.unorder_inplace(cube, order)
        for mk, _ in masks:
            frame_order.unorder_inplace(mk, order)
    if residual:
        from .quality import apply_residual
        apply_residual(cube, buf[off: off + residual[0]], residual[1], masks)
    for mk, val in masks:
        fill = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}.get(val, val)
        np.copyto(cube, np.asarray(fill).astype(dtype), where=mk)
    out = _from_cube(cube, shape, fa)
    return np.asfortranarray(out) if meta.get("order") == "F" else out
