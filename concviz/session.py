"""Sessions: where the app's Frames come from (a live experiment, or a recorded trace).

No widgets here. A live session pumps the experiment's pipe on a background thread, folds every
batch into the Timeline and keeps the raw events for export; the app only ever asks for a
snapshot on its frame tick, so the cost of drawing does not depend on how many events arrived.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from concviz.engine.events import write_trace
from concviz.engine.experiment import Experiment
from concviz.engine.frame import Frame
from concviz.engine.replay import ReplaySource
from concviz.engine.sampler import Sample, Sampler
from concviz.engine.spec import RunSpec
from concviz.engine.timeline import Timeline

MAX_KEPT_EVENTS = 2_000_000  # for export; beyond this the run is still shown, not kept


class LiveSession:
    """One live run. ``on_end(status)`` is called from the pump thread when the run is over."""

    live = True

    def __init__(self, spec: RunSpec, on_end: Callable[[str], None] | None = None) -> None:
        self.spec = spec
        self.timeline = Timeline(tasks=spec.tasks)
        self.experiment = Experiment(spec)
        self.sampler: Sampler | None = None
        self._on_end = on_end
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.header: dict[str, Any] = {}
        self.events: list[tuple] = []
        self.status: str | None = None

    @property
    def running(self) -> bool:
        return self.status is None

    def start(self) -> None:
        self.experiment.start()
        self.sampler = Sampler(root_pid=self.experiment.pid)
        self.sampler.start()
        self._thread = threading.Thread(target=self._pump, name="concviz-pump", daemon=True)
        self._thread.start()

    def _on_message(self, tag: str, payload: Any) -> None:
        if tag == "E":
            self.timeline.feed(payload)
            if len(self.events) < MAX_KEPT_EVENTS:
                self.events.extend(payload)
            # Let the UI thread have the GIL between batches: under a flood of events the pump
            # would otherwise hold it for whole switch intervals and the frame rate would drop.
            time.sleep(0)
        elif tag == "H":
            self.header = payload
            self.timeline.set_header(payload)

    def _pump(self) -> None:
        status, message, stopped_ns = "crashed", "", None
        try:
            status, message, stopped_ns = self.experiment.pump_to_end(self._on_message, stop=self._stop)
        finally:
            if self.sampler is not None:
                self.sampler.stop()
            self.events.extend(self.timeline.end(status, message, t_ns=stopped_ns))
            self.status = status
            if self._on_end is not None:
                self._on_end(status)

    def cancel(self, wait_s: float = 1.0) -> None:
        """Stop the run; wait up to ``wait_s`` for every process to be gone."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(wait_s)

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def advance(self) -> None:
        """Live data arrives on its own (pump thread)."""

    def sample(self) -> Sample | None:
        return self.sampler.latest if self.sampler else None

    def snapshot(self) -> Frame:
        return self.timeline.snapshot(now_ns=self.now_ns())

    def export(self, path: str) -> None:
        write_trace(path, self.header, list(self.events), self.timeline.ended, self.timeline.end_message)


class ReplaySession:
    """A recorded trace played back at ``speed`` (or shown at once, with ``instant``)."""

    live = False

    def __init__(self, header: dict[str, Any], events: list[tuple], speed: float = 1.0,
                 instant: bool = False) -> None:
        self.header = header
        self.source = ReplaySource(header, events, speed)
        self.timeline = self.source.timeline
        self.spec = RunSpec.from_dict(header.get("spec", {}))
        self.events = events
        if instant:
            self.source.finish()

    @property
    def running(self) -> bool:
        return self.timeline.ended is None

    def start(self) -> None:
        pass

    def cancel(self, wait_s: float = 0.0) -> None:
        self.source.finish()

    def advance(self) -> None:
        if self.running:
            self.source.advance()

    def now_ns(self) -> int:
        return self.source.cursor_ns

    def sample(self) -> Sample | None:
        return None

    def snapshot(self) -> Frame:
        return self.timeline.snapshot(now_ns=self.now_ns())

    def export(self, path: str) -> None:
        write_trace(path, self.header, list(self.events), self.timeline.ended or "ok")
