"""The chunk container's prefix, checksum and JSON header, parsed and validated once.

Everything that reads a chunk (``decode``, ``chunk_info``/``inspect``, the Zarr face's
pre-check of shape and dtype) goes through :func:`parse`, so a header that passed it is
well formed: every key is known for its format version, every field has its type, range
and list length, and the section lengths add up to the chunk size. Anything else raises
:class:`CodecError` naming the bad field, never ``TypeError``, ``RecursionError`` or a bare
``ValueError``. The value meaning of a well-formed header (a mapping's ``lo``/``hi``, a
constant) is not checked here: a CRC-valid forgery may decode to other values, but only to
the announced shape and dtype, within :func:`check_size`'s bound.

The frame around the header (magic, version, checksum) and the table of which key needs
which format version are in :mod:`xgeo_codecs._container`; ``codecs/SPEC.md`` describes the
layout and what each key means.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from ._container import CRC, FEATURES, FORMAT_VERSION, MAGIC, PREFIX, keys_of_version, unframe
from .errors import CodecError
from .mask import CODERS as MASK_CODERS

__all__ = ["CRC", "FORMAT_VERSION", "MAGIC", "PREFIX", "check_size", "cube_shape",
           "max_bytes_limit", "nbytes", "parse", "validate"]
DTYPES = ("|u1", "<u2", "<u4", "|i1", "<i2", "<i4", "<f4", "<f8")
FAMILIES = ("hevc", "ffv1", "av1", "vp9")
MAX_VALUES = 1 << 34  # refuse headers announcing absurd sizes (corruption, not data)
MAX_NDIM = 32
MAX_BYTES_ENV = "XGEO_CODECS_MAX_BYTES"
DEFAULT_MAX_BYTES = 2 << 30  # 2 GiB of decoded values per chunk
_MAX_INT = 1 << 53  # integers in a header (bases, lengths) stay exact in float64
_MAX_TEXT = 4096  # longest string (option value, encoder name) a header may hold

_BASE_KEYS = {"shape", "dtype"}
_STREAM_KEYS = {"frame_axis", "masks", "encoder", "family", "bit_depth", "coded", "options",
                "planes", "chroma"}
_REQUIRED = {"frame_axis", "masks", "encoder", "family", "bit_depth", "coded", "options",
             "planes"}
_MAP_KEYS = {"const": {"v"}, "int": {"base"}, "grid": {"base", "mul", "div", "add"},
             "lin": {"lo", "hi"}}
_PRED_KEYS = {"pred", "rbase", "bd"}
_RESIDUAL_KEYS = {"step", "dtype", "qlen", "n_exc", "z"}


_NAMES = {"frame_order": "frame order", "groups": "plane groups", "klt": "band transform",
          "masks": "mask", "planes": "plane", "residual": "residual"}


def _bad(field: str, what: str) -> CodecError:
    name = _NAMES.get(field.split("[")[0].split(".")[0])
    about = f" ({name})" if name else ""
    return CodecError(f"header field {field!r}{about} {what}; the chunk is corrupt")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(v: Any, field: str, lo: int = -_MAX_INT, hi: int = _MAX_INT) -> int:
    if not _is_int(v) or not lo <= v <= hi:
        raise _bad(field, f"must be an integer in {lo}..{hi}, got {_short(v)}")
    return v


def _finite(v: Any, field: str) -> float:
    if not _is_num(v) or not math.isfinite(v):
        raise _bad(field, f"must be a finite number, got {_short(v)}")
    return float(v)


def _list(v: Any, field: str, n: int | None = None, most: int = 1 << 16) -> list[Any]:
    if not isinstance(v, list):
        raise _bad(field, f"must be a list, got {type(v).__name__}")
    if (n is not None and len(v) != n) or len(v) > most:
        raise _bad(field, f"has {len(v)} entries, expected {n if n is not None else most}")
    return v


def _dict(v: Any, field: str, allowed: set[str], required: set[str] = frozenset()) -> dict:
    if not isinstance(v, dict):
        raise _bad(field, f"must be an object, got {type(v).__name__}")
    extra = set(v) - allowed
    if extra:
        raise _bad(field, f"has unknown keys {sorted(extra)[:4]}")
    missing = set(required) - set(v)
    if missing:
        raise _bad(field, f"lacks the keys {sorted(missing)}")
    return v


def _short(v: Any) -> str:
    text = repr(v) if not isinstance(v, (list, dict)) else type(v).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _scalar(v: Any, field: str) -> None:
    if _is_int(v) and abs(v) > _MAX_INT:
        raise _bad(field, "holds an out-of-range integer")
    if v is None or isinstance(v, (bool, int, float)) or (
            isinstance(v, str) and len(v) <= _MAX_TEXT):
        return
    raise _bad(field, f"must be a number, string, boolean or null, got {_short(v)}")


def _flat(v: Any, field: str, nested: tuple[str, ...] = ()) -> None:
    """An object of at most 64 scalars (and, under ``nested`` keys, one level of the same)."""
    if not isinstance(v, dict) or len(v) > 64:
        raise _bad(field, "must be an object of at most 64 entries")
    for k, x in v.items():
        if len(k) > 256:
            raise _bad(field, "has an over-long key")
        if k in nested:
            _flat(x, f"{field}.{k}")
        else:
            _scalar(x, f"{field}.{k}")


def _tools(v: Any) -> None:
    """The informative ``tools`` record (format 6): ``tried`` [[name, dB], ...], ``cost``."""
    _dict(v, "tools", {"tried", "cost"}, {"tried"})
    for i, entry in enumerate(_list(v["tried"], "tools.tried", most=8)):
        _list(entry, f"tools.tried[{i}]", 2)
        if not isinstance(entry[0], str) or len(entry[0]) > 32:
            raise _bad(f"tools.tried[{i}]", "must start with a tool name")
        _finite(entry[1], f"tools.tried[{i}]")
    if "cost" in v:
        _finite(v["cost"], "tools.cost")


def _keyint(v: Any, planes: list[list[Any]], t: int) -> None:
    """Frame groups (format 7): ``frames`` per group and, per plane, the byte length of each
    group's stream (none for constant planes and the 2nd/3rd plane of a 4:4:4 group), adding
    up to the plane's stream."""
    _dict(v, "keyint", {"frames", "bytes"}, {"frames", "bytes"})
    k = _int(v["frames"], "keyint.frames", 1, max(t, 1))
    n_groups = -(-t // k)
    for j, (parts, entry) in enumerate(zip(_list(v["bytes"], "keyint.bytes", len(planes)),
                                           planes, strict=True)):
        f = f"keyint.bytes[{j}]"
        _list(parts, f, most=n_groups)
        if len(parts) not in ((n_groups,) if entry[0] else (0,)):
            raise _bad(f, f"must list {n_groups if entry[0] else 0} group streams")
        if sum(_int(x, f, 1, entry[0]) for x in parts) != entry[0] and parts:
            raise _bad(f, "must add up to the plane's stream length")


def cube_shape(shape: list[int], fa: int) -> tuple[int, int, int, int]:
    """(T, P, H, W) of a chunk of ``shape`` with frame axis ``fa`` (no allocation)."""
    if len(shape) <= 2:
        full = [1] * (2 - len(shape)) + list(shape)
        return 1, 1, full[0], full[1]
    rest = math.prod(s for i, s in enumerate(shape[:-2]) if i != fa)
    return shape[fa], rest, shape[-2], shape[-1]


def _mask_value(v: Any, dtype: np.dtype, field: str) -> None:
    if dtype.kind == "f":
        if v in ("nan", "inf", "-inf") or (_is_num(v) and not (isinstance(v, float)
                                                              and math.isnan(v))):
            if _is_num(v) and math.isfinite(v) and abs(v) > np.finfo(dtype).max:
                raise _bad(field, f"is outside the range of {dtype}")
            return
        raise _bad(field, f"must be 'nan' or a number, got {_short(v)}")
    info = np.iinfo(dtype)
    _int(v, field, int(info.min), int(info.max))


def _mapping(m: Any, field: str, dtype: np.dtype, as_float: bool) -> str:
    """Validate one plane's code mapping; returns its kind."""
    k = m.get("k") if isinstance(m, dict) else None
    if not isinstance(k, str) or k not in _MAP_KEYS:
        raise _bad(f"{field}.k", f"must be one of {sorted(_MAP_KEYS)}, got {_short(k)}")
    extra = _PRED_KEYS if k != "const" else set()
    _dict(m, field, {"k"} | _MAP_KEYS[k] | extra, {"k"} | _MAP_KEYS[k])
    if k == "const":
        v = m["v"]
        if as_float or dtype.kind == "f":
            if not _is_num(v) or math.isnan(v) or (
                    math.isfinite(v) and abs(v) > np.finfo(np.float64 if as_float else dtype).max):
                raise _bad(f"{field}.v", f"must be a number in the range of {dtype}")
        else:
            info = np.iinfo(dtype)
            _int(v, f"{field}.v", int(info.min), int(info.max))
    elif k in ("int", "grid"):
        _int(m["base"], f"{field}.base")
        if k == "grid":
            if _finite(m["mul"], f"{field}.mul") == 0:
                raise _bad(f"{field}.mul", "must not be 0")
            _int(m["div"], f"{field}.div", 1, 10**12)
            _finite(m["add"], f"{field}.add")
    else:
        _finite(m["lo"], f"{field}.lo")
        _finite(m["hi"], f"{field}.hi")
    if "bd" in m:
        _int(m["bd"], f"{field}.bd", 1, 16)
    if "pred" in m:
        _int(m["pred"], f"{field}.pred", 0, 1)
        if m["pred"]:
            _int(m.get("rbase"), f"{field}.rbase", -(1 << 17), 1 << 17)
    elif "rbase" in m:
        raise _bad(f"{field}.rbase", "is set without 'pred'")
    return k


def _groups(groups: Any, planes: list[list[Any]]) -> None:
    """4:4:4 plane groups: three distinct increasing non-constant planes each, the stream
    stored with the first, the other two with none."""
    _list(groups, "groups", most=len(planes) // 3)
    seen: set[int] = set()
    for i, g in enumerate(groups):
        f = f"groups[{i}]"
        _list(g, f, 3)
        for j in g:
            _int(j, f, 0, len(planes) - 1)
        if not (g[0] < g[1] < g[2]) or seen & set(g):
            raise _bad(f, "must hold three increasing planes not in another group")
        if planes[g[0]][0] <= 0 or any(planes[j][0] != 0 for j in g[1:]):
            raise _bad(f, "must have its stream with the first plane only")
        if any(planes[j][1]["k"] == "const" for j in g):
            raise _bad(f, "holds a constant plane")
        seen |= set(g)


def validate(meta: dict[str, Any], version: int, body_bytes: int) -> None:
    """Check a decoded header against the schema of its format ``version``.

    ``body_bytes`` is the length of everything between the header and the checksum (the
    sections must add up to it). Raises :class:`CodecError` naming the first bad field.
    """
    allowed = _BASE_KEYS | keys_of_version(version)
    shape = _list(meta.get("shape"), "shape", most=MAX_NDIM)
    for s in shape:
        _int(s, "shape", 0, MAX_VALUES)
    dtype_s = meta.get("dtype")
    if dtype_s not in DTYPES:
        raise _bad("dtype", f"names an unsupported dtype {_short(dtype_s)}")
    dtype = np.dtype(dtype_s)
    size = math.prod(shape)
    if size > MAX_VALUES:
        raise CodecError("header announces an implausibly large chunk; the chunk is corrupt")
    if size == 0:
        extra = set(meta) - allowed
        if extra:
            raise _bad(sorted(extra)[0], "is not allowed in an empty chunk")
        if body_bytes:
            raise CodecError("empty chunk with trailing data; the chunk is corrupt")
        return
    allowed |= _STREAM_KEYS
    extra = set(meta) - allowed
    if extra:
        raise _bad(sorted(extra)[0], f"is not a key of format version {version}")
    missing = _REQUIRED - set(meta)
    if missing:
        raise _bad(sorted(missing)[0], "is missing")
    nd = len(shape)
    fa = _int(meta["frame_axis"], "frame_axis", 0, max(nd - 3, 0))
    t, n_planes, h, w = cube_shape(shape, fa)
    _flat(meta["options"], "options")
    enc = meta["encoder"]
    if not isinstance(enc, str) or not 0 < len(enc) <= 64:
        raise _bad("encoder", f"must be an encoder name, got {_short(enc)}")
    if meta["family"] not in FAMILIES:
        raise _bad("family", f"must be one of {list(FAMILIES)}, got {_short(meta['family'])}")
    _int(meta["bit_depth"], "bit_depth", 1, 16)
    coded = _list(meta["coded"], "coded", 2)
    # encoders pad frames to at most 128 pixels and a multiple of at most 32
    _int(coded[0], "coded", h, max(h, 128) + 64)
    _int(coded[1], "coded", w, max(w, 128) + 64)
    if "order" in meta and meta["order"] != "F":
        raise _bad("order", f"must be 'F', got {_short(meta['order'])}")
    if "chroma" in meta and meta["chroma"] != "420":
        raise _bad("chroma", f"must be '420', got {_short(meta['chroma'])}")
    total = 0
    masks = _list(meta["masks"], "masks", most=4)
    coded_masks = version >= FEATURES["masks:ctx"]  # entries may name their coder
    for i, entry in enumerate(masks):
        f = f"masks[{i}]"
        _list(entry, f, 3 if coded_masks and isinstance(entry, list) and len(entry) == 3 else 2)
        if len(entry) == 3 and entry[2] not in MASK_CODERS:
            raise _bad(f"{f}.coder", f"must be one of {list(MASK_CODERS)}, got {_short(entry[2])}")
        total += _int(entry[0], f"{f}.length", 1, body_bytes)
        _mask_value(entry[1], dtype, f"{f}.value")
    planes = _list(meta["planes"], "planes", n_planes)
    rot = meta.get("klt")
    for j, entry in enumerate(planes):
        f = f"planes[{j}]"
        _list(entry, f, 2)
        length = _int(entry[0], f"{f}.length", 0, body_bytes)
        total += length
        if _mapping(entry[1], f"{f}.mapping", dtype, rot is not None) == "const" and length:
            raise _bad(f"{f}.length", "must be 0 for a constant plane")
    if "groups" in meta:
        _groups(meta["groups"], planes)
    if rot is not None:
        _dict(rot, "klt", {"basis", "lo", "hi"}, {"basis", "lo", "hi"})
        if not isinstance(rot["basis"], str) or len(rot["basis"]) > 4 * n_planes**2 + 8:
            raise _bad("klt.basis", "must be a base64 string of the plane basis")
        for k in ("lo", "hi"):
            for x in _list(rot[k], f"klt.{k}", n_planes):
                _finite(x, f"klt.{k}")
    if "frame_order" in meta:
        for x in _list(meta["frame_order"], "frame_order", t):
            _int(x, "frame_order", 0, t - 1)
    if "keyint" in meta:
        _keyint(meta["keyint"], planes, t)
    if "quality" in meta:
        _flat(meta["quality"], "quality", nested=("target",))
    if "tools" in meta:
        _tools(meta["tools"])
    if meta.get("residual") is not None:
        res = _list(meta["residual"], "residual", 2)
        res_len = _int(res[0], "residual.length", 0, body_bytes)
        total += res_len
        info = _dict(res[1], "residual.info", _RESIDUAL_KEYS, {"step", "dtype", "qlen"})
        if _finite(info["step"], "residual.step") <= 0:
            raise _bad("residual.step", "must be positive")
        if info["dtype"] not in ("|i1", "<i2", "<i4"):
            raise _bad("residual.dtype", f"must be a signed integer type, got "
                       f"{_short(info['dtype'])}")
        _int(info["qlen"], "residual.qlen", 0, res_len)
        _int(info.get("n_exc", 0), "residual.n_exc", 0, size)
        if info.get("z", "zlib") not in ("zlib", "lzma"):
            raise _bad("residual.z", f"must be 'zlib' or 'lzma', got {_short(info.get('z'))}")
    if total != body_bytes:
        raise CodecError("section lengths do not add up to the chunk size; the chunk is corrupt")


def parse(buf: bytes) -> tuple[dict[str, Any], int]:
    """Check prefix and checksum, parse and :func:`validate` the header.

    Returns the header (plus ``format_version``) and the offset of the first section.
    """
    version, text, end = unframe(buf)
    try:
        meta = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise CodecError(f"header is not valid JSON ({err}); the chunk is corrupt") from None
    except RecursionError:
        raise CodecError("header is nested too deeply; the chunk is corrupt") from None
    if not isinstance(meta, dict):
        raise CodecError("header is not a JSON object; the chunk is corrupt")
    validate(meta, version, len(buf) - CRC.size - end)
    meta["format_version"] = version
    return meta, end


def max_bytes_limit(max_bytes: int | None) -> int:
    """The decode size limit: ``max_bytes``, else ``$XGEO_CODECS_MAX_BYTES``, else 2 GiB."""
    if max_bytes is None:
        text = os.environ.get(MAX_BYTES_ENV)
        if not text:
            return DEFAULT_MAX_BYTES
        try:
            max_bytes = int(text)
        except ValueError:
            raise CodecError(f"${MAX_BYTES_ENV}={text!r} is not an integer number of bytes"
                             ) from None
    if not _is_int(max_bytes) or max_bytes < 0:
        raise CodecError(f"max_bytes={max_bytes!r} must be a non-negative integer (bytes)")
    return max_bytes


def nbytes(meta: dict[str, Any]) -> int:
    """Bytes of the array a validated header announces."""
    return math.prod(meta["shape"]) * np.dtype(meta["dtype"]).itemsize


def check_size(meta: dict[str, Any], max_bytes: int | None) -> None:
    """Refuse a chunk whose decoded array would exceed the limit (see :func:`max_bytes_limit`)."""
    limit = max_bytes_limit(max_bytes)
    need = nbytes(meta)
    if need > limit:
        raise CodecError(
            f"chunk header announces a {tuple(meta['shape'])} {np.dtype(meta['dtype'])} array "
            f"({need} bytes), more than the decode limit of {limit} bytes; if the chunk is "
            f"genuine, pass max_bytes= or set ${MAX_BYTES_ENV}")
