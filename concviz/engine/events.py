"""Event kinds, the compact wire form, and trace files.

An event is a flat tuple ``(kind, task, pid, tid, t0, t1, cpu, info)``:

* ``kind``: one of the constants below;
* ``task``: the task id (0..n-1), or -1 for run-level events (MEMORY, SERVER);
* ``pid`` / ``tid``: the OS process id and native thread id that recorded it;
* ``t0`` / ``t1``: ``time.perf_counter_ns()`` at the start and end (equal for instants);
* ``cpu``: the logical CPU of a RUN interval, -1 when unknown or irrelevant;
* ``info``: ``None`` or a short string (the error text of an ERROR, a worker label; a run-level
  event's figures, as a JSON object: see :mod:`concviz.engine.resources`).

``perf_counter_ns`` is CLOCK_MONOTONIC on Linux and macOS, one clock for every process, so
events from different processes line up on one time axis without any correction.

Messages on the wire are pickled tuples ``(tag, payload)``: ``("E", [event, ...])`` for a batch,
``("H", header)`` once at the start, ``("D", summary)`` once at the end, ``("X", text)`` if the
experiment itself failed. MEMORY events are made outside the experiment, by whoever samples its
memory (the UI, or ``concviz run``), and join its events there.

A trace file is that header, the events, and a trailer saying how the run ended. Reading one
checks it against what a recorded run can hold (the spec is one ``RunSpec.validate`` accepts, the
machine facts have their types and ranges, every event's task, CPU and times fit the header), so
that a file no run could have written is refused with one line instead of drawn wrong or slowly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, NamedTuple

SPAWN, START, RUN, SLEEP, FINISH, ERROR, PROGRESS, SLEEP_OPEN, MEMORY, SERVER, WAIT, GIL, NAME = range(13)
KIND_NAMES = ("spawn", "start", "run", "sleep", "finish", "error", "progress", "sleep-open", "memory", "server",
              "wait", "gil", "name")
# PROGRESS: a RUN interval still open, (t0 = its start, t1 = now). A CPU-bound worker that is
# never interrupted closes no interval until it ends; without these a live view would show it
# as waiting. The final RUN with the same start replaces it; figures never count it twice.
# SLEEP_OPEN: a sleep (I/O wait) began at t0 and is still going on; its SLEEP closes it. Without
# it a live view could not tell a task asleep from one it has not heard from yet.

# MEMORY: the run's memory read from outside (its process tree, less the server) at t0.
# SERVER: the loopback server's counters at t0 (net workloads), as the experiment asked them.
# Both are run-level: task -1, and their figures in info.
RUN_LEVEL = frozenset((MEMORY, SERVER))

# What a trace of any program (``concviz trace``/``attach``, seen from outside through /proc)
# adds; a run of concviz's own models never has them:
# WAIT: a stretch [t0, t1) a thread did not run, named: ``info`` is its state (sources.infer:
#   cpu, gil, lock, other, unknown), then ": " and a detail for other (the system call) and
#   unknown (why). Sleeping in I/O is a SLEEP, as in a run.
# GIL: the task held its process's GIL over [t0, t1) (inferred: it ran while siblings waited on
#   the GIL's futex). A process with GIL events has its GIL lane drawn from them, not from RUNs.
# NAME: the task's thread was renamed at t0 to ``info`` (a thread is named after it started).
TRACE_KINDS = frozenset((WAIT, GIL, NAME))

# events that happen at one instant: the recorder writes them with t0 == t1
INSTANTS = frozenset((SPAWN, START, FINISH, ERROR, SLEEP_OPEN, MEMORY, SERVER, NAME))
# how a run ended: the trailer's "ended" (see Experiment.pump)
RUN_ENDINGS = ("ok", "error", "timeout", "cancelled", "crashed")

# Version 2 added the run-level kinds (MEMORY, SERVER): a version-1 reader would have refused
# them as malformed events, so it is told the version instead. Version 3 added the trace kinds
# (WAIT, GIL, NAME) and the header of a trace of a program (see header_problem); a run is still
# written as version 2 (it has none of them), so older readers keep reading runs. Older traces
# still load.
TRACE_VERSION = 2
PROGRAM_TRACE_VERSION = 3
KINDS_IN_VERSION = {1: 8, 2: 10, 3: len(KIND_NAMES)}  # trace version -> event kinds it can hold
# a trace of a program has no task count in its header (threads come and go): its ids are
# checked against this instead
MAX_TRACED_TASKS = 1_000_000
# perf_counter_ns() is a signed 64-bit count of nanoseconds on every platform
MAX_NS = 2**63
# os.cpu_count() of the largest machines Linux is built for (NR_CPUS with CONFIG_MAXSMP)
MAX_CPUS = 8192

Event = tuple  # (kind, task, pid, tid, t0, t1, cpu, info)
# where each field of an event tuple is (events are flat tuples: read them by these, not by number)
EV_KIND, EV_TASK, EV_PID, EV_TID, EV_T0, EV_T1, EV_CPU, EV_INFO = range(8)


class TraceError(ValueError):
    """A trace file that cannot be read: missing, empty, truncated, not JSON, wrong version, or
    holding values no recorded run has."""


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
        self._out.write(json.dumps({"concviz_trace": version_of(header), **header}) + "\n")

    def write(self, events: Iterable[Event]) -> None:
        self._out.writelines(json.dumps(list(e), separators=(",", ":")) + "\n" for e in events)

    def close(self, ended: str | None = None, message: str = "") -> None:
        """Close the file; ``ended`` (how the run ended) goes into a trailer line."""
        if ended is not None:
            self._out.write(json.dumps({"ended": ended, "message": message}) + "\n")
        self._out.close()


def version_of(header: dict[str, Any]) -> int:
    """The trace version a file with ``header`` is written as."""
    return PROGRAM_TRACE_VERSION if is_program_trace(header) else TRACE_VERSION


def read_trace(path: str | Path) -> tuple[dict[str, Any], list[Event]]:
    """Read a trace written by :func:`write_trace`, refusing what no recorded run can hold.

    Raises:
        TraceError: with a one-line explanation naming the file, and the line for a bad line.
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
    version = header["concviz_trace"]
    if type(version) is not int or version not in KINDS_IN_VERSION:
        raise TraceError(
            f"trace version {version!r} is not supported "
            f"(this concviz reads versions {', '.join(map(str, KINDS_IN_VERSION))}): {path}"
        )
    kinds = KINDS_IN_VERSION[version]
    problem = header_problem(header)
    if problem:
        raise TraceError(f"impossible header at line 1 ({problem}): {path}")
    bounds = TraceBounds.of(header)
    events: list[Event] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise TraceError(f"trace is truncated or corrupt at line {number}: {path}") from None
        if isinstance(row, dict) and "ended" in row:
            problem = _ending_problem(row.get("ended"), row.get("message", ""))
            if problem:
                raise TraceError(f"impossible trailer at line {number} ({problem}): {path}")
            header["ended"] = row["ended"]
            header["end_message"] = row.get("message", "")
            continue
        if not _valid_event(row, kinds):
            raise TraceError(f"malformed event at line {number}: {path}")
        problem = event_problem(row, bounds)
        if problem:
            raise TraceError(f"impossible event at line {number} ({problem}): {path}")
        events.append(tuple(row))
    if not events:
        raise TraceError(f"trace has a header but no events: {path}")
    return header, events


