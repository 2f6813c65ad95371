"""An exclusive writer lock for a Zarr store, with a heartbeat and stale-lock recovery.

Two writers of the same store (or a ``resume=True`` started while the first write still
runs) would each write their own chunks and both report success. :class:`StoreLock`
keeps a second writer out: it creates ``<store>.lock`` atomically, holding the writer's
identity (host, pid, start time, a random token), and refreshes a heartbeat in it every
:data:`HEARTBEAT_S` seconds from a background thread while the write runs.

A lock is *stale*, and taken over with a warning, when its heartbeat is older than
:data:`STALE_AFTER_S` seconds, or when it was taken on this host by a process that no
longer exists. A live lock makes the second writer fail with
:class:`~xgeo.errors.StoreLockedError`.

Atomicity: on local paths the lock file is created with ``O_CREAT | O_EXCL`` and the
heartbeat is the file's modification time. Through fsspec URLs the lock is opened with
mode ``"xb"`` (exclusive create), which object stores implement as a conditional write
where they can (s3fs, the memory filesystem); where a filesystem ignores ``"x"`` two
writers starting within the same instant may both get the lock. The heartbeat there is a
rewrite of the lock object (one atomic PUT) with a new ``heartbeat`` time.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
import warnings
from typing import Any

from ._objectstore import is_url
from .errors import StoreLockedError
from .spelling import fix

__all__ = ["StoreLock", "lock_path", "live_writer", "read_lock", "HEARTBEAT_S", "STALE_AFTER_S"]

#: Seconds between two heartbeats of a live lock.
HEARTBEAT_S = 5.0
#: A lock whose heartbeat is older than this is stale (12 missed heartbeats).
STALE_AFTER_S = 60.0


def lock_path(store: str) -> str:
    """The lock file next to a store: ``<store>.lock``."""
    return str(store).rstrip("/") + ".lock"


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def read_lock(store: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The holder of a store's lock (its JSON plus ``age_s``, seconds since the last
    heartbeat), or None when the store is not locked."""
    path = lock_path(store)
    try:
        if is_url(path):
            import fsspec

            fs, p = fsspec.core.url_to_fs(path, **(storage_options or {}))
            raw = fs.cat_file(p)
            beat = None
        else:
            p = _local(path)
            with open(p, "rb") as fh:
                raw = fh.read()
            beat = os.stat(p).st_mtime
    except FileNotFoundError:
        return None
    try:
        info = json.loads(raw.decode() or "{}")
    except ValueError:  # a writer killed while writing its identity: nothing live in it
        info = {}
    if not isinstance(info, dict):
        info = {}
    beat = max(beat or 0.0, float(info.get("heartbeat", 0.0) or 0.0))
    info["age_s"] = max(0.0, time.time() - beat)
    return info


def live_writer(store: str, storage_options: dict[str, Any] | None = None) -> str | None:
    """Who is writing ``store`` now (pid, host, start, last heartbeat), or None when no live
    writer holds its lock (none, or a stale one)."""
    info = read_lock(store, storage_options)
    if info is None or _stale_reason(info) is not None:
        return None
    return _describe(info)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    try:  # a killed writer its parent has not reaped yet is a zombie: not alive (Linux)
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def _stale_reason(info: dict[str, Any]) -> str | None:
    if info.get("age_s", 0.0) > STALE_AFTER_S:
        return f"its heartbeat is {info['age_s']:.0f} s old (stale after {STALE_AFTER_S:.0f} s)"
    pid = info.get("pid")
    if info.get("host") == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
        return f"process {pid} on this host is gone"
    if not info.get("token") and info.get("age_s", 0.0) > HEARTBEAT_S:
        return "it holds no writer identity (its writer died creating it)"
    return None


def _describe(info: dict[str, Any]) -> str:
    started = info.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    return (f"pid {info.get('pid', '?')} on host {info.get('host', '?')}, started {when}, "
            f"last heartbeat {info.get('age_s', 0.0):.0f} s ago")


