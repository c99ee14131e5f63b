"""A traced program as concviz events (issue 15, phase 2): the tracer's spans folded by the
Timeline (named waits per task, the inferred GIL holder as the GIL lane, renames), the columns
the task lanes draw from them, and the trace header (validated, written, read back, replayed).

The programs are recordings of /proc (tests/fixtures/procfs): the same reader and tracer code
runs on them as on a live program."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from concviz.engine.cells import CODE_BASE, CODE_BLANK, COL_GIL, COL_LOCK, COL_UNKNOWN
from concviz.engine.events import (GIL, NAME, RUN, START, WAIT, header_problem, is_program_trace, read_trace,
                                   write_trace)
from concviz.engine.replay import ReplaySource
from concviz.engine.sources.infer import IO
from concviz.engine.sources.program import EventMaker, describe, trace_header
from concviz.engine.sources.records import GilSpan, Renamed, StateSpan, TraceBatch
from concviz.engine.sources.recording import replay
from concviz.engine.sources.program import ProgramTrace
from concviz.engine.timeline import Timeline
from concviz.trace_session import TraceSession

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "procfs"
MS = 1_000_000


def header(t0: int = 0, cpus: int = 64) -> dict:
    h = trace_header(["python", "prog.py"], 4242, 200.0, "/tmp/out.log", t0)
    h["machine"]["cpus"] = cpus
    return h


def folded(name: str) -> tuple[Timeline, list[tuple], object]:
    """A recording traced, its batches made events, folded into a Timeline (as trace does)."""
    r = replay(FIXTURES / f"{name}.jsonl.gz")
    maker = EventMaker()
    events = [e for b in r.batches for e in maker(b)]
    timeline = Timeline(header(min(e[4] for e in events)))
    timeline.feed(events)
    timeline.end("ok")
    return timeline, events, r


@pytest.mark.parametrize("name", ["gil", "lock-convoy", "io-pool", "other-user"])
def test_every_named_wait_is_kept_with_its_task(name):
    """Per task and state, the waits a frame holds are the tracer's spans (I/O as sleeps)."""
    timeline, _, r = folded(name)
    want: dict[tuple[int, str], int] = defaultdict(int)
    for s in r.spans:
        want[(s.task, "sleep" if s.state == IO else s.state)] += s.t1 - s.t0
    frame = timeline.snapshot()
    got: dict[tuple[int, str], int] = defaultdict(int)
    for t in frame.tasks:
        for state, ns in t.wait_ns:
            got[(t.id, state)] += ns
        if t.sleep_ns:
            got[(t.id, "sleep")] += t.sleep_ns
    assert got == want


def test_the_gil_lane_is_the_inferred_holder_not_the_runs():
    """A traced process's GIL lane holds exactly its GilSpans (a waiter's re-checks, RUN
    intervals of their own, are not hand-offs); only processes seen holding a GIL share one."""
    timeline, events, r = folded("gil")
    gil = [g for b in r.batches for g in b.gil]
    assert gil, "the GIL recording has inferred holders"
    frame = timeline.snapshot()
    assert frame.thread_pids == {g.pid for g in gil}
    pid = gil[0].pid
    lane, n = frame.proc_runs[pid]
    assert sorted((a, b) for a, b, _ in lane.tagged(0, n)) == sorted((g.t0, g.t1) for g in gil if g.t1 > g.t0)
    ran = sum(e[5] - e[4] for e in events if e[0] == RUN and e[2] == pid)
    held = sum(g.t1 - g.t0 for g in gil)
    assert 0 < held <= ran  # a holder runs while it holds; a waiter's re-checks hold nothing
    # a hand-off is a change of holder, in time order
    tids = [g.tid for g in sorted(gil, key=lambda g: g.t0) if g.t1 > g.t0]
    assert frame.gil_switches == sum(1 for a, b in zip(tids, tids[1:]) if a != b)


def test_a_process_without_gil_waits_has_no_gil_lane():
    timeline, _, r = folded("io-pool")
    assert not [g for b in r.batches for g in b.gil]
    assert timeline.snapshot().thread_pids == frozenset()


