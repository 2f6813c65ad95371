"""Encoding parameters shared by the pure core and both codec faces, and the codec id."""

from __future__ import annotations

import contextlib
import contextvars
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

import numpy as np

from . import encoder_options
from .errors import CodecError
from .levels import check_crf_qp
from .param_types import PARAM_TYPES, per_band_weights, plain_value

# the id both faces are registered under (numcodecs ``id``, Zarr v3 codec ``name``, the entry
# points in pyproject.toml) and that every stored config carries
CODEC_ID = "xgeo.video"
FAMILIES = ("hevc", "av1", "vp9", "ffv1")
# lossy bit depth per family when none is given (software encoders)
DEFAULT_BIT_DEPTH = {"hevc": 12, "av1": 10, "vp9": 8}
DEFAULT_CRF = {"hevc": 6.0, "av1": 30.0, "vp9": 30.0}  # hevc 6: ~1 bpppb, ~52 dB on nrt
DEFAULT_PRESET = {"hevc": "faster", "av1": "6", "vp9": None}  # SVT-AV1 >= 8: offsets on flat frames
# ``effort=`` -> the x265 preset used when ``preset`` is not given. Measured on the four real
# cubes (benchmarks/compare/x265_effort.py, KLT chunks, PSNR at equal rate against faster):
# medium +0.5 to +1.0 dB for 1.35-1.56x the encode time, slower +0.6 to +1.5 dB for 3.8-9.7x;
# veryfast/fast cost and code as faster, slow codes worse than medium
EFFORT_PRESET = {"fast": "faster", "default": "medium", "max": "slower"}
EFFORTS = tuple(EFFORT_PRESET)
BAND_WEIGHTS = ("robust", "range", None)
# the x265 preset of versions 1 and 2 when a config said ``preset: null``
PRESET_BEFORE_V3 = {"hevc": "faster", "av1": "6"}
# the schema version of the stored config: since 2 every parameter is written (resolved), so a
# stored array never depends on the reader's defaults; configs without the key are version 1
# 3: ``effort``; ``decorrelate`` / ``reorder_frames`` take "auto" (the new defaults)
# 4: ``keyint``; 5: ``band_weights`` (default "range"); 6: ``band_weights="robust"`` (the
# default since; configs of version 5 always wrote their ``band_weights``)
CONFIG_VERSION = 6
CONFIG_VERSION_KEY = "config_version"
# True while parameters read from array metadata are built: their ``options`` are checked
# when a chunk is encoded (reading the store never uses them), not when the store is opened
_FROM_METADATA = contextvars.ContextVar("xgeo_codecs_from_metadata", default=False)


# What a version-1 config (non-default fields only, no ``config_version``) means: the
# defaults of the xgeo-codecs releases that wrote it, copied once and never edited. When a
# live default of VideoParams changes, old arrays keep meaning what they meant.
DEFAULTS_CONFIG_V1: Mapping[str, Any] = MappingProxyType({
    "codec": None, "lossless": False, "encoder": "auto", "crf": None, "qp": None,
    "preset": None, "bit_depth": None, "value_range": None, "nodata": None,
    "scale_factor": None, "add_offset": None, "frame_axis": 0, "threads": 1, "decoder": None,
    "options": encoder_options.FrozenOptions(), "plane_prediction": True, "psnr": None, "max_error": None,
    "bpppb": None, "stats": False, "decorrelate": None, "pack_planes": True,
    "reorder_frames": False,
})


# parameters added after version 2 -> (the config version that added them, the value that
# means what stored configs without them meant); ``effort="fast"`` is the x265 preset those
# versions used for ``preset: null`` (a test pins EFFORT_PRESET["fast"] to PRESET_BEFORE_V3)
ADDED_PARAMETERS: Mapping[str, tuple[int, Any]] = MappingProxyType({
    "effort": (3, "fast"),
    "keyint": (4, None),  # before version 4 a chunk was one group of frames
    "band_weights": (5, None),  # before version 5 the KLT rotated bands in data units
})


@contextlib.contextmanager
def stored_config() -> Iterator[None]:
    """Parameters built inside are read from array metadata (``from_config(stored=True)``).

    The codec faces construct themselves from a stored config inside this scope, so their
    constructor is the one way in for both user arguments and metadata.

    Examples
    --------
    >>> import warnings
    >>> with stored_config(), warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     VideoParams.from_config({"crf": 4, "knob_of_a_newer_version": 1}).crf
    4
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    ignoring codec parameters ['knob_of_a_newer_version'] unknown to this xgeo-codecs ...
    """
    token = _FROM_METADATA.set(True)
    try:
        yield
    finally:
        _FROM_METADATA.reset(token)


