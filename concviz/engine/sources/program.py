"""A program traced from outside: a command concviz starts (``trace``) or a running process
tree it watches (``attach``), turned into concviz events as the sampler reads it.

:class:`ProgramTrace` starts the command through a guard process (:mod:`guard`: the command's
parent, which ends every process the command started when concviz lets it go or dies; the
command's output goes to a file, its input is /dev/null), or checks the PID it attaches to, then
runs the /proc sampler on a thread and hands every batch, as events (:class:`EventMaker`), to a
callback. Ending it ends everything the command started (TERM, then KILL), whatever process
group or session it moved to; an attached process is never signalled.

The trace's header (:func:`trace_header`) has the command or the PID, the sampler's rate and
the output file instead of a run's spec (events.header_problem checks it).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from concviz.engine.events import GIL, NAME, START, WAIT
from concviz.engine.sources.guard import GuardedCommand, Proc, signal_process
from concviz.engine.sources.infer import IO, OTHER, UNKNOWN
from concviz.engine.sources.procfs import ProcReader
from concviz.engine.sources.records import TraceBatch
from concviz.engine.sources.sampler import DEFAULT_HZ, ProcSampler
from concviz.engine.sources.tracer import Tracker

MAX_HZ = 1000.0


class ProgramError(Exception):
    """What keeps a program from being traced, in one line (exit status 2)."""


def check_platform() -> None:
    """Tracing reads /proc: Linux only."""
    if not sys.platform.startswith("linux") or not os.path.isdir("/proc/self/task"):
        raise ProgramError(f"concviz trace and attach read /proc: they need Linux (this is {sys.platform})")


def check_rate(rate_hz: float) -> float:
    if not 1.0 <= rate_hz <= MAX_HZ:
        raise ProgramError(f"rate must be 1 to {MAX_HZ:g} Hz, got {rate_hz:g}")
    return float(rate_hz)


def trace_header(command: Sequence[str] | None, pid: int, rate_hz: float, output: str | None,
                 t0_ns: int) -> dict[str, Any]:
    """The header of a trace of a program (events.is_program_trace). The machine's facts are
    this machine's (the program's interpreter is not known from outside)."""
    return {
        "model": "trace",
        "workload": "command" if command is not None else "attach",
        "trace": {"command": list(command) if command is not None else None, "pid": pid,
                  "rate_hz": rate_hz, "output": output},
        "machine": {"cpus": os.cpu_count() or 1, "platform": sys.platform},
        "t0_ns": t0_ns,
    }


def describe(header: dict[str, Any], width: int = 60) -> str:
    """What a trace traced, in a few words: the command (paths by their last part, cut to
    ``width``) or the PID."""
    trace = header.get("trace") or {}
    command = trace.get("command")
    if command:
        text = " ".join(os.path.basename(a) if "/" in a and not a.startswith("-") else a for a in command)
        return text if len(text) <= width else text[: width - 1] + "…"
    return f"pid {trace.get('pid', '?')}"


class EventMaker:
    """Turns the sampler's batches into concviz events: the batch's own (START, RUN, SLEEP,
    PROGRESS, FINISH), plus WAIT for each named wait (I/O waits are already SLEEPs), GIL for
    each inferred holder's stretch, NAME for each rename."""

    def __init__(self) -> None:
        self._task: dict[tuple[int, int], int] = {}  # (pid, tid) -> its latest task
        self._ids: dict[int, tuple[int, int]] = {}  # task -> (pid, tid)

    def __call__(self, batch: TraceBatch) -> list[tuple]:
        out = list(batch.events)
        for e in batch.events:
            if e[0] == START:
                self._task[(e[2], e[3])] = e[1]
                self._ids[e[1]] = (e[2], e[3])
        for s in batch.spans:
            if s.state == IO:
                continue
            info = f"{s.state}: {s.detail}" if s.detail and s.state in (OTHER, UNKNOWN) else s.state
            out.append((WAIT, s.task, s.pid, s.tid, s.t0, s.t1, -1, info))
        for g in batch.gil:
            task = self._task.get((g.pid, g.tid))
            if task is not None and g.t1 > g.t0:
                out.append((GIL, task, g.pid, g.tid, g.t0, g.t1, -1, None))
        for r in batch.renamed:
            pid, tid = self._ids.get(r.task, (0, 0))
            out.append((NAME, r.task, pid, tid, r.t_ns, r.t_ns, -1, r.name))
        return out


