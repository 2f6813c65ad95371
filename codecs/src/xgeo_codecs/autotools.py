"""Coding tools chosen per chunk by measurement: ``decorrelate="auto"``, ``reorder_frames="auto"``.

Whether rotating a chunk's bands onto their principal components (KLT) or coding its frames
in similarity order pays depends on the chunk: on how correlated its bands are, how long its
series is and how its dates alternate. No rule fitted to a few cubes decides it here; each
chunk is measured. A spatial crop of the chunk (all its planes and frames; :func:`sample_window`) is coded with each candidate setting at the operating point the chunk
asks for (its ``crf``/``qp``, or the first probe of its ``psnr=`` / ``bpppb=`` search), and
the candidates are compared by PSNR *at equal rate*: a candidate whose first probe lands at
another rate is probed a second time aiming at the baseline's rate, and its PSNR is
interpolated there in log rate. With per-band ``band_weights`` (the user's statement of which
error matters) the PSNR is that of the weighted bands.

The search is greedy from the plain coding (no KLT, chronological order): the KLT is tried
first, then frame reordering on top of the winner; a tool is kept when it gains more than
:data:`MIN_GAIN_DB`. ``effort="max"`` measures every combination on a larger sample.

The measurement is recorded in the chunk header as ``tools`` (format 6): the tools tried, the
dB each one measured against the coding it was added to, and the trial's cost in encodes of
the whole chunk (the choice itself is the header's ``klt`` / ``frame_order``), so :func:`xgeo_codecs.chunk_info` and
``xgeo.compression_report`` show what was decided and why.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from . import header
from ._decoder import decode_chunk
from ._encoder import encode_plain
from ._stream import layout_for, padded_size
from ._values import check_dtype, to_cube
from .chunk_metrics import chunk_stats, valid_mask
from .errors import CodecError
from .levels import SCALES
from .params import DEFAULT_BIT_DEPTH, VideoParams
from .quality import first_level, level_params

# a tool is used when the sample measures at least this much better with it (at equal rate)
MIN_GAIN_DB = 0.05
# fraction of the chunk's pixels the sample holds, per effort
SAMPLE_FRACTION = {"fast": 0.125, "default": 0.25, "max": 1.0}
# x265 preset of the trial encodes when the chunk's own is not given. Measured on synthetic
# cubes built to favour each tool: veryfast decides as medium does (and costs what faster
# does); superfast and ultrafast picked the KLT where it lost 2 dB on the whole chunk.
TRIAL_PRESET = {"fast": "veryfast", "default": "veryfast", "max": "medium"}
_DB_PER_OCTAVE = 6.0  # PSNR gained per doubling of the rate, to extrapolate a last step


@dataclass(frozen=True)
class Tools:
    """One candidate: the KLT or not, frames reordered or not, the code depth (``None``:
    the family's default, 12 bit for x265)."""

    decorrelate: str | None
    reorder_frames: bool
    bit_depth: int | None = None

    @property
    def name(self) -> str:
        parts = (["klt"] if self.decorrelate else []) + (
            ["reorder"] if self.reorder_frames else []) + (
            [f"{self.bit_depth}bit"] if self.bit_depth not in (None, DEFAULT_BIT_DEPTH["hevc"])
            else [])
        return "+".join(parts) or "plain"

    def with_(self, step: Tools) -> Tools:
        """This candidate with the tools ``step`` turns on added."""
        return Tools(step.decorrelate or self.decorrelate,
                     step.reorder_frames or self.reorder_frames,
                     step.bit_depth or self.bit_depth)


Choice = tuple[VideoParams, "dict[str, Any] | None", "float | None"]


def choose(a: np.ndarray, p: VideoParams) -> Choice:
    """``p`` with its ``"auto"`` tools resolved for chunk ``a``, the header record (``None``
    when nothing had to be measured) and the level a ``psnr=`` / ``bpppb=`` search should
    probe first, from the trial's probes of the chosen tools (``None``: no better guess than
    the search's own prior).

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo_codecs.params import VideoParams
    >>> rng = np.random.default_rng(0)
    >>> base = rng.normal(size=(6, 1, 64, 64)).cumsum(axis=-1)
    >>> a = np.concatenate([base, base * 2 + 1, base - 3], axis=1)  # three equal bands
    >>> q, record, start = choose(a.astype("float32"), VideoParams(bpppb=0.5))
    >>> q.decorrelate, record["tried"][0][0], record["tried"][0][1] > 1, start is not None
    ('klt', 'klt', True, True)
    >>> choose(a[:, :1].astype("float32"), VideoParams(crf=20, reorder_frames=False))[1] is None
    True
    """
    a = np.asarray(a)
    if a.size == 0:
        return _resolved(p, Tools(None if p.decorrelate == "auto" else p.decorrelate,
                                  p.reorder_frames is True, p.bit_depth)), None, None
    options = _options(a, p)
    fixed = Tools(*(o[0] for o in options))
    if all(len(o) == 1 for o in options):
        return _resolved(p, fixed), None, None
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return _measure(a, p, options, fixed)
    except CodecError:  # the plain coding fails too: the encode that follows says why
        return _resolved(p, fixed), None, None


def _measure(a: np.ndarray, p: VideoParams, options: list[list[Any]], best: Tools
             ) -> Choice:
    """Score the candidates on a sample; ``best`` starts as the current settings."""
    trial = _Trial(a, p)
    if trial.pointless:
        return _resolved(p, best), None, None
    tried: list[list[Any]] = []
    if p.effort == "max":
        candidates = [Tools(*c) for c in itertools.product(*options)]
        scores = {c: trial.score(c) for c in candidates}
        base = scores[best]
        for c in candidates:
            if c != best:
                tried.append([c.name, _db(scores[c] - base)])
        top = max(candidates, key=lambda c: scores[c])
        if scores[top] > base + MIN_GAIN_DB:
            best = top
    else:
        base = trial.score(best)
        # one tool at a time, on top of the best so far (KLT first: the largest effects)
        off = Tools(None, False, None)
        steps = [replace(off, **{f.name: o[1]})
                 for f, o in zip(fields(Tools), options, strict=True) if len(o) > 1]
        for step in steps:
            cand = best.with_(step)
            s = trial.score(cand)
            tried.append([step.name, _db(s - base)])
            if s > base + MIN_GAIN_DB:
                best, base = cand, s
    # short, since it is stored in every chunk: what was chosen is in the header already
    # (``klt``, ``frame_order``); :func:`describe` spells it out
    record = {"tried": tried, "cost": round(trial.cost, 2)}
    return _resolved(p, best), record, trial.start_level(best, p)


def describe(meta: dict[str, Any]) -> str | None:
    """One line on a chunk header's tools: what was used and, when they were measured, the
    dB each tried tool gained (``None`` for chunks older than format 6 without a record).

    Examples
    --------
    >>> describe({"klt": {}, "tools": {"tried": [["klt", 1.2], ["reorder", -0.3]],
    ...                                "cost": 0.8}})
    'klt (measured: klt +1.20 dB, reorder -0.30 dB; trial cost 0.80 encodes)'
    """
    record = meta.get("tools")
    if not isinstance(record, dict):
        return None
    tried = ", ".join(f"{name} {db:+.2f} dB" for name, db in record.get("tried", []))
    return f"{used(meta)} (measured: {tried}; trial cost {record.get('cost', 0):.2f} encodes)"


def used(meta: dict[str, Any]) -> str:
    """The tools a chunk header says its chunk was coded with: ``"plain"``, ``"klt"``,
    ``"reorder"`` or ``"klt+reorder"``.

    Examples
    --------
    >>> used({"frame_order": [1, 0, 2]}), used({})
    ('reorder', 'plain')
    """
    depth = meta.get("bit_depth")
    lossy_x265 = meta.get("encoder") == "libx265" and any(
        pl[1].get("k") == "lin" for pl in meta.get("planes", []))
    return Tools("klt" if "klt" in meta else None, "frame_order" in meta,
                 depth if lossy_x265 else None).name


def _options(a: np.ndarray, p: VideoParams) -> list[list[Any]]:
    """The settings open to measurement for each tool, the current one first (one entry:
    fixed): KLT, frame order; the code depth stays as given.

    10- against 12-bit codes measured -1.35 to +0.23 dB at equal rate on one chunk of each
    real cube, but a process that encoded with both depths crashed libx265 4.2 (a segfault
    in the 10-bit encoder after many 12-bit encodes, not reproduced in a fresh process nor
    under glibc's malloc checks; a 12-bit-only run of the same sequence was clean): the
    depth is not measured until that is understood."""
    cube, _ = to_cube(a, p.frame_axis)
    t, planes = cube.shape[:2]
    lossy = not p.lossless and p.family != "ffv1"
    # x265 only: the levels the trial probes are x265's CRF / QP scale
    measurable = lossy and p.family == "hevc" and p.max_error is None and cube.size > 0
    if p.decorrelate != "auto":
        klt: list[str | None] = [p.decorrelate]
    elif measurable and planes > 1 and p.value_range is None:
        klt = [None, "klt"]
    else:
        klt = [None]
    if p.reorder_frames != "auto":
        order = [bool(p.reorder_frames)]
    elif measurable and t > 2:
        order = [False, True]
    else:
        order = [False]
    return [klt, order, [p.bit_depth]]


def _resolved(p: VideoParams, tools: Tools) -> VideoParams:
    return replace(p, decorrelate=tools.decorrelate, reorder_frames=tools.reorder_frames,
                   bit_depth=tools.bit_depth)


def _db(v: float) -> float:
    return round(float(v), 2) if math.isfinite(v) else (99.0 if v > 0 else -99.0)


def sample_window(shape: tuple[int, int, int, int], fraction: float, min_side: int = 64
                  ) -> tuple[slice, slice]:
    """Rows and columns of the trial sample of a ``(T, P, H, W)`` cube: a centred crop
    holding about ``fraction`` of its pixels, never under ``min_side`` (the smallest frame
    x265 codes without padding). Every frame is kept: whether reordering pays depends on
    the whole series (measured: samples of 8 of 12 frames chose it wrongly).

    Examples
    --------
    >>> sample_window((32, 4, 256, 256), 0.25)
    (slice(64, 192, None), slice(64, 192, None))
    >>> sample_window((140, 4, 50, 50), 0.25)
    (slice(0, 50, None), slice(0, 50, None))
    """
    side = math.sqrt(fraction)

    def crop(n: int) -> slice:
        m = min(n, max(min_side, int(math.ceil(n * side / 8)) * 8))
        start = (n - m) // 2
        return slice(start, start + m)

    return crop(shape[2]), crop(shape[3])


class _Trial:
    """The sample of one chunk and the candidates' scores on it (dB at the reference rate)."""

    def __init__(self, a: np.ndarray, p: VideoParams) -> None:
        a = np.asarray(a)
        a = a.astype(check_dtype(a.dtype), copy=False)
        cube, _ = to_cube(a, p.frame_axis)
        rows, cols = sample_window(cube.shape, SAMPLE_FRACTION[p.effort])
        self.sample = np.ascontiguousarray(cube[:, :, rows, cols])
        self.chunk_values = max(cube.size, 1)
        self.valid = valid_mask(self.sample, p.nodata)
        # per-band band_weights say which error matters: candidates are scored by the PSNR
        # of the weighted bands (data units otherwise)
        given = p.band_weights if isinstance(p.band_weights, tuple) else None
        self.weights = (None if given is None or len(given) != cube.shape[1]
                        else np.asarray(given, np.float64)[None, :, None, None])
        vals = self.sample[self.valid]
        self.pointless = vals.size == 0 or float(vals.max()) == float(vals.min())
        self.params = replace(p, frame_axis=0, preset=p.preset or TRIAL_PRESET[p.effort],
                              psnr=None,
                              bpppb=None, max_error=None, stats=False)
        self.p = p
        # the family's level scale: its rate and PSNR slopes move a probe towards an aim
        self.scale = SCALES[p.family]
        self.level = first_level(p)  # the guess of the level at the reference
        self.ref_rate: float | None = None
        self.slope: float | None = None  # dB per octave of rate, measured by the first pair
        self.encodes = 0.0
        # per candidate: (level, log2 rate, PSNR, score) of each probe
        self.points: dict[Tools, list[tuple[float, float, float, float]]] = {}
        lay = layout_for("libx265", 12)
        hc, wc = padded_size(*cube.shape[2:], lay)
        hs, ws = padded_size(*self.sample.shape[2:], lay)
        self.unit = (self.sample.shape[0] * self.sample.shape[1] * hs * ws) / max(
            cube.shape[0] * cube.shape[1] * hc * wc, 1)

    @property
    def cost(self) -> float:
        """Trial encodes so far, in encodes of the whole chunk (by coded pixels)."""
        return self.encodes * self.unit

    def _probe(self, tools: Tools, level: float) -> tuple[float, float, float]:
        """(log2 bits per value, PSNR, score) of the sample coded with ``tools`` at
        ``level``; the rate is the chunk's as the sample predicts it (streams and masks
        scale with the pixels, the header does not). The score is the PSNR candidates are
        compared by: of the weighted bands with per-band ``band_weights``, else the PSNR."""
        level = self.scale.clamp(level)
        blob = encode_plain(self.sample, level_params(_resolved(self.params, tools), level))
        self.encodes += 1
        dec = decode_chunk(blob)
        st = chunk_stats(self.sample, dec, self.valid)
        psnr = 200.0 if st["psnr"] is None else float(st["psnr"])
        score = psnr
        if self.weights is not None:
            sw = chunk_stats(self.sample * self.weights, dec * self.weights, self.valid)
            score = 200.0 if sw["psnr"] is None else float(sw["psnr"])
        # the header's bytes do not shrink with the crop (the KLT basis, the plane
        # mappings): counted once per chunk, as they will be, not once per sample
        meta, _ = header.parse(blob)
        scaled = sum(int(m[0]) for m in meta.get("masks", [])) + sum(
            int(pl[0]) for pl in meta.get("planes", []))
        bits = 8 * (scaled * self.chunk_values / self.sample.size + len(blob) - scaled)
        rate = math.log2(max(bits, 8) / self.chunk_values)
        self.points.setdefault(tools, []).append((level, rate, psnr, score))
        return rate, psnr, score

    def start_level(self, tools: Tools, p: VideoParams) -> float | None:
        """Where ``p``'s target search should start for ``tools``: from the trial probe
        nearest the target, moved by the family's slopes (x265: 6 levels per octave of
        rate, 0.8 dB per level; :mod:`xgeo_codecs.levels`)."""
        pts = self.points.get(tools)
        if not pts:
            return None
        if p.bpppb is not None:
            aim = math.log2(float(p.bpppb))
            level, rate, _, _ = min(pts, key=lambda q: abs(q[1] - aim))
            return self.scale.clamp(level + self.scale.levels_per_octave * (rate - aim))
        if p.psnr is not None:
            aim = float(p.psnr) + 0.25
            level, _, psnr, _ = min(pts, key=lambda q: abs(q[2] - aim))
            return self.scale.clamp(level + (psnr - aim) / -self.scale.db_per_level)
        return None

    def score(self, tools: Tools) -> float:
        """Score (PSNR; of the weighted bands with per-band ``band_weights``) of ``tools``
        at the reference rate: the target's with ``bpppb=``, the rate
        at which the baseline (the first candidate scored) reaches the target with
        ``psnr=``, the baseline's own rate at the given ``crf``/``qp`` otherwise. Comparing
        at the chunk's operating point matters: the KLT wins at low rates and can lose at
        high ones."""
        if self.ref_rate is None:  # the baseline: a failure here is the chunk's failure
            return self._baseline(tools)
        try:
            return self._at_ref(tools)
        except CodecError:  # e.g. the KLT overflows float32 on this chunk: not a candidate
            return -math.inf

    def _baseline(self, tools: Tools) -> float:
        if self.p.bpppb is not None:
            self.ref_rate = math.log2(float(self.p.bpppb))
            score = self._at_ref(tools)
            top = max(r for _, r, _, _ in self.points[tools])
            if top < self.ref_rate - 0.1:  # beyond the video's reach (a residual layer's
                # job): compare the video tools where the baseline's finest coding lands
                self.ref_rate = top
                score = max(s for _, r, _, s in self.points[tools] if r == top)
            return score
        r1, q1, s1 = self._probe(tools, self.level)
        if self.p.psnr is None:
            self.ref_rate = r1
            return s1
        # the reference rate: where the baseline meets the psnr= target (data units)
        aim = float(self.p.psnr) + 0.25
        level2 = self.scale.clamp(self.level + (q1 - aim) / -self.scale.db_per_level)
        if abs(q1 - aim) < 0.4 or abs(level2 - self.level) < 0.01:
            self.ref_rate = r1
            return s1
        r2, q2, s2 = self._probe(tools, level2)
        f = _fraction(aim, q1, q2)
        self.ref_rate, self.level = r1 + (r2 - r1) * f, self.level + (level2 - self.level) * f
        return aim if self.weights is None else s1 + (s2 - s1) * f

    def _at_ref(self, tools: Tools) -> float:
        """Probe at the current level guess; a second probe aimed at the reference rate when
        the first lands more than 7 % away; PSNR interpolated there. The guess moves to
        where this candidate met the reference rate."""
        ref = self.ref_rate
        assert ref is not None
        r1, _, q1 = self._probe(tools, self.level)
        gap = r1 - ref
        level2 = self.scale.clamp(self.level + self.scale.levels_per_octave * gap)
        if abs(gap) < 0.1 or abs(level2 - self.level) < 0.01:  # close, or the scale's end
            return q1 - (self.slope or _DB_PER_OCTAVE) * gap
        r2, _, q2 = self._probe(tools, level2)
        if self.slope is None and abs(r2 - r1) >= 0.05:
            self.slope = _clamp_slope((q2 - q1) / (r2 - r1))
        f = _fraction(ref, r1, r2)
        self.level = self.scale.clamp(self.level + (level2 - self.level) * f)
        if 0.0 <= f <= 1.0:
            return q1 + (q2 - q1) * f
        # not bracketed: the nearer probe, moved along the measured slope (this candidate's
        # when its probes are apart, else the first candidate's)
        if abs(r2 - r1) >= 0.05:
            self.slope = self.slope or _clamp_slope((q2 - q1) / (r2 - r1))
            slope = _clamp_slope((q2 - q1) / (r2 - r1))
        else:
            slope = self.slope or _DB_PER_OCTAVE
        r, q = (r1, q1) if abs(r1 - ref) < abs(r2 - ref) else (r2, q2)
        return q - slope * (r - ref)


def _clamp_slope(v: float) -> float:
    """A measured dB-per-octave slope kept in a plausible range (3 .. 30)."""
    return min(max(v, 3.0), 30.0)


def _fraction(at: float, v1: float, v2: float) -> float:
    """Where ``at`` lies between ``v1`` and ``v2`` (0 at v1, 1 at v2), a short
    extrapolation at most."""
    if abs(v2 - v1) < 1e-9:
        return 0.5
    return min(max((at - v1) / (v2 - v1), -0.5), 1.5)
