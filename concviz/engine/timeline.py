"""Fold events into lanes and figures: the Timeline (mutable, fed live) and Frames (snapshots).

Everything here is derived from measured events only:

* a task's lane: queued (spawned, not started), running (RUN intervals), sleeping (SLEEP
  intervals), waiting (inside the task, neither running nor sleeping), done / failed;
* waiting is split into *GIL* waiting (another thread of the same process ran meanwhile) and
  *CPU* waiting (the OS had no core for it);
* a core's lane: the RUN intervals recorded on that logical CPU, and by which task;
* the GIL lane: for each process with several task threads, which of them was running;
* stats: wall (first SPAWN to last FINISH/ERROR), busy (sum of RUN), parallelism = busy / wall,
  concurrency (tasks started and not finished: max, time-weighted mean, now), GIL switches
  (hand-offs between threads of one process), spawn latency (SPAWN to START).

A trace of a program (``concviz trace``/``attach``) names its threads' waits itself (WAIT
events: a per-task side store of intervals per state, which the task lanes draw instead of the
sibling rule) and its GIL holders (GIL events: a process's GIL lane is made of them, not of its
threads' runs, and only processes with GIL events share a GIL).

The pump thread calls :meth:`Timeline.feed`; the UI thread calls :meth:`Timeline.snapshot`.
Intervals are kept packed (store.py): ``feed`` hands each RUN / SLEEP event to its lanes, which
hold the tuple only until the next fold packs it (at each snapshot, or in ``feed`` once many
are waiting), so the Timeline's memory is a few dozen bytes per interval and no event tuple is
retained. A Frame keeps references to the lanes and the number of items it saw, never a copy.
"""

from __future__ import annotations

import threading
import time
from operator import itemgetter
from typing import Any, Iterable

from concviz.engine.events import (ERROR, EV_KIND, FINISH, PROGRESS, RUN, SLEEP, SLEEP_OPEN, SPAWN, START,
                                   TRACE_KINDS, is_program_trace)
from concviz.engine.figures import RunTotals
from concviz.engine.frame import Frame, FrameAgg, threads_share_gil
from concviz.engine.prefix import RunLengths
from concviz.engine.resources import RunResources
from concviz.engine.store import LaneSet
from concviz.engine.trace_fold import TracedFolds
from concviz.engine.task import (DONE, END_REASONS, FAILED, MODEL_FAILED_REASON, NEVER_STARTED_PREFIX, NOT_STARTED,
                                 PENDING, QUEUED, RUNNING, STOPPED_REASON, UNREPORTED_REASON,  # noqa: F401
                                 Task, TaskView, close_open_runs)

_KIND = itemgetter(EV_KIND)
_ITS_OWN, _SKIPPED, _NOT_ITS_OWN = range(3)  # what _task_event made of an event


