"""Which libav encoder options a :class:`~xgeo_codecs.VideoParams` may carry, and how they
merge with the codec's own settings.

``VideoParams.options`` is stored in the array metadata (``zarr.json`` / ``.zarray``), so a
store's metadata chooses the options of every later write into it. libav and libx265 also
take options that name files (``x265-params=analysis-save=...``, ``csv=``, ``qpfile=``,
``flags=pass1`` writing ``x265_2pass.log``), logs and thread pools. So options are checked
against an **allow-list of pure coding parameters**, one list for options a user passes and
options read from metadata (the same rules for both, so a store written by this version can
always be appended to):

* top-level options per encoder (:data:`TOP_LEVEL`): rate control, presets, GOP and
  reference structure. Anything else (``flags``, ``threads``, ``debug``, ...) is refused.
* ``x265-params`` / ``svtav1-params`` are parsed ``key=value`` by key (``:`` separated) and
  each key checked against :data:`X265_PARAMS` / :data:`SVTAV1_PARAMS`. Keys naming files,
  logs or analysis (``analysis-save``, ``csv``, ``dump-config``, ``recon``, ``qpfile``,
  ``zonefile``, ``stats``, ``lambda-file``, ``scaling-list``, ``log-level``, ``fgs-table``
  ...) are refused, and so are unknown keys.
* keys the codec owns (:data:`TOP_OWNED`, :data:`X265_OWNED`, :data:`SVTAV1_OWNED`: the
  quality (``crf``, ``qp``, ``lossless``) set from ``crf=`` / ``qp=`` / the targets /
  ``lossless=``, logging, thread pools set from ``threads=``) are refused, never silently
  kept.
* values must be plain scalars (str, int, float, bool) written with letters, digits and
  ``. , + - _`` only: no path, quote, escape or separator can reach libav's parser.

User-supplied ``x265-params`` / ``svtav1-params`` **merge** with the codec's own (see
:func:`merge`): a user key replaces the codec's key of the same name, every other codec key
(``ctu=32``, ``info=0``, ``log-level=none``, ``rdoq-level=2``, ``scenecut=0``, pools) stays.

Options from metadata are checked when a chunk is encoded, before libav sees any of them
(:func:`checked`); options passed by a user are checked when the parameters are built too,
so a mistake is reported at once. Reading a store never uses the options.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import CodecError

# the libav encoders of each family: software (what encoder="auto" falls back to) and the
# hardware ones encoder="auto" probes first
SOFTWARE_ENCODERS = {"hevc": "libx265", "av1": "libsvtav1", "vp9": "libvpx-vp9", "ffv1": "ffv1"}
HARDWARE_ENCODERS = {
    "hevc": ("hevc_nvenc", "hevc_qsv", "hevc_vaapi"),
    "av1": ("av1_nvenc", "av1_qsv", "av1_vaapi"),
}


def family_of(encoder: str) -> str | None:
    """The codec family a libav encoder name codes, None for a name this codec does not use.

    Examples
    --------
    >>> family_of("libx265"), family_of("av1_nvenc"), family_of("libx264")
    ('hevc', 'av1', None)
    """
    for fam, name in SOFTWARE_ENCODERS.items():
        if encoder == name or encoder in HARDWARE_ENCODERS.get(fam, ()):
            return fam
    return None


# generic AVCodecContext options that are pure coding parameters
_GENERIC = frozenset({"g", "bf", "refs", "qmin", "qmax", "b", "maxrate", "bufsize",
                      "keyint_min", "sc_threshold"})
TOP_LEVEL: dict[str, frozenset[str]] = {
    "libx265": _GENERIC | {"preset", "tune", "forced-idr", "profile", "x265-params"},
    "libsvtav1": _GENERIC | {"preset", "svtav1-params"},
    "libvpx-vp9": _GENERIC | {"deadline", "cpu-used", "row-mt",
                              "auto-alt-ref", "lag-in-frames", "arnr-maxframes",
                              "arnr-strength", "arnr-type", "tune", "aq-mode", "tile-columns",
                              "tile-rows", "frame-parallel", "sharpness", "static-thresh",
                              "undershoot-pct", "overshoot-pct", "noise-sensitivity",
                              "tune-content", "enable-tpl"},
    "ffv1": _GENERIC | {"level", "slicecrc", "context", "coder", "slices", "qtable"},
}
_NVENC = _GENERIC | {"preset", "tune", "rc", "cq", "profile", "tier", "level",
                     "spatial_aq", "temporal_aq", "aq-strength", "rc-lookahead", "multipass",
                     "b_ref_mode", "no-scenecut", "weighted_pred", "zerolatency"}
_QSV_VAAPI = _GENERIC | {"preset", "look_ahead", "look_ahead_depth", "rc_mode", "profile"}
# top-level options the codec sets from its own parameters, whatever the encoder: a user's
# would override them unseen (options={"crf": "0"} coded SVT-AV1 at QP 35, which crf=0 is
# refused for; options={"crf": "40"} under psnr= made every probe of the search code at 40)
TOP_OWNED = {"crf": "crf=", "qp": "qp=", "global_quality": "crf=", "lossless": "lossless="}

# x265 coding parameters (x265 --help names; ``no-<key>`` is accepted for each)
X265_PARAMS = frozenset({
    # rate control and quantisation
    "crf-max", "crf-min", "qpmin", "qpmax", "qpstep", "ipratio", "pbratio",
    "cbqpoffs", "crqpoffs", "bitrate", "vbv-maxrate", "vbv-bufsize", "vbv-init", "qcomp",
    "qblur", "cplxblur", "rc-grain", "strict-cbr", "aq-mode", "aq-strength", "aq-motion",
    "qg-size", "cutree", "hevc-aq",
    # rate-distortion optimisation, psy
    "rd", "rdoq-level", "psy-rd", "psy-rdoq", "rd-refine", "rskip", "rskip-edge-threshold",
    "ssim-rd", "tskip", "tskip-fast", "cu-lossless", "dynamic-rd", "splitrd-skip",
    # partitions and transforms
    "ctu", "min-cu-size", "max-tu-size", "tu-intra-depth", "tu-inter-depth", "limit-tu",
    "rect", "amp", "limit-modes", "early-skip", "fast-intra", "b-intra", "intra-refresh",
    "constrained-intra", "strong-intra-smoothing", "rdpenalty", "limit-refs",
    # motion search and references
    "me", "subme", "merange", "max-merge", "temporal-mvp", "weightp", "weightb", "ref",
    "hme", "hme-search", "hme-range", "analyze-src-pics", "fades",
    # frame types, GOP
    "bframes", "b-adapt", "b-pyramid", "bframe-bias", "rc-lookahead", "lookahead-slices",
    "scenecut", "scenecut-bias", "hist-scenecut", "keyint", "min-keyint", "open-gop",
    "radl", "gop-lookahead",
    # loop filters
    "deblock", "sao", "sao-non-deblock", "limit-sao", "selective-sao",
    # noise reduction
    "nr-intra", "nr-inter",
})
# set by the codec itself: logging, thread pools (from threads=), lossless (from lossless=)
X265_OWNED = frozenset({"info", "log-level", "pools", "numa-pools", "frame-threads",
                        "lookahead-threads", "wpp", "pmode", "pme", "lossless", "crf", "qp"})

# SVT-AV1 coding parameters (SvtAv1EncApp names)
SVTAV1_PARAMS = frozenset({
    "preset", "rc", "tune", "tbr", "mbr", "min-qp", "max-qp", "keyint",
    "irefresh-type", "lookahead", "hierarchical-levels", "pred-struct", "scd",
    "enable-overlays", "enable-tf", "tf-strength", "enable-qm", "qm-min", "qm-max",
    "aq-mode", "enable-cdef", "enable-restoration", "enable-dlf", "sharpness",
    "tile-rows", "tile-columns", "fast-decode", "enable-variance-boost",
    "variance-boost-strength", "variance-octile", "film-grain", "film-grain-denoise",
    "luminance-qp-bias", "enable-mfmv", "enable-tpl-la",
})
SVTAV1_OWNED = frozenset({"lp", "pin", "ss", "lossless", "crf", "qp"})
_NESTED = {"x265-params": (X265_PARAMS, X265_OWNED, "libx265"),
           "svtav1-params": (SVTAV1_PARAMS, SVTAV1_OWNED, "libsvtav1")}
_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_VALUE = re.compile(r"[A-Za-z0-9_.,+-]*\Z")
_OWNER_HINT = {"pools": "threads=", "numa-pools": "threads=", "frame-threads": "threads=",
               "lookahead-threads": "threads=", "wpp": "threads=", "pmode": "threads=",
               "pme": "threads=", "lp": "threads=", "pin": "threads=", "ss": "threads=",
               "lossless": "lossless=", "crf": "crf= (or a psnr= / bpppb= / max_error= target)",
               "qp": "qp="}


def allowed_top_level(encoder: str) -> frozenset[str]:
    """Top-level libav options ``encoder`` may be given."""
    if encoder.endswith("_nvenc"):
        return _NVENC
    if encoder.endswith(("_qsv", "_vaapi")):
        return _QSV_VAAPI
    return TOP_LEVEL.get(encoder, _GENERIC)


def _scalar(key: str, value: Any, where: str) -> str:
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, (str, int, float)):
        raise CodecError(f"{where}: option {key!r} has a {type(value).__name__} value; encoder "
                         "options take plain strings or numbers")
    return str(value)


def _check_value(key: str, value: str, where: str) -> None:
    if not _VALUE.match(value) or len(value) > 64:
        raise CodecError(f"{where}: option {key!r}={value!r} is refused: values may hold only "
                         "letters, digits and '. , + - _' (no paths, quotes or separators), "
                         "at most 64 characters")


def parse_params(text: str, name: str, where: str = "options") -> dict[str, str]:
    """Parse and check one ``x265-params`` / ``svtav1-params`` string; returns key -> value.

    Keys are normalised as the encoder does (``_`` -> ``-``); a bare key means ``=1``.

    Examples
    --------
    >>> parse_params("bframes=2:no-sao", "x265-params")
    {'bframes': '2', 'no-sao': '1'}
    >>> parse_params("analysis-save=x.dat", "x265-params")
    Traceback (most recent call last):
    ...
    xgeo_codecs.errors.CodecError: options: x265-params key 'analysis-save' is refused: ...
    """
    allowed, owned, _ = _NESTED[name]
    out: dict[str, str] = {}
    if len(text) > 2048:
        raise CodecError(f"{where}: {name} is {len(text)} characters long; at most 2048")
    for item in filter(None, text.split(":")):
        key, eq, value = item.partition("=")
        if "=" in value:
            raise CodecError(f"{where}: {name} entry {item!r} has two '='; write key=value")
        if not _KEY.match(key):
            raise CodecError(f"{where}: {name} key {key!r} is not a lower-case parameter name")
        key = key.replace("_", "-")
        base = key[3:] if key.startswith("no-") else key
        if base in owned or key in owned:
            hint = _OWNER_HINT.get(base)
            raise CodecError(
                f"{where}: {name} key {key!r} is set by the codec itself"
                + (f" (from {hint})" if hint else " (logging is always off)")
                + "; remove it from options")
        if key not in allowed and base not in allowed:
            raise CodecError(
                f"{where}: {name} key {key!r} is refused: only coding parameters are allowed "
                "(rate control, psy/rdoq, partitions, motion search, references, b-frames, "
                "deblock/sao, aq, keyint; no file, log, analysis or thread options). "
                f"Allowed: {', '.join(sorted(allowed))}")
        value = value if eq else "1"
        _check_value(f"{name}:{key}", value, where)
        out[key] = value
    return out


def checked(options: Mapping[str, Any], encoder: str | None,
            where: str = "options") -> dict[str, str]:
    """``options`` checked against the allow-list, values as strings.

    ``encoder``: the libav encoder the options are for, or None to allow the top-level
    options of any encoder (when the encoder is not resolved yet). Raises :class:`CodecError`
    naming the first refused option and what is allowed.
    """
    if not isinstance(options, Mapping):
        raise CodecError(f"{where} must be a dict of encoder options, got "
                         f"{type(options).__name__}")
    if encoder is None:
        top = frozenset().union(_NVENC, _QSV_VAAPI, *TOP_LEVEL.values())
    else:
        top = allowed_top_level(encoder)
    out: dict[str, str] = {}
    for key, value in options.items():
        if not isinstance(key, str):
            raise CodecError(f"{where}: option names are strings, got {key!r}")
        s = _scalar(key, value, where)
        if key in _NESTED:  # first, so a refused key is named whatever the encoder
            parse_params(s, key, where)
        if key in TOP_OWNED:
            raise CodecError(
                f"{where}: option {key!r} is set by the codec itself (from {TOP_OWNED[key]}"
                f"{'' if key == 'lossless' else ', or a psnr= / bpppb= / max_error= target'}"
                "); pass that parameter instead of the option")
        if key not in top:
            owner = _NESTED[key][2] if key in _NESTED else None
            if owner and encoder:
                raise CodecError(
                    f"{where}: option {key!r} is for {owner}, not {encoder} (encoder='auto' "
                    f"picks a hardware encoder when one works); pass encoder={owner!r} to "
                    "use it, or drop the option")
            target = f"encoder {encoder}" if encoder else "any encoder"
            raise CodecError(
                f"{where}: option {key!r} is refused for {target}: only coding parameters "
                f"are allowed ({', '.join(sorted(top))})")
        if key not in _NESTED:
            _check_value(key, s, where)
        out[key] = s
    return out


def merge(ours: dict[str, str], user: Mapping[str, str]) -> dict[str, str]:
    """The codec's options ``ours`` updated with the (checked) ``user`` options.

    ``x265-params`` / ``svtav1-params`` merge key by key, the user's value winning for a key
    both set (``sao`` and ``no-sao`` count as one key); other options are replaced.

    Examples
    --------
    >>> merge({"crf": "6", "x265-params": "info=0:ctu=32:scenecut=0"},
    ...       {"crf": "8", "x265-params": "bframes=2:scenecut=40"})
    {'crf': '8', 'x265-params': 'info=0:ctu=32:scenecut=40:bframes=2'}
    """
    out = dict(ours)
    for key, value in user.items():
        if key in _NESTED and out.get(key):
            mine = _split(out[key])
            for k, v in _split(value).items():
                base = k[3:] if k.startswith("no-") else k
                for old in (base, "no-" + base):
                    if old in mine and old != k:
                        del mine[old]
                mine[k] = v
            out[key] = ":".join(f"{k}={v}" for k, v in mine.items())
        else:
            out[key] = value
    return out


# keys of the codec's own nested params that say how the encoder ran, not how it coded:
# left out of the options a chunk header records (they cost ~45 bytes in every chunk)
RUN_ONLY = frozenset({"info", "log-level", "pools", "numa-pools", "frame-threads", "lp"})


def recorded(options: Mapping[str, str]) -> dict[str, str]:
    """The options as a chunk header records them: the coding parameters, without the
    logging and thread keys (:data:`RUN_ONLY`) of ``x265-params`` / ``svtav1-params``.

    Examples
    --------
    >>> recorded({"crf": "6", "x265-params": "info=0:log-level=none:ctu=32:pools=1"})
    {'crf': '6', 'x265-params': 'ctu=32'}
    """
    out = dict(options)
    for key in _NESTED:
        if key in out:
            kept = {k: v for k, v in _split(out[key]).items() if k not in RUN_ONLY}
            out[key] = ":".join(f"{k}={v}" for k, v in kept.items())
            if not out[key]:
                del out[key]
    return out


def _split(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, text.split(":")):
        k, eq, v = item.partition("=")
        out[k.replace("_", "-")] = v if eq else "1"
    return out


class FrozenOptions(Mapping[str, str]):
    """A read-only, hashable, picklable copy of encoder options (``VideoParams.options``).

    Examples
    --------
    >>> o = FrozenOptions({"bf": "2"})
    >>> o == {"bf": "2"}, hash(o) == hash(FrozenOptions({"bf": "2"})), dict(o)
    (True, True, {'bf': '2'})
    >>> o["bf"] = "3"
    Traceback (most recent call last):
    ...
    TypeError: 'FrozenOptions' object does not support item assignment
    """

    __slots__ = ("_data",)

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        self._data = dict(options or {})

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._data.items())))

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._data,))
