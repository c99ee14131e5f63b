"""Trace files are checked against what a recorded run can hold (issue 13, section 2).

A header or an event that no run could have written is refused with one line naming the file,
the line and the problem, before anything is drawn or exported. Each case changes one value of
a committed recording (threads-failed: 4 threads, 2 CPUs, a failed task, a trailer), so the
rest of the file is known to be good; the edge values a run can record are accepted.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from concviz.engine.events import (ERROR, FINISH, MAX_CPUS, MAX_NS, MEMORY, PROGRESS, RUN, SERVER, SLEEP,
                                   SLEEP_OPEN, SPAWN, START, TraceError, read_trace)
from concviz.engine.spec import MAX_TASKS

ROOT = Path(__file__).parent.parent
RECORDED = sorted((ROOT / "fixtures").glob("*.jsonl")) + sorted((ROOT / "bench" / "traces").glob("*.jsonl"))
BASE = ROOT / "fixtures" / "threads-failed.jsonl"
LINES = BASE.read_text().splitlines()
HEADER = json.loads(LINES[0])
T0 = HEADER["t0_ns"]
RUN_LINE = 3  # [RUN, 0, ...] on cpu 1
SPAWN_LINE = 6  # [SPAWN, 0, ...]
TRAILER_LINE = len(LINES)


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_every_recorded_trace_loads(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()[1:] if line.strip()]
    header, events = read_trace(path)
    assert events == [tuple(r) for r in rows if isinstance(r, list)]
    assert header["ended"] == rows[-1]["ended"]


def write(tmp_path, header=None, changes=(), trailer=None) -> Path:
    """The base recording with its header replaced, some lines' rows replaced, or its trailer."""
    lines = list(LINES)
    if header is not None:
        lines[0] = json.dumps(header)
    for number, row in changes:
        lines[number - 1] = json.dumps(row)
    if trailer is not None:
        lines[TRAILER_LINE - 1] = json.dumps(trailer)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def row(number: int) -> list:
    return json.loads(LINES[number - 1])


def with_spec(**changes) -> dict:
    header = copy.deepcopy(HEADER)
    header["spec"].update(changes)
    return header


def with_machine(**changes) -> dict:
    header = copy.deepcopy(HEADER)
    header["machine"].update(changes)
    return header


def without(*path: str) -> dict:
    header = copy.deepcopy(HEADER)
    inner = header
    for key in path[:-1]:
        inner = inner[key]
    del inner[path[-1]]
    return header


