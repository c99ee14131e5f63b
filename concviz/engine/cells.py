"""How a Frame's task lanes become columns: per-column fractions and codes.

Cell functions take a time window ``[t0, t1)`` split into ``width`` columns and return, per
column, the fraction of the column's time spent in each state, so a wide column that a task
ran half of shows "half", not a winner: the picture does not lie at coarse zoom. A lane with
at most ``width`` intervals in the window is computed interval by interval; a denser one from
the running sums of its packed lane (store.py, prefix.py), so a lane costs O(width x log n)
however long the run: only visible lanes are asked for, and the per-tick cost does not grow
with history. A Frame built by hand (no ``agg``) is computed interval by interval throughout:
the plain walk the tests hold the running sums to.

What a task lane draws is one code per column (:func:`task_codes`, the same classification as
:func:`task_cells`, worked out only where an interval begins or ends; the codes and the rule
that picks them are in column_codes.py). Both can start from an
earlier result over the same window and redo only the columns from a given one on: that is
what the panes' cross-frame caches (concviz/widgets/lane_cache.py) build on.

Core and GIL lanes are in core_cells.py. Every function here reads a Frame and memoizes in the
Frame's own per-frame cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

from concviz.engine.column_codes import (CODE_BASE, CODE_BLANK, CODE_FULL, COL_CPU, COL_GIL, COL_LOCK, COL_OTHER,
                                         COL_QUEUED, COL_SLEEP, COL_UNKNOWN, dense_row)
from concviz.engine.events import EV_TASK
from concviz.engine.prefix import column_shares, cover, ones, spread
from concviz.engine.store import Intervals
from concviz.engine.task import TaskView, lane_end


class Lanes(Protocol):
    """What the cell functions read of a Frame (frame.py implements it; this module does not
    import it: a Frame's column methods call in here)."""

    tasks: tuple[TaskView, ...]
    cores: dict[int, tuple[Intervals, int]]
    proc_runs: dict[int, tuple[Intervals, int]]
    now_ns: int
    agg: Any  # the Timeline's FrameAgg; None for a Frame built by hand (then: plain walks)
    _cache: dict  # the frame's own memo
    gil: bool
    thread_pids: frozenset[int]
    open_runs: list[tuple[int, tuple]]


_NO_LANE = (Intervals(itemgetter(EV_TASK)), 0)  # a core or process lane the frame does not have


@dataclass
class LaneCells:
    """Per-column fractions (0..1) of one task lane."""

    run: list[float]
    sleep: list[float]
    gil: list[float]  # waiting while a sibling thread ran (the GIL)
    cpu: list[float]  # waiting for a CPU (inside the task, nothing else of its process ran)
    queued: list[float]
    alive: list[float]  # fraction of the column inside [start, end]
    # a traced thread's waits the trace named (empty for a task of a run)
    lock: list[float] = field(default_factory=list)
    other: list[float] = field(default_factory=list)
    unknown: list[float] = field(default_factory=list)


class TaskCodes(NamedTuple):
    """A task lane's codes over a window, and how its columns were computed."""

    rows: list[list[int]]  # one list of codes per row of the lane, bottom row first
    dense: bool  # read from running sums (else interval by interval)


def task_cells(frame: Lanes, index: int, t0: int, t1: int, width: int) -> LaneCells:
    """Per-column state fractions of task ``index`` over [t0, t1)."""
    t = frame.tasks[index]
    dt = (t1 - t0) / width if width else 1.0
    z = [0.0] * width
    run, sleep, gil, cpu, queued, alive = z[:], z[:], z[:], z[:], z[:], z[:]
    cells = LaneCells(run, sleep, gil, cpu, queued, alive)
    if width <= 0 or t1 <= t0:
        return cells
    live_end = frame.now_ns
    if t.spawn_ns is not None:
        spread(queued, t.spawn_ns, t.start_ns if t.start_ns is not None else live_end, t0, dt, width)
    if t.start_ns is None:
        return cells
    end = lane_end(t, live_end)
    if t.end_ns is None and t.open_sleep is not None:
        spread(sleep, t.open_sleep, live_end, t0, dt, width)  # known to be asleep right now
    spread(alive, t.start_ns, end, t0, dt, width)
    indexed = frame.agg is not None
    for lane, n, arr in ((t.runs, t.n_runs, run), (t.sleeps, t.n_sleeps, sleep)):
        if not n:
            continue
        i0, i1 = lane.between(n, t0, t1)
        if indexed and i1 - i0 >= width:
            arr[:] = column_shares(lane, n, t0, t1, width)
        else:
            for a, b in lane.spans(i0 - 1 if i0 else 0, i1):
                spread(arr, a, b, t0, dt, width)
    if t.open_run is not None:  # running now, interval not closed yet
        spread(run, t.open_run[0], t.open_run[1], t0, dt, width)
    if t.waits or t.open_wait:  # a traced thread: its waits were named by the trace, not by the sibling rule
        from concviz.engine.trace_cells import named_waits

        named = named_waits(frame, t, t0, t1, width)
        cells.gil, cells.cpu = named[COL_GIL], named[COL_CPU]
        cells.lock, cells.other, cells.unknown = named[COL_LOCK], named[COL_OTHER], named[COL_UNKNOWN]
        return cells
    sibling = process_cells(frame, t.pid, t0, t1, width) if t.pid in frame.thread_pids and frame.gil else None
    for c in range(width):
        w = alive[c] - run[c] - sleep[c]
        if w <= 1e-9:
            continue
        if sibling is not None:
            g = sibling[c] - run[c]  # a sibling thread ran: the wait was for the GIL
            g = 0.0 if g <= 0.0 else (w if g > w else g)
            gil[c] = g
            cpu[c] = w - g
        else:
            cpu[c] = w
    return cells


def task_codes(frame: Lanes, index: int, t0: int, t1: int, width: int, levels: int = 1, from_col: int = 0,
               prev: list[list[int]] | None = None) -> TaskCodes:
    """What task ``index``'s lane draws in each column of [t0, t1): one code per column
    (see CODE_BLANK) for each row of a lane ``levels`` rows tall (bottom row first), whose
    rows stack the running share. The panes ask for this once per lane per frame.

    The same classification as :func:`task_cells` (the tests hold the two to each other),
    computed where it is cheap: a column the task's intervals cover wholly gets its code
    at once (waiting, running, asleep, queued), and only the columns where something
    begins or ends, one or two per interval, are worked out from their fractions. So a
    lane costs O(intervals in the window), not O(width) Python steps.

    With ``prev`` (this lane's rows over the same window in an earlier frame), columns
    before ``from_col`` are taken from it and only the rest are worked out."""
    t = frame.tasks[index]
    codes = [CODE_BLANK] * width
    if width <= 0 or t1 <= t0:
        return TaskCodes([codes[:] for _ in range(levels)], False)
    if t.waits or t.open_wait:
        from concviz.engine.trace_cells import traced_codes

        return traced_codes(frame, index, t0, t1, width, levels)
    dt = (t1 - t0) / width
    t_from = t0 + from_col * dt if from_col else t0  # intervals ending before it are skipped
    live_end = frame.now_ns
    edges: set[int] = set()
    zero = [0.0] * width
    queued, run, sleep, alive = zero[:], zero[:], zero[:], zero[:]
    dense = False
    if t.spawn_ns is not None:
        cover(queued, t.spawn_ns, t.start_ns if t.start_ns is not None else live_end,
               t0, dt, width, edges, codes, COL_QUEUED)
    sibling = process_cells(frame, t.pid, t0, t1, width) if t.pid in frame.thread_pids and frame.gil else None
    if t.start_ns is not None:
        end = lane_end(t, live_end)
        # alive and nothing else in the column: waiting, for the GIL if a sibling thread
        # ran most of the column, else for a CPU
        cover(alive, t.start_ns, end, t0, dt, width, edges)
        c0, c1 = max(0, int((t.start_ns - t0) / dt) + 1), min(width, int((end - t0) / dt))
        if c1 > c0:
            codes[c0:c1] = _wait_codes(frame, t.pid, t0, t1, width, sibling)[c0:c1]
        if t.open_sleep is not None:
            cover(sleep, t.open_sleep, live_end, t0, dt, width, edges, codes, COL_SLEEP)
        runs, n = t.runs, t.n_runs
        indexed = frame.agg is not None
        i0, i1 = runs.between(n, t0, t1)
        if indexed and i1 - i0 >= width:
            run = column_shares(runs, n, t0, t1, width, first=from_col)
            dense = True
        else:  # prefix.cover, inlined: this is the loop a frame spends most of its time in
            add = edges.add
            if from_col:
                i0 = runs.between(n, t_from, t1)[0]
            for a, b in runs.spans(i0 - 1 if i0 else 0, i1):  # those starting before t1
                x0 = (a - t0) / dt
                x1 = (b - t0) / dt
                c0 = int(x0)
                if c0 == int(x1) and x0 >= 0.0 and c0 < width and b > a:
                    # most intervals (GIL turns, runs between preemptions) lie within a column
                    run[c0] += x1 - x0
                    add(c0)
                    continue
                if b <= a or x1 <= 0:
                    continue
                if x0 < 0:
                    x0 = 0.0
                if x1 > width:
                    x1 = float(width)
                c0 = int(x0)
                c1 = int(x1)
                if c1 >= width:
                    c1 = width - 1
                if c0 == c1:
                    run[c0] += x1 - x0
                    add(c0)
                    continue
                run[c0] += c0 + 1 - x0
                add(c0)
                if x1 > c1:
                    run[c1] += x1 - c1
                    add(c1)
                if c1 > c0 + 1:
                    run[c0 + 1:c1] = ones(c1 - c0 - 1)
                    codes[c0 + 1:c1] = [CODE_FULL] * (c1 - c0 - 1)
        sleeps, n = t.sleeps, t.n_sleeps
        i0, i1 = sleeps.between(n, t0, t1) if n else (0, 0)
        if indexed and i1 - i0 >= width:
            sleep = [x + y for x, y in zip(sleep, column_shares(sleeps, n, t0, t1, width, first=from_col))]
            dense = True
        else:
            if from_col and n:
                i0 = sleeps.between(n, t_from, t1)[0]
            for a, b in (sleeps.spans(i0 - 1 if i0 else 0, i1) if n else ()):
                cover(sleep, a, b, t0, dt, width, edges, codes, COL_SLEEP)
        if t.open_run is not None:  # running now, interval not closed yet
            cover(run, t.open_run[0], t.open_run[1], t0, dt, width, edges, codes, CODE_FULL)
    if sibling is None:
        sibling = zero  # no sibling thread: a wait is for a CPU
    if dense and levels == 1:  # every column: one pass over the columns' fractions
        codes[from_col:] = dense_row(run, sleep, alive, queued, sibling, from_col)
        if prev is not None and from_col:
            codes[:from_col] = prev[0][:from_col]
        return TaskCodes([codes], dense)
    # a column wholly covered by one interval looks the same in every row of a tall lane
    rows = [codes] + [codes[:] for _ in range(levels - 1)]
    for c in (range(from_col, width) if dense else (c for c in edges if c >= from_col) if from_col else edges):
        r = run[c]
        s = sleep[c]
        w = alive[c] - r - s
        if w > 1e-9:  # waiting: for the GIL while a sibling ran, else for a CPU
            g = sibling[c] - r
            if g <= 0.0:
                best, k = w, COL_CPU
            elif g >= w:
                best, k = w, COL_GIL
            elif g >= w - g:
                best, k = g, COL_GIL
            else:
                best, k = w - g, COL_CPU
        else:
            best, k = 0.0, COL_GIL
        if s > best:
            best, k = s, COL_SLEEP
        q = queued[c]
        if q > best:
            best, k = q, COL_QUEUED
        under = k if best > 0.1 else CODE_BLANK
        idle = k if best > 0.05 else CODE_BLANK
        if levels == 1:
            if r > 0.001:
                e = ceil(r * 8 - 1e-9)
                codes[c] = (8 if e > 8 else e) * CODE_BASE + under
            else:
                codes[c] = idle
            continue
        for level, row in enumerate(rows):  # this row's share of the stacked block
            x = r * levels - level
            if x > 0.001:
                e = ceil(x * 8 - 1e-9)
                row[c] = (8 if e > 8 else e) * CODE_BASE + under
            else:
                row[c] = idle
    if prev is not None and from_col:
        for row, old in zip(rows, prev):
            row[:from_col] = old[:from_col]
    return TaskCodes(rows, dense)


def _wait_codes(frame: Lanes, pid: int | None, t0: int, t1: int, width: int,
                sibling: list[float] | None) -> list[int]:
    """Per column, what a thread of ``pid`` that is alive and not running waits for: the
    GIL where a sibling thread ran at least half the column, else a CPU."""
    if sibling is None:
        return [COL_CPU] * width
    key = ("wait", pid, t0, t1, width)
    codes = frame._cache.get(key)
    if codes is None:
        codes = frame._cache[key] = [COL_GIL if p >= 0.5 else COL_CPU for p in sibling]
    return codes


def lane_of(lanes: dict, key: int) -> tuple[Intervals, int]:
    """A core or process lane of a frame and how many of its items the frame saw."""
    return lanes.get(key) or _NO_LANE


def process_cells(frame: Lanes, pid: int, t0: int, t1: int, width: int) -> list[float]:
    """Per-column fraction of time in which some task thread of ``pid`` was running."""
    key = ("proc", pid, t0, t1, width)
    if key in frame._cache:
        return frame._cache[key]
    dt = (t1 - t0) / width
    lane, n = lane_of(frame.proc_runs, pid)
    if frame.agg is not None and lane.count_in(n, t0, t1) > width:
        # dense: running sums (with a GIL, a process's task threads never run at once, so
        # the sum of their intervals is their union)
        arr = column_shares(lane, n, t0, t1, width)
    else:
        arr = [0.0] * width
        i, j = lane.window(n, t0, t1)
        lo = max(0, i - 64)  # an earlier, longer interval may still reach into the window
        while i > lo and lane.end(i - 1) > t0:
            i -= 1
        cur_a = cur_b = None
        for a, b in lane.spans(i, j):
            if cur_b is not None and a <= cur_b:
                if b > cur_b:
                    cur_b = b
                continue
            if cur_b is not None:
                spread(arr, cur_a, cur_b, t0, dt, width)
            cur_a, cur_b = a, b
        if cur_b is not None:
            spread(arr, cur_a, cur_b, t0, dt, width)
    frame._cache[key] = arr
    return arr
