"""Readers of ``/proc``: what each thread of a process tree did, read from outside.

Per thread (``/proc/PID/task/TID/...``):

* ``schedstat``: nanoseconds on a CPU and nanoseconds runnable but waiting for one, both
  cumulative. The kernel brings a running thread's count up to date at each scheduler tick and
  each switch, so a reading lags the truth by at most one tick and sums are exact;
* ``stat``: the state letter (R runnable, S/D blocked, Z exited...), the CPU it last ran on
  (field 39) and its start time (field 22, which tells a reused TID from the thread before it);
* ``syscall``: the system call a blocked thread is in and its first argument (a futex's
  address). Reading it needs the rights of a debugger (the same user, or CAP_SYS_PTRACE), so
  for another user's process it is unknown, with the reason;
* ``comm``: the thread's name (recent Pythons set it from the Python thread's name).

And the tree: every process whose parent is in it (or, with ``group``, in the root's process
group) joins it when a scan finds it; a scan lists ``/proc``, so it runs less often than a
sweep of the known threads.

The files are read through :mod:`concviz.engine.sources.livefs` (kept open, re-read in place).

Any read can fail because its thread or process has just gone: that is an ordinary outcome
(the thread is left out of the sweep, and the tracer finishes it), never an error.
"""

from __future__ import annotations

import errno
import os
import time
from typing import NamedTuple

from concviz.engine.sources.livefs import FS, LiveFS

# how often the tree is scanned for new processes (listing /proc costs ~0.1 ms per 100 processes)
SCAN_EVERY_NS = 50_000_000
# how often a thread's name is read again (Python names a thread after the OS started it)
NAME_EVERY_NS = 1_000_000_000
GONE_ERRNOS = frozenset((errno.ENOENT, errno.ESRCH))
DENIED_ERRNOS = frozenset((errno.EACCES, errno.EPERM))
# a blocked thread that ran less than this since its last reading and is back in the same call
# is not read further (its CPU is taken as the one it last ran on)
BRIEF_RUN_NS = 50_000
SAME_PLACE = 64  # bytes between two futex words of one lock or condition variable

RUNNING, IN_SYSCALL, NOT_IN_SYSCALL, UNREADABLE = "running", "syscall", "user", "unknown"


class Syscall(NamedTuple):
    """What ``/proc/.../syscall`` said about a thread.

    ``kind`` is RUNNING (on a CPU or runnable), IN_SYSCALL (blocked in system call ``nr``, whose
    first argument is ``arg0``), NOT_IN_SYSCALL (blocked outside any system call, the file's
    ``-1``: a page fault, a stop) or UNREADABLE (``reason`` says why).
    """

    kind: str
    nr: int = -1
    arg0: int = 0
    reason: str = ""


class ThreadReading(NamedTuple):
    """One reading of one thread."""

    tid: int
    t_ns: int  # perf_counter_ns() just before its schedstat was read
    run_ns: int  # cumulative time on a CPU
    wait_ns: int  # cumulative time runnable, waiting for a CPU
    state: str  # stat's state letter
    cpu: int  # the CPU it last ran on
    start: int  # stat field 22: clock ticks after boot when the thread started
    syscall: Syscall | None  # None: not read (its state and counters had not changed)
    name: str


class ProcessReading(NamedTuple):
    """One reading of one process of the tree: the threads that could be read."""

    pid: int
    ppid: int
    name: str
    threads: tuple[ThreadReading, ...]


class Sweep(NamedTuple):
    """One pass over the tree. ``gone`` are processes of the tree found gone in this pass."""

    t_ns: int
    end_ns: int
    processes: tuple[ProcessReading, ...]
    gone: tuple[int, ...] = ()
    scanned: bool = False


class Stat(NamedTuple):
    """The fields of a ``stat`` file the readers use."""

    name: str
    state: str
    ppid: int
    pgrp: int
    start: int
    cpu: int


