"""The run's figures kept task by task (engine/figures.py) agree with a walk over every task.

A Timeline keeps the figures as tasks change, between snapshots; a Frame built by hand folds its
tasks once. Random runs, fed in batches in any order across workers and read live at random
instants, must give the same figures both ways, and the concurrency a plain sweep over every
task's start and end gives.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from concviz.engine import figures
from concviz.engine.events import ERROR, FINISH, PROGRESS, RUN, SLEEP, SPAWN, START
from concviz.engine.task import STOPPED_REASON
from concviz.engine.timeline import Timeline

MS = 1_000_000
ORIGIN = 7_000_000_000
FIGURES = ("done", "failed", "stopped", "not_started", "queued", "running", "concurrency_now", "concurrency_max",
           "concurrency_mean", "busy_s", "wall_s", "parallelism", "spawn_ms_median", "spawn_ms_max", "per_core")


def random_run(rng: random.Random, tasks: int) -> list[list[tuple]]:
    """Each task's own events (one worker thread each), in order, on a millisecond grid (ties
    between one task's end and another's start happen)."""
    workers = []
    for task in range(tasks):
        pid, tid = 100 + task % 3, 1 + task
        at = ORIGIN + rng.randrange(0, 40) * MS
        evs = [(SPAWN, task, pid, 1, at, at, -1, None)]
        if rng.random() < 0.1:  # never started: the run ends it
            workers.append(evs)
            continue
        at += rng.randrange(0, 5) * MS
        evs.append((START, task, pid, tid, at, at, 0, None))
        for _ in range(rng.randrange(0, 4)):
            d = rng.randrange(1, 6) * MS
            kind = RUN if rng.random() < 0.5 else SLEEP
            evs.append((kind, task, pid, tid, at, at + d, rng.randrange(0, 2) if kind == RUN else -1, None))
            at += d
        if rng.random() < 0.2:
            evs.append((PROGRESS, task, pid, tid, at, at + 2 * MS, 1, None))
        elif rng.random() < 0.8:
            at += rng.randrange(0, 3) * MS
            kind = FINISH if rng.random() < 0.8 else ERROR
            evs.append((kind, task, pid, tid, at, at, -1, None if kind == FINISH else "boom"))
        workers.append(evs)
    return workers


def by_hand(frame):
    """The same frame without the Timeline's kept figures: they are folded from its tasks."""
    return dataclasses.replace(frame, agg=None, _cache={})


def swept_concurrency(frame) -> tuple[int, float]:
    """(most tasks in flight at once, time-weighted mean): a sweep over every start and end,
    an end before a start at the same instant."""
    marks = []
    for t in frame.tasks:
        if t.start_ns is not None:
            marks.append((t.start_ns, 1))
            marks.append((t.end_ns if t.end_ns is not None else frame.now_ns, 0))
    marks.sort()
    cur = cmax = area = 0
    prev = frame.first_ns
    for when, is_start in marks:
        area += cur * (when - prev)
        prev = when
        cur += 1 if is_start else -1
        cmax = max(cmax, cur)
    wall = frame.stats["wall_s"] * 1e9
    return cmax, area / wall if wall else 0.0


@pytest.mark.parametrize("bulk", [figures.BULK, 1], ids=["one-by-one", "in-one-pass"])
@pytest.mark.parametrize("seed", range(12))
def test_kept_figures_agree_with_a_walk_over_every_task(seed, bulk, monkeypatch):
    """(``bulk``: past that many changes in one snapshot they are sorted in at once; at 1, every
    snapshot takes that path.)"""
    monkeypatch.setattr(figures, "BULK", bulk)
    rng = random.Random(seed)
    n = rng.randrange(1, 60)
    workers = random_run(rng, n)
    tl = Timeline({"model": "synthetic", "workload": "cpu", "spec": {"tasks": n},
                   "machine": {"cpus": 2, "gil": True, "switch_interval_ms": 5.0}})
    frames = []
    # workers flush batches of their own events in order; batches of different workers interleave
    cursors = [0] * n
    while any(c < len(w) for c, w in zip(cursors, workers)):
        i = rng.choice([i for i in range(n) if cursors[i] < len(workers[i])])
        k = rng.randrange(1, 4)
        tl.feed(workers[i][cursors[i]:cursors[i] + k])
        cursors[i] += k
        if rng.random() < 0.3:
            now = (tl.last_ns or ORIGIN) + rng.randrange(0, 3) * MS
            frames.append(tl.snapshot(now_ns=now))
    tl.end("cancelled" if rng.random() < 0.5 else "ok")
    frames.append(tl.snapshot())
    for frame in frames:
        kept, walked = frame.stats, by_hand(frame).stats
        assert {k: kept[k] for k in FIGURES} == {k: walked[k] for k in FIGURES}
        cmax, mean = swept_concurrency(frame)
        assert kept["concurrency_max"] == cmax
        assert kept["concurrency_mean"] == pytest.approx(mean, rel=1e-9, abs=1e-9)
        assert frame.open_runs == by_hand(frame).open_runs
        assert frame.t_end == by_hand(frame).t_end
    last = frames[-1].stats
    assert last["done"] + last["failed"] + last["not_started"] == n  # every task ended, once


def test_stopped_tasks_are_counted_among_the_failed():
    tl = Timeline({"model": "synthetic", "workload": "cpu", "spec": {"tasks": 2}, "machine": {"cpus": 1}})
    tl.feed([(SPAWN, 0, 1, 1, ORIGIN, ORIGIN, -1, None), (START, 0, 1, 2, ORIGIN, ORIGIN, 0, None),
             (SPAWN, 1, 1, 1, ORIGIN, ORIGIN, -1, None), (START, 1, 1, 3, ORIGIN, ORIGIN, 0, None),
             (FINISH, 0, 1, 2, ORIGIN + MS, ORIGIN + MS, -1, None)])
    live = tl.snapshot(now_ns=ORIGIN + 2 * MS).stats
    assert (live["done"], live["running"], live["failed"]) == (1, 1, 0)
    tl.end("cancelled")  # the user stopped the run
    s = tl.snapshot().stats
    assert (s["done"], s["failed"], s["stopped"], s["running"]) == (1, 1, 1, 0)
    assert tl.snapshot().tasks[1].error == STOPPED_REASON
