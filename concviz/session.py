"""Sessions: where the app's Frames come from (a live experiment, or a recorded trace).

No widgets here. Both kinds answer to one interface (Session), so the app asks for a snapshot
on its frame tick and never tells them apart. A live session pumps the experiment's pipe on a
background thread, folds every batch into the Timeline and spills the raw events to disk for
export (an EventLog: the UI's memory does not grow with them); the cost of drawing does not
depend on how many events arrived.
"""

from __future__ import annotations

import select
import threading
import time
from abc import ABC, abstractmethod
from itertools import chain
from typing import Any, Callable, ClassVar

from concviz.engine.eventlog import EventLog
from concviz.engine.events import write_trace
from concviz.engine.experiment import Experiment
from concviz.engine.frame import Frame
from concviz.engine.replay import ReplaySource
from concviz.engine.resources import RunMemory
from concviz.engine.sampler import Sample, Sampler
from concviz.engine.spec import RunSpec
from concviz.engine.timeline import Timeline

# The pump folds what it read as one batch once the pipe has nothing more waiting, or past this
# many events (a flood never leaves the pipe empty: the UI thread still gets the GIL between
# folds, and a frame never waits long on the Timeline's lock).
DRAIN_MAX_EVENTS = 2_048
# While events come slower than SETTLE_MAX_RATE a second, the pump waits SETTLE_S after each
# fold (one flush period of a worker) before it reads again, so that what the workers flush
# meanwhile is read and folded together: a wake-up of the pump costs more than folding a small
# batch, and this makes them a few a frame instead of one per batch. The lanes lag the pipe by
# at most that much more (a frame is taken every 100 ms). Faster than that, waiting would let
# the pipe's buffer fill and hold the workers up: the pump only yields.
SETTLE_S = 0.01
SETTLE_MAX_RATE = 20_000


class Session(ABC):
    """One run the app shows, folded into ``timeline``.

    Attributes:
        spec: the settings of the run.
        timeline: its events, folded; a snapshot of it is a Frame.
        live: measured now (True) or played back from a recording (False).
        ranked: a complete run joins the app's results, which rank the models on this machine
            (a recording may come from another machine).
        stackable: its last picture joins the stack of the last runs (a traced program's does not:
            it is not a run of the settings shown).
    """

    live: ClassVar[bool]
    ranked: ClassVar[bool]
    stackable: ClassVar[bool] = True  # its last picture joins the stack of last runs (v)
    spec: RunSpec
    timeline: Timeline

    @property
    @abstractmethod
    def running(self) -> bool:
        """The run has not ended yet."""

    @property
    def version(self) -> int:
        """Moves whenever the timeline took new events: a frame tick with the same version has
        nothing new to draw."""
        return self.timeline.version

    @property
    def source_label(self) -> str:
        """Where the frames come from, for the title bar ("" for a live run)."""
        return ""

    def start(self) -> None:
        """Begin the run."""

    def advance(self) -> None:
        """Bring the timeline up to now (a live run's events arrive on their own)."""

    @abstractmethod
    def now_ns(self) -> int:
        """The run's present instant (perf_counter_ns): the live edge of its lanes."""

    def snapshot(self) -> Frame:
        """The run as it stands: an immutable Frame."""
        return self.timeline.snapshot(now_ns=self.now_ns())

    def sample(self) -> Sample | None:
        """The latest outside measurement of the run's processes (CPU %, RSS), if any."""
        return None

    @abstractmethod
    def stop(self) -> None:
        """The user asked to stop the run (the s key); returns at once."""

    def close(self, wait_s: float = 0.0) -> None:
        """Let go of the run: stop whatever it started, waiting up to ``wait_s`` for it to be
        gone (the app is quitting, or another run replaces this one)."""

    @abstractmethod
    def export(self, path: str) -> None:
        """Write the run's trace (header and every event) to ``path``, for replay."""


