"""A cluster run's core lanes grouped by worker (engine/worker_cores.py, issue 17): which worker
ran what on which CPU, from the tasks' own RUN intervals, and the same columns when kept across
frames (WorkerCoreCellsCache) as computed afresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from concviz.engine.events import FINISH, RUN, SPAWN, START, read_trace
from concviz.engine.timeline import Timeline
from concviz.engine.worker_cores import (UNKNOWN_CPU, WorkerGroup, WorkerLanes, label_parts, worker_core_cells,
                                         worker_groups)
from concviz.widgets import lane_cache
from concviz.widgets.lane_cache import WorkerCoreCellsCache

from tests.unit.test_codes import live_batches, windows
from tests.unit.test_prefix import HEADER

FIXTURES = Path(__file__).parent.parent / "fixtures"
MS = 1_000_000

# random_run's workers (test_prefix): pid 100 with 4 task threads, pids 204 and 205 with one;
# and a worker that never got a task
CLUSTER_HEADER = {**HEADER, "model": "dask", "cluster": {"local": True, "workers": 4, "worker_list": [
    {"address": "tcp://10.0.0.1:1", "name": "0", "host": "10.0.0.1", "nthreads": 4, "pid": 100},
    {"address": "tcp://10.0.0.1:2", "name": "1", "host": "10.0.0.1", "nthreads": 1, "pid": 204},
    {"address": "tcp://10.0.0.1:3", "name": "2", "host": "10.0.0.1", "nthreads": 1, "pid": 205},
    {"address": "tcp://10.0.0.1:4", "name": "3", "host": "10.0.0.1", "nthreads": 2, "pid": 999},
]}}


def replayed(name: str):
    header, events = read_trace(FIXTURES / f"{name}.jsonl")
    tl = Timeline(header)
    tl.feed(events)
    tl.end(header.get("ended", "ok"))
    return tl.snapshot()


def test_not_a_cluster_run_has_no_worker_groups():
    assert worker_groups(replayed("processes-cpu"), replayed("processes-cpu").header) is None


def test_a_recorded_dask_run_groups_its_tasks_by_worker_and_adds_up_to_the_core_lanes():
    """dask-cpu (2 single-threaded workers): a group per worker process, named from its tasks'
    labels (the trace was recorded before the header listed them); every task in exactly one; per CPU, the
    workers' lanes add up to that core's lane, column by column and in busy time."""
    frame = replayed("dask-cpu")
    lanes = WorkerLanes()
    groups = lanes.groups(frame, frame.header)
    assert [g.name for g in groups] == ["0", "1"]
    assert sorted(i for g in groups for i in g.tasks) == list(range(len(frame.tasks)))
    for g in groups:
        assert {frame.tasks[i].pid for i in g.tasks} == {g.pid}
        host = label_parts(frame.tasks[g.tasks[0]].label)[1]
        assert g.threads == 1 and host and g.host == host
        assert g.heading() == f"worker {g.name} (pid {g.pid}) on {host}: 1 thread, 3 tasks"
    per_core = {row["cpu"]: row["busy_s"] * 1e9 for row in frame.stats["per_core"]}
    for cpu, ns in per_core.items():
        assert sum(dict(g.cpu_busy).get(cpu, 0) for g in groups) == pytest.approx(ns, abs=1)
    for t0, t1 in windows(frame):
        for width in (7, 120):
            for cpu in per_core:
                summed = [sum(col) for col in zip(*(worker_core_cells(frame, lanes, g.pid, cpu, t0, t1, width).busy
                                                    for g in groups))]
                # (a dense core lane is read from running sums: rounding apart)
                assert summed == pytest.approx(frame.core_cells(cpu, t0, t1, width).busy, abs=1e-6)


def test_workers_come_from_the_header_too_in_name_order():
    tl = Timeline(CLUSTER_HEADER)
    for batch in live_batches(0):
        tl.feed(batch)
    frame = tl.snapshot()
    groups = worker_groups(frame, frame.header)
    assert [(g.name, g.pid, g.threads, len(g.tasks)) for g in groups] == [
        ("0", 100, 4, 4), ("1", 204, 1, 1), ("2", 205, 1, 1), ("3", 999, 2, 0)]
    assert groups[0].cpus == (0, 1) and groups[1].cpus == (2,) and groups[3].cpus == ()
    assert groups[1].address == "tcp://10.0.0.1:2" and groups[3].busy_ns == 0
    assert sum(g.busy_ns for g in groups) == pytest.approx(frame.stats["busy_s"] * 1e9, abs=10)


def test_a_retried_task_counts_for_its_last_worker_from_its_retry_on():
    """The lost attempt ran on a worker that died (its pid is no longer the task's): its RUN
    intervals stay in the task's lane, not in any worker lane."""
    header = {**HEADER, "model": "dask", "cluster": {"local": True}}
    tl = Timeline(header)
    tl.feed([(SPAWN, 0, 1, 1, 0, 0, -1, None), (START, 0, 10, 11, 1 * MS, 1 * MS, 0, "w0@h"),
             (RUN, 0, 10, 11, 1 * MS, 5 * MS, 0, None),
             (START, 0, 20, 21, 8 * MS, 8 * MS, 1, "#2 w1@h"), (RUN, 0, 20, 21, 8 * MS, 10 * MS, 1, None),
             (FINISH, 0, 20, 21, 10 * MS, 10 * MS, 1, None)])
    tl.end("ok")
    frame = tl.snapshot()
    lanes = WorkerLanes()
    (group,) = lanes.groups(frame, frame.header)
    assert (group.pid, group.name, group.cpu_busy) == (20, "1", ((1, 2 * MS),))
    assert worker_core_cells(frame, lanes, 20, 0, 0, 10 * MS, 10).busy == [0.0] * 10
    assert worker_core_cells(frame, lanes, 20, 1, 0, 10 * MS, 10).busy == pytest.approx([0.0] * 8 + [1.0, 1.0])


def test_task_labels_name_the_worker_host_and_attempt():
    assert label_parts("w0@vm") == ("0", "vm", 1)
    assert label_parts("#3 wfar@box.lan") == ("far", "box.lan", 3)
    assert label_parts("pid 12") == ("?", "", 1) and label_parts(None) == ("?", "", 1)


def test_a_worker_elsewhere_has_one_lane_of_unknown_cpu():
    header = {**HEADER, "model": "dask", "cluster": {"local": False}}
    tl = Timeline(header)
    tl.feed([(SPAWN, 0, 1, 1, 0, 0, -1, None), (START, 0, 10, 11, MS, MS, -1, "w0@far"),
             (RUN, 0, 10, 11, MS, 3 * MS, -1, None), (FINISH, 0, 10, 11, 3 * MS, 3 * MS, -1, None)])
    tl.end("ok")
    frame = tl.snapshot()
    lanes = WorkerLanes()
    (group,) = lanes.groups(frame, frame.header)
    assert group.cpus == (UNKNOWN_CPU,) and group.host == "far"
    assert sum(worker_core_cells(frame, lanes, 10, UNKNOWN_CPU, 0, 4 * MS, 4).busy) == pytest.approx(2.0)


@pytest.mark.parametrize("seed", range(3))
def test_worker_cells_kept_across_frames_equal_cells_computed_afresh(seed, monkeypatch):
    """At every frame of a live run (open RUN intervals included), the cache's cells (over
    lanes it keeps adding to) equal a computation afresh (lanes built from nothing); it worked
    out well under the columns drawn (it reuses the columns before the earliest change of the
    CPU's core lane). Half-way, a task is retried on another worker: its lost attempt leaves the
    lanes, which are built again."""
    worked = [0]
    closed = lane_cache.worker_core_closed

    def counted(frame, lanes, pid, cpu, t0, t1, width, first=0, prev=None):
        worked[0] += width - first
        return closed(frame, lanes, pid, cpu, t0, t1, width, first, prev)

    monkeypatch.setattr(lane_cache, "worker_core_closed", counted)
    batches = live_batches(seed)
    first = min(e[4] for b in batches for e in b)
    last = max(e[5] for b in batches for e in b)
    # task 5 (pid 205) ran again on pid 204 from the middle on
    middle = (first + last) // 2
    retry_at = len(batches) // 2
    batches.insert(retry_at, [(START, 5, 204, 1, middle, middle, 2, "#2 w1@h")])
    tl = Timeline(CLUSTER_HEADER)
    views = [(first, last + (last - first) // 4, 120), (first + (last - first) // 3, last, 7)]
    caches = [WorkerCoreCellsCache() for _ in views]
    drawn, generations = 0, set()
    for k, batch in enumerate(batches):
        tl.feed(batch)
        if k % 2:
            continue
        frame = tl.snapshot(now_ns=max(e[5] for e in batch))
        fresh = WorkerLanes()
        for cache, (t0, t1, width) in zip(caches, views):
            groups = cache.groups(frame)
            assert groups == fresh.groups(frame, frame.header)
            generations.add(cache.index.generation)
            if k < retry_at:
                assert cache.index.generation == 0  # only added to, until the retry
            for group in groups:
                for cpu in group.cpus:
                    got = cache.cells(frame, (group.pid, cpu), t0, t1, width)
                    drawn += width
                    want = worker_core_cells(frame, fresh, group.pid, cpu, t0, t1, width)
                    assert got.busy == pytest.approx(want.busy, abs=1e-9), (k, group.pid, cpu)
                    assert got.task == want.task, (k, group.pid, cpu)
    # built again after the retry (and again where the lost attempt's late RUN intervals moved
    # where the task is counted from)
    assert len(generations) >= 2
    assert 0 < worked[0] < 0.75 * drawn, (worked[0], drawn)


def test_heading_says_who_the_worker_is():
    g = WorkerGroup(pid=7, name="2", host="box", address="tcp://1.2.3.4:5", threads=2,
                    cpu_busy=((0, 5), (3, 7)), tasks=(1,))
    assert g.heading() == "worker 2 (pid 7) on box: 2 threads, 1 task"
    assert g.cpus == (0, 3) and g.busy_ns == 12


def test_the_chrome_export_names_a_cluster_run_s_processes_after_its_workers():
    from concviz.engine.export import to_chrome_trace

    header, events = read_trace(FIXTURES / "dask-cpu.jsonl")
    names = {e["pid"]: e["args"]["name"] for e in to_chrome_trace(header, events)["traceEvents"]
             if e.get("name") == "process_name"}
    frame = replayed("dask-cpu")
    assert names == {g.pid: g.heading() for g in worker_groups(frame, frame.header)}
    assert all(n.startswith("worker ") for n in names.values())
