"""The in-worker recorder: cheap timing, local buffer, batched sends.

Each OS thread (or process) that runs tasks owns one :class:`Recorder`. It appends event tuples
to a local list and hands the whole list to the :class:`Sink` when it is large or old enough,
so a worker pays one pickle + one pipe write per ~10 ms, never one per event.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import struct
import sys
import threading
import time
from typing import Any, Callable

from concviz.engine.events import ERROR, FINISH, SLEEP, SLEEP_OPEN, START

try:
    import ctypes
except ImportError:  # an own-GIL subinterpreter on 3.12 cannot load _ctypes: the fallbacks serve
    ctypes = None

FLUSH_EVENTS = 512
FLUSH_NS = 10_000_000  # 10 ms
# A pause between two clock reads longer than the gap ends a RUN interval: the thread did not
# run (another thread had the GIL, or another process the CPU). Shorter pauses are the machine's
# own noise: interrupts, and on a VM the exits the guest OS counts as the thread's CPU time,
# pause a lone CPU-bound loop many times a second for about a tenth of a millisecond; a gap
# shorter than those would cut RUN intervals to a fraction of the GIL turns they belong to.
# GIL hand-offs leave gaps of a switch interval or more, OS time slices of a millisecond or more.
GAP_MIN_NS = 100_000
GAP_MAX_NS = 250_000
CPU_CHECK_NS = 1_000_000  # look up the current CPU about once a millisecond

_perf = time.perf_counter_ns


def gap_ns() -> int:
    """The gap for this process: 0.25 ms, or half the switch interval where that is shorter
    (so that a hand-off at a tiny switch interval is still a gap), never under 0.1 ms."""
    half = int(sys.getswitchinterval() * 1e9) // 2
    return max(GAP_MIN_NS, min(GAP_MAX_NS, half))


def _gil_holding(name: str, restype: str, *argtypes: str) -> Callable | None:
    """libc's ``name``, called without releasing the GIL; None where there is no such function
    (or no ctypes). The types are named as ctypes names them ("c_int").

    PyDLL, not CDLL: a CDLL call releases and retakes the GIL, and a thread that does so (every
    millisecond, or at every flush) hands the GIL to a waiting sibling or resets its rivals' 5 ms
    switch timer, so the probe would change the very GIL hand-offs it is there to show. The
    calls made this way are short and do not block (a vDSO read, a pipe write, a lock taken
    only when free)."""
    if ctypes is None:
        return None
    try:
        function = getattr(ctypes.PyDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.restype = getattr(ctypes, restype)
    function.argtypes = [getattr(ctypes, t) for t in argtypes]
    return function


def _cpu_getter() -> Callable[[], int]:
    """Return the cheapest available way to ask which logical CPU this thread is on."""
    getcpu = _gil_holding("sched_getcpu", "c_int")
    if getcpu is not None and getcpu() >= 0:
        return getcpu
    if os.path.exists("/proc/thread-self/stat"):

        def from_proc() -> int:
            with open("/proc/thread-self/stat", "rb") as f:
                return int(f.read().rsplit(b")", 1)[1].split()[36])

        try:
            from_proc()
            return from_proc
        except (OSError, ValueError, IndexError):
            pass
    try:
        import psutil

        proc = psutil.Process()

        def from_psutil() -> int:
            return proc.cpu_num()

        from_psutil()
        return from_psutil
    except Exception:  # noqa: BLE001 - any failure means "unknown", which is allowed
        return lambda: -1


current_cpu = _cpu_getter()


class WriterLock:
    """The lock every writer of the pipe takes: one that the death of its holder releases.

    A multiprocessing.Lock is a semaphore: a worker killed while holding it (SIGKILLed by a fault,
    or terminated by a broken ProcessPoolExecutor in the middle of a flush) keeps it forever, and
    every other writer, the experiment included, then blocks until the time limit. A POSIX record
    lock (lockf) on a shared file is released by the kernel when its process dies. It is held per
    process, so threads of one process also take a threading.Lock. Only the file's path crosses
    to child processes; each opens it on first use.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._pid = -1
        self._fd = -1
        self._threads: threading.Lock | None = None

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])

    def __enter__(self) -> "WriterLock":
        if self._pid != os.getpid():  # first use in this process (or a forked copy)
            self._fd = os.open(self.path, os.O_RDWR)
            self._threads = threading.Lock()
            self._pid = os.getpid()
        self._threads.acquire()
        # Uncontended: take it without releasing the GIL (a release would hand the GIL to a
        # sibling thread, an extra switch caused by the probe). Contended: wait, GIL released.
        if _libc_lockf is None or _libc_lockf(self._fd, _F_TLOCK, 0) != 0:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if _libc_lockf is None or _libc_lockf(self._fd, _F_ULOCK, 0) != 0:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
        self._threads.release()