class LiveSession(Session):
    """One live run. ``on_end(session, status)`` is called from the pump thread when the run is
    over."""

    live = True
    ranked = True

    def __init__(self, spec: RunSpec, on_end: Callable[[Session, str], None] | None = None) -> None:
        self.spec = spec
        self.timeline = Timeline(tasks=spec.tasks)
        self.experiment = Experiment(spec)
        self.sampler: Sampler | None = None
        self.memory: RunMemory | None = None  # the run's memory, read from here (MEMORY events)
        self._on_end = on_end
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.header: dict[str, Any] = {}
        self.log = EventLog()  # every event, on disk, for export (removed when the session closes)
        self.status: str | None = None
        self._closed = False
        self._read: list[list] = []  # batches read from the pipe, not folded yet
        self._read_events = 0
        self._folded_at = 0.0  # when the pump last folded (perf_counter)
        self._waiting: Callable[[], bool] = lambda: False  # is more waiting on the pipe?

    @property
    def running(self) -> bool:
        return self.status is None

    def start(self) -> None:
        self.experiment.start()
        # one poll object for the run (Connection.poll builds a selector on every call)
        poller = select.poll()
        poller.register(self.experiment.reader.fileno(), select.POLLIN)
        self._waiting = lambda: bool(poller.poll(0))
        self.sampler = Sampler(root_pid=self.experiment.pid)
        self.sampler.start()
        self.memory = RunMemory(self.experiment.pid, self._keep, lambda: self.timeline.first_ns)
        self.memory.start()
        self._thread = threading.Thread(target=self._pump, name="concviz-pump", daemon=True)
        self._thread.start()

    def _on_message(self, tag: str, payload: Any) -> None:
        if tag == "E":
            # every batch waiting on the pipe is read before any is folded: one fold, one write
            # to the log and one yield per drain of the pipe, not per batch
            self._read.append(payload)
            self._read_events += len(payload)
            if self._read_events < DRAIN_MAX_EVENTS and self._waiting():
                return  # the pump reads the next one at once
            events = self._fold_read()
            now = time.perf_counter()
            slow = events < SETTLE_MAX_RATE * (now - self._folded_at)
            self._folded_at = now
            # Let the UI thread have the GIL between folds: under a flood of events the pump
            # would otherwise hold it for whole switch intervals and the frame rate would drop.
            # Events coming slowly: let the next batches gather (see SETTLE_S).
            time.sleep(SETTLE_S if slow else 0)
            return
        self._fold_read()  # what came before this message is folded before it
        if tag == "H":
            self.header = payload
            self.timeline.set_header(payload)
            self.log.set_header(payload)
            if self.memory is not None:
                self.memory.header(payload)

    def _keep(self, events: list) -> None:
        """MEMORY events, from the memory sampler's thread: folded and kept like the run's."""
        self.timeline.feed(events)
        self.log.append(events)

    def _fold_read(self) -> int:
        """Fold the batches read and not folded yet, as one batch (arrival order: each worker's
        events stay in order), into the Timeline and the log; returns how many events."""
        read = self._read
        if not read:
            return 0
        events = read[0] if len(read) == 1 else list(chain.from_iterable(read))
        self._read, self._read_events = [], 0
        self.timeline.feed(events)
        self.log.append(events)
        return len(events)

    def _pump(self) -> None:
        status, message, stopped_ns = "crashed", "", None
        try:
            status, message, stopped_ns = self.experiment.pump_to_end(self._on_message, stop=self._stop)
        finally:
            self._fold_read()  # (batches read before the pipe closed)
            if self.sampler is not None:
                self.sampler.stop()
            if self.memory is not None:
                self.memory.stop()
            self.log.append(self.timeline.end(status, message, t_ns=stopped_ns))
            self.status = status
            if self._closed:  # let go of while it ran: nobody will export it
                self.log.close()
            if self._on_end is not None:
                self._on_end(self, status)

    def stop(self) -> None:
        self.close(0.0)  # the pump thread reaps in the background

    def close(self, wait_s: float = 0.0) -> None:
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(wait_s)
        if self._thread is None or not self._thread.is_alive():
            self.log.close()  # (else the pump closes it when it is done with it)

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def sample(self) -> Sample | None:
        return self.sampler.latest if self.sampler else None

    def export(self, path: str) -> None:
        self.log.write_trace(path, self.timeline.ended, self.timeline.end_message)


class ReplaySession(Session):
    """A recorded trace played back at ``speed`` (or shown at once, with ``instant``)."""

    live = False
    ranked = False

    def __init__(self, header: dict[str, Any], events: list[tuple], speed: float = 1.0,
                 instant: bool = False) -> None:
        self.header = header
        self.source = ReplaySource(header, events, speed)
        self.spec = RunSpec.from_dict(header.get("spec", {}))
        self.events = events
        self._version_base = 0  # versions of the timelines a seek back replaced
        if instant:
            self.source.finish()

    @property
    def timeline(self) -> Timeline:  # type: ignore[override]
        return self.source.timeline  # (a seek back gives the source a new one)

    @property
    def version(self) -> int:
        return self._version_base + self.timeline.version

    @property
    def running(self) -> bool:
        return self.timeline.ended is None

    @property
    def duration_ns(self) -> int:
        """The recording's length, from its first event to its last."""
        return self.source.end_ns - self.source.start_ns

    def seek(self, t_ns: int) -> None:
        """Put the replay at ``t_ns`` from the recording's start (kept within it): the next
        snapshot shows what a live viewer saw at that instant, and the replay plays on from
        there. Scripts that take pictures of a run as it grows (screenshots/animate.py) step
        through it this way."""
        old = self.source.timeline
        self.source.seek(self.source.start_ns + t_ns)
        if self.source.timeline is not old:
            self._version_base += old.version + 1

    @property
    def source_label(self) -> str:
        return f"replay ×{self.source.speed:g}"

    def advance(self) -> None:
        if self.running:
            self.source.advance()

    def now_ns(self) -> int:
        return self.source.cursor_ns

    def stop(self) -> None:
        self.source.finish()  # the rest of the recording, at once

    def export(self, path: str) -> None:
        write_trace(path, self.header, list(self.events), self.timeline.ended or "ok")
