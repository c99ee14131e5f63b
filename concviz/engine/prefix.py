"""Incremental indexes that keep a frame's cost independent of how long the run has been.

A lane is a time-ordered list of intervals. Next to it the Timeline keeps a running sum of the
interval lengths (``cum[i]`` = total length of items ``0..i``), so the time covered before any
instant is one bisection away (:func:`covered`), and a column's share of it is a difference of
two such lookups. A lane drawn over a window holding thousands of intervals then costs
O(width x log n) instead of O(intervals). The other whole-run figures (median RUN interval, GIL
hand-offs, per-core busy time) are folded in as events arrive, never recomputed per frame.

Everything here runs under the Timeline's lock; a Frame reads the first ``n`` items it saw.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter
from itertools import accumulate, repeat
from operator import floordiv, itemgetter, sub
from typing import Callable, Iterable

EVENT_T0 = itemgetter(4)  # start time of an event tuple (kind, task, pid, tid, t0, t1, cpu, info)
EVENT_T1 = itemgetter(5)
EVENT_TID = itemgetter(3)


def new_cum() -> array:
    return array("q")


def extend_event_cum(cum: array, lane: list) -> None:
    """Extend the running sum of a lane of event tuples to cover every item of the lane."""
    k = len(cum)
    if k >= len(lane):
        return
    items = lane[k:]
    sums = accumulate(map(sub, map(EVENT_T1, items), map(EVENT_T0, items)), initial=cum[-1] if k else 0)
    next(sums)
    cum.extend(sums)


def extend_switches(sw: array, lane: list) -> None:
    """Extend ``sw`` (``sw[i]`` = hand-offs between threads among items ``0..i``) to the lane."""
    k = len(sw)
    n = len(lane)
    if k >= n:
        return
    count = sw[-1] if k else 0
    prev = lane[k - 1][3] if k else lane[0][3]
    for tid in map(EVENT_TID, lane[k:n]):
        if tid != prev:
            count += 1
            prev = tid
        sw.append(count)


def covered(items: list, cum: array, n: int, x: float, key: Callable | None = None,
            end: int = 1) -> float:
    """Time covered before ``x`` by the first ``n`` items of a time-ordered lane of intervals
    (tuples whose start is ``key(item)``, default item[0], and end is ``item[end]``).

    Exact for disjoint intervals (a task's runs, a GIL's holders). A core lane can hold small
    overlaps (the CPU number is sampled once a millisecond): the last few items reaching past
    ``x`` are taken off too."""
    i = bisect_left(items, (x,), 0, n) if key is None else bisect_left(items, x, 0, n, key=key)
    if i == 0:
        return 0
    total = cum[i - 1]
    j = i - 1
    last = i - 9 if i > 8 else -1
    while j > last:
        stop = items[j][end]
        if stop <= x:
            break
        total -= stop - x
        j -= 1
    return total


def edges(t0: int, t1: int, width: int) -> list[int]:
    """The ``width + 1`` column boundaries of ``[t0, t1)``, as ints (int comparisons are ~3x
    cheaper than float ones in the bisections below)."""
    span = t1 - t0
    return [t0 + (c * span) // width for c in range(width + 1)]


def column_shares(items: list, cum: array, n: int, t0: int, t1: int, width: int,
                  key: Callable | None = None, end: int = 1, first: int = 0) -> list[float]:
    """Per column of ``[t0, t1)``, the fraction of it the lane's intervals cover (only from
    column ``first`` on: the ones before are left 0)."""
    dt = (t1 - t0) / width
    at = [covered(items, cum, n, x, key, end) for x in edges(t0, t1, width)[first:]]
    return [0.0] * first + [(at[c + 1] - at[c]) / dt for c in range(width - first)]


def column_owners(lane: list, n: int, t0: int, t1: int, width: int, first: int = 0) -> list[int]:
    """Per column, the task of the lane item (event tuple) that covers most of the column near
    its middle: the item under the midpoint or the nearer neighbour overlapping the column;
    -1 for an empty column (and for the columns before ``first``, left out). Used where a
    column holds many items (then "the task that ran most" would cost every item; this costs
    one bisection)."""
    who = [-1] * width
    xs = edges(t0, t1, width)
    for c in range(first, width):
        a = xs[c]
        b = xs[c + 1]
        j = bisect_left(lane, (a + b) // 2, 0, n, key=EVENT_T0) - 1
        best = 0
        for k in (j, j + 1):
            if 0 <= k < n:
                item = lane[k]
                lo = item[4] if item[4] > a else a
                hi = item[5] if item[5] < b else b
                if hi - lo > best:
                    best = hi - lo
                    who[c] = item[1]
    return who


def count_in(items: list, n: int, t0: int, t1: int, key: Callable | None = None) -> int:
    """How many of the first ``n`` items start in ``[t0, t1)`` (plus one that may straddle t0)."""
    if key is None:
        i0 = bisect_left(items, (t0,), 0, n)
        i1 = bisect_left(items, (t1,), i0, n)
    else:
        i0 = bisect_left(items, t0, 0, n, key=key)
        i1 = bisect_left(items, t1, i0, n, key=key)
    return i1 - i0 + 1


class RunLengths:
    """The lengths of all RUN intervals, for their median: exact (a sorted list merged with each
    snapshot's new lengths, in C) up to ``EXACT_MAX``; past that, counts per microsecond, so a
    long flood costs O(distinct lengths), and the median is exact to 1 us (the probe itself
    reads the clock every ~20 us)."""

    EXACT_MAX = 100_000

    def __init__(self) -> None:
        self.new: list[int] = []  # appended by Timeline.feed
        self.sorted: list[int] = []
        self.hist: Counter | None = None
        self.count = 0

    def fold(self) -> None:
        new = self.new
        if not new:
            return
        self.new = []
        self.count += len(new)
        if self.hist is None and self.count <= self.EXACT_MAX:
            new.sort()
            self.sorted += new
            self.sorted.sort()  # two sorted runs: Timsort merges them in one pass
            return
        if self.hist is None:
            self.hist = Counter(map(floordiv, self.sorted, repeat(1000)))
            self.sorted = []
        self.hist.update(map(floordiv, new, repeat(1000)))

    def median_ns(self) -> float:
        if self.hist is None:
            s = self.sorted
            n = len(s)
            if not n:
                return 0.0
            return float(s[n // 2]) if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
        # the middle item (odd count) or the two middle items (even), each to the microsecond
        n = self.count
        want = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
        found = []
        seen = 0
        for k in sorted(self.hist):
            seen += self.hist[k]
            while want and want[0] < seen:
                want.pop(0)
                found.append(k * 1000 + 500)
            if not want:
                break
        return sum(found) / len(found) if found else 0.0


class LaneIndex:
    """Running sums of every core and process lane, and GIL hand-off counts of thread processes."""

    def __init__(self) -> None:
        self.cum: dict[tuple[str, int], array] = {}
        self.switches: dict[int, array] = {}

    def truncate(self, key: tuple[str, int], j: int) -> None:
        """Items from ``j`` on were re-ordered: forget what was derived from them."""
        cum = self.cum.get(key)
        if cum is not None and len(cum) > j:
            del cum[j:]
        if key[0] == "p":
            sw = self.switches.get(key[1])
            if sw is not None and len(sw) > j:
                del sw[j:]

    def update(self, cores: dict[int, list], procs: dict[int, list], thread_pids: Iterable[int]) -> None:
        """Bring every index up to the lanes' current length. Process lanes are only drawn (GIL
        lane, GIL waits) for processes whose threads share a GIL: only those are indexed."""
        for cpu, lane in cores.items():
            cum = self.cum.get(("c", cpu))
            if cum is None:
                cum = self.cum[("c", cpu)] = new_cum()
            extend_event_cum(cum, lane)
        for pid in thread_pids:
            lane = procs.get(pid)
            if not lane:
                continue
            cum = self.cum.get(("p", pid))
            if cum is None:
                cum = self.cum[("p", pid)] = new_cum()
            extend_event_cum(cum, lane)
            sw = self.switches.get(pid)
            if sw is None:
                sw = self.switches[pid] = new_cum()
            extend_switches(sw, lane)

    def gil_switches(self, thread_pids: Iterable[int]) -> int:
        return sum(sw[-1] for pid in thread_pids if (sw := self.switches.get(pid)))