@pytest.mark.parametrize("name", ["gil", "lock-convoy", "other-user"])
def test_a_lane_s_columns_tile_the_thread_s_life(name):
    """Over each task's life, the columns' shares of running, sleeping and every named wait
    add up to the life's length: the lane shows all of it, and nothing twice."""
    timeline, _, _ = folded(name)
    frame = timeline.snapshot()
    for i, t in enumerate(frame.tasks):
        if t.end_ns - t.start_ns < 10 * MS:
            continue
        width = 50
        c = frame.task_cells(i, t.start_ns, t.end_ns, width)
        total = sum(map(sum, (c.run, c.sleep, c.gil, c.cpu, c.lock, c.other, c.unknown)))
        assert total == pytest.approx(width, rel=1e-6), (name, t.id)


def test_a_column_draws_the_wait_that_took_most_of_it():
    """Hand-made: a thread runs a quarter of each column over a lock wait, a GIL wait, an
    unknown; the codes say so (a lock wait is no GIL wait, whatever its siblings did)."""
    h = header(0)
    tl = Timeline(h)
    ev = [(START, 0, 10, 11, 0, 0, 0, "worker"), (START, 1, 10, 12, 0, 0, 0, "other")]
    for col, state in enumerate(("lock", "gil", "unknown: syscall not readable")):
        a = col * 10 * MS
        ev += [(RUN, 0, 10, 11, a, a + 2 * MS + MS // 2, 0, None),
               (WAIT, 0, 10, 11, a + 2 * MS + MS // 2, a + 10 * MS, -1, state)]
        ev += [(RUN, 1, 10, 12, a + 2 * MS + MS // 2, a + 10 * MS, 1, None)]  # the sibling ran meanwhile
    ev.append((GIL, 1, 10, 12, 10 * MS, 20 * MS, -1, None))
    tl.feed(ev)
    frame = tl.snapshot(now_ns=30 * MS)
    codes = frame.task_codes(0, 0, 30 * MS, 3)[0]
    assert codes == [2 * CODE_BASE + COL_LOCK, 2 * CODE_BASE + COL_GIL, 2 * CODE_BASE + COL_UNKNOWN]
    assert frame.thread_pids == {10}
    gil, cpu = frame.task_wait(frame.tasks[0])
    assert (gil, cpu) == (7 * MS + MS // 2, 0)
    assert dict(frame.tasks[0].wait_ns) == {"lock": 7_500_000, "gil": 7_500_000, "unknown": 7_500_000}
    assert any("syscall not readable" in text for _, _, text in frame.log)


def test_an_open_wait_shows_until_its_wait_event_arrives():
    tl = Timeline(header(0))
    tl.feed([(START, 0, 10, 11, 0, 0, 0, "main")])
    tl.set_open_waits({0: ("lock", 0, 20 * MS)})
    frame = tl.snapshot(now_ns=20 * MS)
    assert frame.task_codes(0, 0, 20 * MS, 2)[0] == [COL_LOCK, COL_LOCK]
    tl.feed([(WAIT, 0, 10, 11, 0, 20 * MS, -1, "lock")])
    tl.set_open_waits({})
    frame = tl.snapshot(now_ns=20 * MS)
    assert frame.tasks[0].open_wait is None
    assert frame.task_codes(0, 0, 20 * MS, 2)[0] == [COL_LOCK, COL_LOCK]


def test_a_rename_relabels_the_task():
    maker = EventMaker()
    batch = TraceBatch(5, events=[(START, 0, 10, 11, 1, 1, 0, "python")],
                       renamed=[Renamed(0, 5, "cruncher-0")])
    events = maker(batch)
    assert (NAME, 0, 10, 11, 5, 5, -1, "cruncher-0") in events
    tl = Timeline(header(0))
    tl.feed(events)
    assert tl.snapshot().tasks[0].label == "cruncher-0"


def test_event_maker_names_waits_and_holders():
    maker = EventMaker()
    batch = TraceBatch(9, events=[(START, 3, 10, 11, 1, 1, 0, "python")],
                       spans=[StateSpan(3, 10, 11, 1, 2, "gil", "futex", True),
                              StateSpan(3, 10, 11, 2, 3, IO, "read", True),
                              StateSpan(3, 10, 11, 3, 4, "other", "wait4", False),
                              StateSpan(3, 10, 11, 4, 5, "unknown", "no syscall file", False)],
                       gil=[GilSpan(10, 11, 5, 9), GilSpan(10, 99, 5, 9)])
    got = maker(batch)
    assert got[1:] == [(WAIT, 3, 10, 11, 1, 2, -1, "gil"), (WAIT, 3, 10, 11, 3, 4, -1, "other: wait4"),
                       (WAIT, 3, 10, 11, 4, 5, -1, "unknown: no syscall file"),
                       (GIL, 3, 10, 11, 5, 9, -1, None)]  # I/O is a SLEEP already; tid 99 unknown


# --- the header --------------------------------------------------------------------------------
def test_a_trace_header_is_accepted_and_says_what_it_traced():
    h = header(0)
    assert is_program_trace(h) and header_problem(h) is None
    assert describe(h) == "python prog.py"
    attach = trace_header(None, 77, 50.0, None, 0)
    assert header_problem(attach) is None and describe(attach) == "pid 77"


@pytest.mark.parametrize("change,words", [
    ({"trace": []}, "trace must be an object"),
    ({"model": "threads"}, "model 'trace'"),
    ({"workload": "cpu"}, "workload 'command' or 'attach'"),
    ({"trace": {"command": [], "pid": 1, "rate_hz": 200.0}}, "trace.command must be a list of words"),
    ({"trace": {"command": ["x", 3], "pid": 1, "rate_hz": 200.0}}, "trace.command must be a list of words"),
    ({"trace": {"command": ["x"], "pid": 0, "rate_hz": 200.0}}, "trace.pid must be a positive"),
    ({"trace": {"command": ["x"], "pid": 1, "rate_hz": 0}}, "trace.rate_hz must be a number above 0"),
    ({"trace": {"command": ["x"], "pid": 1, "rate_hz": 1e9}}, "trace.rate_hz"),
    ({"trace": {"command": ["x"], "pid": 1, "rate_hz": 9.0, "output": 5}}, "trace.output"),
    ({"machine": {"cpus": 0}}, "machine.cpus"),
])
def test_an_impossible_trace_header_is_refused(change, words):
    assert words in (header_problem({**header(0), **change}) or "")


def test_attach_has_no_command():
    h = trace_header(None, 77, 50.0, None, 0)
    h["trace"]["command"] = ["x"]
    assert "not for attach" in header_problem(h)


def test_a_recorded_trace_reads_back_and_replays_as_it_was_drawn(tmp_path):
    """Written (version 3), read back (validated), replayed: the same figures and waits."""
    timeline, events, _ = folded("gil")
    live = timeline.snapshot()
    path = tmp_path / "trace.jsonl"
    write_trace(path, timeline.header, events + [], "ok")
    h, back = read_trace(path)
    assert h["concviz_trace"] == 3 and is_program_trace(h)
    source = ReplaySource(h, back)
    source.finish()
    replayed = source.timeline.snapshot()
    for key in ("tasks", "busy_s", "parallelism", "gil_switches", "wall_s"):
        assert replayed.stats[key] == pytest.approx(live.stats[key]), key
    assert [t.wait_ns for t in replayed.tasks] == [t.wait_ns for t in live.tasks]


def test_a_wait_must_name_its_state(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"concviz_trace": 3, **header(0)}) + "\n"
                    + json.dumps([START, 0, 1, 1, 5, 5, 0, "x"]) + "\n"
                    + json.dumps([WAIT, 0, 1, 1, 5, 9, -1, "napping"]) + "\n")
    with pytest.raises(ValueError, match="a wait names its state"):
        read_trace(path)


def test_a_run_is_still_written_as_version_2(tmp_path):
    h = {"model": "threads", "workload": "io", "spec": {"model": "threads", "workload": "io", "tasks": 1},
         "machine": {"cpus": 2}}
    path = tmp_path / "run.jsonl"
    write_trace(path, h, [(START, 0, 1, 1, 5, 5, 0, "x")], "ok")
    assert read_trace(path)[0]["concviz_trace"] == 2


def test_blank_codes_are_not_a_state():
    assert CODE_BLANK not in (COL_GIL, COL_LOCK, COL_UNKNOWN) and CODE_BLANK < CODE_BASE


# --- the session the app shows -----------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_trace_session_feeds_the_timeline_records_and_exports(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    record = tmp_path / "rec.jsonl"
    script = "import time, threading; t = threading.Thread(target=time.sleep, args=(0.3,)); t.start(); t.join()"
    session = TraceSession(ProgramTrace(lambda e: None, command=[sys.executable, "-c", script]), record=str(record))
    session.start()
    ended = threading.Event()
    session.bind(lambda s, status: ended.set())
    assert ended.wait(20)
    frame = session.snapshot()
    assert not session.running and frame.ended == "ok"
    assert len(frame.tasks) == 2 and all(t.end_ns is not None for t in frame.tasks)
    assert sum(t.sleep_ns for t in frame.tasks) > 0.2e9  # the thread's sleep, as I/O
    assert dict(frame.tasks[0].wait_ns).get("lock", 0) > 0.2e9  # the main thread's join
    header, events = read_trace(record)
    assert header["trace"]["command"][0] == sys.executable and events
    session.export(str(tmp_path / "again.jsonl"))
    assert len(read_trace(tmp_path / "again.jsonl")[1]) == len(events)
    session.close(1.0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_closing_a_trace_session_ends_its_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    session = TraceSession(ProgramTrace(lambda e: None, command=["sleep", "30"]))
    session.start()
    pid = session.trace.proc.pid
    time.sleep(0.2)
    session.close(3.0)
    assert session.trace.proc.returncode is not None and not session.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)



# --- export of a traced program ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["trace-cpu-threads", "trace-process-pool"])
def test_an_export_of_a_trace_names_its_waits_as_the_trace_screen_does(name):
    """``concviz export`` of a traced recording: each thread's track is its runs, its I/O and its
    named waits (the GIL, a CPU, a lock...), each under the trace legend's words, with the same
    totals as the frame the screen draws; nothing is a generic "waiting"; the inferred GIL holder
    has a track of its own."""
    import re

    from concviz.engine.export import to_chrome_trace
    from concviz.engine.trace_cells import GIL_HOLDER_NAME, TRACE_STATE_NAMES
    from concviz.widgets.bars import TRACE_LEGEND

    header_, events = read_trace(ROOT / "tests" / "fixtures" / f"{name}.jsonl")
    chrome = to_chrome_trace(header_, events)["traceEvents"]
    timeline = Timeline(header_)
    timeline.feed(events)
    if header_.get("ended"):
        timeline.end(header_["ended"], header_.get("end_message", ""))
    frame = timeline.snapshot()
    legend = re.sub(r"\[[^\]]*\]", "", TRACE_LEGEND)
    assert all(words in legend for words in TRACE_STATE_NAMES.values())
    slices = [e for e in chrome if e["ph"] == "X"]
    assert {e["name"] for e in slices} <= set(TRACE_STATE_NAMES.values()) | {GIL_HOLDER_NAME}
    for t in frame.tasks:
        mine = sorted((e["ts"], e["ts"] + e["dur"], e["name"]) for e in slices if e["tid"] == t.id and e["pid"] == t.pid)
        assert all(a[1] <= b[0] + 1e-3 for a, b in zip(mine, mine[1:]))  # never overlapping
        got: dict[str, float] = defaultdict(float)
        for a, b, what in mine:
            got[what] += (b - a) * 1e3
        want = {TRACE_STATE_NAMES["run"]: t.run_ns, TRACE_STATE_NAMES["sleep"]: t.sleep_ns}
        for state, ns in t.wait_ns:
            want[TRACE_STATE_NAMES[state]] = want.get(TRACE_STATE_NAMES[state], 0) + ns
        want = {k: v for k, v in want.items() if v}
        assert got.keys() == want.keys()
        assert all(abs(got[k] - want[k]) <= 1e-6 * want[k] + 1e3 for k in want), (got, want)
    holders = [e for e in slices if e["name"] == GIL_HOLDER_NAME]
    if frame.thread_pids:  # threads taking turns: the GIL lane is exported
        lane, n = frame.proc_runs[next(iter(frame.thread_pids))]
        assert len(holders) == n and sum(e["dur"] for e in holders) * 1e3 == pytest.approx(
            sum(b - a for a, b in lane.spans(0, n)))
    else:  # a process pool: no GIL handed over, none exported
        assert not holders