class StoreLock:
    """Hold ``<store>.lock`` for the duration of a ``with`` block.

    Raises :class:`~xgeo.errors.StoreLockedError` on entry when another live writer holds
    it; takes a stale lock over with a :class:`UserWarning`; releases the lock on exit,
    whether the block succeeded or raised.
    """

    def __init__(self, store: str, storage_options: dict[str, Any] | None = None) -> None:
        self.store = str(store)
        self.path = lock_path(self.store)
        self.storage_options = storage_options
        self.token = uuid.uuid4().hex
        self.identity = {"host": socket.gethostname(), "pid": os.getpid(),
                         "started": time.time(), "token": self.token}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- creating and removing the file ------------------------------------------------
    def _fs(self) -> tuple[Any, str]:
        import fsspec

        return fsspec.core.url_to_fs(self.path, **(self.storage_options or {}))

    def _payload(self) -> bytes:
        return json.dumps({**self.identity, "heartbeat": time.time()}).encode()

    def _create(self) -> bool:
        """Create the lock file if absent; False when it exists."""
        if is_url(self.path):
            fs, p = self._fs()
            parent = p.rsplit("/", 1)[0]
            if parent and parent != p:
                fs.makedirs(parent, exist_ok=True)
            try:
                with fs.open(p, "xb") as fh:
                    fh.write(self._payload())
            except FileExistsError:
                return False
            return True
        p = _local(self.path)
        os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
        try:
            fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(self._payload())
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def _remove(self) -> None:
        try:
            if is_url(self.path):
                fs, p = self._fs()
                fs.rm(p)
            else:
                os.remove(_local(self.path))
        except FileNotFoundError:
            pass

    def _mine(self) -> bool:
        info = read_lock(self.store, self.storage_options)
        return info is not None and info.get("token") == self.token

    # -- taking the lock ---------------------------------------------------------------
    def acquire(self) -> StoreLock:
        """Take the lock (see the class docstring); returns self."""
        for _ in range(3):
            if self._create():
                break
            info = read_lock(self.store, self.storage_options)
            if info is None:
                continue  # released between our two looks: try again
            reason = _stale_reason(info)
            if reason is None:
                raise StoreLockedError(
                    f"{self.store} is being written by another process ({_describe(info)}; "
                    f"lock file {self.path}). Wait for that write to finish; if that writer "
                    f"is dead on another host, delete {self.path} (it is also taken over "
                    f"automatically once its heartbeat is {STALE_AFTER_S:.0f} s old)"
                )
            if self._take_over(info, reason):
                break
        else:
            raise StoreLockedError(f"could not take the lock {self.path} of {self.store}: "
                                   "other writers keep taking it; retry later")
        self._thread = threading.Thread(target=self._beat, name=f"xgeo-lock {self.path}",
                                        daemon=True)
        self._thread.start()
        return self

    def _take_over(self, stale: dict[str, Any], reason: str) -> bool:
        """Replace a stale lock by ours; False when someone else changed it meanwhile.

        A second lock file, ``<store>.lock.takeover``, serialises takers so that two of
        them never both delete and recreate the lock.
        """
        guard = StoreLock(self.store, self.storage_options)
        guard.path = self.path + ".takeover"
        if not guard._create():
            other = _read_path_age(guard)
            if other is not None and other <= STALE_AFTER_S:
                return False
            guard._remove()  # a taker that died during its takeover
            if not guard._create():
                return False
        try:
            now = read_lock(self.store, self.storage_options)
            if now is not None and (now.get("token") != stale.get("token")
                                    or _stale_reason(now) is None):
                return False
            warnings.warn(
                f"taking over the stale lock of {self.store} ({_describe(stale)}): {reason}",
                UserWarning, stacklevel=4,
            )
            self._remove()
            return self._create()
        finally:
            guard._remove()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                if is_url(self.path):
                    if not self._mine():
                        return  # taken over: never overwrite the new holder's lock
                    fs, p = self._fs()
                    with fs.open(p, "wb") as fh:
                        fh.write(self._payload())
                else:
                    os.utime(_local(self.path))
            except OSError:
                return

    def check(self) -> None:
        """Raise :class:`~xgeo.errors.StoreLockedError` if the lock was taken over (this
        writer stalled past :data:`STALE_AFTER_S`) and is no longer ours."""
        if not self._mine():
            info = read_lock(self.store, self.storage_options)
            holder = _describe(info) if info else "nobody"
            raise StoreLockedError(
                f"lost the lock of {self.store} ({self.path}): this writer stalled past "
                f"{STALE_AFTER_S:.0f} s and the lock is now held by {holder}; its write was "
                f"not recorded as complete. Rerun it with {fix('resume')} when the store is free"
            )

    def release(self) -> None:
        """Stop the heartbeat and delete the lock file if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=HEARTBEAT_S + 1)
        if self._mine():
            self._remove()

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_path_age(lock: StoreLock) -> float | None:
    """Seconds since a takeover guard file was written (None if it is gone)."""
    try:
        if is_url(lock.path):
            fs, p = lock._fs()
            info = json.loads(fs.cat_file(p).decode() or "{}")
            return time.time() - float(info.get("heartbeat", 0.0))
        return time.time() - os.stat(_local(lock.path)).st_mtime
    except FileNotFoundError:
        return None
    except ValueError:
        return float("inf")
