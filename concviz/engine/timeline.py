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

The pump thread calls :meth:`Timeline.feed`; the UI thread calls :meth:`Timeline.snapshot`.
Interval lists are append-only between snapshots, so a Frame can keep references to them and
the number of items it saw, and never copy them.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from operator import itemgetter
from typing import Any, Iterable

from concviz.engine.events import ERROR, FINISH, PROGRESS, RUN, SLEEP, SLEEP_OPEN, SPAWN, START
from concviz.engine.frame import Frame, FrameAgg
from concviz.engine.prefix import EVENT_T0, LaneIndex, RunLengths
from concviz.engine.task import (DONE, END_REASONS, FAILED, PENDING, QUEUED, RUNNING, STOPPED_REASON,  # noqa: F401
                                 Task, TaskView)

_KIND = itemgetter(0)


class Timeline:
    """Folds event batches incrementally; thread-safe between one feeder and one reader."""

    def __init__(self, header: dict[str, Any] | None = None, tasks: int | None = None) -> None:
        self._lock = threading.Lock()
        self.header: dict[str, Any] = header or {}
        self.tasks: dict[int, Task] = {}
        self.cores: dict[int, list] = {}  # cpu -> RUN events recorded on it (the event tuples)
        self.proc_runs: dict[int, list] = {}  # pid -> RUN events of its threads (the event tuples)
        # lanes appended to out of time order since the last snapshot -> index of the first
        # out-of-order item (everything before it is still sorted)
        self._dirty: dict[tuple[str, int], int] = {}
        # per core / process lane: (snapshot serial, earliest start among the events that came
        # in before that snapshot), so a pane can redo only the columns after it (frame.py)
        self._serial = 0
        self._token = object()  # this Timeline, for caches that span frames (not an id: reusable)
        self._lane_seen: dict[tuple[str, int], int] = {}  # lane -> its length at the last snapshot
        self._lane_log: dict[tuple[str, int], list[tuple[int, int]]] = {}
        self._lane_log_floor: dict[tuple[str, int], int] = {}  # serials up to this were dropped
        self._touched: set[int] = set()  # tasks with new events since the last snapshot
        self._views: dict[int, TaskView] = {}  # the last snapshot's view of each task
        self._index = LaneIndex()  # running sums of the lanes, GIL hand-offs (see prefix.py)
        self._lengths = RunLengths()  # of every RUN interval, for the median
        self._core_ns: dict[int, int] = {}  # cpu -> RUN time recorded on it (-1: unknown)
        self._pid_tids: dict[int, set] = {}  # pid -> threads that started tasks in it
        self.version = 0
        self.events = 0
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.ended: str | None = None  # how the run ended, once it has
        self.end_message = ""
        self.log: list[tuple[int, int, str]] = []  # (t_ns, kind, text), bounded
        self.log_max = 500
        self.log_total = 0
        n = tasks if tasks is not None else (self.header.get("spec") or {}).get("tasks")
        for i in range(n or 0):
            self.tasks[i] = Task(i)

    # --- feeding ---------------------------------------------------------------------------
    def set_header(self, header: dict[str, Any]) -> None:
        with self._lock:
            self.header = header
            for i in range((header.get("spec") or {}).get("tasks", 0)):
                self.tasks.setdefault(i, Task(i))
            self.version += 1

    def feed(self, events: Iterable[tuple]) -> None:
        """Fold a batch of events (any order across workers, in order within one worker).

        This is the pump's hot path (hundreds of thousands of events a second), so it caches
        the task, core lane and process lane of the previous event (a batch comes from one
        worker thread: long runs of the same ones) and keeps the event tuples themselves in the
        core and process lanes instead of building new ones.
        """
        if not isinstance(events, (list, tuple)):
            events = list(events)
        with self._lock:
            if ERROR in map(_KIND, events):  # rare: a task failed, was found dead, or the run ended
                events = self._close_open_runs(events)
            tasks = self.tasks
            cores = self.cores
            proc_runs = self.proc_runs
            dirty = self._dirty
            touched = self._touched
            hi = self.last_ns
            if hi is None:
                hi = -1 << 63
            skipped = 0
            task_ = t = None
            cpu_ = lane = None
            lane_last = 0
            core_ns = self._core_ns
            acc = 0  # RUN time on cpu_ not yet added to core_ns
            new_length = self._lengths.new.append
            pid_ = prun = None
            prun_last = 0
            for ev in events:
                kind, task, pid, tid, t0, t1, cpu, info = ev
                if task != task_:
                    t = tasks.get(task)
                    if t is None:
                        t = tasks[task] = Task(task)
                    task_ = task
                    touched.add(task)
                if kind == RUN:
                    d = t1 - t0
                    if t.open_run is not None and t0 >= t.open_run[0]:
                        t.open_run = None  # closed: this RUN replaces what PROGRESS showed
                    t.runs.append((t0, t1, cpu))
                    rn = t.run_ns + d
                    t.run_ns = rn
                    t.run_cum.append(rn)
                    new_length(d)
                    if cpu != cpu_:
                        if cpu_ is not None:
                            core_ns[cpu_] = core_ns.get(cpu_, 0) + acc
                        acc = 0
                        cpu_ = cpu
                        if cpu >= 0:
                            lane = cores.get(cpu)
                            if lane is None:
                                lane = cores[cpu] = []
                            lane_last = lane[-1][4] if lane else t0
                    acc += d
                    if cpu >= 0:
                        if t0 < lane_last and ("c", cpu) not in dirty:
                            dirty[("c", cpu)] = len(lane)  # lane[:len] is still in order
                        lane_last = t0
                        lane.append(ev)
                        t.cpus.add(cpu)
                    if pid != pid_:
                        prun = proc_runs.get(pid)
                        if prun is None:
                            prun = proc_runs[pid] = []
                        pid_ = pid
                        prun_last = prun[-1][4] if prun else t0
                    if t0 < prun_last and ("p", pid) not in dirty:
                        dirty[("p", pid)] = len(prun)
                    prun_last = t0
                    prun.append(ev)
                elif kind == PROGRESS:
                    if t.end_ns is None:
                        t.open_run = (t0, t1, cpu)
                elif kind == SLEEP_OPEN:
                    if t.end_ns is None:
                        t.open_sleep = t0
                elif kind == SLEEP:
                    if t.open_sleep is not None and t0 >= t.open_sleep:
                        t.open_sleep = None
                    t.sleeps.append((t0, t1))
                    sn = t.sleep_ns + t1 - t0
                    t.sleep_ns = sn
                    t.sleep_cum.append(sn)
                elif kind == SPAWN:
                    t.spawn_ns = t0
                    if self.first_ns is None or t0 < self.first_ns:
                        self.first_ns = t0
                elif kind == START:
                    t.start_ns, t.pid, t.tid, t.label = t0, pid, tid, info
                    self._pid_tids.setdefault(pid, set()).add(tid)
                    if t.spawn_ns is None:
                        t.spawn_ns = t0
                    if self.first_ns is None or t0 < self.first_ns:
                        self.first_ns = t0
                    self._log(t0, START, f"task {task} started ({info or f'pid {pid}'})")
                elif kind == FINISH or kind == ERROR:
                    if t.end_ns is not None:
                        skipped += 1
                        continue  # already ended (e.g. reported by the worker and the parent)
                    t.end_ns = t0
                    t.open_run = None
                    t.open_sleep = None
                    if t.start_ns is None:  # died before it could report its start
                        t.start_ns = t0
                        t.pid = t.pid or pid
                    if kind == ERROR:
                        t.failed, t.error = True, info
                        self._log(t0, ERROR, f"task {task} {info}" if info == STOPPED_REASON
                                  else f"task {task} FAILED: {info}")
                        if pid != t.pid or tid != t.tid:  # its parent's word, or the run's
                            t.end_own = False
                            if t1 > hi:
                                hi = t1
                            continue  # not a report of the task's own: its reports end before
                    else:
                        self._log(t0, FINISH, self._finish_text(t))
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
            reason = END_REASONS.get(status, "lost: the task never reported an end")
            if status == "error" and message:
                reason = f"lost: the model failed ({message})"
            pending = [t for t in self.tasks.values() if t.end_ns is None]
        events = [(ERROR, t.id, t.pid or 0, 0, max(t_end, t.start_ns or t_end),
                   max(t_end, t.start_ns or t_end), -1, reason) for t in pending]
        self.feed(events)
        with self._lock:
            self.ended = status
            self.end_message = message
            self.version += 1
        return events

    def _close_open_runs(self, events: list | tuple) -> list:
        """``events`` with a RUN event before each ERROR that is not the task's own report, for
        the RUN interval PROGRESS last reported open: the task was measured running until then
        (a worker killed mid-interval never sends the RUN that would have closed it), and the
        lanes, cores and figures should show it so."""
        out = []
        open_: dict[int, tuple | None] = {}  # task -> (t0, t1, cpu, pid, tid) open in this batch
        ids: dict[int, tuple] = {}  # task -> (pid, tid) from a START in this batch
        for e in events:
            kind, task = e[0], e[1]
            if kind == PROGRESS:
                open_[task] = (e[4], e[5], e[6], e[2], e[3])
            elif kind == RUN:
                o = open_.get(task)
                if o is not None and e[4] >= o[0]:
                    open_[task] = None  # closed
            elif kind == START:
                ids[task] = (e[2], e[3])
            elif kind == ERROR:
                t = self.tasks.get(task)
                pid, tid = ids.get(task) or ((t.pid, t.tid) if t is not None else (None, None))
                if t is not None and t.end_ns is None and (e[2] != pid or e[3] != tid):
                    if task in open_:
                        o = open_[task]
                    else:
                        o = None if t.open_run is None else (*t.open_run, t.pid, t.tid)
                    if o is not None and o[1] > o[0]:
                        out.append((RUN, task, o[3], o[4], o[0], o[1], o[2], None))
                    open_[task] = None
            out.append(e)
        return out

    # --- reading ---------------------------------------------------------------------------
    def snapshot(self, now_ns: int | None = None) -> Frame:
        """An immutable view of everything so far. ``now_ns`` is where the live edge is (live
        runs: the current clock; replays: the replay cursor); by default the last event."""
        with self._lock:
            index = self._index
            self._serial += 1
            self._fold_lanes()
            thread_pids = frozenset(p for p, tids in self._pid_tids.items() if len(tids) > 1)
            index.update(self.cores, self.proc_runs, thread_pids)
            self._lengths.fold()
            if self.ended is not None or now_ns is None:
                now_ns = self.last_ns or 0
            return Frame(
                version=self.version,
                header=dict(self.header),
                tasks=self._task_views(),
                cores={c: (lane, len(lane)) for c, lane in self.cores.items()},
                proc_runs={p: (runs, len(runs)) for p, runs in self.proc_runs.items()},
                first_ns=self.first_ns,
                now_ns=now_ns,
                ended=self.ended,
                end_message=self.end_message,
                log=tuple(self.log[-self.log_max:]),
                log_total=self.log_total,
                events=self.events,
                agg=FrameAgg(
                    thread_pids=thread_pids,
                    gil_switches=index.gil_switches(thread_pids),
                    run_median_ns=self._lengths.median_ns(),
                    run_count=self._lengths.count,
                    core_ns=dict(self._core_ns),
                    lane_cum=dict(index.cum),
                    serial=self._serial,
                    timeline=self._token,
                    lane_log=self._lane_log,  # lists only appended to, or replaced
                    lane_log_floor=dict(self._lane_log_floor),
                ),
            )

    LANE_LOG_KEEP = 64

    def _fold_lanes(self) -> None:
        """Put back in time order the core and process lanes that late batches disordered,
        and note, for each lane that got events since the last snapshot, the earliest start
        among them: the lane is unchanged before that instant (items a late arrival pushed
        along start after it). O(new events)."""
        serial = self._serial
        seen = self._lane_seen
        log = self._lane_log
        dirty = self._dirty
        index = self._index
        for what, lanes in (("c", self.cores), ("p", self.proc_runs)):
            for key, lane in lanes.items():
                k = (what, key)
                n0 = seen.get(k, 0)
                if len(lane) <= n0:
                    continue
                # new items before the first one out of order came in order: this is their earliest
                at = lane[n0][4]
                first_bad = dirty.pop(k, None)
                if first_bad is not None:
                    j, earliest = _resort_tail(lane, first_bad)
                    index.truncate(k, j)
                    if earliest is not None and earliest < at:
                        at = earliest
                seen[k] = len(lane)
                entries = log.get(k)
                if entries is None:
                    entries = log[k] = []
                entries.append((serial, at))
                if len(entries) > 2 * self.LANE_LOG_KEEP:
                    self._lane_log_floor[k] = entries[-self.LANE_LOG_KEEP - 1][0]
                    log[k] = entries[-self.LANE_LOG_KEEP:]  # a new list: readers keep theirs
        # (a lane is only marked disordered when an item is appended to it, so every marked
        # lane grew since the last snapshot and was put back in order above)

    def _task_views(self) -> tuple:
        """Every task's view, in id order; only tasks with new events get a new one."""
        views = self._views
        tasks = self.tasks
        added = False
        for i in self._touched:
            added = added or i not in views
            views[i] = TaskView.of(tasks[i])
        self._touched.clear()
        if len(views) != len(tasks):
            for i, t in tasks.items():
                if i not in views:
                    views[i] = TaskView.of(t)
            added = True
        if added:
            self._views = views = dict(sorted(views.items()))
        return tuple(views.values())


def _resort_tail(lane: list, first_bad: int) -> tuple[int, int | None]:
    """Restore time order in a lane whose items from ``first_bad`` on arrived out of order.

    Only the tail that can have moved is sorted: from the first in-order item that starts after
    the earliest late arrival. Late arrivals are recent (one flush interval, or one sleep of a
    worker that had not flushed), so this costs O(tail), not O(lane), per snapshot. Returns the
    index from which items may have moved, and the earliest start among the late arrivals.
    """
    earliest = min(map(EVENT_T0, lane[first_bad:]), default=None)
    if earliest is None:
        return len(lane), None
    j = bisect_left(lane, earliest, 0, first_bad, key=EVENT_T0)
    lane[j:] = sorted(lane[j:], key=EVENT_T0)
    return j, earliest
