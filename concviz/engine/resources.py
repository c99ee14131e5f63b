"""What a run used besides its tasks' time: its memory, and its loopback server.

Both reach the Timeline as run-level events (task -1, an instant), their figures a JSON object
in the event's ``info``:

* MEMORY, made outside the experiment from each reading of its process tree (the server left
  out), by whoever follows the run (:class:`concviz.engine.memory_sampler.RunMemory`):
  ``{"bytes", "processes", "threads", "source", "kernel_stack"}``;
* SERVER, made by the experiment, which asks its server for its counters while the tasks talk
  to it (:mod:`concviz.engine.server_watch`): ``{"state", "port", "pid", "latency_ms",
  "backlog", "accepted", "open_now", "max_open", "requests", "cpu_s"}``.

The Timeline folds them into :class:`RunResources`; a Frame holds a :class:`ResourcesView`, whose
figures join the run's stats (the memory's from :class:`MemoryTrack`, one rule for all).
"""

from __future__ import annotations

import json
import math
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Callable

from concviz.engine.events import MEMORY, SERVER, Event
from concviz.engine.memory import TreeReading
from concviz.engine.memory_sampler import EMPTY_FIGURES, SOURCES, MemoryFigures, MemorySampler, MemoryTrack

SERVER_STATES = ("running", "stopped", "killed", "gone")
_COUNT = "count"  # a whole number, 0 or more
_AMOUNT = "amount"  # a finite number, 0 or more
MEMORY_FIELDS = {"bytes": _COUNT, "processes": _COUNT, "threads": _COUNT, "source": SOURCES,
                 "kernel_stack": _COUNT}
SERVER_FIELDS = {"state": SERVER_STATES, "port": _COUNT, "pid": _COUNT, "latency_ms": _AMOUNT,
                 "backlog": _COUNT, "accepted": _COUNT, "open_now": _COUNT, "max_open": _COUNT,
                 "requests": _COUNT, "cpu_s": _AMOUNT}
OPTIONAL = frozenset(("kernel_stack",))  # may be null: not known on this machine
# what a stats dict says of the server (Frame.stats "server"), from its last SERVER event
SERVER_FIGURES = ("state", "latency_ms", "accepted", "open_now", "max_open", "requests", "cpu_s")


def encode(info: dict[str, Any]) -> str:
    """A run-level event's figures, as its ``info`` string."""
    return json.dumps(info, separators=(",", ":"))


def info_problem(kind: int, info: Any) -> str | None:
    """What no recorded run can hold in the ``info`` of a run-level event, or None."""
    name, fields = ("memory", MEMORY_FIELDS) if kind == MEMORY else ("server", SERVER_FIELDS)
    if not isinstance(info, str):
        return f"a {name} event carries its figures, got {_short(info)}"
    try:
        data = json.loads(info)
    except ValueError:
        return f"a {name} event's figures are not JSON: {_short(info)}"
    if not isinstance(data, dict) or set(data) != set(fields):
        return f"a {name} event's figures must be {', '.join(fields)}"
    for key, rule in fields.items():
        value = data[key]
        if value is None and key in OPTIONAL:
            continue
        if isinstance(rule, tuple):
            ok = value in rule
        elif rule == _COUNT:
            ok = type(value) is int and value >= 0
        else:
            ok = type(value) in (int, float) and math.isfinite(value) and value >= 0
        if not ok:
            return f"{name}.{key} cannot be {_short(value)}"
    if kind == SERVER and not (data["open_now"] <= data["max_open"] <= data["accepted"]):
        return (f"server: open now {data['open_now']}, at most {data['max_open']} and accepted "
                f"{data['accepted']} do not add up")
    if kind == MEMORY and not data["processes"]:
        return "a memory reading of no process"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def server_line(info: dict[str, Any]) -> str:
    """The server's counters in a few words, for the log and ``concviz run``."""
    return (f"accepted {info['accepted']:,}, at most {info['max_open']:,} open at once, "
            f"{info['requests']:,} replies, its own CPU {info['cpu_s']:.2f} s")


class RunResources:
    """The run-level events of one Timeline, folded (fed under the Timeline's lock)."""

    def __init__(self) -> None:
        self.memory = MemoryTrack()
        self.server_t = array("q")  # each SERVER event's time, and the connections open then
        self.server_open = array("l")
        self.server: dict[str, Any] | None = None  # the latest SERVER event's figures

    def add(self, kind: int, t_ns: int, info: str) -> str | None:
        """Fold one run-level event; return what the run's log should say of it, if anything."""
        data = json.loads(info)
        if kind == MEMORY:
            self.memory.add(t_ns, data["bytes"], data["threads"], data["source"], data["kernel_stack"])
            return None
        before = self.server
        self.server = data
        self.server_open.append(data["open_now"])
        self.server_t.append(t_ns)
        if before is None:
            return (f"loopback server pid {data['pid']} listening on port {data['port']}, "
                    f"replies after {data['latency_ms']:g} ms")
        if data["state"] != before["state"]:
            if data["state"] == "killed":
                return f"server KILLED (--kill-server) after {data['requests']:,} replies; {server_line(data)}"
            if data["state"] == "gone":
                return f"server GONE (it stopped answering); {server_line(data)}"
            return f"server stopped: {server_line(data)}"
        return None

    def view(self) -> ResourcesView | None:
        """A frozen view of what was folded so far (None when nothing was)."""
        if not len(self.memory) and self.server is None:
            return None
        return ResourcesView(self.memory, len(self.memory), self.server_t, self.server_open,
                             len(self.server_t), self.server)


