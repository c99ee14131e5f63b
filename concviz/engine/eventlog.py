"""EventLog: every event of a run kept on disk as it arrives, not in the UI's memory.

A live run records events for export and replay (``--record``, the Chrome export, writing the
trace after the run). Keeping them as tuples in memory costs a few hundred bytes an event and
grows without bound; the Timeline keeps only what the lanes need (packed). The log appends each
batch to a temporary file in the trace format of events.py as it arrives, writes the complete
trace (header, events, trailer) on demand, gives the events back for an export, and removes its
file when closed. Nothing is dropped: if the disk refuses a batch, the log says how many events
it lost, and refuses to pass off what it kept as the whole run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable

from concviz.engine.events import TRACE_VERSION, Event


class EventLogError(OSError):
    """Events of the run could not be kept (the disk refused them): the log is incomplete."""


class EventLog:
    """Events of one run, appended to a temporary JSON-lines file (thread-safe appends)."""

    def __init__(self, header: dict[str, Any] | None = None, directory: str | None = None) -> None:
        fd, path = tempfile.mkstemp(prefix="concviz-events-", suffix=".jsonl", dir=directory)
        self.path = Path(path)
        self._out = os.fdopen(fd, "w", encoding="utf-8")
        self._lock = threading.Lock()
        self.header: dict[str, Any] = dict(header or {})
        self.count = 0  # events kept
        self.lost = 0  # events the disk refused
        self.error: str | None = None  # why, the first time

    def set_header(self, header: dict[str, Any]) -> None:
        self.header = dict(header)

    def append(self, events: Iterable[Event]) -> None:
        """Add a batch. Never raises for a full or failing disk (the pump must go on): the
        events are counted as lost, and :meth:`write_trace` and :meth:`events` then refuse."""
        lines = [json.dumps(list(e), separators=(",", ":")) + "\n" for e in events]
        with self._lock:
            if self._out.closed:
                raise ValueError("event log is closed")
            try:
                self._out.writelines(lines)
            except OSError as exc:
                self.lost += len(lines)
                self.error = self.error or str(exc)
                return
            self.count += len(lines)

    def _check(self) -> None:
        if self.lost:
            raise EventLogError(f"{self.lost:,} events of this run could not be kept ({self.error}): "
                                "the recorded trace would be incomplete")

    def _flushed(self) -> None:
        with self._lock:
            self._out.flush()
        self._check()

    def write_trace(self, path: str | Path, ended: str | None = None, message: str = "") -> None:
        """Write the complete trace: the header line, every event, and (with ``ended``) the
        trailer, as :func:`events.write_trace` does.

        Raises:
            EventLogError: if any event could not be kept.
        """
        self._flushed()
        with open(path, "w", encoding="utf-8") as out, open(self.path, encoding="utf-8") as src:
            out.write(json.dumps({"concviz_trace": TRACE_VERSION, **self.header}) + "\n")
            shutil.copyfileobj(src, out)
            if ended is not None:
                out.write(json.dumps({"ended": ended, "message": message}) + "\n")

    def events(self) -> list[Event]:
        """Every event so far, in the order they arrived (for an export).

        Raises:
            EventLogError: if any event could not be kept.
        """
        self._flushed()
        with open(self.path, encoding="utf-8") as src:
            return [tuple(json.loads(line)) for line in src]

    def close(self) -> None:
        """Close and remove the temporary file (a second close does nothing)."""
        with self._lock:
            if not self._out.closed:
                self._out.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
