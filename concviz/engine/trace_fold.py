"""What a Timeline folds of a traced program (``concviz trace``/``attach``) besides a run's
events: its threads' named waits (WAIT: a lane per state, per task), the inferred GIL holders
(GIL: a process's GIL lane made of them, not of its threads' runs), renames (NAME), and the
waits going on now (live only, not recorded).

A mixin of :class:`concviz.engine.timeline.Timeline`, kept apart so that the Timeline's own
module stays the fold of a run; everything here runs under the Timeline's lock, as its feed does.
"""

from __future__ import annotations

from concviz.engine.events import GIL, NAME, WAIT, wait_state
from concviz.engine.store import Intervals
from concviz.engine.task import Task


class TracedFolds:
    """The folds of WAIT, GIL and NAME events, and the open waits of a live trace."""

    _open_waits: set = frozenset()  # tasks with an open wait (set_open_waits)

    def _traced_event(self, t: Task, ev: tuple) -> None:
        kind, pid = ev[0], ev[2]
        if kind == WAIT:
            self._wait(t, ev)
        elif kind == GIL:
            lane = self.lanes.procs.get(pid)
            if lane is None or pid not in self._gil_pids:
                lane = self.lanes.gil_lane(pid)
                self._gil_pids.add(pid)
            lane.pending.append(ev)
            self._waiting_lanes += 1
        elif kind == NAME:
            t.label = ev[7]

    def set_open_waits(self, opens: dict[int, tuple[str, int, int]]) -> None:
        """The named waits going on now (task -> (state, since, until)), from a live trace:
        drawn until their WAIT event arrives. Not recorded (a trace file has the WAITs)."""
        with self._lock:
            shown = self._open_waits  # the tasks drawn with an open wait: only they can change
            for task in shown.union(opens):
                t = self.tasks.get(task)
                if t is None:
                    continue
                o = opens.get(task) if t.end_ns is None else None
                if o != t.open_wait:
                    t.open_wait = o
                    self._touched.add(task)
            self._open_waits = {task for task in opens if task in self.tasks}
            self.version += 1

    def _wait(self, t: Task, ev: tuple) -> None:
        """A traced thread's named wait: kept in its lane of that state (the first tells the
        log why a wait could not be named, once per reason)."""
        state = wait_state(ev[7]) or "unknown"
        if t.waits is None:
            t.waits, t.wait_ns = {}, {}
        lane = t.waits.get(state)
        if lane is None:
            lane = t.waits[state] = Intervals(None)
            t.wait_ns[state] = 0
        lane.pending.append(ev)
        t.wait_ns[state] += ev[5] - ev[4]
        self._waiting += 1
        if state == "unknown":
            why = ev[7].partition(":")[2].strip() or "not measured"
            if why not in self._unknown_seen:
                self._unknown_seen[why] = None
                self._log(ev[4], WAIT, f"task {t.id}: what it waited for is unknown: {why}")
