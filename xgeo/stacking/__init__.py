"""Stacking raw scenes into a lazy cube: :func:`stack` (``xgeo.stack``).

Modules, lowest first: ``sources`` (files, globs, patterns and STAC items as
:class:`~xgeo.stacking.sources.Asset` records), ``plan`` (the output grid, time steps and
which assets each block needs), ``read`` (the dask task: read windows, reproject with
xgeo's kernels, mosaic), ``api`` (:func:`stack`, the dask graph).
"""

from .api import stack

__all__ = ["stack"]
