"""A child forked after dask ran in its parent computes with dask (xgeo.forksafe)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import multiprocessing as mp, sys
    import dask.array as da
    if sys.argv[1] == "xgeo":
        import xgeo  # registers the fork hook
    da.ones(8, chunks=2).sum().compute()  # the parent's dask pool now exists

    def work(q):
        q.put(int(da.arange(10, chunks=3).sum().compute()))

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=work, args=(q,))
    p.start()
    p.join(20)
    if p.is_alive():
        p.kill()
        sys.exit(3)  # the child hung in dask
    sys.exit(0 if q.get(timeout=5) == 45 else 4)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")
def test_a_forked_child_computes_with_dask_after_its_parent_did():
    """Without the hook the child inherits dask's pool objects but not their threads and
    waits forever (CubesDataset(..., label=...) with num_workers=2 hung every time)."""
    done = subprocess.run([sys.executable, "-c", CHILD, "xgeo"], timeout=120)
    assert done.returncode == 0  # 3: the child hung (as it does with "dask only", dask 2026.11)
