"""EventLog: every event of a run kept on disk as it arrives, not in the UI's memory.

A live run records events for export and replay (``--record``, the Chrome export, writing the
trace after the run). Keeping them as tuples in memory costs a few hundred bytes an event and
grows without bound; the Timeline keeps only what the lanes need (packed). The log appends each
batch to a temporary file as it arrives, pickled as it came off the pipe (the pump thread pays a
C-speed pickle per batch, not a JSON encoding per event: under a flood of events that would be
more than the fold itself), writes the complete trace (header, events, trailer, in the JSON-lines
format of events.py) on demand, gives the events back for an export, and removes its file when
closed. Nothing is dropped: if the disk refuses a batch, the log says how many events it lost,
and refuses to pass off what it kept as the whole run.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, Iterable, Iterator

from concviz.engine.events import Event, version_of


class EventLogError(OSError):
    """Events of the run could not be kept (the disk refused them): the log is incomplete."""


_LENGTH = struct.Struct("<I")  # a batch's pickle, prefixed with its length


class EventLog:
    """Events of one run, appended to a temporary file of pickled batches (thread-safe appends)."""

    def __init__(self, header: dict[str, Any] | None = None, directory: str | None = None) -> None:
        fd, path = tempfile.mkstemp(prefix="concviz-events-", suffix=".bin", dir=directory)
        self.path = Path(path)
        self._out = os.fdopen(fd, "wb")
        self._lock = threading.Lock()
        self.header: dict[str, Any] = dict(header or {})
        self.count = 0  # events kept
        self.lost = 0  # events the disk refused
        self.error: str | None = None  # why, the first time
        # the file goes with the log, however the log goes (closed, collected, the process exits)
        self._finalizer = weakref.finalize(self, _remove, self._out, self.path)

    def set_header(self, header: dict[str, Any]) -> None:
        self.header = dict(header)

    def append(self, events: Iterable[Event]) -> None:
        """Add a batch. Never raises for a full or failing disk (the pump must go on): the
        events are counted as lost, and :meth:`write_trace` and :meth:`events` then refuse."""
        batch = events if isinstance(events, list) else list(events)
        if not batch:
            return
        data = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            if self._out.closed:
                raise ValueError("event log is closed")
            try:
                self._out.writelines((_LENGTH.pack(len(data)), data))
            except OSError as exc:
                self.lost += len(batch)
                self.error = self.error or str(exc)
                return
            self.count += len(batch)

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
        with open(path, "w", encoding="utf-8") as out:
            out.write(json.dumps({"concviz_trace": version_of(self.header), **self.header}) + "\n")
            for batch in self._batches():
                out.writelines(json.dumps(list(e), separators=(",", ":")) + "\n" for e in batch)
            if ended is not None:
                out.write(json.dumps({"ended": ended, "message": message}) + "\n")

    def events(self) -> list[Event]:
        """Every event so far, in the order they arrived (for an export).

        Raises:
            EventLogError: if any event could not be kept.
        """
        self._flushed()
        return [tuple(e) for batch in self._batches() for e in batch]

    def _batches(self) -> Iterator[list[Event]]:
        """The batches kept, in the order they arrived."""
        with open(self.path, "rb") as src:
            while head := src.read(_LENGTH.size):
                yield pickle.loads(src.read(_LENGTH.unpack(head)[0]))

    def close(self) -> None:
        """Close and remove the temporary file (a second close does nothing)."""
        with self._lock:
            self._finalizer()

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _remove(out: Any, path: Path) -> None:
    out.close()
    path.unlink(missing_ok=True)