@dataclass(frozen=True)
class VideoParams:
    """How to encode a chunk. Every field is JSON-serialisable (it is the codec's config).

    Immutable and hashable: ``options`` is a read-only mapping (a copy of what was given).

    Parameters
    ----------
    codec
        ``"hevc"`` (x265, default for lossy), ``"av1"`` (SVT-AV1), ``"vp9"`` (libvpx), or
        ``"ffv1"`` (default when ``lossless=True``). Resolved when built: ``None`` becomes
        the default family, so the stored config names the codec.
    lossless
        Bit-exact round trip (FFV1, or x265 lossless where every plane spans <= 4096 codes).
        Floats are stored exactly only when they lie on a grid ``k * scale + offset``
        (e.g. reflectance = DN / 10000); otherwise encoding raises :class:`CodecError`.
    encoder
        ``"auto"`` (probe hardware once, fall back to software) or a libav encoder name.
    crf, qp, preset
        Lossy rate control and speed preset (x265 / SVT-AV1 / libvpx names).
    bit_depth
        Code depth for lossy encoding (hevc 8/10/12, av1 8/10, vp9 8). Lossless picks the
        smallest depth that holds the data.
    value_range
        ``(lo, hi)`` used to map values to codes (values outside are clipped). Default: the
        valid min/max of each plane of each chunk, stored in the chunk header.
    nodata
        A value that marks missing data (besides NaN); restored exactly on decode.
    scale_factor, add_offset
        CF packing of float data: a float lossless chunk must equal ``k * scale_factor +
        add_offset`` for integers ``k``. Without them, decimal steps 1, 0.1, ... 1e-6 are tried.
        Integer chunks on such a grid are coded as their indices ``k`` (fewer codes).
    frame_axis
        Axis of the chunk that is time (frames); may not be one of the last two (y, x).
    threads
        Encoder threads per chunk (1 = one core; Zarr/dask already run chunks in parallel).
    decoder
        ``"software"``, ``"auto"`` (NVDEC ``hevc_cuvid`` for the streams it takes, when one
        works here) or ``None``: the reading machine decides (``$XGEO_CODECS_DECODER``, else
        software). Output is identical either way.
    options
        Extra libav encoder options (strings or numbers), checked against an allow-list of
        pure coding parameters (:mod:`xgeo_codecs.encoder_options`): no option that names a
        file, a log or thread pools, whether given here or read from a store's metadata
        (there, checked before the first encode). ``x265-params`` / ``svtav1-params`` merge
        key by key with the codec's own settings (``ctu``, ``rdoq-level``, ``scenecut``,
        logging off, pools from ``threads``).
    plane_prediction
        Lossless FFV1 only: code each plane (band) as its difference to the previous plane
        of the chunk when that is smaller (tried per plane; bit-exact either way).
    psnr
        Quality target in dB (lossy): the CRF of each chunk is searched so the chunk's PSNR
        (peak = max - min of its valid values, masked pixels excluded) lies in
        ``[psnr, psnr + 0.5]``. Format 2; the achieved value is stored per chunk.
    max_error
        Absolute error bound in data units, guaranteed for every valid value: the smaller of
        lossy video plus a residual quantised with step ``2 * max_error``, and the values
        snapped to a grid of that step with FFV1 coding the grid (tight bounds). Format 2/3.
    bpppb
        Rate target in bits per value (every byte of the chunk counted); CRF searched per
        chunk to land within about 10 % of it. Format 2.
    decorrelate
        ``"auto"`` (default): each lossy chunk of several planes measures whether the KLT
        codes better, on a sample of the chunk (:mod:`xgeo_codecs.autotools`); the choice and
        the measured gain are stored in the chunk header (``tools``). ``"klt"``: rotate the chunk's planes (bands) onto their principal components before
        coding, all components on one step in data units (lossy only; needs several planes
        per chunk, e.g. ``band_chunk`` = all bands in :func:`xgeo.compression.video_encoding`).
        Measured on the nrt 4-band cube: +1.7 to +2.7 dB at 0.1-0.5 bits per value. The
        basis is stored per chunk (format 3). ``None``: each plane coded on its own range.
        Lossless, ``value_range=`` and ``max_error=`` chunks resolve ``"auto"`` to ``None``.
    pack_planes
        Lossy x265: code a chunk's planes three at a time as one 4:4:4 stream, so they share
        motion vectors and block partitions (measured: +0.4 to +5.4 dB at equal rate over a
        grey stream per band on the nrt and L1C cubes, +0.1 to +1.2 dB on KLT components).
        Leftover planes (1 or 2) are coded grey. Format 3.
    reorder_frames
        ``"auto"`` (default): measured per chunk like ``decorrelate="auto"`` (chunks of three
        frames or more, lossy, no ``max_error=``). ``True``: code the chunk's frames in an order that puts similar dates next to each other
        (:mod:`xgeo_codecs.frame_order`; the order is stored, format 4, and undone on
        decode). Measured on cloudy series: +0.5 to +0.8 dB at equal rate with a whole
        68-date series in one chunk, -0.15 dB in 23-frame chunks: hence measured per chunk.
    effort
        ``"fast"``, ``"default"`` or ``"max"``: the x265 preset when ``preset`` is not given
        (:data:`EFFORT_PRESET`: faster, medium, slower) and how much the ``"auto"`` tools
        measure (``"max"``: every combination, on the whole chunk). Measured on the real
        cubes at equal rate: medium +0.5 to +1.0 dB over faster for 1.35-1.56x its encode
        time, slower +0.6 to +1.5 dB for 3.8-9.7x (``benchmarks/results/x265_effort.json``;
        the README's "Choosing effort" has the whole table). Stored configs older than
        version 3 read as ``"fast"``, the preset they were written with.
    keyint
        Frames per independently decodable group: the chunk's frames are coded as separate
        streams of ``keyint`` frames (the last may be shorter), with their byte lengths in the
        header (``keyint``, format 7), so a read of a few dates decodes only their groups
        (:func:`xgeo_codecs.decode` with ``frames=``). ``None``: one group per chunk. Must
        be >= 1 and at most the chunk's frame count (checked when a chunk is encoded).
        With ``reorder_frames``, the similarity order runs over the whole chunk and each
        group takes the next ``keyint`` frames of it: a group holds similar dates, not
        consecutive ones (measured: +2.2 to +2.7 % bytes for groups of 16 in 64 real S2
        dates where groups of consecutive dates cost +3.5 to +6.3 %). For reads of runs
        of consecutive dates, pass ``reorder_frames=False`` (or chunk time by the run).
    band_weights
        How the KLT (``decorrelate``) weighs the bands before the rotation: ``"robust"``
        (default) scales each band by 1 / the spread of its valid values in the chunk
        between their 1st and 99th percentiles, so every band gets the same error relative
        to what most of its pixels span (a low-spread band such as cirrus B10 is not drowned
        by the error of bright bands, and a few clouds or saturated pixels do not make a
        band look wide); ``"range"``: 1 / its valid range (min to max; the default of
        config version 5); ``None``: bands in data units, the allocation with the lowest
        whole-chunk MSE. The weights live in the stored matrix (every format-3 decoder reads
        such chunks). Measured on downstream tasks (``benchmarks/results/downstream.json``,
        the README's "Downstream parity"). Stored configs older than version 5 read as
        ``None``. Or one number > 0 per band of the chunk: the weight of that band's error,
        for a user who knows which error matters. A model that standardises its inputs
        sees each band's error divided by the band's std: ``1 / std`` (its normalisation
        statistics) gives every band the same error in the units the model sees, which the
        chunk's own spread cannot tell when clouds widen it. The tools trial (``"auto"``)
        then compares candidates by the PSNR of the weighted bands; ``psnr=`` targets stay
        in data units. A chunk must hold exactly that many bands (chunk the band axis
        whole). An xgeo-codecs older than per-band weights refuses to open such an array
        (a ``CodecError`` naming ``band_weights``).
    stats
        Record achieved PSNR / max error / bpppb in the chunk header (format 2; costs one
        decode per chunk). Always on with ``psnr``, ``max_error`` or ``bpppb``.
    """

    codec: str | None = None
    lossless: bool = False
    encoder: str = "auto"
    crf: float | None = None
    qp: int | None = None
    preset: str | None = None
    bit_depth: int | None = None
    value_range: tuple[float, float] | None = None
    nodata: float | None = None
    scale_factor: float | None = None
    add_offset: float | None = None
    frame_axis: int = 0
    threads: int = 1
    decoder: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    plane_prediction: bool = True
    psnr: float | None = None
    max_error: float | None = None
    bpppb: float | None = None
    stats: bool = False
    decorrelate: str | None = "auto"
    pack_planes: bool = True
    reorder_frames: bool | str = "auto"
    effort: str = "default"
    keyint: int | None = None
    band_weights: str | tuple[float, ...] | None = "robust"

    def __post_init__(self) -> None:
        for name, kind in PARAM_TYPES.items():  # numpy scalars as JSON's types, types checked
            object.__setattr__(self, name, plain_value(name, getattr(self, name), kind))
        if isinstance(self.nodata, float) and math.isnan(self.nodata):
            object.__setattr__(self, "nodata", math.nan)  # one NaN: equal params compare equal
        fam = self.family
        if fam not in FAMILIES:
            raise CodecError(f"codec={self.codec!r} is not supported; use one of {FAMILIES}")
        object.__setattr__(self, "codec", fam)  # resolved: what the stored config says
        if self.lossless and fam in ("av1",):
            raise CodecError("lossless=True is not available with av1; use codec='ffv1' "
                             "(default for lossless) or codec='hevc'")
        if not self.lossless and fam == "ffv1":
            raise CodecError("ffv1 is lossless only; pass lossless=True or pick codec='hevc'")
        if self.bit_depth is not None and self.bit_depth not in (8, 10, 12):
            raise CodecError(f"bit_depth={self.bit_depth} is not supported; use 8, 10 or 12")
        if fam == "av1" and (self.bit_depth or 10) > 10:
            raise CodecError("SVT-AV1 encodes 8 or 10 bit only; pass bit_depth=10 or use hevc")
        if fam == "vp9" and (self.bit_depth or 8) > 8:
            raise CodecError("the bundled libvpx encodes 8 bit only; pass bit_depth=8 or use hevc")
        if self.value_range is not None:
            try:
                lo, hi = (plain_value("value_range", v, "number") for v in self.value_range)
            except (TypeError, ValueError):
                raise CodecError(f"value_range={self.value_range!r}; pass (lo, hi), two "
                                 "numbers") from None
            if not lo < hi:
                raise CodecError(f"value_range={self.value_range!r} needs lo < hi")
            object.__setattr__(self, "value_range", (lo, hi))
        if isinstance(self.preset, int) and not isinstance(self.preset, bool):
            # SVT-AV1 and libvpx number their presets: preset=3 means "3"
            object.__setattr__(self, "preset", str(self.preset))
        if self.preset is not None and not (isinstance(self.preset, str) and self.preset):
            raise CodecError(f"preset={self.preset!r}; use the encoder's preset name or number "
                             "(x265: 'medium', 'slower', ...; SVT-AV1: 0-13; libvpx: cpu-used)")
        if self.decoder not in (None, "software", "auto"):
            raise CodecError(f"decoder={self.decoder!r}; use 'software', 'auto' or None")
        if not isinstance(self.encoder, str) or self.encoder != "auto" and \
                encoder_options.family_of(self.encoder) != fam:
            known = encoder_options.family_of(self.encoder) if isinstance(
                self.encoder, str) else None
            raise CodecError(
                f"encoder={self.encoder!r} "
                + (f"codes {known}, not {fam}: pass codec={known!r} with it"
                   if known else "is not an encoder of this codec")
                + f" (codec={fam!r} takes encoder='auto' or "
                f"{[encoder_options.SOFTWARE_ENCODERS[fam], *encoder_options.HARDWARE_ENCODERS.get(fam, ())]})")
        if self.frame_axis is None:
            raise CodecError(f"frame_axis={self.frame_axis!r}; use the index of the time axis "
                             "(an int, e.g. 0; negative counts from the end)")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise CodecError(f"threads={self.threads!r}; use a count >= 1 (0 lets libav choose)")
        if self.crf is not None and self.qp is not None:
            raise CodecError("pass crf or qp, not both")
        check_crf_qp(fam, self.crf, self.qp)
        targets = [n for n in ("psnr", "max_error", "bpppb") if getattr(self, n) is not None]
        if len(targets) > 1:
            raise CodecError(f"pass one quality target, not {targets}")
        if targets and (self.lossless or fam == "ffv1"):
            raise CodecError(f"{targets[0]}= is a lossy-mode target; drop lossless=True "
                             "(lossless is already exact)")
        if targets and (self.crf is not None or self.qp is not None):
            raise CodecError(f"{targets[0]}= chooses the CRF itself; do not also pass crf/qp")
        if self.psnr is not None and not (0 < float(self.psnr) <= 140):
            raise CodecError(f"psnr={self.psnr} dB is not reachable by a lossy 12-bit code "
                             "(use 0 < psnr <= 140); for exact data use lossless=True, for a "
                             "hard bound use max_error=")
        if self.max_error is not None and not (0 < float(self.max_error) < math.inf):
            raise CodecError(f"max_error={self.max_error} must be > 0 and finite (data units); "
                             "for an exact round trip use lossless=True")
        for name in ("scale_factor", "add_offset"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and (v != 0 or name == "add_offset")):
                raise CodecError(f"{name}={v!r} must be a finite number"
                                 + (" other than 0" if name == "scale_factor" else "")
                                 + " (the CF packing of the values)")
        if self.bpppb is not None and not (0.005 <= float(self.bpppb) <= 32):
            raise CodecError(f"bpppb={self.bpppb} is outside 0.005..32 bits per value")
        if self.decorrelate not in (None, "klt", "auto"):
            raise CodecError(f"decorrelate={self.decorrelate!r}; use 'auto', 'klt' or None")
        if self.reorder_frames not in (True, False, "auto") or isinstance(
                self.reorder_frames, (int, float)) and not isinstance(self.reorder_frames, bool):
            raise CodecError(f"reorder_frames={self.reorder_frames!r}; use 'auto', True or "
                             "False")
        if self.keyint is not None and (not isinstance(self.keyint, int) or isinstance(
                self.keyint, bool) or self.keyint < 1):
            raise CodecError(f"keyint={self.keyint!r} must be a number of frames >= 1 (or None "
                             "for one group per chunk)")
        if not isinstance(self.band_weights, str) and isinstance(
                self.band_weights, (list, tuple, np.ndarray)):
            object.__setattr__(self, "band_weights", per_band_weights(self.band_weights))
        elif self.band_weights not in BAND_WEIGHTS:
            raise CodecError(f"band_weights={self.band_weights!r}; use 'robust' (each band "
                             "weighted by 1 / its 1st-99th percentile spread before the KLT), "
                             "'range' (1 / its valid range), None (data units) or one "
                             "weight > 0 per band (e.g. 1 / the std your model normalises by)")
        if self.effort not in EFFORTS:
            raise CodecError(f"effort={self.effort!r}; use one of {EFFORTS}")
        if self.decorrelate == "klt" and (self.lossless or fam == "ffv1"):
            raise CodecError("decorrelate='klt' is lossy (a float rotation); for lossless "
                             "band prediction FFV1 already uses plane_prediction")
        if self.decorrelate == "klt" and self.value_range is not None:
            raise CodecError("value_range is in band units and does not apply to KLT "
                             "components; pass one of decorrelate= or value_range=")
        if self.value_range is not None and not all(
                math.isfinite(v) for v in self.value_range):
            raise CodecError(f"value_range={self.value_range!r} must be finite")
        if not isinstance(self.options, Mapping):
            raise CodecError(f"options must be a dict of encoder options, got "
                             f"{type(self.options).__name__}")
        if _FROM_METADATA.get():  # checked at encode time against the resolved encoder
            opts = {str(k): str(v) for k, v in self.options.items()}
        else:
            opts = encoder_options.checked(
                self.options, None if self.encoder == "auto" else self.encoder)
        object.__setattr__(self, "options", encoder_options.FrozenOptions(opts))

    @property
    def family(self) -> str:
        if self.codec is None:
            return _default_family(self.lossless)
        return str(self.codec).lower()

    def to_config(self) -> dict[str, Any]:
        """The stored config: ``config_version`` and every parameter, as plain JSON types.

        Written in full (``codec`` resolved to its family) so that the array's metadata says
        how its chunks are coded whatever the reader's defaults are; keys in field order.

        Examples
        --------
        >>> cfg = VideoParams(bpppb=0.5).to_config()
        >>> list(cfg)[:4], cfg["codec"], cfg["bpppb"], len(cfg) == len(fields(VideoParams)) + 1
        (['config_version', 'codec', 'lossless', 'encoder'], 'hevc', 0.5, True)
        >>> VideoParams.from_config(cfg) == VideoParams(bpppb=0.5)
        True
        """
        out: dict[str, Any] = {CONFIG_VERSION_KEY: CONFIG_VERSION}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = (list(v) if isinstance(v, tuple)
                           else dict(v) if isinstance(v, Mapping) else v)
        return out

    def non_default_config(self) -> dict[str, Any]:
        """The parameters that differ from today's defaults (``codec`` when it is not the
        default family): a short view for ``repr`` and listings, not for storing.

        Examples
        --------
        >>> VideoParams(bpppb=0.5).non_default_config()
        {'bpppb': 0.5}
        >>> VideoParams(lossless=True, codec="hevc").non_default_config()
        {'codec': 'hevc', 'lossless': True}
        """
        full = self.to_config()
        del full[CONFIG_VERSION_KEY]
        defaults = {f.name: f.default_factory() if callable(f.default_factory)  # type: ignore[misc]
                    else f.default for f in fields(self)}
        defaults["codec"] = _default_family(self.lossless)
        return {k: v for k, v in full.items()
                if v != (list(d) if isinstance(d := defaults[k], tuple) else d)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, stored: bool | None = None
                    ) -> VideoParams:
        """Build from a config dict (through the constructor, which validates).

        A config with ``config_version`` (:data:`CONFIG_VERSION`, written since xgeo-codecs
        stores every parameter) is read as written: a parameter missing from it raises
        :class:`CodecError`. A config without it is version 1 (non-default parameters only):
        read from array metadata, its absent parameters take :data:`DEFAULTS_CONFIG_V1`, the
        defaults it was written under; given by a user, today's defaults.

        ``stored=True`` is for configs read from array metadata (``None``: whether the call
        is inside :func:`stored_config`). A config from a newer xgeo-codecs (a higher
        ``config_version``, or parameters this version does not know) is read with a warning,
        since every chunk carries what its decoder needs (a chunk of a newer *format* still
        raises when decoded), but encoding with it raises :class:`CodecError` asking to
        upgrade: new chunks would otherwise be coded without the newer parameters. Not
        stored, such a config raises at once. Stored ``options`` are not checked here
        (reading never uses them) but by every encode, before libav sees them: a store whose
        metadata asks for a file, log or thread option refuses to be written to. A stored
        config this version refuses (a value out of range, a parameter missing: metadata
        edited or damaged) reads too, with a warning naming the problem, and refuses to
        encode (:meth:`check_writable`); given by a user, it raises at once.
        """
        if stored is None:
            stored = _FROM_METADATA.get()
        names = [f.name for f in fields(cls)]
        cfg = dict(config)
        version = cfg.pop(CONFIG_VERSION_KEY, None)
        unknown = sorted(set(cfg) - set(names))
        newer: str | None = None
        if version is None:  # version 1: the non-default parameters only
            if unknown and not stored:
                raise CodecError(f"unknown codec parameters {unknown}; known: {sorted(names)}")
            if unknown:
                warnings.warn(f"ignoring codec parameters {unknown} unknown to this "
                              "xgeo-codecs (written by a newer version?); decoding is "
                              "unaffected, upgrade xgeo-codecs to write with them",
                              UserWarning, stacklevel=3)
            if stored:
                cfg = {**{k: v for k, v in DEFAULTS_CONFIG_V1.items() if k in names}, **cfg}
                for name, (_, value) in ADDED_PARAMETERS.items():
                    cfg.setdefault(name, value)
        elif isinstance(version, bool) or not isinstance(version, int) or version < 2:
            raise CodecError(f"{CONFIG_VERSION_KEY}={version!r} is not a config version "
                             f"(2..{CONFIG_VERSION}; version 1 configs have no such key)")
        elif version > CONFIG_VERSION or unknown:
            newer = (f"the codec config ({CONFIG_VERSION_KEY} {version}"
                     + (f", parameters {unknown}" if unknown else "")
                     + ") was written by a newer xgeo-codecs than this one (config version "
                     f"{CONFIG_VERSION}); upgrade xgeo-codecs to write to this array")
            if not stored:
                raise CodecError(newer)
            warnings.warn(newer + "; reading it works (each chunk describes itself)",
                          UserWarning, stacklevel=3)
        else:
            for name, (added, value) in ADDED_PARAMETERS.items():
                if version < added:
                    cfg.setdefault(name, value)
            missing = [n for n in names if n not in cfg]
            if missing:
                damaged = CodecError(f"codec config ({CONFIG_VERSION_KEY} {version}) lacks "
                                     f"parameters {missing}: since version 2 every parameter "
                                     "is written; the metadata was edited or damaged")
                if not stored:
                    raise damaged
                return _readable_only(cls, cfg, damaged)
        if stored:  # which decoder reads is the reading machine's choice, not the data's
            cfg["decoder"] = None
        token = _FROM_METADATA.set(stored)
        try:
            params = cls(**{k: v for k, v in cfg.items() if k in names})
        except CodecError as err:
            if not stored:
                raise
            return _readable_only(cls, cfg, err)
        finally:
            _FROM_METADATA.reset(token)
        if newer is not None:
            object.__setattr__(params, "_unwritable", newer)
        return params

    def check_writable(self) -> None:
        """Raise :class:`CodecError` if these parameters come from stored metadata that this
        xgeo-codecs reads but does not write with (see :meth:`from_config`): a config of a
        newer xgeo-codecs, or an invalid or damaged one.

        Examples
        --------
        >>> VideoParams(crf=4).check_writable()  # nothing to say
        >>> cfg = {**VideoParams().to_config(), "effort_of_a_newer_version": "max"}
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     p = VideoParams.from_config(cfg, stored=True)
        >>> p.check_writable()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        xgeo_codecs.errors.CodecError: the codec config (...) was written by a newer xgeo-codecs ...
        """
        why = self.__dict__.get("_unwritable")
        if why is not None:
            raise CodecError(why)

    def check_band_count(self, bands: int, where: str = "this chunk holds") -> None:
        """Raise :class:`CodecError` when per-band ``band_weights`` do not give one weight to
        each of ``bands`` bands (``where`` says whose bands, for the message).

        Examples
        --------
        >>> VideoParams(band_weights=[1.0, 2.0]).check_band_count(2)
        >>> VideoParams(band_weights=[1.0, 2.0]).check_band_count(3)
        Traceback (most recent call last):
        ...
        xgeo_codecs.errors.CodecError: band_weights gives 2 weights but this chunk holds 3 band(s): give one weight per band (chunk the band axis whole, or pass 'robust' / 'range' / None)
        """
        if isinstance(self.band_weights, tuple) and len(self.band_weights) != bands:
            raise CodecError(
                f"band_weights gives {len(self.band_weights)} weights but {where} {bands} "
                "band(s): give one weight per band (chunk the band axis whole, or pass "
                "'robust' / 'range' / None)")

    def as_dict(self) -> dict[str, Any]:
        """Every field, ``options`` as a plain dict."""
        return {f.name: dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v
                for f in fields(self)}


