"""Where a lane changed between two frames: what the panes' cross-frame caches build on.

A live run changes near its right edge. A pane that keeps a lane's columns from the last frame
(concviz/widgets/lane_cache.py) asks these functions for the earliest instant at which the lane
may differ, and redoes only the columns from there on. Core and process lanes answer through
:meth:`Frame.lane_changed_from` (the Timeline logs, per snapshot, the earliest start among what
each lane got); task lanes through :func:`changed_from` (their views are compared).
"""

from __future__ import annotations

from concviz.engine.task import TaskView, lane_end

INF = float("inf")


def first_changed_column(at: float, t0: int, t1: int, width: int) -> int:
    """The column of [t0, t1) split ``width`` ways that holds instant ``at`` (0 before t0,
    ``width`` after t1 or for +inf): the first one a change at ``at`` can reach."""
    if at <= t0:
        return 0
    if at >= t1:
        return width
    return min(width, int((at - t0) / ((t1 - t0) / width)))


def changed_from(old: TaskView, new: TaskView, old_now: int, new_now: int) -> float:
    """The earliest instant at which the lane of ``new`` may differ from the lane of ``old``
    (the same task in an earlier frame): +inf if nowhere, -inf if anywhere."""
    if old is new:  # no event since (the Timeline keeps a task's view): only a lane that runs
        if new.start_ns is None:  # to "now" moved with it
            return old_now if new.spawn_ns is not None else INF
        return min(old_now, new_now) if (new.end_ns is None and new.open_sleep is not None
                                         and old_now != new_now) else INF
    if old.start_ns != new.start_ns or old.spawn_ns != new.spawn_ns or old.pid != new.pid \
            or new.n_runs < old.n_runs or new.n_sleeps < old.n_sleeps or new.resorts != old.resorts:
        return -INF  # (re-ordered intervals: where is not kept)
    at = INF
    if new.start_ns is None and new.spawn_ns is not None:
        at = old_now  # queued until now
    # the intervals after the old count are the new ones, in start order
    if new.n_runs > old.n_runs:
        at = min(at, new.runs.starts[old.n_runs])
    if new.n_sleeps > old.n_sleeps:
        at = min(at, new.sleeps.starts[old.n_sleeps])
    if new.waits:  # a traced thread's named waits
        before = {state: n for state, _, n in old.waits}
        for state, lane, n in new.waits:
            m = before.get(state, 0)
            if n < m:
                return -INF
            if n > m:
                at = min(at, lane.starts[m])
    if old.open_run != new.open_run:
        for o in (old.open_run, new.open_run):
            if o is not None:
                at = min(at, o[0])
    if old.open_wait != new.open_wait:
        for o in (old.open_wait, new.open_wait):
            if o is not None:
                at = min(at, o[1])
    if old.open_sleep != new.open_sleep:
        for o in (old.open_sleep, new.open_sleep):
            if o is not None:
                at = min(at, o)
    a, b = lane_end(old, old_now), lane_end(new, new_now)
    if a != b:
        at = min(at, a, b)
    return at