class Clock(NamedTuple):
    """Turns stat's start times (clock ticks after boot) into perf_counter_ns times."""

    ticks_per_s: int
    boot_offset_ns: int  # CLOCK_BOOTTIME - CLOCK_MONOTONIC

    @classmethod
    def here(cls) -> "Clock":
        mono = time.perf_counter_ns()
        boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        return cls(os.sysconf("SC_CLK_TCK"), boot - mono)

    def start_ns(self, ticks: int) -> int:
        """The middle of the tick the thread started in."""
        tick = 1_000_000_000 // self.ticks_per_s
        return ticks * tick + tick // 2 - self.boot_offset_ns


# --- parsing ------------------------------------------------------------------------------------
def parse_schedstat(data: bytes) -> tuple[int, int]:
    """``(run_ns, wait_ns)`` from a schedstat line ``"run wait timeslices"``."""
    run, wait, _ = data.split(None, 2)
    return int(run), int(wait)


def parse_stat(data: bytes) -> Stat:
    """The fields of a ``stat`` line. The name sits in parentheses and may itself hold spaces
    and parentheses, so the fields are counted from the last ``)``."""
    close = data.rindex(b")")
    name = data[data.index(b"(") + 1:close].decode("utf-8", "replace")
    f = data[close + 2:].split()
    # f[0] is field 3 (state): field n is f[n - 3]
    return Stat(name, f[0].decode(), int(f[1]), int(f[2]), int(f[19]), int(f[36]))


def stat_fields(data: bytes) -> tuple[str, int, int, int]:
    """``(state, start, cpu, threads)`` of a ``stat`` line: :func:`parse_stat` for the fields a
    sweep reads every time (``threads``: the process's thread count, field 20)."""
    f = data[data.rindex(b")") + 2:].split(None, 37)
    return f[0].decode(), int(f[19]), int(f[36]), int(f[17])


def parse_syscall(data: bytes) -> Syscall:
    """A ``syscall`` line: ``running``, ``-1 sp pc``, or ``nr arg0 .. arg5 sp pc``."""
    fields = data.split(None, 2)
    if not fields:
        return Syscall(UNREADABLE, reason="the syscall file was empty")
    if fields[0] == b"running":
        return Syscall(RUNNING)
    nr = int(fields[0])
    if nr < 0:
        return Syscall(NOT_IN_SYSCALL)
    return Syscall(IN_SYSCALL, nr, int(fields[1], 16) if len(fields) > 1 else 0)


def denied_reason(exc: OSError) -> str:
    """One line saying why a syscall file cannot be read."""
    if exc.errno in DENIED_ERRNOS:
        return ("syscall not readable (another user's process: it needs the same user "
                "or CAP_SYS_PTRACE)")
    return f"syscall not readable ({os.strerror(exc.errno or 0) or type(exc).__name__})"


# --- the reader ---------------------------------------------------------------------------------
class _Known:
    """What the reader keeps of a thread between sweeps: its files' paths, its latest reading
    and when its name was last read."""

    __slots__ = ("base", "sched", "stat", "syscall", "comm", "reading", "name_t", "nthreads")

    def __init__(self, base: str) -> None:
        self.base = base
        self.sched, self.stat = base + "schedstat", base + "stat"
        self.syscall, self.comm = base + "syscall", base + "comm"
        self.reading: ThreadReading | None = None
        self.name_t = 0
        self.nthreads = -1  # its process's thread count, when its stat was read this sweep