def _readable_only(cls: type[VideoParams], cfg: Mapping[str, Any], err: CodecError
                   ) -> VideoParams:
    """Parameters for reading an array whose stored codec config is invalid or damaged
    (``err`` says how): every chunk describes itself, so reading needs only the reader's
    choices (``threads``, ``frame_axis``), kept where they are valid; encoding with them
    raises (:meth:`VideoParams.check_writable`), so no chunk is written under parameters
    nobody chose. Warns once, at open."""
    kept: dict[str, Any] = {}
    for name in ("threads", "frame_axis"):
        value = cfg.get(name)
        try:
            cls(**{name: value})
        except (CodecError, TypeError, ValueError):
            continue
        kept[name] = value
    params = cls(**kept)
    mark_unwritable(params, err)
    return params


def mark_unwritable(params: VideoParams, problem: Exception) -> None:
    """Mark ``params`` (read from array metadata) as read-only: its config is invalid for
    ``problem``. Warns now; :meth:`VideoParams.check_writable` raises at the first write."""
    why = (f"the array's stored codec configuration is invalid ({problem}); reading works "
           "(each chunk describes itself), writing is refused: give the array a valid codec "
           "configuration (or rewrite it) to write to it")
    warnings.warn(why, UserWarning, stacklevel=4)
    object.__setattr__(params, "_unwritable", why)


def _default_family(lossless: bool) -> str:
    return "ffv1" if lossless else "hevc"


def coerce(params: VideoParams | dict[str, Any] | None) -> VideoParams:
    """Accept a VideoParams, a config dict or None (defaults)."""
    if params is None:
        return VideoParams()
    if isinstance(params, VideoParams):
        return params
    if isinstance(params, dict):
        return VideoParams.from_config(params)
    raise CodecError(f"params must be VideoParams or a dict, got {type(params).__name__}")
