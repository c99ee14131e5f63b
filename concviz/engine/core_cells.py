"""How a Frame's core and GIL lanes become columns: how busy each column was, and with which task.

A core lane holds every RUN interval recorded on one logical CPU; a GIL lane, those of the task
threads of one process that share a GIL. Dense windows are read from the lanes' running sums
(prefix.py), sparse ones interval by interval, as for task lanes (cells.py). A core lane's
closed columns can start from an earlier result over the same window (CoreColumns), for the
panes' cross-frame cache (concviz/widgets/lane_cache.py); intervals still open (PROGRESS) are
laid on top each frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from concviz.engine.cells import Lanes, lane_of, process_cells
from concviz.engine.prefix import column_owners, column_shares, spread
from concviz.engine.store import Intervals


@dataclass
class CoreCells:
    """Per-column busy fraction of one core and the task that ran most there."""

    busy: list[float]
    task: list[int]  # -1 where idle


class CoreColumns(NamedTuple):
    """A core lane's closed RUN intervals over a window, before open ones are laid on top."""

    busy: list[float]  # per column, the fraction of it the core ran task work
    best: list[float]  # per column, the largest share one task had
    who: list[int]  # per column, the task that had it (-1: idle)
    dense: bool  # read from running sums (else interval by interval)


def gil_cells(frame: Lanes, pid: int, t0: int, t1: int, width: int) -> CoreCells:
    """Per column, the task whose thread held ``pid``'s GIL the longest, and how busy."""
    columns = gil_columns(frame, pid, t0, t1, width)
    return CoreCells(columns.busy, columns.who)


def gil_columns(frame: Lanes, pid: int, t0: int, t1: int, width: int, first: int = 0,
                prev: CoreColumns | None = None) -> CoreColumns:
    """:func:`gil_cells` as columns; with ``prev`` (an earlier result over the same window) the
    columns before ``first`` are taken from it (a process lane's RUN intervals are all closed:
    nothing is laid on top)."""
    lane, n = lane_of(frame.proc_runs, pid)
    dt = (t1 - t0) / width
    if frame.agg is not None and lane.count_in(n, t0, t1) > width:
        # busy is the process's running share, which the task lanes of its threads have
        # asked for already (the same running sums: one computation, cached)
        busy = process_cells(frame, pid, t0, t1, width)[:]
        who = column_owners(lane, n, t0, t1, width, first=first)
        if prev is not None and first:
            who[:first] = prev.who[:first]
        return CoreColumns(busy, busy, who, True)
    busy = [0.0] * width
    best = [0.0] * width
    who = [-1] * width
    i, j = lane.window(n, t0, t1)
    t_from = t0
    if first:
        # (items can overlap where threads ran at once: start a few back, as core_closed does)
        t_from = t0 + first * dt
        i = max(i, lane.window(n, t_from, t1)[0] - 64)
    for a, b, task in lane.tagged(i, j):
        if b > t_from:
            spread(busy, a, b, t0, dt, width, best, who, task)
    if prev is not None and first:
        busy[:first] = prev.busy[:first]
        best[:first] = prev.best[:first]
        who[:first] = prev.who[:first]
    return CoreColumns(busy, best, who, False)


def core_cells(frame: Lanes, cpu: int, t0: int, t1: int, width: int) -> CoreCells:
    """Per column, how busy logical CPU ``cpu`` was with task work, and with which task."""
    return with_open_runs(frame, cpu, t0, t1, width, core_closed(frame, cpu, t0, t1, width))


def core_closed(frame: Lanes, cpu: int, t0: int, t1: int, width: int, first: int = 0,
                prev: CoreColumns | None = None) -> CoreColumns:
    """The closed RUN intervals on ``cpu`` over the window; with ``prev`` (an earlier result
    over the same window) the columns before ``first`` are taken from it."""
    lane, n = lane_of(frame.cores, cpu)
    return lane_closed(frame, lane, n, t0, t1, width, first, prev)


def lane_closed(frame: Lanes, lane: Intervals, n: int, t0: int, t1: int, width: int, first: int = 0,
                prev: CoreColumns | None = None) -> CoreColumns:
    """:func:`core_closed` of any lane of RUN intervals tagged by task (the first ``n`` of
    ``lane``): a core's, or a cluster worker's on one CPU (worker_cores.py)."""
    busy = [0.0] * width
    best = [0.0] * width
    who = [-1] * width
    dt = (t1 - t0) / width
    dense = frame.agg is not None and lane.count_in(n, t0, t1) > width
    if dense:
        busy = column_shares(lane, n, t0, t1, width, first=first)
        who = column_owners(lane, n, t0, t1, width, first=first)
        best = busy[:]
    else:
        i, j = lane.window(n, t0, t1)
        t_from = t0
        if first:
            # A core lane's items can overlap a little (the CPU number is sampled once a
            # millisecond), so an item well before t_from may still reach past it: start a
            # few items back, and skip those that end before it.
            t_from = t0 + first * dt
            i = max(i, lane.window(n, t_from, t1)[0] - 64)
        for a, b, task in lane.tagged(i, j):
            if b > t_from:
                spread(busy, a, b, t0, dt, width, best, who, task)
    if prev is not None and first:
        busy[:first] = prev.busy[:first]
        best[:first] = prev.best[:first]
        who[:first] = prev.who[:first]
    return CoreColumns(busy, best, who, dense)


def with_open_runs(frame: Lanes, cpu: int, t0: int, t1: int, width: int, closed: CoreColumns) -> CoreCells:
    """``closed`` (see :func:`core_closed`) with the RUN intervals still open on ``cpu`` laid on top."""
    busy, best, who = closed.busy, closed.best, closed.who
    dt = (t1 - t0) / width
    opened = [(task, a, b) for task, (a, b, on) in frame.open_runs if on == cpu]
    if opened:  # running now, interval not closed yet
        busy, best, who = busy[:], best[:], who[:]
        for task, a, b in opened:
            spread(busy, a, b, t0, dt, width, best, who, task)
    return CoreCells(busy, who)

