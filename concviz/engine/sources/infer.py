"""What a blocked thread waits for, inferred from what ``/proc`` shows of it from outside.

The measured facts are a thread's times (on a CPU, waiting for one) and, when it is blocked, the
system call it is in and that call's first argument. The rules below name the wait; each is an
inference and says so (``Wait.inferred``, :data:`RULES`):

* **GIL**: a futex whose address is shared by sibling threads that run in turn (two or more
  threads of the process waited on it within :data:`WINDOW_NS`, and each of them also ran in
  that time) is the GIL's. CPython's GIL is a condition variable and a mutex in the
  interpreter's static data, so when the process's memory map can be read the address must
  also lie in a ``python``/``libpython`` mapping (or the zero-filled data just after one): a
  convoy of threads on a ``threading.Lock`` (heap memory) is then not taken for the GIL. Once
  found, the address stays the GIL's, and so do addresses within :data:`GIL_NEAR` bytes of it
  (the same structure: its mutex, its switch condition, the condition's second word).
* **lock**: any other futex (a ``threading.Lock``, a join, a queue, a condition).
* **I/O**: sleep, poll, select, epoll, read, recv, accept, connect and their kin.
* The **GIL holder** of a process at an instant: its one runnable thread while siblings wait on
  its GIL futex (none if no thread runs, ambiguous if several do).

What cannot be read is never guessed: it is ``unknown`` with a one-line reason.
"""

from __future__ import annotations

import os
import platform
from bisect import bisect_right
from typing import Iterable, NamedTuple

from concviz.engine.sources.procfs import IN_SYSCALL, NOT_IN_SYSCALL, RUNNING, UNREADABLE, Syscall

# the states a thread's time is split into besides running (RUN events)
CPU, GIL, LOCK, IO, OTHER, UNKNOWN = "cpu", "gil", "lock", "io", "other", "unknown"
LABELS = {
    CPU: "waiting for a CPU",
    GIL: "waiting for the GIL (inferred)",
    LOCK: "waiting on a lock",
    IO: "sleeping (I/O)",
    OTHER: "blocked",
    UNKNOWN: "unknown",
}
RULES = {
    CPU: "measured: schedstat's second field (runnable, no CPU free)",
    GIL: "inferred: blocked on a futex shared by sibling threads that run in turn, in Python's static data",
    LOCK: "inferred: blocked on any other futex",
    IO: "inferred: blocked in sleep, poll, select, epoll, read, recv, accept, connect...",
    OTHER: "measured: blocked in another system call (named)",
    UNKNOWN: "not readable or not measured (the reason is given)",
}

WINDOW_NS = 1_000_000_000  # how recent a wait or a run must be to count for the GIL rule
GIL_NEAR = 256  # bytes: CPython's GIL structure (conditions and mutexes) is smaller than this

_IO_NAMES = (
    "read write pread64 pwrite64 readv writev preadv preadv2 recvfrom recvmsg recvmmsg sendto "
    "sendmsg sendfile splice accept accept4 connect poll ppoll select pselect6 epoll_wait "
    "epoll_pwait epoll_pwait2 nanosleep clock_nanosleep pause rt_sigtimedwait rt_sigsuspend "
    "io_getevents io_uring_enter fsync fdatasync openat msgrcv mq_timedreceive").split()
_LOCK_NAMES = ("futex_waitv", "semop", "semtimedop", "flock")
_WAIT_NAMES = ("wait4", "waitid")  # waiting for a child process: "other", named
IO_CALLS = frozenset(_IO_NAMES)
LOCK_CALLS = frozenset(_LOCK_NAMES)

