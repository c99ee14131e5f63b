"""The columns of a traced thread's lane (``concviz trace``/``attach``): drawn from the waits
the trace named (WAIT events: the GIL, a CPU, a lock, another call, unknown), not from the
sibling rule a run's lanes use (cells.py, which calls in here for such a task)."""

from __future__ import annotations

from math import ceil

from concviz.engine.cells import (CODE_BASE, CODE_BLANK, COL_CPU, COL_GIL, COL_LOCK, COL_OTHER, COL_QUEUED,
                                  COL_SLEEP, COL_UNKNOWN, Lanes, TaskCodes, task_cells)
from concviz.engine.prefix import column_shares, spread
from concviz.engine.task import TaskView

# a traced thread's named waits (WAIT events' states) -> the column state they draw as
WAIT_COLUMNS = {"gil": COL_GIL, "cpu": COL_CPU, "lock": COL_LOCK, "other": COL_OTHER, "unknown": COL_UNKNOWN}
# what a traced thread's states are called (the trace legend's words; an export names its
# slices so): its runs, its sleeps (I/O, inferred from the call) and its named waits
TRACE_STATE_NAMES = {"run": "running", "sleep": "I/O (inferred)", "gil": "waiting for the GIL (inferred)",
                     "cpu": "waiting for a CPU", "lock": "on a lock (inferred)", "other": "other call",
                     "unknown": "unknown"}
GIL_HOLDER_NAME = "holds the GIL (inferred)"


def named_waits(frame: Lanes, t: TaskView, t0: int, t1: int, width: int) -> dict[int, list[float]]:
    """Per column state (WAIT_COLUMNS), the fraction of each column a traced thread spent in
    the waits the trace named."""
    dt = (t1 - t0) / width
    out = {k: [0.0] * width for k in WAIT_COLUMNS.values()}
    indexed = frame.agg is not None
    for state, lane, n in t.waits:
        arr = out[WAIT_COLUMNS.get(state, COL_UNKNOWN)]
        i0, i1 = lane.between(n, t0, t1)
        if indexed and i1 - i0 >= width:
            arr[:] = [x + y for x, y in zip(arr, column_shares(lane, n, t0, t1, width))]
        else:
            for a, b in lane.spans(i0 - 1 if i0 else 0, i1):
                spread(arr, a, b, t0, dt, width)
    if t.open_wait is not None:  # going on now, not sent as a WAIT yet
        state, a, b = t.open_wait
        spread(out[WAIT_COLUMNS.get(state, COL_UNKNOWN)], a, b, t0, dt, width)
    return out


def traced_codes(frame: Lanes, index: int, t0: int, t1: int, width: int, levels: int) -> TaskCodes:
    """task_codes of a traced thread: the state under its runs is the one of its named waits
    (or sleep, or queued) that took most of the column. Time the trace has not laid out yet
    (it trails the present by a tick) is no state: left blank, not guessed. Every column is
    worked out (a trace's lanes are few)."""
    cells = task_cells(frame, index, t0, t1, width)
    states = ((COL_GIL, cells.gil), (COL_CPU, cells.cpu), (COL_SLEEP, cells.sleep), (COL_QUEUED, cells.queued),
              (COL_LOCK, cells.lock), (COL_OTHER, cells.other), (COL_UNKNOWN, cells.unknown))
    rows = [[CODE_BLANK] * width for _ in range(levels)]
    for c in range(width):
        best, k = 0.0, CODE_BLANK
        for state, arr in states:
            if arr[c] > best:
                best, k = arr[c], state
        r = cells.run[c]
        under = k if best > 0.1 else CODE_BLANK
        idle = k if best > 0.05 else CODE_BLANK
        for level, row in enumerate(rows):
            x = r * levels - level
            if x > 0.001:
                e = ceil(x * 8 - 1e-9)
                row[c] = (8 if e > 8 else e) * CODE_BASE + under
            else:
                row[c] = idle
    return TaskCodes(rows, True)
