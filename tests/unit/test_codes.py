"""Frame.task_codes (what a task lane draws, computed where it is cheap) agrees with the plain
per-column classification of Frame.task_cells (the fractions every figure is built from).

task_codes works out only the columns where an interval begins or ends and gives the columns an
interval covers wholly their code at once; these tests hold it to the straightforward answer,
column by column, on random runs (fed in shuffled order, looked at mid-run and at the end) and on
every recorded trace, over whole, zoomed and overhanging windows, for lanes 1 and 3 rows tall.
"""

from __future__ import annotations

from math import ceil
from pathlib import Path

import pytest

from concviz.engine.events import PROGRESS, RUN, SLEEP, SLEEP_OPEN, read_trace
from concviz.engine import core_cells
from concviz.engine.cells import (CODE_BASE, CODE_BLANK, COL_CPU, COL_GIL, COL_LOCK, COL_OTHER, COL_QUEUED, COL_SLEEP,
                                  COL_UNKNOWN)
from concviz.engine.changes import changed_from
from concviz.engine.frame import Frame
from concviz.engine.timeline import Timeline
from concviz.widgets.lane_cache import CoreCellsCache, GilCellsCache, LaneCodes

from tests.unit.test_prefix import HEADER, random_run
from tests.unit.test_timeline import finish, run, sleep, spawn, start, t

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures").glob("*.jsonl"))


def reference_codes(frame: Frame, index: int, t0: int, t1: int, width: int, levels: int) -> list[list[int]]:
    """The classification spelled out: per column, the running share (split between the rows
    of a tall lane) over the state that took most of the rest of the column."""
    cells = frame.task_cells(index, t0, t1, width)
    rows = []
    for level in range(levels):
        row = []
        for c in range(width):
            others = [(cells.gil[c], COL_GIL), (cells.cpu[c], COL_CPU)]
            best, state = others[0] if others[0][0] >= others[1][0] else others[1]
            if cells.sleep[c] > best:
                best, state = cells.sleep[c], COL_SLEEP
            if cells.queued[c] > best:
                best, state = cells.queued[c], COL_QUEUED
            # a traced thread's waits, as the trace named them (empty for a run's task)
            for named, col in ((cells.lock, COL_LOCK), (cells.other, COL_OTHER), (cells.unknown, COL_UNKNOWN)):
                if named and named[c] > best:
                    best, state = named[c], col
            share = min(1.0, max(0.0, cells.run[c] * levels - level))
            if share > 0.001:
                eighths = min(8, ceil(share * 8 - 1e-9))
                row.append(eighths * CODE_BASE + (state if best > 0.1 else CODE_BLANK))
            else:
                row.append(state if best > 0.05 else CODE_BLANK)
        rows.append(row)
    return rows