def _valid_event(row: Any, kinds: int = len(KIND_NAMES)) -> bool:
    """An event row as :class:`TraceWriter` writes it: 7 integers (a kind known to the trace's
    version first) and a string or null. Anything else would only fail later, far from the file,
    in the Timeline or the exporter."""
    return (isinstance(row, list) and len(row) == 8
            and all(type(v) is int for v in row[:7]) and 0 <= row[0] < kinds
            and (row[7] is None or isinstance(row[7], str)))


# --- what a recorded run can hold --------------------------------------------------------------
class TraceBounds(NamedTuple):
    """What a trace's header allows its events: task ids below ``tasks``, CPU numbers below
    ``cpus``, times from ``t0_ns`` (when the experiment started) on."""

    tasks: int
    cpus: int
    t0_ns: int

    @classmethod
    def of(cls, header: dict[str, Any]) -> "TraceBounds":
        """The bounds of a header that :func:`header_problem` accepted."""
        tasks = MAX_TRACED_TASKS if is_program_trace(header) else header["spec"]["tasks"]
        return cls(tasks, header["machine"]["cpus"], header.get("t0_ns", 0))


def event_problem(row: list | tuple, bounds: TraceBounds) -> str | None:
    """What no recorded run can hold in this well-formed event (see :func:`_valid_event`), or
    None: a task outside the run, a CPU outside the machine, negative OS ids, an interval that
    ends before it starts, an instant that lasts, a time before the run or past the clock."""
    kind, task, pid, tid, t0, t1, cpu, info = row
    if kind in RUN_LEVEL:
        if task != -1:
            return f"a {KIND_NAMES[kind]} event is the run's, task -1, not task {task}"
        from concviz.engine.resources import info_problem

        problem = info_problem(kind, info)
        if problem:
            return problem
    elif not 0 <= task < bounds.tasks:
        return f"task {task} is outside the run (tasks are 0..{bounds.tasks - 1})"
    if not -1 <= cpu < bounds.cpus:
        return f"cpu {cpu} is outside the machine (cpus are 0..{bounds.cpus - 1}, -1 when not known)"
    if pid < 0 or tid < 0:
        return f"pid {pid} and tid {tid}: an OS id is never negative"
    if t1 < t0:
        return f"it ends before it starts (t1 {t1} < t0 {t0})"
    if t0 < bounds.t0_ns:
        return (f"it starts before the run did (t0 {t0} < {bounds.t0_ns})" if bounds.t0_ns
                else f"time t0 {t0} is negative")
    if t1 >= MAX_NS:
        return f"time t1 {t1} is past the end of a 64-bit nanosecond clock"
    if kind in INSTANTS and t0 != t1:
        return f"a {KIND_NAMES[kind]} is an instant, but t0 {t0} != t1 {t1}"
    if kind == WAIT and wait_state(info) is None:
        return f"a wait names its state ({', '.join(WAIT_STATES)}), not {_short(info)}"
    if kind == NAME and not info:
        return "a name event names the thread"
    return None


