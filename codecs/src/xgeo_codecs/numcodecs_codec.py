"""The numcodecs face: :class:`VideoCodec` (id :data:`xgeo_codecs.CODEC_ID`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_bytes, ensure_ndarray_like, ndarray_copy

from .core import decode, encode
from .errors import CodecError
from .params import CODEC_ID, VideoParams, stored_config

__all__ = ["CODEC_ID", "VideoCodec"]


class VideoCodec(Codec):
    """numcodecs codec storing each chunk as video (HEVC/AV1/VP9 lossy, FFV1 lossless).

    Takes the keyword arguments of :class:`xgeo_codecs.VideoParams` (the one way to pass
    parameters, as for :class:`xgeo_codecs.VideoSerializer`). The chunk keeps its shape:
    the last two axes are (y, x), ``frame_axis`` is time, other axes are planes.

    Examples
    --------
    >>> import numpy as np
    >>> from xgeo_codecs import VideoCodec
    >>> codec = VideoCodec(lossless=True)
    >>> a = np.arange(4 * 8 * 8, dtype="uint16").reshape(4, 8, 8)
    >>> bool((codec.decode(codec.encode(a)) == a).all())
    True
    >>> codec
    VideoCodec(lossless=True)
    """

    codec_id = CODEC_ID

    def __init__(self, **kwargs: Any) -> None:
        self.params = VideoParams.from_config(kwargs)

    def encode(self, buf: Any) -> bytes:
        """Encode one chunk. Its bytes come back from :meth:`decode` little-endian, as the
        chunk header records them: a big-endian buffer is refused (Zarr format 2 would view
        the decoded bytes as its big-endian dtype, swapping every value)."""
        a = np.asarray(ensure_ndarray_like(buf))
        if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and not np.little_endian):
            raise CodecError(
                f"VideoCodec stores values little-endian and a numcodecs reader takes the "
                f"decoded bytes in the buffer's byte order: this buffer is big-endian "
                f"({a.dtype.str}); store it as {a.dtype.newbyteorder('<').str} (e.g. "
                f"zarr.create_array(..., dtype='{a.dtype.newbyteorder('<').str}')) or write "
                "Zarr v3, whose VideoSerializer takes values")
        return encode(a, self.params)

    def decode(self, buf: Any, out: Any = None, *, max_bytes: int | None = None,
               frames: Any = None) -> np.ndarray:
        """Decode one chunk (or the ``frames`` of it asked for: see
        :func:`xgeo_codecs.decode`); into ``out`` when given.

        A header announcing more than ``max_bytes`` (``out``'s size when given, else
        :func:`xgeo_codecs.decode`'s default of 2 GiB) raises CodecError. A chunk encoded from
        a Fortran-ordered array decodes to one (format 5), so readers that take the decoded
        bytes in the array's memory order (Zarr format 2 ``order="F"``) get the right values.
        An ``out`` of the chunk's shape and dtype receives the values whatever its memory
        order; any other ``out`` the bytes, as numcodecs does.
        """
        if out is not None and max_bytes is None and frames is None:
            max_bytes = ensure_ndarray_like(out).nbytes
        arr = decode(ensure_bytes(buf), decoder=self.params.decoder, max_bytes=max_bytes,
                     frames=frames)
        if out is not None:
            if (isinstance(out, np.ndarray) and out.shape == arr.shape
                    and out.dtype == arr.dtype):
                np.copyto(out, arr)
                return out
            return ndarray_copy(arr, out)
        return arr

    def get_config(self) -> dict[str, Any]:
        """``{"id": CODEC_ID, "config_version": 2, ...}`` with every parameter
        (:meth:`VideoParams.to_config`), as numcodecs stores it."""
        return {"id": self.codec_id, **self.params.to_config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VideoCodec:
        """The codec of a stored config (its ``id`` dropped). A version-1 config (no
        ``config_version``) takes the defaults it was written under; one of a newer
        xgeo-codecs reads but refuses to encode (see :meth:`VideoParams.from_config`)."""
        with stored_config():
            return cls(**{k: v for k, v in config.items() if k != "id"})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VideoCodec) and other.params == self.params

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.params))

    def __repr__(self) -> str:
        cfg = self.params.non_default_config()
        if "value_range" in cfg:
            cfg["value_range"] = tuple(cfg["value_range"])
        args = ", ".join(f"{k}={v!r}" for k, v in cfg.items())
        return f"{type(self).__name__}({args})"
