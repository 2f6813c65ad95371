"""The plain encoder (no quality target): one chunk -> a format 1, 3 or 4 container.

:func:`encode_plain` runs these named steps, each writing its header keys in the order the
committed fixtures have them (the header is JSON in insertion order, so the order is part
of the bytes):

1. :func:`_find_masks` - NaN, +-inf and ``nodata`` pixels, stored exactly as mask sections;
2. :func:`_reorder_frames` - optional similarity order of the frames (``frame_order``);
3. :func:`_mask_sections` - the ``masks`` entries and their bit-packed sections;
4. :func:`_choose_encoder` - the libav encoder and the deepest code depth it may use;
5. :func:`_value_mappings` - each plane's value mapping, or the KLT rotation (``klt``);
6. :func:`_coded_depth` - lossless: the smallest depth that holds the codes;
7. :class:`_PlaneCoder` / :func:`_plane_streams` - codes, 4:4:4 groups (``groups``),
   FFV1 inter-plane prediction, one packed stream per plane (``planes``).

:func:`repack` adds header keys and a trailing section to a finished chunk (the quality
record and residual of format 2/3, Fortran order of format 5).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _container, _stream, encoder_options, frame_order, header, klt, probe
from ._values import (
    check_dtype,
    is_nodata,
    plane_mapping,
    py_number,
    shared_step_maps,
    span,
    to_codes,
    to_cube,
    valid_bounds,
)
from .errors import CodecError
from .mask import fill_invalid, pack_mask_candidates
from .params import (
    DEFAULT_BIT_DEPTH,
    DEFAULT_CRF,
    DEFAULT_PRESET,
    EFFORT_PRESET,
    VideoParams,
    coerce,
)

_LOSSLESS_DEPTHS = (8, 9, 10, 12, 14, 16)


def encode_plain(arr: np.ndarray, params: VideoParams | dict[str, Any] | None = None) -> bytes:
    """Encode one chunk without a quality target (format 1, or 3/4 for KLT, 4:4:4 groups
    and frame order); see the module docstring for the steps. Codes what it is told:
    ``"auto"`` tools (resolved by :func:`xgeo_codecs.encode` before) are off here.

    Examples
    --------
    >>> import numpy as np
    >>> codes = np.random.default_rng(0).integers(0, 255, (3, 64, 64), dtype="uint8")
    >>> blob = encode_plain(codes, {"lossless": True})
    >>> blob[:5]
    b'XGVC\\x01'
    """
    p = coerce(params)
    a = np.asarray(arr)
    dtype = check_dtype(a.dtype)
    a = a.astype(dtype, copy=False)
    meta: dict[str, Any] = {"shape": list(a.shape), "dtype": dtype.str}
    if not a.size:
        return _container.pack(meta, [])
    cube, fa = to_cube(a, p.frame_axis)
    meta["frame_axis"] = fa
    check_keyint(p.keyint, cube.shape[0])
    masked = _find_masks(cube, p.nodata)
    if p.reorder_frames is True and cube.shape[0] > 2:
        cube, masked = _reorder_frames(cube, masked, meta)
    masks = _mask_sections(masked, p.nodata, dtype, meta)
    enc, maxbits = _choose_encoder(p)
    maps, comps = _value_mappings(cube, masked.invalid, p, maxbits, meta)
    bd = _coded_depth(cube, masked.invalid, maps, p, enc, maxbits)
    lay = _stream.layout_for(enc, bd, lossless=p.lossless)
    t, _, h, w = cube.shape
    hc, wc = _stream.padded_size(h, w, lay)
    opts = _codec_options(p, enc, min(t, p.keyint or t), hc, wc)
    meta.update({"encoder": enc, "family": p.family, "bit_depth": bd, "coded": [hc, wc],
                 "options": encoder_options.recorded(opts)})
    coder = _PlaneCoder(cube, masked.invalid, comps, maps, enc, opts, p, bd, (1 << maxbits) - 1,
                        (hc, wc))
    streams = _plane_streams(coder, p, lay, meta)
    meta["planes"] = [[len(s), m] for (s, _), m in zip(streams, maps, strict=True)]
    if p.keyint is not None and p.keyint < t:  # several groups: where each one's stream starts
        meta["keyint"] = {"frames": p.keyint, "bytes": [parts for _, parts in streams]}
    stream_bytes = sum(len(s) for s, _ in streams)
    sections = _choose_mask_coders(masks, meta, stream_bytes + len(json.dumps(meta)))
    return _container.pack(meta, [*sections, *(s for s, _ in streams)])


def check_keyint(keyint: int | None, t: int) -> None:
    """Raise :class:`CodecError` if ``keyint`` frames per group does not fit a chunk of ``t``.

    Examples
    --------
    >>> check_keyint(8, 64)
    >>> check_keyint(80, 64)
    Traceback (most recent call last):
    ...
    xgeo_codecs.errors.CodecError: keyint=80 is larger than the chunk's 64 frames; use keyint <= 64, or None for one group per chunk
    """
    if keyint is not None and keyint > max(t, 1):
        raise CodecError(f"keyint={keyint} is larger than the chunk's {t} frames; use "
                         f"keyint <= {t}, or None for one group per chunk")


def repack(blob: bytes, extra_meta: dict[str, Any], extra: bytes = b"", version: int = 1
           ) -> bytes:
    """``blob`` with the header keys ``extra_meta`` added (or replaced) and the section
    ``extra`` appended; the format version is the highest of ``version``, the blob's own and
    what the new keys need (:data:`xgeo_codecs._container.FEATURES`).

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo_codecs.header import parse
    >>> codes = np.random.default_rng(0).integers(0, 255, (3, 64, 64), dtype="uint8")
    >>> blob = encode_plain(codes, {"lossless": True})
    >>> parse(repack(blob, {"order": "F"}))[0]["format_version"]
    5
    """
    meta, off = header.parse(blob)
    own = int(meta.pop("format_version"))
    if own < _container.DEFLATED_VERSION:  # else 8 may only say how the header was stored,
        version = max(version, own)        # which pack() decides again for the new header
    meta.update(extra_meta)
    version = max(version, _container.version_for(meta))
    body = blob[off: len(blob) - _container.CRC.size]
    return _container.pack(meta, [body, extra], version)


@dataclass
class _Masked:
    """The pixels stored exactly in mask sections rather than coded."""

    special: dict[str, np.ndarray]  # "nan" / "inf" / "-inf" -> where the cube holds it
    nodata: np.ndarray | None  # where the cube holds ``nodata``
    invalid: np.ndarray  # any of them: kept out of the value range and filled before coding


def _find_masks(cube: np.ndarray, nodata: float | None) -> _Masked:
    # NaN and +-inf are stored exactly in mask sections ("nan", "inf", "-inf": readers
    # of every format fill a mask with np.asarray(value).astype(dtype)) and kept out of
    # the value range, so one infinity cannot spread over the chunk
    dtype = cube.dtype
    special = ({"nan": np.isnan(cube), "inf": np.isposinf(cube), "-inf": np.isneginf(cube)}
               if dtype.kind == "f" else {})
    nod = None
    if nodata is not None and not np.isnan(nodata):
        nod = is_nodata(cube, nodata)
    inv = np.zeros(cube.shape, bool)
    for mk in (*special.values(), nod):
        if mk is not None:
            inv |= mk
    return _Masked(special, nod, inv)


def _reorder_frames(cube: np.ndarray, masked: _Masked, meta: dict[str, Any]
                    ) -> tuple[np.ndarray, _Masked]:
    """Frames (and masks) in similarity order over the whole chunk; the order goes to
    ``meta["frame_order"]``.

    With ``keyint=`` groups, each group is the next ``keyint`` frames of that path: similar
    dates from anywhere in the chunk, not consecutive ones (a read of one date still decodes
    only its group). Measured on real S2 B8, 64 dates x 256 x 256, groups of 16, bytes at
    equal PSNR over one group per chunk: +2.2 to +2.7 % where a path inside each group of
    consecutive dates cost +3.5 to +6.3 % (too few similar dates in 16 to gather, so the
    trial coded them chronologically) (``benchmarks/results/partial_decode.json``).
    """
    order = frame_order.similarity_order(cube, masked.invalid)
    meta["frame_order"] = order.tolist()
    return cube[order], _Masked({k: mk[order] for k, mk in masked.special.items()},
                                None if masked.nodata is None else masked.nodata[order],
                                masked.invalid[order])


def _mask_sections(masked: _Masked, nodata: float | None, dtype: np.dtype,
                   meta: dict[str, Any]) -> list[dict[str, bytes]]:
    """Each non-empty mask's candidate sections (:func:`pack_mask_candidates`); its
    ``[length, value]`` entry in ``meta`` names the deflated one until
    :func:`_choose_mask_coders` has seen the whole chunk."""
    meta["masks"] = []
    sections: list[dict[str, bytes]] = []
    for val, mk in (*masked.special.items(), (nodata, masked.nodata)):
        if mk is not None and mk.any():
            sections.append(pack_mask_candidates(mk))
            meta["masks"].append([len(sections[-1]["deflate"]),
                                  val if isinstance(val, str) else py_number(
                                      np.asarray(val).astype(dtype)[()])])
    return sections


def _choose_mask_coders(candidates: list[dict[str, bytes]], meta: dict[str, Any],
                        other_bytes: int) -> list[bytes]:
    """The section of each mask: the context-coded one when it saves at least
    :data:`~xgeo_codecs._container.DEFLATE_MIN_SAVING` of the chunk's bytes (decoding it costs
    8-15 ns a pixel against 0.3 to inflate the deflated bits), else the deflated one, which
    keeps the chunk readable by readers of format 8 and older. ``other_bytes``: the chunk's other
    sections and header, roughly."""
    total = other_bytes + sum(len(c["deflate"]) for c in candidates)
    out = []
    for entry, cand in zip(meta["masks"], candidates, strict=True):
        ctx = cand.get("ctx")
        if ctx is not None and len(cand["deflate"]) - len(ctx) >= (
                _container.DEFLATE_MIN_SAVING * total):
            entry[:] = [len(ctx), entry[1], "ctx"]
            out.append(ctx)
        else:
            out.append(cand["deflate"])
    return out


def _choose_encoder(p: VideoParams) -> tuple[str, int]:
    """The libav encoder for ``p`` and the deepest code depth (bits) it is given."""
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
    return enc, maxbits


def _value_mappings(cube: np.ndarray, inv: np.ndarray, p: VideoParams, maxbits: int,
                    meta: dict[str, Any]) -> tuple[list[dict[str, Any]], np.ndarray | None]:
    """Each plane's value mapping, and the KLT components when the planes are rotated (the
    basis and the bands' valid bounds go to ``meta["klt"]``)."""
    maxcode = (1 << maxbits) - 1
    n_planes = cube.shape[1]
    p.check_band_count(n_planes)
    if p.decorrelate == "klt" and n_planes > 1:
        filled = np.stack([fill_invalid(cube[:, j].astype(np.float64), inv[:, j])
                           .astype(np.float32) for j in range(n_planes)], axis=1)
        bounds = valid_bounds(cube, inv)
        if p.band_weights is None:
            vec = klt.basis(filled, inv)
        else:
            weights = (klt.given_weights(p.band_weights) if isinstance(p.band_weights, tuple)
                       else klt.range_weights(bounds["lo"], bounds["hi"])
                       if p.band_weights == "range"
                       else klt.robust_weights(filled, inv, bounds["lo"], bounds["hi"]))
            vec = klt.weighted_basis(filled, inv, weights)
        comps = klt.forward(filled, vec)
        del filled
        if not np.isfinite(comps).all():
            raise CodecError(
                "decorrelate='klt': the band rotation overflows for this chunk's values "
                "(beyond float32 range); use decorrelate=None")
        meta["klt"] = {"basis": klt.pack(vec), **bounds}
        return shared_step_maps(comps, maxcode), comps
    return [plane_mapping(cube[:, j], inv[:, j], p, maxcode, p.lossless)
            for j in range(n_planes)], None


