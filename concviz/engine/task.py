"""A task as the engine knows it: its status, how a run's end is worded, and its record.

:class:`Task` is the Timeline's mutable record of one task (fed under its lock);
:class:`TaskView` is the frozen copy a Frame holds. Both the Timeline and the Frame (and the
cell functions) need these, so they live here, below both.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from operator import itemgetter

from concviz.engine.events import ERROR, EV_CPU, EV_KIND, EV_PID, EV_T0, EV_T1, EV_TASK, EV_TID, PROGRESS, RUN, START
from concviz.engine.store import Intervals

END_REASONS = {
    "timeout": "timed out: the run hit its time limit and was stopped",
    "cancelled": "stopped: the run was cancelled",
    "crashed": "lost: the experiment process died",
}
# a task cut short by the user stopping the run: it did not finish (it counts as failed), but
# nothing went wrong with it, and the panes say so
STOPPED_REASON = END_REASONS["cancelled"]
UNREPORTED_REASON = "lost: the task never reported an end"  # a run that ended "ok" without it
MODEL_FAILED_REASON = "lost: the model failed ({})"
# what a pool model says of a task a dead worker took off the queue before running it
NEVER_STARTED_PREFIX = "never started"


def ended_by_the_run(error: str | None) -> bool:
    """``error`` is the run's end (time limit, stop, crash, a model that failed) or a pool's
    loss of a queued task, not something the task itself did."""
    return error is not None and (error in END_REASONS.values() or error == UNREPORTED_REASON
                                  or error.startswith((MODEL_FAILED_REASON[:-3], NEVER_STARTED_PREFIX)))

# task status. NOT_STARTED: the run ended (time limit, stop, crash) or its pool lost the task
# before the task ever started: it did not fail, it never ran. FAILED is for tasks that raised,
# died (their worker found dead, even before their START), or were cut short.
PENDING, QUEUED, RUNNING, DONE, FAILED = "pending", "queued", "running", "done", "failed"
NOT_STARTED = "not started"

_CPU = itemgetter(EV_CPU)


@dataclass
class Task:
    """Everything known about one task so far (mutated only by the Timeline, under its lock)."""

    id: int
    spawn_ns: int | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    pid: int | None = None
    tid: int | None = None
    label: str | None = None
    started: bool = False  # the task reported its own START
    failed: bool = False
    error: str | None = None
    runs: Intervals = field(default_factory=lambda: Intervals(_CPU, "h"))  # RUN intervals, tagged by CPU
    sleeps: Intervals = field(default_factory=lambda: Intervals(None))  # SLEEP intervals
    run_ns: int = 0
    sleep_ns: int = 0
    cpus: set = field(default_factory=set)
    open_run: tuple | None = None  # (t0, now, cpu) of a RUN interval not closed yet (PROGRESS)
    open_sleep: int | None = None  # start of a sleep still going on (SLEEP_OPEN)
    seen_ns: int = 0  # the latest instant this task reported about (for the live edge)
    # False when the end was not the task's own report but its parent's (a worker process found
    # dead) or the run's (stopped, timed out, crashed): what it did after its last report is
    # not known
    end_own: bool = True
    # a traced thread's named waits (WAIT events): state -> its intervals, and their total time;
    # None for a task of a run (its waits are worked out from its siblings' runs)
    waits: dict | None = None
    wait_ns: dict | None = None
    open_wait: tuple | None = None  # (state, t0, t1): a named wait going on, not yet a WAIT event

    @property
    def status(self) -> str:
        if self.end_ns is not None:
            if not self.failed:
                return DONE
            return NOT_STARTED if not self.started and ended_by_the_run(self.error) else FAILED
        if self.start_ns is not None:
            return RUNNING
        return QUEUED if self.spawn_ns is not None else PENDING


@dataclass(frozen=True)
class TaskView:
    """A task as a Frame sees it: its fields, plus how many intervals existed at the snapshot."""

    id: int
    spawn_ns: int | None
    start_ns: int | None
    end_ns: int | None
    pid: int | None
    tid: int | None
    label: str | None
    status: str
    error: str | None
    runs: Intervals  # shared with the Timeline: read only the first n_runs
    n_runs: int
    sleeps: Intervals
    n_sleeps: int
    run_ns: int
    sleep_ns: int
    cpus: tuple
    resorts: int = 0  # folds that re-ordered this task's packed intervals, up to the snapshot
    open_run: tuple | None = None  # (t0, now, cpu): running, not yet closed by a RUN
    open_sleep: int | None = None  # start of a sleep still going on
    seen_ns: int = 0  # the latest instant the task reported about
    end_own: bool = True  # the end was the task's own report (see Task.end_own)
    # a traced thread's named waits: (state, its intervals, how many the snapshot saw), in
    # state order, and (state, total ns); empty for a task of a run
    waits: tuple = ()
    wait_ns: tuple = ()
    open_wait: tuple | None = None  # (state, t0, t1): a named wait going on (live only)

    @classmethod
    def of(cls, t: Task) -> "TaskView":
        """The view of ``t`` now (its packed interval lanes are shared, with their current lengths)."""
        resorts = t.runs.resorts + t.sleeps.resorts
        waits = wait_ns = ()
        if t.waits or t.open_wait:
            waits = tuple((s, lane, len(lane)) for s, lane in sorted((t.waits or {}).items()))
            wait_ns = tuple(sorted((t.wait_ns or {}).items()))
            resorts += sum(lane.resorts for lane in (t.waits or {}).values())
        return cls(id=t.id, spawn_ns=t.spawn_ns, start_ns=t.start_ns, end_ns=t.end_ns, pid=t.pid,
                   tid=t.tid, label=t.label, status=t.status, error=t.error,
                   runs=t.runs, n_runs=len(t.runs), sleeps=t.sleeps, n_sleeps=len(t.sleeps),
                   run_ns=t.run_ns, sleep_ns=t.sleep_ns, cpus=tuple(sorted(t.cpus)),
                   resorts=resorts, open_run=t.open_run,
                   open_sleep=t.open_sleep, seen_ns=t.seen_ns, end_own=t.end_own,
                   waits=waits, wait_ns=wait_ns, open_wait=t.open_wait if t.end_ns is None else None)

    @property
    def open_ns(self) -> int:
        """Running time reported so far by PROGRESS and not yet in a closed RUN interval."""
        return self.open_run[1] - self.open_run[0] if self.open_run else 0

    @property
    def stopped(self) -> bool:
        """Failed because the user stopped the run (see STOPPED_REASON), not by a fault: a task
        cut short while it ran (one that never started is NOT_STARTED)."""
        return self.status == FAILED and self.error == STOPPED_REASON


def lane_end(t: TaskView, now: int) -> int | None:
    """Where a task lane's life ends: at its end, or now while it is known to be asleep, or
    else (live) where the task's own reports end. After that it may be running (reported when
    it next flushes) or waiting (known once it runs again): drawing that stretch as "waiting"
    would be a guess, so it stays blank until it is known."""
    if t.start_ns is None:
        return None
    if t.end_ns is not None:
        # an end the task did not report itself (found dead, stopped, timed out): what it did
        # between its last report and then is not known, and is left blank
        return t.end_ns if t.end_own else max(t.seen_ns, t.start_ns)
    return now if t.open_sleep is not None else max(t.seen_ns, t.start_ns)


def median(values: list[float]) -> float:
    """The median of ``values``, 0.0 for none."""
    return statistics.median(values) if values else 0.0


def close_open_runs(tasks: dict[int, Task], events: list | tuple) -> list:
    """``events`` with a RUN event before each ERROR that is not the task's own report, for the
    RUN interval PROGRESS last reported open (``tasks``: the Timeline's, by id): the task was
    measured running until then (a worker killed mid-interval never sends the RUN that would
    have closed it), and the lanes, cores and figures should show it so."""
    out = []
    open_: dict[int, tuple | None] = {}  # task -> (t0, t1, cpu, pid, tid) open in this batch
    ids: dict[int, tuple] = {}  # task -> (pid, tid) from a START in this batch
    for e in events:
        kind, task = e[EV_KIND], e[EV_TASK]
        if kind == PROGRESS:
            open_[task] = (e[EV_T0], e[EV_T1], e[EV_CPU], e[EV_PID], e[EV_TID])
        elif kind == RUN:
            o = open_.get(task)
            if o is not None and e[EV_T0] >= o[0]:
                open_[task] = None  # closed
        elif kind == START:
            ids[task] = (e[EV_PID], e[EV_TID])
        elif kind == ERROR:
            t = tasks.get(task)
            pid, tid = ids.get(task) or ((t.pid, t.tid) if t is not None else (None, None))
            if t is not None and t.end_ns is None and (e[EV_PID] != pid or e[EV_TID] != tid):
                if task in open_:
                    o = open_[task]
                else:
                    o = None if t.open_run is None else (*t.open_run, t.pid, t.tid)
                if o is not None and o[1] > o[0]:
                    out.append((RUN, task, o[3], o[4], o[0], o[1], o[2], None))
                open_[task] = None
        out.append(e)
    return out
