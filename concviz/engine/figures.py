"""The run's whole-run figures, kept task by task: what :attr:`Frame.stats` is made of.

Each task adds to the figures through what its view says: its status, its running time, its
time in flight (start to end), its start latency. A Timeline keeps one :class:`RunTotals` and,
at each snapshot, takes out the old view of every task that had events and puts its new view
in, so that a frame of a run of 10,000 tasks costs what changed, not a pass over every task.
A Frame built by hand folds its tasks into a fresh RunTotals: the same rule either way.

Concurrency over time comes from the tasks' starts and ends kept in one sorted list of marks
(an end at t is ``2t``, a start ``2t + 1``: at the same instant an end comes first); its
time-weighted mean is the sum of each task's time in flight (its start to its end, or to now
while it runs) over the wall time.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from itertools import accumulate
from typing import NamedTuple

from concviz.engine.task import DONE, FAILED, NOT_STARTED, QUEUED, RUNNING, STOPPED_REASON, TaskView

# Past this many marks changed in one snapshot, they are sorted in at once rather than one by one.
BULK = 256


class TotalsView(NamedTuple):
    """The figures at one snapshot (immutable; the lists are the snapshot's own copies)."""

    counts: dict  # status -> tasks
    stopped: int  # failed tasks cut short by a stop
    busy_ns: int  # RUN time, the open runs' included
    ended: int  # tasks with an end
    last_end_ns: int | None
    live: int  # tasks started and not ended
    live_starts_ns: int  # the sum of their starts
    ended_flight_ns: int  # the sum of the ended tasks' (end - start), for those that started
    marks: tuple  # every start (2t + 1) and end (2t), sorted
    spawn_ms: tuple  # each started task's start latency (SPAWN to START), sorted
    open_runs: tuple  # (task, (t0, now, cpu)) of every RUN still open, by task

    def concurrency(self, now: int) -> tuple[int, int]:
        """(most tasks in flight at once, their time in flight summed), the running ones up
        to ``now``."""
        area = self.ended_flight_ns + self.live * now - self.live_starts_ns
        if not self.marks:
            return 0, area
        acc = list(accumulate(((m & 1) << 1) - 1 for m in self.marks))
        k = bisect_right(self.marks, 2 * now)  # the running tasks end at now, before what follows
        cmax = max(0, max(acc[:k], default=0))
        if k < len(acc):
            cmax = max(cmax, max(acc[k:]) - self.live)
        return cmax, area


def _marks(t: TaskView) -> tuple[int, ...]:
    if t.start_ns is None:
        return ()
    return (2 * t.start_ns + 1,) if t.end_ns is None else (2 * t.start_ns + 1, 2 * t.end_ns)


def _spawn(t: TaskView) -> tuple[float, ...]:
    # tid is set only by a START the task itself recorded (not by a parent-side ERROR)
    if t.start_ns is None or t.tid is None or t.spawn_ns is None:
        return ()
    return ((t.start_ns - t.spawn_ns) / 1e6,)


class RunTotals:
    """The figures of a set of task views, kept up to date one view at a time."""

    def __init__(self) -> None:
        self.counts = {RUNNING: 0, DONE: 0, FAILED: 0, NOT_STARTED: 0, QUEUED: 0}
        self.stopped = self.busy_ns = self.ended = self.live = self.live_starts_ns = self.ended_flight_ns = 0
        self.last_end_ns: int | None = None
        self.marks: list[int] = []
        self.spawn_ms: list[float] = []
        self.open_runs: dict[int, tuple] = {}
        self._changed = True
        self._view: TotalsView | None = None
        # changes not sorted in yet, as value -> how many: (added, taken out)
        self._marks_in: dict[int, int] = {}
        self._marks_out: dict[int, int] = {}
        self._spawn_in: dict[float, int] = {}
        self._spawn_out: dict[float, int] = {}

    @classmethod
    def of(cls, tasks: tuple[TaskView, ...]) -> TotalsView:
        """The figures of ``tasks``."""
        totals = cls()
        for t in tasks:
            totals.replace(None, t)
        return totals.view()

    def replace(self, old: TaskView | None, new: TaskView) -> None:
        """``new`` is the view of a task whose figures were ``old``'s (None: a new task)."""
        if old is not None:
            self._count(old, -1)
        self._count(new, 1)
        old_marks, new_marks = _marks(old) if old else (), _marks(new)
        if old_marks != new_marks:
            self._swap(self._marks_in, self._marks_out, old_marks, new_marks)
        old_spawn, new_spawn = _spawn(old) if old else (), _spawn(new)
        if old_spawn != new_spawn:
            self._swap(self._spawn_in, self._spawn_out, old_spawn, new_spawn)
        self._changed = True

    def _count(self, t: TaskView, sign: int) -> None:
        status = t.status
        if status in self.counts:
            self.counts[status] += sign
        if status == FAILED and t.error == STOPPED_REASON:
            self.stopped += sign
        self.busy_ns += sign * (t.run_ns + t.open_ns)
        if t.open_run is not None:
            if sign > 0:
                self.open_runs[t.id] = t.open_run
            else:
                self.open_runs.pop(t.id, None)
        if t.end_ns is not None:
            self.ended += sign
            # (a task's end is set once: the latest end only grows)
            if sign > 0 and (self.last_end_ns is None or t.end_ns > self.last_end_ns):
                self.last_end_ns = t.end_ns
            if t.start_ns is not None:
                self.ended_flight_ns += sign * (t.end_ns - t.start_ns)
        elif t.start_ns is not None:
            self.live += sign
            self.live_starts_ns += sign * t.start_ns

    @staticmethod
    def _swap(added: dict, taken: dict, old: tuple, new: tuple) -> None:
        for x in old:
            n = added.get(x)
            if n:  # (added since the last view: not sorted in yet)
                if n == 1:
                    del added[x]
                else:
                    added[x] = n - 1
            else:
                taken[x] = taken.get(x, 0) + 1
        for x in new:
            added[x] = added.get(x, 0) + 1

    @staticmethod
    def _merge(sorted_list: list, added: dict, taken: dict) -> None:
        """Sort the pending changes into ``sorted_list``: a few one by one, many in one pass
        (one by one, each costs a move of the list's tail)."""
        if sum(taken.values()) > BULK:
            kept = []
            for x in sorted_list:
                n = taken.get(x)
                if n:
                    taken[x] = n - 1
                else:
                    kept.append(x)
            sorted_list[:] = kept
        else:
            for x, n in taken.items():
                for _ in range(n):
                    del sorted_list[bisect_right(sorted_list, x) - 1]
        taken.clear()
        if sum(added.values()) > BULK:
            for x, n in added.items():
                sorted_list.extend([x] * n)
            sorted_list.sort()
        else:
            for x, n in added.items():
                for _ in range(n):
                    insort(sorted_list, x)
        added.clear()

    def view(self) -> TotalsView:
        """The figures now (the same object until a view is replaced)."""
        if self._changed or self._view is None:
            self._merge(self.marks, self._marks_in, self._marks_out)
            self._merge(self.spawn_ms, self._spawn_in, self._spawn_out)
            self._view = TotalsView(
                dict(self.counts), self.stopped, self.busy_ns, self.ended, self.last_end_ns, self.live,
                self.live_starts_ns, self.ended_flight_ns, tuple(self.marks), tuple(self.spawn_ms),
                tuple(sorted(self.open_runs.items())))
            self._changed = False
        return self._view
