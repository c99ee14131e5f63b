"""Memory, measured from outside: the proportional memory of a process and of a process tree.

A process's proportional set size (PSS) is every page it has resident, each divided by the
number of processes that map it. Summed over a process tree, a page the tree's processes share
counts once, which is what a run's memory is: a forked worker shares its parent's pages until
it writes to them, and its cost is the pages it copied and those it added. Unique memory (USS,
the pages one process alone maps) would count the shared pages in no process at all: when a
pool forks its workers the experiment's USS drops by what they now share, and a run of
process-pool workers measured in USS grew by nothing, or by less than nothing. Summed over a
single process the two grow alike (a thread's stack, an asyncio task's objects: pages of its
own).

On Linux PSS is read from ``/proc/PID/smaps_rollup`` (the Pss line, what psutil's
``memory_full_info().pss`` reads); elsewhere psutil's USS is the nearest there is (macOS: no
PSS), and where neither answers (another user's process on macOS) the resident set (RSS); every
reading says which it is. :mod:`concviz.engine.memory_sampler` follows a run with it.

A thread also costs the kernel a stack of its own (16 KB on x86-64 Linux), which no process's
memory holds: :func:`kernel_stack_per_thread` gives it from this machine's totals, and the
run's figures report it apart, labelled inferred.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple

PSS, USS, RSS, MIXED = "pss", "uss", "rss", "mixed"
RESCAN_EVERY = 5  # readings between two searches for the tree's processes
_PSS = b"\nPss:"
_HAS_ROLLUP = os.path.exists(f"/proc/{os.getpid()}/smaps_rollup")

_perf = time.perf_counter_ns


def _rollup_pss(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
        data = f.read()
    i = data.find(_PSS)
    if i < 0:  # a process that is exiting (a zombie) has no mappings left
        raise ProcessLookupError(pid)
    return int(data[i + len(_PSS):data.index(b"kB", i)]) * 1024


def _state(pid: int) -> bytes | None:
    """The state letter of ``pid`` in /proc (R, S, Z...), None if it is not there."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def process_memory(pid: int) -> tuple[int, str]:
    """The proportional memory of ``pid`` in bytes, and how it was measured (PSS, or USS or RSS
    where there is no PSS).

    Raises:
        ProcessLookupError: the process is gone.
    """
    if _HAS_ROLLUP:
        try:
            return _rollup_pss(pid), PSS
        except (FileNotFoundError, ProcessLookupError):
            if _state(pid) in (None, b"Z", b"X"):  # gone, or a zombie: its memory is freed
                raise ProcessLookupError(pid) from None
        except (PermissionError, ValueError):
            pass
    import psutil

    try:
        proc = psutil.Process(pid)
        try:
            full = proc.memory_full_info()
            pss = getattr(full, "pss", None)
            return (pss, PSS) if pss is not None else (full.uss, USS)
        except (psutil.AccessDenied, AttributeError, NotImplementedError):
            return proc.memory_info().rss, RSS
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        raise ProcessLookupError(pid) from None


def process_threads(pid: int) -> int:
    """How many threads ``pid`` has now (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[17])
    except (OSError, ValueError, IndexError):
        pass
    import psutil

    try:
        return psutil.Process(pid).num_threads()
    except psutil.Error:
        return 0


def kernel_stack_per_thread() -> int | None:
    """The kernel's stack per thread in bytes, from this machine's totals; None where unknown."""
    try:
        with open("/proc/meminfo", "rb") as f:
            line = next(x for x in f if x.startswith(b"KernelStack:"))
        with open("/proc/loadavg", "rb") as f:
            threads = int(f.read().split()[3].split(b"/")[1])
        return int(line.split()[1]) * 1024 // max(1, threads)
    except (OSError, StopIteration, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class TreeReading:
    """One reading of a tree: the sum over its live processes.

    Attributes:
        t_ns: ``perf_counter_ns()`` when the reading was complete.
        bytes: the sum of their proportional memory (or USS, or RSS: see ``source``).
        processes: how many processes answered.
        source: ``"pss"``, ``"uss"``, ``"rss"``, or ``"mixed"`` when they were not read alike.
        threads: the threads of those processes.
        parts: each process's share, when asked for (see :meth:`without`).
    """

    t_ns: int
    bytes: int
    processes: int
    source: str
    threads: int = 0
    parts: tuple[ProcessPart, ...] = ()

    def without(self, pid: int) -> "TreeReading":
        """This reading less process ``pid`` (known from its parts): a process found, after the
        reading, not to be the run's."""
        for part in self.parts:
            if part.pid == pid:
                return TreeReading(self.t_ns, self.bytes - part.bytes, self.processes - 1, self.source,
                                   self.threads - part.threads, tuple(p for p in self.parts if p.pid != pid))
        return self


