"""Chrome trace-event export (opens in Perfetto and chrome://tracing)."""

from __future__ import annotations

import json
import os
from typing import Any

from concviz.engine.events import is_program_trace
from concviz.engine.timeline import FAILED, NOT_STARTED, Timeline
from concviz.engine.trace_cells import GIL_HOLDER_NAME, TRACE_STATE_NAMES
from concviz.engine.worker_cores import worker_groups


def write_chrome_trace(header: dict[str, Any], events: list[tuple], path: str | os.PathLike) -> None:
    """Write the Chrome trace-event JSON of a recorded run (a trace's header and events) to
    ``path``; OSError if it cannot be written."""
    chrome = to_chrome_trace(header, events)
    with open(path, "w", encoding="utf-8") as out:
        json.dump(chrome, out)


def to_chrome_trace(header: dict[str, Any], events: list[tuple]) -> dict[str, Any]:
    """Build a trace-event JSON object: one track per task, complete ("X") slices for running,
    sleeping, waiting and queued time that never overlap within a track. A traced program's
    threads have the states its trace named instead (the trace legend's words: waiting for the
    GIL (inferred), on a lock (inferred), I/O (inferred)...; time not laid out is left empty, as
    on screen), and each process whose GIL was seen held has a track of its inferred holder."""
    timeline = Timeline(header)
    timeline.feed(events)
    if header.get("ended"):
        timeline.end(header["ended"], header.get("end_message", ""))
    frame = timeline.snapshot()
    traced = is_program_trace(header)
    origin = frame.first_ns or 0
    if frame.resources is not None and frame.resources.n_memory:  # the readings before the tasks
        origin = min(origin, frame.resources.memory.t[0]) if origin else frame.resources.memory.t[0]

    def us(ns: int) -> float:
        return (ns - origin) / 1000.0

    out: list[dict[str, Any]] = []
    pids = set()
    # a cluster run's processes are its workers: named as the cores pane heads them
    workers = {g.pid: g.heading() for g in worker_groups(frame, header) or ()}
    for t in frame.tasks:
        pid = t.pid or 0
        track = t.id
        if pid not in pids:
            pids.add(pid)
            out.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                        "args": {"name": workers.get(pid, f"{frame.model} pid {pid}")}})
        out.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": track,
                    "args": {"name": f"task {t.id} ({t.label or 'not started'})"}})
        out += _slices(_traced_slices(t) if traced else _run_slices(t), pid, track, us)
        if t.end_ns is not None:
            end = ("stopped" if t.stopped else "failed" if t.status == FAILED
                   else "not started" if t.status == NOT_STARTED else "finished")
            out.append({"ph": "i", "name": end,
                        "s": "t", "pid": pid, "tid": track, "ts": us(t.end_ns),
                        "args": {"error": t.error} if t.error else {}})
    if traced:
        out += _gil_holders(frame, us)
    out += _counters(frame, us)
    return {"traceEvents": out, "displayTimeUnit": "ms",
            "otherData": {"model": frame.model, "workload": frame.workload, **frame.machine}}


def _run_slices(t) -> list[tuple[int, int, str]]:
    """A run's task: queued, then running, sleeping and the waits between them."""
    slices: list[tuple[int, int, str]] = []
    if t.spawn_ns is not None and t.start_ns is not None and t.start_ns > t.spawn_ns:
        slices.append((t.spawn_ns, t.start_ns, "queued"))
    busy = sorted([(a, b, "running") for a, b, _ in t.runs[: t.n_runs]]
                  + [(a, b, "sleeping") for a, b in t.sleeps[: t.n_sleeps]])
    cursor = t.start_ns
    for a, b, name in busy:
        if cursor is not None and a > cursor:
            slices.append((cursor, a, "waiting"))
            # Advance past the wait even if this interval adds no slice (a zero-length RUN,
            # which the probe can record): else the next wait would start here again and
            # overlap this one.
            cursor = a
        a = max(a, cursor) if cursor is not None else a
        if b > a:
            slices.append((a, b, name))
            cursor = b
    if t.end_ns is not None and cursor is not None and t.end_ns > cursor:
        slices.append((cursor, t.end_ns, "waiting"))
    return slices


def _slices(slices: list[tuple[int, int, str]], pid: int, track: int, us) -> list[dict[str, Any]]:
    return [{"ph": "X", "name": name, "cat": name, "pid": pid, "tid": track, "ts": us(a), "dur": (b - a) / 1000.0}
            for a, b, name in slices]


def _traced_slices(t) -> list[tuple[int, int, str]]:
    """A traced thread's runs, sleeps and named waits, in time order, named as the trace legend
    names them (the tracer lays them out one after the other: clipped all the same, so that no
    two overlap)."""
    spans = [(a, b, TRACE_STATE_NAMES["run"]) for a, b, _ in t.runs[: t.n_runs]]
    spans += [(a, b, TRACE_STATE_NAMES["sleep"]) for a, b in t.sleeps[: t.n_sleeps]]
    for state, lane, n in t.waits:
        name = TRACE_STATE_NAMES.get(state, TRACE_STATE_NAMES["unknown"])
        spans += [(a, b, name) for a, b in lane.spans(0, n)]
    out, cursor = [], None
    for a, b, name in sorted(spans):
        a = max(a, cursor) if cursor is not None else a
        if b > a:
            out.append((a, b, name))
            cursor = b
    return out


def _gil_holders(frame, us) -> list[dict[str, Any]]:
    """Per process whose GIL was seen held: a track of the inferred holder (the GIL lane)."""
    out: list[dict[str, Any]] = []
    for pid in sorted(frame.thread_pids):
        lane, n = frame.proc_runs.get(pid, (None, 0))
        if lane is None or not n:
            continue
        track = -1  # apart from the tasks' tracks (their ids count from 0)
        out.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": track, "args": {"name": "GIL holder (inferred)"}})
        tagged = lane.tagged(0, n) if lane.tags is not None else ((a, b, None) for a, b in lane.spans(0, n))
        for a, b, task in tagged:
            out.append({"ph": "X", "name": GIL_HOLDER_NAME, "cat": GIL_HOLDER_NAME, "pid": pid, "tid": track,
                        "ts": us(a), "dur": (b - a) / 1000.0, "args": {"task": task} if task is not None else {}})
    return out


def _counters(frame, us) -> list[dict[str, Any]]:
    """The run's memory (MB, read from outside) and the connections its server had open, as
    counter tracks of their own."""
    res = frame.resources
    if res is None:
        return []
    mem = res.memory
    out = [{"ph": "C", "name": "memory (MB)", "pid": 0, "ts": us(mem.t[i]),
            "args": {"MB": round(mem.bytes[i] / 2**20, 3)}} for i in range(res.n_memory)]
    out += [{"ph": "C", "name": "server connections open", "pid": 0, "ts": us(res.server_t[i]),
             "args": {"open": res.server_open[i]}} for i in range(res.n_server)]
    return out
