"""Give a forked child fresh dask thread pools instead of its parent's dead ones.

dask's threaded scheduler keeps its pools in module globals (``dask.threaded.default_pool``
and ``dask.threaded.pools``). A process forked after the parent computed something with dask
(a DataLoader's workers, ``multiprocessing`` with the fork start method) inherits those pool
objects but none of their threads, and the executors believe their threads still run: the
first dask computation in the child queues its tasks and waits forever. Seen with
``CubesDataset(..., label=...)`` and ``num_workers=2``: each worker aligns its cube's label
with dask and hung in ``dask.local.queue_get``, every time.

Registered when xgeo is imported: in the child, right after a fork, those globals are
emptied, so the child's first computation starts its own pool. The parent is untouched.

Examples
--------
>>> from xgeo import forksafe
>>> forksafe.fresh_dask_pools()  # what a forked child runs; harmless anywhere
"""

from __future__ import annotations

import os
import sys

__all__ = ["fresh_dask_pools"]


def fresh_dask_pools() -> None:
    """Forget dask's thread pools (the child of a fork has none of their threads)."""
    threaded = sys.modules.get("dask.threaded")
    if threaded is None:  # dask's scheduler never ran here: nothing inherited
        return
    threaded.default_pool = None
    threaded.pools.clear()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=fresh_dask_pools)