class ProcessPart(NamedTuple):
    """One process's share of a TreeReading."""

    pid: int
    bytes: int
    threads: int


def group_members(pgid: int) -> list[int] | None:
    """The live processes of process group ``pgid`` (from /proc and getpgid: no file is read,
    so it is cheap enough for every reading); None where there is no /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    found = []
    for name in names:
        if name.isdigit():
            pid = int(name)
            try:
                if os.getpgid(pid) == pgid:
                    found.append(pid)
            except OSError:
                continue
    return found


class ProcessTree:
    """A process and its descendants, less ``exclude`` (e.g. the run's server; found through
    psutil, their descendants too).

    When the root leads a session of its own (the experiment does: a run is one process group,
    killed as one), the tree is its process group, found again at every reading at little cost.
    Otherwise the descendants are found through psutil, which reads every process of the
    machine, so only every ``rescan_every`` readings: a process started in between is counted
    from the next scan. A process that died is skipped at once.
    """

    def __init__(self, root_pid: int, exclude: Iterable[int] = (), rescan_every: int = RESCAN_EVERY,
                 reader: Callable[[int], tuple[int, str]] = process_memory) -> None:
        self.root_pid = root_pid
        self.exclude = set(exclude)
        self.rescan_every = max(1, rescan_every)
        self._reader = reader
        self._pids: list[int] = []
        self._readings = 0
        try:
            self.by_group = os.getsid(root_pid) == root_pid == os.getpgid(root_pid)
        except OSError:
            self.by_group = False

    def leave_out(self, pid: int) -> None:
        """Exclude ``pid`` (and its subtree) from the next reading on."""
        self.exclude.add(pid)
        self._pids = []  # found again at the next reading

    def pids(self) -> list[int]:
        """The tree's processes now (root first)."""
        if self.by_group:
            members = group_members(self.root_pid)
            if members is not None:
                rest = [p for p in members if p != self.root_pid and p not in self.exclude]
                return ([self.root_pid] if self.root_pid in members else []) + rest
        import psutil

        try:
            root = psutil.Process(self.root_pid)
            kids = root.children(recursive=True)
        except psutil.Error:
            return []
        skip = set(self.exclude)
        found = [self.root_pid]
        # children(recursive=True) lists parents before their children: a child of an excluded
        # process is excluded too
        for p in kids:
            try:
                parent = p.ppid()
            except psutil.Error:
                continue
            if p.pid in skip or parent in skip:
                skip.add(p.pid)
            else:
                found.append(p.pid)
        return found

    def read(self, parts: bool = False) -> TreeReading:
        """Sum the memory of the tree's live processes now (``parts``: and keep each one's)."""
        if self.by_group or self._readings % self.rescan_every == 0 or not self._pids:
            self._pids = self.pids()
        self._readings += 1
        total = count = threads = 0
        sources = set()
        alive = []
        shares = []
        for pid in self._pids:
            try:
                value, source = self._reader(pid)
            except ProcessLookupError:
                continue
            alive.append(pid)
            total += value
            count += 1
            n = process_threads(pid)
            threads += n
            sources.add(source)
            if parts:
                shares.append(ProcessPart(pid, value, n))
        self._pids = alive
        return TreeReading(_perf(), total, count, one_source(sources), threads, tuple(shares))


def one_source(sources: set[str]) -> str:
    """The source of readings made with ``sources``."""
    if not sources:
        return PSS
    return MIXED if len(sources) > 1 or MIXED in sources else next(iter(sources))
