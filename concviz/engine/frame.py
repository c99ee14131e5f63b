"""Frame: an immutable snapshot of a Timeline, with its figures.

A Frame is what every pane draws from: the tasks as they were at one moment (TaskView), the
core and process lanes up to that moment, and the run's figures (:attr:`Frame.stats`, the
fields of ``concviz run --json``). What the tasks add up to is kept in figures.py; each task's
GIL and CPU waits are worked out in gil_wait.py; how a lane becomes columns is in cells.py. The
methods here that return columns or waits are thin doors to those modules, memoized per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from concviz.engine import cells, core_cells, gil_wait
from concviz.engine.cells import LaneCells, TaskCodes
from concviz.engine.core_cells import CoreCells, CoreColumns
from concviz.engine.figures import RunTotals, TotalsView
from concviz.engine.gil_wait import ThreadRun
from concviz.engine.netload import waits_of
from concviz.engine.resources import ResourcesView, stats_without
from concviz.engine.store import Intervals
from concviz.engine.task import DONE, FAILED, NOT_STARTED, QUEUED, RUNNING, TaskView, median

_INF = float("inf")


def threads_share_gil(header: dict[str, Any]) -> bool:
    """Whether the threads that ran tasks in one process shared its GIL: yes, unless the run's
    header says each ran an interpreter of its own (the interpreters model)."""
    return header.get("threads_share_gil", True) is not False


def cluster_figures(header: dict[str, Any]) -> dict[str, Any] | None:
    """A Dask run's cluster as its header tells it (None for other models): how long it took
    to start (or to connect to), its workers, their threads, and the hosts they are on."""
    cluster = header.get("cluster")
    if not isinstance(cluster, dict):
        return None
    t0, t1 = cluster.get("start_ns") or (0, 0)
    return {"start_s": (t1 - t0) / 1e9, "workers": cluster.get("workers", 0), "threads": cluster.get("threads", 0),
            "hosts": list(cluster.get("hosts", [])), "local": bool(cluster.get("local")),
            "scheduler": cluster.get("scheduler", ""),
            # workers on other machines: their times are mapped onto this clock, within this
            "clock_uncertainty_ms": (cluster["clock"]["uncertainty_ns"] / 1e6 if cluster.get("clock") else None)}


@dataclass(frozen=True)
class FrameAgg:
    """Whole-run figures the Timeline kept as events arrived, and what changed since when.

    A Frame built by hand has none (``Frame.agg is None``): then every figure and every
    column is computed by a plain walk over the intervals, which is what the tests hold the
    Timeline's figures and the lanes' running sums to."""

    thread_pids: frozenset[int]  # processes in which more than one thread ran tasks
    gil_switches: int  # hand-offs between threads of one process
    run_median_ns: float  # median RUN interval
    run_count: int  # RUN intervals recorded
    core_ns: dict[int, int]  # cpu -> RUN time recorded on it
    totals: TotalsView  # what the tasks' figures add up to (figures.py)
    serial: int  # which snapshot of its Timeline this is (1, 2, ...)
    timeline: object  # its Timeline's token: serials of different Timelines must not mix
    lane_log: dict  # lane -> [(serial, earliest start among what it got before it)]
    lane_log_floor: dict  # lane -> serials up to this one were dropped from its log


@dataclass(frozen=True)
class Frame:
    """Everything a pane needs to draw itself, frozen at one moment."""

    version: int
    header: dict[str, Any]
    tasks: tuple[TaskView, ...]
    cores: dict[int, tuple[Intervals, int]]  # cpu -> (its RUN intervals, how many the frame saw)
    # pid -> (the RUN intervals of its task threads, count), for processes sharing a GIL
    proc_runs: dict[int, tuple[Intervals, int]]
    first_ns: int | None
    now_ns: int
    ended: str | None
    end_message: str
    log: tuple = ()
    log_total: int = 0
    events: int = 0
    # memory over time and the loopback server's counters (run-level events), if any
    resources: ResourcesView | None = None
    # a traced program: why some of its threads' waits could not be named, first seen first
    unknown: tuple[str, ...] = ()
    # per-frame memo of the cell functions (cells.py)
    _cache: dict = field(default_factory=dict, compare=False, repr=False)
    agg: FrameAgg | None = field(default=None, compare=False, repr=False)

    @property
    def model(self) -> str:
        return self.header.get("model", "?")

    @property
    def workload(self) -> str:
        return self.header.get("workload", "?")

    @cached_property
    def machine(self) -> dict[str, Any]:
        return self.header.get("machine", {})

    @property
    def cpu_count(self) -> int:
        return int(self.machine.get("cpus") or (max(self.cores) + 1 if self.cores else 1))

    @cached_property
    def gil(self) -> bool:
        return bool(self.machine.get("gil", True))

    @property
    def running(self) -> bool:
        return self.ended is None

    @cached_property
    def t_end(self) -> int:
        """The right edge of the data: the live edge, or the end of the last task."""
        last_end = self.totals.last_end_ns
        last = last_end if last_end is not None and self.ended is not None else self.now_ns
        return max(last, self.now_ns if self.ended is None else last, self.first_ns or 0)

    # --- figures -----------------------------------------------------------------------------
    @cached_property
    def thread_pids(self) -> frozenset[int]:
        """Processes in which more than one thread ran tasks (they share one GIL)."""
        if self.agg is not None:
            return self.agg.thread_pids
        if not threads_share_gil(self.header):
            return frozenset()
        seen: dict[int, set] = {}
        for t in self.tasks:
            if t.pid is not None and t.tid is not None:
                seen.setdefault(t.pid, set()).add(t.tid)
        return frozenset(p for p, tids in seen.items() if len(tids) > 1)

    @cached_property
    def gil_switches(self) -> int:
        """Hand-offs between threads of one process: consecutive RUN intervals, ordered by
        start time, recorded by different threads."""
        if not self.gil:
            return 0
        if self.agg is not None:
            return self.agg.gil_switches
        count = 0
        for pid in self.thread_pids:
            prev = None
            for run in self.thread_runs(pid):
                if prev is not None and run.tid != prev:
                    count += 1
                prev = run.tid
        return count

    def thread_runs(self, pid: int) -> list[ThreadRun]:
        """The RUN intervals of the task threads of ``pid``, in start order (any process; for a
        GIL-sharing one, its process lane)."""
        return gil_wait.thread_runs(self, pid)

    def task_wait(self, t: TaskView) -> tuple[int, int]:
        """(GIL wait, CPU wait) of one task in ns (see gil_wait.py)."""
        return gil_wait.task_wait(self, t)

    @cached_property
    def totals(self) -> TotalsView:
        """The figures the tasks add up to (figures.py): kept by the Timeline as tasks change,
        or, for a Frame built by hand, folded from its tasks."""
        return self.agg.totals if self.agg is not None else RunTotals.of(self.tasks)

    @cached_property
    def stats(self) -> dict[str, Any]:
        """The run's figures (the fields of ``concviz run --json``, less per-task detail)."""
        tasks = self.tasks
        first = self.first_ns or 0
        now = self.now_ns
        totals = self.totals
        counts = totals.counts
        busy = totals.busy_ns
        last = totals.last_end_ns if tasks and totals.ended == len(tasks) else now
        wall = max(0, last - first) if self.first_ns is not None else 0
        cmax, area = totals.concurrency(now)
        spawn = totals.spawn_ms
        now_conc = counts[RUNNING]
        agg = self.agg
        if agg is not None:
            run_median, run_count = agg.run_median_ns / 1e6, agg.run_count
        else:
            run_lengths = [(b - a) / 1e6 for t in tasks for a, b in t.runs.spans(0, t.n_runs)]
            run_median, run_count = median(run_lengths), len(run_lengths)
        per_core = None if agg is None else agg.core_ns
        if per_core is None:
            per_core = {}
            for t in tasks:
                for a, b, cpu in t.runs.tagged(0, t.n_runs):
                    per_core[cpu] = per_core.get(cpu, 0) + (b - a)
        if totals.open_runs:
            per_core = dict(per_core)
            for _, (a, b, cpu) in totals.open_runs:
                per_core[cpu] = per_core.get(cpu, 0) + (b - a)
        return {
            "model": self.model,
            "workload": self.workload,
            "tasks": len(tasks),
            "wall_s": wall / 1e9,
            "busy_s": busy / 1e9,
            "parallelism": busy / wall if wall else 0.0,
            "concurrency_max": cmax,
            "concurrency_mean": area / wall if wall else 0.0,
            "concurrency_now": now_conc,
            "gil_switches": self.gil_switches,
            "switch_interval_ms": self.machine.get("switch_interval_ms"),
            "run_interval_ms_median": run_median,
            "run_intervals": run_count,
            "spawn_ms_median": median(spawn),
            "spawn_ms_max": spawn[-1] if spawn else 0.0,
            "done": counts[DONE],
            "failed": counts[FAILED],
            # of those, cut short by a stop (the user's, not a fault)
            "stopped": totals.stopped,
            # ended with the run (or lost by a pool) before they ever started: not failures
            "not_started": counts[NOT_STARTED],
            "queued": counts[QUEUED],
            "running": now_conc,
            "per_core": [{"cpu": c, "busy_s": ns / 1e9} for c, ns in sorted(per_core.items())],
            "cluster": cluster_figures(self.header),
            **(stats_without() if self.resources is None
               else self.resources.stats(self.first_ns, len(tasks))),
        }

    def per_task(self) -> list[dict[str, Any]]:
        """Each task's figures, GIL and CPU waits included (see gil_wait.py)."""
        return gil_wait.per_task(self)

    def summary(self) -> dict[str, Any]:
        """Stats plus per-task detail and the interpreter facts: the ``run --json`` object."""
        out = dict(self.stats)
        out["per_task"] = self.per_task()
        out["python"] = {"version": self.machine.get("python"), "gil_enabled": self.gil,
                         "free_threaded_build": self.machine.get("free_threaded_build", False),
                         "executable": self.machine.get("executable")}
        out["start_method"] = self.machine.get("start_method")
        out["cpus"] = self.cpu_count
        out["ended"] = self.ended
        out["net"] = self.net_figures()
        return out

    def net_figures(self) -> dict[str, Any] | None:
        """A net run's latency as its tasks saw it (each request's wait for its reply), next to
        the server's delay; None for other workloads."""
        spec = self.header.get("spec") or {}
        if spec.get("latency_ms") is None:
            return None
        waits = [w for t in self.tasks for w in waits_of(t.sleeps.spans(0, t.n_sleeps))]
        return {"latency_ms": spec["latency_ms"], "requests": spec.get("requests"),
                "wait_ms_median": median(waits) / 1e6 if waits else None, "replies_seen": len(waits)}

    # --- columns (cells.py) ------------------------------------------------------------------
    def task_cells(self, index: int, t0: int, t1: int, width: int) -> LaneCells:
        """Per-column state fractions of task ``index`` over [t0, t1)."""
        return cells.task_cells(self, index, t0, t1, width)

    def task_codes(self, index: int, t0: int, t1: int, width: int, levels: int = 1) -> list[list[int]]:
        """What task ``index``'s lane draws over [t0, t1): one code per column for each of its
        ``levels`` rows, bottom row first (see cells.CODE_BLANK)."""
        return cells.task_codes(self, index, t0, t1, width, levels).rows

    def task_codes_from(self, index: int, t0: int, t1: int, width: int, levels: int,
                        from_col: int, prev: list[list[int]]) -> TaskCodes:
        """:meth:`task_codes` with the columns before ``from_col`` taken from ``prev`` (this
        lane's rows over the same window in an earlier frame), and whether the lane was read
        from running sums (columns kept from a lane computed the other way must be redone)."""
        return cells.task_codes(self, index, t0, t1, width, levels, from_col, prev)

    def process_cells(self, pid: int, t0: int, t1: int, width: int) -> list[float]:
        """Per-column fraction of time in which some task thread of ``pid`` was running."""
        return cells.process_cells(self, pid, t0, t1, width)

    def gil_cells(self, pid: int, t0: int, t1: int, width: int) -> CoreCells:
        """Per column, the task whose thread held ``pid``'s GIL the longest, and how busy."""
        return core_cells.gil_cells(self, pid, t0, t1, width)

    def gil_columns(self, pid: int, t0: int, t1: int, width: int, first: int = 0,
                    prev: CoreColumns | None = None) -> CoreColumns:
        """:meth:`gil_cells` as columns, those before ``first`` taken from ``prev`` (an earlier
        result over the same window)."""
        return core_cells.gil_columns(self, pid, t0, t1, width, first, prev)

    def core_cells(self, cpu: int, t0: int, t1: int, width: int) -> CoreCells:
        """Per column, how busy logical CPU ``cpu`` was with task work, and with which task."""
        return core_cells.core_cells(self, cpu, t0, t1, width)

    def core_columns(self, cpu: int, t0: int, t1: int, width: int, first: int = 0,
                     prev: CoreColumns | None = None) -> CoreColumns:
        """The closed RUN intervals on ``cpu`` over the window (the columns before ``first``
        taken from ``prev``, an earlier result over the same window); :meth:`with_open_runs`
        makes them what :meth:`core_cells` returns."""
        return core_cells.core_closed(self, cpu, t0, t1, width, first, prev)

    def with_open_runs(self, cpu: int, t0: int, t1: int, width: int, closed: CoreColumns) -> CoreCells:
        """``closed`` with the RUN intervals still open on ``cpu`` laid on top."""
        return core_cells.with_open_runs(self, cpu, t0, t1, width, closed)

    @cached_property
    def open_runs(self) -> list[tuple[int, tuple]]:
        """(task, (t0, now, cpu)) of every RUN interval reported open by PROGRESS."""
        return list(self.totals.open_runs)

    # --- what changed since an earlier frame -------------------------------------------------
    @property
    def serial(self) -> int | None:
        """Which snapshot of its Timeline this frame is (None: built by hand)."""
        return None if self.agg is None else self.agg.serial

    @property
    def source(self) -> object | None:
        """A token of the Timeline this frame came from: serials of different ones do not mix."""
        return None if self.agg is None else self.agg.timeline

    def lane_changed_from(self, lane: tuple[str, int], serial: int) -> float:
        """The earliest instant at which core or process ``lane`` ("c"/"p", key) may differ
        from what it was in the frame of snapshot ``serial`` of the same Timeline: +inf
        nowhere, -inf anywhere (or unknown)."""
        agg = self.agg
        if agg is None or serial > agg.serial or serial < agg.lane_log_floor.get(lane, 0):
            return -_INF
        at = _INF
        for s, t in reversed(agg.lane_log.get(lane, ())):
            if s <= serial:
                break
            if s <= agg.serial and t < at:
                at = t
        return at
