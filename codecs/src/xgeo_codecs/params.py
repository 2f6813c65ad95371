"""Encoding parameters shared by the pure core and both codec faces, and the codec id."""

from __future__ import annotations

import contextlib
import contextvars
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from . import encoder_options
from .errors import CodecError

# the id both faces are registered under (numcodecs ``id``, Zarr v3 codec ``name``, the entry
# points in pyproject.toml) and that every stored config carries
CODEC_ID = "xgeo.video"
FAMILIES = ("hevc", "av1", "vp9", "ffv1")
# lossy bit depth per family when none is given (software encoders)
DEFAULT_BIT_DEPTH = {"hevc": 12, "av1": 10, "vp9": 8}
DEFAULT_CRF = {"hevc": 6.0, "av1": 30.0, "vp9": 30.0}  # hevc 6: ~1 bpppb, ~52 dB on nrt
DEFAULT_PRESET = {"hevc": "faster", "av1": "6", "vp9": None}  # SVT-AV1 >= 8: offsets on flat frames
# True while parameters read from array metadata are built: their ``options`` are checked
# when a chunk is encoded (reading the store never uses them), not when the store is opened
_FROM_METADATA = contextvars.ContextVar("xgeo_codecs_from_metadata", default=False)


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
        ``"ffv1"`` (default when ``lossless=True``).
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
        ``"klt"``: rotate the chunk's planes (bands) onto their principal components before
        coding, all components on one step in data units (lossy only; needs several planes
        per chunk, e.g. ``band_chunk`` = all bands in :func:`xgeo.compression.video_encoding`).
        Measured on the nrt 4-band cube: +1.7 to +2.7 dB at 0.1-0.5 bits per value. The
        basis is stored per chunk (format 3). ``None``: each plane coded on its own range.
    pack_planes
        Lossy x265: code a chunk's planes three at a time as one 4:4:4 stream, so they share
        motion vectors and block partitions (measured: +0.4 to +5.4 dB at equal rate over a
        grey stream per band on the nrt and L1C cubes, +0.1 to +1.2 dB on KLT components).
        Leftover planes (1 or 2) are coded grey. Format 3.
    reorder_frames
        Code the chunk's frames in an order that puts similar dates next to each other
        (:mod:`xgeo_codecs.frame_order`; the order is stored, format 4, and undone on
        decode). Measured on cloudy series: +0.5 to +0.8 dB at equal rate with a whole
        68-date series in one chunk, -0.15 dB in 23-frame chunks: for long chunks.
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
    decorrelate: str | None = None
    pack_planes: bool = True
    reorder_frames: bool = False

    def __post_init__(self) -> None:
        fam = self.family
        if fam not in FAMILIES:
            raise CodecError(f"codec={self.codec!r} is not supported; use one of {FAMILIES}")
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
            lo, hi = (float(v) for v in self.value_range)
            if not lo < hi:
                raise CodecError(f"value_range={self.value_range!r} needs lo < hi")
            object.__setattr__(self, "value_range", (lo, hi))
        if self.decoder not in (None, "software", "auto"):
            raise CodecError(f"decoder={self.decoder!r}; use 'software', 'auto' or None")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise CodecError(f"threads={self.threads!r}; use a count >= 1 (0 lets libav choose)")
        if self.crf is not None and self.qp is not None:
            raise CodecError("pass crf or qp, not both")
        if self.qp is not None and not (0 <= int(self.qp) <= 51):
            raise CodecError(f"qp={self.qp} is outside 0..51 (a negative qp crashes x265)")
        targets = [n for n in ("psnr", "max_error", "bpppb") if getattr(self, n) is not None]
        if len(targets) > 1:
            raise CodecError(f"pass one quality target, not {targets}")
        if targets and (self.lossless or fam == "ffv1"):
            raise CodecError(f"{targets[0]}= is a lossy-mode target; drop lossless=True "
                             "(lossless is already exact)")
        if targets and (self.crf is not None or self.qp is not None):
            raise CodecError(f"{targets[0]}= chooses the CRF itself; do not also pass crf/qp")
        if targets and fam != "hevc":
            raise CodecError(f"{targets[0]}= is implemented for codec='hevc' only")
        if self.psnr is not None and not (0 < float(self.psnr) <= 140):
            raise CodecError(f"psnr={self.psnr} dB is not reachable by a lossy 12-bit code "
                             "(use 0 < psnr <= 140); for exact data use lossless=True, for a "
                             "hard bound use max_error=")
        if self.max_error is not None and not (float(self.max_error) > 0):
            raise CodecError(f"max_error={self.max_error} must be > 0 (data units); for an "
                             "exact round trip use lossless=True")
        if self.bpppb is not None and not (0.005 <= float(self.bpppb) <= 32):
            raise CodecError(f"bpppb={self.bpppb} is outside 0.005..32 bits per value")
        if self.decorrelate not in (None, "klt"):
            raise CodecError(f"decorrelate={self.decorrelate!r}; use 'klt' or None")
        if self.decorrelate and (self.lossless or fam == "ffv1"):
            raise CodecError("decorrelate='klt' is lossy (a float rotation); for lossless "
                             "band prediction FFV1 already uses plane_prediction")
        if self.decorrelate and self.value_range is not None:
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
        object.__setattr__(self, "options", FrozenOptions(opts))

    @property
    def family(self) -> str:
        if self.codec is None:
            return "ffv1" if self.lossless else "hevc"
        return str(self.codec).lower()

    def to_config(self) -> dict[str, Any]:
        """Non-default fields only, as plain JSON types."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
            if v != default:
                out[f.name] = (list(v) if isinstance(v, tuple)
                               else dict(v) if isinstance(v, Mapping) else v)
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, stored: bool | None = None
                    ) -> VideoParams:
        """Build from a config dict (through the constructor, which validates).

        ``stored=True`` is for configs read from array metadata (``None``: whether the call
        is inside :func:`stored_config`): parameters this version
        does not know (written by a newer xgeo-codecs) are ignored with a warning, since
        every chunk carries what its decoder needs; a chunk of a newer *format* still
        raises :class:`CodecError` when decoded. Stored ``options`` are not checked here
        (reading never uses them) but by every encode, before libav sees them: a store whose
        metadata asks for a file, log or thread option refuses to be written to.
        """
        if stored is None:
            stored = _FROM_METADATA.get()
        names = {f.name for f in fields(cls)}
        unknown = set(config) - names
        cfg = dict(config)
        if unknown and not stored:
            raise CodecError(f"unknown codec parameters {sorted(unknown)}; known: {sorted(names)}")
        if unknown:
            warnings.warn(f"ignoring codec parameters {sorted(unknown)} unknown to this "
                          "xgeo-codecs (written by a newer version?); decoding is unaffected, "
                          "upgrade xgeo-codecs to write with them", UserWarning, stacklevel=3)
            cfg = {k: v for k, v in cfg.items() if k in names}
        token = _FROM_METADATA.set(stored)
        try:
            return cls(**cfg)
        finally:
            _FROM_METADATA.reset(token)

    def as_dict(self) -> dict[str, Any]:
        """Every field, ``options`` as a plain dict."""
        return {f.name: dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v
                for f in fields(self)}


def coerce(params: VideoParams | dict[str, Any] | None) -> VideoParams:
    """Accept a VideoParams, a config dict or None (defaults)."""
    if params is None:
        return VideoParams()
    if isinstance(params, VideoParams):
        return params
    if isinstance(params, dict):
        return VideoParams.from_config(params)
    raise CodecError(f"params must be VideoParams or a dict, got {type(params).__name__}")
