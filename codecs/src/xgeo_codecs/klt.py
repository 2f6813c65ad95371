"""Band decorrelation (Karhunen-Loeve transform) of one chunk's planes.

Spectral bands are strongly correlated (B2, B3 and B4 move together), so coding each band
on its own spends bits on the same structure several times. The KLT rotates the chunk's
planes onto the eigenvectors of their covariance: the first component carries most of the
energy, the last ones little. Coded with one common step in data units (see ``core``), the
low-energy components cost few bits and the mean squared error is the same in band and
component space (the basis is orthonormal up to its float16 storage rounding).

The basis is stored per chunk as float16 (``P * P * 2`` bytes, base64 in the header); the
encoder projects with the rounded basis and the decoder inverts that exact matrix, so the
rounding costs no accuracy. No mean is stored: each component's own offset in its code
mapping absorbs it.
"""

from __future__ import annotations

import base64

import numpy as np

from .errors import CodecError

_MAX_SAMPLES = 1 << 20  # pixels the covariance is estimated from (a regular subsample)
# a numerical guard, not a tuned value: the widest band weighs at most this many times less
# than the narrowest (a near-constant band would otherwise ask for an unbounded weight)
_MAX_WEIGHT_RATIO = 1000.0


def basis(cube: np.ndarray, invalid: np.ndarray, weights: np.ndarray | None = None
          ) -> np.ndarray:
    """Orthonormal (P, P) basis of the planes of a (T, P, H, W) cube, rounded to float16.

    Columns are components, strongest first. Statistics come from pixels valid in every
    plane (all pixels when none is), at most ``_MAX_SAMPLES`` of them on a regular lattice;
    with ``weights``, of those pixels with each plane scaled by its weight (in the cube's
    dtype, on the sample only: the chunk is never copied whole).

    Examples
    --------
    >>> import numpy as np
    >>> b = np.random.default_rng(0).normal(size=(2, 1, 8, 8))
    >>> cube = np.concatenate([b, 2 * b], axis=1)  # two perfectly correlated planes
    >>> v = basis(cube, np.zeros(cube.shape, bool))
    >>> np.round(np.abs(v[:, 0]) * np.sqrt(5), 2)  # first component along (1, 2)
    array([1., 2.])
    """
    p = cube.shape[1]
    s = _lattice_step(cube.shape)
    cube, invalid = cube[:, :, ::s, ::s], invalid[:, :, ::s, ::s]
    if weights is not None:
        cube = cube * np.asarray(weights)[None, :, None, None].astype(cube.dtype)
    pix = np.moveaxis(cube, 1, -1).reshape(-1, p).astype(np.float64)
    ok = ~np.moveaxis(invalid, 1, -1).reshape(-1, p).any(axis=1)
    if ok.sum() > p:
        pix = pix[ok]
    cov = np.cov(pix, rowvar=False) if pix.shape[0] > 1 else np.eye(p)
    cov = np.atleast_2d(np.nan_to_num(cov))
    _, vec = np.linalg.eigh(cov)
    vec = vec[:, ::-1]
    # a sign convention, so the same data always gives the same basis bytes
    vec *= np.where(vec[np.abs(vec).argmax(axis=0), np.arange(p)] < 0, -1.0, 1.0)
    return vec.astype("<f2").astype(np.float64)