# the states a WAIT event can name (sources.infer's, less I/O: that is a SLEEP)
WAIT_STATES = ("cpu", "gil", "lock", "other", "unknown")


def wait_state(info: Any) -> str | None:
    """The state a WAIT event's ``info`` names ("gil", "unknown: why"...), or None if none."""
    if not isinstance(info, str):
        return None
    state = info.split(":", 1)[0]
    return state if state in WAIT_STATES else None


def is_program_trace(header: dict[str, Any]) -> bool:
    """The header is a trace of a program (``concviz trace``/``attach``), not a run of a model."""
    return "trace" in header and "spec" not in header


TRACE_WORKLOADS = ("command", "attach")
MAX_RATE_HZ = 10_000.0


def _program_problem(header: dict[str, Any]) -> str | None:
    """A trace of a program: what it traced (a command it started, or a PID it attached to),
    the sampler's rate, where the program's output went; the machine's facts, as for a run."""
    trace = header["trace"]
    if not isinstance(trace, dict):
        return f"trace must be an object, got {_short(trace)}"
    if header.get("model") != "trace" or header.get("workload") not in TRACE_WORKLOADS:
        return (f"a trace of a program has model 'trace' and workload 'command' or 'attach', got "
                f"{_short(header.get('model'))} and {_short(header.get('workload'))}")
    command = trace.get("command")
    if header["workload"] == "command":
        if not (isinstance(command, list) and command and all(isinstance(a, str) for a in command)):
            return f"trace.command must be a list of words, got {_short(command)}"
    elif command is not None:
        return "trace.command is for a command concviz started, not for attach"
    pid = trace.get("pid")
    if type(pid) is not int or pid < 1:
        return f"trace.pid must be a positive whole number, got {_short(pid)}"
    rate = trace.get("rate_hz")
    if type(rate) not in (int, float) or not 0 < rate <= MAX_RATE_HZ:
        return f"trace.rate_hz must be a number above 0, up to {MAX_RATE_HZ:g}, got {_short(rate)}"
    output = trace.get("output")
    if output is not None and not (isinstance(output, str) and output.isprintable()):
        return f"trace.output must be a file name or null, got {_short(output)}"
    return None


