"""A process that has reformatted frames in several threads forks children that do not hang
(xgeo_codecs.forksafe; PyAV >= 18.1.1 keeps a threaded swscale context per thread)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import av.video.frame
import pytest

SCRIPT = textwrap.dedent("""
    import os, sys, time, signal
    from concurrent.futures import ThreadPoolExecutor
    import av
    import xgeo_codecs._stream  # what any encode or decode imports: the fork hooks

    def convert():
        av.VideoFrame(256, 256, "rgb24").reformat(format="yuv420p")

    pool = ThreadPoolExecutor(2)  # long-lived threads, as zarr's and a DataLoader's are
    list(pool.map(lambda _: convert(), range(4)))
    convert()  # and the forking thread
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            convert()  # a child converts frames of its own
            os._exit(0)
        t0 = time.time()
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if time.time() - t0 > 20:
                os.kill(pid, signal.SIGKILL)
                print("a forked child hung")
                sys.exit(1)
            time.sleep(0.02)
    from xgeo_codecs import forksafe
    print("children exited; held after the forks:", forksafe.holding())
""")


@pytest.mark.skipif(not hasattr(av.video.frame, "_thread_local"),
                    reason="this PyAV keeps no reformatter per thread (before 18.1.1)")
def test_children_forked_after_threads_reformatted_frames_exit():
    """Without the hooks the first child hangs in sws_freeContext (measured with av 18.1.1)."""
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "children exited; held after the forks: 0" in run.stdout
