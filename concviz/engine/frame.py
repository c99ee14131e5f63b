"""Frame: an immutable snapshot of a Timeline, with its figures.

A Frame is what every pane draws from: the tasks as they were at one moment (TaskView), the
core and process lanes up to that moment, and the run's figures (:attr:`Frame.stats`, the
fields of ``concviz run --json``). How a lane becomes columns is in cells.py; the methods here
that return columns are thin doors to it (and to core_cells.py), memoized per frame.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any, NamedTuple

from concviz.engine import cells, core_cells
from concviz.engine.cells import LaneCells, TaskCodes
from concviz.engine.core_cells import CoreCells, CoreColumns
from concviz.engine.netload import waits_of
from concviz.engine.resources import ResourcesView, stats_without
from concviz.engine.store import Intervals
from concviz.engine.task import DONE, FAILED, NOT_STARTED, QUEUED, RUNNING, STOPPED_REASON, TaskView, lane_end, median

_INF = float("inf")


def threads_share_gil(header: dict[str, Any]) -> bool:
    """Whether the threads that ran tasks in one process shared its GIL: yes, unless the run's
    header says each ran an interpreter of its own (the interpreters model)."""
    return header.get("threads_share_gil", True) is not False


class ThreadRun(NamedTuple):
    """A RUN interval of one of a process's task threads."""

    t0: int
    t1: int
    task: int
    tid: int | None


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
        ends = [t.end_ns for t in self.tasks if t.end_ns is not None]
        last = max(ends) if ends and self.ended is not None else self.now_ns
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
        tid_of = {t.id: t.tid for t in self.tasks}
        if pid in self.proc_runs:
            lane, n = self.proc_runs[pid]
            return [ThreadRun(a, b, task, tid_of.get(task)) for a, b, task in lane.tagged(0, n)]
        runs = [ThreadRun(a, b, t.id, t.tid) for t in self.tasks if t.pid == pid
                for a, b in t.runs.spans(0, t.n_runs)]
        runs.sort(key=itemgetter(0))
        return runs

    def _union(self, pid: int) -> list[tuple[int, int]]:
        key = ("union", pid)
        if key not in self._cache:
            out: list[list[int]] = []
            for a, b, _, _ in self.thread_runs(pid):
                if out and a <= out[-1][1]:
                    if b > out[-1][1]:
                        out[-1][1] = b
                else:
                    out.append([a, b])
            self._cache[key] = [tuple(x) for x in out]
        return self._cache[key]

    def _covered(self, pid: int, spans: list) -> int:
        """How much of the sorted, disjoint ``spans`` the threads of ``pid`` ran, together: the
        length of their union within each span, from its running sums (a bisection each, so a
        task's share of a long run costs the same whatever the run's length)."""
        key = ("union_sums", pid)
        if key not in self._cache:
            union = self._union(pid)
            sums = [0]
            for a, b in union:
                sums.append(sums[-1] + b - a)
            self._cache[key] = ([a for a, _ in union], [b for _, b in union], sums)
        starts, ends, sums = self._cache[key]
        total = 0
        for a, b in spans:
            i = bisect_right(ends, a)  # the first interval ending after a
            j = bisect_left(starts, b)  # the first starting at or after b
            if j <= i:
                continue
            total += sums[j] - sums[i]
            if starts[i] < a:
                total -= a - starts[i]
            if ends[j - 1] > b:
                total -= ends[j - 1] - b
        return total

    def task_wait(self, t: TaskView) -> tuple[int, int]:
        """(GIL wait, CPU wait) of one task in ns, from its measured intervals (a traced
        thread's: from its named waits)."""
        if t.start_ns is None:
            return 0, 0
        if t.wait_ns:
            named = dict(t.wait_ns)
            return named.get("gil", 0), named.get("cpu", 0)
        end = lane_end(t, self.now_ns) if t.end_ns is not None else self.now_ns
        ran = t.run_ns + t.open_ns
        wait = max(0, (end - t.start_ns) - ran - t.sleep_ns)
        if not wait or t.pid not in self.thread_pids or not self.gil:
            return 0, wait
        span = [(t.start_ns, end)]
        others = self._covered(t.pid, span) - ran - self._covered(t.pid, list(t.sleeps.spans(0, t.n_sleeps)))
        gil = min(wait, max(0, others))
        return gil, wait - gil

    @cached_property
    def stats(self) -> dict[str, Any]:
        """The run's figures (the fields of ``concviz run --json``, less per-task detail)."""
        tasks = self.tasks
        first = self.first_ns or 0
        now = self.now_ns
        # one pass over the tasks (a run can have 100,000): what the figures below are made of
        busy = ended = done = failed = stopped = not_started = queued = now_conc = 0
        last_end = None
        starts, ends, spawn, opened = [], [], [], []
        for t in tasks:
            busy += t.run_ns
            if t.open_run:
                opened.append(t)
                busy += t.open_run[1] - t.open_run[0]
            status = t.status
            if status == RUNNING:
                now_conc += 1
            elif status == DONE:
                done += 1
            elif status == FAILED:
                failed += 1
                stopped += t.error == STOPPED_REASON
            elif status == NOT_STARTED:
                not_started += 1
            elif status == QUEUED:
                queued += 1
            if t.end_ns is not None:
                ended += 1
                if last_end is None or t.end_ns > last_end:
                    last_end = t.end_ns
            if t.start_ns is not None:
                starts.append(t.start_ns)
                ends.append(t.end_ns if t.end_ns is not None else now)
                # tid is set only by a START the task itself recorded (not by a parent-side ERROR)
                if t.tid is not None and t.spawn_ns is not None:
                    spawn.append((t.start_ns - t.spawn_ns) / 1e6)
        last = last_end if tasks and ended == len(tasks) else now
        wall = max(0, last - first) if self.first_ns is not None else 0
        # concurrency: the tasks' starts and ends in time order (an end before a start at the
        # same instant), the number in flight between them
        starts.sort()
        ends.sort()
        cur = cmax = area = i = j = 0
        prev, n = first, len(starts)
        while i < n or j < n:
            if i < n and (j == n or starts[i] < ends[j]):
                when, step = starts[i], 1
                i += 1
            else:
                when, step = ends[j], -1
                j += 1
            area += cur * max(0, when - prev)
            prev = when
            cur += step
            if cur > cmax:
                cmax = cur
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
        if opened:
            per_core = dict(per_core)
            for t in opened:
                per_core[t.open_run[2]] = per_core.get(t.open_run[2], 0) + t.open_ns
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
            "spawn_ms_max": max(spawn) if spawn else 0.0,
            "done": done,
            "failed": failed,
            # of those, cut short by a stop (the user's, not a fault)
            "stopped": stopped,
            # ended with the run (or lost by a pool) before they ever started: not failures
            "not_started": not_started,
            "queued": queued,
            "running": now_conc,
            "per_core": [{"cpu": c, "busy_s": ns / 1e9} for c, ns in sorted(per_core.items())],
            "cluster": cluster_figures(self.header),
            **(stats_without() if self.resources is None
               else self.resources.stats(self.first_ns, len(tasks))),
        }

    def per_task(self) -> list[dict[str, Any]]:
        first = self.first_ns or 0
        out = []
        for t in self.tasks:
            gil, cpu = self.task_wait(t)
            out.append({
                "id": t.id, "pid": t.pid, "tid": t.tid, "label": t.label, "status": t.status,
                "error": t.error,
                "start_s": None if t.start_ns is None else (t.start_ns - first) / 1e9,
                "end_s": None if t.end_ns is None else (t.end_ns - first) / 1e9,
                "run_s": t.run_ns / 1e9, "sleep_s": t.sleep_ns / 1e9,
                "wait_s": (gil + cpu) / 1e9, "gil_wait_s": gil / 1e9, "cpu_wait_s": cpu / 1e9,
                "spawn_ms": None if t.start_ns is None or t.spawn_ns is None
                else (t.start_ns - t.spawn_ns) / 1e6,
                "cpus": list(t.cpus),
            })
            if t.wait_ns:  # a traced thread: every named wait (gil, lock, other, unknown)
                out[-1]["waits_s"] = {state: ns / 1e9 for state, ns in t.wait_ns}
        return out

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
        return [(t.id, t.open_run) for t in self.tasks if t.open_run is not None]

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
