"""A run's memory: the baseline before the first task, the peak, and the memory per task.

:class:`MemorySampler` reads a run's process tree (:class:`concviz.engine.memory.ProcessTree`)
on a thread of the *calling* process: the UI, or the CLI of ``concviz run``. Never from inside
the experiment, where a sampling thread would compete with the measured threads for their GIL.
:class:`MemoryTrack` keeps the readings and holds the rule (the sampler's own figures and the
Timeline's, from a trace's MEMORY events, both come from it): the baseline is the last reading
completed before the first task was spawned; per task is (peak - baseline) / tasks. The kernel
stacks of the threads the run added are reported apart, labelled inferred: the tree's thread
count (measured) times the kernel's stack per thread.
"""

from __future__ import annotations

import threading
import time
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from typing import Callable, Iterable

from concviz.engine.memory import MIXED, PSS, RSS, USS, ProcessTree, TreeReading, kernel_stack_per_thread, one_source

STARTUP_INTERVAL_S = 0.005  # before the first task: the baseline must be close to its start
BUDGET = 20  # sampling costs at most 1/BUDGET of a core (a reading of 1 ms CPU: 20 ms apart)
MAX_WAIT_S = 0.5
SOURCES = (PSS, USS, RSS, MIXED)  # a reading's source, stored as its index here


def next_wait(interval_s: float, cost_s: float) -> float:
    """How long to wait after a reading that cost ``cost_s`` of CPU.

    A large tree is read less often rather than cost the sampling process more than 1/BUDGET
    of a core, but at least every MAX_WAIT_S. CPU time, not wall time: on a loaded machine a
    reading also waits for a core, and a wall-time rule would stop sampling when it matters.
    """
    return min(max(interval_s, cost_s * (BUDGET - 1)), max(interval_s, MAX_WAIT_S))


@dataclass(frozen=True)
class MemoryFigures:
    """A run's memory: the baseline before the first task, the peak, and the cost per task.

    Attributes:
        baseline_bytes: the last reading completed before the first task was spawned (the first
            reading if the start was never marked or none came before it).
        peak_bytes: the highest reading from the baseline on.
        tasks: the run's number of tasks.
        source: what was summed (``"pss"``, ``"uss"``, ``"rss"``, ``"mixed"``).
        samples: readings taken from the baseline on.
        baseline_before_start: False when no reading completed before the first task (then the
            baseline already holds some of the tasks' memory, and per task is an underestimate).
        baseline_lead_ms: how long before the first task the baseline reading completed (a
            long lead may miss memory the run's own start-up added before its tasks).
        baseline_threads: the tree's threads at the baseline.
        peak_threads: the most threads seen from the baseline on.
        kernel_stack_bytes: the kernel's stack per thread (None where unknown).
    """

    baseline_bytes: int
    peak_bytes: int
    tasks: int
    source: str
    samples: int
    baseline_before_start: bool
    baseline_lead_ms: float | None = None
    baseline_threads: int = 0
    peak_threads: int = 0
    kernel_stack_bytes: int | None = None

    @property
    def per_task_bytes(self) -> float:
        """(peak - baseline) / tasks: the memory (PSS, or USS or RSS) one task added."""
        return max(0, self.peak_bytes - self.baseline_bytes) / max(1, self.tasks)

    @property
    def kernel_per_task_bytes(self) -> float | None:
        """Inferred: the kernel stacks of the threads the run added, per task (in no process's
        memory)."""
        if self.kernel_stack_bytes is None:
            return None
        added = max(0, self.peak_threads - self.baseline_threads)
        return added * self.kernel_stack_bytes / max(1, self.tasks)

    def to_dict(self) -> dict:
        """The figures as ``run --json`` names them (the kernel stacks' key says "inferred")."""
        kernel = self.kernel_per_task_bytes
        return {"mem_baseline_mb": round(self.baseline_bytes / 2**20, 3),
                "mem_peak_mb": round(self.peak_bytes / 2**20, 3),
                "mem_per_task_kb": round(self.per_task_bytes / 1024, 3),
                "mem_source": self.source, "mem_samples": self.samples,
                "mem_baseline_before_start": self.baseline_before_start,
                "mem_baseline_lead_ms": self.baseline_lead_ms,
                "mem_threads_peak": self.peak_threads,
                "mem_kernel_stacks_per_task_kb_inferred": None if kernel is None else round(kernel / 1024, 3)}


EMPTY_FIGURES = dict.fromkeys(MemoryFigures(0, 0, 1, PSS, 0, False).to_dict())  # (not measured)