# syscall numbers of the calls classified here (from the kernel's unistd headers)
SYSCALLS: dict[str, dict[int, str]] = {
    "x86_64": {0: "read", 1: "write", 7: "poll", 17: "pread64", 18: "pwrite64", 19: "readv",
               20: "writev", 23: "select", 34: "pause", 35: "nanosleep", 40: "sendfile",
               42: "connect", 43: "accept", 44: "sendto", 45: "recvfrom", 46: "sendmsg",
               47: "recvmsg", 61: "wait4", 65: "semop", 70: "msgrcv", 73: "flock", 74: "fsync",
               75: "fdatasync", 128: "rt_sigtimedwait", 130: "rt_sigsuspend", 202: "futex",
               208: "io_getevents", 220: "semtimedop", 230: "clock_nanosleep", 232: "epoll_wait",
               243: "mq_timedreceive", 247: "waitid", 257: "openat", 270: "pselect6",
               271: "ppoll", 275: "splice", 281: "epoll_pwait", 288: "accept4", 295: "preadv",
               299: "recvmmsg", 327: "preadv2", 426: "io_uring_enter", 441: "epoll_pwait2",
               449: "futex_waitv"},
    # arm64 (and the other architectures of the generic table)
    "aarch64": {4: "io_getevents", 22: "epoll_pwait", 32: "flock", 56: "openat", 63: "read",
                64: "write", 65: "readv", 66: "writev", 67: "pread64", 68: "pwrite64",
                69: "preadv", 71: "sendfile", 72: "pselect6", 73: "ppoll", 76: "splice",
                82: "fsync", 83: "fdatasync", 95: "waitid", 98: "futex", 101: "nanosleep",
                115: "clock_nanosleep", 133: "rt_sigsuspend", 137: "rt_sigtimedwait",
                183: "mq_timedreceive", 188: "msgrcv", 192: "semtimedop", 193: "semop",
                202: "accept", 203: "connect", 206: "sendto", 207: "recvfrom", 211: "sendmsg",
                212: "recvmsg", 242: "accept4", 243: "recvmmsg", 260: "wait4", 286: "preadv2",
                426: "io_uring_enter", 441: "epoll_pwait2", 449: "futex_waitv"},
}
SYSCALLS["arm64"] = SYSCALLS["aarch64"]


def syscall_table(arch: str | None = None) -> dict[int, str] | None:
    """The syscall names of ``arch`` (default: this machine's), or None if not known here."""
    return SYSCALLS.get(arch or platform.machine())


class Wait(NamedTuple):
    """What a blocked thread waits for: a state of :data:`LABELS`, a detail (the system call's
    name, or why it is unknown), and whether a rule inferred it."""

    state: str
    detail: str = ""
    inferred: bool = False

    @property
    def label(self) -> str:
        text = LABELS[self.state]
        if self.state in (OTHER, UNKNOWN) and self.detail:
            return f"{text}: {self.detail}" if self.state == UNKNOWN else f"{text} in {self.detail}"
        return text


# --- where Python keeps its GIL -------------------------------------------------------------------
class PythonData:
    """The address ranges of Python's static data in one process (from its memory map): the
    writable mappings of a ``python*`` executable or ``libpython*`` library, and the anonymous
    mapping right after one (its zero-filled data)."""

    def __init__(self, ranges: Iterable[tuple[int, int]], mapped: Iterable[tuple[int, int]] = ()) -> None:
        self.ranges = tuple(sorted(ranges))
        self.mapped = tuple(sorted(mapped))  # every mapping of the map it was read from
        self._starts = [lo for lo, _ in self.mapped]
        self._seen: dict[int, bool] = {}  # the few addresses a process waits on, answered once
        self._covered: dict[int, bool] = {}

    def covers(self, addr: int) -> bool:
        """Whether the map this was read from had ``addr`` mapped at all (if not, the process
        has mapped memory since, or run another program: the map is out of date)."""
        found = self._covered.get(addr)
        if found is None:
            i = bisect_right(self._starts, addr) - 1
            found = self._covered[addr] = i >= 0 and addr < self.mapped[i][1]
        return found

    def __contains__(self, addr: int) -> bool:
        found = self._seen.get(addr)
        if found is None:
            found = self._seen[addr] = any(lo <= addr < hi for lo, hi in self.ranges)
        return found

    def __bool__(self) -> bool:
        return bool(self.ranges)

    @classmethod
    def from_maps(cls, text: bytes) -> "PythonData":
        ranges, mapped = [], []
        after_python = False
        for line in text.splitlines():
            parts = line.split(None, 5)
            if len(parts) < 5:
                continue
            lo, hi = (int(x, 16) for x in parts[0].split(b"-"))
            mapped.append((lo, hi))
            path = parts[5].strip() if len(parts) > 5 else b""
            base = os.path.basename(path)
            is_python = base.startswith((b"python", b"libpython"))
            if b"w" in parts[1] and (is_python or (after_python and not path)):
                ranges.append((lo, hi))
            after_python = is_python
        return cls(ranges, mapped)


