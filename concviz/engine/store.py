"""Packed lanes: a lane's intervals in a few flat arrays, not one Python object per interval.

An :class:`Intervals` lane holds, in start order, each interval's start, the running sum of the
lengths (``cum[i]`` = total length of items ``0..i-1``, so ``cum[0] == 0``) and a small tag (the
CPU of a task's RUN, the task of a core's or a process's). An end is ``start + cum[i + 1] -
cum[i]``; the time the lane covers before any instant is a bisection and a subtraction away
(:func:`covered_before`), so a column's share of a dense lane costs O(log n), and every column
edge is looked up at once in C (``map`` over ``bisect``), not by a Python call per column.

Events reach a lane through its ``pending`` list (the event tuple itself, appended by the
Timeline's feed and kept only until the next :meth:`Intervals.fold`), and are packed by
``fold`` in bulk: sorted, merged with the tail they belong in when they arrived late, running
sums extended. A Frame reads the first ``n``
items a fold left; later folds only append or re-order items near the live edge.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from itertools import accumulate, repeat
from operator import add, gt, itemgetter, ne, sub
from typing import Callable, Iterator, NamedTuple, Sequence

from concviz.engine.events import EV_TASK, EV_T0, EV_T1

_T0 = itemgetter(EV_T0)
_T1 = itemgetter(EV_T1)
_FIRST = itemgetter(0)


class Span(NamedTuple):
    """One interval of a packed lane: where it starts, where it ends, its tag."""

    t0: int
    t1: int
    tag: int


class Intervals:
    """A time-ordered lane of intervals, packed (see the module docstring)."""

    __slots__ = ("starts", "cum", "tags", "tag_of", "pending", "resorts", "may_overlap", "overlaps")

    def __init__(self, tag_of: Callable[[tuple], int] | None, tag_code: str = "i",
                 may_overlap: bool = False) -> None:
        self.starts = array("q")
        self.cum = array("q", [0])
        self.tags = array(tag_code) if tag_of is not None else None
        self.tag_of = tag_of  # event tuple -> this lane's tag (None: the lane keeps no tags)
        self.pending: list[tuple] = []  # event tuples added since the last fold
        self.resorts = 0  # folds that re-ordered items already packed (see changes.py)
        # whether items can overlap (a core lane's can: the CPU number is sampled once a
        # millisecond; a process lane's can where threads run at once: no GIL), and whether
        # some item does start before an earlier one ends
        self.may_overlap = may_overlap
        self.overlaps = False

    def __len__(self) -> int:
        return len(self.starts)

    # --- reading -----------------------------------------------------------------------------
    def end(self, i: int) -> int:
        """Where item ``i`` ends."""
        return self.starts[i] + self.cum[i + 1] - self.cum[i]

    def __getitem__(self, i):
        """Item ``i`` as ``(t0, t1, tag)`` (``(t0, t1)`` for a lane without tags); a slice: a list."""
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self.starts)))]
        if i < 0:
            i += len(self.starts)
        if self.tags is None:
            return self.starts[i], self.end(i)
        return Span(self.starts[i], self.end(i), self.tags[i])

    def ends(self, i: int, j: int) -> Iterator[int]:
        """The ends of items ``i..j-1``."""
        cum = self.cum
        return map(add, self.starts[i:j], map(sub, cum[i + 1:j + 1], cum[i:j]))

    def spans(self, i: int, j: int) -> Iterator[tuple[int, int]]:
        """``(t0, t1)`` of items ``i..j-1``."""
        return zip(self.starts[i:j], self.ends(i, j))

    def tagged(self, i: int, j: int) -> Iterator[tuple[int, int, int]]:
        """``(t0, t1, tag)`` of items ``i..j-1``."""
        return zip(self.starts[i:j], self.ends(i, j), self.tags[i:j])

    def between(self, n: int, t0: float, t1: float) -> tuple[int, int]:
        """Among the first ``n`` items: the first starting at or after t0, and the first
        starting at or after t1 (so ``i1 - i0`` start in [t0, t1))."""
        i0 = bisect_left(self.starts, t0, 0, n)
        return i0, bisect_left(self.starts, t1, i0, n)

    def window(self, n: int, t0: float, t1: float) -> tuple[int, int]:
        """The index range of the first ``n`` items that may overlap [t0, t1): from the one
        before the first starting at t0 (it may reach past t0), to the first starting at t1."""
        i0, i1 = self.between(n, t0, t1)
        return (i0 - 1 if i0 else 0), i1

    def count_in(self, n: int, t0: int, t1: int) -> int:
        """How many of the first ``n`` items start in [t0, t1) (plus one that may straddle t0)."""
        i0, i1 = self.between(n, t0, t1)
        return i1 - i0 + 1

    # --- packing -----------------------------------------------------------------------------
    def fold(self) -> tuple[int | None, list[int]]:
        """Pack the pending events. Returns the earliest start among them (None: nothing was
        pending) and their lengths (in start order).

        A fold may run while another thread reads the lane (the Timeline packs in ``feed``
        too): the arrays only grow, and ``starts``, whose length readers go by, is written
        last, so a reader's indices are always valid. Values past the earliest start a fold
        re-ordered can be read half-written; the Timeline logs that instant as changed."""
        new = self.pending
        if not new:
            return None, []
        self.pending = []
        new.sort(key=_T0)  # stable: equal starts keep their arrival order
        starts, cum, tags = self.starts, self.cum, self.tags
        first = new[0][EV_T0]
        lengths = list(map(sub, map(_T1, new), map(_T0, new)))
        n = len(starts)
        j = n
        if n and first < starts[-1]:
            # late arrivals: merge them into the tail they belong in (late arrivals are recent:
            # one flush of a worker, so the tail is short). The tail is overwritten in place
            # (deleting it first would shrink and regrow the arrays, copying them every fold).
            j = bisect_left(starts, first)
            old = list(zip(starts[j:], map(sub, cum[j + 1:], cum[j:-1]),
                           tags[j:] if tags is not None else repeat(0)))
            merged = sorted(old + list(zip(map(_T0, new), lengths,
                                           map(self.tag_of, new) if tags is not None else repeat(0))),
                            key=_FIRST)
            sums = accumulate(map(itemgetter(1), merged), initial=cum[j])
            next(sums)
            cum[j + 1:] = array("q", sums)
            if tags is not None:
                tags[j:] = array(tags.typecode, map(itemgetter(2), merged))
            starts[j:] = array("q", map(_FIRST, merged))
            self.resorts += 1
        else:
            sums = accumulate(lengths, initial=cum[-1])
            next(sums)
            cum.extend(sums)
            if tags is not None:
                tags.extend(map(self.tag_of, new))
            starts.extend(map(_T0, new))
        if self.may_overlap and not self.overlaps and len(starts) > 1:
            # an item starting before the one before it ends
            k = max(j, 1)
            self.overlaps = any(map(gt, self.ends(k - 1, len(starts) - 1), starts[k:]))
        return first, lengths


def covered_before(lane: Intervals, n: int, xs: Sequence[int]) -> list[int]:
    """Per instant of ``xs`` (ascending), the time the first ``n`` items cover before it.

    For disjoint intervals (a task's runs, a GIL's holders) that is the running sum up to the
    items that start before the instant, less what the last of them reaches past it: the
    smaller of ``cum[i]`` and ``cum[i - 1] + x - start[i - 1]``, worked out for every instant in
    one pass. A core lane can hold small overlaps (the CPU number is sampled once a
    millisecond): there the few items before an instant that reach past it are each taken off
    (up to 8 back)."""
    starts, cum = lane.starts, lane.cum
    m = len(xs)
    if n == len(starts):  # (the bisection is the dearest step: no bounds to pass is cheaper)
        idx = list(map(bisect_left, repeat(starts, m), xs))
    else:
        idx = list(map(bisect_left, repeat(starts, m), xs, repeat(0, m), repeat(n, m)))
    z = bisect_right(idx, 0)  # instants before the first item: nothing covered
    if z == m:
        return [0] * m
    if lane.overlaps:
        return [0] * z + [_covered_walk(lane, i, x) for i, x in zip(idx[z:], xs[z:])]
    # i: the first item starting at or after x; i - 1 the last one before it (the subscripts
    # inline: a map per array would build a list of indices and pass through the items twice)
    return [0] * z + [c if c < (h := cum[i - 1] - starts[i - 1] + x) else h
                      for i, x in zip(idx[z:], xs[z:]) for c in (cum[i],)]


def _covered_walk(lane: Intervals, i: int, x: int) -> int:
    """Time covered before ``x`` by the items before ``i`` (the first one starting at or after
    ``x``) of a lane whose items may overlap: those reaching past ``x`` are taken off."""
    total = lane.cum[i]
    for j in range(i - 1, max(i - 9, -1), -1):
        stop = lane.end(j)
        if stop <= x:
            break
        total -= stop - x
    return total


class LaneSet:
    """A run's core lanes (every RUN recorded on a CPU) and process lanes (the RUNs of the
    task threads of one process, kept only for processes whose threads share a GIL), folded
    together at each snapshot, with a log of where each lane changed.

    Everything here runs under the Timeline's lock."""

    LOG_KEEP = 64  # log entries kept per lane (older serials read as "changed anywhere")

    def __init__(self) -> None:
        self.cores: dict[int, Intervals] = {}
        self.procs: dict[int, Intervals] = {}
        self.switches: dict[int, int] = {}  # pid -> hand-offs between its threads
        # per lane ("c", cpu) / ("p", pid): [(snapshot serial, earliest start among what the
        # lane got before it)], so a pane can redo only the columns after it
        self.log: dict[tuple[str, int], list[tuple[int, int]]] = {}
        self.log_floor: dict[tuple[str, int], int] = {}  # serials up to this were dropped
        self._changed: dict[tuple[str, int], int] = {}  # lane -> earliest change since the last note

    def core(self, cpu: int) -> Intervals:
        lane = self.cores.get(cpu)
        if lane is None:
            lane = self.cores[cpu] = Intervals(itemgetter(EV_TASK), may_overlap=True)
        return lane

    def gil_lane(self, pid: int) -> Intervals:
        """The process lane of ``pid`` made of GIL events (a trace's inferred holders), not of
        its threads' runs: started empty, here, so that :meth:`fold` does not fill it."""
        lane = self.procs[pid] = Intervals(itemgetter(EV_TASK), may_overlap=True)
        self.switches[pid] = 0
        return lane

    def fold(self, tasks: dict, thread_pids: frozenset[int]) -> None:
        """Pack what the lanes got since the last fold; start a process lane for each process
        that has come to share its GIL between task threads (from its tasks' packed runs, so
        the task lanes must be folded first)."""
        for cpu, lane in self.cores.items():
            if lane.pending:
                self._note(("c", cpu), lane.fold()[0])
        for pid in thread_pids:
            lane = self.procs.get(pid)
            if lane is None:
                lane = self.procs[pid] = Intervals(itemgetter(EV_TASK), may_overlap=True)
                lane.pending = [(0, t.id, pid, 0, a, b, 0, None) for t in tasks.values() if t.pid == pid
                                for a, b in t.runs.spans(0, len(t.runs))]
                self.switches[pid] = 0
            if lane.pending:
                tid_of = _TidOf(tasks)
                j = bisect_left(lane.starts, min(map(_T0, lane.pending)))
                before = _handoffs(lane, j, tid_of)
                self._note(("p", pid), lane.fold()[0])
                self.switches[pid] += _handoffs(lane, j, tid_of) - before

    def _note(self, lane: tuple[str, int], at: int | None) -> None:
        if at is not None and at < self._changed.get(lane, at + 1):
            self._changed[lane] = at

    def note_snapshot(self, serial: int) -> None:
        """Log, under ``serial``, the earliest change of every lane changed since the last one."""
        log = self.log
        for key, at in self._changed.items():
            entries = log.get(key)
            if entries is None:
                entries = log[key] = []
            entries.append((serial, at))
            if len(entries) > 2 * self.LOG_KEEP:
                self.log_floor[key] = entries[-self.LOG_KEEP - 1][0]
                log[key] = entries[-self.LOG_KEEP:]  # a new list: readers keep theirs
        self._changed.clear()


def _handoffs(lane: Intervals, j: int, tid_of: "_TidOf") -> int:
    """Hand-offs between threads among the lane's items from ``j - 1`` on."""
    tids = list(map(tid_of.__getitem__, lane.tags[max(0, j - 1):]))
    return sum(map(ne, tids, tids[1:]))


class _TidOf(dict):
    """task id -> its thread id, looked up as the hand-offs ask (a process lane's fold reads
    only the tasks of its newest items, not every task of a run of 10,000)."""

    def __init__(self, tasks: dict) -> None:
        super().__init__()
        self._tasks = tasks

    def __missing__(self, task: int) -> int | None:
        t = self._tasks.get(task)
        tid = self[task] = None if t is None else t.tid
        return tid
