"""Keep a forked child from freeing or reusing its parent's threaded swscale contexts.

From PyAV 18.1.1 ``VideoFrame.reformat`` keeps one ``VideoReformatter`` per thread in
``av.video.frame._thread_local`` (PyAV pull request #2379), created with swscale's automatic
slice threads. When a process forks (a DataLoader's workers, ``multiprocessing``), CPython
clears the other threads' state in the child, which frees their reformatters, and freeing a
swscale context waits for slice threads that do not exist in the child: the worker hangs
forever (seen in xgeo's test suite: a DataLoader worker stuck in ``pthread_cond_destroy``
under ``sws_freeContext``, forked after zarr's asyncio threads had reformatted frames). The
forking thread's own reformatter is no better in the child: its slice threads are gone too.

So before every fork this module holds every thread's entry of that thread-local; the child
keeps them forever (a copy-on-write page that is never touched) and starts its own
reformatter on first use, and the parent lets go after the fork. A PyAV without the
thread-local (before 18.1.1) needs nothing, and nothing is done.

Examples
--------
>>> import os
>>> from xgeo_codecs import forksafe
>>> forksafe.holding()  # nothing is held outside a fork
0
"""

from __future__ import annotations

import gc
import os
from typing import Any

from av.video import frame as av_frame

_held: list[dict[str, Any]] = []  # every thread's entry, held from before a fork to after it
_kept_in_child: list[Any] = []  # what a child inherited; never freed there


def _thread_local() -> Any:
    """PyAV's per-thread reformatter store, or None for a PyAV without one."""
    return getattr(av_frame, "_thread_local", None)


def _before_fork() -> None:
    tl = _thread_local()
    if tl is None:
        return
    # a threading.local refers to a dict {weak reference to a thread's dummy: its attributes}
    _held[:] = [entry for ref in gc.get_referents(tl) if isinstance(ref, dict)
                for entry in ref.values() if isinstance(entry, dict)]


def _after_fork_in_parent() -> None:
    _held.clear()


def _after_fork_in_child() -> None:
    _kept_in_child.extend(_held)
    _held.clear()
    tl = _thread_local()
    if tl is not None and getattr(tl, "reformatter", None) is not None:
        _kept_in_child.append(tl.reformatter)  # its slice threads stayed in the parent
        tl.reformatter = None  # PyAV makes a new one on first use


def holding() -> int:
    """How many threads' entries are held right now (0 outside a fork)."""
    return len(_held)


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)
