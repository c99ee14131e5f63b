"""A run's memory: the baseline before the first task, the peak, and the memory per task.

:class:`MemorySampler` reads a run's process tree (:class:`concviz.engine.memory.ProcessTree`)
on a thread of the *calling* process: the UI, or the CLI of ``concviz run``. Never from inside
the experiment, where a sampling thread would compete with the measured threads for their GIL.
The baseline is the last reading completed before the first task was spawned; per task is
(peak - baseline) / tasks. The kernel stacks of the threads the run added are reported apart,
labelled inferred: the tree's thread count (measured) times the kernel's stack per thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterable

from concviz.engine.memory import ProcessTree, TreeReading, kernel_stack_per_thread, one_source

STARTUP_INTERVAL_S = 0.005  # before the first task: the baseline must be close to its start
BUDGET = 20  # sampling costs at most 1/BUDGET of a core (a reading of 1 ms CPU: 20 ms apart)
MAX_WAIT_S = 0.5
HISTORY = 2000  # readings kept until the start is known (10 s of start-up at 5 ms)


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
        source: what was summed (``"uss"``, ``"rss"``, ``"uss+rss"``).
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
        """(peak - baseline) / tasks: the unique memory (or RSS) one task added."""
        return max(0, self.peak_bytes - self.baseline_bytes) / max(1, self.tasks)

    @property
    def kernel_per_task_bytes(self) -> float | None:
        """Inferred: the kernel stacks of the threads the run added, per task (not in USS)."""
        if self.kernel_stack_bytes is None:
            return None
        added = max(0, self.peak_threads - self.baseline_threads)
        return added * self.kernel_stack_bytes / max(1, self.tasks)

    def to_dict(self) -> dict:
        """The figures as ``run --json`` names them."""
        kernel = self.kernel_per_task_bytes
        return {"mem_baseline_mb": round(self.baseline_bytes / 2**20, 3),
                "mem_peak_mb": round(self.peak_bytes / 2**20, 3),
                "mem_per_task_kb": round(self.per_task_bytes / 1024, 3),
                "mem_source": self.source, "mem_samples": self.samples,
                "mem_baseline_before_start": self.baseline_before_start,
                "mem_baseline_lead_ms": self.baseline_lead_ms,
                "mem_threads_peak": self.peak_threads,
                "mem_kernel_stacks_per_task_kb": None if kernel is None else round(kernel / 1024, 3)}


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
    """

    def __init__(self, root_pid: int, interval_s: float = 0.05, exclude: Iterable[int] = (),
                 startup_interval_s: float = STARTUP_INTERVAL_S,
                 tree: ProcessTree | None = None) -> None:
        self.tree = tree or ProcessTree(root_pid, exclude)
        self.interval_s = interval_s
        self.startup_interval_s = startup_interval_s
        self.latest: TreeReading | None = None
        self._history: deque[TreeReading] = deque(maxlen=HISTORY)
        self._start_ns: int | None = None
        self._baseline: TreeReading | None = None
        self._before_start = False
        self._peak: TreeReading | None = None
        self._samples = 0
        self._first: TreeReading | None = None  # over every reading, for a start never marked
        self._top: TreeReading | None = None
        self._top_threads = 0
        self._peak_threads = 0
        self._readings = 0
        self.kernel_stack_bytes = kernel_stack_per_thread()
        self._sources: set[str] = set()
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
        """Take one reading now and fold it into the figures."""
        with self._read_lock:  # the tree's pid list is not for two readers at once
            reading = self.tree.read()
        with self._lock:
            self.latest = reading
            if reading.processes:
                self._fold(reading)
        return reading

    def mark_start(self, t_ns: int) -> None:
        """Say when the first task was spawned (``perf_counter_ns``, the probe's clock, which
        is one clock for every process); readings completed before it are the baseline."""
        with self._lock:
            if self._start_ns is not None:
                return
            self._start_ns = t_ns
            history = list(self._history)
            self._history.clear()
            before = [r for r in history if r.t_ns <= t_ns]
            if before:
                self._baseline, self._before_start = before[-1], True
                self._count(before[-1])
            for r in history:
                if r.t_ns > t_ns:
                    self._count(r)

    # --- the figures ---------------------------------------------------------------------------
    def _fold(self, reading: TreeReading) -> None:
        if self._first is None:
            self._first = reading
        if self._top is None or reading.bytes > self._top.bytes:
            self._top = reading
        self._top_threads = max(self._top_threads, reading.threads)
        self._readings += 1
        if self._start_ns is None:
            self._history.append(reading)
        else:
            self._count(reading)

    def _count(self, reading: TreeReading) -> None:
        """Fold a reading taken from the baseline on."""
        if self._baseline is None:
            self._baseline = reading
        self._samples += 1
        self._sources.add(reading.source)
        if self._peak is None or reading.bytes > self._peak.bytes:
            self._peak = reading
        self._peak_threads = max(self._peak_threads, reading.threads)

    def figures(self, tasks: int) -> MemoryFigures | None:
        """Baseline, peak and per task so far; None before any reading. Before the start is
        marked (or if it never is), from the first reading on."""
        with self._lock:
            if self._start_ns is None:
                if self._first is None or self._top is None:
                    return None
                sources = {r.source for r in self._history}
                return MemoryFigures(self._first.bytes, self._top.bytes, tasks, one_source(sources),
                                     self._readings, False, None, self._first.threads,
                                     self._top_threads, self.kernel_stack_bytes)
            if self._baseline is None or self._peak is None:
                return None
            lead = round((self._start_ns - self._baseline.t_ns) / 1e6, 3) if self._before_start else None
            return MemoryFigures(self._baseline.bytes, self._peak.bytes, tasks, one_source(self._sources),
                                 self._samples, self._before_start, lead, self._baseline.threads,
                                 self._peak_threads, self.kernel_stack_bytes)
