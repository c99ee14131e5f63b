"""The packed lanes answer what a plain walk over every interval answers.

A frame reads a dense lane from running sums over packed arrays (store.py), every column edge
at once; these tests hold its per-column fractions and codes to a walk over the raw events fed
so far, computed here from scratch, for random runs fed in shuffled batches, looked at mid-run
and at the end, over whole, zoomed and overhanging windows.
"""

from __future__ import annotations

from math import ceil

import pytest

from concviz.engine.cells import CODE_BASE, CODE_BLANK, COL_CPU, COL_GIL, COL_QUEUED, COL_SLEEP
from concviz.engine.events import FINISH, RUN, SLEEP, SPAWN, START
from concviz.engine.timeline import Timeline

from tests.unit.test_prefix import HEADER, random_run


def spread(intervals, t0, t1, width):
    """Per column of [t0, t1), the sum of the overlaps of ``intervals`` with it, in columns."""
    dt = (t1 - t0) / width
    out = [0.0] * width
    for a, b in intervals:
        for c in range(width):
            lo, hi = max(a, t0 + c * dt), min(b, t0 + (c + 1) * dt)
            if hi > lo:
                out[c] += (hi - lo) / dt
    return out


def union(intervals):
    out = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [tuple(x) for x in out]


class Walk:
    """The lanes of the events fed so far, from the events alone."""

    def __init__(self, events):
        self.events = events

    def of(self, task, kind):
        return [(e[4], e[5]) for e in self.events if e[0] == kind and e[1] == task]

    def life(self, task):
        """(spawn, start, lane end) of a task (random runs: no open intervals, own ends)."""
        mine = [e for e in self.events if e[1] == task]
        spawn = min((e[4] for e in mine if e[0] == SPAWN), default=None)
        start = min((e[4] for e in mine if e[0] == START), default=None)
        end = next((e[4] for e in mine if e[0] == FINISH), None)
        if end is None and start is not None:
            end = max(start, max(e[5] for e in mine))
        return spawn, start, end

    def thread_pid_runs(self, pid):
        return [(e[4], e[5]) for e in self.events if e[0] == RUN and e[2] == pid]

    def codes(self, task, pid_shared, t0, t1, width, now):
        spawn, start, end = self.life(task)
        run = spread(self.of(task, RUN), t0, t1, width)
        sleep = spread(self.of(task, SLEEP), t0, t1, width)
        queued = spread([(spawn, start if start is not None else now)] if spawn is not None else [], t0, t1, width)
        alive = spread([(start, end)] if start is not None else [], t0, t1, width)
        sibling = spread(union(self.thread_pid_runs(pid_shared)), t0, t1, width) if pid_shared else None
        row = []
        for c in range(width):
            w = alive[c] - run[c] - sleep[c]
            gil = min(max((sibling[c] - run[c]) if sibling else 0.0, 0.0), w) if w > 1e-9 else 0.0
            cpu = w - gil if w > 1e-9 else 0.0
            best, state = (gil, COL_GIL) if gil >= cpu else (cpu, COL_CPU)
            if sleep[c] > best:
                best, state = sleep[c], COL_SLEEP
            if queued[c] > best:
                best, state = queued[c], COL_QUEUED
            if run[c] > 0.001:
                row.append(min(8, ceil(run[c] * 8 - 1e-9)) * CODE_BASE + (state if best > 0.1 else CODE_BLANK))
            else:
                row.append(state if best > 0.05 else CODE_BLANK)
        return run, sleep, row


