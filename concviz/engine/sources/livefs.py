"""Where the /proc readers read: the live ``/proc`` through kept-open files, or (in tests) a
recording of it (:mod:`concviz.engine.sources.recording`).

psutil offers some of the fields the readers use (``cpu_num``, ``children``) but opens, reads
and closes a file per field per call; :class:`LiveFS` keeps each thread's files open and reads
them again with one ``pread`` (``/proc`` regenerates a file read again from offset 0). The
reads are made without releasing the GIL (they never block), so one sweep is one short,
uninterrupted block of the sampler's thread rather than a chain of GIL hand-offs with the rest
of the process, and the time stamped before a read is the time it was read.
"""

from __future__ import annotations

import ctypes
import os
import resource
import time
from typing import Callable, Protocol

BUF_SIZE = 4096  # every per-thread file read here is far shorter (stat is ~300 bytes)


class FS(Protocol):
    """Where readings come from: the live ``/proc``, or a recording of it (tests)."""

    def clock(self) -> int: ...
    def read(self, path: str) -> bytes: ...
    def read_stamped(self, path: str) -> tuple[int, bytes]: ...
    def read_whole(self, path: str) -> bytes: ...
    def listdir(self, path: str) -> list[str]: ...
    def forget(self, prefix: str) -> None: ...


def _pread_holding_gil() -> Callable[..., int] | None:
    """libc's ``pread``, called without releasing the GIL (ctypes.PyDLL); None if unavailable.

    No ``argtypes``: the arguments are passed as ready-made ctypes values (the size and offset
    as ``c_size_t`` and ``c_long``, the fd a small int), which halves the cost of a call."""
    try:
        fn = ctypes.PyDLL(None, use_errno=True).pread
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_ssize_t
    return fn


class LiveFS:
    """``/proc`` through file descriptors kept open between sweeps.

    A kept descriptor names one thread for good: once that thread is gone it fails with ESRCH
    even if the TID is reused, so a reading never mixes two threads. At most ``max_fds`` are
    kept (a fraction of the process's limit); beyond that, files are opened for each read.
    """

    def __init__(self, max_fds: int | None = None) -> None:
        if max_fds is None:
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            max_fds = 768 if soft == resource.RLIM_INFINITY else max(0, min(768, soft // 2 - 64))
        self.max_fds = max_fds
        self._fds: dict[str, int] = {}
        self._buf = ctypes.create_string_buffer(BUF_SIZE)
        self._size = ctypes.c_size_t(BUF_SIZE)
        self._offset = ctypes.c_long(0)
        self._pread = _pread_holding_gil()
        self.clock = time.perf_counter_ns

    def read(self, path: str) -> bytes:
        fd = self._fds.get(path)
        if fd is not None and self._pread is not None:  # the usual case: kept, read in place
            n = self._pread(fd, self._buf, self._size, self._offset)
            if n >= 0:
                return self._buf[:n]
        if fd is None:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            if len(self._fds) >= self.max_fds:  # over the limit: read once, keep nothing
                try:
                    return self._pread_fd(fd, path)
                finally:
                    os.close(fd)
            self._fds[path] = fd
        try:
            return self._pread_fd(fd, path)
        except OSError:
            del self._fds[path]
            os.close(fd)
            raise

    def _pread_fd(self, fd: int, path: str) -> bytes:
        if self._pread is None:
            return os.pread(fd, BUF_SIZE, 0)
        n = self._pread(fd, self._buf, self._size, self._offset)
        if n < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return self._buf[:n]

    def read_stamped(self, path: str) -> tuple[int, bytes]:
        t = time.perf_counter_ns()
        return t, self.read(path)

    def read_whole(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def forget(self, prefix: str) -> None:
        """Close the descriptors of a thread or process that is gone."""
        for path in [p for p in self._fds if p.startswith(prefix)]:
            os.close(self._fds.pop(path))

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    @property
    def open_fds(self) -> int:
        return len(self._fds)