class ProcReader:
    """Reads a process tree from ``/proc``, one :meth:`sweep` at a time.

    Args:
        root: the PID at the top of the tree.
        fs: where to read (default: the live ``/proc``).
        group: also take in processes of the root's process group whose parent left the tree
            (``trace`` starts its command as a group leader).
        adopter: also take in the children of this process (not itself): ``trace``'s guard,
            the reaper of the command's orphans (a daemon's double fork ends up there).
        full: read every file every time (recordings: so that a replay can serve any read).
        scan_every_ns: how often to look for new processes.
    """

    def __init__(self, root: int, fs: FS | None = None, *, group: bool = False,
                 full: bool = False, scan_every_ns: int = SCAN_EVERY_NS, adopter: int | None = None) -> None:
        self.root = root
        self.adopter = adopter
        self.fs: FS = fs if fs is not None else LiveFS()
        self.full = full
        self.scan_every_ns = scan_every_ns
        self.procs: dict[int, Stat] = {}  # the tree: pid -> its stat at discovery
        self._others: set[int] = set()  # pids seen in /proc that are not in the tree
        self._known: dict[int, dict[int, _Known]] = {}  # pid -> tid -> what was read last
        self._group: int | None = None
        self._last_scan: int | None = None
        self._alive = True
        try:
            st = parse_stat(self.fs.read(f"/proc/{root}/stat"))
        except (OSError, ValueError, IndexError) as exc:
            raise ProcessLookupError(f"no process {root} to read ({_why(exc)})") from None
        self.procs[root] = st
        if group and st.pgrp == root:
            self._group = root

    @property
    def alive(self) -> bool:
        """True while some thread of the tree had not exited at the last sweep (a process whose
        threads have all exited is a zombie waiting for its parent: read, but not alive)."""
        return self._alive

    def sweep(self) -> Sweep:
        """Read every thread of every process of the tree (scanning for new processes first,
        when a scan is due)."""
        fs = self.fs
        t0 = fs.clock()
        scanned = self._last_scan is None or t0 - self._last_scan >= self.scan_every_ns
        if scanned:
            self._scan()
            self._last_scan = t0
        out = []
        gone = []
        for pid in list(self.procs):
            reading = self._read_process(pid)
            if reading is None:
                gone.append(pid)
                self._drop(pid)
            else:
                out.append(reading)
        self._alive = any(t.state not in "ZX" for p in out for t in p.threads)
        return Sweep(t0, fs.clock(), tuple(out), tuple(gone), scanned)

    def maps(self, pid: int) -> bytes | None:
        """The process's memory map, or None when it cannot be read (gone, another user's)."""
        try:
            return self.fs.read_whole(f"/proc/{pid}/maps")
        except OSError:
            return None

    # --- the tree -----------------------------------------------------------------------------
    def _scan(self) -> None:
        try:
            names = self.fs.listdir("/proc")
        except OSError:
            return
        listed = {int(n) for n in names if n.isdigit()}
        self._others &= listed
        new = sorted(listed - self._others - self.procs.keys())
        found = True
        while found and new:  # parents first, whatever their PIDs (PIDs wrap around)
            found = False
            rest = []
            for pid in new:
                try:
                    st = parse_stat(self.fs.read(f"/proc/{pid}/stat"))
                except (OSError, ValueError, IndexError):
                    self.fs.forget(f"/proc/{pid}/")
                    continue
                if (st.ppid in self.procs or st.ppid == self.adopter
                        or (self._group is not None and st.pgrp == self._group)):
                    self.procs[pid] = st
                    found = True
                else:
                    rest.append(pid)
            new = rest
        self._others.update(new)
        for pid in new:
            self.fs.forget(f"/proc/{pid}/")

    def _drop(self, pid: int) -> None:
        self.procs.pop(pid, None)
        self._known.pop(pid, None)
        self.fs.forget(f"/proc/{pid}/")

    # --- one process ----------------------------------------------------------------------------
    def _read_process(self, pid: int) -> ProcessReading | None:
        """Read every thread of one process (None if it is gone). The thread list is read again
        only when it may have changed: a thread known before could not be read, or the thread
        count in the main thread's stat is not the number known (an exit shows as a failed
        read, a start as a higher count)."""
        fs = self.fs
        base = f"/proc/{pid}/task/"
        known = self._known.get(pid)
        if known is None:
            known = self._known[pid] = {}
        threads = []
        read = self._read_thread
        complete = bool(known) and not self.full
        for tid, k in list(known.items()):
            k.nthreads = -1
            reading = read(k, tid)
            if reading is None:
                del known[tid]
                fs.forget(k.base)
                complete = False
            else:
                threads.append(reading)
        leader = known.get(pid)
        if not complete or leader is None or leader.nthreads != len(known):
            try:
                names = fs.listdir(base)
            except OSError:
                names = []
            listed = {int(n) for n in names}
            for tid in [tid for tid in known if tid not in listed]:  # gone since the last sweep
                fs.forget(known.pop(tid).base)
            threads = [t for t in threads if t.tid in listed]
            for tid in listed:
                if tid not in known:
                    k = known[tid] = _Known(f"{base}{tid}/")
                    reading = read(k, tid)
                    if reading is None:
                        del known[tid]
                        fs.forget(k.base)
                    else:
                        threads.append(reading)
        if not threads:  # every thread went between the listing and the reads
            return None
        st = self.procs[pid]
        main = next((t for t in threads if t.tid == pid), None)
        return ProcessReading(pid, st.ppid, main.name if main else st.name, tuple(threads))

    def _read_thread(self, k: _Known, tid: int) -> ThreadReading | None:
        """Read one thread (None if it is gone). A runnable thread whose schedstat did not move
        since the last reading has not run since (it waits for a CPU): it cannot have blocked
        or migrated, so only its counters are read. A blocked thread's state is read every
        time: a wake-up into the run queue shows in its counters only once it runs, and
        waiting for a CPU is not waiting on what it blocked on."""
        fs = self.fs
        last = k.reading
        call = None
        try:
            t, raw = fs.read_stamped(k.sched)
            run_b, wait_b, _ = raw.split(None, 2)
            run, wait = int(run_b), int(wait_b)
            if last is not None and not self.full and t - k.name_t < NAME_EVERY_NS:
                if last.state == "R" and last.run_ns == run and last.wait_ns == wait:
                    return ThreadReading(tid, t, run, wait, "R", last.cpu, last.start, last.syscall, last.name)
                if (last.state != "R" and 0 < run - last.run_ns < BRIEF_RUN_NS
                        and last.syscall is not None and last.syscall.kind == IN_SYSCALL):
                    # it ran only briefly (a GIL waiter's periodic re-check): back in the same
                    # call on the same structure (a condition variable has two futex words),
                    # it is blocked as before, and its stat has nothing worth a read
                    call = self._syscall(k.syscall)
                    if (call.kind == IN_SYSCALL and call.nr == last.syscall.nr
                            and abs(call.arg0 - last.syscall.arg0) <= SAME_PLACE):
                        return ThreadReading(tid, t, run, wait, last.state, last.cpu, last.start, call, last.name)
            state, start, cpu, k.nthreads = stat_fields(fs.read(k.stat))
        except (OSError, ValueError, IndexError):
            return None
        if last is not None and last.start != start:  # the TID names a new thread
            last = None
        if last is None or t - k.name_t >= NAME_EVERY_NS:
            name = last.name if last is not None else str(tid)
            k.name_t = t
            try:
                name = fs.read(k.comm).decode("utf-8", "replace").strip() or name
            except OSError:
                pass
        else:
            name = last.name
        if state == "R" and not self.full:
            syscall = Syscall(RUNNING)
        elif (not self.full and last is not None and last.syscall is not None and last.state == state
              and last.run_ns == run and last.wait_ns == wait):
            syscall = last.syscall  # blocked since the last reading: still in the same call
        else:
            syscall = call if call is not None else self._syscall(k.syscall)
            if syscall.kind == RUNNING:  # woke between the two reads: it is runnable now
                state = "R"
        reading = k.reading = ThreadReading(tid, t, run, wait, state, cpu, start, syscall, name)
        return reading

    def _syscall(self, path: str) -> Syscall:
        try:
            return parse_syscall(self.fs.read(path))
        except OSError as exc:
            if exc.errno in GONE_ERRNOS:
                return Syscall(UNREADABLE, reason="the thread ended while it was read")
            return Syscall(UNREADABLE, reason=denied_reason(exc))
        except (ValueError, IndexError):
            return Syscall(UNREADABLE, reason="the syscall file could not be parsed")


def _why(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return os.strerror(exc.errno)
    return type(exc).__name__
