"""asv: encode/decode speed and peak memory of the xgeo video codec on real S2 chunks.

Chunks are (T, 256, 256) uint16 tiles built from the bundled nrt test cube (real DN; tiled
3x3 to reach the default chunk edge), the shape ``xgeo.compression`` writes.
"""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
from xgeo_codecs import decode, encode

NRT = Path(__file__).resolve().parents[1] / "tests" / "data" / "nrt_romania_32t.nc"
MODES = {
    "ffv1": {"lossless": True},
    "hevc": {},  # default: x265 12 bit, CRF 6, preset faster, 1 thread
    "av1": {"codec": "av1"},
}


def _chunk(frames: int) -> np.ndarray:
    with netCDF4.Dataset(NRT) as ds:
        ds.set_auto_maskandscale(False)
        b2 = np.asarray(ds["B2"][:frames])
    return np.ascontiguousarray(np.tile(b2, (1, 3, 3))[:, :256, :256])


class VideoCodecChunk:
    params = (["ffv1", "hevc", "av1"], [16, 32])
    param_names = ["mode", "frames"]

    def setup(self, mode, frames):
        self.chunk = _chunk(frames)
        self.params_ = MODES[mode]
        self.blob = encode(self.chunk, self.params_)

    def time_encode(self, mode, frames):
        encode(self.chunk, self.params_)

    def time_decode(self, mode, frames):
        decode(self.blob)

    def peakmem_encode(self, mode, frames):
        encode(self.chunk, self.params_)

    def peakmem_decode(self, mode, frames):
        decode(self.blob)

    def track_bits_per_value(self, mode, frames):
        return len(self.blob) * 8 / self.chunk.size

    track_bits_per_value.unit = "bits/value"


class MaskedChunk:
    """NaN handling (mask + push-pull fill) on a float chunk with 25 % clouds."""

    def setup(self):
        c = _chunk(16).astype(np.float32) / 10000
        rng = np.random.default_rng(0)
        c[rng.random(c.shape) < 0.25] = np.nan
        self.chunk = c
        self.blob = encode(c)

    def time_encode_masked(self):
        encode(self.chunk)

    def time_decode_masked(self):
        decode(self.blob)
