"""The ``.geo`` accessor on xarray DataArray and Dataset: a thin façade.

Every method forwards to a plain function documented in its own module, so the
same operation works without the accessor. xarray rebuilds accessors on every
``ds["var"]``, so nothing is cached here: each property reads the object afresh.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from typing import Any

import xarray as xr
from affine import Affine
from pyproj import CRS

from . import crs as _crs
from . import io as _io
from .grid import Grid

__all__ = ["GeoAccessor"]


class GeoAccessor:
    """Geospatial methods under ``obj.geo`` (same on DataArray and Dataset).

    Examples
    --------
    >>> import xgeo
    >>> ds = xgeo.datasets.sentinel2_cube()
    >>> ds.geo.crs.to_epsg(), ds.geo.shape
    (32633, (101, 100))
    """

    def __init__(self, obj: xr.DataArray | xr.Dataset) -> None:
        self._obj = obj

    # ------------------------------------------------------------------ grid model
    @property
    def spatial_dims(self) -> tuple[Hashable, Hashable]:
        """``(y_dim, x_dim)``; see :func:`xgeo.crs.find_spatial_dims`."""
        return _crs.find_spatial_dims(self._obj)

    @property
    def crs(self) -> CRS | None:
        """The CRS, or None; see :func:`xgeo.crs.read_crs`."""
        return _crs.read_crs(self._obj)

    @property
    def grid(self) -> Grid:
        """The :class:`~xgeo.grid.Grid` (CRS, transform, shape); see :func:`xgeo.crs.read_grid`."""
        return _crs.read_grid(self._obj)

    @property
    def transform(self) -> Affine:
        """Affine transform from pixel corners to CRS coordinates."""
        return self.grid.transform

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in the object's CRS."""
        return self.grid.bounds

    @property
    def resolution(self) -> tuple[float, float]:
        """Signed pixel size ``(x_res, y_res)``."""
        return self.grid.resolution

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the spatial grid."""
        return self.grid.shape

    def set_crs(self, crs: Any) -> xr.DataArray | xr.Dataset:
        """New object labelled with ``crs``; see :func:`xgeo.crs.set_crs`."""
        return _crs.set_crs(self._obj, crs)

    def write_grid(self, grid: Grid | None = None, *, crs: Any = None) -> xr.DataArray | xr.Dataset:
        """New object with CF/GDAL grid metadata; see :func:`xgeo.crs.write_grid`."""
        return _crs.write_grid(self._obj, grid, crs=crs)

    # ------------------------------------------------------------------------ I/O
    def to_netcdf(self, path: Any, **kwargs: Any) -> Any:
        """Write netCDF keeping the grid; see :func:`xgeo.io.to_netcdf`."""
        return _io.to_netcdf(self._obj, path, **kwargs)

    def to_zarr(self, store: Any, *, categorical: Any = None, **kwargs: Any) -> Any:
        """Write Zarr keeping the grid, optionally video-compressed (categorical variables
        exactly, see :mod:`xgeo.categorical`); see :func:`xgeo.io.to_zarr`."""
        return _io.to_zarr(self._obj, store, categorical=categorical, **kwargs)

    def to_geotiff(self, path: Any, **kwargs: Any) -> Any:
        """Write a (Cloud-Optimised) GeoTIFF keeping grid and nodata; see
        :func:`xgeo.geotiff.to_geotiff`."""
        return _io.to_geotiff(self._obj, path, **kwargs)

    # --- spectral indices ---
    def index(self, name: str, **kwargs: Any) -> xr.DataArray:
        """One spectral index; see :func:`xgeo.indices.compute_index`."""
        from .indices import compute_index

        return compute_index(self._obj, name, **kwargs)

    def indices(self, names: Any, **kwargs: Any) -> xr.Dataset:
        """Several spectral indices in one fused pass; see :func:`xgeo.indices.compute_indices`."""
        from .indices import compute_indices

        return compute_indices(self._obj, names, **kwargs)

    def available_indices(self, **kwargs: Any) -> list[str]:
        """Indices computable from the bands present; see :func:`xgeo.indices.available_indices`."""
        from .indices import available_indices

        return available_indices(self._obj, **kwargs)

    # --- reprojection ---
    def reproject(
        self, dst_crs: Any = None, *, categorical: Any = None, **kwargs: Any
    ) -> xr.DataArray | xr.Dataset:
        """Reproject onto a new CRS/grid (categorical variables with nearest/mode, see
        :mod:`xgeo.categorical`); see :func:`xgeo.reproject.reproject`."""
        from .reproject import reproject

        return reproject(self._obj, dst_crs, categorical=categorical, **kwargs)

    def reproject_match(
        self, other: Any, *, categorical: Any = None, **kwargs: Any
    ) -> xr.DataArray | xr.Dataset:
        """Reproject onto ``other``'s grid; see :func:`xgeo.reproject.reproject_match`."""
        from .reproject import reproject_match

        return reproject_match(self._obj, other, categorical=categorical, **kwargs)

    # --- clipping ---
    def clip(
        self,
        geometry: Any,
        crs: Any = None,
        *,
        all_touched: bool = False,
        drop: bool = True,
        invert: bool = False,
        **kwargs: Any,
    ) -> xr.DataArray | xr.Dataset:
        """Crop to a geometry and fill the pixels outside (lazy on dask); see :func:`xgeo.clip.clip`."""
        from .clip import clip

        return clip(
            self._obj, geometry, crs, all_touched=all_touched, drop=drop, invert=invert, **kwargs
        )

    # --- compression ---
    def video_encoding(self, codec: str | None = None, **kwargs: Any) -> dict:
        """Per-variable Zarr v3 video encoding; see :func:`xgeo.compression.video_encoding`."""
        from .compression import video_encoding

        return video_encoding(self._obj, codec, **kwargs)

    def compression_report(self) -> dict:
        """Stored bytes, ratio, bpppb and encoder per array of the Zarr store this object was
        opened from; see :func:`xgeo.compression.compression_report`."""
        from .compression import compression_report

        return compression_report(self._obj)

    def compare(self, decoded: xr.DataArray | xr.Dataset, **kwargs: Any) -> dict:
        """PSNR (whole, per band), max error, spectral angle, NDVI error and class changes of
        ``decoded`` against this object; see :func:`xgeo.metrics.compare`."""
        from .metrics import compare

        return compare(self._obj, decoded, **kwargs)

    # --- temporal composites ---
    def composite(self, freq: str = "1MS", method: str = "median", **kwargs: Any
                  ) -> xr.DataArray | xr.Dataset:
        """One image per time group (median, mean or max-NDVI best pixel, numba kernels, lazy
        on dask); see :func:`xgeo.composite.composite`."""
        from .composite import composite

        return composite(self._obj, freq, method, **kwargs)

    # --- chips ---
    def chips(self, size: int | tuple[int, int] = 256, stride: Any = None, **kwargs: Any) -> Any:
        """Index of chip windows (no pixels copied); see :func:`xgeo.chips.make_chips`."""
        from .chips import make_chips

        return make_chips(self._obj, size, stride, **kwargs)

    def to_dataloader(
        self, size: int | tuple[int, int] = 256, batch_size: int = 16, **kwargs: Any
    ) -> Any:
        """A torch DataLoader of chips; see :func:`xgeo.torch.to_dataloader` (needs torch)."""
        from .torch import to_dataloader

        return to_dataloader(self._obj, size, batch_size, **kwargs)

    # --- pictures ---
    def quicklook(self, bands: Any = ("B04", "B03", "B02"), **kwargs: Any) -> Any:
        """True-colour or single-band PNG/figure; see :func:`xgeo.quicklook.quicklook`."""
        from .quicklook import quicklook

        return quicklook(self._obj, bands, **kwargs)

    def to_video(self, path: Any, **kwargs: Any) -> Any:
        """MP4/GIF of a time series, the date in each frame; see :func:`xgeo.preview.to_video`."""
        from .preview import to_video

        return to_video(self._obj, path, **kwargs)


def _register() -> None:
    for cls, register in (
        (xr.DataArray, xr.register_dataarray_accessor),
        (xr.Dataset, xr.register_dataset_accessor),
    ):
        existing = getattr(cls, "geo", None)
        if existing is not None and existing is not GeoAccessor:
            owner = getattr(
                getattr(existing, "_accessor", existing), "__module__", "another package"
            )
            warnings.warn(
                f"xarray.{cls.__name__}.geo was already registered by {owner!r}; xgeo replaces it. "
                "Import xgeo last, or use xgeo's plain functions (xgeo.crs, xgeo.reproject, ...)",
                UserWarning,
                stacklevel=3,
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # xarray's own override warning; ours above is clearer
            register("geo")(GeoAccessor)


_register()