class Timeline(TracedFolds):
    """Folds event batches incrementally; thread-safe between one feeder and one reader."""

    # Intervals waiting to be packed past which feed packs them itself, on the pump's thread.
    # Task lanes come in order (one worker each): packing them is a cheap append, done past
    # FOLD_AFTER so that a flood of events does not leave tens of thousands for the UI thread's
    # next snapshot. Core and process lanes take late batches from other workers: each pack
    # merges a tail, so they wait for the snapshot (a few a second), or for FOLD_LANES_AFTER
    # (a Timeline nobody looks at until the end, a headless run, keeps no more than that).
    FOLD_AFTER = 4_096
    FOLD_LANES_AFTER = 200_000

    def __init__(self, header: dict[str, Any] | None = None, tasks: int | None = None) -> None:
        self._lock = threading.Lock()
        self.header: dict[str, Any] = header or {}
        self.tasks: dict[int, Task] = {}
        self.lanes = LaneSet()  # core lanes and GIL process lanes
        self._serial = 0
        self._token = object()  # this Timeline, for caches that span frames (not an id: reusable)
        self._touched: set[int] = set()  # tasks with new events since the last snapshot
        self._unfolded: set[int] = set()  # tasks with intervals not packed yet
        self._waiting = 0  # intervals not packed into task lanes yet
        self._waiting_lanes = 0  # RUN intervals not packed into core and process lanes yet
        self._views: dict[int, TaskView] = {}  # the last snapshot's view of each task
        self._totals = RunTotals()  # what those views add up to
        self._lengths = RunLengths()  # of every RUN interval, for the median
        self._core_ns: dict[int, int] = {}  # cpu -> RUN time recorded on it (-1: unknown)
        self._pid_tids: dict[int, set] = {}  # pid -> threads that started tasks in it
        self.traced = is_program_trace(self.header)  # waits and GIL holders come as events
        self._gil_pids: set[int] = set()  # processes whose GIL lane is made of GIL events
        self._unknown_seen: dict[str, None] = {}  # why waits were unknown (each logged once), in order
        self.version = 0
        self.events = 0
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.ended: str | None = None  # how the run ended, once it has
        self.end_message = ""
        self.log: list[tuple[int, int, str]] = []  # (t_ns, kind, text), bounded
        self.log_max = 500
        self.log_total = 0
        self.resources = RunResources()  # memory and server figures (run-level events)
        n = tasks if tasks is not None else (self.header.get("spec") or {}).get("tasks")
        for i in range(n or 0):
            self.tasks[i] = Task(i)

    @property
    def cores(self) -> dict:
        """cpu -> its packed lane of RUN intervals (see store.Intervals)."""
        return self.lanes.cores

    @property
    def proc_runs(self) -> dict:
        """pid -> the packed lane of its task threads' RUN intervals (GIL-sharing processes)."""
        return self.lanes.procs

    # --- feeding ---------------------------------------------------------------------------
    def set_header(self, header: dict[str, Any]) -> None:
        with self._lock:
            self.header = header
            self.traced = is_program_trace(header)
            for i in range((header.get("spec") or {}).get("tasks", 0)):
                self.tasks.setdefault(i, Task(i))
            self.version += 1

    def feed(self, events: Iterable[tuple]) -> None:
        """Fold a batch of events (any order across workers, in order within one worker).

        This is the pump's hot path (hundreds of thousands of events a second): an interval
        event is handed to its task's lane, its core's lane and (for a GIL-sharing process) its
        process's lane, which pack it later in bulk; the task, core lane and process lane of the
        previous event are kept at hand (a batch comes from one worker thread: long runs of the
        same ones). Every other kind goes through :meth:`_task_event`.
        """
        if not isinstance(events, (list, tuple)):
            events = list(events)
        with self._lock:
            if ERROR in map(_KIND, events):  # rare: a task failed, was found dead, or the run ended
                events = close_open_runs(self.tasks, events)
            tasks = self.tasks
            lanes = self.lanes
            procs = lanes.procs
            touched = self._touched
            hi = self.last_ns
            if hi is None:
                hi = -1 << 63
            skipped = intervals = 0
            task_ = t = None
            cpu_ = core_add = None
            core_ns = self._core_ns
            acc = 0  # RUN time on cpu_ not yet added to core_ns
            pid_ = proc_add = None
            gil_pids = self._gil_pids
            for ev in events:
                kind, task, pid, tid, t0, t1, cpu, info = ev
                if task != task_:
                    if task < 0:  # a run-level event (MEMORY, SERVER): no task's, no lane's
                        self._run_event(kind, t0, info)
                        skipped += 1
                        continue
                    t = tasks.get(task)
                    if t is None:
                        t = tasks[task] = Task(task)
                    task_ = task
                    touched.add(task)
                    self._unfolded.add(task)
                if kind == RUN:
                    d = t1 - t0
                    if t.open_run is not None and t0 >= t.open_run[0]:
                        t.open_run = None  # closed: this RUN replaces what PROGRESS showed
                    t.runs.pending.append(ev)
                    t.run_ns += d
                    intervals += 1
                    if cpu != cpu_:
                        if cpu_ is not None:
                            core_ns[cpu_] = core_ns.get(cpu_, 0) + acc
                        acc = 0
                        cpu_ = cpu
                        core_add = lanes.core(cpu).pending.append if cpu >= 0 else None
                    acc += d
                    if core_add is not None:
                        core_add(ev)
                        t.cpus.add(cpu)
                    if pid != pid_:
                        pid_ = pid
                        lane = procs.get(pid) if pid not in gil_pids else None
                        proc_add = None if lane is None else lane.pending.append
                    if proc_add is not None:
                        proc_add(ev)
                elif kind == SLEEP:
                    if t.open_sleep is not None and t0 >= t.open_sleep:
                        t.open_sleep = None
                    t.sleeps.pending.append(ev)
                    t.sleep_ns += t1 - t0
                    intervals += 1
                else:
                    whose = self._task_event(t, ev)
                    if whose == _SKIPPED:
                        skipped += 1
                        continue
                    if whose == _NOT_ITS_OWN:  # its parent's word, or the run's: the task's
                        if t1 > hi:  # own reports end before it
                            hi = t1
                        continue
                if t1 > t.seen_ns:
                    t.seen_ns = t1
                if t1 > hi:
                    hi = t1
            if cpu_ is not None:
                core_ns[cpu_] = core_ns.get(cpu_, 0) + acc
            if len(events) > skipped:
                self.last_ns = hi
            self.events += len(events) - skipped
            self.version += 1
            self._waiting += intervals
            self._waiting_lanes += intervals
            if self._waiting_lanes > self.FOLD_LANES_AFTER:
                self._fold()
            elif self._waiting > self.FOLD_AFTER:
                self._fold_tasks()

    def _task_event(self, t: Task, ev: tuple) -> int:
        """Fold an event other than RUN and SLEEP into its task. Returns _SKIPPED for a second
        report of a task's end, _NOT_ITS_OWN for an end reported by its parent or the run,
        else _ITS_OWN."""
        kind, task, pid, tid, t0, t1, cpu, info = ev
        if kind == PROGRESS:
            if t.end_ns is None:
                t.open_run = (t0, t1, cpu)
        elif kind == SLEEP_OPEN:
            if t.end_ns is None:
                t.open_sleep = t0
        elif kind in TRACE_KINDS:  # a traced program's waits, GIL holders and renames
            self._traced_event(t, ev)
        elif kind == SPAWN:
            t.spawn_ns = t0
            if self.first_ns is None or t0 < self.first_ns:
                self.first_ns = t0
        elif kind == START:
            t.start_ns, t.pid, t.tid, t.label = t0, pid, tid, info
            t.started = True
            self._pid_tids.setdefault(pid, set()).add(tid)
            if t.spawn_ns is None:
                t.spawn_ns = t0
            if self.first_ns is None or t0 < self.first_ns:
                self.first_ns = t0
            self._log(t0, START, f"task {task} started ({info or f'pid {pid}'})")
        elif kind == FINISH or kind == ERROR:
            if t.end_ns is not None:
                return _SKIPPED  # already ended (e.g. reported by the worker and the parent)
            t.end_ns = t0
            t.open_run = None
            t.open_sleep = None
            if t.start_ns is None:  # died before it could report its start
                t.start_ns = t0
                t.pid = t.pid or pid
            if kind == ERROR:
                t.failed, t.error = True, info
                own = pid == t.pid and tid == t.tid
                if t.status == NOT_STARTED:
                    self._log(t0, ERROR, f"task {task} {info}" if info.startswith(NEVER_STARTED_PREFIX)
                              else f"task {task} {NEVER_STARTED_PREFIX}: {info}")
                else:
                    self._log(t0, ERROR, f"task {task} {info}" if info == STOPPED_REASON
                              else f"task {task} FAILED: {info}")
                if not own:
                    t.end_own = False
                    return _NOT_ITS_OWN
            else:
                self._log(t0, FINISH, self._finish_text(t))
        return _ITS_OWN

    def _run_event(self, kind: int, t_ns: int, info: str) -> None:
        text = self.resources.add(kind, t_ns, info)
        if text:
            self._log(t_ns, kind, text)

    @staticmethod
    def _finish_text(t: Task) -> str:
        took = (t.end_ns - t.start_ns) / 1e9
        parts = [f"task {t.id} finished after {took:.2f} s"]
        if t.sleep_ns:
            parts.append(f"slept {t.sleep_ns / 1e9:.2f} s")
        if t.run_ns:
            parts.append(f"ran {t.run_ns / 1e9:.2f} s")
        return ", ".join(parts)

    def _log(self, t_ns: int, kind: int, text: str) -> None:
        self.log.append((t_ns, kind, text))
        self.log_total += 1
        if len(self.log) > self.log_max * 2:
            del self.log[: len(self.log) - self.log_max]

    def end(self, status: str, message: str = "", t_ns: int | None = None) -> list[tuple]:
        """Mark the run as ended. Tasks that never reported an end get an ERROR saying why;
        those synthesized events are returned (a trace records them, so a replay agrees)."""
        with self._lock:
            t_end = t_ns or self.last_ns or time.perf_counter_ns()
            reason = END_REASONS.get(status, UNREPORTED_REASON)
            if status == "error" and message:
                reason = MODEL_FAILED_REASON.format(message)
            pending = [t for t in self.tasks.values() if t.end_ns is None]
        events = [(ERROR, t.id, t.pid or 0, 0, max(t_end, t.start_ns or t_end),
                   max(t_end, t.start_ns or t_end), -1, reason) for t in pending]
        self.feed(events)
        with self._lock:
            self.ended = status
            self.end_message = message
            self.version += 1
        return events

    # --- reading ---------------------------------------------------------------------------
    def snapshot(self, now_ns: int | None = None) -> Frame:
        """An immutable view of everything so far. ``now_ns`` is where the live edge is (live
        runs: the current clock; replays: the replay cursor); by default the last event."""
        with self._lock:
            self._serial += 1
            thread_pids = self._fold()
            lanes = self.lanes
            lanes.note_snapshot(self._serial)
            if self.ended is not None or now_ns is None:
                now_ns = self.last_ns or 0
            return Frame(
                version=self.version,
                header=dict(self.header),
                tasks=self._task_views(),
                cores={c: (lane, len(lane)) for c, lane in lanes.cores.items()},
                proc_runs={p: (lane, len(lane)) for p, lane in lanes.procs.items()},
                first_ns=self.first_ns,
                now_ns=now_ns,
                ended=self.ended,
                end_message=self.end_message,
                log=tuple(self.log[-self.log_max:]),
                log_total=self.log_total,
                events=self.events,
                resources=self.resources.view(),
                unknown=tuple(self._unknown_seen),
                agg=FrameAgg(
                    thread_pids=thread_pids,
                    gil_switches=sum(lanes.switches.get(p, 0) for p in thread_pids),
                    run_median_ns=self._lengths.median_ns(),
                    run_count=self._lengths.count,
                    core_ns=dict(self._core_ns),
                    totals=self._totals.view(),
                    serial=self._serial,
                    timeline=self._token,
                    lane_log=lanes.log,  # lists only appended to, or replaced
                    lane_log_floor=dict(lanes.log_floor),
                ),
            )

    LANE_LOG_KEEP = LaneSet.LOG_KEEP

    def _fold(self) -> frozenset[int]:
        """Pack every interval handed to a lane since the last fold (task lanes first: a new
        process lane is made from its tasks' runs). O(new intervals), plus the tail a late
        batch is merged into. Returns the processes whose task threads share a GIL."""
        self._fold_tasks()
        tasks = self.tasks
        if self.traced:  # a GIL is shared where the trace saw it held
            thread_pids = frozenset(self._gil_pids)
        else:
            thread_pids = frozenset(p for p, tids in self._pid_tids.items() if len(tids) > 1
                                    and threads_share_gil(self.header))
        self.lanes.fold(tasks, thread_pids)
        self._waiting_lanes = 0
        return thread_pids

    def _fold_tasks(self) -> None:
        """Pack the task lanes' new intervals (and the RUN lengths, for the median)."""
        tasks = self.tasks
        new_lengths = self._lengths.new
        for i in self._unfolded:
            t = tasks[i]
            if t.runs.pending:
                new_lengths += t.runs.fold()[1]
            if t.sleeps.pending:
                t.sleeps.fold()
            if t.waits:
                for lane in t.waits.values():
                    if lane.pending:
                        lane.fold()
        self._unfolded.clear()
        self._lengths.fold()
        self._waiting = 0

    def _task_views(self) -> tuple:
        """Every task's view, in id order; only tasks with new events get a new one."""
        views = self._views
        tasks = self.tasks
        added = False
        totals = self._totals
        for i in self._touched:
            added = added or i not in views
            view = TaskView.of(tasks[i])
            totals.replace(views.get(i), view)
            views[i] = view
        self._touched.clear()
        if len(views) != len(tasks):
            for i, t in tasks.items():
                if i not in views:
                    views[i] = TaskView.of(t)
                    totals.replace(None, views[i])
            added = True
        if added:
            self._views = views = dict(sorted(views.items()))
        return tuple(views.values())