def windows(first, last):
    span = last - first
    return [(first, last), (first + span // 3, first + span // 2), (first - span // 10, last + span // 5),
            (first + span // 7, first + span // 7 + max(1, span // 500))]


def check(tl, fed, now):
    frame = tl.snapshot(now_ns=now)
    walk = Walk(fed)
    first, last = frame.first_ns, frame.t_end
    checked = 0
    for t0, t1 in windows(first, last):
        for width in (3, 17, 120):
            # a dense lane's column edges are whole nanoseconds: its fractions may differ from
            # the walk's by a nanosecond at each edge of a column
            tol = 2 * width / (t1 - t0)
            for i, task in enumerate(frame.tasks):
                shared = task.pid if task.pid in frame.thread_pids else None
                run, sleep, codes = walk.codes(task.id, shared, t0, t1, width, frame.now_ns)
                cells = frame.task_cells(i, t0, t1, width)
                assert cells.run == pytest.approx(run, abs=tol), (i, t0, t1, width)
                assert cells.sleep == pytest.approx(sleep, abs=tol), (i, t0, t1, width)
                assert frame.task_codes(i, t0, t1, width) == [codes], (i, t0, t1, width)
                checked += 1
            for cpu in frame.cores:
                want = spread([(e[4], e[5]) for e in fed if e[0] == RUN and e[6] == cpu], t0, t1, width)
                assert frame.core_cells(cpu, t0, t1, width).busy == pytest.approx(want, abs=tol)
            for pid in frame.thread_pids:
                want = spread(union(walk.thread_pid_runs(pid)), t0, t1, width)
                assert frame.gil_cells(pid, t0, t1, width).busy == pytest.approx(want, abs=tol)
                assert frame.process_cells(pid, t0, t1, width) == pytest.approx(want, abs=tol)
    return checked


@pytest.mark.parametrize("fold_after", [(Timeline.FOLD_AFTER, Timeline.FOLD_LANES_AFTER), (7, 10**9), (7, 30)])
@pytest.mark.parametrize("seed", range(3))
def test_packed_lanes_answer_what_a_walk_over_every_interval_answers(seed, fold_after, monkeypatch):
    """(With small ``fold_after``, feed packs the task lanes, or every lane, itself every few
    batches, late ones included, as it does under a flood of events or in a headless run.)"""
    monkeypatch.setattr(Timeline, "FOLD_AFTER", fold_after[0])
    monkeypatch.setattr(Timeline, "FOLD_LANES_AFTER", fold_after[1])
    batches = random_run(seed, turns=1500)  # hundreds of intervals a lane: dense at 120 columns too
    tl = Timeline(HEADER)
    fed = []
    checked = 0
    for k, batch in enumerate(batches):
        tl.feed(batch)
        fed += batch
        if k in (len(batches) // 3, 2 * len(batches) // 3):
            checked += check(tl, fed, max(e[5] for e in fed))  # mid-run: unfinished tasks, late batches to come
    checked += check(tl, fed, None)
    assert checked == 3 * 4 * 3 * 6


def test_packed_lanes_hold_no_event_tuples():
    """The Timeline keeps intervals packed in arrays: after a snapshot, no lane holds an event."""
    tl = Timeline(HEADER)
    for batch in random_run(7):
        tl.feed(batch)
    tl.snapshot()
    lanes = [t.runs for t in tl.tasks.values()] + [t.sleeps for t in tl.tasks.values()]
    lanes += list(tl.cores.values()) + list(tl.proc_runs.values())
    assert all(not lane.pending for lane in lanes)
    assert sum(len(t.runs) for t in tl.tasks.values()) == sum(1 for b in random_run(7) for e in b if e[0] == RUN)


def test_thread_runs_are_every_run_of_a_process_in_start_order():
    """Frame.thread_runs gives a process's RUN intervals with their threads: a GIL-sharing
    process's from its lane, a single-thread process's from its task's lane."""
    tl = Timeline(HEADER)
    batches = random_run(3)
    for batch in batches:
        tl.feed(batch)
    frame = tl.snapshot()
    fed = [e for b in batches for e in b if e[0] == RUN]
    assert frame.thread_pids == {100} and set(frame.proc_runs) == {100}  # processes 204, 205: one thread each
    for pid in (100, 204, 205):
        got = frame.thread_runs(pid)
        want = sorted(((e[4], e[5], e[1], e[3]) for e in fed if e[2] == pid), key=lambda r: r[0])
        assert [tuple(r) for r in got] == want and got, pid
