"""What a task lane draws in a column, as one small int, and the rule that picks it.

A column's code says how much of it the task ran (in eighths) and which state took most of
the rest: waiting for the GIL or for a CPU, asleep, queued (see the table below). The rule
works from the column's fractions; cells.task_codes applies it to the columns where an
interval begins or ends, and :func:`dense_row` to every column of a lane dense enough that
each needs it. The rule is written out in each of them rather than called per column: these
loops are where a frame spends most of its time, and the tests hold the copies to each other.
"""

from __future__ import annotations

from math import ceil

# the "other" state of a column; the last three only in a trace of a program, which names them
COL_GIL, COL_CPU, COL_SLEEP, COL_QUEUED, COL_LOCK, COL_OTHER, COL_UNKNOWN = range(7)

# What a task lane draws in one column, as one small int (task_codes):
#   COL_GIL .. COL_UNKNOWN (0-6) not running; waiting for the GIL, for a CPU, asleep, queued,
#                                waiting on a lock, blocked in another call, not known
#   CODE_BLANK (7)               nothing worth a mark (outside the task's life)
#   CODE_BASE * e + k            running e eighths of the column (e = 1..8), over the state k
#                                (0-6) that took most of the rest, or k = CODE_BLANK: nothing
#                                else took more than a tenth of the column
CODE_BLANK = 7
CODE_BASE = 8
CODE_FULL = 8 * CODE_BASE + CODE_BLANK  # ran the whole column


def dense_row(run: list[float], sleep: list[float], alive: list[float], queued: list[float],
               sibling: list[float], first: int) -> list[int]:
    """The codes of columns ``first..`` of a one-row lane whose every column needs working out.

    Where the task was alive all through a column and never asleep (a queue ends where the
    task's life begins, so nothing was queued there either), the code depends on the running
    and the sibling shares alone (:func:`plain_codes`); the columns around them go through
    the whole rule (:func:`classify`)."""
    width = len(run)
    if not any(sleep):
        try:
            a = alive.index(1.0, first)  # alive is one interval: its whole columns are contiguous
        except ValueError:
            a = width
        if a < width:
            b = width - alive[::-1].index(1.0)
            return (classify(run[first:a], sleep[first:a], alive[first:a], queued[first:a], sibling[first:a])
                    + plain_codes(run[a:b], sibling[a:b])
                    + classify(run[b:], sleep[b:], alive[b:], queued[b:], sibling[b:]))
    return classify(run[first:], sleep[first:], alive[first:], queued[first:], sibling[first:])


def plain_codes(run: list[float], sibling: list[float]) -> list[int]:
    """:func:`classify` of columns the task was alive all through (``alive`` 1.0) with no sleep
    and no queue, from the running and sibling shares. Below three quarters running, the rest
    of the column (a quarter or more) is waiting, so the larger of its two parts (the GIL's
    and the CPU's) is over a tenth: the state under the block is the wait's, whatever its
    size, and the code is one expression; above that, the whole rule (:func:`plain_code`).
    The comparisons are the rule's own, on the same float values, so the codes are the same."""
    gil, cpu = COL_GIL, COL_CPU
    return [(ceil(r * 8 - 1e-9) * CODE_BASE if r > 0.001 else 0)
            + (gil if (g := p - r) > 0.0 and g >= 1.0 - r - g else cpu)
            if r < 0.75 else plain_code(r, p) for r, p in zip(run, sibling)]


def plain_code(r: float, p: float) -> int:
    """:func:`classify`'s rule for one column with ``alive`` 1.0, no sleep and no queue."""
    w = 1.0 - r
    if w > 1e-9:
        g = p - r
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
    if r > 0.001:
        e = ceil(r * 8 - 1e-9)
        return (8 if e > 8 else e) * CODE_BASE + (k if best > 0.1 else CODE_BLANK)
    return k if best > 0.05 else CODE_BLANK


def classify(run: list[float], sleep: list[float], alive: list[float], queued: list[float],
              sibling: list[float]) -> list[int]:
    """The code of each column of a one-row lane from its fractions (the rule of task_codes,
    in one pass over the columns: for a dense lane, where every column needs it)."""
    out = []
    add = out.append
    for r, s, a, q, p in zip(run, sleep, alive, queued, sibling):
        w = a - r - s
        if w > 1e-9:  # waiting: for the GIL while a sibling ran, else for a CPU
            g = p - r
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
        if q > best:
            best, k = q, COL_QUEUED
        if r > 0.001:
            e = ceil(r * 8 - 1e-9)
            add((8 if e > 8 else e) * CODE_BASE + (k if best > 0.1 else CODE_BLANK))
        else:
            add(k if best > 0.05 else CODE_BLANK)
    return out
