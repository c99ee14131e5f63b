"""The Timeline's incremental indexes agree with the plain computations they replace.

A frame over a dense window reads running sums (concviz/engine/prefix.py) instead of walking
every interval; whole-run figures are folded in as events arrive. These tests feed random runs
in a shuffled arrival order and compare with the straightforward answers.
"""

from __future__ import annotations

import random
import statistics

import pytest

from concviz.engine.events import FINISH, RUN, SLEEP, SPAWN, START
from concviz.engine.frame import Frame
from concviz.engine.prefix import RunLengths
from concviz.engine.store import Intervals
from concviz.engine.timeline import Timeline

HEADER = {"model": "synthetic", "workload": "cpu", "spec": {"tasks": 6},
          "machine": {"cpus": 2, "gil": True, "switch_interval_ms": 5.0}}


def random_run(seed: int, turns: int = 400) -> list[list[tuple]]:
    """6 tasks: 4 threads of one process taking turns on cores 0-1 (one GIL: never two at
    once), and 2 single-thread processes on cores 2 and 3. Each worker's events come in its
    own batches, in order; batches of different workers arrive out of time order."""
    rnd = random.Random(seed)
    t = 1_000_000_000

    def ids(k):
        return (100, 10 + k) if k < 4 else (200 + k, 1)

    workers: dict[int, list] = {k: [(SPAWN, k, 100, 1, t, t, -1, None),
                                    (START, k, *ids(k), t + 1, t + 1, 0, None)] for k in range(6)}
    now = {k: t + 10 for k in range(6)}
    for _ in range(turns):
        k = rnd.randrange(6)
        a = now[k] + rnd.randrange(0, 3_000_000)
        b = a + rnd.randrange(1, 6_000_000)
        kind = RUN if rnd.random() < 0.8 else SLEEP
        cpu = (rnd.randrange(2) if k < 4 else k - 2) if kind == RUN else -1
        workers[k].append((kind, k, *ids(k), a, b, cpu, None))
        now[k] = b
        if k < 4:
            for j in range(4):
                now[j] = max(now[j], b)
    for k in range(6):
        workers[k].append((FINISH, k, *ids(k), now[k], now[k], -1, None))
    chunks: dict[int, list] = {}
    for k, evs in workers.items():
        i = 0
        while i < len(evs):
            size = rnd.randrange(3, 30)
            chunks.setdefault(k, []).append(evs[i:i + size])
            i += size
    owners = [k for k, c in chunks.items() for _ in c]
    rnd.shuffle(owners)
    queues = {k: iter(c) for k, c in chunks.items()}
    return [next(queues[k]) for k in owners]


def plain(frame: Frame) -> Frame:
    """The same frame without the Timeline's indexes: everything computed from intervals."""
    return Frame(version=frame.version, header=frame.header, tasks=frame.tasks, cores=frame.cores,
                 proc_runs=frame.proc_runs, first_ns=frame.first_ns, now_ns=frame.now_ns,
                 ended=frame.ended, end_message=frame.end_message)


@pytest.mark.parametrize("seed", range(5))
def test_indexes_match_plain_computation(seed):
    tl = Timeline(HEADER)
    batches = random_run(seed)
    for i, batch in enumerate(batches):
        tl.feed(batch)
        if i % 7 == 0:
            tl.snapshot()  # snapshots in between: indexes are built piece by piece
    tl.end("ok")
    frame = tl.snapshot()
    ref = plain(frame)
    for key in ("gil_switches", "run_interval_ms_median", "run_intervals", "per_core", "busy_s"):
        assert frame.stats[key] == pytest.approx(ref.stats[key]), key
    a, b = frame.first_ns, frame.t_end
    for width in (3, 17, 120):  # few columns: the dense path; many: interval by interval
        for i in range(6):
            got, want = frame.task_cells(i, a, b, width), ref.task_cells(i, a, b, width)
            for part in ("run", "sleep", "gil", "cpu", "alive"):
                assert getattr(got, part) == pytest.approx(getattr(want, part), abs=1e-6), (i, part, width)
        for cpu in frame.cores:
            got, want = frame.core_cells(cpu, a, b, width), ref.core_cells(cpu, a, b, width)
            assert got.busy == pytest.approx(want.busy, abs=1e-6)
            idle = [c for c in range(width) if want.busy[c] == 0]
            assert all(got.task[c] == -1 for c in idle)
        got, want = frame.gil_cells(100, a, b, width), ref.gil_cells(100, a, b, width)
        assert got.busy == pytest.approx(want.busy, abs=1e-6)