BAD_HEADERS = {
    # the spec: what RunSpec.validate refuses, and what it would change
    "no tasks": (lambda: with_spec(tasks=0), "spec: tasks must be at least 1, got 0"),
    "tasks over the model's ceiling": (lambda: with_spec(tasks=MAX_TASKS["threads"] + 1),
                                       f"tasks must be at most {MAX_TASKS['threads']} under threads"),
    "tasks as a float": (lambda: with_spec(tasks=4.0), "spec.tasks must be a whole number, got 4.0"),
    "tasks as text": (lambda: with_spec(tasks="4"), "spec.tasks must be a whole number, got '4'"),
    "tasks missing": (lambda: without("spec", "tasks"), "spec has no tasks"),
    "unknown model": (lambda: {**with_spec(model="greenlets"), "model": "greenlets"}, "unknown model 'greenlets'"),
    "model with spaces": (lambda: with_spec(model=" threads"), "spec.model ' threads' is not a value a run records"),
    "workers without a pool": (lambda: with_spec(workers=2), "--workers is only for pool models"),
    "scale not finite": (lambda: with_spec(scale=float("nan")), "scale must be a finite number"),
    "negative seed": (lambda: with_spec(seed=-1), "seed must be at least 0"),
    "timeout over the limit": (lambda: with_spec(timeout_s=1e9), "timeout (s) must be at most 3600"),
    "fault outside the run": (lambda: with_spec(fail_task=9), "--fail-task 9 is outside the run"),
    "kill on threads": (lambda: with_spec(fail_task=None, kill_task=1), "--kill-task needs a process model"),
    "unknown start method": (lambda: with_spec(start_method="frok"), "unknown start method 'frok' (did you mean 'fork'?)"),
    "spec not an object": (lambda: {**HEADER, "spec": [4]}, "spec must be an object"),
    "model unlike the spec's": (lambda: {**HEADER, "model": "pool"}, "model 'pool' is not the spec's 'threads'"),
    "workload unlike the spec's": (lambda: {**HEADER, "workload": "io"}, "workload 'io' is not the spec's 'mixed'"),
    # the machine
    "no machine": (lambda: without("machine"), "machine must be an object, got None"),
    "no cpus": (lambda: without("machine", "cpus"), "machine.cpus must be a whole number from 1 to"),
    "zero cpus": (lambda: with_machine(cpus=0), f"machine.cpus must be a whole number from 1 to {MAX_CPUS}, got 0"),
    "a million cpus": (lambda: with_machine(cpus=10**6), "got 1000000"),
    "cpus as a float": (lambda: with_machine(cpus=2.0), "got 2.0"),
    "cpus as a boolean": (lambda: with_machine(cpus=True), "got True"),
    "gil as text": (lambda: with_machine(gil="yes"), "machine.gil must be true or false, got 'yes'"),
    "free_threaded_build as a number": (lambda: with_machine(free_threaded_build=0),
                                        "machine.free_threaded_build must be true or false"),
    "gil off on a standard build": (lambda: with_machine(gil=False), "gil is off on a build that is not free-threaded"),
    "python empty": (lambda: with_machine(python=""), "machine.python must be a short line of text"),
    "python on two lines": (lambda: with_machine(python="3.11\n3.12"), "machine.python must be a short line"),
    "platform a page long": (lambda: with_machine(platform="x" * 500), "machine.platform must be a short line"),
    "implementation a number": (lambda: with_machine(implementation=3), "machine.implementation must be"),
    "unknown start method on the machine": (lambda: with_machine(start_method="thread"), "machine.start_method must be one of"),
    "start method unlike the spec's": (lambda: {**with_spec(start_method="spawn")},
                                       "machine.start_method 'fork' is not the spec's 'spawn'"),
    "switch interval zero": (lambda: with_machine(switch_interval_ms=0), "switch interval (ms) must be more than 0"),
    "switch interval as text": (lambda: with_machine(switch_interval_ms="5"), "switch interval (ms) must be a number"),
    # the run
    "experiment pid zero": (lambda: {**HEADER, "experiment_pid": 0}, "experiment_pid must be a positive whole number"),
    "t0 negative": (lambda: {**HEADER, "t0_ns": -1}, "t0_ns must be a whole number of nanoseconds"),
    "t0 past the clock": (lambda: {**HEADER, "t0_ns": MAX_NS}, "t0_ns must be a whole number of nanoseconds"),
    "t0 as a float": (lambda: {**HEADER, "t0_ns": float(T0)}, "t0_ns must be a whole number of nanoseconds"),
    "an ending no run has": (lambda: {**HEADER, "ended": "exploded"}, "ended must be one of ok, error, timeout"),
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_impossible_header_is_refused_in_one_line(case, tmp_path):
    make, words = BAD_HEADERS[case]
    path = write(tmp_path, header=make())
    with pytest.raises(TraceError) as info:
        read_trace(path)
    message = str(info.value)
    assert message.startswith("impossible header at line 1 (") and message.endswith(f"): {path}"), message
    assert words in message
    assert "\n" not in message and len(message) < 250 + len(str(path))


def change(number: int, **fields) -> tuple[int, list]:
    """Line ``number`` of the base recording with some of its fields changed."""
    names = ("kind", "task", "pid", "tid", "t0", "t1", "cpu", "info")
    values = row(number)
    for name, value in fields.items():
        values[names.index(name)] = value
    return number, values


BAD_EVENTS = {
    "task past the run": ([change(RUN_LINE, task=4)], "task 4 is outside the run (tasks are 0..3)"),
    "task below -1": ([change(RUN_LINE, task=-2)], "task -2 is outside the run"),
    "a task event of the run's": ([change(SPAWN_LINE, task=-1)], "task -1 is outside the run"),
    "cpu past the machine": ([change(RUN_LINE, cpu=2)], "cpu 2 is outside the machine (cpus are 0..1, -1 when not known)"),
    "cpu below -1": ([change(RUN_LINE, cpu=-5)], "cpu -5 is outside the machine"),
    "negative pid": ([change(RUN_LINE, pid=-1)], "an OS id is never negative"),
    "negative tid": ([change(RUN_LINE, tid=-7)], "an OS id is never negative"),
    "ends before it starts": ([change(RUN_LINE, t1=row(RUN_LINE)[4] - 1)], "it ends before it starts"),
    "before the run started": ([change(SPAWN_LINE, t0=T0 - 1, t1=T0 - 1)], f"it starts before the run did (t0 {T0 - 1} < {T0})"),
    "past the clock": ([change(RUN_LINE, t1=MAX_NS)], "past the end of a 64-bit nanosecond clock"),
    "an instant that lasts": ([change(SPAWN_LINE, t1=row(SPAWN_LINE)[5] + 1)], "a spawn is an instant"),
    "a finish that lasts": ([change(len(LINES) - 1, t1=row(len(LINES) - 1)[5] + 10)], "a finish is an instant"),
}


@pytest.mark.parametrize("case", sorted(BAD_EVENTS))
def test_impossible_event_is_refused_in_one_line(case, tmp_path):
    changes, words = BAD_EVENTS[case]
    path = write(tmp_path, changes=changes)
    with pytest.raises(TraceError) as info:
        read_trace(path)
    message = str(info.value)
    assert message.startswith(f"impossible event at line {changes[0][0]} (") and message.endswith(f"): {path}")
    assert words in message
    assert "\n" not in message


def test_negative_time_without_a_start_time(tmp_path):
    header = without("t0_ns")
    path = write(tmp_path, header=header, changes=[change(SPAWN_LINE, t0=-5, t1=-5)])
    with pytest.raises(TraceError, match=f"impossible event at line {SPAWN_LINE} \\(time t0 -5 is negative\\)"):
        read_trace(path)


@pytest.mark.parametrize("fields", [dict(task=True), dict(info=5), dict(t0=1.5), dict(kind=8)],
                         ids=["boolean task", "numeric info", "float time", "unknown kind"])
def test_ill_typed_event_is_malformed(fields, tmp_path):
    path = write(tmp_path, changes=[change(RUN_LINE, **fields)])
    with pytest.raises(TraceError, match=f"malformed event at line {RUN_LINE}: "):
        read_trace(path)


@pytest.mark.parametrize("trailer,words", [
    ({"ended": "exploded", "message": ""}, "ended must be one of"),
    ({"ended": None, "message": ""}, "ended must be one of"),
    ({"ended": "error", "message": 42}, "the end message must be text, got 42"),
], ids=["unknown ending", "null ending", "numeric message"])
def test_impossible_trailer_is_refused(trailer, words, tmp_path):
    path = write(tmp_path, trailer=trailer)
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert str(info.value).startswith(f"impossible trailer at line {TRAILER_LINE} (")
    assert words in str(info.value)


def test_the_edge_values_a_run_can_record_are_accepted(tmp_path):
    """The rules refuse only what no run can hold: the largest machine, a run-level event (task
    -1, in a version-2 trace), a task's first and last ids, the last CPU, an event at the run's
    very start, a zero-length RUN, and a header without the facts that are only checked when
    present."""
    header = without("experiment_pid")
    header["concviz_trace"] = 2
    header["machine"] = {"cpus": MAX_CPUS}
    header["spec"]["tasks"] = MAX_TASKS["threads"]
    header["spec"]["fail_task"] = MAX_TASKS["threads"] - 1
    run = row(RUN_LINE)
    changes = [(SPAWN_LINE, [MEMORY, -1, 1, 0, T0, T0, -1, MEMORY_INFO]),
               change(RUN_LINE, task=MAX_TASKS["threads"] - 1, cpu=MAX_CPUS - 1, t1=run[4]),
               change(RUN_LINE + 1, task=0, cpu=-1)]
    path = write(tmp_path, header=header, changes=changes)
    _, events = read_trace(path)
    assert events[SPAWN_LINE - 2][1] == -1
    assert events[RUN_LINE - 2][1] == MAX_TASKS["threads"] - 1 and events[RUN_LINE - 2][6] == MAX_CPUS - 1


MEMORY_INFO = json.dumps({"bytes": 15 * 2**20, "processes": 1, "threads": 2, "source": "pss", "kernel_stack": None})
SERVER_FIGURES = {"state": "running", "port": 40000, "pid": 7, "latency_ms": 2.0, "backlog": 4096, "accepted": 8,
                  "open_now": 8, "max_open": 8, "requests": 100, "cpu_s": 0.05}
BAD_RUN_LEVEL = {
    "a memory reading of a task": ([MEMORY, 0, 1, 0, T0, T0, -1, MEMORY_INFO], "a memory event is the run's, task -1"),
    "figures that are no JSON": ([MEMORY, -1, 1, 0, T0, T0, -1, "{bytes"], "figures are not JSON"),
    "no figures": ([SERVER, -1, 1, 0, T0, T0, -1, None], "a server event carries its figures"),
    "a figure missing": ([MEMORY, -1, 1, 0, T0, T0, -1, json.dumps({"bytes": 1})], "figures must be bytes, processes"),
    "negative memory": ([MEMORY, -1, 1, 0, T0, T0, -1, MEMORY_INFO.replace("15728640", "-1")], "memory.bytes cannot be -1"),
    "an unknown source": ([MEMORY, -1, 1, 0, T0, T0, -1, MEMORY_INFO.replace("pss", "vss")], "memory.source cannot be 'vss'"),
    "a reading that lasts": ([MEMORY, -1, 1, 0, T0, T0 + 5, -1, MEMORY_INFO], "a memory is an instant"),
    "more open than accepted": ([SERVER, -1, 1, 0, T0, T0, -1, json.dumps({**SERVER_FIGURES, "accepted": 3})],
                                "do not add up"),
    "an unknown state": ([SERVER, -1, 1, 0, T0, T0, -1, json.dumps({**SERVER_FIGURES, "state": "asleep"})],
                         "server.state cannot be 'asleep'"),
    "an endless CPU time": ([SERVER, -1, 1, 0, T0, T0, -1, json.dumps(SERVER_FIGURES).replace("0.05", "Infinity")],
                            "server.cpu_s cannot be inf"),
}


@pytest.mark.parametrize("case", sorted(BAD_RUN_LEVEL))
def test_impossible_run_level_event_is_refused_in_one_line(case, tmp_path):
    event, words = BAD_RUN_LEVEL[case]
    header = copy.deepcopy(HEADER)
    header["concviz_trace"] = 2
    path = write(tmp_path, header=header, changes=[(SPAWN_LINE, event)])
    with pytest.raises(TraceError) as info:
        read_trace(path)
    message = str(info.value)
    assert message.startswith(f"impossible event at line {SPAWN_LINE} (") and words in message, message
    assert "\n" not in message


def test_a_version_1_trace_holds_no_run_level_event(tmp_path):
    """Version 1 had no MEMORY or SERVER: such a line there is malformed, as it always was."""
    path = write(tmp_path, changes=[(SPAWN_LINE, [MEMORY, -1, 1, 0, T0, T0, -1, MEMORY_INFO])])
    with pytest.raises(TraceError, match=f"malformed event at line {SPAWN_LINE}: "):
        read_trace(path)


def test_every_kind_a_probe_records_passes(tmp_path):
    """One event of every kind, with the values the recorder gives them (instants at one time,
    intervals with t1 >= t0, CPU -1 where it is not known)."""
    pid, tid, t = HEADER["experiment_pid"], 99, T0 + 1000
    rows = [[SPAWN, 0, pid, pid, t, t, -1, None], [START, 0, pid, tid, t + 1, t + 1, 1, "Thread-0"],
            [PROGRESS, 0, pid, tid, t + 2, t + 50, 1, None], [RUN, 0, pid, tid, t + 2, t + 60, 1, None],
            [SLEEP_OPEN, 0, pid, tid, t + 70, t + 70, -1, None], [SLEEP, 0, pid, tid, t + 70, t + 90, -1, None],
            [ERROR, 1, 0, 0, t + 95, t + 95, -1, "lost: the task never reported an end"],
            [FINISH, 0, pid, tid, t + 100, t + 100, -1, None],
            [MEMORY, -1, pid, 0, t + 101, t + 101, -1, MEMORY_INFO],
            [SERVER, -1, pid, tid, t + 102, t + 102, -1, json.dumps(SERVER_FIGURES)]]
    path = tmp_path / "kinds.jsonl"
    header = json.dumps({**HEADER, "concviz_trace": 2})
    path.write_text("\n".join([header, *map(json.dumps, rows), LINES[-1]]) + "\n")
    _, events = read_trace(path)
    assert [e[0] for e in events] == [r[0] for r in rows]
