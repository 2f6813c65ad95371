"""The Zarr v3 face: :class:`VideoSerializer`, an array -> bytes codec (``serializer=``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.abc.codec import ArrayBytesCodec, ArrayBytesCodecPartialDecodeMixin
from zarr.core.common import parse_named_configuration

from . import header
from ._values import check_dtype
from .core import decode, encode
from .errors import CodecError
from .params import CODEC_ID, VideoParams, mark_unwritable, stored_config

if TYPE_CHECKING:
    from typing import Self

    from zarr.abc.store import ByteGetter
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer
    from zarr.core.indexing import SelectorTuple


@dataclass(frozen=True)
class VideoSerializer(ArrayBytesCodecPartialDecodeMixin, ArrayBytesCodec):
    """Zarr v3 serializer storing each chunk as video; name :data:`xgeo_codecs.CODEC_ID` in
    metadata.

    A read of some frames of a chunk (``z[k]``, ``xr.open_zarr(...).isel(time=k)``) decodes
    only those (partial decoding: see :func:`xgeo_codecs.decode`'s ``frames=``), as long as
    the serializer is the array's only codec (no ``compressors=``: the video is compressed).

    Takes the keyword arguments of :class:`xgeo_codecs.VideoParams` (the one way to pass
    parameters, as for :class:`xgeo_codecs.VideoCodec`). Put it in the
    ``serializer=`` slot, not in ``compressors=`` (those get bytes, not arrays).

    Examples
    --------
    >>> import numpy as np, zarr
    >>> from xgeo_codecs import VideoSerializer
    >>> z = zarr.create_array(zarr.storage.MemoryStore(), shape=(4, 16, 16), chunks=(4, 16, 16),
    ...                       dtype="uint16", serializer=VideoSerializer(lossless=True))
    >>> z[:] = np.arange(4 * 16 * 16).reshape(4, 16, 16)
    >>> int(z[3, 15, 15])
    1023
    """

    is_fixed_size = False
    params: VideoParams

    def __init__(self, **kwargs: Any) -> None:
        object.__setattr__(self, "params", VideoParams.from_config(kwargs))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The serializer of stored metadata. A version-1 configuration (no
        ``config_version``) takes the defaults it was written under; one of a newer
        xgeo-codecs reads but refuses to encode (see :meth:`VideoParams.from_config`)."""
        if isinstance(data, dict) and "configuration" in data and data["configuration"] is None:
            data = {k: v for k, v in data.items() if k != "configuration"}  # null: absent
        _, cfg = parse_named_configuration(data, CODEC_ID, require_configuration=False)
        with stored_config():
            serializer = cls(**dict(cfg or {}))
        object.__setattr__(serializer, "_from_metadata", True)
        return serializer

    def to_dict(self) -> dict[str, Any]:
        """``{"name": CODEC_ID, "configuration": {"config_version": 2, ...}}`` with every
        parameter (:meth:`VideoParams.to_config`), as Zarr's own codecs write theirs."""
        return {"name": CODEC_ID, "configuration": self.params.to_config()}

    def validate(self, *, shape: Any, dtype: Any, chunk_grid: Any) -> None:
        """Refuse parameters that do not fit the array; those of stored metadata (an array
        being opened) are marked read-only instead, with a warning: its chunks still read."""
        try:
            self._validate(shape, dtype, chunk_grid)
        except CodecError as err:
            if not self.__dict__.get("_from_metadata"):
                raise
            mark_unwritable(self.params, err)

    def _validate(self, shape: Any, dtype: Any, chunk_grid: Any) -> None:
        native = dtype.to_native_dtype() if hasattr(dtype, "to_native_dtype") else np.dtype(dtype)
        check_dtype(np.dtype(native))
        ndim = len(shape)
        fa = self.params.frame_axis
        frame = fa + ndim if fa < 0 else fa
        if ndim > 2 and not 0 <= frame < ndim - 2:
            raise CodecError(f"frame_axis={fa} is not valid for a {ndim}-d array: the last two "
                             f"axes are (y, x); use an axis in 0..{ndim - 3}")
        chunk = getattr(chunk_grid, "chunk_shape", None)
        if isinstance(self.params.band_weights, tuple) and chunk is not None:
            bands = int(np.prod([n for k, n in enumerate(chunk[:-2]) if k != frame]))
            # refused when the array is made, not at its first write
            self.params.check_band_count(
                bands, f"a chunk of this array (chunk shape {tuple(chunk)}) holds")

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec,
                     selection: SelectorTuple | None = None) -> NDBuffer:
        blob = chunk_bytes.to_bytes()
        want = np.dtype(chunk_spec.dtype.to_native_dtype())
        # the header alone first: a chunk announcing another shape or dtype than the array's
        # is refused before anything is inflated or allocated
        meta = header.parse(blob)[0]
        shape = tuple(chunk_spec.shape)
        if tuple(meta["shape"]) != shape:
            raise CodecError(f"chunk header announces shape {tuple(meta['shape'])}, the array "
                             f"expects {shape}; the store is corrupt")
        got = np.dtype(meta["dtype"])
        if (got.kind, got.itemsize) != (want.kind, want.itemsize):
            raise CodecError(f"chunk header announces dtype {got}, the array expects {want}; "
                             "the store is corrupt")
        frames, rest = None, selection
        if selection is not None:
            frames, rest = _frames_of(selection, shape, meta.get("frame_axis", 0))
        arr = decode(blob, decoder=self.params.decoder, max_bytes=header.nbytes(meta),
                     frames=frames)
        if rest is not None:
            arr = arr[rest]
        return chunk_spec.prototype.nd_buffer.from_numpy_array(arr.astype(want, copy=False))

    async def _decode_partial_single(self, byte_getter: ByteGetter, selection: SelectorTuple,
                                     chunk_spec: ArraySpec) -> NDBuffer | None:
        """The ``selection`` of one chunk, decoding only the frames it needs."""
        chunk_bytes = await byte_getter.get(prototype=chunk_spec.prototype)
        if chunk_bytes is None:
            return None
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec, selection)

    def _encode_sync(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        params = self.params
        params.check_writable()  # before replace(), which builds fresh parameters
        fill = _finite(getattr(chunk_spec, "fill_value", None))
        if fill is not None and (params.nodata is None or np.isnan(params.nodata)):
            # Zarr pads edge chunks with fill_value and means "missing" by it: mask it
            # (restored exactly) so padding neither widens the value range nor costs bits
            params = replace(params, nodata=fill)
        elif (fill is not None and fill != float(params.nodata) and not params.lossless
              and params.family != "ffv1"):
            raise CodecError(
                f"nodata={params.nodata:g} but the array's fill_value is {fill:g}: Zarr pads "
                "edge chunks with its fill_value, which a lossy chunk would code as data (an "
                "edge chunk's value range, and so its quality, wrecked); create the array "
                f"with fill_value={params.nodata:g}")
        # Zarr v3 hands the serializer values, not bytes: memory order is irrelevant here, so a
        # transposed view is coded C-ordered (format 1-4, not 5, for older readers)
        data = encode(np.ascontiguousarray(chunk_array.as_numpy_array()), params)
        return chunk_spec.prototype.buffer.from_bytes(data)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    def compute_encoded_size(self, input_byte_length: int, _chunk_spec: ArraySpec) -> int:
        raise NotImplementedError  # variable-size output


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (no fill value, NaN, or not a number)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _frames_of(selection: Any, shape: tuple[int, ...], fa: int) -> tuple[Any, Any]:
    """A chunk selection split into the frames to decode and the selection of the decoded
    frames that gives the same result as ``chunk[selection]``."""
    sel = selection if isinstance(selection, tuple) else (selection,)
    if len(shape) <= 2 or fa >= len(sel):
        return None, sel
    s = sel[fa]
    t = shape[fa]
    if isinstance(s, slice):
        frames = np.arange(t)[s]
        if len(frames) == t and (s.step or 1) == 1:
            return None, sel  # every frame: decode the chunk whole
        inner: Any = slice(None)
    elif isinstance(s, (int, np.integer)):
        frames, inner = [int(s)], 0
    else:
        idx = np.asarray(s)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        # orthogonal indexing hands each axis's indices shaped for np.ix_ (ones elsewhere)
        if idx.dtype.kind not in "iu" or max(idx.shape, default=1) != idx.size:
            return None, sel  # a selection form this does not know: decode whole
        frames = np.unique(idx)
        inner = np.searchsorted(frames, idx)
    return frames, sel[:fa] + (inner,) + sel[fa + 1:]