def windows(frame: Frame) -> list[tuple[int, int]]:
    a, b = frame.first_ns, frame.t_end
    span = max(b - a, 1)
    return [(a, b), (a + span // 3, a + span // 2), (a - span // 10, b + span // 5),
            (a + span // 7, a + span // 7 + max(1, span // 500))]


MAX_LANES = 48  # lanes checked in a run of more tasks: every k-th, the first and the last


def lanes_to_check(frame: Frame) -> list[int]:
    """Every lane of a small run; of a run of thousands of tasks (whose lanes are alike and
    whose check would take minutes), an even spread that keeps the first and the last."""
    n = len(frame.tasks)
    if n <= MAX_LANES:
        return list(range(n))
    return sorted({*range(0, n, -(-n // MAX_LANES)), n - 1})


def assert_codes_match(frame: Frame) -> int:
    checked = 0
    lanes = lanes_to_check(frame)
    for t0, t1 in windows(frame):
        for width in (3, 17, 120, 333):
            for levels in (1, 3):
                for i in lanes:
                    got = frame.task_codes(i, t0, t1, width, levels)
                    want = reference_codes(frame, i, t0, t1, width, levels)
                    assert got == want, (i, t0, t1, width, levels)
                    checked += 1
    return checked


@pytest.mark.parametrize("seed", range(4))
def test_codes_match_cells_on_random_runs(seed):
    tl = Timeline(HEADER)
    batches = random_run(seed)
    for k, batch in enumerate(batches):
        tl.feed(batch)
        if k == len(batches) // 2:
            assert_codes_match(tl.snapshot())  # mid-run: live lanes, unfinished tasks
    tl.end("ok")
    assert assert_codes_match(tl.snapshot()) > 0


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_codes_match_cells_on_recorded_runs(path):
    header, events = read_trace(path)
    tl = Timeline(header)
    tl.feed(events[: len(events) // 2])
    assert_codes_match(tl.snapshot(now_ns=events[len(events) // 2][4]))
    tl.feed(events[len(events) // 2:])
    tl.end("ok")
    assert assert_codes_match(tl.snapshot()) > 0


def test_codes_say_what_the_lane_shows():
    """A hand-made lane: queued, then running, waiting for the GIL while a sibling ran, asleep."""
    tl = Timeline({"model": "threads", "spec": {"tasks": 2}, "machine": {"cpus": 2, "gil": True}})
    tl.feed([spawn(0, 0), spawn(1, 0), start(0, 10, 10, 1), start(1, 10, 10, 2),
             run(0, 10, 20, 10, 1), run(1, 20, 30, 10, 2), sleep(0, 30, 40, 10, 1),
             finish(0, 40, 10, 1), run(1, 30, 40, 10, 2), finish(1, 40, 10, 2)])
    frame = tl.snapshot()
    [row] = frame.task_codes(0, t(0), t(40), 4)
    # 10 ms columns: queued, ran all of it, waited for the GIL (task 1 ran), asleep
    assert row == [COL_QUEUED, 8 * CODE_BASE + CODE_BLANK, COL_GIL, COL_SLEEP]
    top, bottom = frame.task_codes(0, t(0), t(40), 4, 2)[::-1]
    assert bottom[1] == top[1] == 8 * CODE_BASE + CODE_BLANK  # a full column fills both rows
    # any running share shows: 1% of a column is one eighth of a block, half is four
    eighths = [code // CODE_BASE for code in frame.task_codes(1, t(20), t(20.4), 4)[0]]
    assert eighths == [8, 8, 8, 8]
    tl2 = Timeline({"model": "processes", "spec": {"tasks": 1}, "machine": {"cpus": 2, "gil": True}})
    tl2.feed([spawn(0, 0, 20), start(0, 0, 20, 1), run(0, 1, 1.1, 20, 1), run(0, 20, 25, 20, 1),
              finish(0, 40, 20, 1)])
    eighths = [code // CODE_BASE for code in tl2.snapshot().task_codes(0, t(0), t(40), 4)[0]]
    assert eighths == [1, 0, 4, 0]



def test_plain_columns_follow_the_whole_rule():
    """A column the task was alive all through, not asleep nor queued, is coded from its running
    and sibling shares alone (column_codes.plain_codes): the same code as the whole rule
    (column_codes.classify) gives it, on random shares and on each threshold of the rule (an eighth,
    a thousandth, three quarters, all of it, the GIL's half of the wait) and beside them."""
    import random

    from concviz.engine.column_codes import classify, plain_codes

    rnd = random.Random(13)
    edges = [0.0, 1e-12, 0.001, 0.1, 0.5, 0.75, 0.8, 0.9, 0.95, 1.0 - 1e-9, 1.0, 1.0 + 1e-12]
    edges += [k / 8 for k in range(9)]
    shares = []
    for x in edges:
        shares += [x, x * (1 + 1e-15), x * (1 - 1e-15), x + 1e-9, x - 1e-9]
    shares = [min(1.0, max(0.0, x)) for x in shares] + [rnd.random() for _ in range(400)]
    pairs = [(r, p) for r in shares for p in shares[::7]]
    # the GIL's part of the wait equal to the CPU's: p - r == (1 - r) - (p - r), give or take
    for r in shares:
        p = (1.0 + r) / 2
        pairs += [(r, p), (r, p * (1 + 1e-15)), (r, p * (1 - 1e-15)), (r, p + 1e-9), (r, p - 1e-9)]
    rnd.shuffle(pairs)
    run = [r for r, _ in pairs]
    sibling = [p for _, p in pairs]
    n = len(pairs)
    assert plain_codes(run, sibling) == classify(run, [0.0] * n, [1.0] * n, [0.0] * n, sibling)
    assert {c % CODE_BASE for c in plain_codes(run, sibling)} >= {COL_GIL, COL_CPU, CODE_BLANK}

def live_batches(seed: int) -> list[list[tuple]]:
    """random_run as a live UI sees it: before a batch that closes a RUN or a SLEEP, a report
    that it is still open (PROGRESS halfway through the RUN, SLEEP_OPEN at the sleep's start)."""
    out = []
    for batch in random_run(seed):
        last = batch[-1]
        kind, task, pid, tid, a, b, cpu, _ = last
        if kind == RUN:
            out.append([(PROGRESS, task, pid, tid, a, a + (b - a) // 2, cpu, None)])
        elif kind == SLEEP:
            out.append([(SLEEP_OPEN, task, pid, tid, a, a, -1, None)])
        out.append(batch)
    return out


@pytest.fixture
def computed(monkeypatch):
    """Columns the frames actually worked out for the caches (task lanes, core lanes): what a
    cache saves is what it did not ask a frame for. ``KIND_kept``: the columns a cache took
    from an earlier frame's answer for a lane that did change (a lane that did not change is
    reused whole, and counts in neither)."""
    count = {"task": 0, "core": 0, "gil": 0, "task_kept": 0, "core_kept": 0, "gil_kept": 0}
    task_codes_from, core_columns, gil_columns = Frame.task_codes_from, Frame.core_columns, Frame.gil_columns

    def counted_task(self, index, t0, t1, width, levels, from_col, prev):
        count["task"] += width - from_col
        count["task_kept"] += from_col
        return task_codes_from(self, index, t0, t1, width, levels, from_col, prev)

    def counted_core(self, cpu, t0, t1, width, first=0, prev=None):
        count["core"] += width - first
        count["core_kept"] += first
        return core_columns(self, cpu, t0, t1, width, first, prev)

    def counted_gil(self, pid, t0, t1, width, first=0, prev=None):
        count["gil"] += width - first
        count["gil_kept"] += first
        return gil_columns(self, pid, t0, t1, width, first, prev)

    monkeypatch.setattr(Frame, "task_codes_from", counted_task)
    monkeypatch.setattr(Frame, "core_columns", counted_core)
    monkeypatch.setattr(Frame, "gil_columns", counted_gil)
    return count


@pytest.mark.parametrize("seed", range(4))
def test_lane_codes_kept_across_frames_equal_codes_computed_afresh(seed, computed):
    """LaneCodes reuses the columns before the earliest change of a lane (or of a sibling
    thread's lane); at every frame of a live run its codes equal a full computation, and the
    frames were asked for well under half the columns drawn."""
    tl = Timeline(HEADER)
    batches = live_batches(seed)
    tl.feed(batches[0])
    first = min(e[4] for b in batches for e in b)
    last = max(e[5] for b in batches for e in b)
    # a steady live axis (the quantised "fit" window), a zoomed one, and a tall-lane one
    views = [(first, last + (last - first) // 4, 120, 1), (first + (last - first) // 3, last, 57, 1),
             (first, last + 1, 90, 3)]
    caches = [LaneCodes() for _ in views]
    drawn = 0
    for k, batch in enumerate(batches[1:]):
        tl.feed(batch)
        if k % 3:
            continue
        now = max(e[5] for e in batch)
        frame = tl.snapshot(now_ns=now)
        for cache, (t0, t1, width, levels) in zip(caches, views):
            for i in range(len(frame.tasks)):
                if (k + i) % 5 == 0:
                    continue  # lanes out of sight for a frame: they must catch up later
                got = cache.rows(frame, i, t0, t1, width, levels)
                drawn += width
                assert got == frame.task_codes(i, t0, t1, width, levels), (k, i, width, levels)
    tl.end("ok")
    frame = tl.snapshot()
    assert 0 < computed["task"] < 0.75 * drawn, (computed["task"], drawn)
    # lanes that changed kept their columns before the change (not only unchanged lanes reused)
    assert computed["task_kept"] > 0.03 * drawn, (computed["task_kept"], drawn)
    for cache, (t0, t1, width, levels) in zip(caches, views):
        for i in range(len(frame.tasks)):
            assert cache.rows(frame, i, t0, t1, width, levels) == frame.task_codes(i, t0, t1, width, levels)


def test_changed_from_points_at_the_first_new_interval():
    tl = Timeline({"model": "threads", "spec": {"tasks": 1}, "machine": {"cpus": 2, "gil": True}})
    tl.feed([spawn(0, 0), start(0, 1, 10, 1), run(0, 1, 5, 10, 1)])
    a = tl.snapshot(now_ns=t(6))
    tl.feed([run(0, 7, 9, 10, 1)])
    b = tl.snapshot(now_ns=t(10))
    # the lane ended at its last report (5 ms), now at 9 ms; the new RUN starts at 7 ms
    assert changed_from(a.tasks[0], b.tasks[0], a.now_ns, b.now_ns) == t(5)
    assert changed_from(b.tasks[0], b.tasks[0], b.now_ns, t(20)) == float("inf")
    tl.feed([finish(0, 12, 10, 1)])
    c = tl.snapshot()
    assert changed_from(b.tasks[0], c.tasks[0], b.now_ns, c.now_ns) == t(9)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("overlap", [False, True])
def test_core_cells_kept_across_frames_equal_cells_computed_afresh(seed, overlap, computed):
    """CoreCellsCache reuses a core lane's columns before the earliest start among the RUN
    intervals that reached it since the last frame (late ones included); at every frame its
    cells equal a full computation, and the frames were asked for under three quarters of the
    columns drawn (without reuse: all of them). With ``overlap``, two processes' intervals share core 2 (a core lane can hold small
    overlaps: the CPU number is sampled once a millisecond)."""
    batches = live_batches(seed)
    if overlap:
        batches = [[e[:6] + (2,) + e[7:] if e[0] in (RUN, PROGRESS) and e[6] == 3 else e for e in b]
                   for b in batches]
    tl = Timeline(HEADER)
    first = min(e[4] for b in batches for e in b)
    last = max(e[5] for b in batches for e in b)
    views = [(first, last + (last - first) // 4, 120), (first + (last - first) // 3, last, 7)]
    caches = [CoreCellsCache() for _ in views]
    drawn = 0
    for k, batch in enumerate(batches):
        tl.feed(batch)
        if k % 2:
            continue
        frame = tl.snapshot(now_ns=max(e[5] for e in batch))
        for cache, (t0, t1, width) in zip(caches, views):
            for cpu in sorted(frame.cores):
                if (k + cpu) % 7 == 0:
                    continue  # a lane not drawn in this frame must catch up in the next
                got = cache.cells(frame, cpu, t0, t1, width)
                assert cache.cells(frame, cpu, t0, t1, width) is got  # asked again: the same answer
                drawn += width
                want = frame.core_cells(cpu, t0, t1, width)
                assert got.busy == pytest.approx(want.busy, abs=1e-9), (k, cpu, width)
                assert got.task == want.task, (k, cpu, width)
    assert 0 < computed["core"] < 0.75 * drawn, (computed["core"], drawn)
    assert computed["core_kept"] > 0.03 * drawn, (computed["core_kept"], drawn)  # (see test above)



@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dense", [False, True])
def test_gil_cells_kept_across_frames_equal_cells_computed_afresh(seed, dense, computed):
    """GilCellsCache reuses a GIL lane's columns before the earliest start among the RUN
    intervals that reached its process since the last frame; at every frame its cells equal a
    full computation (over few columns the lane is dense: read from running sums), and the frames
    were asked for under three quarters of the columns drawn."""
    batches = live_batches(seed)
    tl = Timeline(HEADER)
    first = min(e[4] for b in batches for e in b)
    last = max(e[5] for b in batches for e in b)
    width = 7 if dense else 120
    views = [(first, last + (last - first) // 4, width), (first + (last - first) // 3, last, width)]
    caches = [GilCellsCache() for _ in views]
    drawn = 0
    kinds = set()
    for k, batch in enumerate(batches):
        tl.feed(batch)
        if k % 2:
            continue
        frame = tl.snapshot(now_ns=max(e[5] for e in batch))
        for cache, (t0, t1, w) in zip(caches, views):
            for pid in sorted(frame.thread_pids):
                if k % 7 == 0:
                    continue  # a lane not drawn in this frame must catch up in the next
                got = cache.cells(frame, pid, t0, t1, w)
                assert cache.cells(frame, pid, t0, t1, w) is got  # asked again: the same answer
                drawn += w
                want = frame.gil_cells(pid, t0, t1, w)
                assert got.busy == pytest.approx(want.busy, abs=1e-9), (k, pid, w)
                assert got.task == want.task, (k, pid, w)
                kinds.add(core_cells.gil_columns(frame, pid, t0, t1, w).dense)  # (not counted)
    assert drawn and 0 < computed["gil"] < 0.75 * drawn, (computed["gil"], drawn)
    assert computed["gil_kept"] > 0.03 * drawn, (computed["gil_kept"], drawn)  # (see test above)
    assert dense in kinds

def test_lane_log_says_where_a_core_lane_changed():
    tl = Timeline({"model": "threads", "spec": {"tasks": 2}, "machine": {"cpus": 2, "gil": True}})
    tl.feed([spawn(0, 0), start(0, 0, 10, 1), spawn(1, 0), start(1, 0, 10, 2), run(0, 1, 5, 10, 1, cpu=0)])
    a = tl.snapshot()
    assert a.lane_changed_from(("c", 0), a.serial) == float("inf")
    tl.feed([run(1, 6, 9, 10, 2, cpu=0)])
    tl.feed([run(0, 5, 6, 10, 1, cpu=0)])  # a late batch: an earlier interval
    b = tl.snapshot()
    assert b.lane_changed_from(("c", 0), a.serial) == t(5)
    assert b.lane_changed_from(("c", 1), a.serial) == float("inf")  # nothing on cpu 1
    assert b.lane_changed_from(("c", 0), b.serial) == float("inf")
    for _ in range(3 * Timeline.LANE_LOG_KEEP):  # a long history is trimmed: then "anywhere"
        tl.feed([run(0, 10, 11, 10, 1, cpu=0)])
        tl.snapshot()
    assert tl.snapshot().lane_changed_from(("c", 0), a.serial) == float("-inf")


def test_caches_do_not_mix_runs():
    """A second run over the same window (a trace replayed again: the same clock values) must
    not reuse the first run's columns, however its snapshots are numbered."""
    batches = random_run(5)
    first = min(e[4] for b in batches for e in b)
    last = max(e[5] for b in batches for e in b)
    t0, t1, width = first, last, 120
    cores, lanes = CoreCellsCache(), LaneCodes()
    a = Timeline(HEADER)
    for batch in batches:
        a.feed(batch)
    frame = a.snapshot()
    for cpu in frame.cores:
        cores.cells(frame, cpu, t0, t1, width)
    for i in range(len(frame.tasks)):
        lanes.rows(frame, i, t0, t1, width)
    b = Timeline(HEADER)
    for batch in batches[: len(batches) // 3]:
        b.feed(batch)
    for _ in range(5):
        frame = b.snapshot()  # its serials pass the first run's
    for cpu in frame.cores:
        assert cores.cells(frame, cpu, t0, t1, width).busy == frame.core_cells(cpu, t0, t1, width).busy
    for i in range(len(frame.tasks)):
        assert lanes.rows(frame, i, t0, t1, width) == frame.task_codes(i, t0, t1, width)