def _coded_depth(cube: np.ndarray, inv: np.ndarray, maps: list[dict[str, Any]],
                 p: VideoParams, enc: str, maxbits: int) -> int:
    """Lossy: ``maxbits``; lossless: the smallest depth the encoder takes that holds the
    codes of every plane."""
    if not p.lossless:
        return maxbits
    top = max([0] + [span(cube[:, j], inv[:, j], m) for j, m in enumerate(maps)])
    return next(b for b in (_LOSSLESS_DEPTHS if enc == "ffv1" else (8, 10, 12))
                if (1 << b) > top and b <= maxbits)


class _PlaneCoder:
    """Turns planes into codes and codes into packed streams for one chunk."""

    def __init__(self, cube: np.ndarray, inv: np.ndarray, comps: np.ndarray | None,
                 maps: list[dict[str, Any]], enc: str, opts: dict[str, str], p: VideoParams,
                 bd: int, maxcode: int, coded: tuple[int, int]) -> None:
        self.cube, self.inv, self.comps, self.maps = cube, inv, comps, maps
        self.enc, self.opts, self.p, self.bd, self.maxcode = enc, opts, p, bd, maxcode
        self.coded = coded

    def codes_of(self, j: int) -> np.ndarray:
        """Plane ``j``'s codes (invalid pixels filled first, KLT: component ``j``)."""
        m = self.maps[j]
        xf = (self.comps[:, j] if self.comps is not None
              else fill_invalid(self.cube[:, j].astype(np.float64), self.inv[:, j]))
        return to_codes(xf, m, (1 << self.bd) - 1 if m["k"] == "lin" else self.maxcode)

    def code(self, codes: np.ndarray, depth: int) -> tuple[bytes, list[int]]:
        """Codes ``(T, H, W)`` or ``(3, T, H, W)`` padded to the coded size, as one stream per
        group of ``keyint`` frames (one for the chunk without it), concatenated; and the
        groups' stream lengths."""
        h, w = self.cube.shape[-2:]
        hc, wc = self.coded
        if (hc, wc) != (h, w):
            lead = ((0, 0),) * (codes.ndim - 2)
            codes = np.pad(codes, (*lead, (0, hc - h), (0, wc - w)), mode="edge")
        t = codes.shape[-3]
        k = self.p.keyint or t
        try:
            parts = [_stream.encode_stream(codes[..., g:g + k, :, :], self.enc, depth, self.opts,
                                           self.p.threads, self.p.lossless)
                     for g in range(0, t, k)]
            return b"".join(parts), [len(x) for x in parts]
        except CodecError:
            raise
        except Exception as err:  # libav reports option/encoder problems as OSError etc.
            raise CodecError(f"encoder {self.enc} failed ({err}); check the encoder options "
                             f"{self.opts} or pick another codec/encoder") from err