class FutexBook:
    """The futex addresses one process's threads waited on, and which of them are the GIL.

    Args:
        data: Python's static data in the process; None when its memory map cannot be read
            (the rule then goes without that check). Empty: not a Python process, no GIL.
    """

    def __init__(self, data: PythonData | None) -> None:
        self.data = data
        self.gil: set[int] = set()
        self._waits: dict[int, dict[int, int]] = {}  # address -> tid -> last time seen waiting
        self._ran: dict[int, int] = {}  # tid -> last time it had run since the reading before
        self._pruned = 0

    def saw_run(self, tid: int, t_ns: int) -> None:
        self._ran[tid] = t_ns

    def saw_wait(self, tid: int, addr: int, t_ns: int) -> None:
        if addr not in self.gil:  # (the GIL's own addresses need no more evidence)
            self._waits.setdefault(addr, {})[tid] = t_ns

    def settle(self, t_ns: int) -> None:
        """Apply the GIL rule to the waits seen so far (call once per sweep, after its
        readings): addresses shared by threads that run in turn become the GIL's."""
        data = self.data
        if data is not None and not data:
            return
        since = t_ns - WINDOW_NS
        ran = self._ran
        if t_ns - self._pruned >= WINDOW_NS:  # forget sightings older than the window
            self._pruned = t_ns
            for addr, tids in list(self._waits.items()):
                for tid in [tid for tid, t in tids.items() if t < since]:
                    del tids[tid]
                if not tids:
                    del self._waits[addr]
        for addr, tids in self._waits.items():
            if len(tids) < 2 or addr in self.gil or (data is not None and addr not in data):
                continue
            if sum(1 for tid, t in tids.items() if t >= since and ran.get(tid, since - 1) >= since) >= 2:
                self.gil.add(addr)

    def is_gil(self, addr: int) -> bool:
        if addr in self.gil:
            return True
        if self.data is not None and addr not in self.data:
            return False
        return any(abs(addr - g) <= GIL_NEAR for g in self.gil)

    def forget(self, tid: int) -> None:
        self._ran.pop(tid, None)
        for tids in self._waits.values():
            tids.pop(tid, None)


# --- classification -----------------------------------------------------------------------------
STOPPED_STATES = frozenset("Tt")
EXITED_STATES = frozenset("ZX")


def classify(state: str, syscall: Syscall | None, table: dict[int, str] | None,
             book: FutexBook | None) -> Wait:
    """What a thread in ``state`` (stat's letter, not R) and ``syscall`` waits for."""
    if state in STOPPED_STATES:
        return Wait(OTHER, "a stop (a signal or a debugger)")
    if syscall is None:
        return Wait(UNKNOWN, "not read")
    kind = syscall.kind
    if kind == UNREADABLE:
        return Wait(UNKNOWN, syscall.reason)
    if kind == NOT_IN_SYSCALL:
        return Wait(UNKNOWN, "blocked outside a system call (a page fault?)")
    if kind == RUNNING:
        return Wait(UNKNOWN, "woke up while it was read")
    if table is None:
        return Wait(UNKNOWN, f"system call {syscall.nr}: this machine's numbers are not known")
    name = table.get(syscall.nr)
    if name == "futex":
        if book is not None and book.is_gil(syscall.arg0):
            return Wait(GIL, "futex", True)
        return Wait(LOCK, "futex", True)
    if name in IO_CALLS:
        return Wait(IO, name, True)
    if name in LOCK_CALLS:
        return Wait(LOCK, name, True)
    return Wait(OTHER, name or f"system call {syscall.nr}")


def futex_address(syscall: Syscall | None, table: dict[int, str] | None) -> int | None:
    """The address a thread blocked in ``futex`` waits on, else None."""
    if (syscall is not None and syscall.kind == IN_SYSCALL and table is not None
            and table.get(syscall.nr) == "futex"):
        return syscall.arg0
    return None


class Holder(NamedTuple):
    """The GIL holder of a process at an instant (inferred): ``tid``, or None with a reason."""

    tid: int | None
    reason: str = ""


def gil_holder(runnable: Iterable[int], gil_waiters: Iterable[int]) -> Holder:
    """The rule for the holder: the process's one runnable thread while siblings wait on its
    GIL futex. ``runnable`` are the threads in state R, ``gil_waiters`` those blocked on a GIL
    address at the same instant."""
    waiters = set(gil_waiters)
    if not waiters:
        return Holder(None, "no thread waits for the GIL")
    running = [tid for tid in runnable if tid not in waiters]
    if len(running) == 1:
        return Holder(running[0])
    if not running:
        return Holder(None, "no thread runs: the GIL is being handed over")
    return Holder(None, "several threads run: one of them released the GIL (C code, I/O)")