def trace_to_frame(trace: ProgramTrace, record: str | None = None,
                   stop: threading.Event | None = None):
    """Trace ``trace`` (not started yet) to its end, headless, and return the final Frame;
    ``record``: a JSON-lines trace written as events arrive; ``stop``: set it to end the
    trace (the command's group is ended)."""
    from concviz.engine.events import TraceWriter
    from concviz.engine.timeline import Timeline

    timeline = Timeline()
    writer: TraceWriter | None = None

    def on_header(header: dict) -> None:
        nonlocal writer
        timeline.set_header(header)
        if record:
            writer = TraceWriter(record, header)

    def keep(events: list) -> None:
        timeline.feed(events)
        if writer is not None:
            writer.write(events)

    trace.on_header, trace.on_events = on_header, keep
    try:
        trace.start()  # bad input (no such command or process) raises here
    except BaseException:
        trace.stop()  # (ends the command if it had started; there is no trace to wait for)
        raise
    try:
        while not trace.join(0.05):
            if stop is not None and stop.is_set():
                trace.stop()
                trace.join()
    except BaseException:
        trace.stop()
        trace.join(5.0)
        if writer is not None:
            writer.close()
        raise
    ending = trace.ending
    extra = timeline.end(ending.status, ending.message)
    if writer is not None:
        writer.write(extra)
        writer.close(ending.status, ending.message)
    return timeline.snapshot()


@dataclass
class Ending:
    """How a trace ended: ``status`` (ok: the program ended by itself; cancelled; timeout),
    the command's exit code (None for attach or when it was ended by concviz)."""

    status: str
    returncode: int | None = None
    message: str = ""


