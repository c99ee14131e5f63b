"""Laying intervals on columns, and the median RUN length.

A window ``[t0, t1)`` split into ``width`` columns takes an interval exactly, as the fraction
of each column it covers (:func:`spread`, :func:`cover`): that is how a lane with few intervals
in the window is drawn, interval by interval.

A packed lane (store.Intervals) keeps a running sum of its interval lengths, so the time it
covers before any instant is one bisection away; a column's share of it is the difference of
two such lookups. A lane drawn over a window holding thousands of intervals then costs
O(width x log n), with every column edge looked up in one pass in C, instead of O(intervals).
The median RUN interval is folded in as events arrive, never recomputed per frame.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from functools import lru_cache
from itertools import repeat
from operator import add, floordiv, sub, truediv

from concviz.engine.store import Intervals, covered_before


_ONES = [1.0] * 1024


def ones(n: int) -> list[float]:
    """``n`` whole columns (1.0 each), for a slice assignment."""
    return _ONES[:n] if n <= 1024 else [1.0] * n


def _span(a: int, b: int, t0: int, dt: float, width: int) -> tuple[float, float, int, int] | None:
    """[a, b) in columns of width ``dt`` from ``t0``, clipped to the ``width`` columns: (x0,
    x1, first column, last column it touches), or None if it misses them. (cells.task_codes
    inlines this in its loop over RUN intervals, the hottest of a frame.)"""
    if b <= a:
        return None
    x0 = (a - t0) / dt
    x1 = (b - t0) / dt
    if x1 <= 0 or x0 >= width:
        return None
    if x0 < 0:
        x0 = 0.0
    if x1 > width:
        x1 = float(width)
    c1 = int(x1)
    return x0, x1, int(x0), width - 1 if c1 >= width else c1


def spread(arr: list[float], a: int, b: int, t0: int, dt: float, width: int,
            best: list[float] | None = None, who: list[int] | None = None, tag: int = -1) -> None:
    """Add the overlap of [a, b) with each column to ``arr`` (in column fractions)."""
    span = _span(a, b, t0, dt, width)
    if span is None:
        return
    x0, x1, c0, c1 = span
    if c0 == c1:
        arr[c0] += x1 - x0
        if best is not None and x1 - x0 > best[c0]:
            best[c0], who[c0] = x1 - x0, tag
        return
    first = c0 + 1 - x0
    arr[c0] += first
    last = x1 - c1
    arr[c1] += last
    if c1 > c0 + 1:  # whole columns, by slices (a wide interval is a loop in C, not Python)
        arr[c0 + 1:c1] = [x + 1.0 for x in arr[c0 + 1:c1]]
        if best is not None:
            best[c0 + 1:c1] = [1.0] * (c1 - c0 - 1)
            who[c0 + 1:c1] = [tag] * (c1 - c0 - 1)
    if best is not None:
        if first > best[c0]:
            best[c0], who[c0] = first, tag
        if last > best[c1]:
            best[c1], who[c1] = last, tag


def cover(arr: list[float], a: int, b: int, t0: int, dt: float, width: int, edges: set[int],
           codes: list[int] | None = None, code: int = 0) -> None:
    """Add [a, b) to ``arr`` (column fractions), for a lane whose intervals do not overlap:
    the columns it covers wholly are set to 1.0 (and to ``code`` in ``codes``), the one or two
    it covers partly are added to ``edges``."""
    span = _span(a, b, t0, dt, width)
    if span is None:
        return
    x0, x1, c0, c1 = span
    if c0 == c1:
        arr[c0] += x1 - x0
        edges.add(c0)
        return
    arr[c0] += c0 + 1 - x0
    edges.add(c0)
    if x1 > c1:
        arr[c1] += x1 - c1
        edges.add(c1)
    n = c1 - c0 - 1
    if n > 0:
        arr[c0 + 1:c1] = ones(n)
        if codes is not None:
            codes[c0 + 1:c1] = [code] * n


@lru_cache(maxsize=16)
def edges(t0: int, t1: int, width: int) -> tuple[int, ...]:
    """The ``width + 1`` column boundaries of ``[t0, t1)``, as ints (int comparisons are
    cheaper than float ones in the bisections below). Every lane of a frame asks for the
    same ones: they are made once."""
    span = t1 - t0
    return tuple([t0 + (c * span) // width for c in range(width + 1)])


def column_shares(lane: Intervals, n: int, t0: int, t1: int, width: int, first: int = 0) -> list[float]:
    """Per column of ``[t0, t1)``, the fraction of it the first ``n`` items of ``lane`` cover
    (only from column ``first`` on: the ones before are left 0)."""
    dt = (t1 - t0) / width
    at = covered_before(lane, n, edges(t0, t1, width)[first:])
    return [0.0] * first + list(map(truediv, map(sub, at[1:], at[:-1]), repeat(dt, width - first)))


def column_owners(lane: Intervals, n: int, t0: int, t1: int, width: int, first: int = 0) -> list[int]:
    """Per column, the tag (task) of the lane item that covers most of the column near its
    middle: the item under the midpoint or the next one, whichever overlaps the column more
    (the first on a tie); -1 for an empty column (and for the columns before ``first``, left
    out). Used where a column holds many items (then "the task that ran most" would cost every
    item; this costs one bisection a column, all of them in one pass)."""
    xs = edges(t0, t1, width)
    starts, cum, tags = lane.starts, lane.cum, lane.tags
    lo, hi = xs[first:-1], xs[first + 1:]
    m = len(lo)
    mids = map(floordiv, map(add, lo, hi), repeat(2, m))
    if n == len(starts):
        after = map(bisect_left, repeat(starts, m), mids)
    else:
        after = map(bisect_left, repeat(starts, m), mids, repeat(0, m), repeat(n, m))
    who = [-1] * first
    put = who.append
    last = n - 1
    for a, b, k in zip(lo, hi, after):  # k: the first item starting after the midpoint
        best, tag = 0, -1
        if k > 0:
            s = starts[k - 1]
            e = s + cum[k] - cum[k - 1]
            over = (e if e < b else b) - (s if s > a else a)
            if over > 0:
                best, tag = over, tags[k - 1]
        if k <= last:
            s = starts[k]
            e = s + cum[k + 1] - cum[k]
            if (e if e < b else b) - (s if s > a else a) > best:
                tag = tags[k]
        put(tag)
    return who


class RunLengths:
    """The lengths of all RUN intervals, for their median: exact (a sorted list merged with each
    snapshot's new lengths, in C) up to ``EXACT_MAX``; past that, counts per microsecond, so a
    long flood costs O(distinct lengths), and the median is exact to 1 us (the probe itself
    reads the clock every ~20 us). The microsecond bucket holding the middle is tracked as
    lengths arrive (it moves a little per snapshot), so the median costs O(1) to read however
    many distinct lengths there are."""

    # each length kept exactly is a Python int in a list (~40 bytes): past this many, the
    # lengths are counted per microsecond instead, in memory that no longer grows with the run
    EXACT_MAX = 20_000

    def __init__(self) -> None:
        self.new: list[int] = []  # appended by the Timeline as it packs RUN intervals
        self.sorted: list[int] = []
        self.hist: Counter | None = None  # microsecond bucket -> how many lengths fell in it
        self.count = 0
        self._keys: list[int] = []  # the buckets in use, ascending
        self._at = 0  # index in _keys of the bucket holding the lower middle length
        self._below = 0  # how many lengths the buckets before it hold

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
            self._keys = sorted(self.hist)
        hist, keys = self.hist, self._keys
        for k, c in Counter(map(floordiv, new, repeat(1000))).items():
            if k not in hist:
                i = bisect_left(keys, k)
                keys.insert(i, k)
                if i <= self._at and len(keys) > 1:
                    self._at += 1  # the middle bucket moved one place along
            hist[k] += c
            if k < keys[self._at]:
                self._below += c
        # move to the bucket that holds the lower middle length
        lo = (self.count - 1) // 2
        at, below = self._at, self._below
        while lo < below:
            at -= 1
            below -= hist[keys[at]]
        while lo >= below + hist[keys[at]]:
            below += hist[keys[at]]
            at += 1
        self._at, self._below = at, below

    def median_ns(self) -> float:
        if self.hist is None:
            s = self.sorted
            n = len(s)
            if not n:
                return 0.0
            return float(s[n // 2]) if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
        # the middle length (odd count) or the two middle ones (even), each to the microsecond
        keys, at = self._keys, self._at
        low = keys[at]
        high = low if self.count // 2 < self._below + self.hist[low] else keys[at + 1]
        return ((low + high) * 1000 + 1000) / 2