def test_lanes_are_in_time_order_after_late_batches():
    tl = Timeline(HEADER)
    for batch in random_run(11):
        tl.feed(batch)
        tl.snapshot()
    assert tl.cores and tl.proc_runs
    for lanes in (tl.cores, tl.proc_runs):
        for lane in lanes.values():
            assert list(lane.starts) == sorted(lane.starts)


def test_late_arrivals_fold_into_place():
    """A lane fed in-order batches and late ones packs the same items as a sort of them all."""
    rnd = random.Random(3)
    lane = Intervals(lambda e: e[1])
    lane.pending = [(RUN, 0, 1, 1, t, t + 1 + t % 7, 0, None) for t in range(0, 1000, 10)]
    assert lane.fold()[0] == 0
    late = [(RUN, 1, 1, 2, t, t + 3, 0, None) for t in rnd.sample(range(700, 1000), 20)]
    lane.pending = late[:]
    earliest, lengths = lane.fold()
    assert earliest == min(e[4] for e in late) and sorted(lengths) == [3] * 20
    every = sorted([(t, t + 1 + t % 7, 0) for t in range(0, 1000, 10)] + [(e[4], e[5], 1) for e in late],
                   key=lambda x: x[0])
    assert lane[:] == every and lane.resorts == 1
    assert list(lane.cum) == [0] + list(__import__("itertools").accumulate(b - a for a, b, _ in every))


def test_run_length_median_exact_then_to_the_microsecond():
    rnd = random.Random(5)
    lengths = RunLengths()
    values = []
    for _ in range(30):
        new = [rnd.randrange(1_000, 20_000_000) for _ in range(rnd.randrange(1, 50))]
        lengths.new += new
        values += new
        lengths.fold()
        assert lengths.median_ns() == statistics.median(values)
    lengths.EXACT_MAX = 10  # past the exact limit: microsecond buckets
    lengths.new += [5_000_000] * 3
    values += [5_000_000] * 3
    lengths.fold()
    assert abs(lengths.median_ns() - statistics.median(values)) <= 1_000


def test_column_owners_pick_what_a_loop_over_the_columns_picks():
    """The owners of a dense lane's columns, worked out in one pass, are those of a plain loop:
    per column, the item under the midpoint or the next one, whichever overlaps it more."""
    from bisect import bisect_left

    from concviz.engine.prefix import column_owners, edges

    def loop(lane, n, t0, t1, width, first):
        who = [-1] * width
        xs = edges(t0, t1, width)
        for c in range(first, width):
            a, b = xs[c], xs[c + 1]
            j = bisect_left(lane.starts, (a + b) // 2, 0, n) - 1
            best = 0
            for k in (j, j + 1):
                if 0 <= k < n and min(lane.end(k), b) - max(lane.starts[k], a) > best:
                    best, who[c] = min(lane.end(k), b) - max(lane.starts[k], a), lane.tags[k]
        return who

    rnd = random.Random(1)
    for _ in range(200):
        lane, t, events = Intervals(lambda e: e[1]), 0, []
        for _ in range(rnd.randrange(0, 300)):
            t += rnd.randrange(0, 50)
            d = rnd.randrange(0, 80)
            events.append((RUN, rnd.randrange(9), 0, 0, t, t + d, 0, None))
            t += d
        lane.pending = events
        lane.fold()
        n = max(0, len(lane) - rnd.randrange(0, 3))  # a frame that saw fewer items than there are
        t0 = rnd.randrange(-100, 500)
        t1 = t0 + rnd.randrange(1, 20_000)
        for width in (1, 3, 17, 120):
            first = rnd.randrange(width)
            assert column_owners(lane, n, t0, t1, width, first) == loop(lane, n, t0, t1, width, first)


def test_run_length_median_past_the_exact_limit_is_the_middle_microsecond():
    """Past EXACT_MAX the median is read from a tracked bucket: it is the middle of the lengths
    counted per microsecond, after every fold (new buckets below, inside and above the middle)."""
    rnd = random.Random(9)
    lengths = RunLengths()
    lengths.EXACT_MAX = 50
    buckets = []
    for k in range(300):
        mean = rnd.choice((2_000, 200_000, 3_000_000))  # the middle moves both ways
        new = [int(rnd.expovariate(1 / mean)) for _ in range(rnd.randrange(1, 40))]
        lengths.new += new
        buckets += [x // 1000 for x in new]
        lengths.fold()
        if lengths.count > 50:
            s = sorted(buckets)
            n = len(s)
            want = (s[n // 2] * 1000 + 500) if n % 2 else ((s[n // 2 - 1] + s[n // 2]) * 1000 + 1000) / 2
            assert lengths.median_ns() == want, k