@dataclass
class ProgramTrace:
    """One program traced: start it, and ``on_events(events)`` is called from the sampler's
    thread with each batch's events; ``on_end(ending)`` once it is over.

    Args:
        command: the command to start (``trace``), or None with ``pid`` (``attach``).
        pid: the process to attach to.
        rate_hz: the sampler's rate asked for (it lowers it to stay cheap: :attr:`rate_hz`).
        inherit_output: the command writes to concviz's own stdout and stderr (headless only),
            else to :attr:`output`, a file named in the header.
        time_limit_s: end the command after this long (None: never).
    """

    on_events: Callable[[list], None]
    command: Sequence[str] | None = None
    pid: int | None = None
    rate_hz: float = DEFAULT_HZ
    inherit_output: bool = False
    time_limit_s: float | None = None
    on_end: Callable[[Ending], None] | None = None
    on_header: Callable[[dict], None] | None = None  # called with the header before any events
    # called after each batch with the waits still going on: task -> (state, since, until), the
    # stretch of a wait not yet sent as a WAIT (it is sent when the wait ends): a live view shows
    # what a thread is blocked on now, as SLEEP_OPEN does for a sleep
    on_open_waits: Callable[[dict], None] | None = None
    header: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    ending: Ending | None = None
    sampler: ProcSampler | None = None
    proc: GuardedCommand | None = None
    _stop_status: str | None = None
    _done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Start the command (or check the PID) and the sampler; ProgramError if it cannot."""
        check_platform()
        check_rate(self.rate_hz)
        if self.command is not None:  # its threads count from its start
            root = self._spawn()
            since = self._spawn_ns
        else:  # what it did before the first reading is not shown
            root, since = self._check_pid(), None
        t0 = since if since is not None else time.perf_counter_ns()
        try:
            reader = ProcReader(root, group=self.command is not None,
                                adopter=self.proc.guard.pid if self.proc is not None else None)
        except ProcessLookupError as exc:
            self._end_command()
            raise ProgramError(f"process {root} exited before it could be read ({exc})") from None
        self.header = trace_header(self.command, root, self.rate_hz, self.output, t0)
        if self.on_header is not None:
            self.on_header(self.header)
        tracker = Tracker(since_ns=since, maps=reader.maps)
        self.sampler = ProcSampler(reader, tracker, self._batch, rate_hz=self.rate_hz)
        self._maker = EventMaker()
        threading.Thread(target=self._run, name="concviz-trace", daemon=True).start()

    def _spawn(self) -> int:
        argv = list(self.command or ())
        if not argv:
            raise ProgramError("no command to trace: concviz trace -- COMMAND [ARGS...]")
        out: Any = None
        if not self.inherit_output:
            fd, self.output = tempfile.mkstemp(prefix="concviz-trace-", suffix=".log")
            out = fd
        try:
            self.proc = GuardedCommand(argv, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT if out is not None else None)
        except OSError as exc:
            if self.output is not None:  # nothing was written to it
                os.unlink(self.output)
                self.output = None
            if exc.errno == errno.ENOENT:
                raise ProgramError(f"command not found: {argv[0]}") from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise ProgramError(f"cannot run {argv[0]}: permission denied") from None
            raise ProgramError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        finally:
            if out is not None:
                os.close(out)
        self._spawn_ns = self.proc.spawn_ns
        return self.proc.pid

    def _check_pid(self) -> int:
        pid = self.pid
        if pid is None or pid < 1:
            raise ProgramError(f"no process {pid}: a PID is a positive whole number")
        if pid == os.getpid():
            raise ProgramError(f"process {pid} is concviz itself")
        try:
            with open(f"/proc/{pid}/task/{pid}/schedstat", "rb") as f:
                f.read()
        except FileNotFoundError:
            raise ProgramError(f"no process {pid}") from None
        except PermissionError:
            raise ProgramError(f"no permission to read process {pid}") from None
        except OSError as exc:
            raise ProgramError(f"cannot read process {pid}: {exc.strerror or exc}") from None
        return pid

    # --- running ---------------------------------------------------------------------------
    def _batch(self, batch: TraceBatch) -> None:
        events = self._maker(batch)
        if events:
            self.on_events(events)
        if self.on_open_waits is not None:
            opens = {}
            for threads in self.sampler.tracker.threads.values():
                for th in threads.values():
                    o = th.open  # [state, t0, t1, cpu, detail, inferred]: not sent yet
                    if o is not None and o[0] != "run" and o[0] != IO and o[2] > o[1]:
                        opens[th.task] = (o[0], o[1], o[2])
            self.on_open_waits(opens)

    def _run(self) -> None:
        sampler = self.sampler
        sampler.start()
        if not sampler.join(self.time_limit_s):
            if self._stop_status is None:
                self._stop_status = "timeout"
            self._end_command()
            sampler.stop()
            sampler.join()
        status = self._stop_status or "ok"
        self._end_command()
        code = self.proc.returncode if self.proc is not None and status == "ok" else None
        message = "" if sampler.error is None else f"the sampler failed: {sampler.error}"
        self.ending = Ending("crashed" if sampler.error is not None else status, code, message)
        try:
            if self.on_end is not None:
                self.on_end(self.ending)
        finally:
            self._done.set()  # after on_end: whoever joins finds what it did done

    def _end_command(self) -> None:
        """Let the guard end everything the command started, and wait for it (it TERMs, then
        KILLs what is left after a grace period)."""
        if self.proc is not None:
            self.proc.end()
            self.proc.wait(10.0)
            if self.proc.returncode is None and self.proc.guard.poll() is not None and self.sampler is not None:
                # the guard was killed before it could end them: end the processes the trace saw
                # (each checked by its start time), as the guard would have
                for pid, st in list(self.sampler.reader.procs.items()):
                    signal_process(Proc(pid, st.ppid, st.start, False), signal.SIGKILL)

    def stop(self, status: str = "cancelled") -> None:
        """End the trace (everything the command started is ended; an attached process is left
        alone); returns at once."""
        if self._stop_status is None and not self._done.is_set():
            self._stop_status = status
        if self.proc is not None:
            self.proc.end()
        if self.sampler is not None:
            self.sampler.stop()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the trace to be over; True if it is."""
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        return self.sampler is not None and not self._done.is_set()

    @property
    def rate_hz_used(self) -> float:
        """The rate the sampler ran at last (it adapts to stay under its budget)."""
        return self.sampler.rate_hz if self.sampler is not None else self.rate_hz