def _plane_streams(coder: _PlaneCoder, p: VideoParams, lay: _stream.Layout,
                   meta: dict[str, Any]) -> list[tuple[bytes, list[int]]]:
    """One packed stream per plane (empty for constant planes and the 2nd/3rd plane of a
    4:4:4 group) with its groups' lengths; may rewrite a plane's mapping to say it is
    predicted."""
    maps, enc, bd = coder.maps, coder.enc, coder.bd
    # lossy x265: planes three at a time as one 4:4:4 stream, sharing motion vectors and
    # partitions (measured at equal rate: +0.4 to +5.4 dB over one grey stream per band
    # with per-band ranges, +0.1 to +1.2 dB on KLT components)
    live = [j for j, m in enumerate(maps) if m["k"] != "const"]
    groups = ([live[i:i + 3] for i in range(0, len(live) - len(live) % 3, 3)]
              if p.pack_planes and not p.lossless and enc == "libx265" else [])
    in_group = {j for g in groups for j in g}
    if enc == "libx265" and lay.kind == "yuv420" and set(live) - in_group:
        meta["chroma"] = "420"  # grey planes in 4:2:0 streams: NVDEC takes them too
    packed = {g[0]: coder.code(np.stack([coder.codes_of(j) for j in g]), bd) for g in groups}
    if groups:
        meta["groups"] = groups
    streams: list[tuple[bytes, list[int]]] = []
    prev: np.ndarray | None = None  # codes of the previous plane (inter-plane prediction)
    for j, m in enumerate(maps):
        if m["k"] == "const" or j in in_group:
            streams.append(packed.get(j, (b"", [])))
            prev = None
            continue
        codes = coder.codes_of(j)
        stream = coder.code(codes, bd)
        if p.plane_prediction and enc == "ffv1" and prev is not None:
            # neighbouring bands are alike: code the difference to the previous plane
            # when that is smaller (measured: -3 % on the 13-band eo-learn cube)
            r = codes.astype(np.int64) - prev
            rbase = int(r.min())
            rspan = int(r.max()) - rbase
            if rspan < 1 << 16:
                rbd = next(b for b in _LOSSLESS_DEPTHS if (1 << b) > rspan)
                alt = coder.code((r - rbase).astype(np.uint16), rbd)
                if len(alt[0]) < len(stream[0]):
                    stream = alt
                    maps[j] = {**m, "pred": 1, "rbase": rbase, "bd": rbd}
        prev = codes.astype(np.int64)
        streams.append(stream)
    return streams


def _codec_options(p: VideoParams, enc: str, t: int, hc: int, wc: int) -> dict[str, str]:
    """The encoder's libav options: the codec's settings for ``enc`` merged with ``p.options``."""
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
        o = {"preset": p.preset or EFFORT_PRESET[p.effort], "tune": "psnr",
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
        elif p.qp is not None:  # libvpx wants its CQ level within [qmin, qmax]
            o.update({"crf": str(int(p.qp)), "qmin": str(int(p.qp)), "qmax": str(int(p.qp))})
        else:
            o["crf"] = str(int(p.crf if p.crf is not None else DEFAULT_CRF["vp9"]))
    elif enc.endswith("_nvenc"):
        o = {"preset": p.preset or "p4", "rc": "constqp",
             "qp": str(int(p.qp if p.qp is not None else (p.crf or 20)))}
    elif enc.endswith(("_qsv", "_vaapi")):
        o = {"global_quality": str(int(p.crf if p.crf is not None else 25))}
    return encoder_options.merge(o, encoder_options.checked(p.options, enc))
