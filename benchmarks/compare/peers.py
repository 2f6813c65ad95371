"""The contenders of the rate-distortion benchmarks other than xgeo: the xarrayvideo method
(written here from its paper/README description, not its code), oceanum's xarray-video
(PyPI), image codecs through imagecodecs (JPEG 2000, JPEG XL, AVIF), Blosc-zstd, and the
``max_error`` peers (SZ-style uniform quantisation + zstd, JPEG 2000 + a quantised residual).

Each contender is ``f(x, valid, nodata) -> (bytes, decoded, extra)`` on a ``(T, bands, H, W)``
cube; ``rd.py`` says how each is run and ``BENCHMARKS.md`` how it is measured.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def _minmax(x: np.ndarray, valid: np.ndarray, bits: int) -> tuple[np.ndarray, list]:
    """Per-band min-max to ``bits`` codes; masked values get the band mean."""
    top = (1 << bits) - 1
    codes = np.empty(x.shape, np.uint16)
    rng = []
    for j in range(x.shape[1]):
        v = x[:, j].astype(np.float64)
        m = valid[:, j]
        lo, hi = (float(v[m].min()), float(v[m].max())) if m.any() else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1
        f = np.where(m, v, v[m].mean() if m.any() else 0.0)
        codes[:, j] = np.clip(np.rint((f - lo) / (hi - lo) * top), 0, top)
        rng.append((lo, hi))
    return codes, rng


def _unmap(codes: np.ndarray, rng: list, bits: int, dtype) -> np.ndarray:
    top = (1 << bits) - 1
    out = np.empty(codes.shape, np.float64)
    for j, (lo, hi) in enumerate(rng):
        out[:, j] = lo + codes[:, j] * ((hi - lo) / top)
    if np.dtype(dtype).kind in "iu":
        out = np.rint(out)
    return out.astype(dtype)


def xarrayvideo_method(x: np.ndarray, valid: np.ndarray, nodata, crf: float,
                       packed: bool = True) -> tuple[int, np.ndarray, dict]:
    """``packed=False``: the same, but every band its own grey 12-bit stream."""
    import av

    codes, rng = _minmax(x, valid, 12)
    t, b, h, w = codes.shape
    dec = np.empty_like(codes)
    total = 0
    per = 3 if packed else 1
    fmt = "gbrp12le" if packed else "gray12le"
    for g in range(0, b, per):
        grp = codes[:, g:g + per]
        planes = [grp[:, k] if k < grp.shape[1] else np.zeros((t, h, w), np.uint16)
                  for k in range(per)]
        enc = av.CodecContext.create("libx265", "w")
        enc.width, enc.height, enc.pix_fmt = w, h, fmt
        enc.time_base = Fraction(1, 25)
        enc.options = {"preset": "medium", "tune": "psnr", "crf": str(crf),
                       "x265-params": "log-level=none:ctu=32:pools=1:frame-threads=1"}
        pkts = []
        for i in range(t):
            fr = av.VideoFrame(w, h, fmt)
            # gbrp plane order is G, B, R
            for plane, img in zip(fr.planes, planes, strict=True):
                _put(plane, img[i])
            fr.pts = i
            pkts += enc.encode(fr)
        pkts += enc.encode(None)
        extradata = enc.extradata or b""
        total += sum(p.size for p in pkts) + len(extradata)
        d = av.CodecContext.create("hevc", "r")
        if extradata:
            d.extradata = extradata
        frames = []
        for p in pkts:
            frames += d.decode(p)
        frames += d.decode(None)
        for i, fr in enumerate(frames):
            for k in range(grp.shape[1]):
                dec[i, g + k] = _get(fr.planes[k], h, w)
    total += 16 * b  # the per-band (min, max) metadata
    return total, _unmap(dec, rng, 12, x.dtype), {}


def triples(b: int) -> list[list[int]]:
    """Band indices of ``b`` bands in groups of three (one RGB image or video each), the last
    group padded by repeating its last band, as xarrayvideo pads its videos."""
    return [[min(j + k, b - 1) for k in range(3)] for j in range(0, b, 3)]


def _put(plane, img: np.ndarray) -> None:
    h, w = img.shape
    buf = np.frombuffer(plane, np.uint8)
    rows = buf[: plane.line_size * h].reshape(h, plane.line_size)
    rows[:, : 2 * w] = np.ascontiguousarray(img.astype(np.uint16)).view(np.uint8).reshape(h, 2 * w)


def _get(plane, h: int, w: int) -> np.ndarray:
    buf = np.frombuffer(plane, np.uint8)
    rows = buf[: plane.line_size * h].reshape(h, plane.line_size)[:, : 2 * w]
    return rows.copy().view(np.uint16).reshape(h, w)


def xarray_video(x: np.ndarray, valid: np.ndarray, nodata, crf: float
                 ) -> tuple[int, np.ndarray, dict]:
    """oceanum ``xarray-video`` (PyPI): its numcodecs ``H264`` codec (libx264, yuv420p, mp4)
    on a Zarr v2 store, the way its ``Dataset.video.to_zarr`` writes (one chunk per series).
    It takes 8-bit RGB only: each band min-max to 8 bit over the cube (masked values to code
    0), 3 bands per RGB array (the last group padded by repeating its last band), rows padded
    to even (x264's 4:2:0 needs it) by repeating the last row. Bytes: every key of the store."""
    import zarr
    from xarray_video import H264
    from zarr.storage import MemoryStore

    codes, rng = _minmax(x, valid, 8)
    codes[~valid] = 0
    t, b, h, w = codes.shape
    hp = h + h % 2
    store = MemoryStore()
    root = zarr.open_group(store, mode="w", zarr_format=2)
    groups = triples(b)
    for i, bands in enumerate(groups):
        rgb = np.moveaxis(codes[:, bands], 1, -1).astype(np.uint8)  # (T, H, W, 3)
        rgb = np.pad(rgb, ((0, 0), (0, hp - h), (0, 0), (0, 0)), mode="edge")
        arr = root.create_array(f"bands{i}", shape=rgb.shape, chunks=rgb.shape, dtype="uint8",
                                compressors=H264(crf=int(crf)), fill_value=0)
        arr.attrs["bands"], arr.attrs["range"] = bands, [rng[j] for j in bands]
        arr[:] = rgb
    total = sum(len(v.to_bytes()) for v in store._store_dict.values())
    root = zarr.open_group(store, mode="r")
    dec = np.empty_like(codes)
    for i, bands in enumerate(groups):
        back = root[f"bands{i}"][:, :h]
        for k, j in enumerate(bands):
            if j not in bands[:k]:  # a padding copy is not read back
                dec[:, j] = back[..., k]
    return total, _unmap(dec, rng, 8, x.dtype), {}


def image_codec(name: str, level: float):
    if name == "avif":
        return _avif(level)
    import imagecodecs

    bits = 16

    def run(x: np.ndarray, valid: np.ndarray, nodata) -> tuple[int, np.ndarray, dict]:
        codes, rng = _minmax(x, valid, bits)
        dec = np.empty_like(codes)
        total = 16 * x.shape[1]
        for i in range(codes.shape[0]):
            for j in range(codes.shape[1]):
                f = codes[i, j]
                if name == "jpeg2000":
                    blob = imagecodecs.jpeg2k_encode(f, level=level, numthreads=1)
                    dec[i, j] = imagecodecs.jpeg2k_decode(blob)
                else:
                    blob = imagecodecs.jpegxl_encode(f, distance=level, effort=7, numthreads=1)
                    dec[i, j] = imagecodecs.jpegxl_decode(blob)
                total += len(blob)
        return total, _unmap(dec, rng, bits, x.dtype), {}
    return run


def _avif(level: float):
    """AVIF (libavif + libaom, AV1 intra), 12-bit per-band min-max codes, each frame's bands
    in triples coded as one 4:4:4 RGB image (the last triple padded by repeating its last
    band, as xarrayvideo pads its videos; the padding's bytes count). A single band is not
    coded lossy by imagecodecs 2026.3.6's avif_encode: a 2-D (grey) frame comes back
    lossless at every ``level`` (identical bytes, measured at 8, 10 and 12 bits), so grey
    frames are not an option."""
    import imagecodecs

    bits = 12

    def run(x: np.ndarray, valid: np.ndarray, nodata) -> tuple[int, np.ndarray, dict]:
        codes, rng = _minmax(x, valid, bits)
        dec = np.empty_like(codes)
        b = codes.shape[1]
        total = 16 * b
        for i in range(codes.shape[0]):
            for group in triples(b):
                j = group[0]
                rgb = np.ascontiguousarray(codes[i, group].transpose(1, 2, 0))
                blob = imagecodecs.avif_encode(rgb, level=int(level), speed=6,
                                               bitspersample=bits, numthreads=1)
                total += len(blob)
                back = imagecodecs.avif_decode(blob).transpose(2, 0, 1)
                dec[i, j:j + 3] = back[:min(3, b - j)]
        return total, _unmap(dec, rng, bits, x.dtype), {}
    return run


def blosc(x: np.ndarray, valid: np.ndarray, nodata) -> tuple[int, np.ndarray, dict]:
    from numcodecs import Blosc

    c = Blosc(cname="zstd", clevel=9, shuffle=Blosc.BITSHUFFLE)
    blob = c.encode(np.ascontiguousarray(x))
    back = np.frombuffer(c.decode(blob), x.dtype).reshape(x.shape)
    return len(blob), back, {}


# ------------------------------------------------------------------- max_error mode
def sz_uniform(x, valid, e):
    import numcodecs

    # SZ-style: uniform quantisation with step 2e, then a lossless coder
    q = np.where(valid, np.rint((x.astype(np.float64) - float(x[valid].min())) / (2 * e)), 0)
    q = q.astype(np.int32 if q.max() > 32767 else np.int16)
    z = numcodecs.Zstd(level=19).encode(q)
    return len(z) + 16


def j2k_residual(x, valid, e):
    import imagecodecs
    import numcodecs
    best = None
    codes, rng = _minmax(x, valid, 16)
    for level in (50, 60, 70):
        total = 0
        dec = np.empty_like(codes)
        for i in range(codes.shape[0]):
            for j in range(codes.shape[1]):
                blob = imagecodecs.jpeg2k_encode(codes[i, j], level=level, numthreads=1)
                dec[i, j] = imagecodecs.jpeg2k_decode(blob)
                total += len(blob)
        d = _unmap(dec, rng, 16, np.float64)
        r = np.where(valid, x.astype(np.float64) - d, 0)
        q = np.rint(r / (2 * e)).astype(np.int32)
        total += len(numcodecs.Zstd(level=19).encode(q))
        best = total if best is None else min(best, total)
    return best