def _lattice_step(shape: tuple[int, ...]) -> int:
    """The spatial step of the regular lattice that keeps at most ``_MAX_SAMPLES`` pixels of
    a (T, P, H, W) cube (the sample the band statistics are estimated from)."""
    s = 1
    while shape[0] * (-(-shape[2] // s)) * (-(-shape[3] // s)) > _MAX_SAMPLES:
        s += 1
    return s


def range_weights(lo: list[float], hi: list[float]) -> np.ndarray:
    """Each plane's weight for ``band_weights="range"``: 1 / its valid range (``hi - lo``),
    scaled to a geometric mean of 1 (so the weighted basis keeps a determinant of about 1),
    the ratio of the largest to the smallest weight at most ``_MAX_WEIGHT_RATIO``.

    Examples
    --------
    >>> range_weights([0.0, 0.0], [1.0, 4.0])
    array([2. , 0.5])
    """
    return _spread_weights(np.asarray(hi, np.float64) - np.asarray(lo, np.float64))


def robust_weights(cube: np.ndarray, invalid: np.ndarray, lo: list[float], hi: list[float]
                   ) -> np.ndarray:
    """Each plane's weight for ``band_weights="robust"`` (the default): 1 / the spread of
    its valid values between their 1st and 99th percentiles, normalised as
    :func:`range_weights`.

    The range (``hi - lo``) is set by a band's most extreme pixels: a few saturated,
    cloud or hot pixels make a band look wide and give its ordinary pixels a large error.
    The percentile spread is the range of the bulk of the band's values, so a band's weight
    follows what most of its pixels span. A plane whose bulk is constant (spread 0) falls
    back to its range. Estimated on the lattice sample :func:`basis` uses.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.linspace(0, 1, 400).reshape(1, 1, 20, 20)
    >>> b = a.copy(); b[0, 0, 0, 0] = 100.0  # one extreme pixel
    >>> cube = np.concatenate([a, b], axis=1)
    >>> lo, hi = [0.0, 0.0], [1.0, 100.0]
    >>> np.round(robust_weights(cube, np.zeros(cube.shape, bool), lo, hi), 2)
    array([1., 1.])
    >>> np.round(range_weights(lo, hi), 2)
    array([10. ,  0.1])
    """
    s = _lattice_step(cube.shape)
    sample, bad = cube[:, :, ::s, ::s], invalid[:, :, ::s, ::s]
    span = np.asarray(hi, np.float64) - np.asarray(lo, np.float64)  # the fallback: the range
    for j in range(cube.shape[1]):
        v = sample[:, j][~bad[:, j]]
        if v.size:
            q1, q99 = np.percentile(v.astype(np.float64), [1.0, 99.0])
            if q99 > q1:
                span[j] = q99 - q1
    return _spread_weights(span)


def given_weights(weights: tuple[float, ...]) -> np.ndarray:
    """The weights a user gave (``band_weights=`` one number per band), normalised as
    :func:`range_weights`: geometric mean 1, at most ``_MAX_WEIGHT_RATIO`` apart.

    Examples
    --------
    >>> given_weights((4.0, 1.0))
    array([2. , 0.5])
    """
    return _spread_weights(1.0 / np.asarray(weights, np.float64))


def _spread_weights(span: np.ndarray) -> np.ndarray:
    """1 / each plane's spread, at most ``_MAX_WEIGHT_RATIO`` apart, geometric mean 1."""
    span = np.maximum(span, 0.0)
    top = float(span.max()) if span.size else 0.0
    if not top > 0 or not np.isfinite(top):
        return np.ones(span.shape)
    w = 1.0 / np.maximum(span, top / _MAX_WEIGHT_RATIO)
    return w / np.exp(np.mean(np.log(w)))


def weighted_basis(cube: np.ndarray, invalid: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The (P, P) matrix that scales each plane by ``weights`` and then rotates the weighted
    planes onto their principal components, rounded to float16 (what the header stores).

    The components are coded on one step, so each band's error is that step divided by its
    weight: with :func:`range_weights`, the same error relative to the band's range, as
    coding each band on its own range gives. The decoder inverts the stored matrix exactly
    (``inverse``), so chunks written this way read with every decoder of format 3 and later.

    Examples
    --------
    >>> b = np.random.default_rng(0).normal(size=(2, 1, 8, 8))
    >>> cube = np.concatenate([b, 100 * b], axis=1)
    >>> m = weighted_basis(cube, np.zeros(cube.shape, bool), np.array([10.0, 0.1]))
    >>> comps = forward(cube, m)
    >>> bool(np.allclose(inverse(comps, m), cube, atol=1e-3))
    True
    """
    w = np.asarray(weights, np.float64)
    return (w[:, None] * basis(cube, invalid, w)).astype("<f2").astype(np.float64)


def rotate(cube: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(T, P, H, W) -> (T, P, H, W): every pixel's P values times ``matrix`` (P, P), in the
    cube's float type (float32 keeps a chunk's transient memory at half)."""
    return np.einsum("tphw,pk->tkhw", cube, matrix.astype(cube.dtype), optimize=True)


def forward(cube: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """(T, P, H, W) bands -> components (coded on 12 bits, so float32 input is enough)."""
    return rotate(cube, vec)


def inverse(comp: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Components -> bands with the exact inverse of the stored (rounded) basis."""
    return rotate(comp, np.linalg.inv(vec))


def pack(vec: np.ndarray) -> str:
    """The basis as it goes into the chunk header."""
    return base64.b64encode(vec.astype("<f2").tobytes()).decode("ascii")


def unpack(text: str, n_planes: int) -> np.ndarray:
    """Inverse of :func:`pack`; refuses a basis that does not fit or cannot be inverted."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError, AttributeError):
        raise CodecError("band transform is not valid base64; the chunk is corrupt") from None
    if len(raw) != 2 * n_planes * n_planes:
        raise CodecError("band transform has the wrong size; the chunk is corrupt")
    vec = np.frombuffer(raw, "<f2").astype(np.float64).reshape(n_planes, n_planes)
    if not np.all(np.isfinite(vec)) or abs(np.linalg.det(vec)) < 1e-3:
        raise CodecError("band transform is not invertible; the chunk is corrupt")
    return vec
