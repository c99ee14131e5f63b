"""Traces: record -> read -> the same figures; Chrome export; unreadable traces (issue 2).

One recorded run per model kind is enough to exercise the format: a thread run (GIL switches,
many RUN intervals) and a process run with a failing task (an ERROR with text).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import defaultdict

import pytest

from concviz.engine.events import MEMORY, RUN_LEVEL, TRACE_VERSION, TraceError, read_trace
from concviz.engine.export import to_chrome_trace
from concviz.engine.timeline import Timeline

from .helpers import run

COMPARED = ("wall_s", "busy_s", "parallelism", "concurrency_max", "concurrency_mean",
            "gil_switches", "failed", "done", "run_intervals", "spawn_ms_median",
            "mem_baseline_mb", "mem_peak_mb", "mem_per_task_kb", "mem_threads_peak")
RECORDED = {
    "threads-cpu": dict(model="threads", workload="cpu", tasks=3, scale=0.1),
    "pool-mixed-failing": dict(model="pool", workload="mixed", tasks=4, scale=0.2, fail_task=2),
    # cancelled while task 1 hangs: the trace must also hold the ends the parent made up
    "asyncio-io-cancelled": dict(model="asyncio", workload="io", tasks=3, scale=0.2, hang_task=1),
}
ENDED = {"asyncio-io-cancelled": "cancelled"}


@pytest.fixture(scope="module", params=sorted(RECORDED))
def recorded(request, tmp_path_factory):
    """(path, the Frame of the live run that wrote it)."""
    path = tmp_path_factory.mktemp("traces") / f"{request.param}.jsonl"
    stop = None
    if request.param in ENDED:
        stop = threading.Event()
        threading.Timer(0.5, stop.set).start()
    frame = run(record=str(path), stop=stop, **RECORDED[request.param])
    assert frame.ended == ENDED.get(request.param, "ok")
    return path, frame


def replay(path):
    header, events = read_trace(path)
    timeline = Timeline()
    timeline.set_header(header)
    timeline.feed(events)
    timeline.end(header["ended"])
    return header, events, timeline.snapshot()


def test_round_trip_gives_the_same_figures(recorded):
    path, live = recorded
    header, events, again = replay(path)
    assert header["concviz_trace"] == TRACE_VERSION
    assert header["ended"] == live.ended
    for key in ("model", "workload", "machine", "spec"):
        assert header[key] == live.header[key]
    # the task events, and the memory read while it ran (run-level, not counted as the run's)
    assert len([e for e in events if e[0] not in RUN_LEVEL]) == live.events
    assert len([e for e in events if e[0] == MEMORY]) == live.resources.n_memory > 0
    for key in COMPARED:
        assert again.stats[key] == pytest.approx(live.stats[key], rel=1e-9, abs=1e-12), key
    assert again.per_task() == live.per_task()


def test_header_describes_the_run_and_the_machine(recorded):
    path, live = recorded
    header, _ = read_trace(path)
    machine = header["machine"]
    for key in ("cpus", "python", "implementation", "gil", "start_method", "switch_interval_ms"):
        assert key in machine, key
    assert header["spec"]["tasks"] == len(live.tasks)


def overlaps(trace: dict) -> list[str]:
    tracks = defaultdict(list)
    for e in trace["traceEvents"]:
        if e["ph"] == "X":
            tracks[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"], e["name"]))
    bad = []
    for track, slices in tracks.items():
        slices.sort()
        for (a0, a1, an), (b0, b1, bn) in zip(slices, slices[1:]):
            if b0 < a1 - 1e-3:  # 1 ns of slack for float rounding of microseconds
                bad.append(f"{track}: {an} {a0:.3f}-{a1:.3f} overlaps {bn} {b0:.3f}-{b1:.3f}")
    return bad


def test_chrome_export_is_valid_json_without_overlaps(recorded):
    path, live = recorded
    header, events = read_trace(path)
    trace = json.loads(json.dumps(to_chrome_trace(header, events)))
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert slices and all(e["dur"] >= 0 for e in slices)
    assert {e["name"] for e in slices} >= ({"running"} if live.stats["busy_s"] else {"sleeping"})
    assert not overlaps(trace)
    # every task has a named track, and the process names are metadata
    names = [e for e in trace["traceEvents"] if e["ph"] == "M"]
    assert {e["tid"] for e in names if e["name"] == "thread_name"} >= set(range(len(live.tasks)))
    assert any(e["name"] == "process_name" for e in names)
    # the running slices add up to the measured busy time
    running_us = sum(e["dur"] for e in slices if e["name"] == "running")
    assert running_us / 1e6 == pytest.approx(live.stats["busy_s"], rel=1e-6)
    # the memory read while it ran is a counter track; the time axis begins with the first
    # task or the first reading, whichever came first
    memory = [e for e in trace["traceEvents"] if e["ph"] == "C" and e["name"] == "memory (MB)"]
    assert len(memory) == live.resources.n_memory
    assert min(e["ts"] for e in trace["traceEvents"] if "ts" in e) == 0
    if live.stats["failed"]:
        marks = [e for e in trace["traceEvents"] if e["ph"] == "i" and e["name"] in ("failed", "stopped")]
        assert len(marks) == live.stats["failed"]
        errors = {t.id: t.error for t in live.tasks if t.error}
        assert sorted(m["args"]["error"] for m in marks) == sorted(errors.values())


def test_export_never_overlaps_even_with_nested_or_empty_intervals():
    # a synthetic trace whose intervals overlap inside one task (a RUN inside a SLEEP), and a
    # zero-length RUN after a wait (the probe records one when a thread loses the GIL again
    # right after getting it): the export must still draw one slice at a time per track
    from concviz.engine.events import FINISH, RUN, SLEEP, SPAWN, START

    ms = 1_000_000
    header = {"model": "synthetic", "workload": "mixed", "spec": {"tasks": 1}, "machine": {}}
    events = [(SPAWN, 0, 1, 1, 0, 0, -1, None), (START, 0, 9, 9, 2 * ms, 2 * ms, 0, None),
              (SLEEP, 0, 9, 9, 3 * ms, 10 * ms, -1, None), (RUN, 0, 9, 9, 4 * ms, 6 * ms, 0, None),
              (RUN, 0, 9, 9, 8 * ms, 12 * ms, 0, None), (RUN, 0, 9, 9, 13 * ms, 13 * ms, 0, None),
              (RUN, 0, 9, 9, 14 * ms, 14 * ms + 500, 0, None),
              (FINISH, 0, 9, 9, 15 * ms, 15 * ms, -1, None)]
    trace = json.loads(json.dumps(to_chrome_trace(header, events)))
    assert not overlaps(trace)
    names = [e["name"] for e in trace["traceEvents"] if e["ph"] == "X"]
    assert names[0] == "queued" and names[-1] == "waiting"


def test_cli_export(recorded, tmp_path):
    path, _ = recorded
    out = tmp_path / "t.json"
    done = subprocess.run([sys.executable, "-m", "concviz", "export", str(path), "-o", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "perfetto" in done.stdout.lower()
    trace = json.loads(out.read_text())
    assert trace["traceEvents"] and not overlaps(trace)


# --- unreadable traces -------------------------------------------------------------------------------
def good_lines(recorded_path) -> list[str]:
    return recorded_path.read_text().splitlines()


BROKEN = {
    "empty": (lambda lines: "", "empty"),
    "not json": (lambda lines: "hello, world\n", "not JSON"),
    "json but not a trace": (lambda lines: '{"some": "thing"}\n', "no header"),
    "wrong version": (lambda lines: json.dumps({**json.loads(lines[0]), "concviz_trace": 99}) + "\n"
                      + "\n".join(lines[1:]), "version 99"),
    "truncated mid-line": (lambda lines: "\n".join(lines[:3]) + "\n" + lines[3][: len(lines[3]) // 2],
                           "truncated or corrupt at line 4"),
    "header only": (lambda lines: lines[0] + "\n", "no events"),
    "malformed event": (lambda lines: lines[0] + "\n[1, 2]\n", "malformed event at line 2"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_trace_raises_trace_error(case, recorded, tmp_path):
    path, _ = recorded
    make, words = BROKEN[case]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(make(good_lines(path)))
    with pytest.raises(TraceError) as info:
        read_trace(bad)
    message = str(info.value)
    assert words in message and str(bad) in message
    assert "\n" not in message


def test_missing_trace(tmp_path):
    with pytest.raises(TraceError, match="trace not found"):
        read_trace(tmp_path / "nope.jsonl")


def test_binary_trace(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TraceError, match="cannot read trace"):
        read_trace(bad)


def test_cli_export_of_a_broken_trace_is_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not a trace\n")
    done = subprocess.run([sys.executable, "-m", "concviz", "export", str(bad), "-o",
                           str(tmp_path / "out.json")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.json").exists()


def test_export_marks_tasks_a_stop_cut_short_as_stopped():
    from concviz.engine.events import ERROR, RUN, SPAWN, START

    ms = 1_000_000
    header = {"model": "synthetic", "workload": "cpu", "spec": {"tasks": 2}, "machine": {},
              "ended": "cancelled"}
    events = [(SPAWN, 0, 1, 1, 0, 0, -1, None), (SPAWN, 1, 1, 1, 0, 0, -1, None),
              (START, 0, 9, 9, ms, ms, 0, None), (START, 1, 9, 10, ms, ms, 0, None),
              (ERROR, 0, 9, 9, 2 * ms, 2 * ms, -1, "ValueError: boom"),
              (RUN, 1, 9, 10, ms, 5 * ms, 0, None)]
    marks = {e["tid"]: e["name"] for e in to_chrome_trace(header, events)["traceEvents"] if e["ph"] == "i"}
    assert marks == {0: "failed", 1: "stopped"}
