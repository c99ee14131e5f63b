"""Runs stacked on one time axis (issue 14): every run from its own start over the longest run's
span, so the shorter run ends part-way across; a live run sweeps in a window where a GIL turn
spans several columns; the rows are shared so every run keeps its label and its lanes."""

from __future__ import annotations

from pathlib import Path

import pytest

from concviz.engine.events import read_trace
from concviz.engine.spec import RunSpec
from concviz.engine.timeline import Timeline
from concviz.stack import (
    TURN_COLUMNS,
    Allotted,
    BlockRows,
    StackedRun,
    allot,
    memory_scale,
    settings_text,
    shared_span,
    shows_memory,
    status_text,
    sweep_span,
    sweep_window,
    whole_window,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"


def recorded(name: str, until: float = 1.0):
    """The frame of a recorded run, whole or as a live viewer saw it ``until`` of the way."""
    header, events = read_trace(FIXTURES / f"{name}.jsonl")
    first, last = min(e[4] for e in events), max(e[5] for e in events)
    t = first + int((last - first) * until)
    timeline = Timeline(header)
    timeline.feed(sorted((e for e in events if e[5] <= t), key=lambda e: e[5]))
    if until >= 1.0:
        timeline.end("ok")
    return RunSpec.from_dict(header["spec"]), timeline.snapshot(now_ns=t)


def last_column(frame, window, width: int = 100) -> int:
    """The last column of ``width`` in which any task of ``frame`` was alive."""
    last = -1
    for i in range(len(frame.tasks)):
        alive = frame.task_cells(i, window.t0, window.t1, width).alive
        last = max([last, *(c for c, a in enumerate(alive) if a > 0)])
    return last


def test_every_run_from_its_own_start_over_the_longest_span():
    threads = StackedRun("threads", *recorded("threads-cpu"))
    processes = StackedRun("processes", *recorded("processes-cpu"))
    span = shared_span([threads, processes])
    assert span == pytest.approx(threads.frame.stats["wall_s"] * 1e9, rel=0.01)
    windows = [whole_window(r.frame, span) for r in (threads, processes)]
    for run, window in zip((threads, processes), windows):
        assert window.t0 == window.origin == run.frame.first_ns and window.span == span
    # the difference is seen as length: the processes' lanes end where their wall time does
    ends = [last_column(r.frame, w) for r, w in zip((threads, processes), windows)]
    share = processes.frame.stats["wall_s"] / threads.frame.stats["wall_s"]
    assert ends[0] >= 97
    assert ends[1] == pytest.approx(100 * share, abs=3)


def test_a_sweeping_run_does_not_set_the_span_and_pages_through_its_run():
    done = StackedRun("processes", *recorded("processes-cpu"))
    spec, frame = recorded("threads-cpu", until=0.6)
    live = StackedRun("threads", spec, frame, live=True)
    assert live.sweeping and shared_span([done, live]) == done.frame.t_end - done.frame.first_ns
    span = sweep_span(5.0, 93)
    assert span == 150_000_000  # 5 ms every 4.5 ms of 150: 3.1 columns a turn
    assert 93 * 5e6 / span >= TURN_COLUMNS
    window = sweep_window(frame, span)
    elapsed = frame.now_ns - frame.first_ns
    assert window.span == span and window.origin == frame.first_ns
    assert window.t0 - window.origin == elapsed // span * span  # the page the live edge is on
    assert window.t0 <= frame.now_ns < window.t1


def test_labels_name_the_settings_and_the_wall_time():
    assert settings_text("threads", RunSpec(model="threads", tasks=4, scale=0.5).validate()) \
        == "cpu · 4 tasks · scale 0.5"
    pool = RunSpec(model="pool", tasks=8, workers=2, scale=0.25, switch_interval_ms=1).validate()
    assert settings_text("two", pool) == "pool · cpu · 8 tasks · 2 workers · scale 0.25 · switch 1 ms"
    # a net run is sized by its connections, requests and the server's latency, not by a scale
    net = RunSpec(model="asyncio", workload="net-slow", tasks=1000).validate()
    assert settings_text("asyncio", net) == "net-slow · 1,000 connections x 1 request, 1000 ms replies"
    fast = RunSpec(model="thread-pool", workload="net", tasks=8, workers=4, requests=20, latency_ms=2.5).validate()
    assert settings_text("fast", fast) == "thread-pool · net · 8 connections x 20 requests, 2.5 ms replies · 4 workers"
    spec, frame = recorded("processes-cpu")
    assert status_text(StackedRun("processes", spec, frame)) == f"{frame.stats['wall_s']:.2f} s"
    assert status_text(StackedRun("processes", spec)) == "waiting"
    spec, frame = recorded("threads-cpu", until=0.5)
    assert status_text(StackedRun("threads", spec, frame, live=True)).startswith("▶ ")
    spec, frame = recorded("threads-failed")
    assert status_text(StackedRun("threads", spec, frame)).endswith("(1 failed)")


@pytest.mark.parametrize("height, blocks, expected", [
    # room for three rows a lane
    (40, [BlockRows(2, 1, 4), BlockRows(2, 1, 4)], [Allotted(15, True), Allotted(15, True)]),
    # three rows a lane for both; the optional rows from the top while they fit
    (29, [BlockRows(2, 1, 4), BlockRows(2, 1, 4)], [Allotted(15, True), Allotted(14, False)]),
    # every lane as tall as every other: two rows each, not three for one run and two for another
    (24, [BlockRows(3, 0, 4), BlockRows(2, 1, 4)], [Allotted(11, True), Allotted(11, True)]),
    # taller lanes come before a second axis
    (21, [BlockRows(3, 0, 4), BlockRows(2, 1, 4)], [Allotted(11, True), Allotted(10, False)]),
    # one row a lane, the axis rows kept
    (14, [BlockRows(3, 0, 4), BlockRows(2, 1, 4)], [Allotted(7, True), Allotted(7, True)]),
    # one row a lane only without the second run's axis
    (13, [BlockRows(3, 0, 4), BlockRows(2, 1, 4)], [Allotted(7, True), Allotted(6, False)]),
    # squeezed: each run keeps its fixed rows and one lane, the rest shared by lanes
    (16, [BlockRows(3, 0, 8), BlockRows(2, 1, 8), BlockRows(2, 1, 8)],
     [Allotted(6, False), Allotted(5, False), Allotted(5, False)]),
])
def test_rows_are_shared_so_every_run_keeps_its_label_and_lanes(height, blocks, expected):
    got = allot(height, blocks, max_rows=3)
    assert got == expected
    assert sum(a.height for a in got) <= height


def test_net_runs_get_a_memory_row_drawn_against_the_whole_stacks_readings():
    threads, asyncio_ = recorded("threads-net-slow-1000"), recorded("asyncio-net-slow")
    runs = [StackedRun("threads", *threads), StackedRun("asyncio", *asyncio_)]
    assert all(shows_memory(r) for r in runs)
    cpu = StackedRun("threads", *recorded("threads-cpu"))
    assert not shows_memory(cpu)  # its memory barely moves: the row would take a lane's room
    readings = [list(f.resources.memory.bytes[:f.resources.n_memory]) for _, f in (threads, asyncio_)]
    assert memory_scale(runs) == (min(map(min, readings)), max(map(max, readings)))
    assert memory_scale(runs[1:]) == (min(readings[1]), max(readings[1]))
    # runs without readings (not started, or recorded before memory was read) add nothing
    assert memory_scale([cpu, StackedRun("asyncio", asyncio_[0])] + runs[1:]) == memory_scale(runs[1:])
    assert memory_scale([cpu]) is None
