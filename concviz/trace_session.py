"""TraceSession: a program traced from outside (``concviz trace`` / ``attach``) as a Session.

No widgets here. The /proc sampler runs on a thread of the UI process (it adapts its rate to
stay cheap) and hands each batch's events to the Timeline, so the panes draw the program's
threads as they draw a run's tasks; the events are also kept on disk (an EventLog) for export
and ``--record``. It is started before the app (a command that cannot start, a PID that is not
there, is one line and exit 2, not a screen).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from concviz.engine.eventlog import EventLog
from concviz.engine.sampler import Sample, Sampler
from concviz.engine.sources.program import Ending, ProgramTrace, describe
from concviz.engine.spec import RunSpec
from concviz.engine.timeline import Timeline
from concviz.session import Session


class TraceSession(Session):
    """One program traced live.

    Args:
        trace: the program to trace (not started yet).
        record: where to write the trace once it is over (None: nowhere).
    """

    live = True
    ranked = False  # not one of concviz's models: it has no place in the results
    stackable = False

    def __init__(self, trace: ProgramTrace, record: str | None = None) -> None:
        self.trace = trace
        self.record = record
        self.spec = RunSpec()  # (the next run's settings, were the user to leave the trace)
        self.timeline = Timeline()
        self.log = EventLog()
        self.status: str | None = None
        self.sampler: Sampler | None = None
        self._on_end: Callable[[Session, str], None] | None = None
        self._lock = threading.Lock()
        trace.on_header, trace.on_events, trace.on_end = self._header, self._events, self._ended
        trace.on_open_waits = self.timeline.set_open_waits

    # --- fed from the sampler's thread ---------------------------------------------------
    def _header(self, header: dict) -> None:
        self.timeline.set_header(header)
        self.log.set_header(header)

    def _events(self, events: list) -> None:
        self.timeline.feed(events)
        self.log.append(events)
        time.sleep(0)  # let the UI thread have the GIL between batches

    def _ended(self, ending: Ending) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        self.log.append(self.timeline.end(ending.status, ending.message))
        if self.record:
            try:
                self.log.write_trace(self.record, ending.status, ending.message)
            except OSError:
                pass  # (the path was checked before the trace began; a full disk is not fatal)
        with self._lock:
            self.status = ending.status
            on_end = self._on_end
        if on_end is not None:
            on_end(self, ending.status)

    # --- Session ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the program (or check the PID) and the sampling; ProgramError if it cannot."""
        self.trace.start()
        self.sampler = Sampler(root_pid=self.trace.header["trace"]["pid"])
        self.sampler.start()

    def bind(self, on_end: Callable[[Session, str], None]) -> None:
        """Call ``on_end(session, status)`` when the trace is over (at once if it is)."""
        with self._lock:
            self._on_end = on_end
            status = self.status
        if status is not None:
            on_end(self, status)

    @property
    def running(self) -> bool:
        return self.status is None

    @property
    def source_label(self) -> str:
        return f"sampled at {self.trace.rate_hz_used:.0f} Hz"

    @property
    def what(self) -> str:
        """What is traced, in a few words (the command, or the PID)."""
        return describe(self.trace.header)

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def sample(self) -> Sample | None:
        return self.sampler.latest if self.sampler else None

    def stop(self) -> None:
        self.trace.stop()

    def close(self, wait_s: float = 0.0) -> None:
        self.trace.stop()
        if self.sampler is not None:
            self.sampler.stop()
        if self.trace.join(wait_s):
            self.log.close()

    def export(self, path: str) -> None:
        self.log.write_trace(path, self.timeline.ended, self.timeline.end_message)
