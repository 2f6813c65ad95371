"""Quality levels of each lossy encoder family: the CRF / QP scales, their ranges and priors.

A *level* is the one number the ``psnr=`` / ``bpppb=`` / ``max_error=`` searches move
(:mod:`xgeo_codecs.quality`): higher is coarser. Each family has its own scale:

* ``hevc`` (x265): levels 0..51 are CRF values (fractional CRF is honoured); levels
  -7..-1 are QP 0..6, finer than CRF 0 (on 12-bit codes CRF 0 still quantises with a step of
  several codes). A negative QP crashes libx265 4.x, so QP stops at 0.
* ``av1`` (SVT-AV1 through FFmpeg): whole CRF values 1..63. FFmpeg's ``libsvtav1`` reads
  ``crf=0`` and ``qp=0`` as "not set" and codes at its default QP 35, so 0 is refused by
  :func:`check_crf_qp` rather than silently coded 35 steps coarser than asked.
* ``vp9`` (libvpx): whole CRF values 0..63; ``qp=`` fixes the quantiser (``qmin = qmax``).

The priors start a search near where it will land; the search then steps on what it
measures, so they need to be right to within a few levels, not exactly. x265's were fitted by
replaying the search on PSNR(level) tables of the 12 real chunks of ``../shared/data``;
SVT-AV1's (preset 6, 10 bit) and libvpx's (8 bit) from one chunk of each of the four real
cubes, CRF 7..63 (2026-12): PSNR falls 0.33-0.39 dB a level for AV1 and 0.32-0.36 for VP9,
and the rate halves every 9-11.4 levels for AV1 and 10.3-12.5 for VP9, against ~6 for x265.

Examples
--------
>>> s = SCALES["av1"]
>>> s.clamp(0.4), s.clamp(70), s.clamp(30.6)
(1.0, 63.0, 31.0)
>>> SCALES["hevc"].clamp(-3.4), SCALES["hevc"].clamp(12.345)
(-3.0, 12.35)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from .errors import CodecError

__all__ = ["SCALES", "LevelScale", "check_crf_qp"]


@dataclass(frozen=True)
class LevelScale:
    """The quality-level scale of one encoder family.

    Parameters
    ----------
    family
        ``"hevc"``, ``"av1"`` or ``"vp9"``.
    crf, qp
        The ``(lowest, highest)`` CRF and QP the encoder takes.
    whole
        True when the CRF is a whole number (SVT-AV1, libvpx).
    qp_levels
        Levels below the lowest CRF, each a QP from 0 up (x265: 7, QP 0..6); 0 for none.
    psnr_at_0, db_per_level
        The PSNR prior: ``psnr_at_0 + db_per_level * level`` dB (``db_per_level`` < 0).
    level_at_1bpppb, levels_per_octave
        The rate prior: 1 bit per value at ``level_at_1bpppb``, halving every
        ``levels_per_octave`` levels.
    """

    family: str
    crf: tuple[float, float]
    qp: tuple[int, int]
    whole: bool
    qp_levels: int
    psnr_at_0: float
    db_per_level: float
    level_at_1bpppb: float
    levels_per_octave: float

    @property
    def lo(self) -> float:
        """The finest level (a QP level where the family has them)."""
        return float(self.crf[0] - self.qp_levels)

    @property
    def hi(self) -> float:
        """The coarsest level."""
        return float(self.crf[1])

    @property
    def step(self) -> float:
        """The smallest level difference that codes differently."""
        return 1.0 if self.whole else 0.01

    def clamp(self, level: float) -> float:
        """``level`` within the scale, rounded to what the encoder distinguishes (QP levels
        and whole-number CRFs to integers, x265's CRF to 0.01)."""
        level = float(level)
        if math.isnan(level):  # a prior fed non-finite statistics (e.g. a range past
            level = self.hi    # float64): the probe's encode then says what is wrong
        level = min(max(level, self.lo), self.hi)
        if self.whole or level < self.crf[0]:
            return float(round(level))
        return round(level, 2)

    def is_qp(self, level: float) -> bool:
        """True when ``level`` is one of the QP levels below the lowest CRF."""
        return level < self.crf[0]

    def qp_of(self, level: float) -> int:
        """The QP of a QP level."""
        return int(round(level - self.lo))

    def level_of_qp(self, qp: int) -> float:
        """The level of a QP (x265: QP 0 is the finest level); families without QP levels
        place a QP on their CRF scale."""
        return float(int(qp) + self.lo) if self.qp_levels else float(int(qp))

    def level_for_psnr(self, psnr: float) -> float:
        """The prior's level for a PSNR."""
        return self.clamp((self.psnr_at_0 - psnr) / -self.db_per_level)

    def level_for_rate(self, bpppb: float) -> float:
        """The prior's level for a rate in bits per value."""
        return self.clamp(self.level_at_1bpppb - math.log2(bpppb) * self.levels_per_octave)


SCALES: dict[str, LevelScale] = {
    "hevc": LevelScale("hevc", crf=(0.0, 51.0), qp=(0, 51), whole=False, qp_levels=7,
                       psnr_at_0=54.0, db_per_level=-0.8, level_at_1bpppb=6.0,
                       levels_per_octave=6.0),
    "av1": LevelScale("av1", crf=(1.0, 63.0), qp=(1, 63), whole=True, qp_levels=0,
                      psnr_at_0=50.5, db_per_level=-0.35, level_at_1bpppb=14.0,
                      levels_per_octave=10.0),
    "vp9": LevelScale("vp9", crf=(0.0, 63.0), qp=(0, 63), whole=True, qp_levels=0,
                      psnr_at_0=52.0, db_per_level=-0.34, level_at_1bpppb=17.0,
                      levels_per_octave=11.0),
}


def check_crf_qp(family: str, crf: object, qp: object) -> None:
    """Refuse a ``crf`` / ``qp`` the family's encoder would reject, misread or round.

    Raises
    ------
    CodecError
        Naming the argument, the family's range and what to pass instead.

    Examples
    --------
    >>> check_crf_qp("hevc", 6.5, None)
    >>> check_crf_qp("av1", 0, None)
    Traceback (most recent call last):
    ...
    xgeo_codecs.errors.CodecError: crf=0 is outside 1..63 for codec='av1' (FFmpeg's SVT-AV1 reads 0 as 'not set' and codes at QP 35); pass 1 for its finest quality
    """
    scale = SCALES.get(family)
    if scale is None:
        return
    # what a value below the range does, where the encoder would not say it clearly
    why_low = {"av1": " (FFmpeg's SVT-AV1 reads 0 as 'not set' and codes at QP 35); pass 1 "
                      "for its finest quality",
               "hevc": " (a negative value crashes libx265 4.x; qp=0 is finer than "
                       "crf=0)"}.get(family, "")
    for name, value, (lo, hi), whole in (("crf", crf, scale.crf, scale.whole),
                                         ("qp", qp, scale.qp, True)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise CodecError(f"{name}={value!r} is not a number; pass a "
                             f"{'whole ' if whole else ''}number in {lo:g}..{hi:g} for "
                             f"codec={family!r}")
        if not lo <= value <= hi:
            raise CodecError(f"{name}={value!r} is outside {lo:g}..{hi:g} for "
                             f"codec={family!r}{why_low if value < lo else ''}")
        if whole and value != int(value):
            raise CodecError(f"{name}={value!r}: codec={family!r} takes a whole-number "
                             f"{name} ({lo:g}..{hi:g}); pass {round(value)}")