class MemoryTrack:
    """A run's memory readings over time, in order (packed: a few dozen bytes a reading), and
    the figures they give.

    Appended to by one thread; read by others through :meth:`figures` and the arrays up to a
    length read first (an append never changes what is below it).
    """

    def __init__(self) -> None:
        self.t = array("q")  # perf_counter_ns when each reading was complete
        self.bytes = array("q")
        self.threads = array("l")
        self.source = array("b")  # index in SOURCES
        self.kernel_stack_bytes: int | None = None

    def __len__(self) -> int:
        return len(self.t)

    def add(self, t_ns: int, total: int, threads: int, source: str, kernel_stack: int | None = None) -> None:
        """Keep one reading (``t_ns`` after the last one's)."""
        self.bytes.append(total)
        self.threads.append(threads)
        self.source.append(SOURCES.index(source))
        if kernel_stack is not None:
            self.kernel_stack_bytes = kernel_stack
        self.t.append(t_ns)  # last: a reader that sees this reading's time sees the reading

    def figures(self, start_ns: int | None, tasks: int, n: int | None = None) -> MemoryFigures | None:
        """Baseline, peak and per task over the first ``n`` readings (all by default), the
        first task having been spawned at ``start_ns`` (None: not yet, or never; then from the
        first reading); None before any reading."""
        n = len(self.t) if n is None else n
        if not n:
            return None
        first = 0
        before = False
        if start_ns is not None:
            i = bisect_right(self.t, start_ns, 0, n)
            if i:
                first, before = i - 1, True
        peak = max(self.bytes[first:n])
        lead = round((start_ns - self.t[first]) / 1e6, 3) if before else None
        return MemoryFigures(self.bytes[first], peak, tasks,
                             one_source({SOURCES[k] for k in set(self.source[first:n])}), n - first, before,
                             lead, self.threads[first], max(self.threads[first:n]), self.kernel_stack_bytes)


class MemorySampler:
    """Samples a process tree every ``interval_s`` from a thread of this (outside) process.

    Until :meth:`mark_start` says when the first task was spawned it samples every
    ``startup_interval_s`` (a tree of one starting process is cheap to read), so that the
    baseline is a reading taken just before the tasks began. A tree so large that a reading
    costs more CPU than 1/BUDGET of the interval is read less often (see next_wait).

    Args:
        root_pid: the experiment's pid (its workers are its descendants).
        interval_s: the sampling period once the run has started.
        exclude: pids whose subtrees are not the run's workers (the loopback server).
        on_reading: called (on the sampling thread) with every reading of a live tree, before
            the next reading begins.
    """

    def __init__(self, root_pid: int, interval_s: float = 0.05, exclude: Iterable[int] = (),
                 startup_interval_s: float = STARTUP_INTERVAL_S, tree: ProcessTree | None = None,
                 on_reading: Callable[[TreeReading], None] | None = None) -> None:
        self.tree = tree or ProcessTree(root_pid, exclude)
        self.interval_s = interval_s
        self.startup_interval_s = startup_interval_s
        self.latest: TreeReading | None = None
        self.track = MemoryTrack()
        self.kernel_stack_bytes = kernel_stack_per_thread()
        self.on_reading = on_reading
        self.parts = False  # readings keep each process's share (TreeReading.without)
        self._start_ns: int | None = None
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- driving it ---------------------------------------------------------------------------
    def start(self) -> None:
        """Sample on a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._loop, name="concviz-memory", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling (after one last reading) and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while True:
            cpu0 = time.thread_time()
            self.sample()
            cost = time.thread_time() - cpu0
            wait = self.startup_interval_s if self._start_ns is None else self.interval_s
            if self._stop.wait(next_wait(wait, cost)):
                break
        self.sample()

    def sample(self) -> TreeReading:
        """Take one reading now and keep it (a tree with no live process gives no reading)."""
        # one reader at a time (the tree's pid list is not for two), and on_reading inside: once
        # exclude() returns, no reading made before it is handed on
        with self._read_lock:
            reading = self.tree.read(self.parts)
            with self._lock:
                self.latest = reading
                if reading.processes:
                    self.track.add(reading.t_ns, reading.bytes, reading.threads, reading.source,
                                   self.kernel_stack_bytes)
            if reading.processes and self.on_reading is not None:
                self.on_reading(reading)
        return reading

    def holding(self) -> threading.Lock:
        """Hold it (``with``) to keep readings out while the tree or the callback changes."""
        return self._read_lock

    def mark_start(self, t_ns: int) -> None:
        """Say when the first task was spawned (``perf_counter_ns``, the probe's clock, which
        is one clock for every process); readings completed before it are the baseline."""
        with self._lock:
            if self._start_ns is None:
                self._start_ns = t_ns

    # --- the figures ---------------------------------------------------------------------------
    def figures(self, tasks: int) -> MemoryFigures | None:
        """Baseline, peak and per task so far; None before any reading. Before the start is
        marked (or if it never is), from the first reading on."""
        with self._lock:
            return self.track.figures(self._start_ns, tasks)