def header_problem(header: dict[str, Any]) -> str | None:
    """What no recorded run can have in this trace header, or None.

    A trace of a program (:func:`is_program_trace`) has, instead of a spec, ``trace``: the
    command or the PID, the sampler's rate, the output file (see :func:`_program_problem`).
    The run's spec must be one :meth:`RunSpec.validate` accepts as it stands, and name the
    header's model and workload; the machine facts must have their types and ranges (``cpus``
    is required: the core lanes and the events' CPU numbers are checked against it). Other
    facts are checked when present; keys this version does not know are left alone.
    """
    spec = header.get("spec")
    if is_program_trace(header):
        problem = _program_problem(header) or _machine_problem(header.get("machine"))
        spec = {}
    else:
        problem = _spec_problem(spec)
    if problem:
        return problem
    for key in ("model", "workload"):
        if spec and header.get(key) != spec[key]:
            return f"{key} {_short(header.get(key))} is not the spec's {spec[key]!r}"
    problem = _machine_problem(header.get("machine"))
    if problem:
        return problem
    method = header["machine"].get("start_method")
    if spec.get("start_method") is not None and method != spec["start_method"]:
        return f"machine.start_method {method!r} is not the spec's {spec['start_method']!r}"
    pid = header.get("experiment_pid", 1)
    if type(pid) is not int or pid < 1:
        return f"experiment_pid must be a positive whole number, got {_short(pid)}"
    t0 = header.get("t0_ns", 0)
    if type(t0) is not int or not 0 <= t0 < MAX_NS:
        return f"t0_ns must be a whole number of nanoseconds from 0 to 2**63, got {_short(t0)}"
    if "ended" in header:  # a trace written back by a replay carries the trailer's facts too
        return _ending_problem(header["ended"], header.get("end_message", ""))
    return None


SPEC_INTEGERS = ("tasks", "workers", "seed", "fail_task", "kill_task", "hang_task", "threads_per_worker")


def _spec_problem(spec: Any) -> str | None:
    """The spec must be a fixed point of RunSpec.validate: accepted, and unchanged by it (no
    whole number written as 4.0, no name with spaces around it). The start method is checked
    against every platform's: a trace is replayed on other machines than the one that ran it."""
    from concviz.engine.spec import ALL_START_METHODS, RunSpec, SpecError, suggest

    if not isinstance(spec, dict):
        return f"spec must be an object, got {_short(spec)}"
    for key in ("model", "workload", "tasks"):
        if key not in spec:
            return f"spec has no {key}"
    fields = {k: v for k, v in spec.items() if k in RunSpec.__dataclass_fields__ and k != "faults"}
    for key in SPEC_INTEGERS:
        value = fields.get(key)
        if value is not None and type(value) is not int:
            return f"spec.{key} must be a whole number, got {_short(value)}"
    method = fields.pop("start_method", None)
    if method is not None and method not in ALL_START_METHODS:
        return f"spec: unknown start method {_short(method)}{suggest(str(method), ALL_START_METHODS)}"
    try:
        checked = RunSpec(**fields).validate()
    except SpecError as exc:
        return f"spec: {exc}"
    for key, value in fields.items():
        if getattr(checked, key) != value:
            return f"spec.{key} {value!r} is not a value a run records (it would be {getattr(checked, key)!r})"
    return None


def _machine_problem(machine: Any) -> str | None:
    from concviz.engine.spec import ALL_START_METHODS, MAX_SWITCH_MS, SpecError, check_number

    if not isinstance(machine, dict):
        return f"machine must be an object, got {_short(machine)}"
    cpus = machine.get("cpus")
    if type(cpus) is not int or not 1 <= cpus <= MAX_CPUS:
        return f"machine.cpus must be a whole number from 1 to {MAX_CPUS}, got {_short(cpus)}"
    for key in ("gil", "free_threaded_build"):
        if key in machine and type(machine[key]) is not bool:
            return f"machine.{key} must be true or false, got {_short(machine[key])}"
    if machine.get("gil") is False and machine.get("free_threaded_build") is False:
        return "machine.gil is off on a build that is not free-threaded"
    for key in ("python", "implementation", "platform"):
        value = machine.get(key, "-")
        if not (isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable()):
            return f"machine.{key} must be a short line of text, got {_short(value)}"
    if "start_method" in machine and machine["start_method"] not in ALL_START_METHODS:
        return f"machine.start_method must be one of {', '.join(ALL_START_METHODS)}, got {_short(machine['start_method'])}"
    if "switch_interval_ms" in machine:
        try:
            check_number("switch interval (ms)", machine["switch_interval_ms"], 0, MAX_SWITCH_MS, exclusive=True)
        except SpecError as exc:
            return f"machine: {exc}"
    return None


def _ending_problem(ended: Any, message: Any) -> str | None:
    if ended not in RUN_ENDINGS:
        return f"ended must be one of {', '.join(RUN_ENDINGS)}, got {_short(ended)}"
    if not isinstance(message, str):
        return f"the end message must be text, got {_short(message)}"
    return None


def _short(value: Any) -> str:
    """``repr(value)`` cut to a length that keeps the error on one line."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
