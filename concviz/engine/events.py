"""Event kinds, the compact wire form, and trace files.

An event is a flat tuple ``(kind, task, pid, tid, t0, t1, cpu, info)``:

* ``kind``: one of the constants below;
* ``task``: the task id (0..n-1), or -1 for run-level events;
* ``pid`` / ``tid``: the OS process id and native thread id that recorded it;
* ``t0`` / ``t1``: ``time.perf_counter_ns()`` at the start and end (equal for instants);
* ``cpu``: the logical CPU of a RUN interval, -1 when unknown or irrelevant;
* ``info``: ``None`` or a short string (the error text of an ERROR, a worker label).

``perf_counter_ns`` is CLOCK_MONOTONIC on Linux and macOS, one clock for every process, so
events from different processes line up on one time axis without any correction.

Messages on the wire are pickled tuples ``(tag, payload)``: ``("E", [event, ...])`` for a batch,
``("H", header)`` once at the start, ``("D", summary)`` once at the end, ``("X", text)`` if the
experiment itself failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

SPAWN, START, RUN, SLEEP, FINISH, ERROR, PROGRESS, SLEEP_OPEN = range(8)
KIND_NAMES = ("spawn", "start", "run", "sleep", "finish", "error", "progress", "sleep-open")
# PROGRESS: a RUN interval still open, (t0 = its start, t1 = now). A CPU-bound worker that is
# never interrupted closes no interval until it ends; without these a live view would show it
# as waiting. The final RUN with the same start replaces it; figures never count it twice.
# SLEEP_OPEN: a sleep (I/O wait) began at t0 and is still going on; its SLEEP closes it. Without
# it a live view could not tell a task asleep from one it has not heard from yet.

TRACE_VERSION = 1

Event = tuple  # (kind, task, pid, tid, t0, t1, cpu, info)
# where each field of an event tuple is (events are flat tuples: read them by these, not by number)
EV_KIND, EV_TASK, EV_PID, EV_TID, EV_T0, EV_T1, EV_CPU, EV_INFO = range(8)


class TraceError(ValueError):
    """A trace file that cannot be read: missing, empty, truncated, not JSON, wrong version."""


def write_trace(path: str | Path, header: dict[str, Any], events: Iterable[Event],
                ended: str | None = None, message: str = "") -> None:
    """Write a JSON-lines trace: the header object, one JSON array per event, a trailer."""
    writer = TraceWriter(path, header)
    writer.write(events)
    writer.close(ended, message)


class TraceWriter:
    """Appends events to a JSON-lines trace as they arrive (used by ``--record``)."""

    def __init__(self, path: str | Path, header: dict[str, Any]) -> None:
        self._out = open(path, "w", encoding="utf-8")
        self._out.write(json.dumps({"concviz_trace": TRACE_VERSION, **header}) + "\n")

    def write(self, events: Iterable[Event]) -> None:
        self._out.writelines(json.dumps(list(e), separators=(",", ":")) + "\n" for e in events)

    def close(self, ended: str | None = None, message: str = "") -> None:
        """Close the file; ``ended`` (how the run ended) goes into a trailer line."""
        if ended is not None:
            self._out.write(json.dumps({"ended": ended, "message": message}) + "\n")
        self._out.close()


def read_trace(path: str | Path) -> tuple[dict[str, Any], list[Event]]:
    """Read a trace written by :func:`write_trace`.

    Raises:
        TraceError: with a one-line explanation of what is wrong with the file.
    """
    try:
        with open(path, encoding="utf-8") as src:
            lines = src.read().splitlines()
    except FileNotFoundError:
        raise TraceError(f"trace not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"cannot read trace {path}: {exc}") from None
    if not lines or not lines[0].strip():
        raise TraceError(f"trace is empty: {path}")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        raise TraceError(f"not a concviz trace (first line is not JSON): {path}") from None
    if not isinstance(header, dict) or "concviz_trace" not in header:
        raise TraceError(f"not a concviz trace (no header line): {path}")
    if header["concviz_trace"] != TRACE_VERSION:
        raise TraceError(
            f"trace version {header['concviz_trace']!r} is not supported "
            f"(this concviz reads version {TRACE_VERSION}): {path}"
        )
    events: list[Event] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise TraceError(f"trace is truncated or corrupt at line {number}: {path}") from None
        if isinstance(row, dict) and "ended" in row:
            header["ended"] = row["ended"]
            header["end_message"] = row.get("message", "")
            continue
        if not _valid_event(row):
            raise TraceError(f"malformed event at line {number}: {path}")
        events.append(tuple(row))
    if not events:
        raise TraceError(f"trace has a header but no events: {path}")
    return header, events


def _valid_event(row: Any) -> bool:
    """An event row as :class:`TraceWriter` writes it: 7 integers (a known kind first) and a
    string or null. Anything else would only fail later, far from the file, in the Timeline or
    the exporter."""
    return (isinstance(row, list) and len(row) == 8
            and all(type(v) is int for v in row[:7]) and 0 <= row[0] < len(KIND_NAMES)
            and (row[7] is None or isinstance(row[7], str)))