@dataclass(frozen=True)
class ResourcesView:
    """The run-level figures as a Frame holds them: the memory readings and the server's counts
    up to the snapshot (the arrays are only appended to; a view reads below its lengths)."""

    memory: MemoryTrack
    n_memory: int
    server_t: array
    server_open: array
    n_server: int
    server: dict[str, Any] | None

    def memory_figures(self, start_ns: int | None, tasks: int) -> MemoryFigures | None:
        return self.memory.figures(start_ns, tasks, self.n_memory)

    def stats(self, start_ns: int | None, tasks: int) -> dict[str, Any]:
        """The fields these figures add to ``Frame.stats``."""
        fig = self.memory_figures(start_ns, tasks)
        out = dict(EMPTY_FIGURES) if fig is None else fig.to_dict()
        out["server"] = None if self.server is None else {k: self.server[k] for k in SERVER_FIGURES}
        return out

    def memory_columns(self, t0: int, t1: int, width: int) -> list[int | None]:
        """Per column of [t0, t1): the highest reading inside it, else the last one before it
        (memory holds between readings); None before the first reading and after the last."""
        return _columns(self.memory.t, self.memory.bytes, self.n_memory, t0, t1, width)

    def server_columns(self, t0: int, t1: int, width: int) -> list[int | None]:
        """Per column: the connections the server had open (most of those it reported)."""
        return _columns(self.server_t, self.server_open, self.n_server, t0, t1, width)


def _columns(ts: array, values: array, n: int, t0: int, t1: int, width: int) -> list[int | None]:
    out: list[int | None] = [None] * width
    if not n or width <= 0 or t1 <= t0:
        return out
    first, last = ts[0], ts[n - 1]
    span = t1 - t0
    for col in range(width):
        a = t0 + span * col // width
        b = t0 + span * (col + 1) // width
        if b <= first or a > last:
            continue
        i, j = bisect_left(ts, a, 0, n), bisect_left(ts, b, 0, n)
        if j > i:
            out[col] = max(values[i:j])
        elif i:
            out[col] = values[i - 1]
    return out


def stats_without() -> dict[str, Any]:
    """The fields of ``Frame.stats`` for a run with no run-level figures (not measured)."""
    return {**EMPTY_FIGURES, "server": None}


def memory_event(reading: TreeReading, pid: int, kernel_stack: int | None) -> Event:
    """The MEMORY event of one reading of the run whose experiment is ``pid``."""
    info = encode({"bytes": reading.bytes, "processes": reading.processes, "threads": reading.threads,
                   "source": reading.source, "kernel_stack": kernel_stack})
    return (MEMORY, -1, pid, 0, reading.t_ns, reading.t_ns, -1, info)


class RunMemory:
    """A run's memory, read from outside (the calling process: the UI, or ``concviz run``) and
    handed to ``emit`` as MEMORY events, one a reading.

    Started with the experiment. Until its header arrives, readings are held back with each
    process's share: the header names the run's server (started before the header, and not the
    run's memory), taken out of them and left out of every reading after, and says from when
    events are the run's. ``first_spawn()`` (the Timeline's first SPAWN, once known) ends the
    sampler's quick start-up readings, so that the baseline is taken just before the tasks began.

    Args:
        experiment_pid: the experiment's pid.
        emit: takes a list of events (called on the sampling thread, or the caller of header).
        first_spawn: when the run's first task was spawned, None until it is.
    """

    def __init__(self, experiment_pid: int, emit: Callable[[list[Event]], None],
                 first_spawn: Callable[[], int | None]) -> None:
        self.pid = experiment_pid
        self._emit = emit
        self._first_spawn = first_spawn
        self._held: list[TreeReading] | None = []  # readings before the header (None: it came)
        self.sampler = MemorySampler(experiment_pid, on_reading=self._reading)
        self.sampler.parts = True

    def start(self) -> None:
        self.sampler.start()

    def header(self, header: dict[str, Any]) -> None:
        """The run's header arrived: emit the readings held back (less its server), and every
        reading from now on."""
        server = (header.get("server") or {}).get("pid")
        with self.sampler.holding():  # no reading in between
            if server:
                self.sampler.tree.leave_out(server)
            self.sampler.parts = False
            held, self._held = self._held or [], None
            since = header.get("t0_ns", 0)
            events = [self._event(r.without(server) if server else r) for r in held if r.t_ns >= since]
            if events:
                self._emit(events)

    def _reading(self, reading: TreeReading) -> None:
        if self._held is not None:
            self._held.append(reading)
            return
        start = self._first_spawn()
        if start is not None:
            self.sampler.mark_start(start)
        self._emit([self._event(reading)])

    def _event(self, reading: TreeReading) -> Event:
        return memory_event(reading, self.pid, self.sampler.kernel_stack_bytes)

    def stop(self) -> None:
        """Stop sampling (after a last reading) and wait for the sampling thread."""
        self.sampler.stop()