_F_ULOCK, _F_TLOCK = 0, 2  # lockf(3) commands


_libc_lockf = _gil_holding("lockf", "c_int", "c_int", "c_int", "c_long")


class Sink:
    """Where batches go: one pipe end shared by every worker, guarded by one lock.

    Pickling happens outside the lock; only the pipe write is serialised. Both the connection and
    the lock (a :class:`WriterLock`, or any lock a test passes) can be handed to child processes
    at start (fork, spawn, forkserver).
    """

    def __init__(self, conn: Any, lock: Any) -> None:
        self.conn = conn
        self.lock = lock

    def send(self, message: tuple) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        # The same framing as Connection.send_bytes (a 4-byte big-endian length, then the bytes),
        # so the reader's Connection.recv_bytes takes it as it is.
        frame = _HEADER(len(data)) + data if len(data) < 0x7FFFFFFF else None
        with self.lock:
            if frame is None or not _write_holding_gil(self.conn.fileno(), frame):
                self.conn.send_bytes(data)


_HEADER = struct.Struct("!i").pack


_libc_write = _gil_holding("write", "c_ssize_t", "c_int", "c_char_p", "c_size_t")


def _write_holding_gil(fd: int, frame: bytes) -> bool:
    """Write ``frame`` to ``fd`` without releasing the GIL; False if that is not possible.

    ``os.write`` (and so ``Connection.send_bytes``) releases the GIL, and a thread that releases
    it hands it straight to a waiting sibling: every flush of a CPU-bound thread would be an
    extra GIL hand-off that the probe caused, and the thread would lose the turn it had just
    won. A pipe write of one batch is a memory copy (tens of microseconds), so it holds the GIL
    like the work around it. Partial writes (a full pipe, a signal) finish with ``os.write``.
    """
    if _libc_write is None:
        return False
    n = len(frame)
    done = _libc_write(fd, frame, n)
    if done == n:
        return True
    view = memoryview(frame)[max(0, done):]
    while view:
        try:
            k = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[k:]
    return True


class ListSink:
    """A sink that keeps messages in memory (tests, benchmarks)."""

    def __init__(self) -> None:
        self.messages: list[tuple] = []
        self._lock = threading.Lock()

    def send(self, message: tuple) -> None:
        with self._lock:
            self.messages.append(message)

    def events(self) -> list[tuple]:
        return [e for tag, payload in self.messages if tag == "E" for e in payload]


class Recorder:
    """Buffers the events of one OS thread and flushes them to a sink in batches."""

    __slots__ = ("sink", "buf", "pid", "tid", "last_flush")

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.buf: list[tuple] = []
        self.pid = os.getpid()
        self.tid = threading.get_native_id()
        self.last_flush = _perf()

    def add(self, kind: int, task: int, t0: int, t1: int, cpu: int = -1, info: Any = None) -> None:
        """Record one event; flush if the buffer is full or older than FLUSH_NS."""
        self.buf.append((kind, task, self.pid, self.tid, t0, t1, cpu, info))
        if len(self.buf) >= FLUSH_EVENTS or t1 - self.last_flush > FLUSH_NS:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            batch, self.buf = self.buf, []
            self.sink.send(("E", batch))
        self.last_flush = _perf()

    # --- task brackets -------------------------------------------------------------------
    def start(self, task: int, info: Any = None, t_ns: int | None = None) -> None:
        """Record START now, or at ``t_ns``: the worker's first line, read before concviz's own
        set-up, so that SPAWN -> START is the start cost of the worker alone."""
        t = _perf() if t_ns is None else t_ns
        self.add(START, task, t, t, current_cpu(), info)

    def finish(self, task: int) -> None:
        t = _perf()
        self.add(FINISH, task, t, t)

    def error(self, task: int, text: str) -> None:
        t = _perf()
        self.add(ERROR, task, t, t, -1, text)
        self.flush()

    def sleep(self, task: int, seconds: float) -> None:
        """Sleep like blocking I/O, recording the SLEEP interval. The start is sent before the
        thread blocks (nothing is flushed while it sleeps), so a live view shows it asleep."""
        t0 = _perf()
        self.add(SLEEP_OPEN, task, t0, t0)
        self.flush()
        time.sleep(seconds)
        self.add(SLEEP, task, t0, _perf())


_local = threading.local()


def thread_recorder(sink: Any) -> Recorder:
    """The recorder of the calling thread (created on first use)."""
    rec = getattr(_local, "rec", None)
    if rec is None or rec.sink is not sink or rec.pid != os.getpid():
        rec = _local.rec = Recorder(sink)
    return rec
